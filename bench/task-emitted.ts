// Emitted size: our lowering against a per-peer linear lowering, for the same input.
//   method "bench": IR count (emitted-count.ts) vs linear-count.ts, both over bench/membership.ts
//   methods "nft" / "linear": compiler/emit/nftables emitNftables(...).counts / emitLinear(...).counts,
//                   when those exist (each in its own child: they can be slow on big inputs)

import { compileSources } from '../compiler/compile.js';
import { countIr } from './emitted-count.js';
import { countLinear } from './linear-count.js';
import { computeMembership } from './membership.js';
import { optionalImport } from './optional-import.js';
import { readSources } from './task-compile.js';

type Counts = Record<string, number>;

export async function emittedSize(paths: readonly string[], method: 'nft' | 'linear' | 'bench'): Promise<Record<string, number | string>> {
  const compilation = compileSources(readSources(paths));
  const program = compilation.program!;
  const out: Record<string, number | string> = {};
  if (method === 'bench') {
    const membership = computeMembership(program, compilation.cluster);
    const ir = countIr(program, compilation.cluster, membership);
    const linear = countLinear(program, compilation.cluster, membership);
    Object.assign(out, { 'ours: rules': ir.rules, 'ours: sets': ir.sets, 'ours: set elements': ir.setElements });
    Object.assign(out, { 'linear: peer rules': linear.peerRules, 'linear: per-pod dispatch rules': linear.dispatchRules, 'linear: rules total': linear.total });
    out['linear rules / (our rules + elements)'] = linear.total / (ir.rules + ir.setElements);
    return out;
  }
  const module = method === 'nft' ? await optionalImport('../compiler/emit/nftables/ruleset.js') : await optionalImport('../compiler/emit/nftables/linear.js');
  const fn = module?.[method === 'nft' ? 'emitNftables' : 'emitLinear'];
  if (typeof fn !== 'function') return { note: `compiler/emit/nftables ${method === 'nft' ? 'emitNftables' : 'emitLinear'} not there yet` };
  const t = performance.now();
  const counts = (fn as (...a: unknown[]) => { counts: Counts })(program, compilation.cluster).counts;
  out[`${method}: ms`] = performance.now() - t;
  for (const [k, v] of Object.entries(counts)) out[`${method}: ${k}`] = v;
  return out;
}
