// The reconcile worker thread's entry (started by reconcile-worker.ts): holds the artifact's
// program and a replica of the engine's cluster state (state-replica.ts), and answers a check
// with the kernel elements of a fresh computation (fresh-membership.ts), encoded as words
// (canonical-elements.ts) whose buffers are transferred, not copied. It also writes the persisted
// cluster state from that replica (persist.ts), so that serializing every pod (25-35 ms at 20k
// pods) and writing the file never run on the engine's event loop (cluster-persist.ts).
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import type { Program } from '../../compiler/ir/types.js';
import type { ClusterState } from './cluster-state.js';
import { parseArtifact } from './artifact.js';
import { encodeElements, transferList } from './canonical-elements.js';
import { freshMembership } from './fresh-membership.js';
import type { FromThread, ToThread } from './reconcile-protocol.js';
import { replay, ReplicaDesync, stateFromSnapshot } from './state-replica.js';
import { writeClusterFile } from './persist.js';

const port = parentPort;
if (!port) throw new Error('reconcile-thread.ts runs as a worker thread (reconcile-worker.ts)');

/** Linux: this thread's id (/proc/thread-self -> PID/task/TID), to lower its priority alone. */
function threadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

// The reconcile is background work: on a busy node (2 cores: the event loop, this thread, the
// nft helper, the kernel) it should yield the CPU to the one-pod changes it runs beside. Linux
// nice values are per thread; raising ours is always allowed. Elsewhere: left as is.
const tid = threadId();
if (tid !== undefined) {
  try {
    setPriority(tid, 10);
  } catch {
    // not permitted or not supported: the default priority
  }
}

let artifact: { hash: string; program?: Program; refused?: string } | undefined;
let state: ClusterState | undefined;
/** why the replica cannot be used until the next snapshot */
let desync: string | undefined;
/** the identity numbers last sent with a persist (the engine sends them only when they change) */
let assignment: Array<[string, number]> | undefined;

function answer(msg: FromThread): void {
  if (msg.type === 'result') port!.postMessage(msg, transferList(msg.words));
  else port!.postMessage(msg);
}

function check(msg: Extract<ToThread, { type: 'check' }>): FromThread {
  const unavailable = (reason: string, resync = false): FromThread => ({ type: 'unavailable', id: msg.id, reason, resync });
  if (!state || desync) return unavailable(desync ?? 'no cluster state yet', true);
  if (state.generation !== msg.generation) return unavailable(`the replica is at generation ${state.generation}, the check asks for ${msg.generation}`, true);
  if (!artifact || artifact.hash !== msg.artifactHash) return unavailable(`artifact ${msg.artifactHash.slice(0, 12)} was not sent`);
  if (!artifact.program) return unavailable(`artifact ${msg.artifactHash.slice(0, 12)}: ${artifact.refused}`);
  const t0 = performance.now();
  const localPods = state.localPods(msg.nodeName);
  // the model's lingering subjects are part of its scope: the fresh computation keeps the same rows
  const scope = localPods ? { localPods, ...(msg.lingering?.length ? { lingering: new Set(msg.lingering) } : {}) } : {};
  const fresh = freshMembership(artifact.program, state.cluster(), msg.numbering, scope);
  const words = encodeElements(fresh);
  return { type: 'result', id: msg.id, words, localPods: localPods ? [...localPods].sort() : null, lingering: [...(fresh.scope?.lingering ?? [])].sort(), computeMs: performance.now() - t0 };
}

function persist(msg: Extract<ToThread, { type: 'persist' }>): FromThread {
  const unavailable = (reason: string, resync = false): FromThread => ({ type: 'unavailable', id: msg.id, reason, resync });
  if (msg.assignment) assignment = msg.assignment;
  if (!state || desync) return unavailable(desync ?? 'no cluster state yet', true);
  if (state.generation !== msg.generation) return unavailable(`the replica is at generation ${state.generation}, the persist asks for ${msg.generation}`, true);
  if (!assignment) return unavailable('no identity numbers were sent');
  const t0 = performance.now();
  const bytes = writeClusterFile(msg.dir, { formatVersion: 1, state: state.persisted(), assignment });
  return { type: 'persisted', id: msg.id, writeMs: performance.now() - t0, bytes };
}

port.on('message', (msg: ToThread) => {
  switch (msg.type) {
    case 'artifact': {
      const parsed = parseArtifact(msg.files);
      artifact = parsed.ok ? { hash: msg.hash, program: parsed.artifact.program } : { hash: msg.hash, refused: parsed.reason };
      return;
    }
    case 'snapshot':
      state = stateFromSnapshot(msg.snapshot);
      desync = undefined;
      return;
    case 'change':
      if (!state || desync) return;
      try {
        replay(state, msg.change);
      } catch (err) {
        if (!(err instanceof ReplicaDesync)) throw err;
        desync = err.message;
      }
      return;
    case 'check': {
      let out: FromThread;
      try {
        out = check(msg);
      } catch (err) {
        out = { type: 'unavailable', id: msg.id, reason: `the computation failed: ${(err as Error).message}`, resync: false };
      }
      answer(out);
      return;
    }
    case 'persist': {
      let out: FromThread;
      try {
        out = persist(msg);
      } catch (err) {
        // a failed write (disk full, permissions): the engine writes on its own thread instead
        out = { type: 'unavailable', id: msg.id, reason: `writing the cluster state failed: ${(err as Error).message}`, resync: false };
      }
      answer(out);
      return;
    }
  }
});
