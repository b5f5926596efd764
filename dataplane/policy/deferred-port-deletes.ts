// Port elements of profiles that no pair uses any more are deleted later, not in the one-pod
// batch. Why: a delete from the interval map `*_ports` makes libnftables (1.0.6) read the whole
// set back from the kernel first, so it costs the map's size, not the change: 4 deletes took
// 17 ms at 1,000 elements and 155 ms at 10,000 (adds: 1-3 ms; hash-map deletes: under 1 ms;
// policyc-nft helper, throwaway netns). At 5k pods / 1k policies the cluster-wide ports map
// holds ~2k elements, and every one-pod change that retired a profile paid 17-25 ms for it.
//
// Held-back elements change no verdict: a profile's port elements are reached only through a
// pair element naming the profile, and the pairs that named it are gone in the same batch. So
// the kernel may hold them a while: the engine's membership stays exactly the fresh
// computation, the kernel holds it plus these unreachable elements, and this class records
// them. They leave in one cleanup batch (the engine sends it after its quiet-period reconcile,
// or soon when more than CLEANUP_AT are held), and any full replace drops them with the table.
// A profile number that comes back before the cleanup: with the same elements (same content
// key, so the same number: a pod toggling between two label sets), the adds are already in the
// kernel and are not sent; with other elements (a number reused by other content), the held
// elements are deleted in that batch, before the adds.
import type { MembershipDiff } from '../../compiler/emit/membership.js';
import type { PortElement } from '../../compiler/emit/profiles.js';

/** Held-back elements past which the engine sends the cleanup without waiting for quiet. */
export const CLEANUP_AT = 512;

function profileKey(e: PortElement): string {
  return `${e.direction}/${e.profile}`;
}

function elementKey(e: PortElement): string {
  return `${e.protoFrom}-${e.protoTo}/${e.portFrom}-${e.portTo}=${e.rule.action}/${e.rule.cookie}`;
}

function byProfile(list: readonly PortElement[]): Map<string, PortElement[]> {
  const out = new Map<string, PortElement[]>();
  for (const e of list) {
    const k = profileKey(e);
    let l = out.get(k);
    if (!l) out.set(k, (l = []));
    l.push(e);
  }
  return out;
}

function sameElements(a: readonly PortElement[], b: readonly PortElement[]): boolean {
  if (a.length !== b.length) return false;
  const keys = new Set(a.map(elementKey));
  return b.every((e) => keys.has(elementKey(e)));
}

/** What to send for one diff, and what is held back once the kernel took it. */
export interface DeferPlan {
  readonly send: MembershipDiff;
  readonly held: ReadonlyMap<string, readonly PortElement[]>;
}

export class DeferredPortDeletes {
  /** Profile (`direction/number`) -> its port elements the kernel holds and the membership does not. */
  private held: ReadonlyMap<string, readonly PortElement[]> = new Map();
  private count = 0;

  /** Elements held back. */
  get size(): number {
    return this.count;
  }

  /** The batch for `diff` (port deletes held back, adds the kernel already holds left out), and the held set after it. */
  plan(diff: MembershipDiff): DeferPlan {
    if (diff.ports.delete.length === 0 && (this.held.size === 0 || diff.ports.add.length === 0)) return { send: diff, held: this.held };
    const held = new Map(this.held);
    for (const [k, dels] of byProfile(diff.ports.delete)) held.set(k, [...(held.get(k) ?? []), ...dels]);
    const add: PortElement[] = [];
    const del: PortElement[] = [];
    for (const [k, adds] of byProfile(diff.ports.add)) {
      const inKernel = held.get(k);
      held.delete(k);
      if (inKernel && sameElements(inKernel, adds)) continue; // already there
      if (inKernel) del.push(...inKernel);
      add.push(...adds);
    }
    // keep the diff's element order (renderElementDiff groups by map; order within is the diff's)
    const keep = new Set(add);
    const send: MembershipDiff = { ...diff, ports: { add: diff.ports.add.filter((e) => keep.has(e)), delete: del } };
    return { send, held };
  }

  /** The kernel took the plan's batch. */
  commit(plan: DeferPlan): void {
    this.held = plan.held;
    let n = 0;
    for (const l of plan.held.values()) n += l.length;
    this.count = n;
  }

  /** A diff that deletes every held element (undefined when none is held). */
  cleanup(): MembershipDiff | undefined {
    if (this.count === 0) return undefined;
    const none = { add: [], delete: [] };
    const del: PortElement[] = [];
    for (const l of this.held.values()) del.push(...l);
    return { identity: none, world: none, pairs: none, ports: { add: [], delete: del }, isolated: { egress: none, ingress: none } };
  }

  /** The kernel no longer holds them (cleanup sent, or the table was replaced whole). */
  clear(): void {
    this.held = new Map();
    this.count = 0;
  }
}
