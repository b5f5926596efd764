// The node daemon's policy engine, end to end over its socket, in the same run:
//   one-pod apply: a cluster-state upsert that moves one pod into another existing identity
//                  (labels of a same-namespace pod, toggled back and forth), reply after the
//                  kernel took the element batch;
//   one-pod, full computation: a relabel into an identity that does not exist yet (the engine
//                  recomputes the membership and sends the diff);
//   full apply:    an artifact push (verify, parse, compute membership, full-replace batch,
//                  persist), alternating two artifacts so each one is a real reload.
// Reported: median and p90 of each, and their ratio. Runs as root inside a throwaway netns
// (pcpol-bench-*), removed at the end; the root namespace is never touched.
//   npx tsx bench/daemon-apply.ts [--pods 1000] [--policies 100] [--reps 50] [--full-reps 10]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDaemon } from '../dataplane/daemon/start.js';
import { addNetns, deleteNetns } from '../dataplane/nft/loader.js';
import { computeMembership } from '../compiler/emit/membership.js';
import { DaemonConnection } from '../dataplane/policy/client.js';
import { parseArtifact, type LoadedArtifact } from '../dataplane/policy/artifact.js';
import { ClusterState } from '../dataplane/policy/cluster-state.js';
import { relabelPod } from '../dataplane/policy/incremental.js';
import { compileArtifact, policyKernel } from '../dataplane/policy/testing.js';
import { generateCluster } from './generate-cluster.js';
import { kubeList, toKubectlYaml } from './kube-yaml.js';
import { fmt, median, ratio, table } from './table.js';

type Obj = Record<string, any>;

function p90(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.9) - 1)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { pods: { type: 'string', default: '1000' }, policies: { type: 'string', default: '' }, reps: { type: 'string', default: '50' }, 'full-reps': { type: 'string', default: '10' } },
  });
  const pods = Number(values.pods);
  const policies = Number(values.policies || Math.max(10, Math.round(pods / 10)));
  const reps = Number(values.reps);
  const fullReps = Number(values['full-reps']);
  const k = await policyKernel();
  if (!k.ok) {
    console.log(`daemon-apply: skipped (${k.reason}); needs root, ip, nft, nsenter`);
    return;
  }
  const g = generateCluster({ pods, policies });
  const policyText = toKubectlYaml(kubeList([...g.networkPolicies, ...g.adminPolicies, g.baselinePolicy]));
  // a second artifact: the same policies plus one more, so each push is a real full apply
  const extra = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'bench-extra', namespace: (g.namespaces[0] as Obj).metadata.name }, spec: { podSelector: {}, policyTypes: ['Ingress'] } };
  const artifacts = [compileArtifact(policyText), compileArtifact(toKubectlYaml(kubeList([...g.networkPolicies, extra, ...g.adminPolicies, g.baselinePolicy])))];

  // pods to relabel: for the one-pod path a pod and a same-namespace donor whose labels move it
  // into an existing identity and back (checked offline with the engine's own code); for the
  // full computation a relabel the one-pod path declines (a new identity)
  const podObjs = g.pods as Obj[];
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
  let fast: { subject: Obj; labels: Obj } | undefined;
  let slow: { subject: Obj; labels: Obj } | undefined;
  for (let i = 0; i < 40 && !(fast && slow); i++) {
    const subject = podObjs[(Math.floor(podObjs.length / 2) + i * 37) % podObjs.length];
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

  const dir = mkdtempSync(join(tmpdir(), 'pcpol-bench-'));
  const netns = `pcpol-bench-${Math.random().toString(36).slice(2, 8)}`;
  await addNetns(netns);
  const daemon = await startDaemon({ stateDir: join(dir, 'state'), socketPath: join(dir, 'd.sock'), hostNetns: netns, wiring: 'ip', policy: true, log: () => {} });
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
    const relabelRuns = async (c: { subject: Obj; labels: Obj }, n: number) => {
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
      return { rt, engine, fallbacks, elements };
    };
    const one = await relabelRuns(fast, reps);
    const slowRuns = slow ? await relabelRuns(slow, Math.max(2, Math.min(10, Math.round(reps / 5)))) : undefined;
    conn.close();
    const status = await (async () => {
      const c = await DaemonConnection.open(daemon.socketPath);
      const s = await c.request({ type: 'status' });
      c.close();
      return s;
    })();
    console.log(`daemon-apply: ${pods} pods, ${policies} NetworkPolicies (+ANP/BANP), ${status.counts.groups} groups, ${status.counts.identities} identities, ${status.counts.setElements} set elements; first load ${fmt(first.durationMs)} ms`);
    console.log(`one-pod change: up to ${one.elements} elements per batch, ${one.fallbacks}/${reps} took the full computation`);
    if (slowRuns) console.log(`one-pod change into a new identity: up to ${slowRuns.elements} elements per batch, ${slowRuns.fallbacks}/${slowRuns.rt.length} took the full computation`);
    const rows: Array<Array<string | number>> = [
      ['one-pod label change (upsert)', median(one.rt), p90(one.rt), median(one.engine), reps],
      ...(slowRuns ? [['one-pod change, new identity (full computation)', median(slowRuns.rt), p90(slowRuns.rt), median(slowRuns.engine), slowRuns.rt.length]] : []),
      ['full apply (artifact push)', median(full), p90(full), median(fullEngine), fullReps],
    ];
    console.log(table(['apply (socket round trip, ms)', 'median', 'p90', 'engine median', 'runs'], rows));
    console.log(`full / one-pod: ${ratio(median(full), median(one.rt))} (median), ${ratio(p90(full), p90(one.rt))} (p90); one-pod target 10 ms: ${median(one.rt) <= 10 ? 'met' : 'MISSED'} (median)`);
  } finally {
    await daemon.close();
    await deleteNetns(netns);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
