// Compiler and lint diagnostics -> LSP diagnostics, with exact ranges, related information,
// tags (unnecessary rules fade) and the code. Publishes only what changed since last time.

import { DiagnosticSeverity, DiagnosticTag, type Connection, type Diagnostic as LspDiagnostic } from 'vscode-languageserver';
import type { Diagnostic } from '../../compiler/diagnostics/diagnostic.js';
import type { SourceFile } from '../../compiler/syntax/source.js';
import { spanLocation, spanRange, type SpanResolver } from '../positions.js';

const SEVERITY = { error: DiagnosticSeverity.Error, warning: DiagnosticSeverity.Warning, info: DiagnosticSeverity.Information, hint: DiagnosticSeverity.Hint } as const;

export function toLspDiagnostic(d: Diagnostic, file: SourceFile, resolver: SpanResolver): LspDiagnostic {
  const out: LspDiagnostic = {
    range: d.span ? spanRange(file, d.span) : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
    severity: SEVERITY[d.severity],
    code: d.code,
    source: 'policyc',
    message: d.message,
  };
  if (d.related?.length) {
    out.relatedInformation = d.related
      .map((r) => ({ location: spanLocation(resolver, r.span), message: r.message }))
      .filter((r): r is { location: NonNullable<typeof r.location>; message: string } => !!r.location);
  }
  if (d.tags?.length) {
    out.tags = d.tags.map((t) => (t === 'unnecessary' ? DiagnosticTag.Unnecessary : DiagnosticTag.Deprecated));
  }
  if (d.data) out.data = { code: d.code, start: d.span?.start, end: d.span?.end };
  return out;
}

/** Sends publishDiagnostics for the URIs whose diagnostics changed (and always for `force`). */
export class DiagnosticsPublisher {
  private readonly last = new Map<string, string>();

  constructor(private readonly connection: Connection) {}

  publish(uri: string, diagnostics: LspDiagnostic[], version: number | undefined, force = false): void {
    const key = JSON.stringify(diagnostics);
    if (!force && this.last.get(uri) === key) return;
    this.last.set(uri, key);
    void this.connection.sendDiagnostics({ uri, diagnostics, version });
  }

  /** Clears the URIs published before that are not in `keep`. */
  clearOthers(keep: ReadonlySet<string>, prefix?: (uri: string) => boolean): void {
    for (const [uri, key] of this.last) {
      if (keep.has(uri) || key === '[]' || (prefix && !prefix(uri))) continue;
      this.last.set(uri, '[]');
      void this.connection.sendDiagnostics({ uri, diagnostics: [] });
    }
  }
}
