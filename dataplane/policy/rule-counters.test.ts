// Rule counters over nfnetlink (rule-counters.ts, helper/rule-counters.c) against nft's own
// listing, and the engine's fallbacks. Kernel parts run only inside throwaway netns (pcrc-* and
// the pod network's own), removed also on failure; nothing runs in the root namespace.
//   - the helper's rows equal the counters of `nft -t -j list table` after real packets hit the
//     allow and drop chains, and on hand-made rules (counter values set at add, odd chain names
//     and comments, rules without counters, another table with the same chain names);
//   - the engine's metrics (drops/allows) are the same through the new helper, an old helper (a
//     proxy that turns the request into what a helper built before it does with it), a helper
//     answering garbage, and `nft` per call; each later engine adopts the table (the fingerprint
//     the first one took with `policyc-nft list-terse` equals what the helper lists), so counters
//     survive;
//   - listTableApart (the fingerprint listing) agrees through list-terse, an older helper (which
//     falls back to `nft -t`) and no helper.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardSuite } from '../../testkit/requirements.js';
import { addNetns, deleteNetns, run } from '../nft/loader.js';
import { createPodNetwork, probeFrom, startServers, stopServers } from '../nft/podnet.js';
import { PolicyEngine } from './engine.js';
import { clusterState, POD_IPS, POLICIES_A } from './fixtures.js';
import { rulesFingerprint } from './kernel-model.js';
import { parseMetrics, ruleCounters, ruleCountersOfRows } from './metrics.js';
import { NftRunner, netnsTarget } from './nft-exec.js';
import { parseCounterLines, type CounterRow } from './rule-counters.js';
import { compileArtifact, ensureNftHelper, netnsName, policyKernel } from './testing.js';
import { parseArtifact } from './artifact.js';
import { fullReplaceDocument } from './apply.js';

describe('rule counter lines (no kernel)', () => {
  it('parses rows, unescapes names and comments, and refuses anything else', () => {
    expect(parseCounterLines('')).toEqual([]);
    expect(parseCounterLines('allow_0000abcd\t3\t180\tnp/x/a/ingress/0\nodd\\x09chain\\x5c\t18446744073709551615\t0\t\n')).toEqual([
      { chain: 'allow_0000abcd', packets: 3, bytes: 180, comment: 'np/x/a/ingress/0' },
      { chain: 'odd\tchain\\', packets: 18446744073709551615, bytes: 0 },
    ]);
    for (const bad of ['allow_1\t3\t180\tc', 'allow_1\t3\t180\n', 'allow_1\tx\t180\tc\n', '\t1\t2\t\n', 'a\t1\t2\t\tb\n', 'garbage\n', 'a\t1\t2\tc\n\n']) expect(() => parseCounterLines(bad), JSON.stringify(bad)).toThrow();
  });
});

const kernel = guardSuite('rule counters over nfnetlink, in throwaway netns', await policyKernel());
const helperPath = kernel.ok ? await ensureNftHelper() : undefined;

/** The rows of a terse listing, as the helper would answer them. */
function listingRows(listing: { nftables: Array<Record<string, any>> }): CounterRow[] {
  const rows: CounterRow[] = [];
  for (const o of listing.nftables) {
    const counter = Array.isArray(o.rule?.expr) ? o.rule.expr.find((e: Record<string, any>) => e.counter)?.counter : undefined;
    if (counter) rows.push({ chain: o.rule.chain, packets: counter.packets, bytes: counter.bytes, ...(typeof o.rule.comment === 'string' ? { comment: o.rule.comment } : {}) });
  }
  return rows;
}

