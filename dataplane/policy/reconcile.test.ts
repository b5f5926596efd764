// The engine's reconcile with its worker thread, against the real kernel, only inside network
// namespaces these tests create (pcpol-rec-<random>, removed afterwards also on failure): a model
// that agrees with a fresh computation is checked off the event loop and nothing is sent; a
// corrupted model (one element changed) is found and corrected (the kernel ends equal to a fresh
// load); a dead worker falls back to the in-thread reconcile and the next reconcile starts
// another; close() ends the thread. The worker also writes the persisted cluster state from its
// replica: a restart adopts the kernel with it, and a file of an unknown format is ignored.
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { computeMembership, type Membership } from '../../compiler/emit/membership.js';
import { addNetns, deleteNetns } from '../nft/loader.js';
import { fullReplaceDocument } from './apply.js';
import { parseArtifact } from './artifact.js';
import { ClusterState } from './cluster-state.js';
import { PolicyEngine, type EngineOptions } from './engine.js';
import { clusterState, POLICIES_A, relabel } from './fixtures.js';
import { NftRunner, netnsTarget } from './nft-exec.js';
import type { ReconcileWorker } from './reconcile-worker.js';
import { guardSuite } from '../../testkit/requirements.js';
import { compileArtifact, kernelTable, netnsName, policyKernel } from './testing.js';

const kernel = guardSuite('the reconcile worker with the engine, in a throwaway netns', await policyKernel());
const A = compileArtifact(POLICIES_A);

/** The engine's internals these tests reach into: the model to corrupt, the worker to kill. */
interface Internals {
  model: { membership: Membership };
  reconciler: ReconcileWorker;
}

