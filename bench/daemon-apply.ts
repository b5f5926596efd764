// The node daemon's policy engine, end to end over its socket, in the same run:
//   one-pod apply: a cluster-state upsert that moves one pod into another existing identity
//                  (labels of a same-namespace pod, toggled back and forth), reply after the
//                  kernel took the element batch;
//   one-pod, new identity: a relabel into an identity that does not exist yet (the engine
//                  computes its decision row and column, splices them in and sends the diff);
//   full apply:    an artifact push (verify, parse, compute membership, full-replace batch,
//                  persist), alternating two artifacts so each one is a real reload.
//   pod added / deleted: a new pod (a copy of a pod under a new name and an unused address)
//                  upserted, then deleted, alternating, on the daemon's node and on another
//                  (the one-pod path carving and freeing its address);
//   one-pod, local pod: a relabel of a pod on the daemon's node into an identity another pod of
//                  the node has (a node-local table keeps its subjects: the one-pod path), and
//                  one into an identity only pods of other nodes have (the node-local table's
//                  subjects change: recomputed with its scope).
//   pod added to this node with an identity the node has never had (cold), node-local only:
//                  the pod added / deleted scenario above copies ONE pod, so every add brings
//                  the same identity's decision row back; here each rep copies a DIFFERENT pod
//                  of another node (under a new name and an unused address) onto the daemon's
//                  node, its identity one no pod of the node has, not a subject of the node-local
//                  table and not used by an earlier rep or scenario (donors chosen offline with
//                  the compiler's own code, bench/cold-donors.ts: one per identity), so the
//                  table gains that identity's decision row; then deletes it right after, timed
//                  apart ("pod deleted from this node, its identity leaving (cold)": the row
//                  goes again). Reps: --cold-reps N (default 10, at most 254; fewer when fewer
//                  such identities exist). Reported also: the largest element batch and how many
//                  took the address path (a 'carved out of the world' reason). In cluster-wide
//                  scope it does not apply (every identity has its decision row there).
// Each is measured twice in the same run, one daemon after the other on the same cluster and
// artifacts: cluster-wide (no node name: decisions for every identity) and node-local
// (`--node-name`: decisions only for the identities of the node's pods, dataplane/policy/engine.ts).
// The node is --node-name (default: the generator's first node, ~100 pods); --local-pods N puts
// exactly N pods on it (spread over the namespaces; its other pods move to the next node).
// Reported: median and p90 of each, and their ratios. Runs as root inside throwaway netns
// (pcpol-bench-*), removed at the end; the root namespace is never touched.
// Churn (--churn N): N more one-pod changes, spaced --churn-gap MIN-MAX ms apart (default
// 1100-1500; 1000-1100 puts changes where a reconcile with a 1 s quiet period runs: the
// reconcile is a full computation on the event loop, and a change arriving while it runs waits
// for it); reported: the latency distribution with its maximum, and the reconcile's duration
// (status.lastReconcile; the engine's quiet period is 5 s, at most 60 s under steady changes).
// Reconcile under churn (--reconcile-churn N): the engine itself (in this process, no socket),
// its quiet period --reconcile-quiet ms (default 1000), N one-pod changes spaced --churn-gap
// apart (default here 1000-1100: each lands while the reconcile of the previous one runs), run
// twice on fresh netns: the reconcile in-thread (reconcileInWorker false, as before) and in the
// worker thread (reconcile-worker.ts). A change's latency is counted from the time its timer
// was due, so waiting for a blocked event loop counts (a client timed from when its own timer
// fired, in the same process, would not see it). Reported: latency median/p90/p99/max and how
// many over 10 ms, the longest event-loop gap (a 1 ms interval), and per reconcile its wall time,
// main-thread time and longest run without a yield (status.lastReconcile.blockedMs, maxSliceMs).
// Run it as `npm run bench:daemon -- [options]`: compiled (dist/), as the daemon runs in
// production. Under tsx (`npx tsx bench/daemon-apply.ts`, also works) every closure the engine
// creates goes through esbuild's keepNames wrapper (`__name`), which showed up at 5-7% of the
// one-pod path's CPU profile: figures taken that way (before session 6) are a little high.
//   npm run bench:daemon -- [--pods 1000] [--policies 100] [--reps 50] [--full-reps 10]
//                                 [--few-reps N] (new identity / pod into another node's identity;
//                                 default reps/5, at most 10)
//                                 [--cold-reps N] (pod of an identity new to the node; default 10)
//                                 [--linger on|off|both] (node-local: departed subjects' rows linger,
//                                 engine.ts lingerSubjects; both = off first, then on, same run)
//                                 [--node-name NAME] [--local-pods N] [--scope both|cluster|node]
//                                 [--flush-denied-flows on|off]  (off: the cost without the flush)
//                                 [--churn N] [--churn-gap MIN-MAX] [--metrics-reps 5]
// Metrics (--metrics-reps N, default 5; 0 = none): a `metrics` request (a Prometheus scrape: it
// reads the per-rule counters inside the engine's queue) timed over the socket, then a one-pod
// change right after it (and a new-identity one, which may take a libnftables batch), and a
// one-pod change sent on a second connection while a metrics request runs (it waits in the
// queue). POLICYC_NFT_RULE_COUNTERS=off in the environment reads the counters from a terse
// listing (the previous way) for comparison.
//                                 [--reconcile-churn N] [--reconcile-quiet MS]
// Persist under churn (--persist-churn N): the engine in this process, as --reconcile-churn, N
// one-pod changes spaced --churn-gap apart (default here 2-8 ms, so that each debounced persist
// of the cluster state, 200 ms after the first unwritten change, lands among them), run twice on
// fresh netns:
// the cluster state serialized and written on the event loop (persistInWorker false, as before)
// and by the reconcile worker thread from its replica (cluster-persist.ts). Latency from the due
// time as above; also the main isolate's garbage-collection pauses during the changes
// (perf_hooks 'gc' entries: count, total, p99, max per kind) and the persists that ran.
//                                 [--persist-churn N] [--persist-in-worker both|on|off]
//                                 [--alloc-sites N]  (with --persist-churn: the main isolate's
//                                 allocations during the changes, by site, top N: V8's sampling
//                                 heap profiler, collected objects included; slows the changes)
import { mkdtempSync, rmSync } from 'node:fs';
import { constants as perfConstants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Session } from 'node:inspector/promises';
import { startDaemon } from '../dataplane/daemon/start.js';
import { addNetns, deleteNetns } from '../dataplane/nft/loader.js';
import { computeMembership } from '../compiler/emit/membership.js';
import { DaemonConnection } from '../dataplane/policy/client.js';
import { PolicyEngine } from '../dataplane/policy/engine.js';
import { parseArtifact, type LoadedArtifact } from '../dataplane/policy/artifact.js';
import { ClusterState } from '../dataplane/policy/cluster-state.js';
import type { ClusterPod } from '../compiler/model/cluster.js';
import { relabelPod, updatePods } from '../dataplane/policy/incremental.js';
import { compileArtifact, policyKernel } from '../dataplane/policy/testing.js';
import { coldDonors, type ColdDonorResult } from './cold-donors.js';
import { generateCluster } from './generate-cluster.js';
import { kubeList, toKubectlYaml } from './kube-yaml.js';
import { fmt, median, ratio, table } from './table.js';

