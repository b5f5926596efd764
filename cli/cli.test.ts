// The command line, run in-process with captured output.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from './main.js';
import { loadCases } from '../testkit/conformance.js';

const ROOT = new URL('..', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'policyc-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function run(args: string[]) {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream,
    stderr: { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WritableStream,
    cwd: ROOT,
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

describe('policyc compile', () => {
  it('writes the artifact for the demo', async () => {
    const out = join(tmp, 'demo');
    const r = await run(['compile', '-f', 'testdata/demo', '-o', out]);
    expect(r.stderr).toMatch(/wrote \d+ files/);
    expect(r.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.formatVersion).toBe(1);
    expect(manifest.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.counts).toMatchObject({ policies: 8, rules: 12 });
    const rules = JSON.parse(readFileSync(join(out, 'rules.json'), 'utf8'));
    const ledger = rules.find((x: { id: string }) => x.id === 'np/payments/ledger/ingress/0');
    expect(ledger.origins[0]).toMatchObject({ file: 'testdata/demo/policies/30-payments.yaml', line: 12, col: 5 });
  });

  it('is deterministic: the same input gives byte-identical artifacts', async () => {
    await run(['compile', '-f', 'testdata/demo', '-o', join(tmp, 'd1')]);
    await run(['compile', '-f', 'testdata/demo/policies/30-payments.yaml', 'testdata/demo/policies/00-admin.yaml', 'testdata/demo/policies/10-frontend.yaml', 'testdata/demo/policies/20-backend.yaml', 'testdata/demo/cluster.yaml', '-o', join(tmp, 'd2')]);
    const m1 = JSON.parse(readFileSync(join(tmp, 'd1', 'manifest.json'), 'utf8'));
    const m2 = JSON.parse(readFileSync(join(tmp, 'd2', 'manifest.json'), 'utf8'));
    expect(m2.files['program.json']).toBe(m1.files['program.json']);
  });

  it('reports every error with file:line:col and a code, exits non-zero, writes nothing', async () => {
    const out = join(tmp, 'bad');
    const r = await run(['compile', '-f', 'testdata/invalid/bad-policies.yaml', '-o', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/testdata\/invalid\/bad-policies\.yaml:12:16: error PC1103/);
    expect(r.stderr).toMatch(/testdata\/invalid\/bad-policies\.yaml:13:\d+: error PC1101/);
    expect(r.stderr).toMatch(/testdata\/invalid\/bad-policies\.yaml:16:15: error PC1106/);
    expect(r.stderr).toMatch(/\n *\| +\^+/); // a code frame
    expect(existsSync(out)).toBe(false);
  });

  it('prints JSON and SARIF diagnostics', async () => {
    const json = await run(['compile', '-f', 'testdata/invalid/bad-policies.yaml', '--format', 'json']);
    const list = JSON.parse(json.stdout);
    expect(list.map((d: { code: string }) => d.code)).toEqual(expect.arrayContaining(['PC1101', 'PC1103', 'PC1106']));
    expect(list[0]).toHaveProperty('line');
    const sarif = JSON.parse((await run(['compile', '-f', 'testdata/invalid/bad-policies.yaml', '--format', 'sarif'])).stdout);
    expect(sarif.version).toBe('2.1.0');
    const result = sarif.runs[0].results.find((x: { ruleId: string }) => x.ruleId === 'PC1103');
    expect(result.locations[0].physicalLocation.region).toMatchObject({ startLine: 12, startColumn: 16 });
  });

  it('does not crash on YAML that is not even YAML', async () => {
    const f = join(tmp, 'junk.yaml');
    writeFileSync(f, 'kind: NetworkPolicy\nspec: [unclosed\n  - : :\n');
    const r = await run(['compile', '-f', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error PC1001/);
  });
});

describe('policyc reach', () => {
  it('prints the exact JSON shape, agreeing with an upstream truth table', async () => {
    const c = loadCases().find((x) => x.file.startsWith('009-'))!;
    const step = c.steps[0];
    writeFileSync(join(tmp, 'p9.yaml'), step.policies);
    writeFileSync(join(tmp, 's9.yaml'), step.snapshot);
    const r = await run(['reach', '-f', join(tmp, 'p9.yaml'), '-f', join(tmp, 's9.yaml'), '--port', String(step.probes[0].port), '--protocol', step.probes[0].protocol, '-o', 'json']);
    expect(r.code).toBe(0);
    const parsed = JSON.parse(r.stdout);
    expect(Object.keys(parsed)).toEqual(['pods', 'allowed']);
    expect(parsed.pods[0]).toBe('x/a');
    const expected = step.probes[0].expect.map((row, i) => row.map((cell, j) => (i === j ? parsed.allowed[i][j] : cell)));
    expect(parsed.allowed).toEqual(expected);
  });

  it('draws an SVG', async () => {
    const r = await run(['reach', '-f', 'testdata/demo', '--port', '8080', '-o', 'svg']);
    expect(r.stdout).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect((r.stdout.match(/<rect x="\d+" y="\d+" width="21"/g) ?? []).length).toBe(81);
  });
});

describe('policyc explain', () => {
  it('explains a denied flow with the lines responsible', async () => {
    const r = await run(['explain', '-f', 'testdata/demo', 'sandbox/debug -> payments/ledger-0 : grpc']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/DENIED/);
    expect(r.stdout).toMatch(/denied by AdminNetworkPolicy sandbox-cannot-reach-pci ingress\[0\] "deny-untrusted"/);
    expect(r.stdout).toMatch(/testdata\/demo\/policies\/00-admin\.yaml:13:5/);
  });
  it('answers in JSON', async () => {
    const r = await run(['explain', '-f', 'testdata/demo', '-o', 'json', 'backend/api-6d8f7c9b4-klmno -> payments/ledger-0 : 8443']);
    const report = JSON.parse(r.stdout);
    expect(report.allowed).toBe(true);
    expect(report.ingress.decidedBy.id).toBe('np/payments/ledger/ingress/0');
  });
  it('rejects a malformed flow with its column', async () => {
    const r = await run(['explain', '-f', 'testdata/demo', 'x/a -> : 80']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/flow:1:\d+: error PC5001/);
  });
});

describe('policyc test', () => {
  it('passes the demo expectations', async () => {
    const r = await run(['test', 'testdata/demo/demo.policytest']);
    expect(r.stdout).toMatch(/9 passed, 0 failed/);
    expect(r.code).toBe(0);
  });
  it('prints each failed expectation with its file:line and the explanation', async () => {
    const f = join(tmp, 'fail.policytest');
    writeFileSync(f, `load "${join(ROOT, 'testdata/demo')}"\n\nallow sandbox/debug -> payments/ledger-0 : grpc\ndeny frontend/* -> backend/{app=api} : 8080\n`);
    const r = await run(['test', f]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL +\S*fail\.policytest:3 +allow sandbox\/debug/);
    expect(r.stdout).toMatch(/FAIL +\S*fail\.policytest:4/);
    expect(r.stdout).toMatch(/deny-untrusted/);
    expect(r.stdout).toMatch(/0 passed, 2 failed/);
  });
});

describe('the nftables artifact', () => {
  const skeleton = (dir: string) => {
    const doc = JSON.parse(readFileSync(join(dir, 'nftables.json'), 'utf8')) as { nftables: Array<Record<string, Record<string, unknown>>> };
    return doc.nftables.filter((c) => !('add' in c && 'element' in c.add));
  };
  it('keeps its rules when only pods change, and without a snapshot', async () => {
    const relabelled = join(tmp, 'relabelled.yaml');
    writeFileSync(relabelled, readFileSync(join(ROOT, 'testdata/demo/cluster.yaml'), 'utf8').replace('app: worker', 'app: api'));
    const a = join(tmp, 'nft-a');
    const b = join(tmp, 'nft-b');
    const c = join(tmp, 'nft-c');
    expect((await run(['compile', '-f', 'testdata/demo/policies', '-f', 'testdata/demo/cluster.yaml', '-o', a])).code).toBe(0);
    expect((await run(['compile', '-f', 'testdata/demo/policies', '-f', relabelled, '-o', b])).code).toBe(0);
    expect((await run(['compile', '-f', 'testdata/demo/policies', '-o', c])).code).toBe(0);
    expect(skeleton(b)).toEqual(skeleton(a));
    expect(skeleton(c)).toEqual(skeleton(a));
    const ma = JSON.parse(readFileSync(join(a, 'manifest.json'), 'utf8'));
    const mc = JSON.parse(readFileSync(join(c, 'manifest.json'), 'utf8'));
    expect(ma.withSnapshot).toBe(true);
    expect(mc.withSnapshot).toBe(false);
    expect(ma.counts.setElements).toBeGreaterThan(0);
    expect(mc.counts.setElements).toBe(0);
    expect(mc.counts.nftRules).toBe(ma.counts.nftRules);
  });

  it('--node writes the table one node loads: same rules and address maps, only its pods\' decisions', async () => {
    const all = join(tmp, 'nft-all');
    const n1 = join(tmp, 'nft-node-1');
    const n2 = join(tmp, 'nft-node-2');
    expect((await run(['compile', '-f', 'testdata/demo', '-o', all])).code).toBe(0);
    expect((await run(['compile', '-f', 'testdata/demo', '-o', n1, '--node', 'node-1'])).code).toBe(0);
    expect((await run(['compile', '-f', 'testdata/demo', '-o', n2, '--node', 'node-2'])).code).toBe(0);
    const m = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(m(n1).node).toBe('node-1');
    expect(m(all).node).toBeUndefined();
    expect(skeleton(n1)).toEqual(skeleton(all));
    expect(m(n1).counts.identities).toBe(m(all).counts.identities);
    for (const n of [n1, n2]) {
      expect(m(n).counts.pairElements).toBeGreaterThan(0);
      expect(m(n).counts.pairElements).toBeLessThan(m(all).counts.pairElements);
    }
    // every subject identity lives on some node: the two node tables cover the cluster-wide pairs
    expect(m(n1).counts.pairElements + m(n2).counts.pairElements).toBeGreaterThanOrEqual(m(all).counts.pairElements);
    const bad = await run(['compile', '-f', 'testdata/demo', '-o', join(tmp, 'nft-nowhere'), '--node', 'node-9']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('no Node and no pod of the snapshot is on node "node-9"');
    expect((await run(['compile', '-f', 'testdata/demo/policies', '-o', join(tmp, 'nft-nosnap'), '--node', 'node-1'])).code).toBe(2);
  });
});

describe('dataplane limits', () => {
  it('refuses an artifact whose maps would overflow, naming the policy, and writes nothing', async () => {
    const out = join(tmp, 'limits');
    const r = await run(['compile', '-f', 'testdata/demo', '-o', out, '--max-elements', '3']);
    expect(r.code).toBe(1);
    // the computation stops as soon as a direction has more pairs than the limit (no quadratic blow-up first)
    expect(r.stderr).toMatch(/error PC4001: the (ingress|egress) decision map needs more than 3 elements \(\d+ identity pairs when the computation stopped\), over the limit of 3; \S+ .* alone produces \d+/);
    expect(r.stderr).toMatch(/testdata\/demo\/policies\/\S+\.yaml:\d+:\d+/);
    expect(existsSync(out)).toBe(false);
  });
});
