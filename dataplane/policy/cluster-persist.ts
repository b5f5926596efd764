// When and where the engine's cluster state is persisted (<state>/policy/cluster-state.json,
// persist.ts). Serializing every pod took 25-35 ms of the event loop at 20k pods (more at 50k),
// and a one-pod change arriving meanwhile waited for it; the JSON text (megabytes) and the
// arrays behind it were young-generation garbage on the main isolate as well.
//
// - Where: the reconcile worker thread holds a replica of the state that follows every change
//   the engine applies (state-replica.ts), so it writes the file itself (reconcile-worker.ts
//   persist()): the event loop posts one small message (plus the identity numbers when they
//   changed). Without a usable replica (reconcileInWorker false or persistInWorker false, before
//   the first full replace, after the thread died or fell out of step, a failed write in the
//   thread) the file is written here, on the event loop, as before: correctness never depends
//   on the thread.
// - When: incremental changes are debounced (soon(): delayMs after the first unwritten change),
//   a whole-state push and a full replace are written at once (now()).
// - One write at a time: a persist asked while one is in flight runs after it, with the state of
//   that moment. So a write of an older state (the thread's, answered late) never lands after a
//   newer one. Each write replaces the file atomically (write temp + rename): a kill -9 at any
//   moment leaves the previous or the new file.
// - flush() (engine close): waits for the write in flight and writes what is still pending on
//   the event loop (the thread is about to be stopped; close is not latency-sensitive).
import type { ClusterState } from './cluster-state.js';
import { type PersistedCluster, type PolicyStore } from './persist.js';
import type { ReconcileWorker } from './reconcile-worker.js';

export interface ClusterPersistOptions {
  store: PolicyStore;
  /** debounce of soon() */
  delayMs: number;
  /** the state to persist and the identity numbers in use now */
  current(): { state: ClusterState; assignment: ReadonlyMap<string, number> };
  /** the thread that can write from its replica; undefined = always on the event loop */
  worker?: ReconcileWorker;
  log(msg: string): void;
}

export interface PersistStats {
  /** files written by the worker thread / on the event loop */
  writes: { worker: number; eventLoop: number };
  /** the last write: where, its state generation, the thread's serialize + write time or the event loop's */
  last: { where: 'worker' | 'event-loop'; generation: number; ms: number; bytes: number; at: Date } | null;
  lastError: string | null;
}

export class ClusterPersister {
  private timer?: NodeJS.Timeout;
  private writing?: Promise<void>;
  /** a persist was asked while one was in flight: run it after */
  private again = false;
  private readonly stats: PersistStats = { writes: { worker: 0, eventLoop: 0 }, last: null, lastError: null };
  /** the reason the worker could not write last, logged once until it writes again */
  private workerProblem?: string;

  constructor(private readonly o: ClusterPersistOptions) {}

  /** Persist after the debounce (incremental changes). */
  soon(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.now(), this.o.delayMs);
  }

  /** Persist now (or right after the write in flight). */
  now(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing) {
      this.again = true;
      return;
    }
    this.writing = this.write()
      .catch((err: Error) => {
        this.stats.lastError = err.message;
        this.o.log(`persist cluster state: ${err.message}`);
      })
      .finally(() => {
        this.writing = undefined;
        if (this.again) {
          this.again = false;
          this.now();
        }
      });
  }

  /** Waits for the write in flight, then writes anything pending on the event loop. */
  async flush(): Promise<void> {
    const pending = this.timer !== undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    let again = pending;
    while (this.writing) {
      again ||= this.again;
      this.again = false;
      await this.writing;
    }
    if (!again) return;
    try {
      this.writeHere();
    } catch (err) {
      this.stats.lastError = (err as Error).message;
      this.o.log(`persist cluster state: ${(err as Error).message}`);
    }
  }

  status(): Record<string, unknown> {
    const s = this.stats;
    return { writes: { ...s.writes }, last: s.last ? { ...s.last, at: s.last.at.toISOString() } : null, lastError: s.lastError };
  }

  private async write(): Promise<void> {
    const { state, assignment } = this.o.current();
    if (!state.pushed) return;
    const worker = this.o.worker;
    if (worker?.canPersist()) {
      const generation = state.generation;
      const r = await worker.persist(this.o.store.dir, generation, assignment);
      if (r.ok) {
        if (this.workerProblem) this.o.log('persist: the reconcile worker writes the cluster state again');
        this.workerProblem = undefined;
        this.stats.writes.worker++;
        this.stats.last = { where: 'worker', generation, ms: r.writeMs, bytes: r.bytes, at: new Date() };
        this.stats.lastError = null;
        return;
      }
      if (this.workerProblem === undefined) this.o.log(`persist: the reconcile worker could not write the cluster state (${r.reason}); writing it on the event loop`);
      this.workerProblem = r.reason;
    }
    this.writeHere();
  }

  /** The state as it is now, serialized and written on the event loop. */
  private writeHere(): void {
    const { state, assignment } = this.o.current();
    if (!state.pushed) return;
    const t0 = performance.now();
    const value: PersistedCluster = { formatVersion: 1, state: state.persisted(), assignment: [...assignment] };
    const bytes = this.o.store.writeClusterSync(value);
    this.stats.writes.eventLoop++;
    this.stats.last = { where: 'event-loop', generation: state.generation, ms: performance.now() - t0, bytes, at: new Date() };
    this.stats.lastError = null;
  }
}
