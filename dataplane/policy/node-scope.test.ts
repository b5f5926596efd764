// Node-local tables (EngineOptions.nodeName): the engine loads decisions only for the identities
// of this node's pods (spec.nodeName) and of the pods with an endpoint here. Kernel tests run
// only inside network namespaces they create (pcnode-<random>, removed afterwards also on
// failure): the maps egress_pairs / ingress_pairs / isolated_* read back from the kernel hold
// only local subjects, and every flow between two nodes is still decided as the reference
// evaluator says when egress is judged on the source's node and ingress on the destination's.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROTO_NUMBER } from '../../compiler/emit/decisions.js';
import { computeMembership, type Membership } from '../../compiler/emit/membership.js';
import { NftInterpreter, type SideOutcome } from '../../compiler/emit/nftables/interpret.js';
import { podEndpoint } from '../../compiler/evaluate/endpoints.js';
import { Evaluator } from '../../compiler/evaluate/evaluator.js';
import type { Cluster } from '../../compiler/model/cluster.js';
import type { Protocol } from '../../compiler/model/k8s-types.js';
import { expectedSide, podIdentities } from '../../testkit/emit.js';
import { parseDaemonArgs } from '../daemon/options.js';
import { addNetns, deleteNetns, listTable } from '../nft/loader.js';
import { parseArtifact, type LoadedArtifact } from './artifact.js';
import { ClusterState, type EndpointLike } from './cluster-state.js';
import { PolicyEngine, type EngineOptions } from './engine.js';
import { elementsOfCommands, elementsOfListing, mapTypes, sameElements } from './kernel-model.js';
import { elementCommands, fullReplaceDocument } from './apply.js';
import { guardSuite } from '../../testkit/requirements.js';
import { compileArtifact, ensureNftHelper, FakeEndpoints, netnsName, policyKernel } from './testing.js';

// db and cache are isolated for ingress, web for egress; an ANP denies web -> db. Identities:
// db, web (node-1 only), cache, other (node-2 only), api (both nodes).
const POLICIES = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-api, namespace: x}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: api}}}]
    ports: [{protocol: TCP, port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: cache-from-web, namespace: x}
spec:
  podSelector: {matchLabels: {app: cache}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: web}}}]
    ports: [{protocol: TCP, port: 6379}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: x}
spec:
  podSelector: {matchLabels: {role: web}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
    ports: [{protocol: TCP, port: 80}]
  - to: [{podSelector: {matchLabels: {app: cache}}}]
    ports: [{protocol: TCP, port: 6379}]
  - ports: [{protocol: UDP, port: 53}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: no-web-to-db}
spec:
  priority: 10
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}}
  ingress:
  - name: deny-web
    action: Deny
    from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {role: web}}}}]