describe.skipIf(kernel.skip)(kernel.title, () => {
  let dir: string;
  let node: string;
  let scratch: string;
  let engine: PolicyEngine | undefined;
  let logs: string[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcpol-rec-'));
    node = netnsName('pcpol-rec');
    scratch = netnsName('pcpol-rec');
    await addNetns(node);
    await addNetns(scratch);
    logs = [];
  });
  afterEach(async () => {
    await engine?.close().catch(() => undefined);
    engine = undefined;
    await deleteNetns(node);
    await deleteNetns(scratch);
    await rm(dir, { recursive: true, force: true });
  });

  async function start(extra: Partial<EngineOptions> = {}): Promise<PolicyEngine> {
    engine = await PolicyEngine.start({ stateDir: join(dir, 'state'), netns: node, setReady: () => {}, log: (m) => logs.push(m), reconcileDelayMs: 0, persistDelayMs: 0, ...extra });
    await engine.pushClusterState(clusterState());
    await engine.loadArtifact(A, 'test');
    // a one-pod change: the model is a derived membership, as when a reconcile runs
    await engine.pushClusterState(relabel('api2', { role: 'web' }));
    return engine;
  }

  async function freshLoad(e: PolicyEngine): Promise<string> {
    const parsed = parseArtifact(A);
    if (!parsed.ok) throw new Error(parsed.reason);
    const runner = new NftRunner(netnsTarget(scratch), join(dir, 'fresh-batches'));
    const r = await runner.apply(JSON.stringify(fullReplaceDocument(parsed.artifact, computeMembership(parsed.artifact.program, e.cluster()))));
    if (!r.ok) throw new Error(r.stderr);
    await runner.close();
    return kernelTable(scratch);
  }

  /** Until the persisted file holds the engine's current generation (a thread's first answer waits for its start: modules, artifact). */
  async function persistedAll(e: PolicyEngine): Promise<void> {
    const done = () => (e.status() as any).persist.last?.generation === (e.status() as any).cluster.generation;
    for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 50));
  }

  const internals = (e: PolicyEngine) => e as unknown as Internals;
  const lastReconcile = (e: PolicyEngine) => (e.status() as any).lastReconcile as { where: string; blockedMs: number; durationMs: number };

  it('checks an agreeing model in the worker and sends nothing', async () => {
    const e = await start();
    const before = await kernelTable(node);
    expect((await e.reconcile()).kind).toBe('none');
    expect(lastReconcile(e).where).toBe('worker');
    expect((e.status() as any).reconcileWorker).toMatchObject({ running: true, starts: 1 });
    expect(await kernelTable(node)).toBe(before);
    expect(logs.filter((l) => l.includes('reconcile'))).toEqual([]);
  });

  it('runs one check at a time: calls meanwhile share the next one', async () => {
    const e = await start();
    const reports = await Promise.all([e.reconcile(), e.reconcile(), e.reconcile(), e.reconcile()]);
    expect(reports.map((r) => r.kind)).toEqual(['none', 'none', 'none', 'none']);
    // the three calls made during the first share one check: the same report object
    expect(new Set(reports.slice(1)).size).toBe(1);
    expect(reports[1]).not.toBe(reports[0]);
    expect(lastReconcile(e).where).toBe('worker');
  });

  it('finds a model with one element changed and corrects it: the kernel equals a fresh load', async () => {
    const e = await start();
    const m = internals(e).model.membership;
    // db's address now says api's identity (both exist): one identity element differs
    const db = m.identityElements.find((x) => x.pod === 'x/db')!;
    const api = m.identityElements.find((x) => x.pod === 'x/api1')!;
    expect(db.identity).not.toBe(api.identity);
    internals(e).model.membership = { ...m, identityElements: m.identityElements.map((x) => (x === db ? { ...x, identity: api.identity } : x)) };
    const r = await e.reconcile();
    expect(r.kind).not.toBe('none');
    expect(logs.some((l) => /reconcile: the worker's full computation differs \(identity: element/.test(l))).toBe(true);
    expect(logs.some((l) => /reconcile: \d+ elements differed from a full computation; correcting/.test(l))).toBe(true);
    expect(lastReconcile(e).where).toBe('in-thread');
    expect(await kernelTable(node)).toBe(await freshLoad(e));
    // corrected: the next one agrees in the worker
    expect((await e.reconcile()).kind).toBe('none');
    expect(lastReconcile(e).where).toBe('worker');
  });

  it('falls back to the in-thread reconcile when the worker dies, and starts another at the next one; close() ends it', async () => {
    const e = await start();
    expect((await e.reconcile()).kind).toBe('none');
    const worker = internals(e).reconciler;
    await worker.kill();
    expect(logs.some((l) => /reconcile worker exited/.test(l))).toBe(true);
    // a change after the death: the new thread must get the whole state, not the changes it missed
    await e.pushClusterState(relabel('api2', { role: 'api' }));
    expect((await e.reconcile()).kind).toBe('none');
    expect(lastReconcile(e).where).toBe('worker');
    expect(worker.status()).toMatchObject({ running: true, starts: 2 });
    // dead in the middle of a check (terminating as the check is posted): the in-thread reconcile answers
    const pending = e.reconcile();
    const killed = worker.kill();
    expect((await pending).kind).toBe('none');
    await killed;
    expect(lastReconcile(e).where).toBe('in-thread');
    expect(logs.some((l) => /worker unavailable \(the reconcile worker exited/.test(l))).toBe(true);
    expect(await kernelTable(node)).toBe(await freshLoad(e));
    await e.close();
    engine = undefined;
    expect(worker.status().running).toBe(false);
  });

  it('the worker writes the persisted cluster state; a restart adopts the kernel with it; a file of an unknown format is ignored with a log line', async () => {
    // a quiet period that never ends here: the full replace prepares the worker, and persists through it
    const e = await start({ reconcileDelayMs: 600_000, persistDelayMs: 10 });
    for (const role of ['web', 'api', 'web']) await e.pushClusterState(relabel('api2', { role }));
    await e.pushClusterState(relabel('web1', { role: 'web', note: 'read by no selector' }));
    await e.idle();
    await persistedAll(e);
    const status = e.status() as any;
    // the one written on the event loop: the first whole push, before any artifact started the worker
    expect(status.persist).toMatchObject({ writes: { eventLoop: 1 }, last: { where: 'worker', generation: status.cluster.generation }, lastError: null });
    expect(status.persist.writes.worker).toBeGreaterThanOrEqual(2);
    const file = join(dir, 'state', 'policy', 'cluster-state.json');
    const written = JSON.parse(readFileSync(file, 'utf8'));
    expect(written.formatVersion).toBe(1);
    expect(new Map(written.assignment)).toEqual(new Map(internals(e).model.membership.assignment));
    expect(ClusterState.restore(written.state).cluster()).toEqual(e.cluster());
    const expected = await kernelTable(node);
    await e.close();
    engine = undefined;

    const restart = async () => {
      logs.length = 0;
      engine = await PolicyEngine.start({ stateDir: join(dir, 'state'), netns: node, setReady: () => {}, log: (m) => logs.push(m), reconcileDelayMs: 600_000, persistDelayMs: 0 });
      return engine;
    };
    const again = await restart();
    expect(logs.some((l) => l.includes('already holds the last good'))).toBe(true);
    expect(again.cluster()).toEqual(ClusterState.restore(written.state).cluster());
    expect(await kernelTable(node)).toBe(expected);
    // the adopting start prepared the worker: the first change's persist is the worker's already
    await again.pushClusterState(relabel('web1', { role: 'web', note: 'after the restart' }));
    await persistedAll(again);
    await again.close();
    expect((again.status() as any).persist).toMatchObject({ writes: { worker: 1, eventLoop: 0 } });
    engine = undefined;

    writeFileSync(file, JSON.stringify({ formatVersion: 2, journal: [] }));
    const third = await restart();
    expect(logs).toContain('policy: ignoring persisted cluster state: cluster-state.json: unknown format');
    expect(third.status()).toMatchObject({ ready: true, cluster: { pushed: false } });
  });

  it('reconcileInWorker false: the reconcile runs in-thread and no thread starts', async () => {
    const e = await start({ reconcileInWorker: false });
    expect((await e.reconcile()).kind).toBe('none');
    expect(lastReconcile(e).where).toBe('in-thread');
    expect((e.status() as any).reconcileWorker).toBeNull();
    // and the cluster state is written on the event loop
    expect((e.status() as any).persist).toMatchObject({ writes: { worker: 0 }, last: { where: 'event-loop' } });
  });
});
