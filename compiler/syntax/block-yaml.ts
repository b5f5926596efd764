// A fast reader for the plain block YAML that `kubectl get -o yaml` prints, used for cluster
// snapshots (tens of MB). It accepts only a strict subset and returns undefined for anything
// else, so that the caller falls back to js-yaml: the value it returns is always the one
// js-yaml's load() returns for the same text (scalars are resolved with js-yaml's own types).
//
// The subset: indentation with spaces; block mappings with plain keys ([A-Za-z0-9_][A-Za-z0-9_./-]*
// that resolve to strings); block sequences (also at their key's indentation); single-line
// plain, single-quoted and double-quoted (without escapes) scalars; literal block scalars
// (`|`, `|-`) without blank lines; `{}` and `[]`; blank and comment lines. Out of it: tabs,
// CR, non-printable characters, anchors, aliases, tags, flow collections with content, folded
// and multi-line flow scalars, trailing comments, duplicate keys, directives, a BOM. With
// positions, it records the same node spans as js-yaml's listener in documents.ts (same open
// and close positions, same trimming: see node-span.ts).

import jsYaml from 'js-yaml';
import { Positions, trimNodeEnd, trimNodeStart } from './node-span.js';

interface ImplicitType {
  tag: string;
  resolve(data: string): boolean;
  construct(data: string): unknown;
}

/** The implicit types of js-yaml's default schema, in its order; undefined if not the known set. */
const IMPLICIT: readonly ImplicitType[] | undefined = (() => {
  const types = (jsYaml.DEFAULT_SCHEMA as unknown as { compiledImplicit?: ImplicitType[] }).compiledImplicit;
  const expected = ['null', 'bool', 'int', 'float', 'timestamp', 'merge'].map((t) => `tag:yaml.org,2002:${t}`);
  return types && types.length === expected.length && types.every((t, i) => t.tag === expected[i]) ? types : undefined;
})();

// js-yaml's test for characters a scalar may not contain.
const NON_PRINTABLE = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x84\x86-\x9F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:[^\uD800-\uDBFF]|^)[\uDC00-\uDFFF]/;

class Unsupported extends Error {}
const UNSUPPORTED = new Unsupported();

const SPACE = 32;
const DASH = 45;
const COLON = 58;
const HASH = 35;

function isKeyStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
}

function isKeyChar(c: number): boolean {
  return isKeyStart(c) || c === 46 || c === 47 || c === DASH;
}

/**
 * Whether no implicit type can resolve a scalar starting with this character: only null
 * (n N ~), bool (t T f F), numbers and timestamps (digits . + -) and merge (<) resolve.
 */
function alwaysString(c: number): boolean {
  return ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) && c !== 110 && c !== 78 && c !== 116 && c !== 84 && c !== 102 && c !== 70;
}

/** Resolves a plain scalar as js-yaml does (composeNode with the `?` tag). */
function plainScalar(text: string): unknown {
  if (alwaysString(text.charCodeAt(0))) return text;
  for (const type of IMPLICIT!) if (type.resolve(text)) return type.construct(text);
  return text;
}

const stringKeys = new Map<string, boolean>();

/**
 * Keys already seen (and found to be plain string keys), by length and end characters. A
 * snapshot repeats a few dozen keys millions of times: reusing one string per key saves an
 * allocation and a string-table lookup (property names are internalized) per occurrence.
 */
const keyTable: Array<string[] | undefined> = new Array(1024);

function knownKey(text: string, start: number, end: number): string | undefined {
  const bucket = keyTable[((end - start) * 31 + text.charCodeAt(start) * 7 + text.charCodeAt(end - 1)) & 1023];
  if (bucket) for (const key of bucket) if (key.length === end - start && text.startsWith(key, start)) return key;
  return undefined;
}

function rememberKey(key: string): void {
  const slot = (key.length * 31 + key.charCodeAt(0) * 7 + key.charCodeAt(key.length - 1)) & 1023;
  const bucket = (keyTable[slot] ??= []);
  if (bucket.length < 8) bucket.push(key);
}

/** A plain key that js-yaml keeps as the same string (no implicit type resolves it). */
function isStringKey(key: string): boolean {
  if (alwaysString(key.charCodeAt(0))) return true;
  let ok = stringKeys.get(key);
  if (ok === undefined) {
    ok = key !== '__proto__' && !IMPLICIT!.some((t) => t.resolve(key));
    if (stringKeys.size < 10_000) stringKeys.set(key, ok);
  }
  return ok;
}

