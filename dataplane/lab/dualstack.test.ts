// Dual-stack `policyc lab` on the kernel: a snapshot whose pods have an IPv4 and an IPv6
// address (testdata/lab-dualstack/) gives nodes both pod CIDRs (Node spec.podCIDRs), pods both
// addresses from our CNI plugin, IPv6 routes between nodes over the VXLAN overlay (IPv4
// underlay), servers on both families, and probes per family that equal `policyc reach
// --family` (IPv6 ipBlocks with except enforced on IPv6 probes, pod selectors on both).
// The first describe needs no kernel: `policyc reach --family` on the same data.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements } from '../../cni/testing/requirements.js';
import { guardSuite, requirementFrom } from '../../testkit/requirements.js';
import { command as reachCommand } from '../../cli/commands/reach.js';
import { command as labCommand } from '../../cli/commands/lab.js';
import { describeOverlay } from '../overlay/vxlan.js';
import { labApply, labDown, labProbe, labStatus, labUp } from './lab.js';
import { must } from './run.js';
import { listNetns } from './topology.js';
import { cell, cli, offDiagonal, reach, suiteLab, vxlanTx, type Matrix } from './testing.js';

const DATA = 'testdata/lab-dualstack';
const CLUSTER = join(DATA, 'cluster.yaml');
const POLICIES = join(DATA, 'policies.yaml');
const PODS = ['ops/mon', 'ops/tool', 'web/back', 'web/db', 'web/front'];




