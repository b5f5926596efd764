// Delegated IPAM version negotiation: VERSION asked once per binary, the config called in
// the highest version the delegate supports that is not newer than ours, results of any
// version read back. Real host-local (Debian's, supports up to 1.0.0) where it can show
// the case; tiny shell scripts in a temp dir only for what it cannot (nothing compatible,
// a 0.2.0-only plugin, a broken VERSION answer). No root or namespaces needed: host-local
// does not enter CNI_NETNS.
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REFERENCE_PLUGINS } from '../testing/plugin.js';
import { convertResult, pickVersion, stdinForVersion, supportedVersions } from './delegate-version.js';
import { delegatedAdd, delegatedCheck, delegatedDel } from './delegated.js';
import { guardSuite, requirementFrom } from '../../testkit/requirements.js';

const HOST_LOCAL = join(REFERENCE_PLUGINS, 'host-local');
const hostLocal = guardSuite('delegated IPAM with host-local', requirementFrom(existsSync(HOST_LOCAL) ? [] : [HOST_LOCAL], 'Debian package containernetworking-plugins'));

describe('delegate version negotiation (pure)', () => {
  it('keeps the config version when supported, else the highest older one, else error 1', () => {
    const hl = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'];
    expect(pickVersion('host-local', '/x/host-local', '1.0.0', hl)).toBe('1.0.0');
    expect(pickVersion('host-local', '/x/host-local', '1.1.0', hl)).toBe('1.0.0');
    expect(pickVersion('p', '/x/p', '1.1.0', ['0.3.1', '0.10.0', '0.4.0'])).toBe('0.10.0'); // numeric, not lexical
    expect(pickVersion('p', '/x/p', '0.4.0', ['0.3.1', '1.0.0'])).toBe('0.3.1');
    let err: any;
    try {
      pickVersion('newipam', '/opt/cni/bin/newipam', '1.0.0', ['1.1.0', '1.2.0']);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 1 });
    expect(err.msg).toContain('newipam');
    expect(err.msg).toContain('1.0.0');
    expect(err.details).toContain('/opt/cni/bin/newipam supports 1.1.0, 1.2.0');
  });

  it('converts results between 0.2.0, 0.3.x/0.4.0 and 1.x shapes', () => {
    const v11 = {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1400, socketPath: '/s' }],
      ips: [
        { address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 },
        { address: 'fd00::2/64', interface: 0 },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', mtu: 1400, table: 5 }],
      dns: { nameservers: ['10.0.0.53'] },
    };
    expect(convertResult(v11, '1.0.0')).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01' }],
      ips: [
        { address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 },
        { address: 'fd00::2/64', interface: 0 },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }],
      dns: { nameservers: ['10.0.0.53'] },
    });
    const v04 = convertResult(v11, '0.4.0');
    expect(v04.ips!.map((ip) => ip.version)).toEqual(['4', '6']);
    // and back up: `version` goes away
    expect(convertResult(v04, '1.1.0').ips).toEqual([
      { address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 },
      { address: 'fd00::2/64', interface: 0 },
    ]);
    const legacy = { cniVersion: '0.2.0', ip4: { ip: '10.1.2.3/24', gateway: '10.1.2.1', routes: [{ dst: '0.0.0.0/0' }] }, ip6: { ip: 'fd01::3/64' }, dns: {} };
    expect(convertResult(legacy, '0.3.1')).toMatchObject({
      cniVersion: '0.3.1',
      ips: [
        { address: '10.1.2.3/24', gateway: '10.1.2.1', version: '4' },
        { address: 'fd01::3/64', version: '6' },
      ],
      routes: [{ dst: '0.0.0.0/0' }],
    });
    expect(() => convertResult({ ips: [{ gateway: '10.0.0.1' }] }, '1.0.0')).toThrow(/without an address/);
  });

  it('rewrites only cniVersion (and prevResult) in the stdin for the delegate', () => {
    const conf = { cniVersion: '1.1.0', name: 'n', type: 'policyc-cni', ipam: { type: 'host-local', ranges: [[{ subnet: '10.0.0.0/24' }]] }, mtu: 1400 };
    const stdin = JSON.stringify(conf);
    expect(stdinForVersion(stdin, conf, '1.1.0')).toBe(stdin); // byte for byte
    expect(JSON.parse(stdinForVersion(stdin, conf, '1.0.0'))).toEqual({ ...conf, cniVersion: '1.0.0' });
    const prevResult = { cniVersion: '1.1.0', interfaces: [{ name: 'eth0', mtu: 1400 }], ips: [{ address: '10.0.0.2/32', interface: 0 }] };
    const withPrev = { ...conf, prevResult };
    const down = JSON.parse(stdinForVersion(JSON.stringify(withPrev), withPrev, '0.4.0'));
    expect(down).toEqual({ ...conf, cniVersion: '0.4.0', prevResult: { cniVersion: '0.4.0', interfaces: [{ name: 'eth0' }], ips: [{ address: '10.0.0.2/32', interface: 0, version: '4' }], routes: [], dns: {} } });
    expect(Object.keys(down)[0]).toBe('cniVersion'); // key order kept
    expect(JSON.parse(stdinForVersion(JSON.stringify(withPrev), withPrev, '0.2.0'))).toEqual({ ...conf, cniVersion: '0.2.0' });
  });
});