class Reader {
  /** Current line: [start, end) without the line break; indent = spaces before content. */
  private start = 0;
  private end = 0;
  private indent = 0;
  private next = 0;
  private done = false;
  /** Positions mode: the trimmed span of the node read last. */
  private s = 0;
  private e = 0;

  constructor(
    private readonly text: string,
    /** Positions mode: the spans of the nodes, as documents.ts records them with js-yaml's listener. */
    private readonly spans?: Positions,
    private readonly base = 0,
  ) {
    this.advance();
  }

  /** Moves to the next line with content (skipping blank and comment lines). */
  private advance(): void {
    const text = this.text;
    for (;;) {
      if (this.next >= text.length) {
        this.done = true;
        return;
      }
      const start = this.next;
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      this.next = end + 1;
      let i = start;
      while (i < end && text.charCodeAt(i) === SPACE) i++;
      if (i === end || text.charCodeAt(i) === HASH) continue;
      this.start = start;
      this.end = end;
      this.indent = i - start;
      return;
    }
  }

  /** Where js-yaml stands after skipping white space and comments: the next content, or the end. */
  private nextContent(): number {
    return this.done ? this.text.length : this.start + this.indent;
  }

  /**
   * Positions mode: the children's spans of the collections being read, flat (a mapping's key
   * start, key end, value start, value end per key; a sequence's start, end per item), and the
   * keys of the mappings being read: one stack each (with its top; the arrays only grow), so
   * a collection allocates no array.
   */
  private readonly kids: number[] = [];
  private top = 0;
  private readonly kidNames: string[] = [];
  private nameTop = 0;

  private pushSpan(start: number, end: number): void {
    this.kids[this.top++] = start;
    this.kids[this.top++] = end;
  }

  /** Positions mode: the trimmed span of a node that opened at `open` and closed at `close`. */
  private trim(open: number, close: number): void {
    const s = trimNodeStart(this.text, open);
    this.s = s;
    this.e = Math.max(s, trimNodeEnd(this.text, s, close));
  }

  /** Positions mode: a scalar, or `{}` / `[]`, that opened at `open` and closed at `close`. */
  private record(value: unknown, open: number, close: number): void {
    this.trim(open, close);
    if (value === null || typeof value !== 'object' || this.spans!.has(value)) return;
    const base = this.base;
    if (Array.isArray(value)) this.spans!.sequence(value, base + this.s, base + this.e, base, this.kids, 0, 0);
    else this.spans!.mapping(value, base + this.s, base + this.e, base, this.kids, 0, this.kidNames, 0, 0);
  }

  /** Positions mode: a mapping whose children are on the stacks from `from` and `nameFrom`. */
  private recordMapping(value: object, open: number, close: number, from: number, nameFrom: number): void {
    this.trim(open, close);
    const base = this.base;
    this.spans!.mapping(value, base + this.s, base + this.e, base, this.kids, from, this.kidNames, nameFrom, this.nameTop - nameFrom);
    this.top = from;
    this.nameTop = nameFrom;
  }

  /** Positions mode: a sequence whose children are on the stack from `from`. */
  private recordSequence(value: unknown[], open: number, close: number, from: number): void {
    this.trim(open, close);
    const base = this.base;
    // An item with no node (a bare `-`) has no span: js-yaml's listener then records no items.
    if (this.top - from === 2 * value.length) this.spans!.sequence(value, base + this.s, base + this.e, base, this.kids, from, value.length);
    else this.spans!.opaque(value, base + this.s, base + this.e);
    this.top = from;
  }

  document(): unknown {
    if (this.done) throw UNSUPPORTED;
    const indent = this.indent;
    const open = this.nextContent();
    const value = this.isItem(this.start + indent) ? this.sequence(indent, open) : this.mapping(indent, this.start + indent, open);
    if (!this.done) throw UNSUPPORTED;
    return value;
  }

  /** `-` followed by a space or the end of the line. */
  private isItem(p: number): boolean {
    return this.text.charCodeAt(p) === DASH && (p + 1 === this.end || this.text.charCodeAt(p + 1) === SPACE);
  }

  /** A mapping or sequence starting on the current line, at its indentation. */
  private block(open: number): unknown {
    return this.isItem(this.start + this.indent) ? this.sequence(this.indent, open) : this.mapping(this.indent, this.start + this.indent, open);
  }

