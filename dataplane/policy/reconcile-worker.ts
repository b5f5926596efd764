// The engine's side of the reconcile worker: one long-lived thread (reconcile-thread.ts) that
// runs the reconcile's full computation off the event loop. A full computeMembership holds the
// event loop for 28-78 ms at 5k pods and ~1.5 s at 20k pods / 4k policies cluster-wide (~670 ms
// node-local at 50k / 10k); a one-pod change or a CNI ADD arriving then waited for all of it.
//
// - The thread keeps its own inputs: the artifact (its files, sent once per artifact: it parses
//   them itself) and a replica of the cluster state (state-replica.ts), sent whole when the
//   thread starts and after a whole-state push, else kept current by forwarding each change the
//   engine applies (changed()), tagged with the engine's generation.
// - check() asks for generation G (the engine's current one, with the model at G): the thread
//   computes the membership with the model's own numbering and returns its kernel elements as
//   words (canonical-elements.ts); here they are compared exactly with the model's membership at
//   G (kept by reference: memberships never change in place), in slices that yield to the event
//   loop. 'same' = nothing to do; anything else is the engine's cue to run today's in-thread
//   reconcile, so correctness never depends on the thread.
// - persist() has the thread write the persisted cluster state from its replica (the engine's
//   cluster-persist.ts decides when): only the identity numbers are sent, and only when they
//   changed (a one-pod move between existing identities keeps the same assignment object).
// - A thread that dies, errs or does not answer within timeoutMs is logged, its checks and
//   persists answered 'unavailable', and a new one is started by the next check. close()
//   terminates it.
import type { Worker } from 'node:worker_threads';
import type { Membership } from '../../compiler/emit/membership.js';
import type { LoadedArtifact } from './artifact.js';
import { compareElements, type SliceStats } from './canonical-elements.js';
import type { ClusterState } from './cluster-state.js';
import { numberingOf } from './fresh-membership.js';
import type { FromThread, ToThread } from './reconcile-protocol.js';
import { snapshotOf, type StateChange } from './state-replica.js';
import { siblingModule, startThread } from './start-thread.js';

export interface ReconcileWorkerOptions {
  /** the engine's node name: the thread computes the same node-local scope from its replica */
  nodeName?: string;
  log(msg: string): void;
  /** a check not answered within this is given up and the thread restarted. Default 300 s. */
  timeoutMs?: number;
}

export type PersistAnswer = { ok: true; writeMs: number; bytes: number } | { ok: false; reason: string };

export type CheckVerdict =
  | { kind: 'same'; computeMs: number }
  | { kind: 'different'; reason: string; computeMs: number }
  | { kind: 'unavailable'; reason: string };

export interface CheckReport {
  verdict: CheckVerdict;
  /** main-thread time the check took: posting (numbering, changes not yet sent) + the comparison */
  blockedMs: number;
  /** the longest of those without a yield to the event loop */
  maxSliceMs: number;
}

interface Pending {
  resolve(r: { kind: 'answer'; msg: FromThread } | { kind: 'gone'; reason: string }): void;
  timer: NodeJS.Timeout;
}

function sameLocalPods(model: ReadonlySet<string> | undefined, fresh: readonly string[] | null): boolean {
  if (!model || !fresh) return !model && !fresh;
  return model.size === fresh.length && fresh.every((p) => model.has(p));
}

export class ReconcileWorker {
  private thread?: Worker;
  private starts = 0;
  /** hash of the artifact the current thread holds */
  private sentArtifact?: string;
  /** the current thread's replica was sent and every change since forwarded */
  private replicaCurrent = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  private exited?: Promise<void>;
  /** the identity numbers the current thread holds for persists (compared by reference) */
  private sentAssignment?: ReadonlyMap<string, number>;

  constructor(private readonly o: ReconcileWorkerOptions) {}

  /** The engine applied an incremental change (after it succeeded; `generation` = the state's after it). */
  changed(change: StateChange): void {
    if (!this.thread || !this.replicaCurrent) return;
    try {
      this.post({ type: 'change', change });
    } catch (err) {
      // not cloneable (a body from another source than the socket's JSON): send the whole state next time
      this.o.log(`reconcile worker: cannot forward a ${change.kind} (${(err as Error).message}); the replica is resent at the next reconcile`);
      this.replicaCurrent = false;
    }
  }

