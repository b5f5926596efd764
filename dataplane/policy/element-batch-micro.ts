// Micro figure for the nfnetlink element path (element-batch.ts): one 1-element batch (an add,
// then its delete, alternating) into src_identity_v4 of the real skeleton, through policyc-nft's
// netlink path and through its libnftables path, interleaved in the same run, with the table
// holding N extra chains (our table has one chain per deciding rule: 10,809 at the benchmark's
// 50k pods / 10k policies). Runs as root in a throwaway netns (pcfast-micro-*), removed at the end.
//   npx tsx dataplane/policy/element-batch-micro.ts [--chains 0,2000,10000] [--reps 200]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { NftDocument } from '../../compiler/emit/nftables/schema.js';
import { addNetns, deleteNetns } from '../nft/loader.js';
import { fullReplaceDocument } from './apply.js';
import { parseArtifact } from './artifact.js';
import { elementTarget } from './element-batch.js';
import { POLICIES_A } from './fixtures.js';
import { NftRunner, netnsTarget } from './nft-exec.js';
import { compileArtifact, ensureNftHelper, netnsName } from './testing.js';

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(s.length * q) - 1))];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { chains: { type: 'string', default: '0,2000,10000' }, reps: { type: 'string', default: '200' } } });
  const reps = Number(values.reps);
  const helper = await ensureNftHelper();
  if (!helper) throw new Error('policyc-nft is not built (bash dataplane/policy/helper/build.sh)');
  const parsed = parseArtifact(compileArtifact(POLICIES_A));
  if (!parsed.ok) throw new Error(parsed.reason);
  const artifact = parsed.artifact;
  const target = elementTarget(artifact.skeleton)!;
  const dir = mkdtempSync(join(tmpdir(), 'pcfast-micro-'));
  console.log(`one 1-element batch (add or delete in ${artifact.table} src_identity_v4), ms; ${reps} each, interleaved`);
  console.log('extra chains  netlink median  p90   libnftables median  p90   ratio (median)');
  try {
    for (const chains of values.chains.split(',').map(Number)) {
      const ns = netnsName('pcfast-micro');
      await addNetns(ns);
      const runner = new NftRunner(netnsTarget(ns), join(dir, ns), { helper });
      try {
        const extra = Array.from({ length: chains }, (_, i) => ({ add: { chain: { family: 'inet', table: artifact.table, name: `extra_${i}` } } }));
        const r = await runner.apply(JSON.stringify({ nftables: [...fullReplaceDocument(artifact, undefined).nftables, ...extra] }));
        if (!r.ok) throw new Error(r.stderr);
        const doc = (verb: 'add' | 'delete', i: number) => ({ nftables: [{ [verb]: { element: { family: 'inet', table: artifact.table, name: 'src_identity_v4', elem: [[`10.9.${(i >> 8) & 255}.${i & 255}`, 5]] } } }] }) as unknown as NftDocument;
        const netlink: number[] = [];
        const json: number[] = [];
        for (let i = 0; i < reps; i++) {
          for (const [path, out] of [
            ['netlink', netlink],
            ['json', json],
          ] as const) {
            const verb = i % 2 === 0 ? 'add' : 'delete';
            const d = doc(verb, path === 'netlink' ? (i >> 1) * 2 : (i >> 1) * 2 + 1);
            const t0 = performance.now();
            const res = path === 'netlink' ? await runner.applyElements(d, target) : await runner.apply(JSON.stringify(d));
            out.push(performance.now() - t0);
            if (!res.ok) throw new Error(`${path} ${verb}: ${res.stderr}`);
          }
        }
        if (runner.elementBatches.netlink !== reps) throw new Error(`only ${runner.elementBatches.netlink} of ${reps} batches took the netlink path`);
        const f = (x: number) => x.toFixed(3);
        console.log(`${String(chains).padStart(12)}  ${f(quantile(netlink, 0.5)).padStart(14)}  ${f(quantile(netlink, 0.9))}  ${f(quantile(json, 0.5)).padStart(18)}  ${f(quantile(json, 0.9))}  ${(quantile(json, 0.5) / quantile(netlink, 0.5)).toFixed(1)}x`);
      } finally {
        await runner.close();
        await deleteNetns(ns);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