type Obj = Record<string, any>;

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(s.length * q) - 1))];
}

function p90(xs: readonly number[]): number {
  return quantile(xs, 0.9);
}

/** median, p90, p99, max and how many over the 10 ms target: the churn tables' latency columns */
function latencyCells(lat: readonly number[]): number[] {
  return [median(lat), p90(lat), quantile(lat, 0.99), Math.max(...lat), lat.filter((x) => x > 10).length];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      pods: { type: 'string', default: '1000' },
      policies: { type: 'string', default: '' },
      reps: { type: 'string', default: '50' },
      'full-reps': { type: 'string', default: '10' },
      'node-name': { type: 'string', default: '' },
      'local-pods': { type: 'string', default: '' },
      scope: { type: 'string', default: 'both' },
      'flush-denied-flows': { type: 'string', default: 'on' },
      'few-reps': { type: 'string', default: '' },
      churn: { type: 'string', default: '0' },
      'churn-gap': { type: 'string', default: '' },
      'reconcile-churn': { type: 'string', default: '0' },
      'persist-churn': { type: 'string', default: '0' },
      'persist-in-worker': { type: 'string', default: 'both' },
      'alloc-sites': { type: 'string', default: '0' },
      'reconcile-quiet': { type: 'string', default: '1000' },
      'metrics-reps': { type: 'string', default: '5' },
      'cold-reps': { type: 'string', default: '10' },
      linger: { type: 'string', default: 'on' },
    },
  });
  const pods = Number(values.pods);
  const policies = Number(values.policies || Math.max(10, Math.round(pods / 10)));
  const reps = Number(values.reps);
  if (values['flush-denied-flows'] !== 'on' && values['flush-denied-flows'] !== 'off') throw new Error('--flush-denied-flows on|off');
  const flushDeniedFlows = values['flush-denied-flows'] === 'on';
  const fullReps = Number(values['full-reps']);
  const churn = Number(values.churn);
  const reconcileChurn = Number(values['reconcile-churn']);
  const persistChurn = Number(values['persist-churn']);
  const reconcileQuiet = Number(values['reconcile-quiet']);
  const [gapMin, gapMax] = (values['churn-gap'] || (persistChurn > 0 ? '2-8' : reconcileChurn > 0 ? '1000-1100' : '1100-1500')).split('-').map(Number);
  if (!(gapMin > 0 && gapMax >= gapMin)) throw new Error('--churn-gap MIN-MAX (ms)');
  if (!['both', 'cluster', 'node'].includes(values.scope!)) throw new Error('--scope takes both, cluster or node');
  if (!['on', 'off', 'both'].includes(values.linger!)) throw new Error('--linger takes on, off or both');
  const k = await policyKernel();
  if (!k.ok) {
    console.log(`daemon-apply: skipped (${k.reason}); needs root, ip, nft, nsenter`);
    return;
  }
  const g = generateCluster({ pods, policies });
  const podObjs = g.pods as Obj[];
  const nodeNames = (g.nodes as Obj[]).map((n) => n.metadata.name as string);
  const nodeName = values['node-name'] || nodeNames[0];
  if (values['local-pods']) {
    const want = Number(values['local-pods']);
    if (!(want >= 1 && want < podObjs.length)) throw new Error('--local-pods must be between 1 and the pod count - 1');
    const other = nodeNames.find((n) => n !== nodeName) ?? `${nodeName}-other`;
    const step = podObjs.length / want;
    const chosen = new Set(Array.from({ length: want }, (_, i) => Math.floor(i * step)));
    podObjs.forEach((p, i) => {
      if (chosen.has(i)) p.spec = { ...p.spec, nodeName };
      else if (p.spec?.nodeName === nodeName) p.spec = { ...p.spec, nodeName: other };
    });
  }
  const isLocal = (p: Obj) => p.spec?.nodeName === nodeName;
  const localCount = podObjs.filter(isLocal).length;
  const policyText = toKubectlYaml(kubeList([...g.networkPolicies, ...g.adminPolicies, g.baselinePolicy]));
  // a second artifact: the same policies plus one more, so each push is a real full apply
  const extra = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'bench-extra', namespace: (g.namespaces[0] as Obj).metadata.name }, spec: { podSelector: {}, policyTypes: ['Ingress'] } };
  const artifacts = [compileArtifact(policyText), compileArtifact(toKubectlYaml(kubeList([...g.networkPolicies, extra, ...g.adminPolicies, g.baselinePolicy])))];

  // pods to relabel: for the one-pod path a pod and a same-namespace donor whose labels move it
  // into an existing identity and back (checked offline with the engine's own code); for the
  // full computation a relabel the one-pod path declines (a new identity). The subjects of
  // these two are pods of other nodes; a third candidate is a pod of the node itself.
  const art = (parseArtifact(artifacts[0]) as { ok: true; artifact: LoadedArtifact }).artifact;
  const state = new ClusterState();
  state.apply({ namespaces: g.namespaces, pods: g.pods, nodes: g.nodes });
  const base = computeMembership(art.program, state.cluster());
  const trial = (subject: Obj, labels: Obj) => {
    const s2 = new ClusterState();
    s2.apply({ namespaces: g.namespaces, pods: podObjs.map((p) => (p === subject ? { ...p, metadata: { ...p.metadata, labels } } : p)), nodes: g.nodes });
    const pod = s2.cluster().pods.find((p) => p.namespace === subject.metadata.namespace && p.name === subject.metadata.name)!;
    const fwd = relabelPod(art.program, s2.cluster(), base, pod);
    if ('fallback' in fwd) return 'full';
    const back = relabelPod(art.program, state.cluster(), fwd.membership, state.cluster().pods.find((p) => p.namespace === pod.namespace && p.name === pod.name)!);
    return 'fallback' in back || fwd.diff.identity.add.length === 0 ? 'full' : 'fast';
  };
  let fast: Candidate | undefined;
  let slow: Candidate | undefined;
  let local: Candidate | undefined;
  const remotePods = podObjs.filter((p) => !isLocal(p));
  const localPods = podObjs.filter(isLocal);
  for (let i = 0; i < 40 && !(fast && slow); i++) {
    const subject = remotePods[(Math.floor(remotePods.length / 2) + i * 37) % remotePods.length];
    for (const donor of podObjs.filter((p) => p.metadata.namespace === subject.metadata.namespace && p.metadata.labels.app !== subject.metadata.labels.app).slice(0, 5)) {
      const labels = { ...donor.metadata.labels, 'pod-template-hash': subject.metadata.labels['pod-template-hash'] };
      const kind = trial(subject, labels);
      if (kind === 'fast' && !fast) fast = { subject, labels };
      const mixed = { ...subject.metadata.labels, app: donor.metadata.labels.app };
      if (!slow && trial(subject, mixed) === 'full') slow = { subject, labels: mixed };
      if (fast && slow) break;
    }
  }
  if (!fast) throw new Error('no relabel into an existing identity found');
  // pods of the node: a relabel into an identity another pod of the node has (the node-local
  // table keeps its subjects: the one-pod path), and one into an identity only pods of other
  // nodes have (its subjects change: recomputed with the scope); both are existing identities
  const localSet = new Set(localPods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
  const scopedBase = computeMembership(art.program, state.cluster(), base, { localPods: localSet });
  const localTrial = (subject: Obj, labels: Obj) => {
    const s2 = new ClusterState();
    s2.apply({ namespaces: g.namespaces, pods: podObjs.map((p) => (p === subject ? { ...p, metadata: { ...p.metadata, labels } } : p)), nodes: g.nodes });
    const name = `${subject.metadata.namespace}/${subject.metadata.name}`;
    const fwd = updatePods(art.program, s2.cluster(), scopedBase, [name]);
    if (fwd.reason) return 'full';
    const back = updatePods(art.program, state.cluster(), fwd.membership, [name]);
    return back.reason || fwd.diff.identity.add.length === 0 ? 'full' : 'fast';
  };
  let localAway: Candidate | undefined;
  for (let i = 0; i < Math.min(60, localPods.length) && !(local && localAway); i++) {
    const subject = localPods[(Math.floor(localPods.length / 2) + i * 7) % localPods.length];
    const donors = podObjs.filter((p) => p.metadata.namespace === subject.metadata.namespace && p.metadata.labels.app !== subject.metadata.labels.app);
    // donors of this node first
    donors.sort((a, b) => Number(isLocal(b)) - Number(isLocal(a)));
    for (const donor of donors.slice(0, 8)) {
      const labels = { ...donor.metadata.labels, 'pod-template-hash': subject.metadata.labels['pod-template-hash'] };
      if (trial(subject, labels) !== 'fast') continue;
      const kind = localTrial(subject, labels);
      if (kind === 'fast' && !local) local = { subject, labels };
      if (kind === 'full' && !localAway) localAway = { subject, labels };
      if (local && localAway) break;
    }
  }

  // the cold scenario (node-local only): copies of pods of other nodes, one per identity, each
  // an identity the node-local table has no decision row for and that no earlier change of this
  // run put on the node (the fast candidate's copies, the local pod's relabel)
  const coldReps = Number(values['cold-reps']);
  if (!(Number.isInteger(coldReps) && coldReps >= 0 && coldReps <= 254)) throw new Error('--cold-reps takes 0-254');
  const coldIp = (i: number) => `10.250.3.${i + 1}`;
  let cold: ColdDonorResult | undefined;
  if (values.scope !== 'cluster' && persistChurn === 0 && reconcileChurn === 0 && coldReps > 0) {
    const byName = new Map(state.cluster().pods.map((p) => [`${p.namespace}/${p.name}`, p]));
    const clusterPod = (o: Obj) => byName.get(`${o.metadata.namespace}/${o.metadata.name}`)!;
    const alsoHad: ClusterPod[] = [...Array.from({ length: Math.max(1, reps >> 1) }, (_, k) => ({ ...clusterPod(fast!.subject), name: `bench-added-here-${k}`, ips: [`10.250.1.${k + 1}`], node: nodeName }))];
    if (localAway) alsoHad.push({ ...clusterPod(localAway.subject), labels: localAway.labels });
    // remote pods in a spread order (a stride coprime with their count), not namespace by namespace
    const n = remotePods.length;
    const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
    const stride = [7919, 7907, 7901, 1].find((x) => gcd(x, n) === 1)!;
    const order = Array.from({ length: n }, (_, j) => remotePods[(Math.floor(n / 3) + j * stride) % n]);
    cold = coldDonors({ program: art.program, cluster: state.cluster(), scoped: scopedBase, localPods: localSet, candidates: order, ipFor: coldIp, count: coldReps, alsoHad });
  }

  const runScope = async (scopeNode: string | undefined, lingerSubjects = true): Promise<Measured> => {
    const dir = mkdtempSync(join(tmpdir(), 'pcpol-bench-'));
    const netns = `pcpol-bench-${Math.random().toString(36).slice(2, 8)}`;
    await addNetns(netns);
    try {
      const daemon = await startDaemon({ stateDir: join(dir, 'state'), socketPath: join(dir, 'd.sock'), hostNetns: netns, wiring: 'ip', policy: true, flushDeniedFlows, lingerSubjects, log: () => {}, ...(scopeNode ? { nodeName: scopeNode } : {}) });
      try {
        const conn = await DaemonConnection.open(daemon.socketPath);
        const must = async (body: Obj) => {
          const r = await conn.request(body);
          if (r.error) throw new Error(r.error);
          return r;
        };
        await must({ type: 'cluster-state', namespaces: g.namespaces, pods: g.pods, nodes: g.nodes });
        const first = await must({ type: 'artifacts', files: artifacts[0] });
        const full: number[] = [];
        const fullEngine: number[] = [];
        for (let i = 1; i <= fullReps; i++) {
          const t = performance.now();
          const r = await must({ type: 'artifacts', files: artifacts[i % 2] });
          full.push(performance.now() - t);
          fullEngine.push(r.durationMs);
        }
        const relabelRuns = async (c: Candidate, n: number): Promise<Runs> => {
          const labelSets = [c.subject.metadata.labels, c.labels];
          const rt: number[] = [];
          const engine: number[] = [];
          let fallbacks = 0;
          let elements = 0;
          for (let i = 1; i <= n; i++) {
            const next = { ...c.subject, metadata: { ...c.subject.metadata, labels: labelSets[i % 2] } };
            const t = performance.now();
            const r = await must({ type: 'cluster-state', upsert: [next] });
            rt.push(performance.now() - t);
            engine.push(r.durationMs);
            if (r.fallback) fallbacks++;
            elements = Math.max(elements, r.elements);
          }
          // back to the original labels (an even number of runs ends there; an odd one does not)
          if (n % 2 === 1) await must({ type: 'cluster-state', upsert: [c.subject] });
          return { rt, engine, fallbacks, elements };
        };
        const few = values['few-reps'] ? Number(values['few-reps']) : Math.max(2, Math.min(10, Math.round(reps / 5)));
        const one = await relabelRuns(fast!, reps);
        const slowRuns = slow ? await relabelRuns(slow, few) : undefined;
        const localRuns = local ? await relabelRuns(local, reps) : undefined;
        const localAwayRuns = localAway ? await relabelRuns(localAway, few) : undefined;
        // a pod that appears (a copy of the fast candidate under a new name and an unused
        // address) and is deleted again, alternating: on this node and on another node
        const podRuns = async (node: string, tag: string, n: number): Promise<Runs> => {
          const rt: number[] = [];
          const engine: number[] = [];
          let fallbacks = 0;
          let elements = 0;
          const s = fast!.subject;
          for (let i = 0; i < n; i++) {
            const name = `bench-added-${tag}-${i >> 1}`;
            const ip = `10.250.${tag === 'here' ? 1 : 2}.${(i >> 1) + 1}`;
            const body =
              i % 2 === 0
                ? { type: 'cluster-state', upsert: [{ ...s, metadata: { ...s.metadata, name }, spec: { ...s.spec, nodeName: node }, status: { ...s.status, podIP: ip, podIPs: [{ ip }] } }] }
                : { type: 'cluster-state', delete: [{ kind: 'Pod', namespace: s.metadata.namespace, name }] };
            const t = performance.now();
            const r = await must(body);
            rt.push(performance.now() - t);
            engine.push(r.durationMs);
            if (!/carved out of the world/.test(r.fallback ?? '')) fallbacks++;
            elements = Math.max(elements, r.elements);
          }
          return { rt, engine, fallbacks, elements };
        };
        const addedHere = await podRuns(nodeName, 'here', reps - (reps % 2));
        const addedElsewhere = await podRuns(nodeNames.find((n) => n !== nodeName) ?? `${nodeName}-other`, 'elsewhere', reps - (reps % 2));
        // cold: a copy of a different pod of another node each time, its identity new to this
        // node (the node-local table gains its decision row), deleted right after (timed apart)
        let coldRuns: ColdRuns | undefined;
        if (scopeNode && cold) {
          const add: Runs = { rt: [], engine: [], fallbacks: 0, elements: 0 };
          const del: Runs = { rt: [], engine: [], fallbacks: 0, elements: 0 };
          const reasons = new Map<string, number>();
          const step = async (runs: Runs, what: string, body: Obj) => {
            const t = performance.now();
            const r = await must(body);
            runs.rt.push(performance.now() - t);
            runs.engine.push(r.durationMs);
            if (!/carved out of the world/.test(r.fallback ?? '')) runs.fallbacks++;
            runs.elements = Math.max(runs.elements, r.elements);
            const reason = `${what}: ${(r.fallback ?? '(no reason: a pure move)').replace(/^\S*bench-cold-\d+/, '<pod>')}`;
            reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
          };
          for (const [i, d] of cold.donors.entries()) {
            const s = d.pod;
            const name = `bench-cold-${i}`;
            await step(add, 'add', { type: 'cluster-state', upsert: [{ ...s, metadata: { ...s.metadata, name }, spec: { ...s.spec, nodeName: scopeNode }, status: { ...s.status, podIP: d.ip, podIPs: [{ ip: d.ip }] } }] });
            await step(del, 'delete', { type: 'cluster-state', delete: [{ kind: 'Pod', namespace: s.metadata.namespace, name }] });
          }
          coldRuns = { add, del, reasons };
        }
        const metrics: MetricsRuns = { rt: [], after: [], afterNew: [], during: [] };
        const conn2 = await DaemonConnection.open(daemon.socketPath);
        for (let i = 0; i < Number(values['metrics-reps']); i++) {
          const t = performance.now();
          const text = (await must({ type: 'metrics' })).text as string;
          metrics.rt.push(performance.now() - t);
          if (!/policyc_(drops|allows)_total\{/.test(text)) throw new Error('metrics without rule counters');
          metrics.after.push((await relabelRuns(fast!, 1)).rt[0]);
          if (slow) {
            await must({ type: 'metrics' });
            metrics.afterNew.push((await relabelRuns(slow, 1)).rt[0]);
          }
          const scrape = conn2.request({ type: 'metrics' });
          metrics.during.push((await relabelRuns(fast!, 1)).rt[0]);
          await scrape;
        }
        conn2.close();
        let churnRuns: Runs | undefined;
        const reconciles: number[] = [];
        if (churn > 0) {
          // one-pod changes with pauses the reconcile fits in (a deterministic gap sequence)
          const labelSets = [fast!.subject.metadata.labels, fast!.labels];
          const rt: number[] = [];
          const engine: number[] = [];
          let seen: string | undefined;
          for (let i = 1; i <= churn; i++) {
            const gap = gapMin + ((gapMax - gapMin) * ((i * 7919) % 101)) / 100;
            await new Promise((r) => setTimeout(r, gap));
            const next = { ...fast!.subject, metadata: { ...fast!.subject.metadata, labels: labelSets[i % 2] } };
            const t = performance.now();
            const r = await must({ type: 'cluster-state', upsert: [next] });
            rt.push(performance.now() - t);
            engine.push(r.durationMs);
            const last = (await must({ type: 'status' })).lastReconcile;
            if (last && last.at !== seen) {
              seen = last.at;
              reconciles.push(last.durationMs);
            }
          }
          if (churn % 2 === 1) await must({ type: 'cluster-state', upsert: [fast!.subject] });
          churnRuns = { rt, engine, fallbacks: 0, elements: 0 };
        }
        const status = await must({ type: 'status' });
        conn.close();
        return { first: first.durationMs, full, fullEngine, one, slowRuns, localRuns, localAwayRuns, addedHere, addedElsewhere, coldRuns, churnRuns, reconciles, status, metrics };
      } finally {
        await daemon.close();
      }
    } finally {
      await deleteNetns(netns);
      rmSync(dir, { recursive: true, force: true });
    }
  };

  if (persistChurn > 0) {
    const rows: Array<Array<string | number>> = [];
    for (const [label, scopeNode] of [['cluster-wide', undefined], [`node-local (${localCount} pods)`, nodeName]] as Array<[string, string | undefined]>) {
      if (values.scope === 'node' && !scopeNode) continue;
      if (values.scope === 'cluster' && scopeNode) continue;
      const modes = values['persist-in-worker'] === 'on' ? [true] : values['persist-in-worker'] === 'off' ? [false] : [false, true];
      for (const persistInWorker of modes) {
        // reconcile quiet period 5 s: never reached between changes a few ms apart
        const r = await churnWithReconciles({ g, files: artifacts[0], subject: fast!, nodeName: scopeNode, inWorker: true, persistInWorker, changes: persistChurn, quietMs: 5000, gapMin, gapMax, allocSites: Number(values['alloc-sites']) });
        if (r.allocSites) console.log(`allocations on the main isolate during ${persistChurn} one-pod changes [${label}, persist ${persistInWorker ? 'in the worker' : 'on the event loop'}]:\n${r.allocSites}`);
        const lat = r.latency;
        const gcCell = (kind: 'minor' | 'major') => {
          const xs = r.gc[kind];
          return xs.length ? `${xs.length} / ${fmt(xs.reduce((a, b) => a + b, 0))} / ${fmt(quantile(xs, 0.99))} / ${fmt(Math.max(...xs))}` : '0';
        };
        rows.push([
          `${label}, persist ${persistInWorker ? 'in the worker' : 'on the event loop'}`,
          ...latencyCells(lat),
          fmt(r.maxGapMs),
          gcCell('minor'),
          gcCell('major'),
          `${r.persist.writes.worker + r.persist.writes.eventLoop} (${r.persist.writes.worker} worker)${r.persist.last ? `, last ${fmt(r.persist.last.ms)} ms, ${(r.persist.last.bytes / 1e6).toFixed(1)} MB` : ''}`,
        ]);
      }
    }
    console.log(`daemon-apply --persist-churn: ${pods} pods, ${policies} NetworkPolicies; a one-pod change every ${gapMin}-${gapMax} ms; persist debounce 200 ms`);
    console.log(table(['one-pod latency from its due time (ms)', 'median', 'p90', 'p99', 'max', '> 10 ms', 'longest loop gap', 'minor GC n / total / p99 / max ms', 'major GC n / total / p99 / max', 'persists (last: where it ran, its time)'], rows));
    return;
  }

  if (reconcileChurn > 0) {
    const rows: Array<Array<string | number>> = [];
    for (const [label, scopeNode] of [['cluster-wide', undefined], [`node-local (${localCount} pods)`, nodeName]] as Array<[string, string | undefined]>) {
      if (values.scope === 'node' && !scopeNode) continue;
      if (values.scope === 'cluster' && scopeNode) continue;
      for (const inWorker of [false, true]) {
        const r = await churnWithReconciles({ g, files: artifacts[0], subject: fast!, nodeName: scopeNode, inWorker, changes: reconcileChurn, quietMs: reconcileQuiet, gapMin, gapMax });
        const lat = r.latency;
        rows.push([
          `${label}, reconcile ${inWorker ? 'in the worker' : 'in-thread'}`,
          ...latencyCells(lat),
          fmt(r.maxGapMs),
          r.reconciles.length,
          r.reconciles.length ? fmt(median(r.reconciles.map((x) => x.durationMs))) : '-',
          r.reconciles.length ? `${fmt(median(r.reconciles.map((x) => x.blockedMs)))} / ${fmt(Math.max(...r.reconciles.map((x) => x.blockedMs)))}` : '-',
          r.reconciles.length ? `${fmt(median(r.reconciles.map((x) => x.maxSliceMs)))} / ${fmt(Math.max(...r.reconciles.map((x) => x.maxSliceMs)))}` : '-',
        ]);
      }
    }
    console.log(`daemon-apply --reconcile-churn: ${pods} pods, ${policies} NetworkPolicies; quiet period ${reconcileQuiet} ms; a one-pod change every ${gapMin}-${gapMax} ms`);
    console.log(table(['one-pod latency from its due time (ms)', 'median', 'p90', 'p99', 'max', '> 10 ms', 'longest loop gap', 'reconciles', 'reconcile wall median', 'main-thread median / max', 'longest slice median / max'], rows));
    return;
  }

  const scopes: Array<[string, string | undefined, boolean]> = [];
  if (values.scope !== 'node') scopes.push(['cluster-wide', undefined, true]);
  // --linger both: node-local with lingering subjects off first (the baseline), then on (the default)
  if (values.scope !== 'cluster' && values.linger !== 'on') scopes.push([`node-local (${localCount} pods)${values.linger === 'both' ? ', lingering off' : ''}`, nodeName, false]);
  if (values.scope !== 'cluster' && values.linger !== 'off') scopes.push([`node-local (${localCount} pods)${values.linger === 'both' ? ', lingering on' : ''}`, nodeName, true]);
  const results: Array<[string, Measured]> = [];
  for (const [label, scopeNode, linger] of scopes) results.push([label, await runScope(scopeNode, linger)]);

  console.log(`daemon-apply: ${pods} pods, ${policies} NetworkPolicies (+ANP/BANP); node ${nodeName} runs ${localCount} pods`);
  for (const [label, m] of results) {
    const c = m.status.counts;
    console.log(
      `  ${label}: ${c.groups} groups, ${c.identities} identities, ${c.setElements} set elements (scope ${JSON.stringify(c.scope)}); first load ${fmt(m.first)} ms; ` +
        `one-pod: up to ${m.one.elements} elements per batch, ${m.one.fallbacks}/${m.one.rt.length} more than a move between identities (a reason reported)` +
        (m.slowRuns ? `; new identity: up to ${m.slowRuns.elements} elements, ${m.slowRuns.fallbacks}/${m.slowRuns.rt.length} with a reason` : '') +
        (m.localRuns ? `; local pod: up to ${m.localRuns.elements} elements, ${m.localRuns.fallbacks}/${m.localRuns.rt.length} with a reason` : '') +
        (m.localAwayRuns ? `; local pod into another node's identity: up to ${m.localAwayRuns.elements} elements, ${m.localAwayRuns.fallbacks}/${m.localAwayRuns.rt.length} with a reason` : '') +
        `; pods added/deleted: up to ${Math.max(m.addedHere.elements, m.addedElsewhere.elements)} elements, ${m.addedHere.fallbacks + m.addedElsewhere.fallbacks}/${m.addedHere.rt.length + m.addedElsewhere.rt.length} not on the address path`,
    );
    if (!m.status.counts.scope.node) console.log(`  ${label}: cold pod added (an identity new to this node): does not apply (a cluster-wide table has decision rows for every identity)`);
    else if (!cold || !m.coldRuns) console.log(`  ${label}: cold pod added: not run (--cold-reps 0)`);
    else {
      const c = m.coldRuns;
      const path = (r: Runs) => `${r.rt.length - r.fallbacks}/${r.rt.length}`;
      console.log(
        `  ${label}: cold pod added: ${cold.donors.length} donors (of ${coldReps} asked) from ${remotePods.length} pods of other nodes, ${cold.donors.length} distinct identities outside the node's ${cold.localIdentities} ` +
          `(${cold.donors.filter((d) => d.sameAsDonor).length} the donor's own identity; the identity of 'pod added or deleted, this node' ${cold.alsoHadLocal[0] ? 'is already one of them' : 'is not one of them'}); add: up to ${c.add.elements} elements, ${path(c.add)} on the address path; ` +
          `delete: up to ${c.del.elements} elements, ${path(c.del)} on the address path; reasons: ${[...c.reasons].map(([r, k]) => `${k}x ${r}`).join('; ')}`,
      );
    }
  }
  const rows: Array<Array<string | number>> = [];
  const churnRows: Array<Array<string | number>> = [];
  for (const [label, m] of results) {
    rows.push([`one-pod label change, pod of another node [${label}]`, median(m.one.rt), p90(m.one.rt), median(m.one.engine), m.one.rt.length, m.one.elements]);
    if (m.slowRuns) rows.push([`one-pod change, new identity [${label}]`, median(m.slowRuns.rt), p90(m.slowRuns.rt), median(m.slowRuns.engine), m.slowRuns.rt.length, m.slowRuns.elements]);
    if (m.localRuns) rows.push([`one-pod label change, pod of this node [${label}]`, median(m.localRuns.rt), p90(m.localRuns.rt), median(m.localRuns.engine), m.localRuns.rt.length, m.localRuns.elements]);
    if (m.localAwayRuns) rows.push([`pod of this node into another node's identity [${label}]`, median(m.localAwayRuns.rt), p90(m.localAwayRuns.rt), median(m.localAwayRuns.engine), m.localAwayRuns.rt.length, m.localAwayRuns.elements]);
    rows.push([`pod added or deleted, this node [${label}]`, median(m.addedHere.rt), p90(m.addedHere.rt), median(m.addedHere.engine), m.addedHere.rt.length, m.addedHere.elements, `${m.addedHere.rt.length - m.addedHere.fallbacks}`]);
    rows.push([`pod added or deleted, another node [${label}]`, median(m.addedElsewhere.rt), p90(m.addedElsewhere.rt), median(m.addedElsewhere.engine), m.addedElsewhere.rt.length, m.addedElsewhere.elements, `${m.addedElsewhere.rt.length - m.addedElsewhere.fallbacks}`]);
    if (m.coldRuns && m.coldRuns.add.rt.length > 0) {
      const { add, del } = m.coldRuns;
      rows.push([`pod added to this node with an identity the node has never had (cold) [${label}]`, median(add.rt), p90(add.rt), median(add.engine), add.rt.length, add.elements, `${add.rt.length - add.fallbacks}`]);
      rows.push([`pod deleted from this node, its identity leaving (cold) [${label}]`, median(del.rt), p90(del.rt), median(del.engine), del.rt.length, del.elements, `${del.rt.length - del.fallbacks}`]);
    }
    rows.push([`full apply (artifact push) [${label}]`, median(m.full), p90(m.full), median(m.fullEngine), m.full.length]);
    if (m.metrics.rt.length > 0) {
      rows.push([`metrics request [${label}]`, median(m.metrics.rt), p90(m.metrics.rt), '', m.metrics.rt.length]);
      rows.push([`one-pod change right after a metrics request [${label}]`, median(m.metrics.after), p90(m.metrics.after), '', m.metrics.after.length]);
      if (m.metrics.afterNew.length > 0) rows.push([`new identity right after a metrics request [${label}]`, median(m.metrics.afterNew), p90(m.metrics.afterNew), '', m.metrics.afterNew.length]);
      rows.push([`one-pod change sent during a metrics request [${label}]`, median(m.metrics.during), p90(m.metrics.during), '', m.metrics.during.length]);
    }
    if (m.churnRuns) {
      const rt = m.churnRuns.rt;
      churnRows.push([`one-pod change every ${gapMin}-${gapMax} ms [${label}]`, median(rt), p90(rt), quantile(rt, 0.99), Math.max(...rt), rt.filter((x) => x > 10).length, median(m.churnRuns.engine), rt.length, m.reconciles.length ? `${m.reconciles.length}, median ${fmt(median(m.reconciles))} ms` : 'none seen']);
    }
  }
  console.log(table(['apply (socket round trip, ms)', 'median', 'p90', 'engine median', 'runs', 'max elements', 'address path'], rows));
  if (churnRows.length > 0) console.log(table(['churn (socket round trip, ms)', 'median', 'p90', 'p99', 'max', '> 10 ms', 'engine median', 'runs', 'reconciles'], churnRows));
  for (const [label, m] of results) {
    console.log(`${label}: full / one-pod: ${ratio(median(m.full), median(m.one.rt))} (median), ${ratio(p90(m.full), p90(m.one.rt))} (p90); one-pod target 10 ms: ${median(m.one.rt) <= 10 ? 'met' : 'MISSED'} (median)`);
  }
  const offRun = results.find(([label]) => label.endsWith('lingering off'));
  const onRun = results.find(([label]) => label.endsWith('lingering on'));
  if (offRun && onRun) {
    const [[, off], [, on]] = [offRun, onRun];
    const cmp = (what: string, a: number[] | undefined, b: number[] | undefined) => (a && b && a.length && b.length ? `${what} ${ratio(median(a), median(b))} (median), ${ratio(p90(a), p90(b))} (p90)` : undefined);
    console.log(
      `node-local, lingering on / off (same run): ` +
        [
          cmp('pod added or deleted, this node', on.addedHere.rt, off.addedHere.rt),
          cmp("this node's pod into another node's identity", on.localAwayRuns?.rt, off.localAwayRuns?.rt),
          cmp('cold pod added', on.coldRuns?.add.rt, off.coldRuns?.add.rt),
          cmp('cold pod deleted', on.coldRuns?.del.rt, off.coldRuns?.del.rt),
          cmp('one-pod (other node)', on.one.rt, off.one.rt),
        ]
          .filter(Boolean)
          .join('; '),
    );
  }
  const wideRun = results.find(([label]) => label === 'cluster-wide');
  const nodeRun = results.filter(([label]) => label !== 'cluster-wide').at(-1);
  if (wideRun && nodeRun) {
    const [[, wide], [, node]] = [wideRun, nodeRun];
    const cmp = (what: string, a: number[] | undefined, b: number[] | undefined) => (a && b ? `${what} ${ratio(median(a), median(b))} (median), ${ratio(p90(a), p90(b))} (p90)` : undefined);
    console.log(
      `cluster-wide / node-local: ` +
        [
          `set elements ${ratio(wide.status.counts.setElements, node.status.counts.setElements)}`,
          cmp('one-pod (other node)', wide.one.rt, node.one.rt),
          cmp('new identity', wide.slowRuns?.rt, node.slowRuns?.rt),
          cmp('one-pod (this node)', wide.localRuns?.rt, node.localRuns?.rt),
          cmp("this node's pod into another node's identity", wide.localAwayRuns?.rt, node.localAwayRuns?.rt),
          cmp('full apply', wide.full, node.full),
        ]
          .filter(Boolean)
          .join('; '),
    );
  }
}

/** One engine (no socket) under one-pod churn with a short quiet period, so reconciles run between the changes. */
async function churnWithReconciles(o: { g: ReturnType<typeof generateCluster>; files: Record<string, string>; subject: Candidate; nodeName?: string; inWorker: boolean; persistInWorker?: boolean; changes: number; quietMs: number; gapMin: number; gapMax: number; allocSites?: number }) {
  const dir = mkdtempSync(join(tmpdir(), 'pcpol-bench-'));
  const netns = `pcpol-bench-${Math.random().toString(36).slice(2, 8)}`;
  await addNetns(netns);
  try {
    const engine = await PolicyEngine.start({ stateDir: join(dir, 'state'), netns, setReady: () => {}, log: () => {}, reconcileDelayMs: o.quietMs, reconcileInWorker: o.inWorker, persistInWorker: o.persistInWorker ?? true, ...(o.nodeName ? { nodeName: o.nodeName } : {}) });
    try {
      await engine.pushClusterState({ namespaces: o.g.namespaces, pods: o.g.pods, nodes: o.g.nodes });
      await engine.loadArtifact(o.files, 'bench');
      const labelSets = [o.subject.subject.metadata.labels, o.subject.labels];
      const latency: number[] = [];
      const reconciles: Array<{ durationMs: number; blockedMs: number; maxSliceMs: number }> = [];
      let seen: string | undefined;
      let last = performance.now();
      let maxGapMs = 0;
      // the main isolate's GC pauses while the changes run
      const gc = { minor: [] as number[], major: [] as number[] };
      const observer = new PerformanceObserver((list) => {
        for (const e of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
          const kind = e.detail?.kind;
          (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR ? gc.minor : gc.major).push(e.duration);
        }
      });
      // let the full replace's garbage settle first (its collections are not the changes')
      await new Promise((r) => setTimeout(r, 1000));
      const persistBefore = (engine.status() as Obj).persist;
      observer.observe({ entryTypes: ['gc'] });
      const profiler = o.allocSites ? await startAllocationSampling() : undefined;
      let allocSites: string | undefined;
      last = performance.now();
      const ticker = setInterval(() => {
        const now = performance.now();
        maxGapMs = Math.max(maxGapMs, now - last);
        last = now;
      }, 1);
      try {
        for (let i = 1; i <= o.changes; i++) {
          const gap = o.gapMin + ((o.gapMax - o.gapMin) * ((i * 7919) % 101)) / 100;
          const due = performance.now() + gap;
          await new Promise((r) => setTimeout(r, gap));
          const next = { ...o.subject.subject, metadata: { ...o.subject.subject.metadata, labels: labelSets[i % 2] } };
          await engine.pushClusterState({ upsert: [next] });
          latency.push(performance.now() - due);
          const lr = (engine.status() as Obj).lastReconcile;
          if (lr && lr.at !== seen) {
            seen = lr.at;
            reconciles.push({ durationMs: lr.durationMs, blockedMs: lr.blockedMs, maxSliceMs: lr.maxSliceMs });
          }
        }
        // the last debounced persist
        await new Promise((r) => setTimeout(r, 400));
        if (profiler) allocSites = await profiler.stop(o.allocSites!);
      } finally {
        clearInterval(ticker);
        observer.disconnect();
      }
      const persistAfter = (engine.status() as Obj).persist;
      const persist = { writes: { worker: persistAfter.writes.worker - persistBefore.writes.worker, eventLoop: persistAfter.writes.eventLoop - persistBefore.writes.eventLoop }, last: persistAfter.last as { ms: number; bytes: number } | null };
      if (o.changes % 2 === 1) await engine.pushClusterState({ upsert: [o.subject.subject] });
      return { latency, reconciles, maxGapMs, gc, persist, allocSites };
    } finally {
      await engine.close();
    }
  } finally {
    await deleteNetns(netns);
    rmSync(dir, { recursive: true, force: true });
  }
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

/**
 * V8's sampling heap profiler on this isolate, counting objects the collectors freed too (what a
 * scavenge has to deal with is what was allocated, not what is still alive at the end).
 * stop() gives the top allocation sites: the allocating frame and the two callers above it.
 */
async function startAllocationSampling(): Promise<{ stop(top: number): Promise<string> }> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
  return {
    async stop(top: number): Promise<string> {
      const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: SamplingNode } };
      session.disconnect();
      const bySite = new Map<string, number>();
      let total = 0;
      const frame = (n: SamplingNode) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/work\/main\//, '').replace(/^file:\/\//, '')}:${n.callFrame.lineNumber + 1}`;
      const walk = (n: SamplingNode, stack: string[]) => {
        const here = [...stack, frame(n)];
        if (n.selfSize > 0) {
          const key = here.slice(-3).reverse().join(' <- ');
          bySite.set(key, (bySite.get(key) ?? 0) + n.selfSize);
          total += n.selfSize;
        }
        for (const c of n.children) walk(c, here);
      };
      walk(profile.head, []);
      const rows = [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top);
      return [`  total sampled ${(total / 1e6).toFixed(1)} MB`, ...rows.map(([k, v]) => `  ${(v / 1e6).toFixed(2).padStart(7)} MB  ${k}`)].join('\n');
    },
  };
}

