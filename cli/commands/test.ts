import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { runExpectations } from '../../compiler/evaluate/run-expectations.js';
import { parsePolicyTest } from '../../compiler/flow/index.js';
import { lineColAt, SourceSet } from '../../compiler/syntax/source.js';
import { exitCodes, type Command, type Io } from '../command.js';
import { loadAndCompile } from '../load.js';
import { renderDiagnostics } from '../render-diagnostics.js';

export const command: Command = {
  name: 'test',
  summary: 'Check .policytest expectations (allow/deny flows) against the policies they load',
  usage: 'policyc test <file.policytest>...',
  async run(args, io) {
    const files = args.filter((a) => !a.startsWith('-'));
    if (files.length === 0) {
      io.stderr.write(`usage: ${this.usage}\n`);
      return exitCodes.usage;
    }
    let passed = 0;
    let failed = 0;
    for (const f of files) {
      const r = runTestFile(f, io);
      passed += r.passed;
      failed += r.failed;
    }
    io.stdout.write(`${passed} passed, ${failed} failed\n`);
    return failed > 0 ? exitCodes.failed : exitCodes.ok;
  },
};

function runTestFile(path: string, io: Io): { passed: number; failed: number } {
  const absolute = resolve(io.cwd, path);
  const name = relative(io.cwd, absolute) || path;
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    io.stderr.write(`${name}: error PC1005: cannot read: ${(err as Error).message}\n`);
    return { passed: 0, failed: 1 };
  }
  const file = { name, text };
  const sources = new SourceSet();
  sources.add(file);
  const parsed = parsePolicyTest(file);
  if (parsed.diagnostics.length > 0) {
    io.stderr.write(`${renderDiagnostics(parsed.diagnostics, sources, 'text', !!io.stderr.isTTY)}\n`);
    return { passed: 0, failed: Math.max(1, parsed.diagnostics.length) };
  }
  const loads = parsed.test.loads.map((l) => (isAbsolute(l.path) ? l.path : join(dirname(absolute), l.path)));
  const { compilation, ok } = loadAndCompile(loads, io, { showWarnings: false });
  if (!ok) return { passed: 0, failed: parsed.test.expectations.length || 1 };
  compilation.sources.add(file);
  let passed = 0;
  let failed = 0;
  for (const result of runExpectations(parsed.test.expectations, compilation)) {
    const { line } = lineColAt(file, result.expectation.span.start);
    const label = text.slice(result.expectation.span.start, result.expectation.span.end);
    if (result.passed) {
      passed++;
      io.stdout.write(`ok    ${name}:${line}  ${label}\n`);
      continue;
    }
    failed++;
    io.stdout.write(`FAIL  ${name}:${line}  ${label}\n`);
    for (const d of result.diagnostics) {
      io.stdout.write(`${indent(renderDiagnostics([d], compilation.sources, 'text'))}\n`);
      const explanation = d.data?.explanation;
      if (typeof explanation === 'string') io.stdout.write(`${indent(explanation)}\n`);
    }
  }
  return { passed, failed };
}

function indent(text: string): string {
  return text.split('\n').map((l) => `      ${l}`).join('\n');
}
