// `policyc lab` end to end on the kernel: topology (nodes, underlay, VXLAN), pods wired by our
// CNI plugin, servers, probes (JSON exactly as `policyc reach`), apply (policy updates, label
// changes, new pods), exec, delete, and down (also after a crash lost the lab's state).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements } from '../../cni/testing/requirements.js';
import { guardSuite, requirementFrom } from '../../testkit/requirements.js';
import { command as reachCommand } from '../../cli/commands/reach.js';
import { command as labCommand } from '../../cli/commands/lab.js';
import { listElements } from '../nft/loader.js';
import { describeOverlay } from '../overlay/vxlan.js';
import { labApply, labDelete, labDown, labProbe, labStatus, labUp } from './lab.js';
import { labDir } from './names.js';
import { vxlanTx } from './testing.js';
import { must } from './run.js';
import { listNetns } from './topology.js';

const kernel = guardSuite('policyc lab (network namespaces)', requirementFrom(missingRequirements({ tools: ['nft', 'bridge', 'sysctl'] }), 'install it, see cni/README.md'));

function capture() {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        f(String(chunk));
        cb();
      },
    });
  const io = { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), cwd: process.cwd() };
  return { io, out: () => out, err: () => err };
}

async function cli(cmd: typeof labCommand, args: string[]) {
  const c = capture();
  const code = await cmd.run(args, c.io);
  return { code, stdout: c.out(), stderr: c.err() };
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const pod = (ns: string, name: string, node: string | undefined, ip: string | undefined, labels: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels },
  spec: {
    ...(node ? { nodeName: node } : {}),
    containers: [
      {
        name: 'c',
        image: 'none',
        ports: [
          { name: 'http', containerPort: 80, protocol: 'TCP' },
          { name: 'dns', containerPort: 53, protocol: 'UDP' },
          { name: 'sig', containerPort: 9000, protocol: 'SCTP' },
        ],
      },
    ],
  },
  ...(ip ? { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } } : {}),
});

const ns = (name: string, labels: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });

const SNAPSHOT = {
  apiVersion: 'v1',
  kind: 'List',
  items: [
    ns('web', { team: 'a' }),
    ns('ops', { team: 'b' }),
    pod('web', 'front', 'node-1', '10.244.1.10', { app: 'front' }),
    pod('web', 'back', 'node-2', '10.244.2.10', { app: 'back' }),
    pod('ops', 'tool', 'node-2', undefined, { app: 'tool' }), // the CNI plugin picks its IP
  ],
};

// web/back accepts http only from pods of namespaces labelled team=a
const POLICY = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: back-from-team-a, namespace: web}
spec:
  podSelector: {matchLabels: {app: back}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: a}}}]
    ports: [{port: http}]