  /**
   * The engine's whole state was replaced (a whole-state push): sent now if the thread runs (the
   * push itself computes the whole membership on the event loop, ~1.7 s at 20k pods, so the
   * ~45 ms of this copy cost less here than in the middle of one-pod changes), else at its start.
   */
  replaced(state: ClusterState): void {
    this.replicaCurrent = false;
    if (this.thread) this.sendSnapshot(state);
  }

  status(): { running: boolean; starts: number; threadId: number | null } {
    return { running: this.thread !== undefined, starts: this.starts, threadId: this.thread?.threadId ?? null };
  }

  /**
   * Starts the thread if needed and sends what it lacks (the artifact, the whole state), so that
   * the first check costs only the numbering and the comparison: the copies cost ~50-180 ms of
   * main thread at 20k pods (11 MB of artifact files, the state's objects), better paid during a
   * full replace (seconds at that size) than between one-pod changes.
   */
  prepare(state: ClusterState, artifact: LoadedArtifact): void {
    if (this.closed) return;
    this.ensureThread();
    this.sendInputs(state, artifact);
  }

  /**
   * Whether `membership` (the model's at `state.generation`) equals a fresh computation of that
   * generation. Everything is posted before this returns, so the caller may let the state move
   * on at once.
   */
  async check(state: ClusterState, artifact: LoadedArtifact, membership: Membership): Promise<CheckReport> {
    const t0 = performance.now();
    if (this.closed) return { verdict: { kind: 'unavailable', reason: 'closed' }, blockedMs: 0, maxSliceMs: 0 };
    const thread = this.ensureThread();
    this.sendInputs(state, artifact);
    const id = this.nextId++;
    const answer = this.answerTo(id, thread);
    const lingering = [...(membership.scope?.lingering ?? [])].sort();
    this.post({ type: 'check', id, generation: state.generation, artifactHash: artifact.hash, nodeName: this.o.nodeName, ...(lingering.length > 0 ? { lingering } : {}), numbering: numberingOf(membership) });
    const posted = performance.now() - t0;
    const got = await answer;
    if (got.kind === 'gone') return { verdict: { kind: 'unavailable', reason: got.reason }, blockedMs: posted, maxSliceMs: posted };
    const msg = got.msg;
    if (msg.type === 'unavailable') {
      if (msg.resync) this.replicaCurrent = false;
      return { verdict: { kind: 'unavailable', reason: msg.reason }, blockedMs: posted, maxSliceMs: posted };
    }
    if (msg.type !== 'result') return { verdict: { kind: 'unavailable', reason: `unexpected answer ${msg.type}` }, blockedMs: posted, maxSliceMs: posted };
    if (!sameLocalPods(membership.scope?.localPods, msg.localPods)) {
      return { verdict: { kind: 'different', reason: `the node-local pods differ (${membership.scope?.localPods?.size ?? 'cluster-wide'} here, ${msg.localPods?.length ?? 'cluster-wide'} in the fresh computation)`, computeMs: msg.computeMs }, blockedMs: posted, maxSliceMs: posted };
    }
    // a lingering key the fresh computation drops (its identity vanished, or a local pod has it) is a model that went wrong
    if (msg.lingering.join('\n') !== lingering.join('\n')) {
      return { verdict: { kind: 'different', reason: `the lingering subjects differ (${lingering.length} here, ${msg.lingering.length} in the fresh computation)`, computeMs: msg.computeMs }, blockedMs: posted, maxSliceMs: posted };
    }
    const stats: SliceStats = { busyMs: 0, maxSliceMs: 0 };
    const differ = await compareElements(membership, msg.words, undefined, stats);
    const report = { blockedMs: posted + stats.busyMs, maxSliceMs: Math.max(posted, stats.maxSliceMs) };
    if (differ) return { ...report, verdict: { kind: 'different', reason: `${differ.list}: ${differ.detail}`, computeMs: msg.computeMs } };
    return { ...report, verdict: { kind: 'same', computeMs: msg.computeMs } };
  }

  /** Whether persist() can be asked: the thread runs and its replica follows the engine's state. */
  canPersist(): boolean {
    return !this.closed && this.thread !== undefined && this.replicaCurrent;
  }

