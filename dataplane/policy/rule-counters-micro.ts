// Micro figures for the rule counter dump (rule-counters.ts) and the listing-free fingerprint
// (NftRunner.listTableApart), on the real skeleton plus N extra allow_<cookie> chains with one
// counter rule each and E elements in src_identity_v4 (the benchmark's 50k pods / 10k policies:
// 10,809 chains, ~200k elements). Runs as root in a throwaway netns (pcrc-micro-*), removed at
// the end. Reported, each way interleaved in the same run (median and p90 ms):
//   counters:    the helper's nfnetlink rule dump vs its terse listing vs `nft -t -j list table`;
//   next batch:  one libnftables element batch (a prefix in the interval map src_world_v4, add
//                or delete) right after either way of reading the counters;
//   full replace: the batch, then the rules fingerprint through the helper, `policyc-nft
//                list-terse` (listTableApart) or `nft -t`, then the first libnftables element batch.
//   npx tsx dataplane/policy/rule-counters-micro.ts [--chains 1000] [--elements 100000] [--reps 10] [--full-reps 4]
//                                                   [--interval-elements 0] (prefixes in src_world_v4)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { addNetns, deleteNetns } from '../nft/loader.js';
import { fullReplaceDocument } from './apply.js';
import { parseArtifact } from './artifact.js';
import { POLICIES_A } from './fixtures.js';
import { rulesFingerprint } from './kernel-model.js';
import { NftRunner, netnsTarget } from './nft-exec.js';
import { compileArtifact, ensureNftHelper, netnsName } from './testing.js';

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(s.length * q) - 1))];
}

