// Kernel tests: only inside network namespaces this file creates (pcnft-*), deleted afterwards.

import { describe, expect, it } from 'vitest';
import { compileSources } from '../../compiler/compile.js';
import type { ClusterPod } from '../../compiler/model/cluster.js';
import { loadCases } from '../../testkit/conformance.js';
import { computeMembership, diffSize, membershipDiff } from '../../compiler/emit/membership.js';
import { emitNftables, MAP, renderElementDiff } from '../../compiler/emit/nftables/ruleset.js';
import { applyElementDiff, applyRuleset, checkRuleset, kernelAvailable, listElements, NftError, withNetns } from './loader.js';
import { guardSuite } from '../../testkit/requirements.js';

const kernel = guardSuite('nft loader', await kernelAvailable());

function conformance(prefix: string, step = 0) {
  const c = loadCases().find((x) => x.file.startsWith(prefix))!;
  const s = c.steps[step];
  return compileSources([
    { name: 'policies.yaml', text: s.policies },
    { name: 'snapshot.yaml', text: s.snapshot },
  ]);
}

const MAPS = [MAP.srcIdentity(4), MAP.dstIdentity(4), MAP.srcIdentity(6), MAP.srcWorld(4), MAP.dstWorld(6), MAP.pairs('egress'), MAP.pairs('ingress'), MAP.ports('egress'), MAP.ports('ingress'), MAP.isolated('egress'), MAP.isolated('ingress')];

async function snapshotMaps(ns: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const m of MAPS) out[m] = (await listElements(ns, m)).map((e) => JSON.stringify(e)).sort();
  return out;
}

describe.skipIf(kernel.skip)(kernel.title, () => {
  it('applies element diffs in one batch; the result equals a fresh full load', async () => {
    const comp = conformance('022', 0); // ingress from updated pod: pod labels matter
    const program = comp.program!;
    const before = computeMembership(program, comp.cluster);
    const relabel = (p: ClusterPod): ClusterPod => (p.namespace === 'x' && p.name === 'b' ? { ...p, labels: { pod: 'b', pod2: 'updated' } } : p);
    const cluster2 = { ...comp.cluster, pods: comp.cluster.pods.map(relabel) };
    const after = computeMembership(program, cluster2, before);
    const diff = membershipDiff(before, after);
    expect(diffSize(diff)).toBeGreaterThan(0);
    await withNetns('pcnft', async (a) => {
      await withNetns('pcnft', async (b) => {
        await applyRuleset(a, emitNftables(program, comp.cluster).document);
        await applyElementDiff(a, diff);
        await applyRuleset(b, emitNftables(program, cluster2, { previous: before }).document);
        expect(await snapshotMaps(a)).toEqual(await snapshotMaps(b));
      });
    });
  });

  it('the skeleton (no snapshot) plus the daemon\'s element batch equals the full emission', async () => {
    const comp = conformance('009');
    const program = comp.program!;
    const m = computeMembership(program, comp.cluster);
    await withNetns('pcnft', async (a) => {
      await withNetns('pcnft', async (b) => {
        await applyRuleset(a, emitNftables(program).document);
        await applyElementDiff(a, membershipDiff(undefined, m));
        await applyRuleset(b, emitNftables(program, comp.cluster).document);
        expect(await snapshotMaps(a)).toEqual(await snapshotMaps(b));
      });
    });
  });

  it('a batch that deletes a missing element fails whole and changes nothing', async () => {
    const comp = conformance('035');
    const program = comp.program!;
    const m = computeMembership(program, comp.cluster);
    await withNetns('pcnft', async (ns) => {
      await applyRuleset(ns, emitNftables(program, comp.cluster).document);
      const before = await snapshotMaps(ns);
      const bogus = renderElementDiff({
        identity: { add: [], delete: [{ family: 4, first: 1n, last: 1n, identity: 5, pod: 'nowhere/missing' }] },
        world: { add: [], delete: [] },
        pairs: { add: [], delete: [] },
        ports: { add: [], delete: [] },
        isolated: { egress: { add: [123], delete: [] }, ingress: { add: [], delete: [] } },
      });
      await expect(applyRuleset(ns, bogus)).rejects.toBeInstanceOf(NftError);
      expect(await snapshotMaps(ns)).toEqual(before);
    });
  });

  it('full replace removes stale elements (delete table + add in one batch)', async () => {
    const comp = conformance('035');
    const program = comp.program!;
    await withNetns('pcnft', async (ns) => {
      await applyRuleset(ns, emitNftables(program, comp.cluster).document);
      await applyRuleset(ns, emitNftables(program).document); // no snapshot: empty maps
      for (const m of MAPS) expect(await listElements(ns, m)).toEqual([]);
    });
  });

  it('checkRuleset reports overlapping interval elements without loading anything', async () => {
    await withNetns('pcnft', async (ns) => {
      const r = await checkRuleset(ns, {
        nftables: [
          { add: { table: { family: 'inet', name: 'policyc' } } },
          { add: { map: { family: 'inet', table: 'policyc', name: 'm', type: 'ipv4_addr', map: 'mark', flags: ['interval'] } } },
          { add: { element: { family: 'inet', table: 'policyc', name: 'm', elem: [[{ prefix: { addr: '10.0.0.0', len: 8 } }, 1], [{ prefix: { addr: '10.1.0.0', len: 16 } }, 2]] } } },
        ],
      });
      expect(r.ok).toBe(false);
    });
  });
});
