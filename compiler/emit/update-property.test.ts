// The one-pod fast path (updateMembership, and membershipDiff from what it recorded) against the
// full computation, on random small clusters: chains of random relabels (labels of another pod,
// never-seen labels, labels no selector reads) of local and remote pods of node-local tables and
// of cluster-wide ones. After every step: the incremental membership equals a fresh
// computeMembership, the recorded diff equals the merge of the whole lists, and applying it to
// the previous elements gives the new ones. Chains are long enough for the layered indexes to
// flatten (layered-map.ts) and for rows to be compacted (decision-rows.ts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGenerated, generatedNode } from '../../testkit/generated.js';
import { membershipFingerprint, plainMembership } from '../../testkit/membership.js';
import type { Cluster } from '../model/cluster.js';
import type { Program } from '../ir/types.js';
import { compileText, randomCaseArb } from '../../testkit/emit.js';
import { computeMembership, membershipDiff, updateMembership, type Membership, type MembershipDiff, type MembershipScope } from './membership.js';
import { isolationOf, layoutDecisions, updateLayout } from './profiles.js';


/** The kernel's element sets after a diff is applied to `before`'s (deletes, then adds). */
function applied(before: Membership, d: MembershipDiff) {
  const sets = elementSets(before);
  const apply = (set: Set<string>, del: readonly string[], add: readonly string[]) => {
    for (const k of del) expect(set.delete(k)).toBe(true);
    for (const k of add) set.add(k);
  };
  apply(sets.identity, d.identity.delete.map(idKey), d.identity.add.map(idKey));
  apply(sets.world, d.world.delete.map(idKey), d.world.add.map(idKey));
  apply(sets.pairs, d.pairs.delete.map(pairKey), d.pairs.add.map(pairKey));
  apply(sets.ports, d.ports.delete.map(portKey), d.ports.add.map(portKey));
  for (const dir of ['egress', 'ingress'] as const) apply(sets.isolated[dir], d.isolated[dir].delete.map(String), d.isolated[dir].add.map(String));
  return sets;
}

const idKey = (e: Membership['identityElements'][number]) => `${e.family}/${e.first}-${e.last}=${e.identity}`;
const pairKey = (p: Membership['layout']['pairs'][number]) => `${p.direction}/${p.subject}/${p.peer}=${p.profile}`;
const portKey = (p: Membership['layout']['ports'][number]) => `${p.direction}/${p.profile}/${p.protoFrom}-${p.protoTo}/${p.portFrom}-${p.portTo}=${p.rule.action}${p.rule.cookie}`;

function elementSets(m: Membership) {
  return {
    identity: new Set(m.identityElements.filter((e) => e.pod !== undefined).map(idKey)),
    world: new Set(m.world.map(idKey)),
    pairs: new Set(m.layout.pairs.map(pairKey)),
    ports: new Set(m.layout.ports.map(portKey)),
    isolated: { egress: new Set(m.isolated.egress.map(String)), ingress: new Set(m.isolated.ingress.map(String)) },
  };
}


/** One relabel step: pod `pick`, labels from pod `donor` / never seen / an unread key. */
type Step = { pick: number; donor: number; how: 'donor' | 'new' | 'unread' | 'empty' };

const stepArb: fc.Arbitrary<Step> = fc.record({ pick: fc.nat(), donor: fc.nat(), how: fc.constantFrom<Step['how']>('donor', 'donor', 'new', 'unread', 'empty') });

function relabel(cluster: Cluster, step: Step, n: number, localIdx?: readonly number[]): { cluster: Cluster; name: string } {
  const idx = localIdx && localIdx.length > 0 && step.pick % 2 === 0 ? localIdx[step.pick % localIdx.length] : step.pick % cluster.pods.length;
  const pod = cluster.pods[idx];
  const donor = cluster.pods[step.donor % cluster.pods.length];
  const labels =
    step.how === 'donor' ? { ...donor.labels } : step.how === 'new' ? { ...pod.labels, app: `never-seen-${n % 3}` } : step.how === 'unread' ? { ...pod.labels, 'pod-template-hash': `h${n}` } : {};
  const pods = cluster.pods.slice();
  pods[idx] = { ...pod, labels };
  return { cluster: { ...cluster, pods }, name: `${pod.namespace}/${pod.name}` };
}

/** Runs the steps from a fresh membership; every step checked against the full computation. */
function checkChain(program: Program, start: Cluster, scope: MembershipScope, steps: readonly Step[], localIdx?: readonly number[]): void {
  let cluster = start;
  let m = computeMembership(program, cluster, undefined, scope);
  steps.forEach((step, n) => {
    const r = relabel(cluster, step, n, localIdx);
    cluster = r.cluster;
    const next = updateMembership(m, program, cluster, [r.name]);
    const fresh = computeMembership(program, cluster, m, scope);
    expect(membershipFingerprint(next, 'kept')).toEqual(membershipFingerprint(fresh, 'kept'));
    const recorded = membershipDiff(m, next);
    expect(recorded).toEqual(membershipDiff(plainMembership(m), plainMembership(next)));
    expect(applied(m, recorded)).toEqual(elementSets(next));
    m = next;
  });
}

