// Bad input never crashes the server. In process: every feature on randomly damaged policy
// texts at random positions must not throw. Over stdio: a burst of random edits and requests,
// after which the server still answers and still diagnoses.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Analysis } from '../analysis/analysis.js';
import { IncrementalCompiler } from '../analysis/incremental.js';
import { LabelIndex } from '../completion/labels.js';
import { codeActions } from '../features/code-actions.js';
import { codeLenses } from '../features/code-lens.js';
import { completionsAt } from '../features/completion.js';
import { explainFlow } from '../features/explain-flow.js';
import { hoverAt } from '../features/hover.js';
import { toPosition } from '../positions.js';
import { TestClient } from './client.js';
import { POLICIES, snapshotText, writeWorkspace } from './fixtures.js';

const base = Object.values(POLICIES).join('---\n');
const snapshot = { name: 'snapshot.yaml', text: snapshotText() };
const junk = fc.constantFrom('', ' ', '\n', '- ', ': ', '{', '}', '[', ']', '"', "'", '&a ', '*a', '!!str ', '#', '---\n', '\t', 'null', '~', 'podSelector:', '\u00e9', '\ud83d\ude00', '0x', '-1');

/** Random damage: a few deletions and insertions at random places. */
const damaged = fc.array(fc.tuple(fc.nat(), fc.nat({ max: 40 }), junk), { minLength: 1, maxLength: 8 }).map((cuts) => {
  let text = base;
  for (const [at, len, insert] of cuts) {
    const i = at % (text.length + 1);
    text = text.slice(0, i) + insert + text.slice(i + len);
  }
  return text;
});

describe('features on damaged input (in process)', () => {
  it('never throw', () => {
    const compiler = new IncrementalCompiler();
    const labels = new LabelIndex();
    fc.assert(
      fc.property(damaged, fc.array(fc.nat(), { minLength: 3, maxLength: 3 }), (text, offsets) => {
        const file = { name: 'p.yaml', text };
        const compilation = compiler.compile([file, snapshot]);
        labels.addCluster(compilation.cluster);
        const analysis = new Analysis(1, compilation, {}, { compile: 0, lint: 0 });
        const compiled = compilation.sources.get('p.yaml')!;
        const resolver = { uriOf: (n: string) => `file:///${n}`, fileOf: (n: string) => compilation.sources.get(n) };
        for (const raw of offsets) {
          const offset = raw % (text.length + 1);
          hoverAt(analysis, compiled, offset);
          completionsAt(compiled, offset, labels);
          const position = toPosition(compiled, offset);
          codeActions(analysis, compiled, 'file:///p.yaml', { start: position, end: position }, resolver);
        }
        codeLenses(analysis, compiled, base);
        explainFlow(analysis, { flow: text.slice(0, 30) }, resolver);
      }),
      { numRuns: 150 },
    );
  });

  it('quick fixes on every diagnostic of damaged input produce edits inside the text', () => {
    const compiler = new IncrementalCompiler();
    fc.assert(
      fc.property(damaged, (text) => {
        const compilation = compiler.compile([{ name: 'p.yaml', text }, snapshot]);
        const analysis = new Analysis(1, compilation, {}, { compile: 0, lint: 0 });
        const file = compilation.sources.get('p.yaml')!;
        const resolver = { uriOf: (n: string) => `file:///${n}`, fileOf: (n: string) => compilation.sources.get(n) };
        const end = toPosition(file, text.length);
        for (const action of codeActions(analysis, file, 'file:///p.yaml', { start: { line: 0, character: 0 }, end }, resolver)) {
          for (const edit of action.edit!.changes!['file:///p.yaml']) {
            expect(edit.range.start.line).toBeLessThanOrEqual(end.line);
            expect(edit.range.end.line).toBeLessThanOrEqual(end.line);
          }
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('server under random edits (stdio)', () => {
  let client: TestClient;
  beforeAll(async () => {
    client = await TestClient.start({ root: writeWorkspace().root });
    await client.nextStatus(0);
  }, 60_000);
  afterAll(async () => {
    await client.stop();
  });

  it('keeps answering and diagnosing', async () => {
    const uri = client.uri('policies/fuzz.yaml');
    client.open(uri, base);
    const samples = fc.sample(fc.tuple(damaged, fc.nat(), fc.nat()), { numRuns: 40, seed: 42 });
    const pending: Array<Promise<unknown>> = [];
    for (const [text, line, character] of samples) {
      client.change(uri, text);
      const position = { line: line % 200, character: character % 40 };
      pending.push(client.request('textDocument/hover', { textDocument: { uri }, position }));
      pending.push(client.request('textDocument/completion', { textDocument: { uri }, position }));
      pending.push(client.request('textDocument/codeAction', { textDocument: { uri }, range: { start: position, end: position }, context: { diagnostics: [] } }));
      pending.push(client.request('textDocument/codeLens', { textDocument: { uri } }));
    }
    pending.push(client.request('policyc/explainFlow', { flow: 42 }));
    pending.push(client.request('policyc/explainFlow', null));
    pending.push(client.request('policyc/reachability', { port: { no: 1 } }));
    pending.push(client.request('textDocument/hover', { textDocument: { uri: 'file:///nowhere.yaml' }, position: { line: -1, character: -1 } }));
    await Promise.all(pending);
    const final = client.nextDiagnostics(uri, (p) => p.diagnostics.some((d) => d.code === 'PC2001'));
    client.change(uri, POLICIES['policies/a-or-split.yaml'].replace('api-from-client-web', 'fuzz-final'));
    await final;
    expect(client.child.exitCode).toBeNull();
    expect(client.errors).toEqual([]);
  }, 60_000);
});
