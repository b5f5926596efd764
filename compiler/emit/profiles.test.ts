// Profiles carry their subject's isolation (PROFILE_ISOLATED): the port chain settles a port
// no element holds by a bit test on the profile, so an isolated and an open subject must never
// share a profile, and the bit must be exactly the subject's isolation.
import { describe, expect, it } from 'vitest';
import { compileGenerated } from '../../testkit/generated.js';
import { computeMembership } from './membership.js';
import { isolationOf, layoutDecisions, profileIsolated } from './profiles.js';

describe('profile isolation bit', () => {
  const { program, cluster } = compileGenerated(600, 60, 11);
  const m = computeMembership(program, cluster);
  const isolated = isolationOf(m.isolated);

  it('is set exactly on the profiles of isolated subjects, for both directions', () => {
    const seen = { isolated: 0, open: 0 };
    for (const p of m.layout.pairs) {
      expect(profileIsolated(p.profile), `${p.direction} ${p.subject} -> ${p.peer}`).toBe(isolated(p.direction, p.subject));
      seen[profileIsolated(p.profile) ? 'isolated' : 'open']++;
    }
    // the generated cluster has both kinds (NetworkPolicies isolate, admin tiers decide for open subjects)
    expect(seen.isolated).toBeGreaterThan(0);
    expect(seen.open).toBeGreaterThan(0);
  });

  it('never shares a profile between an isolated and an open subject, even with equal port functions', () => {
    const users = new Map<number, Set<boolean>>();
    for (const p of m.layout.pairs) {
      const s = users.get(p.profile) ?? new Set<boolean>();
      s.add(isolated(p.direction, p.subject));
      users.set(p.profile, s);
    }
    for (const [profile, kinds] of users) expect(kinds.size, `profile ${profile}`).toBe(1);
    // the same elements laid out as if nobody were isolated: fewer or as many profiles, none with the bit
    const open = layoutDecisions(m.decisionElements, () => false);
    expect(open.profiles.size).toBeLessThanOrEqual(m.layout.profiles.size);
    expect(open.pairs.every((p) => !profileIsolated(p.profile))).toBe(true);
  });
});
