// DeferredPortDeletes against a model of the kernel's pair and port maps, over chains of random
// one-pod relabels (updateMembership, as the engine runs them) with cleanups at random steps.
// After every batch: the kernel holds the membership's elements plus exactly the held ones; every
// profile a pair names has exactly the membership's elements (held elements are unreachable);
// no add meets an element of its profile with other content (the kernel would refuse it or
// merge intervals); after a cleanup the kernel is exact.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeMembership, membershipDiff, updateMembership, type Membership, type MembershipDiff } from '../../compiler/emit/membership.js';
import type { PortElement } from '../../compiler/emit/profiles.js';
import type { Cluster } from '../../compiler/model/cluster.js';
import { compileText, randomCaseArb } from '../../testkit/emit.js';
import { DeferredPortDeletes } from './deferred-port-deletes.js';

const profileOf = (e: PortElement) => `${e.direction}/${e.profile}`;
const portKey = (e: PortElement) => `${profileOf(e)}/${e.protoFrom}-${e.protoTo}/${e.portFrom}-${e.portTo}=${e.rule.action}${e.rule.cookie}`;
const pairKey = (p: Membership['layout']['pairs'][number]) => `${p.direction}/${p.subject}/${p.peer}`;

/** The pair and port maps as the kernel holds them. */
class KernelMaps {
  readonly pairs = new Map<string, string>();
  readonly ports = new Map<string, PortElement>();

  constructor(m: Membership) {
    for (const p of m.layout.pairs) this.pairs.set(pairKey(p), `${p.direction}/${p.profile}`);
    for (const e of m.layout.ports) this.ports.set(portKey(e), e);
  }

  apply(d: MembershipDiff): void {
    for (const p of d.pairs.delete) expect(this.pairs.delete(pairKey(p))).toBe(true);
    for (const e of d.ports.delete) expect(this.ports.delete(portKey(e))).toBe(true);
    const adding = new Set(d.ports.add.map(portKey));
    for (const e of this.ports.values()) {
      // an element of a profile being added must be one of the adds (an exact repeat)
      if (d.ports.add.some((a) => profileOf(a) === profileOf(e))) expect(adding.has(portKey(e))).toBe(true);
    }
    for (const e of d.ports.add) this.ports.set(portKey(e), e);
    for (const p of d.pairs.add) this.pairs.set(pairKey(p), `${p.direction}/${p.profile}`);
  }
}

function relabel(cluster: Cluster, pick: number, donor: number, fresh: boolean, n: number): { cluster: Cluster; name: string } {
  const idx = pick % cluster.pods.length;
  const pod = cluster.pods[idx];
  const labels = fresh ? { ...pod.labels, app: `never-seen-${n % 3}` } : { ...cluster.pods[donor % cluster.pods.length].labels };
  const pods = cluster.pods.slice();
  pods[idx] = { ...pod, labels };
  return { cluster: { ...cluster, pods }, name: `${pod.namespace}/${pod.name}` };
}

const stepArb = fc.record({ pick: fc.nat(), donor: fc.nat(), fresh: fc.boolean(), cleanup: fc.boolean() });

describe('DeferredPortDeletes', () => {
  it('keeps the kernel equal to the membership plus unreachable held elements, and exact after a cleanup', () => {
    let heldSteps = 0;
    fc.assert(
      fc.property(randomCaseArb, fc.array(stepArb, { minLength: 1, maxLength: 30 }), (rc, steps) => {
        const c = compileText(rc.policies, rc.snapshot);
        const program = c.program!;
        let cluster = c.cluster;
        let m = computeMembership(program, cluster);
        const kernel = new KernelMaps(m);
        const held = new DeferredPortDeletes();
        steps.forEach((step, n) => {
          const r = relabel(cluster, step.pick, step.donor, step.fresh, n);
          cluster = r.cluster;
          const next = updateMembership(m, program, cluster, [r.name]);
          const plan = held.plan(membershipDiff(m, next));
          kernel.apply(plan.send);
          held.commit(plan);
          m = next;
          const want = new Set(m.layout.ports.map(portKey));
          const extra = [...kernel.ports.keys()].filter((k) => !want.has(k));
          expect([...want].every((k) => kernel.ports.has(k))).toBe(true);
          expect(extra.length).toBe(held.size);
          if (held.size > 0) heldSteps++;
          // the profiles pairs reach hold exactly their membership elements
          const reached = new Set(kernel.pairs.values());
          const extraProfiles = new Set(extra.map((k) => profileOf(kernel.ports.get(k)!)));
          for (const p of reached) expect(extraProfiles.has(p)).toBe(false);
          if (step.cleanup) {
            const d = held.cleanup();
            if (d) kernel.apply(d);
            held.clear();
            expect(new Set(kernel.ports.keys())).toEqual(want);
          }
        });
      }),
      { numRuns: 150 },
    );
    // the chains do retire profiles
    expect(heldSteps).toBeGreaterThan(20);
  });

  it('sends no port deletes, drops the adds of a profile that comes back with the same elements, and deletes held elements before other content takes their number', () => {
    const rule = (cookie: number) => ({ action: 'allow', cookie }) as unknown as PortElement['rule'];
    const el = (profile: number, port: number, cookie = 1): PortElement => ({ direction: 'ingress', profile, protoFrom: 6, protoTo: 6, portFrom: port, portTo: port, rule: rule(cookie) });
    const none = { add: [], delete: [] };
    const diff = (add: PortElement[], del: PortElement[]): MembershipDiff => ({ identity: none, world: none, pairs: none, ports: { add, delete: del }, isolated: { egress: none, ingress: none } });
    const held = new DeferredPortDeletes();
    const a = [el(0x80000001, 80), el(0x80000001, 443)];
    let plan = held.plan(diff([], a));
    expect(plan.send.ports).toEqual({ add: [], delete: [] });
    held.commit(plan);
    expect(held.size).toBe(2);
    // the same profile back with the same elements: nothing to send
    plan = held.plan(diff([el(0x80000001, 443), el(0x80000001, 80)], []));
    expect(plan.send.ports).toEqual({ add: [], delete: [] });
    held.commit(plan);
    expect(held.size).toBe(0);
    // held, then its number taken by other content: the held elements go first, in the same batch
    held.commit(held.plan(diff([], a)));
    const other = [el(0x80000001, 8080, 2)];
    plan = held.plan(diff(other, []));
    expect(plan.send.ports).toEqual({ add: other, delete: a });
    held.commit(plan);
    expect(held.size).toBe(0);
    expect(held.cleanup()).toBeUndefined();
  });
});
