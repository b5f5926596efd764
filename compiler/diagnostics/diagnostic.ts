import type { Span } from '../syntax/source.js';
import { catalogue, type DiagnosticCode, type Severity } from './catalogue.js';

export interface RelatedInformation {
  span: Span;
  message: string;
}

/** Errors are data: parsing and checking return these, they never throw on bad input. */
export interface Diagnostic {
  code: DiagnosticCode;
  severity: Severity;
  message: string;
  /** Absent only for problems that belong to no file (e.g. command-line usage). */
  span?: Span;
  related?: RelatedInformation[];
  /** `unnecessary` lets editors fade redundant code. */
  tags?: Array<'unnecessary' | 'deprecated'>;
  /** Machine-readable details for quick fixes. */
  data?: Record<string, unknown>;
}

export function diagnostic(
  code: DiagnosticCode,
  message: string,
  span?: Span,
  extra: Partial<Omit<Diagnostic, 'code' | 'message' | 'span'>> = {},
): Diagnostic {
  return { code, severity: extra.severity ?? catalogue[code].severity, message, span, ...extra };
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** Deterministic order: file, offset, code. */
export function sortDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  return diagnostics.sort((a, b) => {
    const fa = a.span?.file ?? '';
    const fb = b.span?.file ?? '';
    if (fa !== fb) return fa < fb ? -1 : 1;
    const sa = a.span?.start ?? -1;
    const sb = b.span?.start ?? -1;
    if (sa !== sb) return sa - sb;
    return a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
  });
}