`;

describe.skipIf(kernel.skip)(`policyc lab${kernel.suffix}`, () => {
  const LAB = `t${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'policyc-lab-test-'));
  const snapshotFile = join(dir, 'snapshot.json');
  const policyFile = join(dir, 'policy.yaml');

  beforeAll(async () => {
    writeFileSync(snapshotFile, JSON.stringify(SNAPSHOT, null, 2));
    writeFileSync(policyFile, POLICY);
    const started = performance.now();
    const r = await cli(labCommand, ['up', '--name', LAB, '-f', snapshotFile]);
    console.log(`lab up (2 nodes, 3 pods): ${Math.round(performance.now() - started)} ms; ${r.stderr.trim()}`);
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await labDown(LAB);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('builds nodes, an underlay and a VXLAN overlay (MTU 1450) inside its own namespaces', async () => {
    const s = labStatus(LAB);
    expect(s.nodes.map((n) => [n.name, n.podCidr, n.netns])).toEqual([
      ['node-1', '10.244.1.0/24', `pl-${LAB}-n1`],
      ['node-2', '10.244.2.0/24', `pl-${LAB}-n2`],
    ]);
    const netns = (await listNetns()).filter((n) => n.startsWith(`pl-${LAB}-`)).sort();
    expect(netns).toEqual([`pl-${LAB}-n1`, `pl-${LAB}-n2`, `pl-${LAB}-ops.tool`, `pl-${LAB}-u`, `pl-${LAB}-web.back`, `pl-${LAB}-web.front`]);
    for (const n of s.nodes) {
      const overlay = await describeOverlay(n.netns);
      expect(overlay.mtu).toBe(1450);
      const peer = s.nodes.find((o) => o !== n)!;
      expect(overlay.routes).toContain(peer.podCidr);
      expect(overlay.fdb.join('\n')).toContain(`dst ${peer.underlayIp}`);
      expect((await must('ip', ['netns', 'exec', n.netns, 'sysctl', '-n', 'net.ipv4.ip_forward'])).trim()).toBe('1');
      expect(alive(n.pid)).toBe(true);
    }
    for (const p of Object.values(s.pods)) {
      const [link] = JSON.parse(await must('ip', ['-j', '-n', p.netns, 'addr', 'show', 'dev', 'eth0'])) as Array<{ mtu: number; addr_info: Array<{ local: string }> }>;
      expect(link!.mtu).toBe(1450);
      expect(link!.addr_info.map((a) => a.local)).toContain(p.ip);
      expect(alive(p.serverPid)).toBe(true);
    }
    // the pod without an IP in the snapshot got one from the CNI plugin, on its node
    expect(s.pods['ops/tool']!.ip).toMatch(/^10\.244\.2\.\d+$/);
  });

  it('probes every pair with real packets; cross-node traffic rides the VXLAN overlay', async () => {
    const n1 = labStatus(LAB).nodes[0]!;
    const txBefore = await vxlanTx(n1.netns);
    for (const proto of ['TCP', 'UDP', 'SCTP'] as const) {
      const port = { TCP: 80, UDP: 53, SCTP: 9000 }[proto];
      const m = await labProbe(LAB, port, proto);
      expect(m.pods).toEqual(['ops/tool', 'web/back', 'web/front']);
      expect(m.allowed, proto).toEqual([
        [true, true, true],
        [true, true, true],
        [true, true, true],
      ]);
    }
    expect((await vxlanTx(n1.netns)) - txBefore).toBeGreaterThan(3);
    // a port no pod serves: with no policy the SYN is still delivered and answered by a RST,
    // which is what reachability means (policy drops are silent)
    const closed = await labProbe(LAB, 81, 'TCP');
    expect(closed.allowed.flat().every((a) => a)).toBe(true);
  });

  it('lab apply + probe -o json: exactly `policyc reach -o json` on the same inputs', async () => {
    const applied = await cli(labCommand, ['apply', '--name', LAB, '-f', policyFile]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('1 policies added');
    // reach over the lab's own state (the CNI-picked IP included)
    const snap = join(dir, 'lab-state.json');
    const s = labStatus(LAB);
    writeFileSync(snap, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...Object.values(s.objects.namespaces), ...Object.values(s.objects.pods)] }));
    for (const [port, proto] of [
      ['http', 'TCP'],
      ['80', 'TCP'],
      ['dns', 'UDP'],
      ['sig', 'SCTP'],
    ] as const) {
      const probe = await cli(labCommand, ['probe', '--name', LAB, '--port', port, '--protocol', proto, '-o', 'json']);
      const reach = await cli(reachCommand, ['-f', policyFile, '-f', snap, '--port', port, '--protocol', proto, '-o', 'json']);
      expect(probe.code, probe.stderr).toBe(0);
      expect(reach.code, reach.stderr).toBe(0);
      // the diagonal is loopback inside the pod: it never meets the policy
      const off = (json: string) => {
        const m = JSON.parse(json) as { pods: string[]; allowed: boolean[][] };
        return { pods: m.pods, allowed: m.allowed.map((row, i) => row.map((a, j) => (i === j ? null : a))) };
      };
      expect(off(probe.stdout), `${port}/${proto}`).toEqual(off(reach.stdout));
      expect(Object.keys(JSON.parse(probe.stdout))).toEqual(['pods', 'allowed']);
    }
    const http = JSON.parse((await cli(labCommand, ['probe', '--name', LAB, '--port', 'http', '-o', 'json'])).stdout) as { allowed: boolean[][] };
    // rows/cols: ops/tool, web/back, web/front -> only web/front (team a) reaches web/back
    expect(http.allowed.map((r) => r[1])).toEqual([false, true, true]);
  });

  it('applies label changes (cluster state) and creates new pods', async () => {
    const update = join(dir, 'update.json');
    writeFileSync(
      update,
      JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [ns('ops', { team: 'a' }), pod('ops', 'extra', undefined, undefined, { app: 'extra' })] }),
    );
    const r = await labApply({ name: LAB, sources: [{ name: 'update.json', text: readFileSync(update, 'utf8') }] });
    expect(r.created).toEqual(['ops/extra']);
    const s = labStatus(LAB);
    expect(existsSync(`/run/netns/${s.pods['ops/extra']!.netns}`)).toBe(true);
    const m = await labProbe(LAB, 'http', 'TCP');
    expect(m.pods).toEqual(['ops/extra', 'ops/tool', 'web/back', 'web/front']);
    // ops is now team=a: its pods reach web/back; the new pod serves and is reachable
    expect(m.allowed.map((row) => row[2])).toEqual([true, true, true, true]);
    expect(m.allowed.map((row) => row[0])).toEqual([true, true, true, true]);
  });

  it('lab exec runs a command in a pod netns; TCP ports answer HTTP with method and path', async () => {
    const s = labStatus(LAB);
    const addr = await cli(labCommand, ['exec', '--name', LAB, 'web/front', '--', 'ip', '-j', 'addr', 'show', 'dev', 'eth0']);
    expect(addr.code, addr.stderr).toBe(0);
    expect(addr.stdout).toContain('"10.244.1.10"');
    const back = s.pods['web/back']!.ip;
    const script = `fetch('http://${back}/some/path?q=1', { method: 'PUT', body: 'x' }).then(async (r) => console.log(r.status, await r.text()))`;
    const http = await cli(labCommand, ['exec', '--name', LAB, 'web/front', '--', process.execPath, '-e', script]);
    expect(http.code, http.stderr).toBe(0);
    expect(http.stdout).toContain('200 PUT /some/path?q=1');
    expect(http.stdout).toContain('web/back');
    const failing = await cli(labCommand, ['exec', '--name', LAB, 'web/front', '--', 'false']);
    expect(failing.code).toBe(1);
    const missing = await cli(labCommand, ['exec', '--name', LAB, 'web/nope', '--', 'true']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no pod web/nope');
  });

  it('delete pod removes its netns, its server, its endpoint and its IP from the policy', async () => {
    const before = labStatus(LAB);
    const victim = before.pods['web/back']!;
    const node = before.nodes.find((n) => n.name === victim.node)!;
    // addresses with an identity of their own (single-address elements), on every node
    const podAddresses = async () =>
      (await Promise.all(before.nodes.map((n) => listElements(n.netns, 'src_identity_v4')))).map((els) => els.filter((e) => Array.isArray(e) && typeof e[0] === 'string').map((e) => (e as [string])[0]));
    for (const list of await podAddresses()) expect(list).toContain(victim.ip);
    const r = await cli(labCommand, ['delete', '--name', LAB, 'pod', 'web/back']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(`/run/netns/${victim.netns}`)).toBe(false);
    expect(alive(victim.serverPid)).toBe(false);
    for (const list of await podAddresses()) expect(list).not.toContain(victim.ip);
    // the daemon drops the endpoint once its batched veth teardown is done
    const endpoints = () =>
      readdirSync(join(node.stateDir, 'endpoints'))
        .filter((f) => f.endsWith('.json'))
        .map((f) => readFileSync(join(node.stateDir, 'endpoints', f), 'utf8'))
        .join('\n');
    for (let i = 0; i < 100 && endpoints().includes(victim.containerId); i++) await new Promise((r) => setTimeout(r, 50));
    expect(endpoints()).not.toContain(victim.containerId);
    const after = labStatus(LAB);
    expect(Object.keys(after.pods).sort()).toEqual(['ops/extra', 'ops/tool', 'web/front']);
    expect(after.objects.pods['web/back']).toBeUndefined();
    const m = await labProbe(LAB, 80, 'TCP');
    expect(m.pods).toEqual(['ops/extra', 'ops/tool', 'web/front']);
  });

  it('delete namespace removes its pods and policies', async () => {
    const r = await labDelete(LAB, 'namespace', 'web');
    expect(r.pods).toEqual(['web/front']);
    expect(r.policies).toEqual(['NetworkPolicy/web/back-from-team-a']);
    expect(Object.keys(labStatus(LAB).pods).sort()).toEqual(['ops/extra', 'ops/tool']);
  });

  it('refuses a second lab of the same name and bad names', async () => {
    const again = await cli(labCommand, ['up', '--name', LAB, '-f', snapshotFile]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('exists');
    const bad = await cli(labCommand, ['up', '--name', 'Bad-Name', '-f', snapshotFile]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('lowercase letters or digits');
  });

  it('down leaves nothing behind: no namespaces, no processes, no state', async () => {
    const s = labStatus(LAB);
    const pids = [...s.nodes.map((n) => n.pid), ...Object.values(s.pods).map((p) => p.serverPid)];
    expect(pids.every(alive)).toBe(true);
    const r = await cli(labCommand, ['down', '--name', LAB]);
    expect(r.code, r.stderr).toBe(0);
    expect((await listNetns()).filter((n) => n.startsWith(`pl-${LAB}-`))).toEqual([]);
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(labDir(LAB))).toBe(false);
  });
});

