// updateMembership (the incremental path) gives what computeMembership gives from scratch.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Cluster, ClusterPod } from '../model/cluster.js';
import { computeMembership, updateMembership, type Membership } from './membership.js';
import { compileText, randomCaseArb } from '../../testkit/emit.js';

const LABELS: Array<Record<string, string>> = [{}, { app: 'web' }, { app: 'db', tier: 'be' }, { app: 'client' }, { tier: 'fe' }, { app: 'web', role: 'x' }];

function normal(m: Membership) {
  return {
    identityElements: m.identityElements.map((e) => `${e.family}/${e.first}-${e.last}=${e.identity}:${e.pod ?? ''}`),
    decisionElements: m.decisionElements.map((e) => `${e.direction}/${e.subject}/${e.peer}/${e.protoFrom}-${e.protoTo}/${e.portFrom}-${e.portTo}=${e.rule.id}`),
    isolated: m.isolated,
    decisionsTable: { n: m.decisions.elements.length, isolated: m.decisions.isolated },
    assignment: [...m.assignment].sort(),
    identities: m.identities.identities.map((i) => ({ id: i.id, key: i.key, kind: i.kind, families: i.families, groups: i.groups, members: i.members })),
    byId: [...m.identities.byId.keys()].sort((a, b) => a - b),
    tableElements: m.identities.elements.length,
  };
}

describe('updateMembership', () => {
  it('equals a fresh computeMembership after random relabels (chained)', () => {
    fc.assert(
      fc.property(
        randomCaseArb,
        fc.array(fc.tuple(fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), fc.array(fc.nat(LABELS.length - 1), { minLength: 3, maxLength: 3 })), { minLength: 1, maxLength: 4 }),
        (rc, steps) => {
          const c = compileText(rc.policies, rc.snapshot);
          const program = c.program!;
          let cluster: Cluster = c.cluster;
          let inc = computeMembership(program, cluster);
          for (const [picks, labelPicks] of steps) {
            const victims = picks.map((p) => cluster.pods[p % cluster.pods.length]);
            const labels = new Map<ClusterPod, Record<string, string>>();
            victims.forEach((v, i) => labels.set(v, LABELS[labelPicks[i % labelPicks.length]]));
            cluster = { ...cluster, pods: cluster.pods.map((p) => (labels.has(p) ? { ...p, labels: labels.get(p)! } : p)) };
            const fresh = computeMembership(program, cluster, inc);
            inc = updateMembership(inc, program, cluster, victims.map((v) => `${v.namespace}/${v.name}`));
            expect(normal(inc)).toEqual(normal(fresh));
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
