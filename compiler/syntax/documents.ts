// Splits YAML/JSON text into documents and parses each one.
//
// Speed matters (a 50k-pod snapshot is ~23 MB): documents that describe the cluster (Pods,
// Namespaces, Nodes, Lists) are parsed on the fast path with no positions; policy documents
// are parsed with a js-yaml listener that records the span of every node, so every IR rule
// can carry its source span without a second, slower parser. A fast-path document can still
// be located later: `positionsFor` re-parses just that document with positions, on demand.

import jsYaml from 'js-yaml';
import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { SourceFile, Span } from './source.js';

export const limits = {
  /** Largest file accepted, in characters. */
  maxFileChars: 256 * 1024 * 1024,
  /** Nodes reachable through aliases, per document, beyond the document's own nodes. */
  maxAliasExpansion: 100_000,
};

/** Where one node of a parsed document stands in the text. */
export interface NodeSpan {
  start: number;
  end: number;
  /** For mappings: key -> [key start, value start, value end]. */
  keys?: Map<string, [number, number, number]>;
  /** For sequences: each item's [start, end]. */
  items?: Array<[number, number]>;
}

export interface ParsedDocument {
  readonly file: SourceFile;
  /** 0-based index of the document within its file. */
  readonly index: number;
  readonly start: number;
  readonly end: number;
  readonly value: unknown;
  /** Object -> span; present when the document was parsed with positions. */
  positions?: WeakMap<object, NodeSpan>;
}

export interface ParseResult {
  documents: ParsedDocument[];
  diagnostics: Diagnostic[];
}

const CLUSTER_KINDS = new Set(['Pod', 'Namespace', 'Node', 'List', 'PodList', 'NamespaceList', 'NodeList', 'Service', 'ServiceList']);

