// Checklist items 6-8: DEL idempotency, CHECK drift, GC, and STATUS readiness.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addPod, delPod } from '../testing/pods.js';
import { cleanupNetns, createNetns, deleteNetns, linkNames, netnsPath, sh } from '../testing/netns.js';
import { ensurePluginBuilt, runPlugin } from '../testing/plugin.js';
import { startTestDaemon, type TestDaemon } from '../testing/daemon.js';
import { missingRequirements } from '../testing/requirements.js';
import { guardSuite, requirementFrom } from '../../testkit/requirements.js';

const kernel = guardSuite('CNI DEL, CHECK, GC, STATUS', requirementFrom(missingRequirements(), 'install it, see cni/README.md'));

describe.skipIf(kernel.skip)(kernel.title, () => {
  let node: string;
  let t: TestDaemon;
  beforeAll(ensurePluginBuilt);
  beforeEach(async () => {
    node = await createNetns('node');
    t = await startTestDaemon(node, '10.252.0.0/24');
  });
  afterEach(async () => {
    await t?.stop();
    await cleanupNetns();
  });

  const reservations = async () => (await readdir(join(t.stateDir, 'ipam', 'pcnitest')).catch(() => [])).filter((f) => !f.startsWith('last-reserved'));
  const hostVeths = async () => (await linkNames(node)).filter((n) => n.startsWith('pc'));

  it('DEL removes everything and succeeds again, without prevResult, with empty or vanished netns, for unknown ids', async () => {
    const pod = await addPod(node, t.conf());
    expect(pod.add.code).toBe(0);
    expect(await reservations()).toHaveLength(1);
    const first = await delPod(node, pod);
    expect(first.code, first.stdout).toBe(0);
    expect(first.stdout).toBe('');
    expect(await reservations()).toEqual([]); // released before DEL returns
    await t.daemon.idle();
    expect(await hostVeths()).toEqual([]);
    expect(await linkNames(pod.ns)).toEqual(['lo']);
    expect(t.daemon.endpoints.list()).toEqual([]);
    expect((await delPod(node, pod)).code).toBe(0); // twice
    expect((await delPod(node, pod, { stdin: t.conf() })).code).toBe(0); // no prevResult
    expect((await delPod(node, pod, { netns: '' })).code).toBe(0); // empty CNI_NETNS (containerd)
    expect((await runPlugin(node, { command: 'DEL', containerId: 'never-existed', stdin: t.conf() })).code).toBe(0);
  });

  it('DEL after the netns is gone releases the IP and leaves no veth', async () => {
    const pod = await addPod(node, t.conf());
    await deleteNetns(pod.ns);
    const r = await delPod(node, pod);
    expect(r.code, r.stdout).toBe(0);
    expect(await reservations()).toEqual([]);
    await t.daemon.idle();
    expect(await hostVeths()).toEqual([]);
  });

  it('ADD right after DEL of the same container waits for the teardown and succeeds', async () => {
    const pod = await addPod(node, t.conf());
    expect((await delPod(node, pod)).code).toBe(0);
    const again = await runPlugin(node, { command: 'ADD', containerId: pod.containerId, netns: netnsPath(pod.ns), stdin: t.conf() });
    expect(again.code, again.stdout).toBe(0);
    await t.daemon.idle();
    expect(await hostVeths()).toEqual([again.json.interfaces[0].name]);
  });

  it('CHECK passes on a fresh attachment and fails on drift', async () => {
    const pod = await addPod(node, t.conf());
    const check = () => runPlugin(node, { command: 'CHECK', containerId: pod.containerId, netns: netnsPath(pod.ns), stdin: pod.withPrev });
    expect((await check()).code).toBe(0);
    await sh('ip', ['-n', pod.ns, 'route', 'del', 'default']);
    const drifted = await check();
    expect(drifted.code).not.toBe(0);
    expect(drifted.json.code).toBe(103);
    expect(drifted.json.details).toContain('route 0.0.0.0/0 via 10.252.0.1');
    await sh('ip', ['-n', pod.ns, 'addr', 'flush', 'dev', 'eth0']);
    expect((await check()).json.details).toContain('address 10.252.0.');
    await sh('ip', ['-n', node, 'link', 'del', pod.add.json.interfaces[0].name]);
    expect((await check()).json.details).toContain('missing');
    // without prevResult: config error; unknown container: code 3
    expect((await runPlugin(node, { command: 'CHECK', containerId: pod.containerId, netns: netnsPath(pod.ns), stdin: t.conf() })).json.code).toBe(7);
    expect((await runPlugin(node, { command: 'CHECK', containerId: 'nope', netns: netnsPath(pod.ns), stdin: pod.withPrev })).json.code).toBe(3);
  });

  it('GC releases every attachment not listed (both keys), and an empty list releases all', async () => {
    const pods = await Promise.all([1, 2, 3].map(() => addPod(node, t.conf({ cniVersion: '1.1.0' }))));
    const gc = (list: object[], key = 'cni.dev/valid-attachments') => runPlugin(node, { command: 'GC', stdin: t.conf({ cniVersion: '1.1.0', [key]: list }) });
    const keep = { containerID: pods[0]!.containerId, ifname: 'eth0' };
    const r = await gc([keep]);
    expect(r.code, r.stdout).toBe(0);
    expect(await reservations()).toHaveLength(1);
    expect(await hostVeths()).toEqual([pods[0]!.add.json.interfaces[0].name]);
    expect(t.daemon.endpoints.list().map((e) => e.containerId)).toEqual([pods[0]!.containerId]);
    expect((await gc([keep], 'cni.dev/attachments')).code).toBe(0);
    expect(await reservations()).toHaveLength(1);
    expect((await gc([])).code).toBe(0);
    expect(await reservations()).toEqual([]);
    expect(await hostVeths()).toEqual([]);
    // GC without the list is refused rather than read as "release everything"
    expect((await runPlugin(node, { command: 'GC', stdin: t.conf({ cniVersion: '1.1.0' }) })).json.code).toBe(7);
  });

  it('STATUS answers 0 when ready and 50 when the dataplane is not', async () => {
    const status = () => runPlugin(node, { command: 'STATUS', stdin: t.conf({ cniVersion: '1.1.0' }) });
    const up = await status();
    expect(up.code, up.stdout).toBe(0);
    expect(up.stdout).toBe('');
    t.daemon.setReady(false);
    const down = await status();
    expect(down.code).toBe(50);
    expect(down.json.code).toBe(50);
  });
});