interface Candidate {
  subject: Obj;
  labels: Obj;
}

interface Runs {
  rt: number[];
  engine: number[];
  fallbacks: number;
  elements: number;
}

interface ColdRuns {
  /** Runs.fallbacks: changes not on the address path (no 'carved out of the world' reason) */
  add: Runs;
  del: Runs;
  /** the engine's reasons (the pod name left out), how often */
  reasons: Map<string, number>;
}

interface MetricsRuns {
  /** metrics request round trips */
  rt: number[];
  /** one-pod change right after a metrics request */
  after: number[];
  /** new-identity change right after a metrics request */
  afterNew: number[];
  /** one-pod change sent (second connection) while a metrics request runs */
  during: number[];
}

interface Measured {
  first: number;
  full: number[];
  fullEngine: number[];
  one: Runs;
  slowRuns?: Runs;
  localRuns?: Runs;
  localAwayRuns?: Runs;
  /** a new pod upserted then deleted, alternating, on this node / on another node */
  addedHere: Runs;
  addedElsewhere: Runs;
  /** node-local only: a pod of an identity new to the node added, then deleted (cold) */
  coldRuns?: ColdRuns;
  churnRuns?: Runs;
  /** durations of the reconciles seen during the churn (status.lastReconcile) */
  reconciles: number[];
  status: Obj;
  metrics: MetricsRuns;
}

await main();