`;

interface PodSpec {
  labels: Record<string, string>;
  ip: string;
  node?: string;
}

const PODS: Record<string, PodSpec> = {
  db: { labels: { app: 'db' }, ip: '10.99.1.10', node: 'node-1' },
  api1: { labels: { role: 'api' }, ip: '10.99.1.11', node: 'node-1' },
  web1: { labels: { role: 'web' }, ip: '10.99.1.13', node: 'node-1' },
  cache: { labels: { app: 'cache' }, ip: '10.99.2.20', node: 'node-2' },
  api2: { labels: { role: 'api' }, ip: '10.99.2.12', node: 'node-2' },
  other: { labels: {}, ip: '10.99.2.15', node: 'node-2' },
};

function podObject(name: string, p: PodSpec) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: 'x', name, labels: p.labels },
    spec: { ...(p.node ? { nodeName: p.node } : {}), containers: [{ name: 'c' }] },
    status: { podIP: p.ip, podIPs: [{ ip: p.ip }], phase: 'Running' },
  };
}

function clusterBody(pods: Record<string, PodSpec> = PODS) {
  return {
    namespaces: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', labels: {} } }],
    nodes: ['node-1', 'node-2'].map((name) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name } })),
    pods: Object.entries(pods).map(([name, p]) => podObject(name, p)),
  };
}

const FILES = compileArtifact(POLICIES);
const ARTIFACT = (parseArtifact(FILES) as { ok: true; artifact: LoadedArtifact }).artifact;

function localOf(cluster: Cluster, node: string, extra: string[] = []): Set<string> {
  return new Set([...cluster.pods.filter((p) => p.node === node).map((p) => `${p.namespace}/${p.name}`), ...extra]);
}

/** The subjects (first key part) of a pairs map or the members of an isolated set, as listed. */
function subjectsIn(elements: readonly string[]): number[] {
  const out = new Set<number>();
  for (const e of elements) {
    const [first, last] = e.split(' . ')[0]!.split(' : ')[0]!.split('-').map(Number);
    for (let v = first!; v <= last!; v++) out.add(v);
  }
  return [...out].sort((a, b) => a - b);
}

describe('node scope without the kernel', () => {
  it('localPods: pods placed on the node plus endpoint pods; none without a node name', () => {
    const s = new ClusterState();
    s.apply(clusterBody());
    expect(s.localPods(undefined)).toBeUndefined();
    expect([...s.localPods('node-1')!].sort()).toEqual(['x/api1', 'x/db', 'x/web1']);
    expect([...s.localPods('node-3')!]).toEqual([]);
    // an endpoint wired here counts whatever the API says (also a pod the API has not sent yet)
    s.addEndpoint({ containerId: 'c1', ifname: 'eth0', namespace: 'x', podName: 'other', ips: ['10.99.2.15/32'] });
    s.addEndpoint({ containerId: 'c2', ifname: 'eth0', namespace: 'x', podName: 'fresh', ips: ['10.99.1.30/32'] });
    expect([...s.localPods('node-1')!].sort()).toEqual(['x/api1', 'x/db', 'x/fresh', 'x/other', 'x/web1']);
  });

  it('--node-name and NODE_NAME', () => {
    expect(parseDaemonArgs(['--socket', 's', '--node-name', 'n1'], {})).toEqual({ options: { socketPath: 's', nodeName: 'n1' } });
    expect(parseDaemonArgs(['--node-name=n2'], { NODE_NAME: 'env' })).toEqual({ options: { nodeName: 'n2' } });
    expect(parseDaemonArgs(['--policy', 'on'], { NODE_NAME: 'env' })).toEqual({ options: { policy: true, nodeName: 'env' } });
    expect(parseDaemonArgs([], { NODE_NAME: '' })).toEqual({ options: {} });
    expect(parseDaemonArgs(['--node-name'], {})).toEqual({ error: '--node-name needs a value' });
  });
});

const kernel = guardSuite('node-local tables in throwaway netns', await policyKernel());
const helper = kernel.ok ? await ensureNftHelper() : undefined;

describe.skipIf(kernel.skip)(kernel.title, () => {
  let dir: string;
  let created: string[];
  let engines: PolicyEngine[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcnode-'));
    created = [];
    engines = [];
  });
  afterEach(async () => {
    for (const e of engines) await e.close().catch(() => undefined);
    for (const n of created) await deleteNetns(n);
    await rm(dir, { recursive: true, force: true });
  });

  async function start(nodeName: string | undefined, extra: Partial<EngineOptions> = {}): Promise<{ engine: PolicyEngine; netns: string }> {
    const netns = netnsName('pcnode');
    await addNetns(netns);
    created.push(netns);
    const engine = await PolicyEngine.start({
      stateDir: join(dir, `state-${nodeName ?? 'all'}`),
      netns,
      nodeName,
      nftHelper: helper ?? false,
      setReady: () => {},
      log: () => {},
      reconcileDelayMs: 0,
      persistDelayMs: 0,
      ...extra,
    });
    engines.push(engine);
    return { engine, netns };
  }

  /** The kernel's elements must be exactly those of a fresh computation with this scope. */
  async function expectKernel(netns: string, engine: PolicyEngine, localPods: Set<string> | undefined): Promise<{ listed: Map<string, string[]>; membership: Membership }> {
    const membership = computeMembership(ARTIFACT.program, engine.cluster(), undefined, localPods ? { localPods } : {});
    const listed = elementsOfListing((await listTable(netns)) as any);
    const want = elementsOfCommands(mapTypes(ARTIFACT.skeleton as unknown as Array<Record<string, any>>), elementCommands(ARTIFACT, membership));
    expect(sameElements(listed, want)).toEqual({ same: true });
    return { listed, membership };
  }

  it('loads only the local subjects rows, and flows across nodes are decided as the evaluator says', async () => {
    const nodes = { 'node-1': await start('node-1'), 'node-2': await start('node-2') };
    const wide = await start(undefined);
    for (const { engine } of [...Object.values(nodes), wide]) {
      await engine.pushClusterState(clusterBody());
      expect((await engine.loadArtifact(FILES, 'test')).kind).toBe('full');
    }
    const cluster = wide.engine.cluster();
    const wideKernel = await expectKernel(wide.netns, wide.engine, undefined);
    expect((wide.engine.status() as any).counts.scope).toEqual({ node: null, localPods: null, lingering: null, lingerDropped: 0 });
    const interps = new Map<string, NftInterpreter>();
    for (const [name, { engine, netns }] of Object.entries(nodes)) {
      const local = localOf(cluster, name);
      expect((engine.status() as any).counts.scope).toEqual({ node: name, localPods: 3, lingering: 0, lingerDropped: 0 });
      const { listed, membership } = await expectKernel(netns, engine, local);
      const subjects = [...podIdentities(membership.identities, local)].sort((a, b) => a - b);
      const remoteOnly = [...podIdentities(membership.identities, localOf(cluster, name === 'node-1' ? 'node-2' : 'node-1'))].filter((id) => !subjects.includes(id));
      expect(remoteOnly.length).toBeGreaterThan(0);
      // the kernel's maps hold rows of local subjects only, and every local subject the full table has rows for
      for (const map of ['egress_pairs', 'ingress_pairs', 'isolated_egress', 'isolated_ingress']) {
        const got = subjectsIn(listed.get(map) ?? []);
        for (const s of got) expect(subjects).toContain(s);
        expect(got).toEqual(subjectsIn(wideKernel.listed.get(map) ?? []).filter((s) => subjects.includes(s)));
      }
      expect((listed.get('egress_pairs')?.length ?? 0) + (listed.get('ingress_pairs')?.length ?? 0)).toBeGreaterThan(0);
      expect(listed.get('ingress_pairs')!.length + listed.get('egress_pairs')!.length).toBeLessThan(wideKernel.listed.get('ingress_pairs')!.length + wideKernel.listed.get('egress_pairs')!.length);
      // the ip -> identity maps stay cluster-wide
      expect(listed.get('src_identity_v4')).toEqual(wideKernel.listed.get('src_identity_v4'));
      expect(listed.get('dst_identity_v4')).toEqual(wideKernel.listed.get('dst_identity_v4'));
      // the document whose elements the kernel holds (checked just above), for the interpreter
      interps.set(name, new NftInterpreter(fullReplaceDocument(ARTIFACT, membership)));
    }
    // egress judged on the source's node, ingress on the destination's
    const evaluator = new Evaluator(ARTIFACT.program, cluster);
    const strip = (o: SideOutcome) => (o.kind === 'rule' ? { kind: o.kind, action: o.action, ruleId: o.ruleId } : o);
    const probes: Array<[Protocol, number]> = [
      ['TCP', 80],
      ['TCP', 6379],
      ['UDP', 53],
      ['TCP', 443],
    ];
    let crossNode = 0;
    const wrong: string[] = [];
    for (const src of cluster.pods) {
      for (const dst of cluster.pods) {
        if (src === dst) continue;
        const srcNode = interps.get(src.node!)!;
        const dstNode = interps.get(dst.node!)!;
        if (src.node !== dst.node) crossNode++;
        const s = podEndpoint(cluster, src);
        const d = podEndpoint(cluster, dst);
        for (const [proto, port] of probes) {
          const egress = strip(srcNode.side('egress', srcNode.identity('src', src.ips[0]!), srcNode.identity('dst', dst.ips[0]!), PROTO_NUMBER[proto], port));
          const ingress = strip(dstNode.side('ingress', dstNode.identity('dst', dst.ips[0]!), dstNode.identity('src', src.ips[0]!), PROTO_NUMBER[proto], port));
          const wantE = strip(expectedSide(evaluator, 'egress', s, d, proto, port));
          const wantI = strip(expectedSide(evaluator, 'ingress', s, d, proto, port));
          if (JSON.stringify(egress) !== JSON.stringify(wantE)) wrong.push(`${src.name} -> ${dst.name} ${port}/${proto} egress on ${src.node}: ${JSON.stringify(egress)} vs ${JSON.stringify(wantE)}`);
          if (JSON.stringify(ingress) !== JSON.stringify(wantI)) wrong.push(`${src.name} -> ${dst.name} ${port}/${proto} ingress on ${dst.node}: ${JSON.stringify(ingress)} vs ${JSON.stringify(wantI)}`);
          // whole verdict: both nodes together equal the evaluator
          const accepted = [egress, ingress].every((o: any) => o.kind === 'continue' || (o.kind === 'rule' && o.action === 'allow'));
          if (accepted !== evaluator.evaluate({ source: s, destination: d, protocol: proto, port }).allowed) wrong.push(`${src.name} -> ${dst.name} ${port}/${proto}: verdict`);
        }
      }
    }
    expect(crossNode).toBe(18);
    expect(wrong).toEqual([]);
    // and the scoping is real: node-1's table alone does not know cache's isolation (a node-2 subject)
    const n1 = interps.get('node-1')!;
    const cacheId = n1.identity('dst', PODS.cache.ip);
    expect(n1.side('ingress', cacheId, n1.identity('src', PODS.other.ip), 6, 6379)).toEqual({ kind: 'continue' });
    expect(interps.get('node-2')!.side('ingress', cacheId, n1.identity('src', PODS.other.ip), 6, 6379)).toEqual({ kind: 'isolated' });
  });

  it('recomputes the scope when endpoints come and go, a pod is scheduled here or moves away', async () => {
    const endpoints = new FakeEndpoints();
    // (without lingering subjects: a subject the node loses leaves with its rows at once; the next test lingers)
    const { engine, netns } = await start('node-1', { endpoints, lingerSubjects: false });
    await engine.pushClusterState(clusterBody());
    await engine.loadArtifact(FILES, 'test');
    const scope = () => {
      const { lingering, lingerDropped, ...rest } = (engine.status() as any).counts.scope;
      expect([lingering, lingerDropped]).toEqual([0, 0]);
      return rest;
    };
    const cacheRows = async () => {
      const listed = elementsOfListing((await listTable(netns)) as any);
      const id = computeMembership(ARTIFACT.program, engine.cluster()).identities.elements.find((e) => e.pod === 'x/cache')!.identity;
      return subjectsIn(listed.get('isolated_ingress') ?? []).includes(id);
    };
    await expectKernel(netns, engine, localOf(engine.cluster(), 'node-1'));
    expect(await cacheRows()).toBe(false);

    // a cache pod scheduled on this node: its identity's rows appear
    const r1 = await engine.pushClusterState({ upsert: [podObject('cache2', { labels: { app: 'cache' }, ip: '10.99.1.21', node: 'node-1' })] });
    expect(r1.kind).toBe('diff');
    expect(scope()).toEqual({ node: 'node-1', localPods: 4 });
    expect(await cacheRows()).toBe(true);
    await expectKernel(netns, engine, localOf(engine.cluster(), 'node-1'));

    // the one-pod path on a remote pod keeps the scope (api2 joins other's identity; api1 keeps api's)
    const r2 = await engine.pushClusterState({ upsert: [podObject('api2', { labels: {}, ip: PODS.api2.ip, node: 'node-2' })] });
    expect(r2.kind).toBe('diff');
    expect(r2.fallback).toBeUndefined();
    await expectKernel(netns, engine, localOf(engine.cluster(), 'node-1'));

    // a local pod moving between local identities (api3: api -> web; api1 keeps api, web1 is web):
    // the one-pod path, exact, no recomputation
    const api3 = { labels: { role: 'api' }, ip: '10.99.1.31', node: 'node-1' };
    await engine.pushClusterState({ upsert: [podObject('api3', api3)] });
    expect(scope()).toEqual({ node: 'node-1', localPods: 5 });
    const r2b = await engine.pushClusterState({ upsert: [podObject('api3', { ...api3, labels: { role: 'web' } })] });
    expect(r2b).toMatchObject({ kind: 'diff', elements: 4 });
    expect(r2b.fallback).toBeUndefined();
    await expectKernel(netns, engine, localOf(engine.cluster(), 'node-1'));
    // a local pod into a new identity (role=api and app=db): a new subject, its rows computed and merged
    const r2c = await engine.pushClusterState({ upsert: [podObject('api3', { ...api3, labels: { role: 'api', app: 'db' } })] });
    expect(r2c.fallback).toMatch(/x\/api3 moves into a new identity/);
    await expectKernel(netns, engine, localOf(engine.cluster(), 'node-1'));
    await engine.pushClusterState({ delete: [{ kind: 'Pod', namespace: 'x', name: 'api3' }] });
    expect(scope()).toEqual({ node: 'node-1', localPods: 4 });
    await expectKernel(netns, engine, localOf(engine.cluster(), 'node-1'));

    // a relabel that moves a pod to another node (same address): not the one-pod path, new scope
    const r3 = await engine.pushClusterState({ upsert: [podObject('cache2', { labels: { app: 'cache' }, ip: '10.99.1.21', node: 'node-2' })] });
    expect(r3.fallback).toBe('the node-local pods changed');
    expect(scope()).toEqual({ node: 'node-1', localPods: 3 });
    expect(await cacheRows()).toBe(false);
    await expectKernel(netns, engine, localOf(engine.cluster(), 'node-1'));

    // an endpoint wired here for cache (the API still says node-2): local, rows appear
    const ep: EndpointLike = { containerId: 'cid-cache', ifname: 'eth0', namespace: 'x', podName: 'cache', ips: [`${PODS.cache.ip}/32`] };
    endpoints.add(ep);
    await engine.idle();
    expect(scope()).toEqual({ node: 'node-1', localPods: 4 });
    expect(await cacheRows()).toBe(true);
    await expectKernel(netns, engine, localOf(engine.cluster(), 'node-1', ['x/cache']));
    // a relabel of that local pod: recomputed with the scope (updateMembership) and still exact
    const r4 = await engine.pushClusterState({ upsert: [podObject('cache', { labels: { app: 'cache', v: '2' }, ip: PODS.cache.ip, node: 'node-2' })] });
    expect(r4.kind === 'diff' || r4.kind === 'none').toBe(true);
    await expectKernel(netns, engine, localOf(engine.cluster(), 'node-1', ['x/cache']));

    endpoints.remove(ep);
    await engine.idle();
    expect(scope()).toEqual({ node: 'node-1', localPods: 3 });
    expect(await cacheRows()).toBe(false);
    await expectKernel(netns, engine, localOf(engine.cluster(), 'node-1'));

    // a restart with the same node name adopts the table as is
    await engine.close();
    engines.splice(engines.indexOf(engine), 1);
    const logs: string[] = [];
    const again = await PolicyEngine.start({ stateDir: join(dir, 'state-node-1'), netns, nodeName: 'node-1', nftHelper: helper ?? false, endpoints, setReady: () => {}, log: (m) => logs.push(m), reconcileDelayMs: 0, persistDelayMs: 0 });
    engines.push(again);
    expect(logs.some((l) => l.includes('kept as is'))).toBe(true);
    expect((again.status() as any).counts.scope).toEqual({ node: 'node-1', localPods: 3, lingering: 0, lingerDropped: 0 });
  });

  /** The kernel's elements against a fresh computation with the local pods and these lingering keys. */
  async function expectLingering(netns: string, engine: PolicyEngine, lingering: string[]): Promise<Map<string, string[]>> {
    const localPods = localOf(engine.cluster(), 'node-1');
    const membership = computeMembership(ARTIFACT.program, engine.cluster(), undefined, { localPods, ...(lingering.length > 0 ? { lingering: new Set(lingering) } : {}) });
    expect([...(membership.scope?.lingering ?? [])].sort()).toEqual([...lingering].sort());
    const listed = elementsOfListing((await listTable(netns)) as any);
    const want = elementsOfCommands(mapTypes(ARTIFACT.skeleton as unknown as Array<Record<string, any>>), elementCommands(ARTIFACT, membership));
    expect(sameElements(listed, want)).toEqual({ same: true });
    return listed;
  }

  const pairsOf = (listed: Map<string, string[]>) => [...(listed.get('egress_pairs') ?? []), ...(listed.get('ingress_pairs') ?? [])].sort();
  /** The identity key of a pod's identity (from a cluster-wide computation: keys do not depend on the scope). */
  const keyOf = (cluster: Cluster, pod: string) => {
    const m = computeMembership(ARTIFACT.program, cluster);
    return m.identities.byId.get(m.identityElements.find((e) => e.pod === pod)!.identity)!.key;
  };

  it('lingering subjects: a departed local identity keeps its rows (no pair deleted), its return costs only address elements, the GC drops it after the quiet period; off: dropped at once', async () => {
    const { engine, netns } = await start('node-1', { lingerQuietMs: 2500 });
    const off = await start('node-1', { lingerSubjects: false });
    // cache3 is this node's only cache pod (cache runs on node-2 too): an isolated subject with rows
    const pods = { ...PODS, cache3: { labels: { app: 'cache' }, ip: '10.99.1.22', node: 'node-1' } };
    for (const e of [engine, off.engine]) {
      await e.pushClusterState(clusterBody(pods));
      await e.loadArtifact(FILES, 'test');
    }
    const scope = () => (engine.status() as any).counts.scope;
    const cacheKey = keyOf(engine.cluster(), 'x/cache3');
    const before = pairsOf(await expectLingering(netns, engine, []));

    // the node's only cache pod goes: its subject lingers, no pair element leaves
    const gone = { delete: [{ kind: 'Pod', namespace: 'x', name: 'cache3' }] };
    const r1 = await engine.pushClusterState(gone);
    expect(r1.kind).toBe('diff');
    expect(r1.elements).toBe(2); // the address out of the source and destination maps (the world maps merge over it)
    expect(scope()).toMatchObject({ localPods: 3, lingering: 1 });
    expect(pairsOf(await expectLingering(netns, engine, [cacheKey]))).toEqual(before);
    // the reconcile's worker computes with the model's lingering keys: nothing to correct
    expect((await engine.reconcile()).kind).toBe('none');
    expect((engine.status() as any).lastReconcile.where).toBe('worker');

    // lingering off: the row leaves at once
    const r1off = await off.engine.pushClusterState(gone);
    expect(r1off.elements).toBeGreaterThan(2);
    const offPairs = pairsOf(await expectKernel(off.netns, off.engine, localOf(off.engine.cluster(), 'node-1')).then((k) => k.listed));
    expect(offPairs.length).toBeLessThan(before.length);
    expect((off.engine.status() as any).counts.scope).toMatchObject({ localPods: 3, lingering: 0 });

    // a new cache pod here (a rolling update: same labels, new name and address): only its address elements
    const back = { upsert: [podObject('cache4', { labels: { app: 'cache' }, ip: '10.99.1.23', node: 'node-1' })] };
    const r2 = await engine.pushClusterState(back);
    expect(r2.kind).toBe('diff');
    expect(r2.elements).toBe(2);
    expect(scope()).toMatchObject({ localPods: 4, lingering: 0 });
    expect(pairsOf(await expectLingering(netns, engine, []))).toEqual(before);
    // off: the whole row again
    expect((await off.engine.pushClusterState(back)).elements).toBeGreaterThan(2);

    // it goes again: lingers, and after the quiet period the GC drops its row (one step, the normal diff path)
    await engine.pushClusterState({ delete: [{ kind: 'Pod', namespace: 'x', name: 'cache4' }] });
    expect(scope()).toMatchObject({ lingering: 1, lingerDropped: 0 });
    await expectLingering(netns, engine, [cacheKey]);
    const deadline = Date.now() + 20_000;
    while (scope().lingering > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await engine.idle();
    expect(scope()).toMatchObject({ localPods: 3, lingering: 0, lingerDropped: 1 });
    const after = await expectLingering(netns, engine, []);
    expect(pairsOf(after)).toEqual(offPairs);
    expect((await engine.reconcile()).kind).toBe('none');
  });

  it('lingering subjects: past maxLingering the oldest row is dropped at once; close() drops the rest so that a restart adopts the table', async () => {
    const { engine, netns } = await start('node-1', { lingerQuietMs: 600_000, maxLingering: 1 });
    // two identities with rows that run here and on node-2: cache (cache3 here) and db (db2 on node-2)
    await engine.pushClusterState(clusterBody({ ...PODS, cache3: { labels: { app: 'cache' }, ip: '10.99.1.22', node: 'node-1' }, db2: { labels: { app: 'db' }, ip: '10.99.2.10', node: 'node-2' } }));
    await engine.loadArtifact(FILES, 'test');
    const scope = () => (engine.status() as any).counts.scope;
    const cacheKey = keyOf(engine.cluster(), 'x/cache3'); // cache also on node-2
    const dbKey = keyOf(engine.cluster(), 'x/db');
    await engine.pushClusterState({ delete: [{ kind: 'Pod', namespace: 'x', name: 'db' }] });
    expect(scope()).toMatchObject({ lingering: 1 });
    await expectLingering(netns, engine, [dbKey]);
    await new Promise((r) => setTimeout(r, 5)); // a later start for the second
    await engine.pushClusterState({ delete: [{ kind: 'Pod', namespace: 'x', name: 'cache3' }] });
    const deadline = Date.now() + 10_000;
    while (scope().lingering > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await engine.idle();
    expect(scope()).toMatchObject({ lingering: 1, lingerDropped: 1 });
    await expectLingering(netns, engine, [cacheKey]);
    // close() drops what lingers; a restart computes without and adopts the kernel as is
    await engine.close();
    engines.splice(engines.indexOf(engine), 1);
    const logs: string[] = [];
    const again = await PolicyEngine.start({ stateDir: join(dir, 'state-node-1'), netns, nodeName: 'node-1', nftHelper: helper ?? false, setReady: () => {}, log: (m) => logs.push(m), reconcileDelayMs: 0, persistDelayMs: 0 });
    engines.push(again);
    expect(logs.some((l) => l.includes('kept as is'))).toBe(true);
    await expectLingering(netns, again, []);
  });
});
