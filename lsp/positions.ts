// Spans are offsets; LSP speaks lines and UTF-16 characters. JavaScript strings are UTF-16,
// so an offset is a character count and only the line split needs doing.

import type { Location, Position, Range } from 'vscode-languageserver';
import { lineColAt, offsetAt, type SourceFile, type Span } from '../compiler/syntax/source.js';

export function toPosition(file: SourceFile, offset: number): Position {
  const { line, col } = lineColAt(file, Math.max(0, Math.min(offset, file.text.length)));
  return { line: line - 1, character: col - 1 };
}

export function toRange(file: SourceFile, start: number, end: number): Range {
  return { start: toPosition(file, start), end: toPosition(file, Math.max(start, end)) };
}

export function spanRange(file: SourceFile, span: Pick<Span, 'start' | 'end'>): Range {
  return toRange(file, span.start, span.end);
}

export function toOffset(file: SourceFile, position: Position): number {
  return offsetAt(file, { line: position.line + 1, col: position.character + 1 });
}

/** Resolves a span's file name to a URI and its text, for related information and locations. */
export interface SpanResolver {
  uriOf(name: string): string;
  fileOf(name: string): SourceFile | undefined;
}

export function spanLocation(resolver: SpanResolver, span: Span): Location | undefined {
  const file = resolver.fileOf(span.file);
  if (!file) return undefined;
  return { uri: resolver.uriOf(span.file), range: spanRange(file, span) };
}