  /** A block mapping whose keys stand at column `indent`; the first key starts at `p` on the current line. */
  private mapping(indent: number, p: number, open: number): Record<string, unknown> {
    const text = this.text;
    const out: Record<string, unknown> = {};
    const spans = this.spans !== undefined;
    const from = this.top;
    const nameFrom = this.nameTop;
    for (;;) {
      // key
      const keyStart = p;
      if (!isKeyStart(text.charCodeAt(p))) throw UNSUPPORTED;
      while (p < this.end && isKeyChar(text.charCodeAt(p))) p++;
      if (text.charCodeAt(p) !== COLON || (p + 1 < this.end && text.charCodeAt(p + 1) !== SPACE)) throw UNSUPPORTED;
      let key = knownKey(text, keyStart, p);
      if (key === undefined) {
        key = text.slice(keyStart, p);
        if (!isStringKey(key)) throw UNSUPPORTED;
        rememberKey(key);
      }
      if (Object.prototype.hasOwnProperty.call(out, key)) throw UNSUPPORTED;
      if (spans) {
        this.pushSpan(keyStart, p);
        this.kidNames[this.nameTop++] = key;
      }
      // The value node opens right after the colon, whatever follows.
      const valueOpen = ++p;
      while (p < this.end && text.charCodeAt(p) === SPACE) p++;
      let value: unknown;
      if (p < this.end) {
        value = this.scalar(p, valueOpen, indent);
        this.advance();
        if (!this.done && this.indent > indent) throw UNSUPPORTED; // a multi-line scalar
      } else {
        this.advance();
        if (this.done || this.indent < indent) value = null;
        else if (this.indent > indent) value = this.block(valueOpen);
        else if (this.isItem(this.start + indent)) value = this.sequence(indent, valueOpen);
        else value = null;
        if (value === null && spans) this.record(null, valueOpen, this.nextContent());
      }
      out[key] = value;
      if (spans) this.pushSpan(this.s, this.e);
      if (this.done || this.indent < indent) break;
      if (this.indent > indent) throw UNSUPPORTED;
      p = this.start + indent;
      // A sequence item at the keys' column belongs to an enclosing sequence (or is an error).
      if (this.isItem(p)) break;
    }
    if (spans) this.recordMapping(out, open, this.nextContent(), from, nameFrom);
    return out;
  }

  /** A block sequence whose dashes stand at column `indent`. */
  private sequence(indent: number, open: number): unknown[] {
    const text = this.text;
    const out: unknown[] = [];
    const spans = this.spans !== undefined;
    const from = this.top;
    for (;;) {
      let p = this.start + indent + 1;
      while (p < this.end && text.charCodeAt(p) === SPACE) p++;
      if (p === this.end) {
        this.advance();
        if (!this.done && this.indent > indent) {
          out.push(this.block(this.nextContent()));
          if (spans) this.pushSpan(this.s, this.e);
        } else {
          out.push(null); // js-yaml reads no node here: the item has no span
        }
      } else if (this.isItem(p)) {
        throw UNSUPPORTED; // `- - x`
      } else if (this.isKeyLine(p)) {
        out.push(this.mapping(p - this.start, p, p));
        if (spans) this.pushSpan(this.s, this.e);
      } else {
        out.push(this.scalar(p, p, indent));
        if (spans) this.pushSpan(this.s, this.e);
        this.advance();
        if (!this.done && this.indent > indent) throw UNSUPPORTED;
      }
      if (this.done || this.indent < indent) break;
      if (this.indent > indent || !this.isItem(this.start + indent)) {
        // The enclosing mapping's next key at the same column ends a compact sequence.
        if (this.indent === indent) break;
        throw UNSUPPORTED;
      }
    }
    if (spans) this.recordSequence(out, open, this.nextContent(), from);
    return out;
  }

  /** Whether the current line from `p` is `key:` or `key: ...`. */
  private isKeyLine(p: number): boolean {
    const text = this.text;
    if (!isKeyStart(text.charCodeAt(p))) return false;
    while (p < this.end && isKeyChar(text.charCodeAt(p))) p++;
    return text.charCodeAt(p) === COLON && (p + 1 === this.end || text.charCodeAt(p + 1) === SPACE);
  }

