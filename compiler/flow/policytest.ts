// .policytest files: one statement a line (`load "path"`, `allow FLOW`, `deny FLOW`), `#` comments,
// blank lines. Each line is parsed on its own, so every bad line gets its diagnostic.

import type { IToken } from 'chevrotain';
import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import { lineColAt, type SourceFile } from '../syntax/source.js';
import type { FlowError, PolicyTestAst } from './ast.js';
import { lex, Newline, tokenEnd } from './lexer.js';
import { parseTokens } from './parser.js';
import { buildTestLine } from './visitor.js';

export interface PolicyTestResult {
  test: PolicyTestAst;
  /** PC5004, in file order; the statements they are about are left out of `test`. */
  diagnostics: Diagnostic[];
}

export function parsePolicyTest(file: SourceFile): PolicyTestResult {
  const test: PolicyTestAst = { loads: [], expectations: [] };
  const diagnostics: Diagnostic[] = [];
  const report = (e: FlowError) =>
    diagnostics.push(diagnostic('PC5004', e.message, { file: file.name, start: e.start, end: e.end }));

  const { tokens, errors: lexErrors } = lex(file.text, 'test');
  const lines: IToken[][] = [[]];
  for (const token of tokens) {
    if (token.tokenType === Newline) lines.push([]);
    else lines[lines.length - 1].push(token);
  }
  // A line with characters no token matches is reported as such and not parsed further.
  const badLines = new Set<number>();
  for (const e of lexErrors) {
    badLines.add(lineColAt(file, e.start).line - 1);
    report(e);
  }

  lines.forEach((line, index) => {
    if (line.length === 0 || badLines.has(index)) return;
    const parsed = parseTokens(line, 'testLine', tokenEnd(line[line.length - 1]));
    if (!parsed.cst) {
      for (const e of parsed.errors) report({ ...e, message: e.message.replace(/end of input/g, 'end of line') });
      return;
    }
    const built = buildTestLine(parsed.cst);
    built.errors.forEach(report);
    const statement = built.value;
    if (!statement) return;
    const span = { file: file.name, start: statement.span.start, end: statement.span.end };
    if (statement.kind === 'load') test.loads.push({ path: statement.path, span });
    else test.expectations.push({ expect: statement.expect, flow: statement.flow, span });
  });

  diagnostics.sort((a, b) => (a.span?.start ?? 0) - (b.span?.start ?? 0));
  return { test, diagnostics };
}
