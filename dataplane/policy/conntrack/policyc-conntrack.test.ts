// policyc-conntrack against the real kernel, only inside a network namespace this test creates
// (pcct-<random>, removed in finally, also on failure): entries of every kind the flush meets
// (TCP with DNAT, zones, UDP, ICMP, IPv6, ICMPv6, a directional zone, GRE) are inserted with
// `conntrack -I`, listed, an exact subset deleted (same tuple in another zone, another source
// port, a second delete: gone, not deleted), and the rest must remain exactly. Then 2000 entries
// (a multi-part dump), bad input and bad usage. Then the served mode the daemon runs
// (`policyc-conntrack serve` through ConntrackHelper): list, a truncated list, delete, the local
// routes (the same as `ip route show table local`), framing errors, and a helper killed by PID
// that the next request starts again; close() stops it by PID.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addNetns, deleteNetns, run } from '../../nft/loader.js';
import { ConntrackHelper, entryLine, locateConntrackHelper, parseDeleteCounts, parseEntryLine, parseRouteLine, type ConntrackEntry } from '../conntrack-flush.js';
import { netnsArgv } from '../nft-exec.js';
import { ensureBuilt, netnsName, policyKernel } from '../testing.js';
import { guardSuite } from '../../../testkit/requirements.js';

async function requirements(): Promise<{ ok: boolean; reason?: string }> {
  const k = await policyKernel();
  if (!k.ok) return k;
  const r = await run('conntrack', ['--version']).catch(() => undefined);
  return r?.ok ? { ok: true } : { ok: false, reason: 'the conntrack tool is missing (Debian package conntrack, scripts/setup.sh): the test inserts entries with it' };
}

/** true while a process with this PID exists (a zombie counts as gone: its exit was reaped or is due) */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const kernel = guardSuite('policyc-conntrack in a throwaway netns', await requirements());

const ensureHelper = () => ensureBuilt('conntrack', 'policyc-conntrack', locateConntrackHelper);

const INSERTS: string[][] = [
  // TCP through a service VIP: the reply comes from the backend (DNAT)
  ['-p', 'tcp', '-s', '10.99.0.11', '-d', '10.96.0.10', '--sport', '40000', '--dport', '8080', '-r', '10.99.0.10', '-q', '10.99.0.11', '--reply-port-src', '80', '--reply-port-dst', '40000', '--state', 'ESTABLISHED', '-u', 'SEEN_REPLY'],
  ['-p', 'tcp', '-s', '10.99.0.11', '-d', '10.99.0.10', '--sport', '40001', '--dport', '80', '-w', '5', '--state', 'ESTABLISHED'],
  ['-p', 'tcp', '-s', '10.99.0.11', '-d', '10.99.0.10', '--sport', '40001', '--dport', '80', '-w', '6', '--state', 'ESTABLISHED'],
  ['-p', 'udp', '-s', '10.99.0.13', '-d', '10.99.0.10', '--sport', '5353', '--dport', '53'],
  ['-p', 'icmp', '-s', '10.99.0.13', '-d', '10.99.0.10', '--icmp-type', '8', '--icmp-code', '0', '--icmp-id', '77'],
  ['-p', 'tcp', '-s', 'fd00::2', '-d', 'fd00::3', '--sport', '1000', '--dport', '443', '--state', 'ESTABLISHED'],
  ['-p', 'udp', '-s', 'fd00::2', '-d', 'fd00::3', '--sport', '1001', '--dport', '53'],
  ['-p', 'icmpv6', '-s', 'fd00::2', '-d', 'fd00::3', '--icmpv6-type', '128', '--icmpv6-code', '0', '--icmpv6-id', '9'],
  ['-p', 'tcp', '-s', '10.1.1.1', '-d', '10.1.1.2', '--sport', '7', '--dport', '8', '--orig-zone', '1', '--state', 'ESTABLISHED'],
  ['-p', 'gre', '-s', '10.2.2.1', '-d', '10.2.2.2', '--srckey', '1', '--dstkey', '2'],
];