describe.skipIf(kernel.skip || !helperPath)(`${kernel.title}${helperPath ? '' : ' (skipped: policyc-nft not built)'}`, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcrc-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('answers what nft lists, for hand-made rules and another table with the same names', async () => {
    const ns = netnsName('pcrc');
    await addNetns(ns);
    const runner = new NftRunner(netnsTarget(ns), join(dir, ns), { helper: helperPath });
    try {
      const t = (name: string) => ({ family: 'inet', table: name });
      const rule = (table: string, chain: string, expr: unknown[], comment?: string) => ({ add: { rule: { ...t(table), chain, expr, ...(comment ? { comment } : {}) } } });
      const chains = ['allow_0000abcd', 'drop_isolated_egress', 'odd chain\\name', 'ünï'];
      const doc = {
        nftables: [
          { add: { table: { family: 'inet', name: 'pcrc' } } },
          { add: { table: { family: 'inet', name: 'other' } } },
          ...chains.flatMap((c) => [{ add: { chain: { ...t('pcrc'), name: c } } }, { add: { chain: { ...t('other'), name: c } } }]),
          rule('pcrc', 'allow_0000abcd', [{ counter: { packets: 2 ** 40 + 7, bytes: 2 ** 50 + 3 } }, { accept: null }], 'np/x/a/ingress/0'),
          rule('pcrc', 'allow_0000abcd', [{ counter: { packets: 1, bytes: 2 } }, { counter: { packets: 9, bytes: 9 } }, { accept: null }]),
          rule('pcrc', 'drop_isolated_egress', [{ drop: null }], 'no counter'),
          rule('pcrc', 'drop_isolated_egress', [{ counter: { packets: 0, bytes: 0 } }, { drop: null }], 'tab\there "quoted" \\ ünï'),
          rule('pcrc', 'odd chain\\name', [{ counter: { packets: 5, bytes: 300 } }]),
          rule('pcrc', 'ünï', [{ counter: { packets: 6, bytes: 400 } }], 'x'),
          rule('other', 'allow_0000abcd', [{ counter: { packets: 77, bytes: 77 } }, { accept: null }]),
        ],
      };
      const applied = await runner.apply(JSON.stringify(doc));
      expect(applied.ok, applied.stderr).toBe(true);
      const rows = await runner.ruleCounters('pcrc');
      const listing = await runner.listTableApart('pcrc');
      expect(rows).toEqual(listingRows(listing!));
      expect(rows).toHaveLength(5);
      expect(rows![0]).toEqual({ chain: 'allow_0000abcd', packets: 2 ** 40 + 7, bytes: 2 ** 50 + 3, comment: 'np/x/a/ingress/0' });
      expect(rows![1]).toMatchObject({ packets: 1, bytes: 2 }); // the first counter of a rule
      expect(await runner.ruleCounters('other')).toEqual([{ chain: 'allow_0000abcd', packets: 77, bytes: 77 }]);
      // a table that does not exist: no rows, as the listing's undefined gives no counters
      expect(await runner.ruleCounters('nope')).toEqual([]);
      // the same fingerprint through the helper and through a separate nft (full replace vs restart)
      expect(rulesFingerprint((await runner.listTable('pcrc', true))!)).toBe(rulesFingerprint(listing!));
    } finally {
      await runner.close();
      await deleteNetns(ns);
    }
  });

  it('lists for the fingerprint apart: policyc-nft list-terse, an older helper (nft -t instead) and no helper agree', async () => {
    const ns = netnsName('pcrc');
    await addNetns(ns);
    await writeFile(join(dir, 'proxy.mjs'), PROXY);
    const runners = [helperPath!, await proxyScript(join(dir, 'proxy.mjs'), 'old'), false as const].map((helper, i) => new NftRunner(netnsTarget(ns), join(dir, `${ns}-${i}`), { helper }));
    try {
      for (const r of runners) expect(await r.listTableApart('policyc')).toBeUndefined();
      const artifact = parseArtifact(compileArtifact(POLICIES_A));
      if (!artifact.ok) throw new Error(artifact.reason);
      const applied = await runners[0].apply(JSON.stringify(fullReplaceDocument(artifact.artifact, undefined)));
      expect(applied.ok, applied.stderr).toBe(true);
      const viaHelper = rulesFingerprint((await runners[0].listTable('policyc', true))!);
      for (const r of runners) expect(rulesFingerprint((await r.listTableApart('policyc'))!)).toBe(viaHelper);
      // the one-shot mode is a process of its own: the long-lived helper was started once (listTable, apply)
      expect(runners[0].helperStarts).toBe(1);
      const oneShot = await run('nsenter', [`--net=/run/netns/${ns}`, helperPath!, 'list-terse', 'bad"name']);
      expect(oneShot.ok).toBe(false);
    } finally {
      for (const r of runners) await r.close();
      await deleteNetns(ns);
    }
  });

  it('malformed table names end the helper, which the next request starts again', async () => {
    const ns = netnsName('pcrc');
    await addNetns(ns);
    const runner = new NftRunner(netnsTarget(ns), join(dir, ns), { helper: helperPath });
    try {
      expect(await runner.ruleCounters('nope')).toEqual([]);
      // the dump runs in its own policyc-nft process (the reader), beside the batch helper
      const reader = (runner as any).reader;
      const r = await reader.request(4, Buffer.from('a\0b'));
      expect(r.ok).toBe(false);
      expect(r.stderr).toMatch(/malformed rule counters request/);
      expect(await runner.ruleCounters('nope')).toEqual([]);
      expect(reader.starts).toBe(2);
    } finally {
      await runner.close();
      await deleteNetns(ns);
    }
  });

  it('counts real packets: helper rows equal the listing; metrics the same through every path; restarts adopt the table', async () => {
    const net = await createPodNetwork([
      { key: 'db', ip: POD_IPS.db },
      { key: 'api1', ip: POD_IPS.api1 },
      { key: 'web1', ip: POD_IPS.web1 },
    ]);
    let servers: Awaited<ReturnType<typeof startServers>> = [];
    const engines: PolicyEngine[] = [];
    const logs: string[] = [];
    const A = compileArtifact(POLICIES_A);
    const start = async (nftHelper: string | false) => {
      const e = await PolicyEngine.start({ stateDir: join(dir, 'state'), netns: net.node, setReady: () => undefined, log: (m) => logs.push(m), reconcileDelayMs: 0, persistDelayMs: 0, flushDeniedFlows: false, nftHelper });
      engines.push(e);
      return e;
    };
    const counterLines = (text: string) =>
      parseMetrics(text)
        .filter((s) => s.name === 'policyc_drops_total' || s.name === 'policyc_allows_total')
        .map((s) => `${s.name} ${JSON.stringify(s.labels)} ${s.value}`);
    try {
      servers = await startServers(net, [80]);
      const first = await start(helperPath!);
      await first.pushClusterState(clusterState());
      await first.loadArtifact(A, 'test');
      const target = [[POD_IPS.db, 80, 'TCP']] as const;
      for (let i = 0; i < 3; i++) {
        expect(await probeFrom(net, 'web1', target, 300)).toEqual([false]);
        expect(await probeFrom(net, 'api1', target)).toEqual([true]);
      }
      // the helper's rows equal nft's own listing of the counters, packets included
      const runner = new NftRunner(netnsTarget(net.node), join(dir, 'runner'), { helper: helperPath });
      try {
        const rows = (await runner.ruleCounters('policyc'))!;
        expect(rows).toEqual(listingRows((await runner.listTableApart('policyc'))!));
        const artifact = parseArtifact(A);
        if (!artifact.ok) throw new Error(artifact.reason);
        const counters = ruleCountersOfRows(rows, artifact.artifact.rules);
        expect(counters.find((c) => c.ruleId === 'np/x/db-from-api/ingress/0')).toMatchObject({ action: 'allow', packets: 3 });
        expect(counters.find((c) => c.ruleId === 'anp/no-web-to-db/ingress/0')!.packets).toBeGreaterThanOrEqual(3);
        expect(counters).toEqual(ruleCounters((await runner.listTableApart('policyc'))!, artifact.artifact.rules));
      } finally {
        await runner.close();
      }
      const expected = counterLines(await first.metrics());
      expect(expected.some((l) => /allows_total .*db-from-api.* 3$/.test(l))).toBe(true);
      await first.close();

      // an old helper: the proxy sends flag-4 requests on as a helper built before them reads
      // them (libnftables text); a broken one: answers garbage to every rule counter dump
      const proxy = join(dir, 'proxy.mjs');
      await writeFile(proxy, PROXY);
      for (const [mode, helper] of [
        ['old', await proxyScript(proxy, 'old')],
        ['garbage', await proxyScript(proxy, 'garbage')],
        ['exec', false],
        ['new', helperPath!],
      ] as const) {
        logs.length = 0;
        const e = await start(helper);
        expect(logs.some((l) => l.includes('already holds the last good')), `${mode}: ${logs.join('\n')}`).toBe(true);
        expect(counterLines(await e.metrics()), mode).toEqual(expected);
        if (mode === 'old') expect(logs.some((l) => l.includes('does not dump rule counters'))).toBe(true);
        if (mode === 'garbage') expect(logs.some((l) => /rule counter dump failed \(rule counter line 1 does not parse/.test(l))).toBe(true);
        await e.close();
      }
    } finally {
      for (const e of engines) await e.close().catch(() => undefined);
      stopServers(servers);
      await net.destroy();
    }
  });

  async function proxyScript(proxy: string, mode: string): Promise<string> {
    const path = join(dir, `helper-${mode}.sh`);
    await writeFile(path, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(proxy)} ${mode} ${JSON.stringify(helperPath)}\n`);
    await chmod(path, 0o755);
    return path;
  }
});

// A stand-in for policyc-nft in front of the real one: `old` rewrites flag bit 2 requests as a
// helper built before them reads them (the flag byte without bit 2: the body goes to
// libnftables); `garbage` answers them with return code 0 and a line that does not parse.
const PROXY = `
import { spawn } from 'node:child_process';
const [mode, real] = process.argv.slice(2);
const child = spawn(real, [], { stdio: ['pipe', 'inherit', 'inherit'] });
child.on('exit', (code) => process.exit(code ?? 1));
let buf = Buffer.alloc(0);
process.stdin.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
    const len = buf.readUInt32BE(0);
    const frame = Buffer.from(buf.subarray(0, 4 + len));
    buf = buf.subarray(4 + len);
    if (frame[4] & 4) {
      if (mode === 'old') frame[4] &= ~4;
      else if (len > 1) {
        const out = Buffer.from('garbage\\n');
        const head = Buffer.alloc(12);
        head.writeUInt32BE(8 + out.length, 0);
        head.writeInt32BE(0, 4);
        head.writeUInt32BE(out.length, 8);
        process.stdout.write(Buffer.concat([head, out]));
        continue;
      }
    }
    child.stdin.write(frame);
  }
});
process.stdin.on('end', () => child.stdin.end());
`;
