// Pods that appear, vanish or change addresses take the engine's one-pod path (incremental.ts
// updatePods carving or freeing their addresses), not the full computation: after each change the
// engine's report says so (a diff with the address reason, no fallback), and its kernel table
// equals a fresh full load of the same cluster in a second netns. Cluster-wide and node-local
// (a pod of this node brings or takes away a subject identity). Netns named pcaddr-<random>,
// removed in afterAll also on failure; nothing runs in the root namespace.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeMembership } from '../../compiler/emit/membership.js';
import { guardSuite } from '../../testkit/requirements.js';
import { addNetns, deleteNetns } from '../nft/loader.js';
import { fullReplaceDocument } from './apply.js';
import { parseArtifact } from './artifact.js';
import { PolicyEngine } from './engine.js';
import { clusterState, POLICIES_A } from './fixtures.js';
import { NftRunner, netnsTarget } from './nft-exec.js';
import { compileArtifact, ensureNftHelper, kernelTable, netnsName, pod, policyKernel } from './testing.js';

const kernel = guardSuite('pods coming, going and changing addresses take the one-pod path, in throwaway netns', await policyKernel());
const helperPath = kernel.ok ? await ensureNftHelper() : undefined;

/** A pod on `node` (the fixtures' pods run on node-1). */
function podOn(node: string, name: string, labels: Record<string, string>, ip: string) {
  const p = pod('x', name, labels, ip);
  return { ...p, spec: { ...p.spec, nodeName: node } };
}

describe.skipIf(kernel.skip)(kernel.title, () => {
  const files = compileArtifact(POLICIES_A);
  let dir: string;
  const spaces: string[] = [];
  let reference: NftRunner;
  let referenceNs: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcaddr-'));
    referenceNs = netnsName('pcaddr');
    spaces.push(referenceNs);
    await addNetns(referenceNs);
    reference = new NftRunner(netnsTarget(referenceNs), join(dir, 'reference'), { helper: helperPath });
  });
  afterAll(async () => {
    await reference?.close();
    for (const ns of spaces) await deleteNetns(ns);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The engine's table against a fresh full load of its own cluster (and scope) in the reference netns. */
  async function expectFresh(engine: PolicyEngine, ns: string, nodeName?: string): Promise<void> {
    const a = parseArtifact(files);
    if (!a.ok) throw new Error(a.reason);
    const localPods = nodeName ? new Set(engine.cluster().pods.filter((p) => p.node === nodeName).map((p) => `${p.namespace}/${p.name}`)) : undefined;
    const fresh = computeMembership(a.artifact.program, engine.cluster(), undefined, localPods ? { localPods } : {});
    expect((await reference.apply(JSON.stringify(fullReplaceDocument(a.artifact, fresh)))).stderr).toBe('');
    expect(await kernelTable(ns)).toBe(await kernelTable(referenceNs));
  }

  for (const nodeName of [undefined, 'node-1']) {
    it(`${nodeName ? 'node-local' : 'cluster-wide'}: a new pod, a pod into a new identity, a pod of another node, an address change and deletes are diffs`, async () => {
      const ns = netnsName('pcaddr');
      spaces.push(ns);
      await addNetns(ns);
      const engine = await PolicyEngine.start({ stateDir: join(dir, `engine-${nodeName ?? 'cluster'}`), netns: ns, setReady: () => undefined, log: () => undefined, reconcileDelayMs: 0, persistDelayMs: 0, nftHelper: helperPath, nodeName });
      try {
        await engine.pushClusterState(clusterState());
        await engine.loadArtifact(files, 'test');
        const steps: Array<[string, unknown]> = [
          ['a new api pod (an existing identity)', { upsert: [podOn('node-1', 'api3', { role: 'api' }, '10.99.0.16')] }],
          ['a new pod into a new identity, on this node', { upsert: [podOn('node-1', 'cache', { app: 'cache' }, '10.99.0.17')] }],
          ['a new db pod on another node', { upsert: [podOn('node-2', 'db2', { app: 'db' }, '10.99.0.18')] }],
          ['the api pod moves to another address', { upsert: [podOn('node-1', 'api3', { role: 'api' }, '10.99.0.19')] }],
          ['the new-identity pod is deleted (its identity vanishes)', { delete: [{ kind: 'Pod', namespace: 'x', name: 'cache' }] }],
          ['the other node db pod is deleted', { delete: [{ kind: 'Pod', namespace: 'x', name: 'db2' }] }],
        ];
        for (const [what, body] of steps) {
          const r = await engine.pushClusterState(body);
          expect(r.kind, what).toBe('diff');
          // the one-pod path's reason for an address change (a full computation says nothing of carving)
          expect(r.fallback ?? '', what).toMatch(/carved out of the world/);
          await expectFresh(engine, ns, nodeName);
        }
      } finally {
        await engine.close();
      }
    });
  }
});
