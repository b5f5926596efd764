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
import { parseBlockYaml, parseBlockYamlWithPositions } from './block-yaml.js';
import { isSpace, NodeSpan, Positions, trimNodeEnd, trimNodeStart } from './node-span.js';

export const limits = {
  /** Largest file accepted, in characters. */
  maxFileChars: 256 * 1024 * 1024,
  /** Nodes reachable through aliases, per document, beyond the document's own nodes. */
  maxAliasExpansion: 100_000,
};

export { NodeSpan, Positions };

export interface ParsedDocument {
  readonly file: SourceFile;
  /** 0-based index of the document within its file. */
  readonly index: number;
  readonly start: number;
  readonly end: number;
  readonly value: unknown;
  /** Spans of its mappings and sequences; present when the document was parsed with positions. */
  positions?: Positions;
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
  return segments.filter(([s, e]) => hasContent(text, s, e));
}

function isLineBreak(c: number): boolean {
  return c === 10 || c === 13 || c === 0x2028 || c === 0x2029;
}

/**
 * Whether text[s, e) has anything but white space and comment lines (a line whose first
 * character after spaces and tabs is `#`): `/\S/.test(segment.replace(/^[ \t]*#.*$/gm, ''))`
 * without copying the segment, which can be a whole 30 MB snapshot.
 */
function hasContent(text: string, s: number, e: number): boolean {
  let lineStart = true;
  for (let i = s; i < e; i++) {
    const c = text.charCodeAt(i);
    if (isLineBreak(c)) {
      lineStart = true;
    } else if (lineStart && c === 35 /* # */) {
      while (i + 1 < e && !isLineBreak(text.charCodeAt(i + 1))) i++;
    } else if (c !== 32 && c !== 9) {
      lineStart = false;
      if (!isSpace(c)) return true;
    }
  }
  return false;
}