  /**
   * Has the thread write <dir>/cluster-state.json from its replica at `generation` (the engine's
   * state generation now: every change up to it was forwarded) with these identity numbers.
   * Only call when canPersist(). Costs the event loop a message, plus the assignment's entries
   * when it is not the object sent last.
   */
  async persist(dir: string, generation: number, assignment: ReadonlyMap<string, number>): Promise<PersistAnswer> {
    const thread = this.thread;
    if (this.closed || !thread || !this.replicaCurrent) return { ok: false, reason: 'the worker has no current replica' };
    const id = this.nextId++;
    const answer = this.answerTo(id, thread);
    const changed = assignment !== this.sentAssignment;
    this.post({ type: 'persist', id, generation, dir, ...(changed ? { assignment: [...assignment] } : {}) });
    this.sentAssignment = assignment;
    const got = await answer;
    if (got.kind === 'gone') return { ok: false, reason: got.reason };
    const msg = got.msg;
    if (msg.type === 'persisted') return { ok: true, writeMs: msg.writeMs, bytes: msg.bytes };
    if (msg.type === 'unavailable') {
      if (msg.resync) this.replicaCurrent = false;
      // the thread may not have kept these numbers (it took them before failing; resend to be sure)
      this.sentAssignment = undefined;
      return { ok: false, reason: msg.reason };
    }
    return { ok: false, reason: `unexpected answer ${msg.type}` };
  }

  /** Terminates the thread (checks in flight are answered 'unavailable'). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.thread) await this.stopThread(this.thread);
    await this.exited;
  }

  /** For tests: ends the thread as a crash would (its 'exit' handling runs as for a real one). */
  async kill(): Promise<void> {
    if (this.thread) await this.thread.terminate();
    await this.exited;
  }

  /** The answer to request `id` (or the thread's end); restarts the thread when it does not come within timeoutMs. */
  private answerTo(id: number, thread: Worker): Promise<{ kind: 'answer'; msg: FromThread } | { kind: 'gone'; reason: string }> {
    return new Promise((resolve) => {
      const timeoutMs = this.o.timeoutMs ?? 300_000;
      const timer = setTimeout(() => {
        this.o.log(`reconcile worker: no answer within ${timeoutMs} ms; stopping it (a new one starts at the next reconcile)`);
        void this.stopThread(thread);
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, timer });
      // an answer awaited keeps the process alive (an idle thread does not: unref'd at its start)
      thread.ref();
    });
  }

  private sendInputs(state: ClusterState, artifact: LoadedArtifact): void {
    if (this.sentArtifact !== artifact.hash) {
      this.post({ type: 'artifact', hash: artifact.hash, files: artifact.files });
      this.sentArtifact = artifact.hash;
    }
    if (!this.replicaCurrent) this.sendSnapshot(state);
  }

  private sendSnapshot(state: ClusterState): void {
    this.post({ type: 'snapshot', snapshot: snapshotOf(state) });
    this.replicaCurrent = true;
  }

  private post(msg: ToThread): void {
    this.thread!.postMessage(msg);
  }

  private ensureThread(): Worker {
    if (this.thread) return this.thread;
    const thread = startThread(siblingModule(import.meta.url, 'reconcile-thread'));
    this.starts++;
    if (this.starts > 1) this.o.log(`reconcile worker: started again (start ${this.starts})`);
    this.thread = thread;
    this.sentArtifact = undefined;
    this.sentAssignment = undefined;
    this.replicaCurrent = false;
    let error: Error | undefined;
    thread.on('message', (msg: FromThread) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (this.pending.size === 0) thread.unref();
      p.resolve({ kind: 'answer', msg });
    });
    thread.on('error', (err) => {
      error = err;
      this.o.log(`reconcile worker: ${err.message}`);
    });
    this.exited = new Promise((resolve) => {
      thread.on('exit', (code) => {
        if (this.thread === thread) this.thread = undefined;
        const reason = `the reconcile worker exited (code ${code}${error ? `: ${error.message}` : ''})`;
        if (!this.closed) this.o.log(`${reason}; a new one starts at the next reconcile`);
        for (const [id, p] of this.pending) {
          clearTimeout(p.timer);
          p.resolve({ kind: 'gone', reason });
          this.pending.delete(id);
        }
        resolve();
      });
    });
    // the engine's timers keep the daemon alive, not this thread
    thread.unref();
    return thread;
  }

  private async stopThread(thread: Worker): Promise<void> {
    if (this.thread === thread) this.thread = undefined;
    await thread.terminate();
  }
}