describe.skipIf(kernel.skip)(`policyc lab down after a crash${kernel.suffix}`, () => {
  const LAB = `k${randomBytes(3).toString('hex')}`;
  afterAll(async () => {
    await labDown(LAB);
  }, 60_000);

  it('finds everything by name prefix and process markers when the state is gone', async () => {
    const snapshot = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [ns('a', {}), pod('a', 'p', undefined, undefined, {}), pod('a', 'q', undefined, undefined, {})] });
    const up = await labUp({ name: LAB, sources: [{ name: 's.json', text: snapshot }], nodes: 3 });
    expect(up.state.nodes.map((n) => n.podCidr)).toEqual(['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24']);
    // spread over the nodes: p and q land on different ones
    expect(new Set(Object.values(up.state.pods).map((p) => p.node)).size).toBe(2);
    const m = await labProbe(LAB, 80, 'TCP');
    expect(m.allowed).toEqual([
      [true, true],
      [true, true],
    ]);
    const pids = [...up.state.nodes.map((n) => n.pid), ...Object.values(up.state.pods).map((p) => p.serverPid)];
    expect(pids.every(alive)).toBe(true);
    // the crash: the state file and the PID record are lost
    rmSync(join(labDir(LAB), 'lab.json'));
    rmSync(join(labDir(LAB), 'pids'));
    const down = await labDown(LAB);
    expect(down.leftNetns).toEqual([]);
    expect(down.leftProcesses).toEqual([]);
    expect(down.removedNetns.length).toBe(1 + 3 + 2);
    expect(pids.filter(alive)).toEqual([]);
    expect((await listNetns()).filter((n) => n.startsWith(`pl-${LAB}-`))).toEqual([]);
  }, 120_000);
});

