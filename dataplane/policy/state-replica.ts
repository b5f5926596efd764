// A copy of the engine's ClusterState inside the reconcile worker (reconcile-worker.ts), kept
// current by replaying the same changes the engine applies: a pushed incremental body, an
// endpoint added or removed. Each change carries the engine's generation after it; the replica
// checks that it got the same number (ClusterState counts one per change), so a lost or
// extra change shows as a generation mismatch and never as a silently different cluster.
// It starts from a snapshot (persisted objects + endpoints, in their order) taken when the
// worker starts and after every whole-state push: the one copy of the whole cluster, instead of
// one per reconcile (a structured clone of 20k pods' persisted state costs ~45 ms on the main
// thread, of the pushed objects ~210 ms).
import { ClusterState, type EndpointLike, type PersistedClusterState } from './cluster-state.js';

export interface StateSnapshot {
  persisted: PersistedClusterState;
  endpoints: EndpointLike[];
  generation: number;
  pushed: boolean;
}

export type StateChange =
  | { kind: 'apply'; body: unknown; generation: number }
  | { kind: 'add-endpoint'; endpoint: EndpointLike; generation: number }
  | { kind: 'remove-endpoint'; endpoint: EndpointLike; generation: number };

/** The engine's state as a snapshot (main thread; arrays of the current objects, no copy). */
export function snapshotOf(state: ClusterState): StateSnapshot {
  return { persisted: state.persisted(), endpoints: state.endpointList(), generation: state.generation, pushed: state.pushed };
}

/** The ClusterState a snapshot describes: same objects, same endpoint order, same generation. */
export function stateFromSnapshot(s: StateSnapshot): ClusterState {
  const state = ClusterState.restore(s.persisted);
  state.setEndpoints(s.endpoints);
  state.generation = s.generation;
  state.pushed = s.pushed;
  return state;
}

export class ReplicaDesync extends Error {}

/** Replays one change; throws ReplicaDesync when the generations part (the replica is then unusable). */
export function replay(state: ClusterState, change: StateChange): void {
  const before = state.generation;
  try {
    if (change.kind === 'apply') state.apply(change.body);
    else if (change.kind === 'add-endpoint') state.addEndpoint(change.endpoint);
    else state.removeEndpoint(change.endpoint);
  } catch (err) {
    throw new ReplicaDesync(`replaying ${change.kind} (generation ${change.generation}) failed: ${(err as Error).message}`);
  }
  if (state.generation !== change.generation) throw new ReplicaDesync(`replaying ${change.kind} took the replica from generation ${before} to ${state.generation}, the engine's is ${change.generation}`);
}