describe('delegated IPAM plugins', () => {
  let work: string;
  let bin: string;
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'pcni-deleg-'));
    bin = join(work, 'bin');
    await mkdir(bin);
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const script = async (name: string, body: string) => {
    const path = join(bin, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  };
  const env = (containerId: string) => ({ CNI_CONTAINERID: containerId, CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0', CNI_PATH: `${bin}:${REFERENCE_PLUGINS}` });
  const conf = (version: string, type = 'host-local', extra: Record<string, unknown> = {}) => ({
    cniVersion: version,
    name: 'delegnet',
    type: 'policyc-cni',
    ipam: { type, dataDir: join(work, 'ipam'), ranges: [[{ subnet: '10.252.7.0/24' }]] },
    ...extra,
  });
  const reserved = async () => (await readdir(join(work, 'ipam', 'delegnet')).catch(() => [] as string[])).filter((f) => /^\d/.test(f));

  it.skipIf(hostLocal.skip)(`1.1.0 config: real host-local is called with 1.0.0; ADD allocates from the range, CHECK passes, DEL releases${hostLocal.suffix}`, async () => {
    expect(await supportedVersions(HOST_LOCAL, [REFERENCE_PLUGINS])).not.toContain('1.1.0'); // why this test exists
    const c = conf('1.1.0');
    const a = await delegatedAdd('host-local', [REFERENCE_PLUGINS], env('v11a'), JSON.stringify(c));
    expect(a).toEqual([{ ip: '10.252.7.2', family: 4, address: '10.252.7.2/32', gateway: '10.252.7.1' }]);
    expect(await reserved()).toEqual(['10.252.7.2']);
    expect((await readFile(join(work, 'ipam', 'delegnet', '10.252.7.2'), 'utf8')).split(/\s+/)[0]).toBe('v11a');
    const prevResult = { cniVersion: '1.1.0', interfaces: [{ name: 'pcx', mtu: 1500 }, { name: 'eth0', sandbox: '/proc/self/ns/net', mtu: 1500 }], ips: [{ address: '10.252.7.2/32', gateway: '10.252.7.1', interface: 1 }], routes: [{ dst: '0.0.0.0/0', gw: '10.252.7.1' }], dns: {} };
    await delegatedCheck('host-local', [REFERENCE_PLUGINS], env('v11a'), JSON.stringify({ ...c, prevResult }));
    await delegatedDel('host-local', [REFERENCE_PLUGINS], env('v11a'), JSON.stringify({ ...c, prevResult }));
    expect(await reserved()).toEqual([]);
    // a second DEL is fine, as for any version
    await delegatedDel('host-local', [REFERENCE_PLUGINS], env('v11a'), JSON.stringify(c));
  });

  it.skipIf(hostLocal.skip)(`every accepted config version works with host-local, with its own result shape read back${hostLocal.suffix}`, async () => {
    for (const [i, v] of ['1.1.0', '1.0.0', '0.4.0', '0.3.1'].entries()) {
      const [a] = await delegatedAdd('host-local', [REFERENCE_PLUGINS], env(`all${i}`), JSON.stringify(conf(v)));
      expect(a!.address).toMatch(/^10\.252\.7\.\d+\/32$/);
    }
    expect(await reserved()).toHaveLength(4);
    for (const [i, v] of ['1.1.0', '1.0.0', '0.4.0', '0.3.1'].entries()) await delegatedDel('host-local', [REFERENCE_PLUGINS], env(`all${i}`), JSON.stringify(conf(v)));
    expect(await reserved()).toEqual([]);
  });

  it.skipIf(hostLocal.skip)(`asks VERSION once per binary, again when the binary changes${hostLocal.suffix}`, async () => {
    // wraps host-local, logging each command it gets and the cniVersion it was called with
    const path = await script('counting-ipam', `in=$(cat); echo "$CNI_COMMAND $(echo "$in" | grep -o '"cniVersion":"[^"]*"' | head -1)" >> "${work}/calls"\necho "$in" | exec ${HOST_LOCAL}`);
    const c = JSON.stringify(conf('1.1.0', 'counting-ipam'));
    await Promise.all([1, 2, 3].map((i) => delegatedAdd('counting-ipam', [bin], env(`cnt${i}`), c)));
    await delegatedDel('counting-ipam', [bin], env('cnt1'), c);
    const calls = async () => (await readFile(join(work, 'calls'), 'utf8')).trim().split('\n');
    expect((await calls()).filter((l) => l.startsWith('VERSION'))).toHaveLength(1);
    expect((await calls()).filter((l) => !l.startsWith('VERSION'))).toEqual([...Array(3).fill('ADD "cniVersion":"1.0.0"'), 'DEL "cniVersion":"1.0.0"']);
    // an upgraded plugin (new mtime) is asked again
    const later = new Date(Date.now() + 5000);
    await utimes(path, later, later);
    await delegatedDel('counting-ipam', [bin], env('cnt2'), c);
    expect((await calls()).filter((l) => l.startsWith('VERSION'))).toHaveLength(2);
    await delegatedDel('counting-ipam', [bin], env('cnt3'), c);
    expect((await calls()).filter((l) => l.startsWith('VERSION'))).toHaveLength(2);
    expect(await reserved()).toEqual([]);
  });

  it('a delegate with no compatible version fails ADD and DEL with code 1, naming it and the versions', async () => {
    await script('future-ipam', `[ "$CNI_COMMAND" = VERSION ] && { echo '{"cniVersion":"1.2.0","supportedVersions":["1.2.0","1.3.0"]}'; exit 0; }\ntouch "${work}/called-$CNI_COMMAND"; exit 99`);
    for (const call of [delegatedAdd, delegatedDel]) {
      const err: any = await call('future-ipam', [bin], env('fut'), JSON.stringify(conf('1.1.0', 'future-ipam'))).catch((e) => e);
      expect(err).toMatchObject({ code: 1 });
      expect(err.message).toContain('future-ipam');
      expect(err.message).toContain('1.1.0');
      expect(err.details).toContain('supports 1.2.0, 1.3.0');
    }
    expect(existsSync(join(work, 'called-ADD')) || existsSync(join(work, 'called-DEL'))).toBe(false);
  });

  it('a 0.2.0-only delegate: called with 0.2.0 without prevResult, its ip4 result read back; CHECK skipped', async () => {
    await script(
      'old-ipam',
      `case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"0.2.0","supportedVersions":["0.1.0","0.2.0"]}';;
ADD) cat > "${work}/stdin.ADD"; echo '{"cniVersion":"0.2.0","ip4":{"ip":"10.1.2.3/24","gateway":"10.1.2.1"},"dns":{}}';;
DEL) cat > "${work}/stdin.DEL";;
*) touch "${work}/called-$CNI_COMMAND"; exit 4;;
esac`,
    );
    const c = conf('1.0.0', 'old-ipam');
    expect(await delegatedAdd('old-ipam', [bin], env('old'), JSON.stringify(c))).toEqual([{ ip: '10.1.2.3', family: 4, address: '10.1.2.3/32', gateway: '10.1.2.1' }]);
    expect(JSON.parse(await readFile(join(work, 'stdin.ADD'), 'utf8'))).toEqual({ ...c, cniVersion: '0.2.0' });
    const prevResult = { cniVersion: '1.0.0', ips: [{ address: '10.1.2.3/32', interface: 1 }] };
    await delegatedCheck('old-ipam', [bin], env('old'), JSON.stringify({ ...c, prevResult }));
    expect(existsSync(join(work, 'called-CHECK'))).toBe(false);
    await delegatedDel('old-ipam', [bin], env('old'), JSON.stringify({ ...c, prevResult }));
    expect(JSON.parse(await readFile(join(work, 'stdin.DEL'), 'utf8'))).toEqual({ ...c, cniVersion: '0.2.0' });
  });

  it('a delegate whose VERSION fails or is malformed: the error names it; a fixed one is asked again', async () => {
    const path = await script('broken-ipam', `[ "$CNI_COMMAND" = VERSION ] && { echo '{"code":4,"msg":"no"}'; exit 4; }\nexit 1`);
    const err: any = await delegatedAdd('broken-ipam', [bin], env('brk'), JSON.stringify(conf('1.1.0', 'broken-ipam'))).catch((e) => e);
    expect(err).toMatchObject({ code: 4 });
    expect(err.message).toContain(`${path} failed VERSION`);
    await script('broken-ipam', `[ "$CNI_COMMAND" = VERSION ] && { echo '{"cniVersion":"1.0.0"}'; exit 0; }\nexit 1`);
    const err2: any = await delegatedAdd('broken-ipam', [bin], env('brk'), JSON.stringify(conf('1.1.0', 'broken-ipam'))).catch((e) => e);
    expect(err2).toMatchObject({ code: 6 });
    expect(err2.message).toContain('supportedVersions');
    // no cniVersion at all: a 0.1.0 plugin, as libcni reads it
    await script('broken-ipam', `[ "$CNI_COMMAND" = VERSION ] && { echo '{}'; exit 0; }\necho '{"ip4":{"ip":"10.9.9.9/24"}}'`);
    expect(await delegatedAdd('broken-ipam', [bin], env('brk'), JSON.stringify(conf('1.1.0', 'broken-ipam')))).toEqual([{ ip: '10.9.9.9', family: 4, address: '10.9.9.9/32', gateway: '10.9.9.1' }]);
  });
});
