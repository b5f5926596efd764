// Checklist item 12: a real runtime. Debian's podman 4.3 with the CNI backend runs a
// busybox-static rootfs (no image pull) on our network, inside a throwaway "node" netns
// (nsenter --net: `ip netns exec` remounts /sys and breaks the runtime's cgroup setup).
// runc, not crun: crun 1.8 refuses this machine's hybrid cgroup layout. Explicit ulimits:
// root here lacks CAP_SYS_RESOURCE and podman's defaults would fail setrlimit.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cleanupNetns, createNetns, linkNames } from './testing/netns.js';
import { ensurePluginBuilt, PLUGIN_BIN } from './testing/plugin.js';
import { startTestDaemon, type TestDaemon } from './testing/daemon.js';
import { missingRequirements } from './testing/requirements.js';
import { guardSuite, requirementFrom } from '../testkit/requirements.js';

const exec = promisify(execFile);
const kernel = guardSuite('podman 4.3 (CNI backend)', requirementFrom(missingRequirements({ tools: ['podman', 'runc'], files: ['/bin/busybox'] }), 'install it, see cni/README.md'));

describe.skipIf(kernel.skip)(kernel.title, () => {
  let node: string;
  let t: TestDaemon;
  let work: string;
  let netnsBefore: Set<string>;
  let hadVarLibCni: boolean;
  beforeAll(ensurePluginBuilt);
  beforeEach(async () => {
    node = await createNetns('node');
    t = await startTestDaemon(node, '10.248.0.0/24');
    work = await mkdtemp(join(tmpdir(), 'pcni-podman-'));
    netnsBefore = new Set(await readdir('/run/netns').catch(() => []));
    hadVarLibCni = existsSync('/var/lib/cni');
  });
  afterEach(async () => {
    await podman(['rm', '-af']).catch(() => {});
    // podman drops its netns-<uuid> handle on --rm; remove any it left
    for (const n of await readdir('/run/netns').catch(() => [])) {
      if (n.startsWith('netns-') && !netnsBefore.has(n)) await exec('ip', ['netns', 'del', n]).catch(() => {});
    }
    // libcni's result cache is not configurable in podman 4.3: remove it only if we made it
    if (!hadVarLibCni) await rmdir('/var/lib/cni/results').then(() => rmdir('/var/lib/cni')).catch(() => {});
    await t?.stop();
    await cleanupNetns();
    await rm(work, { recursive: true, force: true });
  });

  function podman(args: string[]) {
    const base = ['--root', join(work, 'storage'), '--runroot', join(work, 'runroot'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc'];
    return exec('nsenter', [`--net=/run/netns/${node}`, 'podman', ...base, ...args], { env: { ...process.env, CONTAINERS_CONF: join(work, 'containers.conf') } });
  }

  it('runs a container with an IP from our pod CIDR and leaves nothing after --rm', async () => {
    const rootfs = join(work, 'rootfs');
    for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp', 'run']) await mkdir(join(rootfs, d), { recursive: true });
    await copyFile('/bin/busybox', join(rootfs, 'bin', 'busybox'));
    for (const a of ['sh', 'ip']) await symlink('busybox', join(rootfs, 'bin', a));
    const pluginDir = join(work, 'cni-bin');
    await mkdir(pluginDir);
    await copyFile(PLUGIN_BIN, join(pluginDir, 'policyc-cni'));
    await exec('chmod', ['755', join(pluginDir, 'policyc-cni')]);
    await mkdir(join(work, 'net.d'));
    const { name: _n, type: _t, cniVersion: _v, ...plugin } = t.conf();
    await writeFile(join(work, 'net.d', '50-pcnitest.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'pcnitest', plugins: [{ type: 'policyc-cni', ...plugin }] }));
    await writeFile(
      join(work, 'containers.conf'),
      [
        '[network]',
        'network_backend = "cni"',
        `cni_plugin_dirs = ["${pluginDir}"]`,
        `network_config_dir = "${join(work, 'net.d')}"`,
        'default_network = "pcnitest"',
        '[engine]',
        `tmp_dir = "${join(work, 'tmp')}"`,
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `events_logfile_path = "${join(work, 'events.log')}"`,
        '',
      ].join('\n'),
    );
    const { stdout } = await podman([
      'run', '--rm', '--ulimit', 'nofile=1024:20000', '--ulimit', 'nproc=4096:4096',
      '--network', 'pcnitest', '--hostname', 'pcni', '--rootfs', rootfs,
      '/bin/sh', '-c', 'ip -4 -o addr show dev eth0; ip route',
    ]);
    expect(stdout).toMatch(/inet 10\.248\.0\.\d+\/32/);
    expect(stdout).toContain('default via 10.248.0.1 dev eth0');
    await t.daemon.idle();
    expect((await linkNames(node)).filter((n) => n.startsWith('pc'))).toEqual([]);
    expect(t.daemon.endpoints.list()).toEqual([]);
    expect((await readdir(join(t.stateDir, 'ipam', 'pcnitest'))).filter((f) => !f.startsWith('last'))).toEqual([]);
  }, 120_000);
});
