// Pods of one family in `policyc lab`: the lab gives each pod exactly the families of its
// snapshot addresses. A mixed lab (IPv4-only, IPv6-only and dual-stack pods on 2 nodes): each
// pod's eth0 holds exactly its snapshot addresses (`ip -j addr`) and a default route per family
// it has; probes of both families equal `policyc reach --family` (a pod without an address of
// the family reaches nothing over it, as source or destination). A single-stack IPv6 lab
// (IPv6-only pods, Nodes with only an IPv6 pod CIDR): up, probe --family 6, apply, down.
// The first describe needs no kernel: the lab's planning of families and CIDRs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements } from '../../cni/testing/requirements.js';
import { guardSuite, requirementFrom } from '../../testkit/requirements.js';
import { compileSources } from '../../compiler/compile.js';
import { command as reachCommand } from '../../cli/commands/reach.js';
import { command as labCommand } from '../../cli/commands/lab.js';
import { describeOverlay } from '../overlay/vxlan.js';
import { labApply, labDown, labFamilies, labProbe, labStatus, labUp, planNodes } from './lab.js';
import { objectsOf } from './objects.js';
import { must } from './run.js';
import { listNetns } from './topology.js';
import { cell, cli, offDiagonal, reach, suiteLab, type Matrix } from './testing.js';

const kernel = guardSuite('policyc lab, single-family pods (network namespaces)', requirementFrom(missingRequirements({ tools: ['nft', 'bridge', 'sysctl'] }), 'install it, see cni/README.md'));

// ---- data

const PORTS = [
  { name: 'http', containerPort: 80, protocol: 'TCP' },
  { name: 'dns', containerPort: 53, protocol: 'UDP' },
];

const ns = (name: string, team: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, team } } });
const node = (name: string, podCIDRs: string[]) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDR: podCIDRs[0], podCIDRs } });
const pod = (namespace: string, name: string, nodeName: string, ips: string[]) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, labels: { app: name } },
  spec: { nodeName, containers: [{ name: 'c', image: 'none', ports: PORTS }] },
  ...(ips.length ? { status: { phase: 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } } : {}),
});
const list = (items: unknown[]) => `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 1)}\n`;

/** 2 dual-stack nodes; pods of every kind of family on both. */
const MIXED = list([
  ns('web', 'a'),
  ns('ops', 'b'),
  node('node-1', ['10.244.1.0/24', 'fd00:10:244:1::/64']),
  node('node-2', ['10.244.2.0/24', 'fd00:10:244:2::/64']),
  pod('web', 'four', 'node-1', ['10.244.1.10']),
  pod('web', 'six', 'node-1', ['fd00:10:244:1::10']),
  pod('web', 'dual', 'node-2', ['10.244.2.10', 'fd00:10:244:2::10']),
  pod('ops', 'six2', 'node-2', ['fd00:10:244:2::20']),
  pod('ops', 'four2', 'node-2', ['10.244.2.20']),
]);
const MIXED_PODS = ['ops/four2', 'ops/six2', 'web/dual', 'web/four', 'web/six'];
/** every pod's snapshot addresses: what its eth0 must hold, no more */
const MIXED_ADDRS: Record<string, string[]> = {
  'web/four': ['10.244.1.10'],
  'web/six': ['fd00:10:244:1::10'],
  'web/dual': ['10.244.2.10', 'fd00:10:244:2::10'],
  'ops/six2': ['fd00:10:244:2::20'],
  'ops/four2': ['10.244.2.20'],
};

