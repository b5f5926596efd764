// Collects the diagnostics of one policy object. Every check reports through a Reporter, so
// that spans are computed one way (from a path relative to the object) and duplicates are
// dropped in one place.

import { diagnostic, type Diagnostic, type RelatedInformation } from '../diagnostics/diagnostic.js';
import type { DiagnosticCode } from '../diagnostics/catalogue.js';
import { fieldSpan, type Sourced } from '../model/inputs.js';
import type { PathSegment } from '../syntax/documents.js';
import type { Span } from '../syntax/source.js';

export type Path = readonly PathSegment[];

export interface ReportOptions {
  /** Point at the key of the last path segment instead of its value. */
  keyOnly?: boolean;
  extra?: Partial<Omit<Diagnostic, 'code' | 'message' | 'span'>>;
}

export class Reporter {
  readonly diagnostics: Diagnostic[] = [];
  private readonly seen = new Set<string>();

  constructor(readonly src: Sourced) {}

  /**
   * Where `path` (relative to the object) stands in the text. A field whose value is null or
   * absent has no useful value span, so its key is used instead.
   */
  span(path: Path, keyOnly = false): Span {
    const last = path[path.length - 1];
    const useKey = keyOnly || (typeof last === 'string' && valueAt(this.src.object, path) == null);
    return clampSpan(fieldSpan(this.src, path, useKey), this.src.doc.file.text.length);
  }

  report(code: DiagnosticCode, path: Path, message: string, options: ReportOptions = {}): void {
    const span = this.span(path, options.keyOnly);
    const key = `${code}|${span.start}|${span.end}|${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.diagnostics.push(diagnostic(code, message, span, options.extra));
  }

  related(path: Path, message: string, keyOnly = false): RelatedInformation {
    return { span: this.span(path, keyOnly), message };
  }
}

/**
 * A span cut to the file: js-yaml reads a text without a final newline as if it had one, so
 * a node at the very end can reach one character past the end of the file.
 */
export function clampSpan(span: Span, length: number): Span {
  const start = Math.min(Math.max(span.start, 0), length);
  return { file: span.file, start, end: Math.min(Math.max(span.end, start), length) };
}

/** The value at `path` under `root`, or undefined when the path leaves the tree. */
export function valueAt(root: unknown, path: Path): unknown {
  let node = root;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PathSegment, unknown>)[seg];
  }
  return node;
}

/** `spec.ingress[0].from[1].ipBlock.cidr`, as the API server prints field paths. */
export function fieldName(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${seg}]`;
  }
  return out === '' ? '(object)' : out;
}

/** A short rendering of a value for messages; never walks into objects (they may be cyclic). */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  return 'a mapping';
}
