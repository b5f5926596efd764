// The overlay's notrack table (./untrack.ts): the document, exactly; then on the kernel, in a
// dual-stack lab (testdata/lab-dualstack/, 2 nodes, IPv4 and IPv6 pods riding the IPv4 VXLAN,
// policies loaded by the node daemons): after connections between pods across the nodes, each
// node's conntrack table holds the inner TCP flows but no entry for UDP 4789, and the policy
// still decides every pair as `policyc reach` does. Removing the table brings the entries back,
// which shows the check can see them.
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { missingRequirements } from '../../cni/testing/requirements.js';
import { guardSuite, requirementFrom } from '../../testkit/requirements.js';
import { command as labCommand } from '../../cli/commands/lab.js';
import { checkRuleset, listTable } from '../nft/loader.js';
import { labProbe, labStatus } from '../lab/lab.js';
import { must } from '../lab/run.js';
import { cli, offDiagonal, reach, suiteLab, vxlanTx } from '../lab/testing.js';
import { VXLAN_PORT } from './vxlan.js';
import { encapsulationEntries, OVERLAY_TABLE, RAW_PRIORITY, trackEncapsulation, untrackDocument, untrackEncapsulation } from './untrack.js';

describe('untrackDocument', () => {
  it('notracks exactly UDP to the overlay port between the node and its peers, at the raw priority', () => {
    const doc = untrackDocument({ local: '192.168.200.1', peers: ['192.168.200.3', '192.168.200.2', '192.168.200.3'], port: 4789 });
    const ip = (field: string) => ({ payload: { protocol: 'ip', field } });
    const dport = { match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: 4789 } };
    const peers = { set: ['192.168.200.2', '192.168.200.3'] };
    expect(doc.nftables).toEqual([
      { metainfo: { json_schema_version: 1 } },
      { add: { table: { family: 'inet', name: 'policyc_overlay' } } },
      { delete: { table: { family: 'inet', name: 'policyc_overlay' } } },
      { add: { table: { family: 'inet', name: 'policyc_overlay' } } },
      { add: { chain: { family: 'inet', table: 'policyc_overlay', name: 'prerouting', type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } } },
      { add: { chain: { family: 'inet', table: 'policyc_overlay', name: 'output', type: 'filter', hook: 'output', prio: -300, policy: 'accept' } } },
      {
        add: {
          rule: {
            family: 'inet',
            table: 'policyc_overlay',
            chain: 'prerouting',
            comment: 'overlay encapsulation from a peer node: not tracked',
            expr: [{ match: { op: '==', left: ip('daddr'), right: '192.168.200.1' } }, dport, { match: { op: 'in', left: ip('saddr'), right: peers } }, { notrack: null }],
          },
        },
      },
      {
        add: {
          rule: {
            family: 'inet',
            table: 'policyc_overlay',
            chain: 'output',
            comment: 'overlay encapsulation to a peer node: not tracked',
            expr: [{ match: { op: '==', left: ip('saddr'), right: '192.168.200.1' } }, dport, { match: { op: 'in', left: ip('daddr'), right: peers } }, { notrack: null }],
          },
        },
      },
    ]);
    // deterministic whatever the peers' order
    expect(untrackDocument({ local: '192.168.200.1', peers: ['192.168.200.2', '192.168.200.3'], port: 4789 })).toEqual(doc);
  });

  it('matches ip6 for an IPv6 underlay and refuses mixed families, itself as a peer, no peer, bad ports', () => {
    const doc = untrackDocument({ local: 'fd00:200::1', peers: ['fd00:200::2'], port: 8472 });
    expect(JSON.stringify(doc)).toContain('"protocol":"ip6"');
    expect(JSON.stringify(doc)).not.toContain('"protocol":"ip"');
    expect(JSON.stringify(doc)).toContain('"right":8472');
    expect(() => untrackDocument({ local: '192.168.200.1', peers: ['fd00:200::2'], port: 4789 })).toThrow(/not IPv4/);
    expect(() => untrackDocument({ local: '192.168.200.1', peers: ['192.168.200.1'], port: 4789 })).toThrow(/other than/);
    expect(() => untrackDocument({ local: '192.168.200.1', peers: [], port: 4789 })).toThrow(/no peer/);
    expect(() => untrackDocument({ local: '192.168.200.1', peers: ['192.168.200.2'], port: 0 })).toThrow(/not a UDP port/);
  });
});

const DATA = 'testdata/lab-dualstack';
const kernel = guardSuite('the overlay untracks its encapsulation (network namespaces)', requirementFrom(missingRequirements({ tools: ['nft', 'bridge', 'sysctl', 'conntrack'] }), 'install it, see cni/README.md'));