describe('policyc reach --family on the dual-stack data', () => {
  it('resolves each pod to its address of the family: IPv6 ipBlocks decide IPv6 flows only', async () => {
    const v4 = await reach([DATA], '80', 'TCP', 4);
    const v6 = await reach([DATA], '80', 'TCP', 6);
    expect(v4.pods).toEqual(PODS);
    expect(v6.pods).toEqual(PODS);
    // without --family: the IPv4 matrix, as before
    expect(await reach([DATA], '80', 'TCP')).toEqual(v4);
    // web/back: http from app=front (both families); node-1's IPv6 range except ops/mon (IPv6 only)
    expect(cell(v4, 'web/front', 'web/back')).toBe(true);
    expect(cell(v6, 'web/front', 'web/back')).toBe(true);
    expect(cell(v4, 'web/db', 'web/back')).toBe(false);
    expect(cell(v6, 'web/db', 'web/back')).toBe(true);
    expect(cell(v6, 'ops/mon', 'web/back')).toBe(false); // the except
    expect(cell(v6, 'ops/tool', 'web/back')).toBe(false); // node-2: outside the block
    // web/db egress: fd00::/8 except node-2's range
    expect(cell(v6, 'web/db', 'ops/mon')).toBe(true);
    expect(cell(v4, 'web/db', 'ops/mon')).toBe(false);
    expect(cell(v6, 'web/db', 'ops/tool')).toBe(false);
    const udp6 = await reach([DATA], '53', 'UDP', 6);
    // ops/tool: UDP from ::/0 except node-1's range; web/back is on node-2
    expect(cell(udp6, 'web/back', 'ops/tool')).toBe(true);
    expect(cell(udp6, 'web/front', 'ops/tool')).toBe(false);
    expect(cell(await reach([DATA], '53', 'UDP', 4), 'web/back', 'ops/tool')).toBe(false);
  });

  it('a pod without an address of the family reaches nothing over it; bad families are usage errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'policyc-reach-family-'));
    try {
      const snapshot = readFileSync(CLUSTER, 'utf8').replace("podIPs: [{ip: 10.244.2.20}, {ip: 'fd00:10:244:2::20'}]", 'podIPs: [{ip: 10.244.2.20}]');
      expect(snapshot).not.toContain('fd00:10:244:2::20');
      writeFileSync(join(dir, 'cluster.yaml'), snapshot);
      const v6 = await reach([join(dir, 'cluster.yaml')], '80', 'TCP', 6);
      const tool = v6.pods.indexOf('ops/tool');
      expect(v6.allowed[tool]!.every((a) => !a)).toBe(true);
      expect(v6.allowed.every((row) => !row[tool])).toBe(true);
      expect(v6.allowed.flat().some((a) => a)).toBe(true); // the other pods still reach each other
      const v4 = await reach([join(dir, 'cluster.yaml')], '80', 'TCP', 4);
      expect(v4.allowed[tool]!.every((a) => a)).toBe(true);
      const bad = await cli(reachCommand, ['-f', DATA, '--port', '80', '--family', '5']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--family 4|6');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const kernel = guardSuite('policyc lab dual-stack (network namespaces)', requirementFrom(missingRequirements({ tools: ['nft', 'bridge', 'sysctl'] }), 'install it, see cni/README.md'));

describe.skipIf(kernel.skip)(`policyc lab, dual-stack${kernel.suffix}`, () => {
  const { name: LAB, dir } = suiteLab('d', () => [CLUSTER]);

  it('gives nodes both pod CIDRs, pods both addresses, and IPv6 routes over the overlay', async () => {
    const s = labStatus(LAB);
    expect(s.nodes.map((n) => [n.name, n.podCidr, n.podCidr6])).toEqual([
      ['node-1', '10.244.1.0/24', 'fd00:10:244:1::/64'],
      ['node-2', '10.244.2.0/24', 'fd00:10:244:2::/64'],
    ]);
    for (const n of s.nodes) {
      const peer = s.nodes.find((o) => o !== n)!;
      const overlay = await describeOverlay(n.netns);
      expect(overlay.routes).toContain(peer.podCidr);
      expect(overlay.routes6).toEqual([peer.podCidr6]);
      expect((await must('ip', ['netns', 'exec', n.netns, 'sysctl', '-n', 'net.ipv6.conf.all.forwarding'])).trim()).toBe('1');
    }
    expect(Object.values(s.pods).map((p) => [`${p.namespace}/${p.name}`, p.ip, p.ip6]).sort()).toEqual([
      ['ops/mon', '10.244.1.20', 'fd00:10:244:1::20'],
      ['ops/tool', '10.244.2.20', 'fd00:10:244:2::20'],
      ['web/back', '10.244.2.10', 'fd00:10:244:2::10'],
      ['web/db', '10.244.1.11', 'fd00:10:244:1::11'],
      ['web/front', '10.244.1.10', 'fd00:10:244:1::10'],
    ]);
    for (const p of Object.values(s.pods)) {
      const [link] = JSON.parse(await must('ip', ['-j', '-n', p.netns, 'addr', 'show', 'dev', 'eth0'])) as Array<{ addr_info: Array<{ local: string }> }>;
      expect(link!.addr_info.map((a) => a.local)).toEqual(expect.arrayContaining([p.ip, p.ip6]));
      expect(s.objects.pods[`${p.namespace}/${p.name}`]!.status).toMatchObject({ podIP: p.ip, podIPs: [{ ip: p.ip }, { ip: p.ip6 }] });
    }
  });

  it('without policies every pair is reachable over IPv6 (TCP, UDP, SCTP), across nodes through the overlay', async () => {
    const n1 = labStatus(LAB).nodes[0]!;
    const before = await vxlanTx(n1.netns);
    for (const [port, protocol] of [[80, 'TCP'], [53, 'UDP'], [9000, 'SCTP'], [81, 'TCP']] as const) {
      const m = await labProbe(LAB, port, protocol, { family: 6 });
      expect(m.pods).toEqual(PODS);
      expect(m.probes).toBe(25);
      expect(m.allowed.flat().every((a) => a), `${port}/${protocol}`).toBe(true);
    }
    expect((await vxlanTx(n1.netns)) - before).toBeGreaterThan(3);
  });

  it('with IPv6 ipBlocks and pod selectors: each family\'s matrix equals `policyc reach --family`', async () => {
    const applied = await cli(labCommand, ['apply', '--name', LAB, '-f', POLICIES]);
    expect(applied.code, applied.stderr).toBe(0);
    // reach over the lab's own state, exactly what it holds
    const s = labStatus(LAB);
    const snap = join(dir, 'lab-state.json');
    writeFileSync(snap, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...Object.values(s.objects.namespaces), ...Object.values(s.objects.nodes), ...Object.values(s.objects.pods)] }));
    const seen: Record<string, Matrix> = {};
    for (const family of [4, 6] as const) {
      for (const [port, protocol] of [['http', 'TCP'], ['80', 'TCP'], ['dns', 'UDP'], ['53', 'UDP'], ['9000', 'SCTP']] as const) {
        const lab = await labProbe(LAB, /^\d+$/.test(port) ? Number(port) : port, protocol, { family });
        const expected = await reach([POLICIES, snap], port, protocol, family);
        expect(lab.pods).toEqual(PODS);
        expect(offDiagonal(lab), `IPv${family} ${port}/${protocol}`).toEqual(offDiagonal(expected));
        seen[`${family} ${port}/${protocol}`] = lab;
      }
    }
    // the command line gives the same matrix (`policyc lab probe --family 6 -o json`)
    const viaCli = await cli(labCommand, ['probe', '--name', LAB, '--port', '80', '--protocol', 'TCP', '--family', '6', '-o', 'json']);
    expect(viaCli.code, viaCli.stderr).toBe(0);
    expect(offDiagonal(JSON.parse(viaCli.stdout) as Matrix)).toEqual(offDiagonal(seen['6 80/TCP']!));
    expect((await cli(labCommand, ['probe', '--name', LAB, '--port', '80', '--family', '5'])).code).toBe(2);
    // the families really differ (IPv6 ipBlocks), and the lab agrees cell by cell
    expect(offDiagonal(seen['4 80/TCP']!)).not.toEqual(offDiagonal(seen['6 80/TCP']!));
    expect(cell(seen['6 80/TCP']!, 'web/db', 'web/back')).toBe(true);
    expect(cell(seen['4 80/TCP']!, 'web/db', 'web/back')).toBe(false);
    expect(cell(seen['6 80/TCP']!, 'ops/mon', 'web/back')).toBe(false);
    expect(cell(seen['6 53/UDP']!, 'web/back', 'ops/tool')).toBe(true);
    expect(cell(seen['4 53/UDP']!, 'web/back', 'ops/tool')).toBe(false);
  });

  it('apply: a new pod gets both addresses from the CNI plugin; a new IPv6 address recreates the pod', async () => {
    const pod = (name: string, ips?: string[]) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'ops', labels: { app: name } },
      spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'none', ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] }] },
      ...(ips ? { status: { phase: 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } } : {}),
    });
    const text = (items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
    const created = await labApply({ name: LAB, sources: [{ name: 'new.json', text: text([pod('extra')]) }] });
    expect(created.created).toEqual(['ops/extra']);
    const extra = labStatus(LAB).pods['ops/extra']!;
    expect(extra.ip).toMatch(/^10\.244\.1\.\d+$/);
    expect(extra.ip6).toMatch(/^fd00:10:244:1::[0-9a-f]+$/);
    const moved = await labApply({ name: LAB, sources: [{ name: 'moved.json', text: text([pod('extra', [extra.ip!, 'fd00:10:244:1::99'])]) }] });
    expect(moved.recreated).toEqual(['ops/extra']);
    expect(labStatus(LAB).pods['ops/extra']!.ip6).toBe('fd00:10:244:1::99');
    const m = await labProbe(LAB, 80, 'TCP', { family: 6 });
    // ops/extra: no policy selects it; from web/db its IPv6 address is in db's egress block
    expect(cell(m, 'web/db', 'ops/extra')).toBe(true);
    expect(cell(m, 'web/front', 'ops/extra')).toBe(true);
    // and it is outside web/back's except: node-1's range lets it in over IPv6 only
    expect(cell(m, 'ops/extra', 'web/back')).toBe(true);
    expect(cell(await labProbe(LAB, 80, 'TCP', { family: 4 }), 'ops/extra', 'web/back')).toBe(false);
  });

  it('down removes every namespace of the lab', async () => {
    const r = await labDown(LAB);
    expect(r.leftNetns).toEqual([]);
    expect(r.leftProcesses).toEqual([]);
    expect((await listNetns()).filter((n) => n.startsWith(`pl-${LAB}-`))).toEqual([]);
  });
});