describe('updateMembership + membershipDiff vs the full computation (property)', () => {
  it('random policy sets, node-local and cluster-wide, chains of relabels', () => {
    fc.assert(
      fc.property(randomCaseArb, fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }), fc.boolean(), fc.array(stepArb, { minLength: 1, maxLength: 24 }), (rc, localMask, scoped, steps) => {
        const c = compileText(rc.policies, rc.snapshot);
        const program = c.program!;
        const names = c.cluster.pods.map((p) => `${p.namespace}/${p.name}`);
        const localIdx = names.map((_, i) => i).filter((i) => localMask[i % localMask.length]);
        const scope: MembershipScope = scoped ? { localPods: new Set(localIdx.map((i) => names[i])) } : {};
        checkChain(program, c.cluster, scope, steps, scoped ? localIdx : undefined);
      }),
      { numRuns: 120 },
    );
  });

  it('pods on node addresses (host network): ANP nodes peers select pod identities, columns included', () => {
    fc.assert(
      fc.property(randomCaseArb, fc.boolean(), fc.array(stepArb, { minLength: 1, maxLength: 24 }), (rc, scoped, steps) => {
        // the first two pods take the addresses of nodes n0 and n1 (when the case has them)
        const ips = [...new Set([...rc.snapshot.matchAll(/"podIP":"(10\.0\.0\.\d+)"/g)].map((m) => m[1]))].slice(0, 2);
        let snapshot = rc.snapshot;
        ips.forEach((ip, i) => (snapshot = snapshot.replaceAll(`"${ip}"`, `"192.168.0.${i + 1}"`)));
        const c = compileText(rc.policies, snapshot);
        const program = c.program!;
        const names = c.cluster.pods.map((p) => `${p.namespace}/${p.name}`);
        const localIdx = names.map((_, i) => i).filter((i) => i % 2 === 0);
        const scope: MembershipScope = scoped ? { localPods: new Set(localIdx.map((i) => names[i])) } : {};
        checkChain(program, c.cluster, scope, steps, scoped ? localIdx : undefined);
      }),
      { numRuns: 120 },
    );
  });

  it('generated clusters, node-local tables of a random node, 40-step chains', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.nat(), fc.array(stepArb, { minLength: 40, maxLength: 40 }), (seed, nodePick, steps) => {
        const c = compileGenerated(120, 14, seed);
        const node = generatedNode(c.cluster, nodePick);
        const localIdx = c.cluster.pods.map((p, i) => (p.node === node ? i : -1)).filter((i) => i >= 0);
        const localPods = new Set(localIdx.map((i) => `${c.cluster.pods[i].namespace}/${c.cluster.pods[i].name}`));
        checkChain(c.program, c.cluster, { localPods }, steps, localIdx);
      }),
      { numRuns: 8 },
    );
  });

  it('derived memberships stay valid when an earlier one is updated again', () => {
    fc.assert(
      fc.property(randomCaseArb, fc.array(stepArb, { minLength: 2, maxLength: 6 }), (rc, steps) => {
        const c = compileText(rc.policies, rc.snapshot);
        const program = c.program!;
        const base = computeMembership(program, c.cluster);
        const want = membershipFingerprint(base, 'kept');
        // several branches from one membership (the daemon may retry from the same model)
        for (const [n, step] of steps.entries()) {
          const r = relabel(c.cluster, step, n);
          const next = updateMembership(base, program, r.cluster, [r.name]);
          expect(membershipFingerprint(next, 'kept')).toEqual(membershipFingerprint(computeMembership(program, r.cluster, base), 'kept'));
        }
        expect(membershipFingerprint(base, 'kept')).toEqual(want);
      }),
      { numRuns: 60 },
    );
  });

  it('updateLayout: rows dropped and put back over a random table give the layout of the whole list', () => {
    fc.assert(
      fc.property(randomCaseArb, fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), (rc, mask) => {
        const c = compileText(rc.policies, rc.snapshot);
        const m = computeMembership(c.program!, c.cluster);
        const subjects = [...new Set(m.decisionElements.map((e) => e.subject))].filter((_, i) => mask[i % mask.length]);
        const drop = new Set(subjects);
        const fresh = m.decisionElements.filter((e) => drop.has(e.subject));
        const kept = m.decisionElements.filter((e) => !drop.has(e.subject));
        const isolation = isolationOf(m.isolated);
        const partial = layoutDecisions(kept, isolation, m.layout);
        const back = updateLayout(partial, () => false, fresh, isolation);
        const whole = layoutDecisions(m.decisionElements, isolation, partial);
        expect(back.pairs).toEqual(whole.pairs);
        expect(back.ports).toEqual(whole.ports);
        expect([...back.profiles.entries()].sort()).toEqual([...whole.profiles.entries()].sort());
      }),
      { numRuns: 60 },
    );
  });
});
