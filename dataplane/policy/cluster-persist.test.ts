// The persisted cluster state without a kernel: the reconcile worker thread writes, from its
// replica, exactly the file the event loop writes (the same format as before: byte for byte),
// sends the identity numbers only when they change, refuses a generation it does not hold;
// ClusterPersister writes one file at a time (a late answer never overwrites a newer state),
// falls back to the event loop when the thread is gone (logged once), and flush() writes what is
// pending; a file of an unknown format is ignored with a reason.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { computeMembership } from '../../compiler/emit/membership.js';
import { generateCluster } from '../../bench/generate-cluster.js';
import { kubeList, toKubectlYaml } from '../../bench/kube-yaml.js';
import { parseArtifact, type LoadedArtifact } from './artifact.js';
import { ClusterState } from './cluster-state.js';
import { ClusterPersister } from './cluster-persist.js';
import { CLUSTER_FILE, PolicyStore, type PersistedCluster } from './persist.js';
import { ReconcileWorker, type PersistAnswer } from './reconcile-worker.js';
import { compileArtifact } from './testing.js';

type Obj = Record<string, any>;

const g = generateCluster({ pods: 300, policies: 30, seed: 11 });
const parsed = parseArtifact(compileArtifact(toKubectlYaml(kubeList([...g.networkPolicies, ...g.adminPolicies, g.baselinePolicy]))));
if (!parsed.ok) throw new Error(parsed.reason);
const artifact: LoadedArtifact = parsed.artifact;

/** What the event loop writes for (state, assignment): the format the engine always wrote. */
function eventLoopText(state: ClusterState, assignment: ReadonlyMap<string, number>): string {
  return JSON.stringify({ formatVersion: 1, state: state.persisted(), assignment: [...assignment] } satisfies PersistedCluster);
}

function relabelBody(i: number, extra: Record<string, string>): unknown {
  const pod = (g.pods as Obj[])[i];
  return { upsert: [{ ...pod, metadata: { ...pod.metadata, labels: { ...pod.metadata.labels, ...extra } } }] };
}

