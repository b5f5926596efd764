// Node-local tables: decisions for the identities of the node's own pods only. They must be
// exactly the cluster-wide table's rows for those subjects, and the one-pod path must keep
// them equal to a fresh scoped computation.
import { describe, expect, it } from 'vitest';
import { compileGenerated } from '../../testkit/generated.js';
import { Rng } from '../../bench/prng.js';
import type { Cluster } from '../model/cluster.js';
import { podIdentities } from '../../testkit/emit.js';
import { computeMembership, membershipDiff, updateMembership, type Membership } from './membership.js';
import { DecisionLimitError } from './decisions.js';
import { checkDataplaneLimits } from './limits.js';

function localPodsOf(cluster: Cluster, node: string): Set<string> {
  return new Set(cluster.pods.filter((p) => p.node === node).map((p) => `${p.namespace}/${p.name}`));
}

function fingerprint(m: Membership) {
  return {
    identity: m.identityElements.map((e) => `${e.family}/${e.first}-${e.last}=${e.identity}`),
    decisions: m.decisionElements.map((e) => `${e.direction}/${e.subject}/${e.peer}/${e.protoFrom}-${e.protoTo}/${e.portFrom}-${e.portTo}=${e.rule.id}`),
    isolated: m.isolated,
    pairs: m.layout.pairs.map((p) => `${p.direction}/${p.subject}/${p.peer}=${p.profile}`),
    ports: m.layout.ports.map((p) => `${p.direction}/${p.profile}/${p.protoFrom}-${p.protoTo}/${p.portFrom}-${p.portTo}=${p.rule.id}`),
  };
}

describe('node-local membership', () => {
  const { program, cluster } = compileGenerated(400, 40, 3);
  const nodes = [...new Set(cluster.pods.map((p) => p.node).filter((n): n is string => !!n))].sort();

  it('has exactly the full table rows of the node pods identities', () => {
    expect(nodes.length).toBeGreaterThan(1);
    const full = computeMembership(program, cluster);
    let total = 0;
    for (const node of nodes) {
      const localPods = localPodsOf(cluster, node);
      const scoped = computeMembership(program, cluster, full, { localPods });
      const subjects = podIdentities(full.identities, localPods);
      expect(scoped.identityElements).toEqual(full.identityElements);
      const want = full.decisionElements.filter((e) => subjects.has(e.subject));
      expect(scoped.decisionElements.map((e) => `${e.direction}/${e.subject}/${e.peer}/${e.protoFrom}/${e.portFrom}-${e.portTo}=${e.rule.id}`)).toEqual(
        want.map((e) => `${e.direction}/${e.subject}/${e.peer}/${e.protoFrom}/${e.portFrom}-${e.portTo}=${e.rule.id}`),
      );
      for (const d of ['egress', 'ingress'] as const) expect(scoped.isolated[d]).toEqual(full.isolated[d].filter((s) => subjects.has(s)));
      expect(scoped.layout.pairs.length).toBeLessThan(full.layout.pairs.length);
      total += scoped.decisionElements.length;
    }
    // every subject with a pod lives on some node: the node tables together cover the full table's rows
    expect(total).toBeGreaterThanOrEqual(full.decisionElements.length);
  });

  it('one-pod label changes keep a node-local table equal to a fresh one', () => {
    const node = nodes[0];
    const localPods = localPodsOf(cluster, node);
    let current: Cluster = cluster;
    let m = computeMembership(program, current, undefined, { localPods });
    const rng = new Rng(5);
    let subjectChanges = 0;
    const localIdx = current.pods.map((p, i) => (localPods.has(`${p.namespace}/${p.name}`) ? i : -1)).filter((i) => i >= 0);
    for (let i = 0; i < 60; i++) {
      // every other change is one of the node's own pods: its table gains and loses subjects
      const idx = i % 2 === 0 ? rng.pick(localIdx) : rng.int(0, current.pods.length - 1);
      const pod = current.pods[idx];
      const donor = rng.pick(current.pods.filter((p) => p.namespace === pod.namespace));
      const labels = i % 5 === 0 ? { ...donor.labels, app: `never-seen-${i}` } : { ...donor.labels };
      const pods = current.pods.slice();
      pods[idx] = { ...pod, labels };
      current = { ...current, pods };
      const next = updateMembership(m, program, current, [`${pod.namespace}/${pod.name}`]);
      const fresh = computeMembership(program, current, m, { localPods });
      expect(fingerprint(next)).toEqual(fingerprint(fresh));
      const before = [...podIdentities(m.identities, localPods)].sort().join();
      if ([...podIdentities(next.identities, localPods)].sort().join() !== before) subjectChanges++;
      m = next;
    }
    expect(subjectChanges).toBeGreaterThan(5);
  });
});

