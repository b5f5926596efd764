// Checklist items 4-5: ADD result per version, interface indexes, kernel state matches,
// ADD twice fails leaving the first, a failed ADD leaves nothing. Plus MTU, dual stack,
// the `ips` capability and CNI_ARGS into the endpoint registry.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addPod } from '../testing/pods.js';
import { cleanupNetns, createNetns, ipJ, linkNames, netnsPath, sh } from '../testing/netns.js';
import { ensurePluginBuilt, runPlugin } from '../testing/plugin.js';
import { startTestDaemon, type TestDaemon } from '../testing/daemon.js';
import { missingRequirements } from '../testing/requirements.js';
import { guardSuite, requirementFrom } from '../../testkit/requirements.js';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

const kernel = guardSuite('CNI ADD', requirementFrom(missingRequirements(), 'install it, see cni/README.md'));

describe.skipIf(kernel.skip).each(['netlink', 'ip'] as const)(`CNI ADD (wiring: %s)${kernel.suffix}`, (wiring) => {
  let node: string;
  let t: TestDaemon;
  beforeAll(ensurePluginBuilt);
  beforeEach(async () => {
    node = await createNetns('node');
    t = await startTestDaemon(node, ['10.251.0.0/24', 'fd00:251::/64'], wiring);
  });
  afterEach(async () => {
    await t?.stop();
    await cleanupNetns();
  });

  for (const version of ['1.1.0', '1.0.0', '0.4.0', '0.3.1']) {
    it(`answers a ${version} config in ${version} format, matching the kernel`, async () => {
      const pod = await addPod(node, t.conf({ cniVersion: version }));
      expect(pod.add.code, pod.add.stdout + pod.add.stderr).toBe(0);
      const r = pod.add.json;
      expect(r.cniVersion).toBe(version);
      expect(r.interfaces).toHaveLength(2);
      expect(r.interfaces[1]).toMatchObject({ name: 'eth0', sandbox: netnsPath(pod.ns) });
      expect(r.interfaces[0].sandbox).toBeUndefined();
      expect(r.ips).toHaveLength(2);
      for (const ip of r.ips) {
        expect(ip.interface).toBe(1);
        if (version === '0.3.1' || version === '0.4.0') expect(ip.version).toBe(ip.address.includes(':') ? '6' : '4');
        else expect(ip.version).toBeUndefined();
      }
      if (version === '1.1.0') expect(r.interfaces[1].mtu).toBe(1500);
      else expect(r.interfaces[1].mtu).toBeUndefined();

      // read the kernel back
      const [link] = await ipJ<any[]>(pod.ns, ['addr', 'show', 'dev', 'eth0']);
      expect(link.address).toBe(r.interfaces[1].mac);
      expect(link.mtu).toBe(1500);
      expect(link.operstate).toBe('UP');
      const addrs = link.addr_info.filter((a: any) => a.scope === 'global').map((a: any) => `${a.local}/${a.prefixlen}`);
      expect(addrs.sort()).toEqual(r.ips.map((i: any) => i.address).sort());
      const routes4 = await ipJ<any[]>(pod.ns, ['-4', 'route', 'show']);
      expect(routes4).toContainEqual(expect.objectContaining({ dst: 'default', gateway: '10.251.0.1', dev: 'eth0' }));
      const routes6 = await ipJ<any[]>(pod.ns, ['-6', 'route', 'show']);
      expect(routes6).toContainEqual(expect.objectContaining({ dst: 'default', gateway: 'fe80::1', dev: 'eth0' }));
      const [host] = await ipJ<any[]>(node, ['link', 'show', 'dev', r.interfaces[0].name]);
      expect(host.address).toBe(r.interfaces[0].mac);
      const hostRoutes = (await ipJ<any[]>(node, ['route', 'show', 'dev', r.interfaces[0].name])).map((x) => x.dst);
      expect(hostRoutes).toContain(r.ips.find((i: any) => !i.address.includes(':')).address.split('/')[0]);
    });
  }

  it('gives concurrent pods distinct addresses and records them with pod identity', async () => {
    const pods = await Promise.all(
      [1, 2, 3].map((i) => addPod(node, t.conf(), { args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=ns${i};K8S_POD_NAME=p${i}` })),
    );
    const ips = pods.map((p) => p.add.json.ips[0].address);
    expect(new Set(ips).size).toBe(3);
    const ep = t.daemon.endpoints.get(pods[1]!.containerId, 'eth0');
    expect(ep).toMatchObject({ namespace: 'ns2', podName: 'p2', netns: netnsPath(pods[1]!.ns), phase: 'ready', ips: pods[1]!.add.json.ips.map((i: any) => i.address) });
  });

  it('uses the runtime-requested IP (ips capability) and refuses one outside the CIDR or taken', async () => {
    const pod = await addPod(node, t.conf({ runtimeConfig: { ips: ['10.251.0.77/24'] } }));
    expect(pod.add.code, pod.add.stdout).toBe(0);
    expect(pod.add.json.ips[0].address).toBe('10.251.0.77/32');
    const taken = await addPod(node, t.conf({ runtimeConfig: { ips: ['10.251.0.77'] } }));
    expect(taken.add.json.code).toBe(102);
    const outside = await addPod(node, t.conf({ runtimeConfig: { ips: ['10.9.9.9'] } }));
    expect(outside.add.json.code).toBe(102);
  });

  it('sets MTU 1450 on vxlan overlays unless mtu is given', async () => {
    const vx = await addPod(node, t.conf({ overlay: 'vxlan' }));
    expect((await ipJ<any[]>(vx.ns, ['link', 'show', 'dev', 'eth0']))[0].mtu).toBe(1450);
    expect((await ipJ<any[]>(node, ['link', 'show', 'dev', vx.add.json.interfaces[0].name]))[0].mtu).toBe(1450);
    const explicit = await addPod(node, t.conf({ overlay: 'vxlan', mtu: 1400 }));
    expect((await ipJ<any[]>(explicit.ns, ['link', 'show', 'dev', 'eth0']))[0].mtu).toBe(1400);
  });

  it('fails a second ADD for the same container and ifname, leaving the first untouched', async () => {
    const first = await addPod(node, t.conf());
    const again = await runPlugin(node, { command: 'ADD', containerId: first.containerId, netns: netnsPath(first.ns), stdin: t.conf() });
    expect(again.code).not.toBe(0);
    expect(again.json.code).toBe(100);
    const [link] = await ipJ<any[]>(first.ns, ['addr', 'show', 'dev', 'eth0']);
    expect(link.addr_info.map((a: any) => a.local)).toContain(first.add.json.ips[0].address.split('/')[0]);
    expect(await linkNames(node)).toContain(first.add.json.interfaces[0].name);
    expect(t.daemon.endpoints.get(first.containerId, 'eth0')?.phase).toBe('ready');
  });

  it('leaves no reservation, veth or record behind when ADD fails', async () => {
    const leftovers = async () => {
      expect((await linkNames(node)).filter((n) => n.startsWith('pc'))).toEqual([]);
      expect(t.daemon.endpoints.list()).toEqual([]);
      const ipamFiles = await readdir(join(t.stateDir, 'ipam', 'pcnitest'));
      expect(ipamFiles.filter((f) => !f.startsWith('last-reserved'))).toEqual([]);
    };
    // 1. eth0 already taken inside the pod: the veth pair cannot be created
    const taken = await createNetns('pod');
    await sh('ip', ['-n', taken, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
    const r1 = await runPlugin(node, { command: 'ADD', containerId: 'failing1', netns: netnsPath(taken), stdin: t.conf() });
    expect(r1.json.code).toBe(101);
    await leftovers();
    // 2. the pair is created but the pod side fails (IPv6 disabled in the pod): rolled back
    const noV6 = await createNetns('pod');
    await sh('ip', ['netns', 'exec', noV6, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    const r2 = await runPlugin(node, { command: 'ADD', containerId: 'failing2', netns: netnsPath(noV6), stdin: t.conf() });
    expect(r2.code).not.toBe(0);
    expect(r2.json.code).toBe(101);
    await leftovers();
    // a netns that does not exist: code 4, nothing reserved
    const gone = await runPlugin(node, { command: 'ADD', containerId: 'nonetns', netns: '/run/netns/pcni-does-not-exist', stdin: t.conf() });
    expect(gone.json.code).toBe(4);
    expect(t.daemon.endpoints.list()).toEqual([]);
  });
});