/** Inner TCP flows to `port` conntrack holds in `netns`: "src dst" of each original direction. */
async function tcpFlows(netns: string, port: number): Promise<string[]> {
  const out = await must('ip', ['netns', 'exec', netns, 'conntrack', '-L', '-p', 'tcp', '--dport', String(port)]);
  return out
    .split('\n')
    .filter((l) => l.startsWith('tcp'))
    .map((l) => {
      const src = /src=(\S+)/.exec(l)![1];
      const dst = /dst=(\S+)/.exec(l)![1];
      return `${src} ${dst}`;
    });
}

describe.skipIf(kernel.skip)(kernel.title, () => {
  const { name: LAB, dir } = suiteLab('o', () => [join(DATA, 'cluster.yaml')]);

  it('each node has the overlay table: raw-priority prerouting and output chains (an IPv6 one loads too)', async () => {
    for (const n of labStatus(LAB).nodes) {
      const listed = await listTable(n.netns, OVERLAY_TABLE);
      const chains = listed.nftables.flatMap((o) => (o.chain ? [o.chain as { name: string; hook: string; prio: number }] : []));
      expect(chains.map((c) => [c.name, c.hook, c.prio])).toEqual([
        ['prerouting', 'prerouting', RAW_PRIORITY],
        ['output', 'output', RAW_PRIORITY],
      ]);
    }
    // the lab's underlay is IPv4; the kernel also accepts the table for an IPv6 one (nft -c, nothing committed)
    const v6 = await checkRuleset(labStatus(LAB).nodes[0]!.netns, JSON.stringify(untrackDocument({ local: 'fd00:200::1', peers: ['fd00:200::2'], port: VXLAN_PORT })));
    expect(v6.ok, v6.stderr).toBe(true);
  });

  it('after connections across the nodes, conntrack holds the inner TCP flows and nothing for UDP 4789; the policy still decides', async () => {
    const applied = await cli(labCommand, ['apply', '--name', LAB, '-f', join(DATA, 'policies.yaml')]);
    expect(applied.code, applied.stderr).toBe(0);
    const s = labStatus(LAB);
    const snap = join(dir, 'lab-state.json');
    writeFileSync(snap, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...Object.values(s.objects.namespaces), ...Object.values(s.objects.nodes), ...Object.values(s.objects.pods)] }));
    const txBefore = await vxlanTx(s.nodes[0]!.netns);
    for (const family of [4, 6] as const) {
      const lab = await labProbe(LAB, 80, 'TCP', { family });
      const expected = await reach([join(DATA, 'policies.yaml'), snap], '80', 'TCP', family);
      expect(offDiagonal(lab), `IPv${family}`).toEqual(offDiagonal(expected));
      // a flow the policy denies and one it allows, across nodes: the matrix is not trivial
      const crossNode = lab.pods.flatMap((from, i) => lab.pods.map((to, j) => ({ from: s.pods[from]!, to: s.pods[to]!, allowed: lab.allowed[i]![j]! }))).filter((c) => c.from.node !== c.to.node);
      expect(crossNode.some((c) => c.allowed)).toBe(true);
      expect(crossNode.some((c) => !c.allowed)).toBe(true);
      for (const n of s.nodes) {
        const flows = await tcpFlows(n.netns, 80);
        for (const c of crossNode.filter((x) => x.allowed)) {
          const flow = family === 4 ? `${c.from.ip} ${c.to.ip}` : `${c.from.ip6} ${c.to.ip6}`;
          expect(flows, `${n.name}: the inner flow ${flow}`).toContain(flow);
        }
      }
    }
    expect((await vxlanTx(s.nodes[0]!.netns)) - txBefore).toBeGreaterThan(3);
    for (const n of s.nodes) expect(await encapsulationEntries(n.netns, VXLAN_PORT), n.name).toBe(0);
  });

  it('without the table the same connections leave UDP 4789 entries (so the check above can see them)', async () => {
    const nodes = labStatus(LAB).nodes;
    try {
      for (const n of nodes) await trackEncapsulation(n.netns);
      await labProbe(LAB, 80, 'TCP', { family: 4 });
      for (const n of nodes) expect(await encapsulationEntries(n.netns, VXLAN_PORT), n.name).toBeGreaterThan(0);
    } finally {
      for (const n of nodes) await untrackEncapsulation(n.netns, { local: n.underlayIp, peers: nodes.filter((p) => p !== n).map((p) => p.underlayIp), port: VXLAN_PORT });
    }
  });
});