describe.skipIf(kernel.skip)(`policyc lab, IPv4-only${kernel.suffix}`, () => {
  const LAB = `f${randomBytes(3).toString('hex')}`;
  afterAll(async () => {
    await labDown(LAB);
  }, 60_000);

  it('stays IPv4-only without IPv6 pod addresses, and refuses IPv6 probes', async () => {
    const snapshot = readFileSync(CLUSTER, 'utf8')
      .replace(/, \{ip: 'fd00:[0-9a-f:]+'\}/g, '')
      .replace(/, 'fd00:10:244:\d::\/64'/g, '');
    expect(snapshot).not.toContain('fd00');
    const up = await labUp({ name: LAB, sources: [{ name: 'v4.yaml', text: snapshot }] });
    expect(up.state.nodes.every((n) => n.podCidr6 === undefined)).toBe(true);
    expect(Object.values(up.state.pods).every((p) => p.ip6 === undefined)).toBe(true);
    expect((await labProbe(LAB, 80, 'TCP')).allowed.flat().every((a) => a)).toBe(true);
    await expect(labProbe(LAB, 80, 'TCP', { family: 6 })).rejects.toThrow(/IPv4-only/);
    // an IPv6 address for an existing pod is refused before anything is removed
    const front = up.state.objects.pods['web/front']!;
    const withV6 = { ...front, status: { ...front.status, podIPs: [{ ip: '10.244.1.10' }, { ip: 'fd00:10:244:1::10' }] } };
    await expect(labApply({ name: LAB, sources: [{ name: 'v6.json', text: JSON.stringify(withV6) }] })).rejects.toThrow(/IPv4-only/);
    expect(labStatus(LAB).pods['web/front']!.ip).toBe('10.244.1.10');
    expect((await labProbe(LAB, 80, 'TCP')).pods).toContain('web/front');
  }, 120_000);
});

