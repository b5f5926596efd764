// Checklist items 6 and 11 under stress: the daemon down (ADD 11, STATUS 50, DEL queued
// and replayed), 100 concurrent ADD/DEL, and kill -9 of the daemon in the middle of an ADD.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addPod, delPod } from '../testing/pods.js';
import { cleanupNetns, createNetns, ipJ, linkNames, netnsPath } from '../testing/netns.js';
import { ensurePluginBuilt, runPlugin } from '../testing/plugin.js';
import { startTestDaemon, type TestDaemon } from '../testing/daemon.js';
import { missingRequirements } from '../testing/requirements.js';
import { guardSuite, requirementFrom } from '../../testkit/requirements.js';

const kernel = guardSuite('CNI resilience', requirementFrom(missingRequirements(), 'install it, see cni/README.md'));
const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe.skipIf(kernel.skip)(kernel.title, () => {
  let node: string;
  let t: TestDaemon;
  let child: ChildProcess | undefined;
  beforeAll(ensurePluginBuilt);
  beforeEach(async () => {
    node = await createNetns('node');
    t = await startTestDaemon(node, '10.249.0.0/22');
  });
  afterEach(async () => {
    if (child?.pid && child.exitCode === null) child.kill('SIGKILL');
    child = undefined;
    await t?.stop();
    await cleanupNetns();
  });

  const reservations = async () => (await readdir(join(t.stateDir, 'ipam', 'pcnitest')).catch(() => [])).filter((f) => !f.startsWith('last-reserved'));
  const hostVeths = async () => (await linkNames(node)).filter((n) => n.startsWith('pc'));

  it('with the daemon down: ADD/CHECK/GC 11, STATUS 50, DEL succeeds and is replayed at start', async () => {
    const pod = await addPod(node, t.conf({ cniVersion: '1.1.0' }));
    expect(pod.add.code).toBe(0);
    await t.down();
    const call = { containerId: pod.containerId, netns: netnsPath(pod.ns) };
    const v11 = t.conf({ cniVersion: '1.1.0' });
    expect((await runPlugin(node, { command: 'ADD', containerId: 'other', netns: netnsPath(pod.ns), stdin: v11 })).json.code).toBe(11);
    expect((await runPlugin(node, { command: 'CHECK', ...call, stdin: pod.withPrev })).json.code).toBe(11);
    expect((await runPlugin(node, { command: 'GC', stdin: { ...v11, 'cni.dev/valid-attachments': [] } })).json.code).toBe(11);
    const status = await runPlugin(node, { command: 'STATUS', stdin: v11 });
    expect(status.code).toBe(50);
    expect(status.json.code).toBe(50);
    const del = await delPod(node, pod);
    expect(del.code, del.stdout).toBe(0);
    expect(await readdir(t.spoolDir)).toHaveLength(1);
    expect(await reservations()).toHaveLength(1); // nothing happened yet

    await t.up();
    expect(await readdir(t.spoolDir)).toEqual([]);
    expect(await reservations()).toEqual([]);
    await t.daemon.idle();
    expect(await hostVeths()).toEqual([]);
    expect(t.daemon.endpoints.list()).toEqual([]);
  });

  it('100 concurrent ADDs get unique IPs; 100 concurrent DELs and a GC leave nothing', async () => {
    const pods = await Promise.all(Array.from({ length: 100 }, () => createNetns('p')));
    const adds = await Promise.all(pods.map((ns, i) => runPlugin(node, { command: 'ADD', containerId: `burst-${i}`, netns: netnsPath(ns), stdin: t.conf() })));
    for (const a of adds) expect(a.code, a.stdout).toBe(0);
    const ips = adds.map((a) => a.json.ips[0].address);
    expect(new Set(ips).size).toBe(100);
    expect(await reservations()).toHaveLength(100);
    expect(await hostVeths()).toHaveLength(100);
    // spot-check the kernel agrees with what was reported
    const [link] = await ipJ<any[]>(pods[42]!, ['addr', 'show', 'dev', 'eth0']);
    expect(link.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)).toContain(ips[42]);

    const dels = await Promise.all(pods.map((ns, i) => runPlugin(node, { command: 'DEL', containerId: `burst-${i}`, netns: netnsPath(ns), stdin: { ...t.conf(), prevResult: adds[i]!.json } })));
    for (const d of dels) expect(d.code, d.stdout).toBe(0);
    expect(await reservations()).toEqual([]);
    const gc = await runPlugin(node, { command: 'GC', stdin: t.conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] }) });
    expect(gc.code, gc.stdout).toBe(0);
    await t.daemon.idle();
    expect(await hostVeths()).toEqual([]);
    expect(await reservations()).toEqual([]);
    expect(t.daemon.endpoints.list()).toEqual([]);
  }, 120_000);

  for (const cleanup of ['DEL', 'GC'] as const) {
    it(`a kill -9 of the daemon mid-ADD is cleaned by ${cleanup} after restart`, async () => {
      await t.down(); // this test runs its own daemon process on the same state
      child = spawn(process.execPath, ['--import', 'tsx', join(repo, 'dataplane/daemon/main.ts'), '--state-dir', t.stateDir, '--socket', t.socketPath, '--spool-dir', t.spoolDir, '--host-netns', node], {
        cwd: repo,
        env: { ...process.env, POLICYC_CNI_FAULT: 'after-host-wiring:30000' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      await new Promise<void>((resolve, reject) => {
        child!.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child!.once('exit', (code) => reject(new Error(`daemon exited ${code}`)));
      });
      const pod = await createNetns('pod');
      const adding = runPlugin(node, { command: 'ADD', containerId: 'crashy', netns: netnsPath(pod), stdin: t.conf() });
      // wait until the ADD is half done: veth on the node, pod side not configured yet
      for (let i = 0; i < 200 && (await hostVeths()).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(await hostVeths()).toHaveLength(1);
      process.kill(child.pid!, 'SIGKILL');
      const add = await adding;
      expect(add.json.code).toBe(11); // the runtime will retry or DEL
      expect(await reservations()).toHaveLength(1);

      await t.up();
      expect(t.daemon.endpoints.get('crashy', 'eth0')?.phase).toBe('creating');
      const r =
        cleanup === 'DEL'
          ? await runPlugin(node, { command: 'DEL', containerId: 'crashy', netns: netnsPath(pod), stdin: t.conf() })
          : await runPlugin(node, { command: 'GC', stdin: t.conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] }) });
      expect(r.code, r.stdout).toBe(0);
      await t.daemon.idle();
      expect(await reservations()).toEqual([]);
      expect(await hostVeths()).toEqual([]);
      expect(await linkNames(pod)).toEqual(['lo']);
      expect(t.daemon.endpoints.list()).toEqual([]);
    }, 60_000);
  }
});
