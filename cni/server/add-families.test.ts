// ADD of a single-family pod: on a dual-stack node, a request for only an IPv6 address
// (runtimeConfig.ips) or only an IPv4 one (CNI_ARGS IP) wires exactly that family: one
// address, one default route, nothing of the other family in the pod or on the host veth;
// an IPv6-only range serves IPv6-only pods. CHECK agrees with the kernel, DEL releases.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addPod, delPod, type TestPod } from '../testing/pods.js';
import { cleanupNetns, createNetns, ipJ, netnsPath } from '../testing/netns.js';
import { ensurePluginBuilt, runPlugin } from '../testing/plugin.js';
import { startTestDaemon, type TestDaemon } from '../testing/daemon.js';
import { missingRequirements } from '../testing/requirements.js';
import { guardSuite, requirementFrom } from '../../testkit/requirements.js';

const kernel = guardSuite('CNI ADD for one family', requirementFrom(missingRequirements(), 'install it, see cni/README.md'));

interface Addr { local: string; prefixlen: number; scope: string; family: string }

/** What the kernel has for the pod: global addresses on eth0, routes per family; and on the host veth. */
async function kernelView(node: string, pod: TestPod) {
  const [link] = await ipJ<Array<{ addr_info: Addr[] }>>(pod.ns, ['addr', 'show', 'dev', 'eth0']);
  const hostVeth = pod.add.json.interfaces[0].name as string;
  const [host] = await ipJ<Array<{ addr_info: Addr[] }>>(node, ['addr', 'show', 'dev', hostVeth]);
  const routes = async (ns: string, family: '-4' | '-6', dev: string) => (await ipJ<Array<{ dst: string; gateway?: string }>>(ns, [family, 'route', 'show', 'dev', dev])).filter((r) => !r.dst.startsWith('fe80:'));
  return {
    podAddrs: link!.addr_info.filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`),
    podRoutes4: await routes(pod.ns, '-4', 'eth0'),
    podRoutes6: await routes(pod.ns, '-6', 'eth0'),
    hostAddrs4: host!.addr_info.filter((a) => a.family === 'inet').map((a) => a.local),
    hostRoutes4: (await routes(node, '-4', hostVeth)).map((r) => r.dst),
    hostRoutes6: (await routes(node, '-6', hostVeth)).map((r) => r.dst),
  };
}

describe.skipIf(kernel.skip).each(['netlink', 'ip'] as const)(`CNI ADD for one family (wiring: %s)${kernel.suffix}`, (wiring) => {
  let node: string;
  let t: TestDaemon | undefined;
  beforeAll(ensurePluginBuilt);
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await cleanupNetns();
  });
  const start = async (cidrs: string | string[]) => {
    node = await createNetns('node');
    t = await startTestDaemon(node, cidrs, wiring);
    return t;
  };
  const reservations = async (d: TestDaemon) => (await readdir(join(d.stateDir, 'ipam', 'pcnitest')).catch(() => [])).filter((f) => !f.startsWith('last-reserved'));
  const check = (pod: TestPod) => runPlugin(node, { command: 'CHECK', containerId: pod.containerId, netns: netnsPath(pod.ns), stdin: pod.withPrev });

  it('a request for only an IPv6 address on a dual-stack node gives an IPv6-only pod', async () => {
    const d = await start(['10.253.0.0/24', 'fd00:253::/64']);
    const pod = await addPod(node, d.conf({ cniVersion: '1.1.0', runtimeConfig: { ips: ['fd00:253::66/64'] } }));
    expect(pod.add.code, pod.add.stdout + pod.add.stderr).toBe(0);
    expect(pod.add.json.ips).toEqual([{ address: 'fd00:253::66/128', gateway: 'fe80::1', interface: 1 }]);
    expect(pod.add.json.routes).toEqual([{ dst: '::/0', gw: 'fe80::1' }]);
    const k = await kernelView(node, pod);
    expect(k.podAddrs).toEqual(['fd00:253::66/128']);
    expect(k.podRoutes4).toEqual([]); // no IPv4 default route, no route to an IPv4 gateway
    expect(k.podRoutes6).toContainEqual(expect.objectContaining({ dst: 'default', gateway: 'fe80::1' }));
    expect(k.hostAddrs4).toEqual([]);
    expect(k.hostRoutes4).toEqual([]);
    expect(k.hostRoutes6).toEqual(['fd00:253::66']);
    expect(d.daemon.endpoints.get(pod.containerId, 'eth0')?.ips).toEqual(['fd00:253::66/128']);
    const c = await check(pod);
    expect(c.code, c.stdout).toBe(0);
    expect(await reservations(d)).toEqual(['fd00:253::66']);
    expect((await delPod(node, pod)).code).toBe(0);
    expect(await reservations(d)).toEqual([]);
  });

  it('CNI_ARGS IP with only an IPv4 address on a dual-stack node gives an IPv4-only pod (0.4.0 result)', async () => {
    const d = await start(['10.253.0.0/24', 'fd00:253::/64']);
    const pod = await addPod(node, d.conf({ cniVersion: '0.4.0' }), { args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=a;K8S_POD_NAME=b;IP=10.253.0.44' });
    expect(pod.add.code, pod.add.stdout + pod.add.stderr).toBe(0);
    expect(pod.add.json.ips).toEqual([{ address: '10.253.0.44/32', gateway: '10.253.0.1', interface: 1, version: '4' }]);
    expect(pod.add.json.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.253.0.1' }]);
    const k = await kernelView(node, pod);
    expect(k.podAddrs).toEqual(['10.253.0.44/32']);
    expect(k.podRoutes6).toEqual([]);
    expect(k.podRoutes4).toContainEqual(expect.objectContaining({ dst: 'default', gateway: '10.253.0.1' }));
    expect(k.hostRoutes6).toEqual([]);
    expect((await check(pod)).code).toBe(0);
    // a CNI_ARGS IP that is no address: error 4, nothing reserved
    const bad = await addPod(node, d.conf(), { args: 'IP=10.253.0.300' });
    expect(bad.add.json.code).toBe(4);
    expect(await reservations(d)).toEqual(['10.253.0.44']);
    // two IPv4 addresses cannot both be the pod's
    const two = await addPod(node, d.conf({ runtimeConfig: { ips: ['10.253.0.45'] } }), { args: 'IP=10.253.0.46' });
    expect(two.add.json).toMatchObject({ code: 102, msg: 'more than one IPv4 address requested' });
  });

  it('an IPv6-only range serves IPv6-only pods, with or without a request', async () => {
    const d = await start('fd00:254::/64');
    const free = await addPod(node, d.conf());
    expect(free.add.code, free.add.stdout + free.add.stderr).toBe(0);
    expect(free.add.json.ips).toHaveLength(1);
    expect(free.add.json.ips[0].address).toMatch(/^fd00:254::[0-9a-f]+\/128$/);
    expect(free.add.json.routes).toEqual([{ dst: '::/0', gw: 'fe80::1' }]);
    const asked = await addPod(node, d.conf({ runtimeConfig: { ips: ['fd00:254::10'] } }));
    expect(asked.add.json.ips.map((i: { address: string }) => i.address)).toEqual(['fd00:254::10/128']);
    for (const pod of [free, asked]) {
      const k = await kernelView(node, pod);
      expect(k.podAddrs).toEqual(pod.add.json.ips.map((i: { address: string }) => i.address));
      expect(k.podRoutes4).toEqual([]);
      expect(k.hostAddrs4).toEqual([]);
      expect((await check(pod)).code).toBe(0);
    }
    // an IPv4 address cannot come from an IPv6-only range
    const v4 = await addPod(node, d.conf({ runtimeConfig: { ips: ['10.253.0.9'] } }));
    expect(v4.add.json.code).toBe(102);
  });
});
