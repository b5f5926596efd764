// The messages between the engine (reconcile-worker.ts) and its reconcile thread
// (reconcile-thread.ts). Ordered: a check or a persist is answered for the replica as it is
// after every change posted before it.
import type { ElementWords } from './canonical-elements.js';
import type { Numbering } from './fresh-membership.js';
import type { StateChange, StateSnapshot } from './state-replica.js';

export type ToThread =
  /** the artifact to compute with (its files: the thread verifies and parses them itself) */
  | { type: 'artifact'; hash: string; files: Record<string, string> }
  /** the whole cluster state; replaces the replica */
  | { type: 'snapshot'; snapshot: StateSnapshot }
  | { type: 'change'; change: StateChange }
  /**
   * compute the membership of generation `generation` with this numbering and scope (node-local:
   * the node's pods, and the model's lingering subject keys, MembershipScope.lingering)
   */
  | { type: 'check'; id: number; generation: number; artifactHash: string; nodeName?: string; lingering?: string[]; numbering: Numbering }
  /**
   * write the replica (at `generation`) as <dir>/cluster-state.json (persist.ts); `assignment`
   * (identity key -> number) replaces the one the thread holds, absent = unchanged since the last
   */
  | { type: 'persist'; id: number; generation: number; dir: string; assignment?: Array<[string, number]> };

export type FromThread =
  | {
      type: 'result';
      id: number;
      words: ElementWords;
      /** the node-local pods of the scope it computed with (sorted), null = cluster-wide */
      localPods: string[] | null;
      /** the lingering subject keys the fresh computation kept (sorted; node-local only) */
      lingering: string[];
      computeMs: number;
    }
  /** no answer for this check: the replica is out of step, the artifact is missing or refused, or the computation threw */
  | { type: 'unavailable'; id: number; reason: string; resync: boolean }
  /** the file was replaced (serialize + write took writeMs of the thread's time) */
  | { type: 'persisted'; id: number; writeMs: number; bytes: number };
