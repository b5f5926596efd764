// The reconcile worker without a kernel: its fresh computation equals computeMembership with the
// model as `previous` on generated clusters (cluster-wide and node-local, after one-pod updates,
// new identities and endpoint changes replayed into its replica), a one-element difference in
// any kernel list is found, the event loop keeps ticking while it computes a 20k-pod
// membership, a dead thread answers 'unavailable' and the next check starts another, and close()
// ends the thread.
import { afterEach, describe, expect, it } from 'vitest';
import { computeMembership, type Membership } from '../../compiler/emit/membership.js';
import { generateCluster } from '../../bench/generate-cluster.js';
import { kubeList, toKubectlYaml } from '../../bench/kube-yaml.js';
import { parseArtifact, type LoadedArtifact } from './artifact.js';
import { compareElements, encodeElements, LIST_NAMES, type ListName } from './canonical-elements.js';
import { ClusterState, type EndpointLike } from './cluster-state.js';
import { freshMembership, numberingOf } from './fresh-membership.js';
import { updatePods } from './incremental.js';
import { ReconcileWorker, type CheckReport } from './reconcile-worker.js';
import { compileArtifact } from './testing.js';

type Obj = Record<string, any>;

interface Setup {
  g: ReturnType<typeof generateCluster>;
  artifact: LoadedArtifact;
  state: ClusterState;
  nodeName?: string;
  scope(): { localPods?: ReadonlySet<string> };
}

function setup(pods: number, policies: number, local: boolean): Setup {
  const g = generateCluster({ pods, policies, seed: 7 });
  const parsed = parseArtifact(compileArtifact(toKubectlYaml(kubeList([...g.networkPolicies, ...g.adminPolicies, g.baselinePolicy]))));
  if (!parsed.ok) throw new Error(parsed.reason);
  const state = new ClusterState();
  state.apply({ namespaces: g.namespaces, pods: g.pods, nodes: g.nodes });
  const nodeName = local ? ((g.nodes[0] as Obj).metadata.name as string) : undefined;
  const scope = () => {
    const localPods = state.localPods(nodeName);
    return localPods ? { localPods } : {};
  };
  return { g, artifact: parsed.artifact, state, nodeName, scope };
}

/** Relabels pod `i` with the labels of a same-namespace pod of another app (a move, often into an existing identity). */
function relabelBody(g: Setup['g'], i: number, extra: Record<string, string> = {}): { body: unknown; key: string } {
  const pods = g.pods as Obj[];
  const subject = pods[i % pods.length];
  const donor = pods.find((p) => p.metadata.namespace === subject.metadata.namespace && p.metadata.labels.app !== subject.metadata.labels.app) ?? subject;
  const labels = { ...donor.metadata.labels, 'pod-template-hash': subject.metadata.labels['pod-template-hash'], ...extra };
  return { body: { upsert: [{ ...subject, metadata: { ...subject.metadata, labels } }] }, key: `${subject.metadata.namespace}/${subject.metadata.name}` };
}

/** A copy of `m` with one element of one kernel list changed. */
function corrupted(m: Membership, list: ListName): Membership {
  const bump = (n: number) => (n + 1) >>> 0;
  switch (list) {
    case 'identity': {
      const at = m.identityElements.findIndex((e) => e.pod !== undefined);
      const identityElements = m.identityElements.map((e, i) => (i === at ? { ...e, identity: bump(e.identity) } : e));
      return { ...m, identityElements };
    }
    case 'world':
      return { ...m, world: m.world.map((e, i) => (i === 0 ? { ...e, last: e.last - 1n } : e)) };
    case 'pairs':
      return { ...m, layout: { ...m.layout, pairs: m.layout.pairs.map((p, i) => (i === 0 ? { ...p, profile: bump(p.profile) } : p)) } };
    case 'ports':
      return { ...m, layout: { ...m.layout, ports: m.layout.ports.map((p, i) => (i === 0 ? { ...p, rule: { ...p.rule, cookie: bump(p.rule.cookie) } } : p)) } };
    case 'isolatedEgress':
      return { ...m, isolated: { ...m.isolated, egress: m.isolated.egress.slice(1) } };
    case 'isolatedIngress':
      return { ...m, isolated: { ...m.isolated, ingress: m.isolated.ingress.map((n, i) => (i === 0 ? bump(n) : n)) } };
  }
}