function sniffKind(segment: string): string | undefined {
  const json = /^\s*[{[]/.test(segment);
  const m = json ? /"kind"\s*:\s*"([A-Za-z]+)"/.exec(segment) : /^kind:[ \t]*["']?([A-Za-z]+)/m.exec(segment);
  return m?.[1];
}

const POLICY_KIND_RE = /["\s]kind"?:\s*["']?(NetworkPolicy|AdminNetworkPolicy|BaselineAdminNetworkPolicy)\b/;

function hasAnchors(segment: string): boolean {
  return segment.includes('&') && /(^|[\s[{,:-])&[^\s]/m.test(segment);
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

type SegmentParse = { value: unknown; positions?: Positions } | { diagnostic: Diagnostic };

function parseFast(file: SourceFile, segment: string, base: number): SegmentParse {
  if (/^\s*[{[]/.test(segment)) {
    try {
      return { value: JSON.parse(segment) };
    } catch {
      // Not strict JSON (comments, trailing commas...): YAML accepts more.
    }
  }
  // kubectl's block YAML has a reader of its own, several times faster; it gives up on
  // anything else (returns undefined) and js-yaml reads that.
  const value = parseBlockYaml(segment);
  if (value !== undefined) return { value };
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
  /** Start and end of each child, flat: [s0, e0, s1, e1, ...]. */
  children: number[];
  size: number;
}

const nodeSizes = new WeakMap<object, number>();

function isQuote(c: number): boolean {
  return c === 34 || c === 39;
}

function parseWithPositions(file: SourceFile, segment: string, base: number): SegmentParse {
  // kubectl-style block YAML: the fast reader records the same spans (see block-yaml.ts).
  const block = parseBlockYamlWithPositions(segment, base);
  if (block) return block;
  const positions = new Positions();
  const stack: Frame[] = [];
  let expanded = 0;
  // Node sizes are only read for aliases, and no alias resolves without an anchor (`&`).
  const aliases = segment.includes('&');
  const trimStart = (p: number) => trimNodeStart(segment, p);
  const trimEnd = (s: number, p: number) => trimNodeEnd(segment, s, p);
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
    if (segment.charCodeAt(start) === 42 /* * */) {
      // An alias: the node is shared, but whoever walks the document walks it again.
      size = result !== null && typeof result === 'object' ? nodeSizes.get(result) ?? 1 : 1;
      expanded += size;
      if (expanded > limits.maxAliasExpansion) throw new AliasLimitError(start);
    } else if (result !== null && typeof result === 'object' && !positions.has(result)) {
      const children = frame.children;
      if (Array.isArray(result)) {
        if (children.length === 2 * result.length) positions.sequence(result, base + start, base + end, base, children, 0, result.length);
        else positions.opaque(result, base + start, base + end);
      } else if (children.length % 4 === 0) {
        const names: string[] = new Array(children.length / 4);
        for (let i = 0; i < names.length; i++) {
          const keyStart = children[4 * i];
          const keyEnd = children[4 * i + 1];
          const quoted = isQuote(segment.charCodeAt(keyStart)) || isQuote(segment.charCodeAt(keyEnd - 1));
          const raw = segment.slice(keyStart, keyEnd);
          names[i] = quoted ? raw.replace(/^["']|["']$/g, '') : raw;
        }
        positions.mapping(result, base + start, base + end, base, children, 0, names, 0, names.length);
      } else {
        positions.opaque(result, base + start, base + end);
      }
      if (aliases) nodeSizes.set(result, size);
    }
    const parent = stack[stack.length - 1];
    if (parent) {
      parent.children.push(start, end);
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
  return spanAtPath(doc, root, NO_PATH, path, keyOnly);
}

const NO_PATH: readonly PathSegment[] = [];

/** spanAt for the path `prefix` followed by `path`, without building that path (it is hot). */
export function spanAtPath(doc: ParsedDocument, root: unknown, prefix: readonly PathSegment[], path: readonly PathSegment[], keyOnly = false): Span {
  const positions = doc.positions;
  let start = doc.start;
  let end = doc.start;
  if (positions) {
    const rootNode = positions.node(root);
    if (rootNode >= 0) {
      start = positions.start(rootNode);
      end = positions.end(rootNode);
    }
    let node: unknown = root;
    const total = prefix.length + path.length;
    for (let i = 0; i < total; i++) {
      const n = positions.node(node);
      if (n < 0) break;
      const seg = i < prefix.length ? prefix[i] : path[i - prefix.length];
      const last = i === total - 1;
      if (typeof seg === 'string') {
        const entry = positions.keyEntry(n, seg);
        if (entry < 0) break;
        start = last && keyOnly ? positions.keyStart(entry) : positions.valueStart(entry);
        end = last && keyOnly ? positions.keyStart(entry) + seg.length : positions.valueEnd(entry);
      } else {
        if ((seg | 0) !== seg || seg < 0 || seg >= positions.itemCount(n)) break;
        start = positions.itemStart(n, seg);
        end = positions.itemEnd(n, seg);
      }
      node = (node as Record<string | number, unknown>)[seg];
    }
  }
  return { file: doc.file.name, start, end };
}

/** The span of a whole object (a rule, a peer) when it was parsed with positions. */
export function spanOf(doc: ParsedDocument, node: unknown): Span | undefined {
  const n = doc.positions?.node(node) ?? -1;
  return n < 0 ? undefined : { file: doc.file.name, start: doc.positions!.start(n), end: doc.positions!.end(n) };
}

/**
 * A node of a parsed document and its span, to walk down one key or index at a time: the
 * spans it gives are spanAtPath's for the same path, without walking from the root for each
 * (lowering locates every rule, peer and port of 10k policies).
 */
export class Cursor {
  private constructor(
    private readonly doc: ParsedDocument,
    private readonly value: unknown,
    readonly start: number,
    readonly end: number,
    /** A step failed: the span stays that of the last node found (spanAtPath's fallback). */
    private readonly lost: boolean,
  ) {}

  /** The node at `prefix` under `root`. */
  static at(doc: ParsedDocument, root: unknown, prefix: readonly PathSegment[]): Cursor {
    const positions = doc.positions;
    const rootNode = positions ? positions.node(root) : -1;
    let cursor = rootNode >= 0 ? new Cursor(doc, root, positions!.start(rootNode), positions!.end(rootNode), false) : new Cursor(doc, root, doc.start, doc.start, !positions);
    for (const seg of prefix) cursor = cursor.step(seg);
    return cursor;
  }

  step(seg: PathSegment): Cursor {
    return typeof seg === 'string' ? this.key(seg) : this.item(seg);
  }

  key(key: string): Cursor {
    const positions = this.doc.positions;
    if (this.lost || !positions) return this;
    const n = positions.node(this.value);
    const entry = n < 0 ? -1 : positions.keyEntry(n, key);
    if (entry < 0) return this.lose();
    return new Cursor(this.doc, (this.value as Record<string, unknown>)[key], positions.valueStart(entry), positions.valueEnd(entry), false);
  }

  item(index: number): Cursor {
    const positions = this.doc.positions;
    if (this.lost || !positions) return this;
    const n = positions.node(this.value);
    if (n < 0 || (index | 0) !== index || index < 0 || index >= positions.itemCount(n)) return this.lose();
    return new Cursor(this.doc, (this.value as unknown[])[index], positions.itemStart(n, index), positions.itemEnd(n, index), false);
  }

  private lose(): Cursor {
    return new Cursor(this.doc, this.value, this.start, this.end, true);
  }

  span(): Span {
    return { file: this.doc.file.name, start: this.start, end: this.end };
  }

  /** spanAtPath(..., [...path, key], keyOnly = true): where `key` itself stands. */
  keySpan(key: string): Span {
    const positions = this.doc.positions;
    if (!this.lost && positions) {
      const n = positions.node(this.value);
      const entry = n < 0 ? -1 : positions.keyEntry(n, key);
      if (entry >= 0) return { file: this.doc.file.name, start: positions.keyStart(entry), end: positions.keyStart(entry) + key.length };
    }
    return this.span();
  }
}