// web/dual: http from app=six (its IPv6 address: IPv6 only, it has no other) and from team=b
// namespaces; ops/six2: TCP 80 and UDP 53 from node-1's IPv6 pod range only; web/four egress:
// only to 10.244.2.0/24 (IPv4 pods of node-2).
const POLICIES = [
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'dual-in', namespace: 'web' },
    spec: { podSelector: { matchLabels: { app: 'dual' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'six' } } }, { namespaceSelector: { matchLabels: { team: 'b' } } }], ports: [{ port: 'http' }] }] },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'six2-in', namespace: 'ops' },
    spec: { podSelector: { matchLabels: { app: 'six2' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ ipBlock: { cidr: 'fd00:10:244:1::/64' } }], ports: [{ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }] }] },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'four-out', namespace: 'web' },
    spec: { podSelector: { matchLabels: { app: 'four' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.2.0/24' } }] }] },
  },
];

/** An IPv6-only cluster: Nodes with only an IPv6 pod CIDR, IPv6-only pods (one without an address). */
const V6ONLY = list([
  ns('web', 'a'),
  ns('ops', 'b'),
  node('node-1', ['fd00:20::/64']),
  node('node-2', ['fd00:21::/64']),
  pod('web', 'a', 'node-1', ['fd00:20::a']),
  pod('web', 'b', 'node-2', ['fd00:21::b']),
  pod('ops', 'c', 'node-2', []),
]);

// ---- helpers



const row = (m: Matrix, of: string) => m.allowed[m.pods.indexOf(of)]!;
const column = (m: Matrix, of: string) => m.allowed.map((r) => r[m.pods.indexOf(of)]);

/** The lab's own cluster objects as a snapshot file, for `policyc reach`. */
function labSnapshot(lab: string, dir: string): string {
  const s = labStatus(lab);
  const path = join(dir, `${lab}-state.json`);
  writeFileSync(path, list([...Object.values(s.objects.namespaces), ...Object.values(s.objects.nodes), ...Object.values(s.objects.pods)]));
  return path;
}

/** A pod's global addresses on eth0 and its default routes per family, from inside its netns. */
async function podNet(netns: string): Promise<{ addrs: string[]; default4: boolean; default6: boolean }> {
  const [link] = JSON.parse(await must('ip', ['-j', '-n', netns, 'addr', 'show', 'dev', 'eth0'])) as Array<{ addr_info: Array<{ local: string; scope: string }> }>;
  const defaults = async (family: string) => (JSON.parse(await must('ip', ['-j', family, '-n', netns, 'route', 'show', 'default'])) as unknown[]).length > 0;
  return { addrs: link!.addr_info.filter((a) => a.scope === 'global').map((a) => a.local).sort(), default4: await defaults('-4'), default6: await defaults('-6') };
}

// ---- without a kernel

describe('lab planning by family', () => {
  const objects = (text: string) => objectsOf(compileSources([{ name: 'c.json', text }]).inputs);

  it('a mixed snapshot is dual-stack; an IPv6-only one has no IPv4 anywhere', () => {
    expect(labFamilies(objects(MIXED))).toEqual({ v4: true, v6: true });
    expect(planNodes(objects(MIXED))).toEqual([
      { name: 'node-1', podCidr: '10.244.1.0/24', podCidr6: 'fd00:10:244:1::/64' },
      { name: 'node-2', podCidr: '10.244.2.0/24', podCidr6: 'fd00:10:244:2::/64' },
    ]);
    expect(labFamilies(objects(V6ONLY))).toEqual({ v4: false, v6: true });
    expect(planNodes(objects(V6ONLY))).toEqual([
      { name: 'node-1', podCidr6: 'fd00:20::/64' },
      { name: 'node-2', podCidr6: 'fd00:21::/64' },
    ]);
    // without Node objects the IPv6-only pods still make an IPv6-only lab (CIDRs from their addresses)
    const bare = list([pod('web', 'a', 'node-1', ['fd00:30::a']), pod('web', 'b', 'node-2', ['fd00:31::b'])]);
    expect(planNodes(objects(bare))).toEqual([
      { name: 'node-1', podCidr6: 'fd00:30::/64' },
      { name: 'node-2', podCidr6: 'fd00:31::/64' },
    ]);
    // and a snapshot with no address at all stays IPv4, as before
    expect(labFamilies(objects(list([pod('web', 'a', 'node-1', [])])))).toEqual({ v4: true, v6: false });
  });

  it('`policyc reach --family 4` leaves IPv6-only pods out as source and destination (and --family 6 the IPv4-only ones)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'policyc-ipv6-only-'));
    try {
      writeFileSync(join(dir, 'cluster.json'), MIXED);
      const v4 = await reach([join(dir, 'cluster.json')], '80', 'TCP', 4);
      const v6 = await reach([join(dir, 'cluster.json')], '80', 'TCP', 6);
      expect(v4.pods).toEqual(MIXED_PODS);
      for (const p of ['web/six', 'ops/six2']) expect([...row(v4, p), ...column(v4, p)].every((a) => !a)).toBe(true);
      for (const p of ['web/four', 'ops/four2']) expect([...row(v6, p), ...column(v6, p)].every((a) => !a)).toBe(true);
      expect(cell(v4, 'web/four', 'web/dual')).toBe(true);
      expect(cell(v6, 'web/six', 'web/dual')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- on the kernel

describe.skipIf(kernel.skip)(`policyc lab, IPv4-only, IPv6-only and dual-stack pods${kernel.suffix}`, () => {
  const { name: LAB, dir } = suiteLab('m', ({ dir }) => {
    writeFileSync(join(dir, 'cluster.json'), MIXED);
    writeFileSync(join(dir, 'policies.json'), list(POLICIES));
    return [join(dir, 'cluster.json')];
  });

  it('gives each pod exactly the families of its snapshot addresses, on either node', async () => {
    const s = labStatus(LAB);
    expect(Object.keys(s.pods).sort()).toEqual(MIXED_PODS);
    for (const [key, addrs] of Object.entries(MIXED_ADDRS)) {
      const p = s.pods[key]!;
      const net = await podNet(p.netns);
      expect(net.addrs, key).toEqual([...addrs].sort());
      expect(net.default4, `${key} IPv4 default route`).toBe(addrs.some((a) => a.includes('.')));
      expect(net.default6, `${key} IPv6 default route`).toBe(addrs.some((a) => a.includes(':')));
      expect([p.ip, p.ip6].filter(Boolean)).toEqual(addrs);
      // the cluster object the lab compiles: the same addresses, podIP the first
      expect(s.objects.pods[key]!.status).toMatchObject({ podIP: addrs[0], podIPs: addrs.map((ip) => ({ ip })) });
    }
    expect(s.pods['web/six']!.ip).toBeUndefined();
    expect(s.pods['web/four']!.ip6).toBeUndefined();
  });

  it('without policies: every pair with the family is reachable, the others are not, as `policyc reach` says', async () => {
    const snap = labSnapshot(LAB, dir);
    for (const family of [4, 6] as const) {
      for (const [port, protocol] of [['80', 'TCP'], ['53', 'UDP']] as const) {
        const lab = await labProbe(LAB, Number(port), protocol, { family });
        expect(lab.pods).toEqual(MIXED_PODS);
        // no policy: loopback is allowed for reach too, so the whole matrix agrees, diagonal included
        expect({ pods: lab.pods, allowed: lab.allowed }, `IPv${family} ${port}/${protocol}`).toEqual(await reach([snap], port, protocol, family));
        const has = (p: string) => MIXED_ADDRS[p]!.some((a) => (family === 4 ? a.includes('.') : a.includes(':')));
        for (const [i, from] of lab.pods.entries()) for (const [j, to] of lab.pods.entries()) expect(lab.allowed[i]![j], `IPv${family} ${from} -> ${to}`).toBe(has(from) && has(to));
        // only pairs that both have the family were probed at all
        const n = MIXED_PODS.filter(has).length;
        expect(lab.probes).toBe(n * n);
      }
    }
  });

  it('with policies: each family\'s matrix equals `policyc reach --family`, also through `lab probe -o json`', async () => {
    const applied = await cli(labCommand, ['apply', '--name', LAB, '-f', join(dir, 'policies.json')]);
    expect(applied.code, applied.stderr).toBe(0);
    const snap = labSnapshot(LAB, dir);
    const policies = join(dir, 'policies.json');
    const seen: Record<string, Matrix> = {};
    for (const family of [4, 6] as const) {
      for (const [port, protocol] of [['http', 'TCP'], ['80', 'TCP'], ['53', 'UDP']] as const) {
        const lab = await labProbe(LAB, /^\d+$/.test(port) ? Number(port) : port, protocol, { family });
        expect(offDiagonal(lab), `IPv${family} ${port}/${protocol}`).toEqual(offDiagonal(await reach([policies, snap], port, protocol, family)));
        seen[`${family} ${port}/${protocol}`] = lab;
      }
      const viaCli = await cli(labCommand, ['probe', '--name', LAB, '--port', '80', '--protocol', 'TCP', '--family', String(family), '-o', 'json']);
      expect(viaCli.code, viaCli.stderr).toBe(0);
      expect(offDiagonal(JSON.parse(viaCli.stdout) as Matrix)).toEqual(offDiagonal(await reach([policies, snap], '80', 'TCP', family)));
    }
    // the policies decide per family: web/six reaches web/dual over IPv6 (its only family),
    // ops/four2 over IPv4; web/four sends only to node-2's IPv4 pods; only node-1's IPv6 pods
    // reach ops/six2
    expect(cell(seen['6 80/TCP']!, 'web/six', 'web/dual')).toBe(true);
    expect(cell(seen['4 80/TCP']!, 'ops/four2', 'web/dual')).toBe(true);
    expect(cell(seen['4 80/TCP']!, 'web/four', 'ops/four2')).toBe(true);
    expect(cell(seen['4 80/TCP']!, 'web/four', 'web/dual')).toBe(false); // its egress allows it, web/dual's ingress does not
    expect(cell(seen['6 80/TCP']!, 'web/dual', 'ops/six2')).toBe(false);
    expect(cell(seen['6 80/TCP']!, 'web/six', 'ops/six2')).toBe(true);
    expect(cell(seen['6 53/UDP']!, 'web/six', 'ops/six2')).toBe(true);
    expect(cell(seen['4 80/TCP']!, 'web/six', 'web/dual')).toBe(false); // no IPv4 address to send from
  });

  it('apply: the snapshot\'s families decide (an IPv6 address alone recreates a dual-stack pod as IPv6-only)', async () => {
    const created = await labApply({ name: LAB, sources: [{ name: 'new.json', text: list([pod('ops', 'late6', 'node-1', ['fd00:10:244:1::30']), pod('ops', 'lateany', 'node-1', [])]) }] });
    expect(created.created.sort()).toEqual(['ops/late6', 'ops/lateany']);
    let s = labStatus(LAB);
    expect((await podNet(s.pods['ops/late6']!.netns)).addrs).toEqual(['fd00:10:244:1::30']);
    // no address in the snapshot: every family of its node
    const any = s.pods['ops/lateany']!;
    expect(any.ip).toMatch(/^10\.244\.1\.\d+$/);
    expect(any.ip6).toMatch(/^fd00:10:244:1::[0-9a-f]+$/);
    expect((await podNet(any.netns)).addrs).toEqual([any.ip, any.ip6].sort());
    // re-applied without status: kept as it is
    const again = await labApply({ name: LAB, sources: [{ name: 'again.json', text: list([pod('ops', 'lateany', 'node-1', [])]) }] });
    expect(again.recreated).toEqual([]);
    // web/dual given only its IPv6 address: recreated without IPv4
    const v6 = await labApply({ name: LAB, sources: [{ name: 'six.json', text: list([pod('web', 'dual', 'node-2', ['fd00:10:244:2::10'])]) }] });
    expect(v6.recreated).toEqual(['web/dual']);
    s = labStatus(LAB);
    expect(s.pods['web/dual']!.ip).toBeUndefined();
    const net = await podNet(s.pods['web/dual']!.netns);
    expect(net).toEqual({ addrs: ['fd00:10:244:2::10'], default4: false, default6: true });
    const snap = labSnapshot(LAB, dir);
    for (const family of [4, 6] as const) {
      const lab = await labProbe(LAB, 80, 'TCP', { family });
      expect(offDiagonal(lab), `IPv${family}`).toEqual(offDiagonal(await reach([join(dir, 'policies.json'), snap], '80', 'TCP', family)));
    }
  });

  it('down removes every namespace of the lab', async () => {
    const r = await labDown(LAB);
    expect(r.leftNetns).toEqual([]);
    expect(r.leftProcesses).toEqual([]);
    expect((await listNetns()).filter((n) => n.startsWith(`pl-${LAB}-`))).toEqual([]);
  });
});

describe.skipIf(kernel.skip)(`policyc lab, IPv6-only${kernel.suffix}`, () => {
  const { name: LAB, dir } = suiteLab('s');

  it('up, probe --family 6, apply, down: no IPv4 on pods, nodes or the overlay', async () => {
    writeFileSync(join(dir, 'cluster.json'), V6ONLY);
    const up = await cli(labCommand, ['up', '--name', LAB, '-f', join(dir, 'cluster.json')]);
    expect(up.code, up.stderr).toBe(0);
    const s = labStatus(LAB);
    expect(s.nodes.map((n) => [n.name, n.podCidr, n.podCidr6])).toEqual([
      ['node-1', undefined, 'fd00:20::/64'],
      ['node-2', undefined, 'fd00:21::/64'],
    ]);
    for (const n of s.nodes) {
      const overlay = await describeOverlay(n.netns);
      expect(overlay.routes).toEqual([]);
      expect(overlay.routes6).toEqual([s.nodes.find((o) => o !== n)!.podCidr6]);
      const [vx] = JSON.parse(await must('ip', ['-j', '-4', '-n', n.netns, 'addr', 'show', 'dev', 'vxlan0'])) as Array<{ addr_info: unknown[] }>;
      expect(vx?.addr_info ?? []).toEqual([]);
    }
    expect((await podNet(s.pods['web/a']!.netns))).toEqual({ addrs: ['fd00:20::a'], default4: false, default6: true });
    expect((await podNet(s.pods['web/b']!.netns))).toEqual({ addrs: ['fd00:21::b'], default4: false, default6: true });
    const c = s.pods['ops/c']!;
    expect(c.ip).toBeUndefined();
    expect(c.ip6).toMatch(/^fd00:21::[0-9a-f]+$/);
    expect((await podNet(c.netns)).addrs).toEqual([c.ip6]);

    const all = await labProbe(LAB, 80, 'TCP', { family: 6 });
    expect(all.pods).toEqual(['ops/c', 'web/a', 'web/b']);
    expect(all.allowed.flat().every((a) => a)).toBe(true);
    await expect(labProbe(LAB, 80, 'TCP', { family: 4 })).rejects.toThrow(/IPv6-only/);
    // without --family an IPv6-only lab probes its one family, as `policyc reach` without --family reads these pods
    const plain = await cli(labCommand, ['probe', '--name', LAB, '--port', '80', '-o', 'json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout)).toEqual({ pods: all.pods, allowed: all.allowed });

    // a policy and a new pod; an IPv4 address is refused before anything changes
    writeFileSync(join(dir, 'policies.json'), list([{ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'a-in', namespace: 'web' }, spec: { podSelector: { matchLabels: { app: 'a' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }], ports: [{ port: 'http' }] }] } }]));
    const applied = await cli(labCommand, ['apply', '--name', LAB, '-f', join(dir, 'policies.json')]);
    expect(applied.code, applied.stderr).toBe(0);
    await expect(labApply({ name: LAB, sources: [{ name: 'v4.json', text: list([pod('ops', 'd', 'node-1', ['10.244.1.5'])]) }] })).rejects.toThrow(/IPv6-only/);
    expect(labStatus(LAB).pods['ops/d']).toBeUndefined();
    const added = await labApply({ name: LAB, sources: [{ name: 'd.json', text: list([pod('ops', 'd', 'node-1', [])]) }] });
    expect(added.created).toEqual(['ops/d']);
    expect(labStatus(LAB).pods['ops/d']!.ip6).toMatch(/^fd00:20::[0-9a-f]+$/);
    const snap = labSnapshot(LAB, dir);
    for (const [port, protocol] of [['http', 'TCP'], ['53', 'UDP']] as const) {
      const lab = await labProbe(LAB, /^\d+$/.test(port) ? Number(port) : port, protocol, { family: 6 });
      expect(offDiagonal(lab), `${port}/${protocol}`).toEqual(offDiagonal(await reach([join(dir, 'policies.json'), snap], port, protocol, 6)));
    }
    const m = await labProbe(LAB, 80, 'TCP', { family: 6 });
    expect(cell(m, 'ops/c', 'web/a')).toBe(true);
    expect(cell(m, 'web/b', 'web/a')).toBe(false);

    const down = await labDown(LAB);
    expect(down.leftNetns).toEqual([]);
    expect(down.leftProcesses).toEqual([]);
    expect((await listNetns()).filter((n) => n.startsWith(`pl-${LAB}-`))).toEqual([]);
  }, 180_000);
});
