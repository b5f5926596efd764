// Node-local tables: decisions for the identities of the node's own pods only. They must be
// exactly the cluster-wide table's rows for those subjects, and the one-pod path must keep
// them equal to a fresh scoped computation.
import { describe, expect, it } from 'vitest';
import { compileGenerated } from '../../testkit/generated.js';
import { Rng } from '../../bench/prng.js';
import type { Cluster } from '../model/cluster.js';
import { podIdentities } from '../../testkit/emit.js';
import { computeMembership, updateMembership, type Membership } from './membership.js';
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
