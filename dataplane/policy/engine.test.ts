// The policy engine against the real kernel, only inside network namespaces these tests create
// (pcpol-<random>, removed afterwards also on failure): bad artifacts refused with the old table
// kept, one-pod diffs, port deletes held back until a quiet period, endpoint churn, restart
// resync, the artifacts directory, metrics.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { computeMembership } from '../../compiler/emit/membership.js';
import { writeArtifact } from '../../cli/write-artifact.js';
import { addNetns, deleteNetns, listTable, run } from '../nft/loader.js';
import { fullReplaceDocument } from './apply.js';
import { parseArtifact } from './artifact.js';
import type { EndpointLike } from './cluster-state.js';
import { PolicyEngine, PolicyRefused, type EngineOptions } from './engine.js';
import { NftRunner, netnsTarget } from './nft-exec.js';
import { createPodNetwork, probeFrom, startServers, stopServers } from '../nft/podnet.js';
import { clusterState, POD_IPS, POLICIES_A, POLICIES_B, relabel } from './fixtures.js';
import { parseMetrics } from './metrics.js';
import { guardSuite } from '../../testkit/requirements.js';
import { elementsOfListing } from './kernel-model.js';
import { compileArtifact, ensureNftHelper, FakeEndpoints, kernelTable, netnsName, policyKernel, resealed } from './testing.js';

const kernel = guardSuite('policy engine in a throwaway netns', await policyKernel());

const helperPath = kernel.ok ? await ensureNftHelper() : undefined;
const MODES: Array<['helper' | 'exec', string | false | undefined]> = [
  ['helper', helperPath],
  ['exec', false],
];
const A = compileArtifact(POLICIES_A);
const B = compileArtifact(POLICIES_B);

/** The kernel listing a fresh full load of (artifact, cluster) gives, in a scratch netns. */
async function freshLoad(files: Record<string, string>, engine: PolicyEngine | undefined, scratch: string, work = tmpdir()): Promise<string> {
  const parsed = parseArtifact(files);
  if (!parsed.ok) throw new Error(parsed.reason);
  const membership = engine ? computeMembership(parsed.artifact.program, engine.cluster()) : undefined;
  const doc = fullReplaceDocument(parsed.artifact, membership);
  const runner = new NftRunner(netnsTarget(scratch), join(work, 'pcpol-fresh-batches'));
  const applied = await runner.apply(JSON.stringify(doc));
  if (!applied.ok) throw new Error(`fresh load failed: ${applied.stderr}`);
  return kernelTable(scratch);
}