// as policyc-conntrack lists them (the order of a dump is the hash table's: compared sorted)
const LISTED = [
  '4 6 0 10.99.0.11 10.96.0.10 40000 8080 - 10.99.0.10 10.99.0.11 80 40000 -',
  '4 6 5 10.99.0.11 10.99.0.10 40001 80 - 10.99.0.10 10.99.0.11 80 40001 -',
  '4 6 6 10.99.0.11 10.99.0.10 40001 80 - 10.99.0.10 10.99.0.11 80 40001 -',
  '4 17 0 10.99.0.13 10.99.0.10 5353 53 - 10.99.0.10 10.99.0.13 53 5353 -',
  '4 1 0 10.99.0.13 10.99.0.10 8 0 77 10.99.0.10 10.99.0.13 - - -',
  '6 6 0 fd00::2 fd00::3 1000 443 - fd00::3 fd00::2 443 1000 -',
  '6 17 0 fd00::2 fd00::3 1001 53 - fd00::3 fd00::2 53 1001 -',
  '6 58 0 fd00::2 fd00::3 128 0 9 fd00::3 fd00::2 - - -',
  '4 6 1/0 10.1.1.1 10.1.1.2 7 8 - 10.1.1.2 10.1.1.1 8 7 -',
  '4 47 0 10.2.2.1 10.2.2.2 - - - 10.2.2.2 10.2.2.1 - - -',
].sort();