async function timed<T>(out: number[], f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const r = await f();
  out.push(performance.now() - t0);
  return r;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { chains: { type: 'string', default: '1000' }, elements: { type: 'string', default: '100000' }, reps: { type: 'string', default: '10' }, 'full-reps': { type: 'string', default: '4' }, 'interval-elements': { type: 'string', default: '0' } } });
  const [chains, elements, reps, fullReps, intervalElements] = [values.chains, values.elements, values.reps, values['full-reps'], values['interval-elements']].map(Number);
  const helper = await ensureNftHelper();
  if (!helper) throw new Error('policyc-nft is not built (bash scripts/build-native.sh)');
  const parsed = parseArtifact(compileArtifact(POLICIES_A));
  if (!parsed.ok) throw new Error(parsed.reason);
  const artifact = parsed.artifact;
  const table = artifact.table;
  const dir = mkdtempSync(join(tmpdir(), 'pcrc-micro-'));
  const ns = netnsName('pcrc-micro');
  await addNetns(ns);
  const runner = new NftRunner(netnsTarget(ns), join(dir, ns), { helper });
  try {
    const extra = Array.from({ length: chains }, (_, i) => {
      const name = `allow_${(0x10000000 + i).toString(16)}`;
      return [{ add: { chain: { family: 'inet', table, name } } }, { add: { rule: { family: 'inet', table, chain: name, comment: `np/bench/p${i}/ingress/0`, expr: [{ counter: { packets: i, bytes: i * 60 } }, { accept: null }] } } }];
    }).flat();
    const elem = Array.from({ length: elements }, (_, i) => [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 5]);
    // /32 prefixes in the interval map, from 11.0.0.0 (apart from the batches' 172.16-17/24)
    const intervals = Array.from({ length: intervalElements }, (_, i) => [{ prefix: { addr: `11.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, len: 32 } }, 5]);
    const full = JSON.stringify({
      nftables: [
        ...fullReplaceDocument(artifact, undefined).nftables,
        ...extra,
        { add: { element: { family: 'inet', table, name: 'src_identity_v4', elem } } },
        ...(intervals.length ? [{ add: { element: { family: 'inet', table, name: 'src_world_v4', elem: intervals } } }] : []),
      ],
    });
    let batchNo = 0;
    // one libnftables element batch on the interval map (what the netlink path leaves to libnftables)
    // (alternating add and delete; `fresh`: an add into a table just replaced)
    const intervalBatch = async (fresh = false) => {
      const i = batchNo++;
      const verb = fresh || i % 2 === 0 ? 'add' : 'delete';
      const addr = fresh ? `172.17.${i & 255}.0` : `172.16.${(i >> 1) & 255}.0`;
      const r = await runner.apply(JSON.stringify({ nftables: [{ [verb]: { element: { family: 'inet', table, name: 'src_world_v4', elem: [[{ prefix: { addr, len: 24 } }, 5]] } } }] }));
      if (!r.ok) throw new Error(`interval batch: ${r.stderr}`);
    };
    const t0 = performance.now();
    const loaded = await runner.apply(full);
    if (!loaded.ok) throw new Error(loaded.stderr);
    console.log(`table: ${chains} extra chains, ${elements} elements in src_identity_v4, ${intervalElements} in src_world_v4; loaded in ${(performance.now() - t0).toFixed(0)} ms`);
    await intervalBatch(); // settle the helper's cache after the load

    const dump: number[] = [];
    const listHelper: number[] = [];
    const listExec: number[] = [];
    const afterDump: number[] = [];
    const afterList: number[] = [];
    for (let i = 0; i < reps; i++) {
      const rows = await timed(dump, () => runner.ruleCounters(table));
      if (!rows || rows.length < chains) throw new Error(`the dump answered ${rows?.length} rows`);
      await timed(afterDump, () => intervalBatch());
      await timed(listHelper, () => runner.listTable(table, true));
      await timed(afterList, () => intervalBatch());
      await timed(listExec, () => runner.run(['-t', '-j', 'list', 'table', 'inet', table]));
    }
    const fullApply: number[] = [];
    const fpHelper: number[] = [];
    const fpApart: number[] = [];
    const fpNft: number[] = [];
    const firstAfterHelper: number[] = [];
    const firstAfterApart: number[] = [];
    const firstAfterNft: number[] = [];
    const ways = {
      helper: [fpHelper, firstAfterHelper, () => runner.listTable(table, true)],
      apart: [fpApart, firstAfterApart, () => runner.listTableApart(table)],
      nft: [fpNft, firstAfterNft, async () => JSON.parse((await runner.run(['-t', '-j', 'list', 'table', 'inet', table])).stdout)],
    } as const;
    const fingerprints = new Set<string>();
    for (let i = 0; i < fullReps; i++) {
      for (const [fp, first, list] of Object.values(ways)) {
        const r = await timed(fullApply, () => runner.apply(full));
        if (!r.ok) throw new Error(r.stderr);
        fingerprints.add(rulesFingerprint((await timed(fp, list))!));
        await timed(first, () => intervalBatch(true));
      }
    }
    if (fingerprints.size !== 1) throw new Error(`${fingerprints.size} different fingerprints`);
    const f = (xs: number[]) => `${quantile(xs, 0.5).toFixed(2)} (${quantile(xs, 0.9).toFixed(2)})`;
    console.log('median (p90) ms');
    console.log(`counters: helper rule dump ${f(dump)}; helper terse listing ${f(listHelper)}; nft -t -j list table ${f(listExec)}; listing / dump ${(quantile(listHelper, 0.5) / quantile(dump, 0.5)).toFixed(0)}x`);
    console.log(`next libnftables element batch: after the dump ${f(afterDump)}; after the helper's listing ${f(afterList)}`);
    console.log(`full replace batch ${f(fullApply)}; fingerprint listing: helper ${f(fpHelper)}, policyc-nft list-terse ${f(fpApart)}, nft -t ${f(fpNft)} (one fingerprint)`);
    console.log(`first libnftables element batch after the full replace: fingerprint by the helper ${f(firstAfterHelper)}, by policyc-nft list-terse ${f(firstAfterApart)}, by nft -t ${f(firstAfterNft)}`);
  } finally {
    await runner.close();
    await deleteNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
