// Our IPAM without a kernel: uniqueness under concurrent callers, round-robin, requested
// IPs, release, GC by owner, and state surviving a restart (a new instance on the same dir).
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniError } from '../errors.js';
import { parseCidr } from './cidr.js';
import { PodIpam } from './pod-ipam.js';

describe('PodIpam', () => {
  let dir: string;
  const v4 = [parseCidr('10.9.0.0/28')];
  const owner = (i: number) => ({ containerId: `c${i}`, ifname: 'eth0' });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcni-ipam-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('hands out unique addresses to concurrent callers, skipping network, gateway, broadcast', async () => {
    const ipam = new PodIpam(dir);
    const all = await Promise.all(Array.from({ length: 13 }, (_, i) => ipam.allocate('n', owner(i), v4, [])));
    const ips = all.map((a) => a[0]!.ip);
    expect(new Set(ips).size).toBe(13);
    expect(ips).not.toContain('10.9.0.0');
    expect(ips).not.toContain('10.9.0.1');
    expect(ips).not.toContain('10.9.0.15');
    expect(all[0]![0]).toMatchObject({ address: `${ips[0]}/32`, gateway: '10.9.0.1' });
    await expect(ipam.allocate('n', owner(99), v4, [])).rejects.toMatchObject({ code: 102 });
  });

  it('does not reuse a just-released address (round-robin) and persists across restarts', async () => {
    const ipam = new PodIpam(dir);
    const [a] = await ipam.allocate('n', owner(1), v4, []);
    await ipam.release('n', owner(1));
    const [b] = await ipam.allocate('n', owner(2), v4, []);
    expect(b!.ip).not.toBe(a!.ip);
    const restarted = new PodIpam(dir);
    expect(await restarted.ipsOf('n', owner(2))).toEqual([b!.ip]);
    const [c] = await restarted.allocate('n', owner(3), v4, []);
    expect(c!.ip).not.toBe(b!.ip);
    expect(c!.ip).not.toBe(a!.ip); // resumes after the last reservation
  });

  it('honours a requested IP and refuses one taken or outside', async () => {
    const ipam = new PodIpam(dir);
    const dual = [parseCidr('10.9.0.0/28'), parseCidr('fd00:9::/64')];
    const got = await ipam.allocate('n', owner(1), dual, ['10.9.0.9', 'fd00:9::9']);
    expect(got.map((a) => a.address)).toEqual(['10.9.0.9/32', 'fd00:9::9/128']);
    expect(got[1]!.gateway).toBe('fe80::1');
    await expect(ipam.allocate('n', owner(2), v4, ['10.9.0.9'])).rejects.toBeInstanceOf(CniError);
    await expect(ipam.allocate('n', owner(2), v4, ['10.9.0.1'])).rejects.toMatchObject({ code: 102 });
    await expect(ipam.allocate('n', owner(2), v4, ['192.0.2.1'])).rejects.toMatchObject({ code: 102 });
  });

  it('gives only the requested families on a dual-stack node, every family when nothing is requested', async () => {
    const ipam = new PodIpam(dir);
    const dual = [parseCidr('10.9.0.0/28'), parseCidr('fd00:9::/64')];
    const v6only = await ipam.allocate('n', owner(1), dual, ['fd00:9::6']);
    expect(v6only).toEqual([{ ip: 'fd00:9::6', family: 6, address: 'fd00:9::6/128', gateway: 'fe80::1' }]);
    const v4only = await ipam.allocate('n', owner(2), dual, ['10.9.0.4']);
    expect(v4only.map((a) => a.address)).toEqual(['10.9.0.4/32']);
    const both = await ipam.allocate('n', owner(3), dual, []);
    expect(both.map((a) => a.family)).toEqual([4, 6]);
    expect(await ipam.ipsOf('n', owner(1))).toEqual(['fd00:9::6']);
    // two addresses of one family cannot both be the pod's: refused, nothing reserved
    await expect(ipam.allocate('n', owner(4), dual, ['10.9.0.5', '10.9.0.6'])).rejects.toMatchObject({ code: 102, msg: 'more than one IPv4 address requested' });
    expect(await ipam.ipsOf('n', owner(4))).toEqual([]);
  });

  it('serves an IPv6-only range: IPv6 addresses only, requested or not', async () => {
    const ipam = new PodIpam(dir);
    const v6 = [parseCidr('fd00:7::/120')];
    const [a] = await ipam.allocate('n', owner(1), v6, []);
    expect(a).toMatchObject({ family: 6, gateway: 'fe80::1' });
    expect(a!.address).toMatch(/^fd00:7::[0-9a-f]+\/128$/);
    expect(await ipam.allocate('n', owner(2), v6, ['fd00:7::42'])).toEqual([{ ip: 'fd00:7::42', family: 6, address: 'fd00:7::42/128', gateway: 'fe80::1' }]);
    await expect(ipam.allocate('n', owner(3), v6, ['10.9.0.9'])).rejects.toMatchObject({ code: 102 });
  });

  it('GC releases every owner not listed, per network', async () => {
    const ipam = new PodIpam(dir);
    for (const i of [1, 2, 3]) await ipam.allocate('n', owner(i), v4, []);
    await ipam.allocate('other', owner(4), v4, []);
    const released = await ipam.releaseAllExcept('n', [owner(2)]);
    expect(released.map((o) => o.containerId).sort()).toEqual(['c1', 'c3']);
    expect((await ipam.owners('n')).map((o) => o.containerId)).toEqual(['c2']);
    expect(await ipam.owners('other')).toHaveLength(1);
    expect((await readdir(join(dir, 'ipam', 'n'))).filter((f) => !f.startsWith('last'))).toHaveLength(1);
  });
});