  /**
   * The scalar (or `{}` / `[]`) from `p` to the end of the current line, or the literal block
   * scalar it starts; the node opened at `open`, in a collection at column `parentIndent`.
   */
  private scalar(p: number, open: number, parentIndent: number): unknown {
    const text = this.text;
    let end = this.end;
    while (end > p && text.charCodeAt(end - 1) === SPACE) end--;
    if (text.charCodeAt(p) === 124 /* | */) {
      const block = this.literal(p, end, parentIndent);
      if (this.spans) this.record(block.value, open, block.end);
      return block.value;
    }
    const value = this.scalarValue(p, end);
    if (this.spans) this.record(value, open, end);
    return value;
  }

  /**
   * A literal block scalar (`|` or `|-`, as kubectl prints strings with line breaks, e.g. the
   * last-applied-configuration annotation), read as js-yaml's readBlockScalar reads it: the
   * first line sets the indentation (more than the collection's). Blank lines, indentation
   * indicators, `|+` and `>` are left to js-yaml. The next line read is the one after it.
   */
  private literal(p: number, end: number, parentIndent: number): { value: string; end: number } {
    const text = this.text;
    const header = text.slice(p, end);
    if (header !== '|' && header !== '|-') throw UNSUPPORTED;
    const lines: string[] = [];
    let textIndent = -1;
    let lineStart = this.next;
    let contentEnd = -1;
    while (lineStart < text.length) {
      let lineEnd = text.indexOf('\n', lineStart);
      if (lineEnd < 0) lineEnd = text.length;
      let i = lineStart;
      while (i < lineEnd && text.charCodeAt(i) === SPACE) i++;
      if (i === lineEnd) throw UNSUPPORTED;
      const lineIndent = i - lineStart;
      if (textIndent < 0) {
        if (lineIndent <= parentIndent) break;
        textIndent = lineIndent;
      } else if (lineIndent < textIndent) {
        break;
      }
      lines.push(text.slice(lineStart + textIndent, lineEnd));
      contentEnd = lineEnd;
      lineStart = lineEnd + 1;
    }
    if (lines.length === 0) throw UNSUPPORTED;
    this.next = lineStart;
    return { value: header === '|' ? `${lines.join('\n')}\n` : lines.join('\n'), end: contentEnd };
  }

  private scalarValue(p: number, end: number): unknown {
    const text = this.text;
    const c = text.charCodeAt(p);
    if (c === 34 /* " */ || c === 39 /* ' */) {
      const close = text.indexOf(c === 34 ? '"' : "'", p + 1);
      if (c === 34) {
        if (close !== end - 1) throw UNSUPPORTED;
        const body = text.slice(p + 1, close);
        if (body.includes('\\')) throw UNSUPPORTED;
        return body;
      }
      // Single quotes: '' is a quote; the scalar must close at the end of the line.
      let q = close;
      while (q >= 0 && q < end - 1 && text.charCodeAt(q + 1) === 39) q = text.indexOf("'", q + 2);
      if (q !== end - 1) throw UNSUPPORTED;
      return text.slice(p + 1, q).replace(/''/g, "'");
    }
    const raw = text.slice(p, end);
    if (raw === '{}') return {};
    if (raw === '[]') return [];
    // Indicators that cannot start a plain scalar, or start one only before a non-space.
    if ('[]{}#&*!|>%@`,:?'.includes(raw[0]) || (c === DASH && (raw.length === 1 || raw.charCodeAt(1) === SPACE))) throw UNSUPPORTED;
    if (raw.includes(' #') || raw.includes(': ') || raw.charCodeAt(raw.length - 1) === COLON) throw UNSUPPORTED;
    return plainScalar(raw);
  }
}

function inSubset(text: string): boolean {
  return !!IMPLICIT && !text.includes('\t') && !text.includes('\r') && text.charCodeAt(0) !== 0xfeff && !NON_PRINTABLE.test(text);
}

/** js-yaml's load() value for `text`, or undefined when the text is outside the subset. */
export function parseBlockYaml(text: string): unknown {
  if (!inSubset(text)) return undefined;
  try {
    return new Reader(text).document();
  } catch (err) {
    if (err === UNSUPPORTED) return undefined;
    throw err;
  }
}

/**
 * The value and node spans (offsets shifted by `base`) that documents.ts records for `text`
 * with js-yaml and its listener, or undefined when the text is outside the subset.
 */
export function parseBlockYamlWithPositions(text: string, base: number): { value: unknown; positions: Positions } | undefined {
  if (!inSubset(text)) return undefined;
  const positions = new Positions();
  try {
    return { value: new Reader(text, positions, base).document(), positions };
  } catch (err) {
    if (err === UNSUPPORTED) return undefined;
    throw err;
  }
}
