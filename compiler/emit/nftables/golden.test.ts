// Golden nftables JSON for representative inputs, and every golden accepted by the kernel
// (`nft -c -j -f` inside a throwaway network namespace, never the root namespace).
// Accept new output: UPDATE_GOLDENS=1 npx vitest run compiler/emit

import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileSources, type Compilation } from '../../compile.js';
import { loadCases } from '../../../testkit/conformance.js';
import { checkRuleset, kernelAvailable, withNetns, applyRuleset, listTable } from '../../../dataplane/nft/loader.js';
import { emitNftables, formatNftJson } from './ruleset.js';
import { emitLinear } from './linear.js';
import type { NftDocument } from './schema.js';
import { guardSuite } from '../../../testkit/requirements.js';

const GOLDEN_DIR = new URL('../../../testdata/goldens/nftables/', import.meta.url).pathname;
const UPDATE = process.env.UPDATE_GOLDENS === '1';

interface GoldenInput {
  readonly name: string;
  readonly compilation: Compilation;
}

function inputs(): GoldenInput[] {
  const out: GoldenInput[] = [];
  for (const f of readdirSync(GOLDEN_DIR).filter((x) => x.endsWith('.input.yaml')).sort()) {
    out.push({ name: f.replace(/\.input\.yaml$/, ''), compilation: compileSources([{ name: f, text: readFileSync(join(GOLDEN_DIR, f), 'utf8') }]) });
  }
  const cases = loadCases();
  for (const [prefix, step] of [
    ['017', 0],
    ['035', 0],
    ['009', 0],
  ] as const) {
    const c = cases.find((x) => x.file.startsWith(prefix))!;
    const s = c.steps[step];
    out.push({
      name: `conformance-${c.file.replace(/\.yaml$/, '').slice(0, 40)}`,
      compilation: compileSources([
        { name: 'policies.yaml', text: s.policies },
        { name: 'snapshot.yaml', text: s.snapshot },
      ]),
    });
  }
  return out;
}

const goldenInputs = inputs();

function outputs(g: GoldenInput): Array<{ file: string; doc: NftDocument; text: string }> {
  const program = g.compilation.program!;
  const cluster = g.compilation.hasSnapshot ? g.compilation.cluster : undefined;
  const e = emitNftables(program, cluster);
  const files = [{ file: `${g.name}.nft.json`, doc: e.document, text: formatNftJson(e.document) }];
  const counts = { ...e.counts, linear: cluster ? emitLinear(program, cluster).counts : undefined };
  files.push({ file: `${g.name}.counts.json`, doc: { nftables: [] }, text: `${JSON.stringify(counts, null, 2)}\n` });
  if (cluster) {
    const lin = emitLinear(program, cluster);
    files.push({ file: `${g.name}.linear.nft.json`, doc: lin.document, text: formatNftJson(lin.document) });
  }
  return files;
}

describe('nftables goldens', () => {
  for (const g of goldenInputs) {
    it(g.name, () => {
      expect(g.compilation.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      for (const o of outputs(g)) {
        const path = join(GOLDEN_DIR, o.file);
        if (UPDATE || !existsSync(path)) {
          if (!UPDATE && process.env.CI === 'true') throw new Error(`golden ${o.file} is missing (run UPDATE_GOLDENS=1 npx vitest run compiler/emit)`);
          writeFileSync(path, o.text);
        }
        expect(o.text, `${o.file} differs from the golden; accept with UPDATE_GOLDENS=1 npx vitest run compiler/emit`).toBe(readFileSync(path, 'utf8'));
      }
    });
  }

  it('is deterministic: emitting twice gives the same text', () => {
    for (const g of goldenInputs) expect(outputs(g).map((o) => o.text)).toEqual(outputs(g).map((o) => o.text));
  });
});

const kernel = guardSuite('nftables goldens in the kernel', await kernelAvailable());

describe.skipIf(kernel.skip)(kernel.title, () => {
  const files = readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.nft.json')).sort();
  it('has goldens', () => expect(files.length).toBeGreaterThan(3));
  for (const f of files) {
    it(`nft -c accepts ${f}`, async () => {
      const text = readFileSync(join(GOLDEN_DIR, f), 'utf8');
      await withNetns('pcnft', async (ns) => {
        const r = await checkRuleset(ns, text);
        expect(r.stderr).toBe('');
        expect(r.ok).toBe(true);
      });
    });
  }
  it('loads a golden twice (full replace works with and without the table) and lists it back', async () => {
    const text = readFileSync(join(GOLDEN_DIR, 'admin-tiers.nft.json'), 'utf8');
    const doc = JSON.parse(text) as NftDocument;
    await withNetns('pcnft', async (ns) => {
      await applyRuleset(ns, text);
      await applyRuleset(ns, text);
      const listed = await listTable(ns);
      const count = (kind: string) => listed.nftables.filter((o) => kind in o).length;
      const want = (kind: string) => doc.nftables.filter((c) => 'add' in c && kind in c.add).length;
      expect(count('chain')).toBe(want('chain'));
      expect(count('rule')).toBe(want('rule'));
      expect(count('map') + count('set')).toBe(want('map') + want('set'));
      const rules = listed.nftables.filter((o) => 'rule' in o).map((o) => (o.rule as { comment?: string }).comment ?? '');
      expect(rules).toContain('anp/cluster-guardrails/ingress/0');
    });
  });
});