const workers: ReconcileWorker[] = [];
function worker(nodeName?: string, log: (m: string) => void = () => {}): ReconcileWorker {
  const w = new ReconcileWorker({ nodeName, log });
  workers.push(w);
  return w;
}

afterEach(async () => {
  for (const w of workers.splice(0)) await w.close();
});

describe('fresh-membership', () => {
  for (const local of [false, true]) {
    it(`with the model's numbering equals computeMembership with the model as previous, after one-pod updates [${local ? 'node-local' : 'cluster-wide'}]`, () => {
      const s = setup(1000, 100, local);
      const program = s.artifact.program;
      let model = computeMembership(program, s.state.cluster(), undefined, s.scope());
      let newIdentities = 0;
      for (let i = 0; i < 12; i++) {
        // every third relabel adds a label value no pod has: a new identity when a policy reads it
        const { body, key } = relabelBody(s.g, 37 * i + 5, i % 3 === 0 ? { tier: `t${i}` } : {});
        const change = s.state.apply(body);
        expect(change.relabeled).toBeDefined();
        const u = updatePods(program, s.state.cluster(), model, [key]);
        if (u.reason?.includes('new identity')) newIdentities++;
        model = u.membership;
        const inThread = computeMembership(program, s.state.cluster(), model, s.scope());
        const fresh = freshMembership(program, s.state.cluster(), numberingOf(model), s.scope());
        expect(encodeElements(fresh)).toEqual(encodeElements(inThread));
        expect(encodeElements(model)).toEqual(encodeElements(inThread));
      }
      expect(newIdentities).toBeGreaterThan(0);
    });
  }
});

describe('canonical elements', () => {
  it('find a one-element difference in every kernel list, and none between equal memberships', async () => {
    const s = setup(1000, 100, false);
    const m = computeMembership(s.artifact.program, s.state.cluster());
    const words = encodeElements(m);
    expect(await compareElements(m, words)).toBeUndefined();
    expect(await compareElements(computeMembership(s.artifact.program, s.state.cluster(), m), words)).toBeUndefined();
    for (const list of LIST_NAMES) {
      const differ = await compareElements(corrupted(m, list), words);
      expect(differ?.list, list).toBe(list);
    }
  });
});

