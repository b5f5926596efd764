// policyc-conntrack against the real kernel, only inside a network namespace this test creates
// (pcct-<random>, removed in finally, also on failure): entries of every kind the flush meets
// (TCP with DNAT, zones, UDP, ICMP, IPv6, ICMPv6, a directional zone, GRE) are inserted with
// `conntrack -I`, listed, an exact subset deleted (same tuple in another zone, another source
// port, a second delete: gone, not deleted), and the rest must remain exactly. Then 2000 entries
// (a multi-part dump), bad input and bad usage.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { addNetns, deleteNetns, run } from '../../nft/loader.js';
import { entryLine, locateConntrackHelper, parseDeleteCounts, parseEntryLine, type ConntrackEntry } from '../conntrack-flush.js';
import { netnsArgv } from '../nft-exec.js';
import { netnsName, policyKernel } from '../testing.js';

async function requirements(): Promise<{ ok: boolean; reason?: string }> {
  const k = await policyKernel();
  if (!k.ok) return k;
  const r = await run('conntrack', ['--version']).catch(() => undefined);
  return r?.ok ? { ok: true } : { ok: false, reason: 'the conntrack tool is missing (Debian package conntrack, scripts/setup.sh): the test inserts entries with it' };
}

const kernel = await requirements();
if (!kernel.ok && process.env.CI === 'true') {
  describe('policyc-conntrack (kernel)', () => {
    it('needs root, ip, nft, nsenter and conntrack (CI=true)', () => {
      throw new Error(`kernel tests cannot run in CI: ${kernel.reason}`);
    });
  });
}

/** The helper, built with build.sh when missing; a build failure fails the test loudly. */
async function ensureHelper(): Promise<string> {
  const found = locateConntrackHelper();
  if (found) return found;
  const script = join(dirname(fileURLToPath(import.meta.url)), 'build.sh');
  const r = await run('bash', [script]);
  if (!r.ok) throw new Error(`bash ${script} failed: ${r.stderr.trim()}`);
  const built = locateConntrackHelper();
  if (!built) throw new Error(`${script} succeeded but policyc-conntrack is not there`);
  return built;
}

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

describe.skipIf(!kernel.ok)(`policyc-conntrack in a throwaway netns${kernel.ok ? '' : ` (skipped: ${kernel.reason})`}`, () => {
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
      for (const args of [[], ['delete', 'extra'], ['flush']]) {
        const r = await helper(args);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr).toMatch(/^usage: policyc-conntrack list \| delete/);
      }
    });
  });
});
