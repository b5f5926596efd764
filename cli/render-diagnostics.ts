// Diagnostics as text (with a code frame), JSON, or SARIF 2.1.0 for CI code scanning.

import { catalogue } from '../compiler/diagnostics/catalogue.js';
import type { Diagnostic } from '../compiler/diagnostics/diagnostic.js';
import { lineColAt, lineText, type SourceSet } from '../compiler/syntax/source.js';

export type DiagnosticFormat = 'text' | 'json' | 'sarif';

export function renderDiagnostics(diagnostics: readonly Diagnostic[], sources: SourceSet, format: DiagnosticFormat, color = false): string {
  switch (format) {
    case 'json':
      return JSON.stringify(diagnostics.map((d) => diagnosticJson(d, sources)), null, 2);
    case 'sarif':
      return JSON.stringify(toSarif(diagnostics, sources), null, 2);
    case 'text':
      return diagnostics.map((d) => diagnosticText(d, sources, color)).join('\n\n');
  }
}

function position(d: Diagnostic, sources: SourceSet) {
  if (!d.span) return undefined;
  const file = sources.get(d.span.file);
  if (!file) return { file: d.span.file, line: 1, col: 1, endLine: 1, endCol: 1 };
  const s = lineColAt(file, d.span.start);
  const e = lineColAt(file, Math.max(d.span.start, d.span.end));
  return { file: d.span.file, line: s.line, col: s.col, endLine: e.line, endCol: e.col };
}

export function diagnosticJson(d: Diagnostic, sources: SourceSet) {
  const pos = position(d, sources);
  return {
    code: d.code,
    severity: d.severity,
    message: d.message,
    ...(pos ?? {}),
    related: d.related?.map((r) => ({ message: r.message, ...position({ ...d, span: r.span }, sources) })),
  };
}

export function diagnosticText(d: Diagnostic, sources: SourceSet, color: boolean): string {
  const paint = (code: string, s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const sevColor = d.severity === 'error' ? '31' : d.severity === 'warning' ? '33' : '36';
  const pos = position(d, sources);
  const where = pos ? `${pos.file}:${pos.line}:${pos.col}: ` : '';
  const lines = [`${where}${paint(sevColor, d.severity)} ${d.code}: ${d.message}`];
  const file = d.span ? sources.get(d.span.file) : undefined;
  if (file && pos) {
    const gutter = String(pos.line + 1).length;
    for (let l = Math.max(1, pos.line - 1); l <= pos.line; l++) {
      lines.push(`${String(l).padStart(gutter)} | ${lineText(file, l)}`);
    }
    const width = pos.endLine === pos.line ? Math.max(1, pos.endCol - pos.col) : Math.max(1, lineText(file, pos.line).length - pos.col + 1);
    lines.push(`${' '.repeat(gutter)} | ${' '.repeat(pos.col - 1)}${paint(sevColor, '^'.repeat(width))}`);
  }
  for (const r of d.related ?? []) {
    const rp = position({ ...d, span: r.span }, sources);
    lines.push(`  note: ${rp ? `${rp.file}:${rp.line}:${rp.col}: ` : ''}${r.message}`);
  }
  return lines.join('\n');
}

function sarifLevel(severity: string): string {
  return severity === 'error' ? 'error' : severity === 'warning' ? 'warning' : 'note';
}

function toSarif(diagnostics: readonly Diagnostic[], sources: SourceSet) {
  const codes = [...new Set(diagnostics.map((d) => d.code))].sort();
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'policyc',
            informationUri: 'https://github.com/policyc/policyc',
            rules: codes.map((code) => ({
              id: code,
              name: catalogue[code].title.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : '')),
              shortDescription: { text: catalogue[code].title },
              defaultConfiguration: { level: sarifLevel(catalogue[code].severity) },
            })),
          },
        },
        results: diagnostics.map((d) => {
          const pos = position(d, sources);
          return {
            ruleId: d.code,
            ruleIndex: codes.indexOf(d.code),
            level: sarifLevel(d.severity),
            message: { text: d.message },
            locations: pos
              ? [{ physicalLocation: { artifactLocation: { uri: pos.file }, region: { startLine: pos.line, startColumn: pos.col, endLine: pos.endLine, endColumn: pos.endCol } } }]
              : [],
            relatedLocations: (d.related ?? []).map((r, i) => {
              const rp = position({ ...d, span: r.span }, sources)!;
              return { id: i, message: { text: r.message }, physicalLocation: { artifactLocation: { uri: rp.file }, region: { startLine: rp.line, startColumn: rp.col } } };
            }),
          };
        }),
      },
    ],
  };
}
