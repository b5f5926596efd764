// Quick fixes for the diagnostics under the cursor, as workspace edits of minimal text edits.

import { CodeActionKind, type CodeAction, type Range } from 'vscode-languageserver';
import type { Diagnostic } from '../../compiler/diagnostics/diagnostic.js';
import type { SourceFile } from '../../compiler/syntax/source.js';
import type { Analysis } from '../analysis/analysis.js';
import { FIXERS } from '../fixes/index.js';
import { toLspDiagnostic } from './diagnostics.js';
import { toOffset, toRange, type SpanResolver } from '../positions.js';
import { documentAt } from '../yaml-edit.js';
import { policyAt } from '../yaml-path.js';

/** The diagnostics of `file` that touch [start, end]. */
function diagnosticsIn(analysis: Analysis, file: SourceFile, start: number, end: number): Diagnostic[] {
  return (analysis.byFile.get(file.name) ?? []).filter((d) => d.span && d.span.start <= end && d.span.end >= start);
}

export function codeActions(analysis: Analysis, file: SourceFile, uri: string, range: Range, resolver: SpanResolver): CodeAction[] {
  const start = toOffset(file, range.start);
  const end = toOffset(file, range.end);
  const out: CodeAction[] = [];
  for (const d of diagnosticsIn(analysis, file, start, end)) {
    const fixer = FIXERS[d.code];
    if (!fixer || !d.span) continue;
    const doc = documentAt(file.text, d.span.start);
    if (!doc) continue;
    const src = policyAt(analysis.policiesIn(file.name), d.span.start);
    for (const fix of fixer({ text: file.text, diagnostic: d, src, doc })) {
      out.push({
        title: fix.title,
        kind: CodeActionKind.QuickFix,
        diagnostics: [toLspDiagnostic(d, file, resolver)],
        isPreferred: fix.preferred,
        edit: { changes: { [uri]: fix.edits.map((e) => ({ range: toRange(file, e.start, e.end), newText: e.newText })) } },
      });
    }
  }
  return out;
}