describe('lingering subjects (MembershipScope.lingering, lingerDeparted)', () => {
  const { program, cluster } = compileGenerated(400, 40, 3);
  const nodes = [...new Set(cluster.pods.map((p) => p.node).filter((n): n is string => !!n))].sort();
  const name = (p: Cluster['pods'][number]) => `${p.namespace}/${p.name}`;
  const full = computeMembership(program, cluster);
  const idOf = (m: Membership, pod: string) => m.identityElements.find((e) => e.pod === pod)!.identity;
  // a local pod alone in its identity on its node, whose identity other nodes' pods have too
  const pick = (() => {
    for (const node of nodes) {
      const local = localPodsOf(cluster, node);
      for (const p of cluster.pods) {
        if (!local.has(name(p)) || p.ips.length === 0) continue;
        const id = idOf(full, name(p));
        const same = cluster.pods.filter((q) => q !== p && q.ips.length > 0 && idOf(full, name(q)) === id);
        if (same.length > 0 && same.every((q) => !local.has(name(q)))) return { node, local, pod: p, remote: same, id };
      }
    }
    throw new Error('no such pod');
  })();
  const key = full.identities.byId.get(pick.id)!.key;
  const rowOf = (m: Membership, id: number) => m.layout.pairs.filter((e) => e.subject === id).map((e) => `${e.direction}/${e.peer}=${e.profile}`);
  const fp = (m: Membership) => ({ ...fingerprint(m), lingering: [...(m.scope?.lingering ?? [])].sort() });

  it('a departed subject lingers: no pair element leaves, the row equals the cluster-wide one; it comes back with only address elements; a GC step and a vanished identity drop it', () => {
    const without = new Set([...pick.local].filter((n) => n !== name(pick.pod)));
    const m0 = computeMembership(program, cluster, full, { localPods: pick.local, lingerDeparted: true });
    expect(m0.scope?.lingering).toBeUndefined();
    // the local pod goes: its subject lingers
    const gone: Cluster = { ...cluster, pods: cluster.pods.filter((p) => p !== pick.pod) };
    const m1 = updateMembership(m0, program, gone, [name(pick.pod)], { localPods: without, lingerDeparted: true });
    expect([...(m1.scope?.lingering ?? [])]).toEqual([key]);
    const d1 = membershipDiff(m0, m1);
    expect(d1.pairs.delete).toEqual([]);
    expect(d1.ports.delete).toEqual([]);
    expect(d1.identity.delete.length).toBe(pick.pod.ips.length);
    expect(rowOf(m1, pick.id)).toEqual(rowOf(m0, pick.id));
    expect(fp(m1)).toEqual(fp(computeMembership(program, gone, full, { localPods: without, lingering: new Set([key]) })));
    // the lingering row is the cluster-wide row of that identity
    const cw = computeMembership(program, gone, full);
    const cells = (m: Membership) => m.decisionElements.filter((e) => e.subject === pick.id).map((e) => `${e.direction}/${e.peer}/${e.protoFrom}/${e.portFrom}-${e.portTo}=${e.rule.id}`);
    expect(cells(m1)).toEqual(cells(cw));
    // without lingering the row leaves whole
    const plain = updateMembership(m0, program, gone, [name(pick.pod)], { localPods: without });
    expect(membershipDiff(m0, plain).pairs.delete.length).toBe(rowOf(m0, pick.id).length);
    expect(rowOf(m0, pick.id).length).toBeGreaterThan(0);
    // it comes back (same labels, same node, a new name and address of the same class): only its address elements
    const back = { ...pick.pod, name: `${pick.pod.name}-2`, ips: pick.pod.ips.map((ip) => ip.replace(/\.(\d+)$/, (_, n) => `.${(Number(n) + 100) % 250}`)) };
    const returned: Cluster = { ...gone, pods: [...gone.pods, back].sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0)) };
    const withBack = new Set([...without, name(back)]);
    const m2 = updateMembership(m1, program, returned, [name(back)], { localPods: withBack, lingering: m1.scope?.lingering, lingerDeparted: true });
    expect(idOf(m2, name(back))).toBe(pick.id);
    expect(m2.scope?.lingering).toBeUndefined();
    const d2 = membershipDiff(m1, m2);
    expect(d2.pairs.add).toEqual([]);
    expect(d2.pairs.delete).toEqual([]);
    expect(d2.identity.add.length).toBe(back.ips.length);
    expect(fp(m2)).toEqual(fp(computeMembership(program, returned, m1, { localPods: withBack, lingerDeparted: true })));
    // a GC step: the row leaves, no pod changes
    const m3 = updateMembership(m1, program, gone, [], { localPods: without, lingering: new Set(), lingerDeparted: true });
    expect(m3.scope?.lingering).toBeUndefined();
    expect(membershipDiff(m1, m3).pairs.delete.length).toBe(rowOf(m1, pick.id).length);
    expect(membershipDiff(m1, m3).identity.add.length + membershipDiff(m1, m3).identity.delete.length).toBe(0);
    expect(fp(m3)).toEqual(fp(computeMembership(program, gone, full, { localPods: without })));
    // the identity vanishes from the cluster (its remote pods go): the lingering key goes with its row
    let m = m1;
    let c = gone;
    for (const q of pick.remote) {
      c = { ...c, pods: c.pods.filter((p) => p !== q) };
      m = updateMembership(m, program, c, [name(q)], { localPods: without, lingering: m.scope?.lingering, lingerDeparted: true });
    }
    expect(m.assignment.has(key)).toBe(false);
    expect(m.scope?.lingering).toBeUndefined();
    expect(rowOf(m, pick.id)).toEqual([]);
    expect(fp(m)).toEqual(fp(computeMembership(program, c, m1, { localPods: without, lingering: new Set([key]) })));
  });
});