describe.skipIf(kernel.skip)(kernel.title, () => {
  async function inNetns(body: (ctx: { netns: string; helper: (args: string[], input?: string) => ReturnType<typeof run>; conntrack: (args: string[]) => Promise<void>; dir: string }) => Promise<void>): Promise<void> {
    const bin = await ensureHelper();
    const netns = netnsName('pcct');
    const dir = await mkdtemp(join(tmpdir(), 'pcct-test-'));
    await addNetns(netns);
    try {
      const target = { kind: 'named' as const, name: netns };
      const helper = (args: string[], input?: string) => {
        const [file, argv] = netnsArgv(target, [bin, ...args]);
        return run(file, argv, input);
      };
      const conntrack = async (args: string[]) => {
        const [file, argv] = netnsArgv(target, ['conntrack', ...args]);
        const r = await run(file, argv);
        if (!r.ok) throw new Error(`conntrack ${args.join(' ')}: ${r.stderr.trim()}`);
      };
      await body({ netns, helper, conntrack, dir });
    } finally {
      await deleteNetns(netns);
      await rm(dir, { recursive: true, force: true });
    }
  }

  const listed = (stdout: string) => stdout.split('\n').filter(Boolean).sort();

  it('lists every kind of entry, deletes exactly the given ones (tuple and zone), and keeps the rest', async () => {
    await inNetns(async ({ helper, conntrack }) => {
      for (const args of INSERTS) await conntrack(['-I', ...args, '-t', '300']);
      const before = await helper(['list']);
      expect(before.code, before.stderr).toBe(0);
      expect(listed(before.stdout)).toEqual(LISTED);
      const entries = listed(before.stdout).map((l) => parseEntryLine(l)!);
      expect(entries.every(Boolean)).toBe(true);

      const pick = (p: (e: ConntrackEntry) => boolean) => entries.filter(p).map((e) => entryLine(e)!);
      const chosen = [
        ...pick((e) => e.orig.dst === '10.96.0.10'), // DNAT, by its original tuple
        ...pick((e) => e.zone === 5),
        ...pick((e) => e.protoName === 'icmp'),
        ...pick((e) => e.family === 6 && e.protoName !== 'tcp'),
      ];
      expect(chosen).toHaveLength(5);
      const input = [
        ...chosen,
        chosen[0], // a second time: gone
        '4 6 7 10.99.0.11 10.99.0.10 40001 80 -', // the zone-5/6 tuple in zone 7: no such entry
        '4 17 0 10.99.0.13 10.99.0.10 5354 53 -', // another source port
        '',
      ].join('\n');
      const del = await helper(['delete'], `${input}\n`);
      expect(del.stderr).toBe('');
      expect(del.code).toBe(0);
      expect(parseDeleteCounts(del.stdout)).toEqual({ deleted: 5, gone: 3, failed: 0 });

      const after = await helper(['list']);
      const chosenListed = new Set(chosen);
      expect(listed(after.stdout)).toEqual(LISTED.filter((l) => !chosenListed.has(entryLine(parseEntryLine(l)!)!)));
      expect(listed(after.stdout)).toHaveLength(LISTED.length - 5);
      // a listed line can be given back whole
      const whole = listed(after.stdout).filter((l) => l.startsWith('6 6 '));
      expect(parseDeleteCounts((await helper(['delete'], `${whole.join('\n')}\n`)).stdout)).toEqual({ deleted: 1, gone: 0, failed: 0 });
    });
  });

  it('lists and deletes 2000 entries (a dump of many messages): every other one deleted, the others left', async () => {
    await inNetns(async ({ helper, conntrack, dir }) => {
      const lines: string[] = [];
      for (let i = 0; i < 2000; i++) lines.push(`-I -p tcp -s 10.50.${i % 7}.1 -d 10.60.0.${1 + (i % 200)} --sport ${10000 + i} --dport ${1 + (i % 500)} --state ESTABLISHED -t 300`);
      const file = join(dir, 'insert.txt');
      await writeFile(file, `${lines.join('\n')}\n`);
      await conntrack(['-R', file]);
      const all = listed((await helper(['list'])).stdout);
      expect(all).toHaveLength(2000);
      const entries = all.map((l) => parseEntryLine(l)!);
      const gone = entries.filter((e) => e.orig.sport! % 2 === 0);
      const del = await helper(['delete'], `${gone.map((e) => entryLine(e)).join('\n')}\n`);
      expect(parseDeleteCounts(del.stdout)).toEqual({ deleted: 1000, gone: 0, failed: 0 });
      const left = listed((await helper(['list'])).stdout);
      expect(left).toEqual(entries.filter((e) => e.orig.sport! % 2 === 1).map((e) => all[entries.indexOf(e)]));
    });
  });

  it('refuses bad lines (counted as failed, named on stderr, exit 1) and bad usage (exit 2); deletes nothing for them', async () => {
    await inNetns(async ({ helper, conntrack }) => {
      for (const args of INSERTS) await conntrack(['-I', ...args, '-t', '300']);
      const bad = [
        'garbage',
        `4 6 0 10.99.0.11 10.96.0.10 40000 8080 - ${'x'.repeat(1000)}`, // too long
        '4 6 1/0 10.1.1.1 10.1.1.2 7 8 -', // directional zones
        '4 47 0 10.2.2.1 10.2.2.2 - - -', // no tuple to delete by
        '4 6 0 fd00::2 fd00::3 1000 443 -', // IPv6 address for family 4
        '4 6 0 10.99.0.11 10.96.0.10 40000 65536 -',
        '4 1 0 10.99.0.13 10.99.0.10 8 0 -',
      ];
      const del = await helper(['delete'], `${bad.join('\n')}\n`);
      expect(del.code).toBe(1);
      expect(parseDeleteCounts(del.stdout)).toEqual({ deleted: 0, gone: 0, failed: bad.length });
      for (let i = 1; i <= bad.length; i++) expect(del.stderr).toContain(`line ${i}:`);
      expect(del.stderr).toContain('line too long');
      expect(del.stderr).toContain('directional zones');
      expect(listed((await helper(['list'])).stdout)).toEqual(LISTED);
      for (const args of [[], ['delete', 'extra'], ['flush'], ['serve', 'x']]) {
        const r = await helper(args);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr).toMatch(/^usage: policyc-conntrack list \| delete \| local \| serve/);
      }
    });
  });

  /** The local table's routes as `ip -j route show table all` shows them (the flush's previous source). */
  async function ipLocalRoutes(netns: string): Promise<string[]> {
    const r = await run('ip', ['-n', netns, '-j', 'route', 'show', 'table', 'all']);
    if (!r.ok) throw new Error(`ip route: ${r.stderr}`);
    const routes = JSON.parse(r.stdout || '[]') as Array<{ table?: string; type?: string; dst: string }>;
    return routes
      .filter((x) => x.table === 'local')
      .map((x) => `${x.type ?? 'unicast'} ${x.dst.includes('/') ? x.dst : `${x.dst}/${x.dst.includes(':') ? 128 : 32}`}`)
      .sort();
  }

  async function addAddresses(netns: string): Promise<void> {
    for (const args of [
      ['link', 'set', 'lo', 'up'],
      ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'],
      // no link-local addresses: their routes would appear when DAD ends, racing the comparison
      ['link', 'set', 'v0', 'addrgenmode', 'none'],
      ['link', 'set', 'v1', 'addrgenmode', 'none'],
      ['addr', 'add', '10.99.0.11/24', 'dev', 'v0'],
      ['addr', 'add', 'fd00:99::11/64', 'dev', 'v0', 'nodad'],
      ['link', 'set', 'v0', 'up'],
      ['link', 'set', 'v1', 'up'],
    ]) {
      const r = await run('ip', ['-n', netns, ...args]);
      if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
    }
  }

  it('local (one-shot): the local table of both families, as ip route shows it', async () => {
    await inNetns(async ({ netns, helper }) => {
      await addAddresses(netns);
      const r = await helper(['local']);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.split('\n').filter(Boolean);
      expect(lines.every((l) => parseRouteLine(l))).toBe(true);
      const ours = lines.map((l) => l.slice(2)).sort();
      expect(ours).toEqual(await ipLocalRoutes(netns));
      for (const want of ['local 10.99.0.11/32', 'broadcast 10.99.0.255/32', 'local 127.0.0.0/8', 'local ::1/128', 'local fd00:99::11/128']) expect(ours).toContain(want);
    });
  });

  it('serve: lists (whole and truncated), deletes, reports local addresses, refuses bad requests, survives being killed, stops by PID', async () => {
    await inNetns(async ({ netns, conntrack }) => {
      const bin = await ensureHelper();
      await addAddresses(netns);
      for (const args of INSERTS) await conntrack(['-I', ...args, '-t', '300']);
      const logs: string[] = [];
      const h = new ConntrackHelper(bin, { kind: 'named', name: netns }, (m) => logs.push(m));
      const list = async (max = 1000) => {
        const lines: string[] = [];
        const a = await h.request('list', `list ${max}\n`, { timeoutMs: 10_000, onLine: (l) => lines.push(l) });
        return { lines: lines.sort(), fields: a.fields };
      };
      try {
        h.start();
        const pid = h.pid!;
        expect(pid).toBeGreaterThan(0);
        expect((await h.request('ping', 'ping\n', { timeoutMs: 5000 })).fields).toEqual({});

        // list: every entry, then a truncated one (the dump stopped early), then whole again
        expect(await list()).toEqual({ lines: LISTED, fields: { entries: String(LISTED.length), truncated: '0' } });
        const three = await list(3);
        expect(three.fields).toEqual({ entries: '3', truncated: '1' });
        expect(three.lines).toHaveLength(3);
        for (const l of three.lines) expect(LISTED).toContain(l);
        expect((await list()).lines).toEqual(LISTED);
        expect((await list(LISTED.length)).fields).toEqual({ entries: String(LISTED.length), truncated: '0' });

        // local: the same routes as ip route's local table
        const routes: string[] = [];
        const local = await h.request('local', 'local\n', { timeoutMs: 5000, onLine: (l) => routes.push(l) });
        expect(local.fields).toEqual({ routes: String(routes.length) });
        expect(routes.map((l) => parseRouteLine(l)).map((r) => `${r!.type} ${r!.dst}`).sort()).toEqual(await ipLocalRoutes(netns));
        expect(routes).toContain('L local 10.99.0.11/32');
        expect(routes).toContain('L local fd00:99::11/128');

        // delete: exact tuples; a second time gone; a bad line reported, counted as failed
        const entries = LISTED.map((l) => parseEntryLine(l)!);
        const chosen = entries.filter((e) => e.orig.dst === '10.96.0.10' || e.zone === 5 || e.protoName === 'icmpv6').map((e) => entryLine(e)!);
        expect(chosen).toHaveLength(3);
        const batch = [...chosen, chosen[0], 'garbage', '4 6 1/0 10.1.1.1 10.1.1.2 7 8 -'];
        const del = await h.request('delete', `delete ${batch.length}\n${batch.join('\n')}\n`, { timeoutMs: 5000 });
        expect(del.fields).toEqual({ deleted: '3', gone: '1', failed: '2' });
        expect(del.reports).toHaveLength(2);
        expect(del.reports[0]).toMatch(/^line 5: expected 8 fields/);
        expect(del.reports[1]).toMatch(/^line 6: directional zones/);
        const chosenSet = new Set(chosen);
        expect((await list()).lines).toEqual(LISTED.filter((l) => !chosenSet.has(entryLine(parseEntryLine(l)!)!)));
        // an empty batch
        expect((await h.request('delete', 'delete 0\n', { timeoutMs: 5000 })).fields).toEqual({ deleted: '0', gone: '0', failed: '0' });

        // bad requests fail alone; the helper goes on
        await expect(h.request('bogus', 'bogus\n', { timeoutMs: 5000 })).rejects.toThrow(/unknown request/);
        await expect(h.request('list', `list ${'9'.repeat(600)}\n`, { timeoutMs: 5000 })).rejects.toThrow(/request line too long/);
        await expect(h.request('list', 'list -1\n', { timeoutMs: 5000 })).rejects.toThrow(/bad MAX/);
        expect((await list()).lines).toHaveLength(LISTED.length - 3);
        expect(h.pid).toBe(pid);
        expect(h.starts).toBe(1);

        // killed by PID: logged; the next request starts another one, which answers
        process.kill(pid, 'SIGKILL');
        for (let i = 0; i < 100 && h.pid === pid; i++) await new Promise((r) => setTimeout(r, 20));
        expect(h.pid).toBeUndefined();
        expect(logs.some((l) => l.includes(`(pid ${pid}) exited (SIGKILL)`) && l.includes('starting it again at the next flush')), logs.join('\n')).toBe(true);
        expect((await list()).lines).toHaveLength(LISTED.length - 3);
        expect(h.pid).not.toBe(pid);
        expect(h.starts).toBe(2);
        expect(logs.some((l) => /serve restarted \(pid \d+, start 2; the previous one \(pid \d+\) exited \(SIGKILL\)/.test(l)), logs.join('\n')).toBe(true);

        // killed while answering: that request fails, the next one restarts it
        const pid2 = h.pid!;
        const slow = h.request('delete', `delete 2\n${chosen[0]}\n`, { timeoutMs: 5000 }); // one line short: it waits for the second
        await new Promise((r) => setTimeout(r, 100));
        process.kill(pid2, 'SIGKILL');
        await expect(slow).rejects.toThrow(/exited \(SIGKILL\)/);
        expect((await list()).lines).toHaveLength(LISTED.length - 3);
        expect(h.starts).toBe(3);

        // no answer in time: killed by PID, the request fails
        const pid3 = h.pid!;
        await expect(h.request('delete', `delete 1\n`, { timeoutMs: 300 })).rejects.toThrow(/no answer to delete within 300 ms/);
        for (let i = 0; i < 100 && processAlive(pid3); i++) await new Promise((r) => setTimeout(r, 20));
        expect(processAlive(pid3)).toBe(false);

        // close: stopped by PID; requests after it fail
        const pid4 = (await list(), h.pid!);
        await h.close();
        expect(processAlive(pid4)).toBe(false);
        await expect(h.request('ping', 'ping\n', { timeoutMs: 1000 })).rejects.toThrow(/closed/);
      } finally {
        await h.close();
      }
    });
  });
});
