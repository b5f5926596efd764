// Minimal text edits on YAML, located with the `yaml` package's node ranges, so a quick fix
// touches only the lines it must and keeps comments, quoting and style elsewhere.

import { isMap, isScalar, isSeq, parseAllDocuments, visit, type Document, type Node, type Pair, type YAMLMap } from 'yaml';
import type { PathSegment } from '../compiler/syntax/documents.js';

export interface TextEdit {
  start: number;
  end: number;
  newText: string;
}

export function documentAt(text: string, offset: number): Document.Parsed | undefined {
  let docs: Document.Parsed[];
  try {
    docs = [...parseAllDocuments(text)] as Document.Parsed[];
  } catch {
    return undefined;
  }
  return docs.find((d) => d.range && offset >= d.range[0] && offset <= d.range[2]);
}

export function nodeAt(doc: Document.Parsed, path: readonly PathSegment[]): Node | undefined {
  try {
    const node = doc.getIn(path, true);
    return node && typeof node === 'object' && 'range' in (node as object) ? (node as Node) : undefined;
  } catch {
    return undefined;
  }
}

export function pairOf(map: YAMLMap, key: string): Pair<Node, Node | null> | undefined {
  return (map.items as Pair<Node, Node | null>[]).find((p) => isScalar(p.key) && p.key.value === key);
}

/** The outermost node (or the scalar, with `scalar`) whose range starts exactly at `offset`. */
export function nodeStartingAt(doc: Document.Parsed, offset: number, scalar = false): Node | undefined {
  let found: Node | undefined;
  visit(doc, (_key, node) => {
    const n = (scalar ? (isScalar(node) ? node : undefined) : isMap(node) || isSeq(node) || isScalar(node) ? node : undefined) as Node | undefined;
    if (n && n.range && n.range[0] === offset && !found) {
      found = n;
      return visit.BREAK;
    }
    return undefined;
  });
  return found;
}

export function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

export function column(text: string, offset: number): number {
  return offset - lineStart(text, offset);
}

/** The offset just after the last non-blank character before `offset` (block ranges include the newline). */
export function contentEnd(text: string, offset: number): number {
  let end = offset;
  while (end > 0 && /\s/.test(text[end - 1])) end--;
  return end;
}

/** Start of the line after the one holding `offset - 1` (or the end of the text). */
export function nextLineStart(text: string, offset: number): number {
  const nl = text.indexOf('\n', Math.max(0, offset - 1));
  return nl < 0 ? text.length : nl + 1;
}

/** The column of the `-` that starts the sequence item whose content starts at `itemStart`. */
export function dashColumn(text: string, itemStart: number): number | undefined {
  const start = lineStart(text, itemStart);
  const prefix = text.slice(start, itemStart);
  const i = prefix.lastIndexOf('-');
  return i < 0 ? undefined : i;
}

/** `block`'s lines indented by `indent` spaces; the first line too unless `skipFirst`. */
export function indentBlock(block: string, indent: number, skipFirst = false): string {
  const pad = ' '.repeat(indent);
  return block
    .split('\n')
    .map((line, i) => (i === 0 && skipFirst) || line.length === 0 ? line : pad + line)
    .join('\n');
}

/** Text spanning several lines, moved from column `from` to column `to` (first line left as is). */
export function reindent(textBlock: string, from: number, to: number): string {
  return textBlock
    .split('\n')
    .map((line, i) => {
      if (i === 0) return line;
      const lead = line.length - line.trimStart().length;
      return ' '.repeat(Math.max(0, lead - from + to)) + line.trimStart();
    })
    .join('\n');
}

/** Applies non-overlapping edits (any order) to a text. */
export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  const sorted = [...edits].sort((a, b) => b.start - a.start || b.end - a.end);
  let out = text;
  for (const e of sorted) out = out.slice(0, e.start) + e.newText + out.slice(e.end);
  return out;
}