describe('ReconcileWorker', () => {
  for (const local of [false, true]) {
    it(`answers 'same' for the model as it follows forwarded changes (relabels, endpoints, a whole push), and 'different' for a corrupted one [${local ? 'node-local' : 'cluster-wide'}]`, async () => {
      const s = setup(1000, 100, local);
      const program = s.artifact.program;
      const w = worker(s.nodeName);
      let model = computeMembership(program, s.state.cluster(), undefined, s.scope());
      const expectSame = async () => {
        const r = await w.check(s.state, s.artifact, model);
        expect(r.verdict).toMatchObject({ kind: 'same' });
      };
      await expectSame();
      for (let i = 0; i < 6; i++) {
        const { body, key } = relabelBody(s.g, 53 * i + 11, i % 2 === 0 ? { tier: `t${i}` } : {});
        s.state.apply(body);
        w.changed({ kind: 'apply', body, generation: s.state.generation });
        model = updatePods(program, s.state.cluster(), model, [key]).membership;
      }
      await expectSame();
      // an endpoint: a new pod of this node's (a new subject when node-local), then gone again
      const ep: EndpointLike = { containerId: 'c1', ifname: 'eth0', namespace: (s.g.namespaces[0] as Obj).metadata.name, podName: 'from-cni', ips: ['10.250.0.7/32'] };
      for (const kind of ['add-endpoint', 'remove-endpoint'] as const) {
        if (kind === 'add-endpoint') s.state.addEndpoint(ep);
        else s.state.removeEndpoint(ep);
        w.changed({ kind, endpoint: ep, generation: s.state.generation });
        model = computeMembership(program, s.state.cluster(), model, s.scope());
        await expectSame();
      }
      // a whole-state push is sent whole
      s.state.apply({ namespaces: s.g.namespaces, pods: (s.g.pods as Obj[]).slice(0, 900), nodes: s.g.nodes });
      w.replaced(s.state);
      model = computeMembership(program, s.state.cluster(), model, s.scope());
      await expectSame();
      for (const list of ['identity', 'pairs', 'ports'] as const) {
        const r = await w.check(s.state, s.artifact, corrupted(model, list));
        expect(r.verdict.kind).toBe('different');
        expect((r.verdict as { reason: string }).reason).toMatch(new RegExp(`^${list}: element`));
      }
      // a changed scope (the model is cluster-wide, the worker computes node-local, or the other way round)
      const other = computeMembership(program, s.state.cluster(), model, local ? {} : { localPods: new Set([`${(s.g.pods[0] as Obj).metadata.namespace}/${(s.g.pods[0] as Obj).metadata.name}`]) });
      expect((await w.check(s.state, s.artifact, other)).verdict).toMatchObject({ kind: 'different', reason: expect.stringMatching(/node-local pods differ/) });
      expect(w.status().starts).toBe(1);
    });
  }

  it('answers unavailable when the replica missed a change, and is whole again after the resend', async () => {
    const s = setup(300, 30, false);
    const w = worker();
    const model = computeMembership(s.artifact.program, s.state.cluster());
    expect((await w.check(s.state, s.artifact, model)).verdict.kind).toBe('same');
    s.state.apply(relabelBody(s.g, 3).body); // not forwarded
    const m2 = computeMembership(s.artifact.program, s.state.cluster(), model);
    expect((await w.check(s.state, s.artifact, m2)).verdict).toMatchObject({ kind: 'unavailable', reason: expect.stringMatching(/generation/) });
    expect((await w.check(s.state, s.artifact, m2)).verdict.kind).toBe('same');
  });

  it('keeps the event loop ticking while it computes a 20k-pod membership; the in-thread computation holds it', { timeout: 120_000 }, async () => {
    const s = setup(20_000, 4_000, false);
    const program = s.artifact.program;
    const model = computeMembership(program, s.state.cluster());
    const w = worker();
    // the first check also sends the artifact and the whole replica (a one-time copy, see reconcile-worker.ts)
    await w.check(s.state, s.artifact, model);
    const ticking = async <T>(work: () => Promise<T>): Promise<{ result: T; maxGapMs: number; wallMs: number }> => {
      let last = performance.now();
      let maxGapMs = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        maxGapMs = Math.max(maxGapMs, now - last);
        last = now;
      }, 1);
      const t0 = performance.now();
      try {
        const result = await work();
        return { result, maxGapMs: Math.max(maxGapMs, performance.now() - last), wallMs: performance.now() - t0 };
      } finally {
        clearInterval(timer);
      }
    };
    const off = await ticking(() => w.check(s.state, s.artifact, model));
    const report = off.result as CheckReport;
    expect(report.verdict.kind).toBe('same');
    const computeMs = (report.verdict as { computeMs: number }).computeMs;
    const inThread = await ticking(async () => computeMembership(program, s.state.cluster(), model));
    console.log(
      `20k pods / 4k policies cluster-wide: worker check ${off.wallMs.toFixed(0)} ms wall (compute ${computeMs.toFixed(0)} ms), event loop: longest gap ${off.maxGapMs.toFixed(1)} ms, ` +
        `main-thread time ${report.blockedMs.toFixed(1)} ms (longest slice ${report.maxSliceMs.toFixed(1)} ms); in-thread: longest gap ${inThread.maxGapMs.toFixed(0)} ms`,
    );
    // loose: the gaps are GC pauses and slices of ~2 ms, the computation takes seconds
    expect(off.maxGapMs).toBeLessThan(Math.max(100, computeMs / 5));
    expect(inThread.maxGapMs).toBeGreaterThan(off.maxGapMs);
  });

  it('a thread that dies answers unavailable, is logged, and the next check starts another; close() ends it', async () => {
    const s = setup(300, 30, true);
    const logs: string[] = [];
    const w = worker(s.nodeName, (m) => logs.push(m));
    const model = computeMembership(s.artifact.program, s.state.cluster(), undefined, s.scope());
    const pending = w.check(s.state, s.artifact, model);
    await w.kill();
    expect((await pending).verdict).toMatchObject({ kind: 'unavailable', reason: expect.stringMatching(/exited/) });
    expect(logs.some((l) => /reconcile worker exited/.test(l))).toBe(true);
    expect(w.status().running).toBe(false);
    expect((await w.check(s.state, s.artifact, model)).verdict.kind).toBe('same');
    expect(w.status()).toMatchObject({ running: true, starts: 2 });
    await w.close();
    expect(w.status().running).toBe(false);
    expect((await w.check(s.state, s.artifact, model)).verdict).toMatchObject({ kind: 'unavailable', reason: 'closed' });
    expect(w.status().running).toBe(false);
  });
});