describe.skipIf(kernel.skip)(kernel.title, () => {
  let dir: string;
  let node: string;
  let scratch: string;
  let engines: PolicyEngine[];
  let logs: string[];
  let ready: boolean[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcpol-engine-'));
    node = netnsName('pcpol');
    scratch = netnsName('pcpol');
    await addNetns(node);
    await addNetns(scratch);
    engines = [];
    logs = [];
    ready = [];
  });
  afterEach(async () => {
    for (const e of engines) await e.close().catch(() => undefined);
    await deleteNetns(node);
    await deleteNetns(scratch);
    await rm(dir, { recursive: true, force: true });
  });

  async function start(extra: Partial<EngineOptions> = {}): Promise<PolicyEngine> {
    const e = await PolicyEngine.start({
      stateDir: join(dir, 'state'),
      netns: node,
      setReady: (r) => ready.push(r),
      log: (m) => logs.push(m),
      reconcileDelayMs: 0,
      persistDelayMs: 0,
      ...extra,
    });
    engines.push(e);
    return e;
  }

  for (const [mode, nftHelper] of MODES) {
    it.skipIf(nftHelper === undefined)(`[nft ${mode}${nftHelper === undefined ? ': helper not built, no compiler' : ''}] fails closed until the first artifact, then refuses bad artifacts and keeps the old table`, async () => {
      const engine = await start({ nftHelper });
      expect((engine.status() as any).nft).toBe(mode);
      expect(ready).toEqual([false]);
      expect(await kernelTable(node)).toBe('');
      await engine.pushClusterState(clusterState());
      const loaded = await engine.loadArtifact(A, 'test');
      expect(loaded.kind).toBe('full');
      expect(ready).toEqual([false, true]);
      const good = await kernelTable(node);
      expect(good).toBe(await freshLoad(A, engine, scratch, dir));

      // hash mismatch: a file changed after the manifest was sealed
      const tampered = { ...B, 'program.json': B['program.json'].replace(/"formatVersion":\s*1/, '"formatVersion":  1') };
      await expect(engine.loadArtifact(tampered, 'test')).rejects.toThrow(/content hash .* does not match/);
      // truncated JSON, consistently sealed
      const truncated = resealed(B, 'nftables.json', B['nftables.json'].slice(0, 200));
      await expect(engine.loadArtifact(truncated, 'test')).rejects.toThrow(/nftables.json is not JSON/);
      // a ruleset the kernel refuses: a jump to a chain that does not exist
      const nft = JSON.parse(B['nftables.json']);
      nft.nftables.push({ add: { rule: { family: 'inet', table: 'policyc', chain: 'forward', expr: [{ jump: { target: 'no_such_chain' } }] } } });
      const refusedByKernel = resealed(B, 'nftables.json', JSON.stringify(nft));
      const err = await engine.loadArtifact(refusedByKernel, 'test').catch((e: Error) => e);
      expect(err).toBeInstanceOf(PolicyRefused);
      expect((err as Error).message).toMatch(/nft rejected the batch/);
      // a batch that would touch something else than its own table
      const flush = resealed(B, 'nftables.json', JSON.stringify({ nftables: [{ flush: { ruleset: null } }, ...nft.nftables] }));
      await expect(engine.loadArtifact(flush, 'test')).rejects.toThrow(/not allowed/);

      expect(await kernelTable(node)).toBe(good);
      expect(logs.filter((l) => l.includes('refused artifact'))).toHaveLength(4);
      expect(logs.find((l) => l.includes('nft rejected'))).toMatch(/the last good artifact [0-9a-f]{12} stays loaded/);
      const status = engine.status() as any;
      expect(status.artifact.hash).toBe(JSON.parse(A['manifest.json']).contentHash);
      expect(status.lastError.reason).toBe('invalid-artifact');
      expect(status.ready).toBe(true);
      // the engine still works after refusals
      expect((await engine.loadArtifact(B, 'test')).kind).toBe('full');
      expect(await kernelTable(node)).toBe(await freshLoad(B, engine, scratch, dir));
    });

    it.skipIf(nftHelper === undefined)(`[nft ${mode}] a one-pod label change is one small element batch; the kernel equals a fresh full load`, async () => {
      const engine = await start({ nftHelper });
      await engine.pushClusterState(clusterState());
      await engine.loadArtifact(A, 'test');
      // api2 -> web: an identity that exists, and api keeps api1: 1 address x (src + dst map) x (delete + add)
      const r1 = await engine.pushClusterState(relabel('api2', { role: 'web' }));
      expect(r1).toMatchObject({ kind: 'diff', elements: 4 });
      expect(r1.fallback).toBeUndefined();
      expect(await kernelTable(node)).toBe(await freshLoad(A, engine, scratch, dir));
      expect((await engine.reconcile()).kind).toBe('none');
      // a label no policy reads: nothing to do
      expect((await engine.pushClusterState(relabel('api1', { role: 'api', 'pod-template-hash': 'abc' }))).kind).toBe('none');
      // into a brand-new identity (db and api at once): the full computation, still a diff
      const r2 = await engine.pushClusterState(relabel('other', { app: 'db', role: 'api' }));
      expect(r2.kind).toBe('diff');
      expect(r2.fallback).toMatch(/new identity/);
      expect(await kernelTable(node)).toBe(await freshLoad(A, engine, scratch, dir));
      // back again; then the model drifts (someone deleted an element) and the diff falls back
      await engine.pushClusterState(relabel('other', {}));
      await run('nsenter', [`--net=/run/netns/${node}`, 'nft', 'delete', 'element', 'inet', 'policyc', 'src_identity_v4', `{ ${POD_IPS.api2} }`]);
      const r3 = await engine.pushClusterState(relabel('api2', { role: 'api' }));
      expect(r3.kind).toBe('full');
      expect(r3.fallback).toMatch(/refused/);
      expect(await kernelTable(node)).toBe(await freshLoad(A, engine, scratch, dir));
      expect((engine.status() as any).lastError.reason).toBe('diff-refused');
    });
  }

  it('holds back the port deletes of a retired profile until a quiet period, then the kernel equals a fresh full load; a restart adopts it', async () => {
    // a profile only the `special` pod's identity uses: relabeling the pod away retires it
    const files = compileArtifact(`${POLICIES_A}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: special-from-api, namespace: x}
spec:
  podSelector: {matchLabels: {app: special}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: api}}}]
    ports: [{protocol: TCP, port: 9999}]
`);
    const engine = await start({ portCleanupDelayMs: 300 });
    await engine.pushClusterState(clusterState());
    await engine.loadArtifact(files, 'test');
    const held = () => (engine.status() as any).heldPortElements as number;
    const elements = async (netns: string) => elementsOfListing((await listTable(netns)) as any);
    const isPorts = (name: string) => /_ports(_exact)?$/.test(name);

    const into = await engine.pushClusterState(relabel('other', { app: 'special' }));
    expect(into.kind).toBe('diff');
    expect(held()).toBe(0);
    expect(await kernelTable(node)).toBe(await freshLoad(files, engine, scratch, dir));
    // away: the profile's pairs go, its port elements stay (unreachable) until the cleanup
    await engine.pushClusterState(relabel('other', {}));
    expect(held()).toBeGreaterThan(0);
    await freshLoad(files, engine, scratch, dir);
    const [inKernel, fresh] = [await elements(node), await elements(scratch)];
    for (const [name, list] of fresh) {
      if (isPorts(name)) expect(inKernel.get(name) ?? []).toEqual(expect.arrayContaining(list));
      else expect(inKernel.get(name) ?? []).toEqual(list);
    }
    expect([...inKernel].some(([name, list]) => isPorts(name) && list.length > (fresh.get(name) ?? []).length)).toBe(true);
    // back before the cleanup: the elements are already there, only the pairs are sent
    const again = await engine.pushClusterState(relabel('other', { app: 'special' }));
    expect(again.elements).toBeLessThan(into.elements);
    expect(held()).toBe(0);
    expect(await kernelTable(node)).toBe(await freshLoad(files, engine, scratch, dir));
    // away again, then quiet: one cleanup batch, and the kernel is exact
    await engine.pushClusterState(relabel('other', {}));
    expect(held()).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 500));
    await engine.idle();
    expect(held()).toBe(0);
    expect(await kernelTable(node)).toBe(await freshLoad(files, engine, scratch, dir));
    // held elements at close are deleted first, so a restart adopts the table as is
    await engine.pushClusterState(relabel('other', { app: 'special' }));
    await engine.pushClusterState(relabel('other', {}));
    expect(held()).toBeGreaterThan(0);
    await engine.close();
    engines.splice(engines.indexOf(engine), 1);
    logs.length = 0;
    await start();
    expect(logs.some((l) => l.includes('already holds the last good'))).toBe(true);
  });

  it('reconciles after a quiet period, and under changes that never leave one at the latest reconcileMaxDelayMs after the first', async () => {
    const engine = await start({ reconcileDelayMs: 300, reconcileMaxDelayMs: 700 });
    await engine.pushClusterState(clusterState());
    await engine.loadArtifact(A, 'test');
    const last = () => (engine.status() as any).lastReconcile as { at: string } | null;
    // a change every 100 ms for ~1.2 s: never 300 ms quiet, so only the max delay triggers it
    const start0 = Date.now();
    for (let i = 0; i < 12; i++) {
      await engine.pushClusterState(relabel('api2', { role: i % 2 === 0 ? 'web' : 'api' }));
      await new Promise((r) => setTimeout(r, 100));
    }
    const forced = last();
    expect(forced).not.toBeNull();
    expect(Date.parse(forced!.at) - start0).toBeGreaterThanOrEqual(650);
    // then quiet: one more after the quiet period, and the kernel is what a fresh load gives
    await new Promise((r) => setTimeout(r, 450));
    await engine.idle();
    expect(last()!.at).not.toBe(forced!.at);
    expect(await kernelTable(node)).toBe(await freshLoad(A, engine, scratch, dir));
  });

  it('follows endpoints: an add completes a pod, a remove takes its address away', async () => {
    const endpoints = new FakeEndpoints();
    const engine = await start({ endpoints });
    await engine.pushClusterState(clusterState());
    await engine.loadArtifact(A, 'test');
    const before = await kernelTable(node);
    // a pod the API has not reported yet, and a new address for an existing one
    const ep1: EndpointLike = { containerId: 'c1', ifname: 'eth0', namespace: 'x', podName: 'fresh', ips: ['10.99.0.40/32'] };
    const ep2: EndpointLike = { containerId: 'c2', ifname: 'eth0', namespace: 'x', podName: 'db', ips: ['10.99.0.41/32'] };
    endpoints.add(ep1);
    endpoints.add(ep2);
    await engine.idle();
    const withEps = await kernelTable(node);
    expect(withEps).not.toBe(before);
    expect(withEps).toContain(String(0x0a630028)); // 10.99.0.40 as a number
    expect(withEps).toBe(await freshLoad(A, engine, scratch, dir));
    expect(engine.cluster().pods.find((p) => p.name === 'db')!.ips).toEqual(['10.99.0.41']);
    endpoints.remove(ep1);
    endpoints.remove(ep2);
    await engine.idle();
    expect(await kernelTable(node)).toBe(before);
    expect((engine.status() as any).applies.full).toBe(1);
  });

  it('restarts: adopts a kernel that holds the last good, reloads one that does not', async () => {
    const e1 = await start();
    await e1.pushClusterState(clusterState());
    await e1.loadArtifact(A, 'test');
    await e1.pushClusterState(relabel('web1', { role: 'api' }));
    const expected = await kernelTable(node);
    await e1.close();

    // 1. nothing changed: kept as is (counters survive)
    logs.length = 0;
    const e2 = await start();
    expect(logs.some((l) => l.includes('already holds the last good'))).toBe(true);
    expect(ready.at(-1)).toBe(true);
    expect(await kernelTable(node)).toBe(expected);
    await e2.close();

    // 2. another ruleset in the kernel (B): reloaded to the last good
    await freshLoad(B, undefined, node, dir);
    logs.length = 0;
    const e3 = await start();
    expect(logs.some((l) => l.includes('loaded rules differ'))).toBe(true);
    expect(await kernelTable(node)).toBe(expected);
    await e3.close();

    // 3. an element missing: reloaded
    await run('nsenter', [`--net=/run/netns/${node}`, 'nft', 'delete', 'element', 'inet', 'policyc', 'dst_identity_v4', `{ ${POD_IPS.db} }`]);
    logs.length = 0;
    const e4 = await start();
    expect(logs.some((l) => l.includes('loaded elements differ'))).toBe(true);
    expect(await kernelTable(node)).toBe(expected);
    await e4.close();

    // 4. the table gone (node reboot): reloaded, ready without any push
    await run('nsenter', [`--net=/run/netns/${node}`, 'nft', 'delete', 'table', 'inet', 'policyc']);
    ready.length = 0;
    const e5 = await start();
    expect(ready).toEqual([false, true]);
    expect(await kernelTable(node)).toBe(expected);
  });

  it('takes artifacts from a directory when manifest.json changes, and refuses a corrupt one there', async () => {
    const art = join(dir, 'artifacts');
    const toMap = (f: Record<string, string>) => ({ files: new Map(Object.entries(f)), manifest: JSON.parse(f['manifest.json']) });
    writeArtifact(art, toMap(A));
    const engine = await start({ artifactsDir: art, dirPollMs: 100 });
    expect((engine.status() as any).artifact?.hash).toBe(JSON.parse(A['manifest.json']).contentHash);
    writeArtifact(art, toMap(B));
    await waitFor(() => (engine.status() as any).artifact?.hash === JSON.parse(B['manifest.json']).contentHash);
    const good = await kernelTable(node);
    // a corrupt program.json under a new manifest (written manifest last, as the CLI does)
    writeArtifact(art, toMap({ ...resealed(A, 'rules.json', A['rules.json'].replace('[', '[ ')), 'program.json': '{"truncated":' }));
    await waitFor(() => logs.some((l) => l.includes('refused artifact from dir')));
    expect(await kernelTable(node)).toBe(good);
    await engine.close();
    // a restart does not re-take what it already saw in the directory
    logs.length = 0;
    await start({ artifactsDir: art });
    expect(logs.filter((l) => l.includes('refused artifact from dir'))).toHaveLength(1);
  });

  it('metrics parse and report counts', async () => {
    const engine = await start();
    await engine.pushClusterState(clusterState());
    await engine.loadArtifact(A, 'test');
    await engine.pushClusterState(relabel('api2', { role: 'web' }));
    const text = await engine.metrics();
    const samples = parseMetrics(text);
    const get = (name: string, labels: Record<string, string> = {}) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(get('policyc_policies')).toBe(2);
    expect(get('policyc_groups')).toBeGreaterThan(0);
    expect(get('policyc_set_elements')).toBe((engine.status() as any).counts.setElements);
    expect(get('policyc_apply_duration_seconds_count', { kind: 'full' })).toBe(1);
    expect(get('policyc_apply_duration_seconds_count', { kind: 'diff' })).toBe(1);
    expect(get('policyc_drops_total', { rule_id: 'anp/no-web-to-db/ingress/0' })).toBe(0);
    expect(get('policyc_allows_total', { rule_id: 'np/x/db-from-api/ingress/0' })).toBe(0);
    expect(get('policyc_ready')).toBe(1);
    // the libnftables helper (the default when built) started once
    if (helperPath) expect(get('policyc_helper_starts_total', { helper: 'nft' })).toBe(1);
  });

  it('counts real packets per rule id: the ANP deny drops web -> db, the NetworkPolicy allows api -> db', async () => {
    const net = await createPodNetwork([
      { key: 'db', ip: POD_IPS.db },
      { key: 'api1', ip: POD_IPS.api1 },
      { key: 'web1', ip: POD_IPS.web1 },
    ]);
    let servers: Awaited<ReturnType<typeof startServers>> = [];
    try {
      servers = await startServers(net, [80]);
      const engine = await start({ netns: net.node });
      await engine.pushClusterState(clusterState());
      await engine.loadArtifact(A, 'test');
      const target = [[POD_IPS.db, 80, 'TCP']] as const;
      for (let i = 0; i < 3; i++) {
        expect(await probeFrom(net, 'web1', target, 300)).toEqual([false]);
        expect(await probeFrom(net, 'api1', target)).toEqual([true]);
      }
      const samples = parseMetrics(await engine.metrics());
      const value = (name: string, rule: string) => samples.find((s) => s.name === name && s.labels.rule_id === rule)?.value ?? -1;
      // one SYN per attempt plus retransmissions within the probe timeout
      expect(value('policyc_drops_total', 'anp/no-web-to-db/ingress/0')).toBeGreaterThanOrEqual(3);
      expect(value('policyc_allows_total', 'np/x/db-from-api/ingress/0')).toBe(3);
    } finally {
      stopServers(servers);
      await net.destroy();
    }
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}