describe('world ranges as the kernel holds them (mergeWorld)', () => {
  const { program, cluster } = compileGenerated(300, 30, 9);
  const m = computeMembership(program, cluster);
  const top = { 4: (1n << 32n) - 1n, 6: (1n << 128n) - 1n } as const;

  it('cover each family from the first address to the last, in order, without overlaps', () => {
    for (const family of [4, 6] as const) {
      const world = m.world.filter((e) => e.family === family);
      expect(world[0].first).toBe(0n);
      expect(world[world.length - 1].last).toBe(top[family]);
      for (let i = 1; i < world.length; i++) {
        expect(world[i].first).toBe(world[i - 1].last + 1n);
        expect(world[i].identity).not.toBe(world[i - 1].identity);
      }
    }
  });

  it('give every address that is not a pod address its carved identity', () => {
    const pods = new Set(m.identityElements.filter((e) => e.pod !== undefined).map((e) => `${e.family}/${e.first}`));
    const worldOf = (family: 4 | 6, v: bigint) => m.world.find((e) => e.family === family && e.first <= v && v <= e.last)?.identity;
    let checked = 0;
    for (const e of m.identityElements) {
      if (e.pod !== undefined) continue;
      for (const v of [e.first, e.last, (e.first + e.last) / 2n]) {
        if (pods.has(`${e.family}/${v}`)) continue;
        expect(worldOf(e.family, v)).toBe(e.identity);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
  });
});

describe('dataplane limits on the pair maps', () => {
  const { program, cluster } = compileGenerated(300, 30, 4);
  const m = computeMembership(program, cluster);
  const most = Math.max(...(['egress', 'ingress'] as const).map((d) => m.layout.pairs.filter((p) => p.direction === d).length));

  it('the computation stops once a direction passes the limit, and never below it', () => {
    expect(() => computeMembership(program, cluster, undefined, { maxPairsPerDirection: most })).not.toThrow();
    let caught: unknown;
    try {
      computeMembership(program, cluster, undefined, { maxPairsPerDirection: Math.floor(most / 3) });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DecisionLimitError);
    expect((caught as DecisionLimitError).pairs).toBeGreaterThan(Math.floor(most / 3)); // counted per subject
  });

  it('a finished table over the limit gets PC4001 naming the policy that decides the most', () => {
    const d = checkDataplaneLimits(program, m, { maxDecisionElements: most - 1, maxIdentityElements: 1_000_000 });
    expect(d.map((x) => x.code)).toContain('PC4001');
    expect(d.find((x) => x.code === 'PC4001')!.message).toMatch(/needs \d+ elements \(\d+ identity pairs\), over the limit of \d+; .+ alone produces \d+/);
    expect(checkDataplaneLimits(program, m, { maxDecisionElements: most, maxIdentityElements: 1_000_000 })).toEqual([]);
  });
});
