// The reconcile's full computation, as the worker runs it: computeMembership from the cluster
// with the numbering of the membership it checks, so that the result equals, element for
// element, what the engine's in-thread reconcile computes (computeMembership(program, cluster,
// model.membership, scope)). Of `previous`, computeMembership reads only the identity numbers
// (`assignment`: identity key -> number) and the profile numbers (`layout.profiles`: content key
// -> profile, of which layoutDecisions reads `id`); those two lists are all the worker is sent
// (~0.8 MB and ~0.3 MB serialized at 20k pods / 4k policies cluster-wide, under 2 ms), not the
// membership. The scope is the node's pods and, for a node-local table, the model's lingering
// subject keys (MembershipScope.lingering, sent with the check). fresh-membership.test.ts checks
// the equality on generated clusters.
import { computeMembership, type Membership, type MembershipScope } from '../../compiler/emit/membership.js';
import type { Profile } from '../../compiler/emit/profiles.js';
import type { Program } from '../../compiler/ir/types.js';
import type { Cluster } from '../../compiler/model/cluster.js';

export interface Numbering {
  /** identity key -> number */
  identities: Array<[string, number]>;
  /** profile content key -> number */
  profiles: Array<[string, number]>;
}

/** The numbers a membership gave its identities and profiles (main thread: O(identities + profiles)). */
export function numberingOf(m: Membership): Numbering {
  return { identities: [...m.assignment], profiles: Array.from(m.layout.profiles, ([key, p]) => [key, p.id]) };
}

/** A stand-in `previous` that carries only the numbering (see the header). */
function numberedPrevious(n: Numbering): Membership {
  const profiles = new Map<string, Profile>(n.profiles.map(([key, id]) => [key, { id, uses: 0, ports: [] }]));
  return { identityElements: [], assignment: new Map(n.identities), layout: { pairs: [], ports: [], profiles } } as unknown as Membership;
}

/** computeMembership(program, cluster, previous, scope) for the `previous` whose numbering this is. */
export function freshMembership(program: Program, cluster: Cluster, numbering: Numbering, scope: MembershipScope): Membership {
  return computeMembership(program, cluster, numberedPrevious(numbering), scope);
}
