// Checklist items 9-10: delegated IPAM found via CNI_PATH with the same stdin and env;
// conflist chaining with portmap and bandwidth (ADD in order with prevResult, DEL in
// reverse), and our output appending to a previous plugin's result.
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cleanupNetns, createNetns, ipJ, linkNames, netnsPath, sh } from '../testing/netns.js';
import { ensurePluginBuilt, REFERENCE_PLUGINS, runPlugin } from '../testing/plugin.js';
import { startTestDaemon, type TestDaemon } from '../testing/daemon.js';
import { missingRequirements } from '../testing/requirements.js';
import { guardSuite, requirementFrom } from '../../testkit/requirements.js';

const missing = missingRequirements({
  tools: ['iptables', 'tc'],
  files: ['host-local', 'portmap', 'bandwidth'].map((p) => join(REFERENCE_PLUGINS, p)),
});
const kernel = guardSuite('CNI delegated IPAM and chaining', requirementFrom(missing, 'install it, see cni/README.md'));

describe.skipIf(kernel.skip)(kernel.title, () => {
  let node: string;
  let t: TestDaemon;
  let work: string;
  beforeAll(ensurePluginBuilt);
  beforeEach(async () => {
    node = await createNetns('node');
    t = await startTestDaemon(node, '10.254.0.0/24');
    work = await mkdtemp(join(tmpdir(), 'pcni-chain-'));
  });
  afterEach(async () => {
    await t?.stop();
    await cleanupNetns();
    await rm(work, { recursive: true, force: true });
  });

  it('delegates IPAM to host-local found via CNI_PATH, with our stdin and env', async () => {
    // a spy IPAM plugin earlier in CNI_PATH records what it got, then runs host-local
    const spyDir = join(work, 'bin');
    await sh('mkdir', ['-p', spyDir]);
    await writeFile(
      join(spyDir, 'spy-ipam'),
      `#!/bin/sh\ncat > "${work}/stdin.$CNI_COMMAND"\nenv | grep '^CNI_' | sort > "${work}/env.$CNI_COMMAND"\nexec ${REFERENCE_PLUGINS}/host-local < "${work}/stdin.$CNI_COMMAND"\n`,
    );
    await chmod(join(spyDir, 'spy-ipam'), 0o755);
    const conf = t.conf({ podCIDR: undefined, ipam: { type: 'spy-ipam', dataDir: join(work, 'ipam'), ranges: [[{ subnet: '10.253.0.0/24' }]] } });
    const pod = await createNetns('pod');
    const call = { containerId: 'deleg1', netns: netnsPath(pod), cniPath: `${spyDir}:${REFERENCE_PLUGINS}`, args: 'IgnoreUnknown=1;K8S_POD_NAME=x', stdin: conf };
    const add = await runPlugin(node, { command: 'ADD', ...call });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json.ips[0]).toMatchObject({ address: '10.253.0.2/32', gateway: '10.253.0.1', interface: 1 });
    expect(JSON.parse(await readFile(join(work, 'stdin.ADD'), 'utf8'))).toEqual(conf);
    const env = await readFile(join(work, 'env.ADD'), 'utf8');
    for (const line of ['CNI_COMMAND=ADD', 'CNI_CONTAINERID=deleg1', `CNI_NETNS=${netnsPath(pod)}`, 'CNI_IFNAME=eth0', 'CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=x']) expect(env).toContain(line);
    expect(await readdir(join(work, 'ipam', 'pcnitest'))).toContain('10.253.0.2');

    const check = await runPlugin(node, { command: 'CHECK', ...call, stdin: { ...conf, prevResult: add.json } });
    expect(check.code, check.stdout).toBe(0);
    expect(await readFile(join(work, 'env.CHECK'), 'utf8')).toContain('CNI_COMMAND=CHECK');
    const del = await runPlugin(node, { command: 'DEL', ...call, stdin: { ...conf, prevResult: add.json } });
    expect(del.code, del.stdout).toBe(0);
    expect(await readdir(join(work, 'ipam', 'pcnitest'))).not.toContain('10.253.0.2');
    // a missing IPAM plugin is an env problem naming CNI_PATH
    const missing = await runPlugin(node, { command: 'ADD', ...call, cniPath: work });
    expect(missing.json.code).toBe(4);
    expect(missing.json.details).toContain('CNI_PATH');
    await t.daemon.idle();
    expect((await linkNames(node)).filter((n) => n.startsWith('pc'))).toEqual([]);
  });

  it('a 1.1.0 config delegates to host-local (supports up to 1.0.0): ADD, CHECK, DEL and GC release its addresses', async () => {
    const dataDir = join(work, 'ipam');
    const conf = t.conf({ cniVersion: '1.1.0', podCIDR: undefined, ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.253.1.0/24' }]] } });
    const reserved = async () => (await readdir(join(dataDir, 'pcnitest')).catch(() => [] as string[])).filter((f) => /^\d/.test(f)).sort();
    const pod = await createNetns('pod');
    const call = { containerId: 'v11deleg', netns: netnsPath(pod), stdin: conf };
    const add = await runPlugin(node, { command: 'ADD', ...call });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    // our result stays in the config's version (1.1.0: interface mtu, no ips[].version)
    expect(add.json.cniVersion).toBe('1.1.0');
    expect(add.json.ips).toEqual([{ address: '10.253.1.2/32', gateway: '10.253.1.1', interface: 1 }]);
    expect(add.json.interfaces[1]).toMatchObject({ name: 'eth0', mtu: 1500 });
    const addrs = await ipJ<{ addr_info: { local: string; prefixlen: number }[] }[]>(pod, ['addr', 'show', 'dev', 'eth0']);
    expect(addrs[0]!.addr_info).toContainEqual(expect.objectContaining({ local: '10.253.1.2', prefixlen: 32 }));
    expect(await reserved()).toEqual(['10.253.1.2']);
    expect((await readFile(join(dataDir, 'pcnitest', '10.253.1.2'), 'utf8')).split(/\s+/)[0]).toBe('v11deleg');

    const withPrev = { ...conf, prevResult: add.json };
    const check = await runPlugin(node, { command: 'CHECK', ...call, stdin: withPrev });
    expect(check.code, check.stdout).toBe(0);
    const del = await runPlugin(node, { command: 'DEL', ...call, stdin: withPrev });
    expect(del.code, del.stdout).toBe(0);
    expect(await reserved()).toEqual([]);

    // GC (1.1.0 only) releases a stale attachment through host-local's DEL, keeps the valid one
    const pods = await Promise.all(['gc1', 'gc2'].map(async (id) => {
      const ns = await createNetns('pod');
      const r = await runPlugin(node, { command: 'ADD', containerId: id, netns: netnsPath(ns), stdin: conf });
      expect(r.code, r.stdout).toBe(0);
      return { id, ns, ip: (r.json.ips[0].address as string).split('/')[0]! };
    }));
    expect(await reserved()).toEqual(pods.map((p) => p.ip).sort());
    const gc = await runPlugin(node, { command: 'GC', stdin: { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'gc1', ifname: 'eth0' }] } });
    expect(gc.code, gc.stdout).toBe(0);
    expect(await reserved()).toEqual([pods[0]!.ip]);
    expect(t.daemon.endpoints.list().map((e) => e.containerId)).toEqual(['gc1']);
    expect(t.logs.filter((l) => l.includes('GC: releasing'))).toEqual([]);
    const del1 = await runPlugin(node, { command: 'DEL', containerId: 'gc1', netns: netnsPath(pods[0]!.ns), stdin: conf });
    expect(del1.code, del1.stdout).toBe(0);
    expect(await reserved()).toEqual([]);
    await t.daemon.idle();
    expect((await linkNames(node)).filter((n) => n.startsWith('pc'))).toEqual([]);
  });

  it('a delegate supporting no version up to the config\'s fails ADD with code 1, naming it, and leaves nothing', async () => {
    // only a fake can show this: Debian's plugins all support 1.0.0
    const binDir = join(work, 'bin');
    await sh('mkdir', ['-p', binDir]);
    await writeFile(join(binDir, 'future-ipam'), `#!/bin/sh\n[ "$CNI_COMMAND" = VERSION ] && { echo '{"cniVersion":"1.2.0","supportedVersions":["1.2.0"]}'; exit 0; }\ntouch "${work}/called-$CNI_COMMAND"\nexit 99\n`);
    await chmod(join(binDir, 'future-ipam'), 0o755);
    const pod = await createNetns('pod');
    const conf = t.conf({ cniVersion: '1.1.0', podCIDR: undefined, ipam: { type: 'future-ipam' } });
    const add = await runPlugin(node, { command: 'ADD', containerId: 'future1', netns: netnsPath(pod), cniPath: binDir, stdin: conf });
    expect(add.code).toBe(1);
    expect(add.json).toMatchObject({ cniVersion: '1.1.0', code: 1 });
    expect(add.json.msg).toContain('IPAM plugin future-ipam supports no CNI version compatible with cniVersion 1.1.0');
    expect(add.json.details).toContain(`${join(binDir, 'future-ipam')} supports 1.2.0`);
    expect(await readdir(work)).not.toContain('called-ADD');
    expect(t.daemon.endpoints.list()).toEqual([]);
    expect((await linkNames(node)).filter((n) => n.startsWith('pc'))).toEqual([]);
    expect(await linkNames(pod)).toEqual(['lo']);
  });

  it('runs first in a conflist with portmap and bandwidth; DEL in reverse cleans all', async () => {
    const pod = await createNetns('pod');
    const base = { cniVersion: '1.0.0', name: 'pcnitest' };
    const plugins: { conf: Record<string, unknown>; bin: string }[] = [
      { conf: t.conf(), bin: '' },
      { conf: { ...base, type: 'portmap', runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] } }, bin: join(REFERENCE_PLUGINS, 'portmap') },
      { conf: { ...base, type: 'bandwidth', runtimeConfig: { bandwidth: { ingressRate: 8_000_000, ingressBurst: 80_000, egressRate: 8_000_000, egressBurst: 80_000 } } }, bin: join(REFERENCE_PLUGINS, 'bandwidth') },
    ];
    const call = (command: string, stdin: object, bin: string) =>
      runPlugin(node, { command, containerId: 'chain1', netns: netnsPath(pod), stdin }, bin || undefined);

    // ADD in order, each plugin gets the previous result (what libcni does)
    let prev: unknown;
    const results: any[] = [];
    for (const p of plugins) {
      const r = await call('ADD', prev ? { ...p.conf, prevResult: prev } : p.conf, p.bin);
      expect(r.code, `${p.conf.type}: ${r.stdout} ${r.stderr}`).toBe(0);
      prev = r.json;
      results.push(r.json);
    }
    // portmap passes our result through; bandwidth appends its ifb device
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual({ ...results[0], interfaces: [...results[0].interfaces, expect.objectContaining({ name: expect.stringMatching(/^bwp/) })] });
    const nat = await sh('ip', ['netns', 'exec', node, 'iptables', '-t', 'nat', '-S']);
    expect(nat).toContain('18080');
    const hostVeth = results[0].interfaces[0].name;
    expect(await sh('ip', ['netns', 'exec', node, 'tc', 'qdisc', 'show', 'dev', hostVeth])).toContain('tbf');

    // CHECK through the chain, then DEL in reverse order
    const check = await call('CHECK', { ...plugins[0]!.conf, prevResult: prev }, '');
    expect(check.code, check.stdout).toBe(0);
    for (const p of [...plugins].reverse()) {
      const r = await call('DEL', { ...p.conf, prevResult: prev }, p.bin);
      expect(r.code, `${p.conf.type}: ${r.stdout} ${r.stderr}`).toBe(0);
    }
    await t.daemon.idle();
    expect(await sh('ip', ['netns', 'exec', node, 'iptables', '-t', 'nat', '-S'])).not.toContain('18080');
    expect((await linkNames(node)).filter((n) => n !== 'lo')).toEqual([]); // no veth, no ifb
    expect(t.daemon.endpoints.list()).toEqual([]);
  });

  it('after another plugin: output is prevResult plus our interfaces, indexes shifted', async () => {
    const pod = await createNetns('pod');
    const prevResult = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'net1', sandbox: netnsPath(pod) }],
      ips: [{ address: '192.0.2.10/24', interface: 0 }],
      routes: [{ dst: '192.0.2.0/24' }],
      dns: { nameservers: ['192.0.2.53'] },
    };
    const r = await runPlugin(node, { command: 'ADD', containerId: 'after1', netns: netnsPath(pod), stdin: t.conf({ prevResult }) });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.interfaces.slice(0, 1)).toEqual(prevResult.interfaces);
    expect(r.json.interfaces).toHaveLength(3);
    expect(r.json.ips[0]).toEqual(prevResult.ips[0]);
    expect(r.json.ips[1]).toMatchObject({ interface: 2, address: expect.stringMatching(/^10\.254\.0\.\d+\/32$/) });
    expect(r.json.routes).toEqual([...prevResult.routes, { dst: '0.0.0.0/0', gw: '10.254.0.1' }]);
    expect(r.json.dns).toEqual(prevResult.dns);
    const check = await runPlugin(node, { command: 'CHECK', containerId: 'after1', netns: netnsPath(pod), stdin: t.conf({ prevResult: r.json }) });
    expect(check.code, check.stdout).toBe(0);
  });
});