describe('persisting the cluster state', () => {
  let dir: string;
  let store: PolicyStore;
  const workers: ReconcileWorker[] = [];
  const logs: string[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pcpol-persist-'));
    store = await PolicyStore.open(dir);
    logs.length = 0;
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function fresh(): { state: ClusterState; worker: ReconcileWorker } {
    const state = new ClusterState();
    state.apply({ namespaces: g.namespaces, pods: g.pods, nodes: g.nodes });
    const worker = new ReconcileWorker({ log: (m) => logs.push(m) });
    workers.push(worker);
    worker.prepare(state, artifact);
    return { state, worker };
  }

  /** Applies a body to the state and forwards it to the worker's replica, as the engine does. */
  function change(state: ClusterState, worker: ReconcileWorker, body: unknown): void {
    state.apply(body);
    worker.changed({ kind: 'apply', body, generation: state.generation });
  }

  const fileText = () => readFileSync(join(store.dir, CLUSTER_FILE), 'utf8');

  it('the worker writes, from its replica, the very file the event loop writes; the identity numbers only when they change', async () => {
    const { state, worker } = fresh();
    const assignment = computeMembership(artifact.program, state.cluster()).assignment;
    change(state, worker, relabelBody(3, { tier: 'gold' }));
    state.addEndpoint({ containerId: 'c1', ifname: 'eth0', namespace: 'ns-new', podName: 'p1', ips: ['10.250.0.1/32'] });
    worker.changed({ kind: 'add-endpoint', endpoint: { containerId: 'c1', ifname: 'eth0', namespace: 'ns-new', podName: 'p1', ips: ['10.250.0.1/32'] }, generation: state.generation });
    expect(worker.canPersist()).toBe(true);
    const first = await worker.persist(store.dir, state.generation, assignment);
    expect(first).toMatchObject({ ok: true });
    expect(fileText()).toBe(eventLoopText(state, assignment));
    expect((first as Extract<PersistAnswer, { ok: true }>).bytes).toBe(fileText().length);

    // same assignment object: not resent, the thread keeps the one it has
    change(state, worker, { delete: [{ kind: 'Pod', namespace: (g.pods as Obj[])[5].metadata.namespace, name: (g.pods as Obj[])[5].metadata.name }] });
    expect(await worker.persist(store.dir, state.generation, assignment)).toMatchObject({ ok: true });
    expect(fileText()).toBe(eventLoopText(state, assignment));

    // another assignment object: sent
    const renumbered = new Map([...assignment].map(([k, v]) => [k, v + 1]));
    change(state, worker, relabelBody(7, { tier: 'silver' }));
    expect(await worker.persist(store.dir, state.generation, renumbered)).toMatchObject({ ok: true });
    expect(fileText()).toBe(eventLoopText(state, renumbered));

    // and it reads back as the state it was
    const read = store.readCluster();
    expect(read.error).toBeUndefined();
    expect(ClusterState.restore(read.value!.state).persisted()).toEqual(state.persisted());
    expect(new Map(read.value!.assignment)).toEqual(renumbered);
  });

  it('a generation the replica does not hold is refused, the file untouched, and the replica is resent before the next persist', async () => {
    const { state, worker } = fresh();
    const assignment = computeMembership(artifact.program, state.cluster()).assignment;
    expect(await worker.persist(store.dir, state.generation, assignment)).toMatchObject({ ok: true });
    const before = fileText();
    state.apply(relabelBody(1, { lost: 'change' })); // not forwarded: the replica is behind
    const r = await worker.persist(store.dir, state.generation, assignment);
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/generation/) });
    expect(fileText()).toBe(before);
    expect(worker.canPersist()).toBe(false);
    worker.prepare(state, artifact); // as the next check or full replace does
    expect(worker.canPersist()).toBe(true);
    expect(await worker.persist(store.dir, state.generation, assignment)).toMatchObject({ ok: true });
    expect(fileText()).toBe(eventLoopText(state, assignment));
  });

  it('ClusterPersister: in the worker while it can, on the event loop once it is gone (logged once), and flush() writes what is pending', async () => {
    const { state, worker } = fresh();
    const assignment = computeMembership(artifact.program, state.cluster()).assignment;
    const p = new ClusterPersister({ store, delayMs: 20, current: () => ({ state, assignment }), worker, log: (m) => logs.push(m) });
    change(state, worker, relabelBody(2, { a: '1' }));
    p.soon();
    await p.flush();
    // flush() of a pending debounce writes on the event loop (the thread is about to stop)
    expect(p.status()).toMatchObject({ writes: { worker: 0, eventLoop: 1 } });
    expect(fileText()).toBe(eventLoopText(state, assignment));

    change(state, worker, relabelBody(2, { a: '2' }));
    p.soon();
    await new Promise((r) => setTimeout(r, 60));
    await p.flush();
    expect(p.status()).toMatchObject({ writes: { worker: 1, eventLoop: 1 }, last: { where: 'worker', generation: state.generation } });
    expect(fileText()).toBe(eventLoopText(state, assignment));

    await worker.kill();
    for (const v of ['3', '4']) {
      change(state, worker, relabelBody(2, { a: v }));
      p.now();
      await p.flush();
    }
    expect(p.status()).toMatchObject({ writes: { worker: 1, eventLoop: 3 }, last: { where: 'event-loop' }, lastError: null });
    expect(fileText()).toBe(eventLoopText(state, assignment));
    expect(logs.filter((l) => l.includes('writing it on the event loop'))).toHaveLength(0); // canPersist() was false: no attempt, nothing to log
  });

  it('ClusterPersister: one write at a time; a late answer never lands after a newer state, and a failed worker write falls back (logged once)', async () => {
    const state = new ClusterState();
    state.apply({ namespaces: g.namespaces, pods: g.pods, nodes: g.nodes });
    const assignment = new Map<string, number>();
    let inFlight = 0;
    let maxInFlight = 0;
    let fail = false;
    // a worker whose answers come late and write the state of the generation it was asked for
    const slow = {
      canPersist: () => true,
      async persist(d: string, generation: number): Promise<PersistAnswer> {
        const text = JSON.stringify({ formatVersion: 1, state: { namespaces: [], pods: [], nodes: [] }, assignment: [['generation', generation]] });
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 30));
        inFlight--;
        if (fail) return { ok: false, reason: 'disk full' };
        writeFileSync(join(d, CLUSTER_FILE), text);
        return { ok: true, writeMs: 1, bytes: text.length };
      },
    } as unknown as ReconcileWorker;
    const p = new ClusterPersister({ store, delayMs: 5, current: () => ({ state, assignment }), worker: slow, log: (m) => logs.push(m) });
    for (let i = 0; i < 5; i++) {
      state.apply(relabelBody(4, { n: String(i) }));
      p.now();
      await new Promise((r) => setTimeout(r, 10));
    }
    // the write in flight, then one more with the state of then (not one per now())
    await new Promise((r) => setTimeout(r, 150));
    expect(maxInFlight).toBe(1);
    const written = JSON.parse(fileText()) as PersistedCluster;
    expect(written.assignment).toEqual([['generation', state.generation]]);
    expect(p.status()).toMatchObject({ writes: { eventLoop: 0 } });

    fail = true;
    for (let i = 0; i < 2; i++) {
      state.apply(relabelBody(4, { m: String(i) }));
      p.now();
      await p.flush();
    }
    expect(fileText()).toBe(eventLoopText(state, assignment));
    expect(logs.filter((l) => l.includes('could not write the cluster state (disk full); writing it on the event loop'))).toHaveLength(1);
  });

  it('a persisted file of an unknown format is ignored with its reason', async () => {
    writeFileSync(join(store.dir, CLUSTER_FILE), JSON.stringify({ formatVersion: 2, journal: [] }));
    expect(store.readCluster()).toEqual({ error: `${CLUSTER_FILE}: unknown format` });
    writeFileSync(join(store.dir, CLUSTER_FILE), '{"formatVersion":1,"state":{"namesp');
    expect(store.readCluster().error).toMatch(/is not JSON/);
  });
});