/** Document boundaries: a `---` or `...` line at column 0 (inside block scalars content is indented). */
function splitDocuments(text: string): Array<[number, number]> {
  const segments: Array<[number, number]> = [];
  const marker = /^(---|\.\.\.)[ \t]*(#.*)?$|^---[ \t]+/gm;
  let segStart = 0;
  let m: RegExpExecArray | null;
  while ((m = marker.exec(text)) !== null) {
    if (m.index > segStart || segments.length > 0 || m.index > 0) segments.push([segStart, m.index]);
    // A `--- value` line starts a document whose content follows the marker on the same line.
    segStart = m[0].startsWith('---') && m[0].length > 3 && !/^---[ \t]*(#.*)?$/.test(m[0])
      ? m.index + 3
      : m.index + m[0].length;
    if (m[0].length === 0) marker.lastIndex++;
  }
  segments.push([segStart, text.length]);
  return segments.filter(([s, e]) => /\S/.test(stripComments(text.slice(s, e))));
}

function stripComments(segment: string): string {
  return segment.replace(/^[ \t]*#.*$/gm, '');
}

function sniffKind(segment: string): string | undefined {
  const json = /^\s*[{[]/.test(segment);
  const m = json ? /"kind"\s*:\s*"([A-Za-z]+)"/.exec(segment) : /^kind:[ \t]*["']?([A-Za-z]+)/m.exec(segment);
  return m?.[1];
}

const POLICY_KIND_RE = /["\s]kind"?:\s*["']?(NetworkPolicy|AdminNetworkPolicy|BaselineAdminNetworkPolicy)\b/;

function hasAnchors(segment: string): boolean {
  return /(^|[\s[{,:-])&[^\s]/m.test(segment);
}

/** Parses every document of a file. Never throws on bad input. */
export function parseFile(file: SourceFile): ParseResult {
  const diagnostics: Diagnostic[] = [];
  if (file.text.length > limits.maxFileChars) {
    diagnostics.push(diagnostic('PC1002', `file is larger than ${limits.maxFileChars} characters`, { file: file.name, start: 0, end: 0 }));
    return { documents: [], diagnostics };
  }
  const documents: ParsedDocument[] = [];
  const segments = /^\s*[{[]/.test(file.text) ? [[0, file.text.length] as [number, number]] : splitDocuments(file.text);
  segments.forEach(([start, end], index) => {
    const segment = file.text.slice(start, end);
    const kind = sniffKind(segment);
    // A List of policies (`kubectl get networkpolicies -o yaml`) needs positions like any policy.
    const fast = kind !== undefined && CLUSTER_KINDS.has(kind) && !hasAnchors(segment) && !POLICY_KIND_RE.test(segment);
    const parsed = fast ? parseFast(file, segment, start) : parseWithPositions(file, segment, start);
    if ('diagnostic' in parsed) {
      diagnostics.push(parsed.diagnostic);
      return;
    }
    if (parsed.value === null || parsed.value === undefined) return;
    documents.push({ file, index, start, end, value: parsed.value, positions: parsed.positions });
  });
  return { documents, diagnostics };
}

type SegmentParse = { value: unknown; positions?: WeakMap<object, NodeSpan> } | { diagnostic: Diagnostic };

function parseFast(file: SourceFile, segment: string, base: number): SegmentParse {
  if (/^\s*[{[]/.test(segment)) {
    try {
      return { value: JSON.parse(segment) };
    } catch {
      // Not strict JSON (comments, trailing commas...): YAML accepts more.
    }
  }
  try {
    return { value: jsYaml.load(segment, { filename: file.name }) };
  } catch (err) {
    return { diagnostic: yamlErrorDiagnostic(file, err, base) };
  }
}

function yamlErrorDiagnostic(file: SourceFile, err: unknown, base: number): Diagnostic {
  if (err instanceof jsYaml.YAMLException) {
    const pos = base + (err.mark?.position ?? 0);
    const reason = err.reason || err.message.split('\n')[0];
    return diagnostic('PC1001', `YAML: ${reason}`, { file: file.name, start: pos, end: pos + 1 });
  }
  if (err instanceof AliasLimitError) {
    return diagnostic('PC1003', `aliases expand to more than ${limits.maxAliasExpansion} nodes`, { file: file.name, start: base + err.offset, end: base + err.offset + 1 });
  }
  return diagnostic('PC1001', `YAML: ${String(err)}`, { file: file.name, start: base, end: base + 1 });
}

class AliasLimitError extends Error {
  constructor(readonly offset: number) {
    super('alias limit');
  }
}

interface Frame {
  start: number;
  children: Array<[number, number]>;
  size: number;
}

const nodeSizes = new WeakMap<object, number>();

function parseWithPositions(file: SourceFile, segment: string, base: number): SegmentParse {
  const positions = new WeakMap<object, NodeSpan>();
  const stack: Frame[] = [];
  let expanded = 0;
  const trimStart = (p: number) => {
    // Skip white space and the indicators before a node (`:` `-` `?` followed by a space, `,`),
    // but never a character of the node itself (`::/0`, `-1`).
    for (;;) {
      const c = segment[p];
      if (c === undefined) return p;
      const next = segment[p + 1];
      const indicator = (c === ':' || c === '-' || c === '?') && (next === undefined || /\s/.test(next));
      if (/\s/.test(c) || c === ',' || indicator) p++;
      else return p;
    }
  };
  const trimEnd = (s: number, p: number) => {
    p = Math.min(p, segment.length);
    while (p > s && /\s/.test(segment[p - 1])) p--;
    return p;
  };
  const listener = (event: 'open' | 'close', state: { position: number; result: unknown }) => {
    if (event === 'open') {
      stack.push({ start: state.position, children: [], size: 1 });
      return;
    }
    const frame = stack.pop();
    if (!frame) return;
    const start = trimStart(frame.start);
    const end = Math.max(start, trimEnd(start, state.position));
    const result = state.result;
    let size = frame.size;
    if (segment[start] === '*') {
      // An alias: the node is shared, but whoever walks the document walks it again.
      size = result !== null && typeof result === 'object' ? nodeSizes.get(result) ?? 1 : 1;
      expanded += size;
      if (expanded > limits.maxAliasExpansion) throw new AliasLimitError(start);
    } else if (result !== null && typeof result === 'object' && !positions.has(result)) {
      const span: NodeSpan = { start: base + start, end: base + end };
      if (Array.isArray(result)) {
        if (frame.children.length === result.length) span.items = frame.children.map(([s, e]) => [base + s, base + e]);
      } else if (frame.children.length % 2 === 0) {
        const keys = new Map<string, [number, number, number]>();
        for (let i = 0; i + 1 < frame.children.length; i += 2) {
          const keyStart = frame.children[i][0];
          const keyText = segment.slice(keyStart, frame.children[i][1]).replace(/^["']|["']$/g, '');
          keys.set(keyText, [base + keyStart, base + frame.children[i + 1][0], base + frame.children[i + 1][1]]);
        }
        span.keys = keys;
      }
      positions.set(result, span);
      nodeSizes.set(result, size);
    }
    const parent = stack[stack.length - 1];
    if (parent) {
      parent.children.push([start, end]);
      parent.size += size;
    }
  };
  try {
    const value = jsYaml.load(segment, { filename: file.name, listener: listener as never });
    return { value, positions };
  } catch (err) {
    return { diagnostic: yamlErrorDiagnostic(file, err, base) };
  }
}

const locatedDocuments = new WeakMap<ParsedDocument, ParsedDocument>();

/** Positions of a document parsed on the fast path, computed on demand (and cached). */
export function positionsFor(doc: ParsedDocument): ParsedDocument {
  if (doc.positions) return doc;
  const cached = locatedDocuments.get(doc);
  if (cached) return cached;
  const segment = doc.file.text.slice(doc.start, doc.end);
  const parsed = parseWithPositions(doc.file, segment, doc.start);
  if ('diagnostic' in parsed) return doc;
  // The re-parse builds new objects; swap them in so positions line up with the value.
  const located = { ...doc, value: parsed.value, positions: parsed.positions };
  locatedDocuments.set(doc, located);
  return located;
}

export type PathSegment = string | number;

/**
 * The span of the node at `path` under `root` (an object of a parsed document). For a mapping
 * key the span covers the value; `keyOnly` gives the key itself (where a missing or unknown
 * field is reported). Falls back to the nearest located ancestor.
 */
export function spanAt(doc: ParsedDocument, root: unknown, path: readonly PathSegment[], keyOnly = false): Span {
  const positions = doc.positions;
  let node: unknown = root;
  let best: Span = { file: doc.file.name, start: doc.start, end: doc.start };
  const rootSpan = positions && root !== null && typeof root === 'object' ? positions.get(root) : undefined;
  if (rootSpan) best = { file: doc.file.name, start: rootSpan.start, end: rootSpan.end };
  for (let i = 0; i < path.length; i++) {
    if (node === null || typeof node !== 'object' || !positions) break;
    const span = positions.get(node);
    const seg = path[i];
    const last = i === path.length - 1;
    if (span?.keys && typeof seg === 'string') {
      const entry = span.keys.get(seg);
      if (!entry) break;
      best = last && keyOnly
        ? { file: doc.file.name, start: entry[0], end: entry[0] + seg.length }
        : { file: doc.file.name, start: entry[1], end: entry[2] };
    } else if (span?.items && typeof seg === 'number') {
      const item = span.items[seg];
      if (!item) break;
      best = { file: doc.file.name, start: item[0], end: item[1] };
    } else {
      break;
    }
    node = (node as Record<string | number, unknown>)[seg];
  }
  return best;
}

/** The span of a whole object (a rule, a peer) when it was parsed with positions. */
export function spanOf(doc: ParsedDocument, node: unknown): Span | undefined {
  if (!doc.positions || node === null || typeof node !== 'object') return undefined;
  const span = doc.positions.get(node);
  return span ? { file: doc.file.name, start: span.start, end: span.end } : undefined;
}
