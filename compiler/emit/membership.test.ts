import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Evaluator } from '../evaluate/evaluator.js';
import type { Cluster, ClusterPod } from '../model/cluster.js';
import { computeIdentities, lookupIdentity } from './identities.js';
import { computeMembership, diffSize, membershipDiff } from './membership.js';
import { emitNftables, renderElementDiff, MAP } from './nftables/ruleset.js';
import { NftInterpreter } from './nftables/interpret.js';
import { compareAll, compileText, randomCaseArb } from '../../testkit/emit.js';

const POLICIES = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 80}]
`;

function snapshot(pods: Array<{ name: string; labels: Record<string, string>; ip: string }>): string {
  const items = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } },
    ...pods.map((p) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: 'prod', labels: p.labels }, status: { podIP: p.ip } })),
  ];
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

function withPod(cluster: Cluster, name: string, change: (p: ClusterPod) => ClusterPod): Cluster {
  return { ...cluster, pods: cluster.pods.map((p) => (p.name === name ? change(p) : p)) };
}

describe('identities', () => {
  it('ignore labels no selector reads (pod-template-hash) and share one identity', () => {
    const c = compileText(
      POLICIES,
      snapshot([
        { name: 'web-1', labels: { app: 'web', 'pod-template-hash': 'a1' }, ip: '10.0.0.1' },
        { name: 'web-2', labels: { app: 'web', 'pod-template-hash': 'b2' }, ip: '10.0.0.2' },
        { name: 'other', labels: { app: 'batch' }, ip: '10.0.0.3' },
      ]),
    );
    const t = computeIdentities(c.program!, c.cluster);
    expect(lookupIdentity(t, '10.0.0.1')).toBe(lookupIdentity(t, '10.0.0.2'));
    // A pod no group selects is observably an outside address: it shares the world identity.
    expect(lookupIdentity(t, '10.0.0.3')).toBe(lookupIdentity(t, '8.8.8.8'));
    expect(t.identities.map((i) => i.kind).sort()).toEqual(['pod', 'world']);
  });

  it('elements are disjoint and cover both address spaces', () => {
    fc.assert(
      fc.property(randomCaseArb, (rc) => {
        const c = compileText(rc.policies, rc.snapshot);
        const t = computeIdentities(c.program!, c.cluster);
        for (const family of [4, 6] as const) {
          const els = t.elements.filter((e) => e.family === family);
          expect(els[0].first).toBe(0n);
          expect(els[els.length - 1].last).toBe(family === 4 ? (1n << 32n) - 1n : (1n << 128n) - 1n);
          for (let i = 1; i < els.length; i++) expect(els[i].first).toBe(els[i - 1].last + 1n);
        }
        expect(new Set(t.identities.map((i) => i.id)).size).toBe(t.identities.length);
        expect(t.identities.every((i) => i.id !== 0)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('keep their numbers across changes when given the previous assignment', () => {
    const c = compileText(POLICIES, snapshot([{ name: 'web-1', labels: { app: 'web' }, ip: '10.0.0.1' }]));
    const a = computeMembership(c.program!, c.cluster);
    const forced = new Map([...a.assignment].map(([k]) => [k, 77 + k.length]));
    const b = computeMembership(c.program!, c.cluster, forced);
    expect(new Map(b.assignment)).toEqual(forced);
  });
});

describe('membershipDiff', () => {
  it('touches one element when a pod changes labels into an existing identity', () => {
    const c = compileText(
      POLICIES,
      snapshot([
        { name: 'web-1', labels: { app: 'web' }, ip: '10.0.0.1' },
        { name: 'web-2', labels: { app: 'web' }, ip: '10.0.0.2' },
        { name: 'client-1', labels: { app: 'client' }, ip: '10.0.0.3' },
        { name: 'client-2', labels: { app: 'client' }, ip: '10.0.0.4' },
      ]),
    );
    const before = computeMembership(c.program!, c.cluster);
    const changed = withPod(c.cluster, 'client-2', (p) => ({ ...p, labels: { app: 'web' } }));
    const after = computeMembership(c.program!, changed, before);
    const diff = membershipDiff(before, after);
    expect(diff.identity.delete.map((e) => e.pod)).toEqual(['prod/client-2']);
    expect(diff.identity.add.map((e) => e.pod)).toEqual(['prod/client-2']);
    expect(diff.pairs.add).toEqual([]);
    expect(diff.pairs.delete).toEqual([]);
    expect(diff.ports.add).toEqual([]);
    expect(diff.ports.delete).toEqual([]);
    expect(diffSize(diff)).toBe(2);
    // Rendered: one delete and one add in each of the two identity maps, deletes first.
    const doc = renderElementDiff(diff);
    const ops = doc.nftables.slice(1).map((c) => ('delete' in c && 'element' in c.delete ? `delete ${c.delete.element.name} ${c.delete.element.elem.length}` : 'add' in c && 'element' in c.add ? `add ${c.add.element.name} ${c.add.element.elem.length}` : '?'));
    expect(ops).toEqual(['delete dst_identity_v4 1', 'delete src_identity_v4 1', 'add dst_identity_v4 1', 'add src_identity_v4 1']);
  });

  it('applied to the old table gives the new table, and the result still matches the evaluator', () => {
    fc.assert(
      fc.property(randomCaseArb, fc.nat(), fc.constantFrom<Record<string, string>>({ app: 'web' }, { app: 'db', tier: 'be' }, {}), (rc, pick, labels) => {
        const c = compileText(rc.policies, rc.snapshot);
        const program = c.program!;
        const before = computeMembership(program, c.cluster);
        const victim = c.cluster.pods[pick % c.cluster.pods.length];
        const cluster2 = withPod(c.cluster, victim.name, (p) => ({ ...p, labels }));
        const after = computeMembership(program, cluster2, before);
        const interp = new NftInterpreter(emitNftables(program, c.cluster).document);
        interp.apply(renderElementDiff(membershipDiff(before, after)));
        const fresh = new NftInterpreter(emitNftables(program, cluster2, { previous: before }).document);
        for (const name of [MAP.srcIdentity(4), MAP.dstIdentity(6), MAP.srcWorld(4), MAP.dstWorld(4), MAP.srcWorld(6), MAP.pairs('egress'), MAP.pairs('ingress'), MAP.ports('egress'), MAP.ports('ingress'), MAP.isolated('ingress'), MAP.isolated('egress')]) {
          const norm = (xs: readonly unknown[]) => xs.map((x) => JSON.stringify(x)).sort();
          expect(norm(interp.elementsOf(name))).toEqual(norm(fresh.elementsOf(name)));
        }
        const { mismatches } = compareAll(interp, new Evaluator(program, cluster2), rc.ports.slice(0, 8), rc.externals.slice(0, 3));
        expect(mismatches).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });
});
