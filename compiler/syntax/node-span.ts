// Where a YAML node stands in its text, as both readers record it (js-yaml with a listener in
// documents.ts, and block-yaml.ts): the reader's position when the node opens and closes,
// trimmed of white space and of the indicators before a node.

/** JavaScript's `\s` (white space and line terminators), by character code. */
export function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || (c > 127 && (c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff));
}

/**
 * Skips white space and the indicators before a node (`:` `-` `?` followed by a space, `,`),
 * but never a character of the node itself (`::/0`, `-1`).
 */
export function trimNodeStart(segment: string, p: number): number {
  for (;;) {
    if (p >= segment.length) return p;
    const c = segment.charCodeAt(p);
    const indicator = (c === 58 /* : */ || c === 45 /* - */ || c === 63 /* ? */) && (p + 1 >= segment.length || isSpace(segment.charCodeAt(p + 1)));
    if (isSpace(c) || c === 44 /* , */ || indicator) p++;
    else return p;
  }
}

/** Backs off white space before `p`, never before `s`, never past the end of the text. */
export function trimNodeEnd(segment: string, s: number, p: number): number {
  p = Math.min(p, segment.length);
  while (p > s && isSpace(segment.charCodeAt(p - 1))) p--;
  return p;
}

// What is known of a collection's children (a node's shape in `Positions`):
/** Neither key nor item spans (a reader could not tell them). */
const OPAQUE = 0;
/** A mapping: its keys are runs of `Positions.keyOffsets` (3 per key) and `Positions.keyNames`. */
const MAPPING = 1;
/** A sequence: its items are runs of `Positions.itemOffsets` (2 per item). */
const SEQUENCE = 2;

/** A growable list of int32s (offsets in a file are below 2^31: see `limits.maxFileChars`). */
class Int32List {
  // Small at first: a file of 10k `---` documents has a Positions per document.
  data = new Int32Array(16);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }
}

/**
 * Where each mapping and sequence of one parsed document stands in the text (offsets in the
 * file), and where its keys and values, or items, stand.
 *
 * Compact on purpose: a policy file has a span for every collection (170k for 10k policies).
 * A Map of tuples per mapping, as this used to be, took four times the memory of the parsed
 * values and a third of the parse time, and the garbage collector copied all of it (twice)
 * while it was young. Here a collection is a number in a Map, and its span and its
 * children's spans are runs of a few int32 arrays, which the collector never scans. (A Map,
 * not a WeakMap: the keys are the document's own values, alive as long as it is, and a
 * WeakMap took a quarter of the parse time more.)
 */
export class Positions {
  private readonly index = new Map<object, number>();
  /** Per node: start, end, shape, first key or item, count. */
  private readonly nodes = new Int32List();
  /** Per mapping key: key start, value start, value end. */
  private readonly keyOffsets = new Int32List();
  private readonly keyNames: string[] = [];
  /** Per sequence item: start, end. */
  private readonly itemOffsets = new Int32List();

  has(value: object): boolean {
    return this.index.has(value);
  }

  /** The node number of a collection, or -1. */
  node(value: unknown): number {
    if (value === null || typeof value !== 'object') return -1;
    return this.index.get(value) ?? -1;
  }

  /**
   * Records a mapping of `count` keys: `offsets[from..]` holds [key start, key end, value start,
   * value end] per key, relative to `base`, and `names[nameFrom..]` the keys, in the same order.
   */
  mapping(value: object, start: number, end: number, base: number, offsets: readonly number[], from: number, names: readonly string[], nameFrom: number, count: number): void {
    this.add(value, start, end, MAPPING, this.keyNames.length, count);
    const keys = this.keyOffsets;
    for (let i = 0; i < count; i++) {
      const o = from + 4 * i;
      keys.push(base + offsets[o]);
      keys.push(base + offsets[o + 2]);
      keys.push(base + offsets[o + 3]);
      this.keyNames.push(names[nameFrom + i]);
    }
  }

  /** Records a sequence of `count` items: `offsets[from..]` holds [start, end] per item, relative to `base`. */
  sequence(value: object, start: number, end: number, base: number, offsets: readonly number[], from: number, count: number): void {
    this.add(value, start, end, SEQUENCE, this.itemOffsets.length / 2, count);
    const items = this.itemOffsets;
    for (let o = from; o < from + 2 * count; o++) items.push(base + offsets[o]);
  }

  /** Records a collection whose children's spans are not known. */
  opaque(value: object, start: number, end: number): void {
    this.add(value, start, end, OPAQUE, 0, 0);
  }

  private add(value: object, start: number, end: number, shape: number, first: number, count: number): void {
    const nodes = this.nodes;
    this.index.set(value, nodes.length / 5);
    nodes.push(start);
    nodes.push(end);
    nodes.push(shape);
    nodes.push(first);
    nodes.push(count);
  }

  start(node: number): number {
    return this.nodes.data[5 * node];
  }

  end(node: number): number {
    return this.nodes.data[5 * node + 1];
  }

  isMapping(node: number): boolean {
    return this.nodes.data[5 * node + 2] === MAPPING;
  }

  /** Number of items of a sequence whose item spans are known, else -1. */
  itemCount(node: number): number {
    return this.nodes.data[5 * node + 2] === SEQUENCE ? this.nodes.data[5 * node + 4] : -1;
  }

  itemStart(node: number, item: number): number {
    return this.itemOffsets.data[2 * (this.nodes.data[5 * node + 3] + item)];
  }

  itemEnd(node: number, item: number): number {
    return this.itemOffsets.data[2 * (this.nodes.data[5 * node + 3] + item) + 1];
  }

  /**
   * The key number of `key` in a mapping (the last one, as a Map built in order keeps), or -1:
   * what keyStart, valueStart and valueEnd take.
   */
  keyEntry(node: number, key: string): number {
    const nodes = this.nodes.data;
    if (nodes[5 * node + 2] !== MAPPING) return -1;
    const first = nodes[5 * node + 3];
    const names = this.keyNames;
    for (let k = first + nodes[5 * node + 4] - 1; k >= first; k--) if (names[k] === key) return k;
    return -1;
  }

  keyStart(key: number): number {
    return this.keyOffsets.data[3 * key];
  }

  valueStart(key: number): number {
    return this.keyOffsets.data[3 * key + 1];
  }

  valueEnd(key: number): number {
    return this.keyOffsets.data[3 * key + 2];
  }

  /** A view of one collection's spans (allocates: for callers off the hot paths). */
  get(value: object): NodeSpan | undefined {
    const node = this.index.get(value);
    return node === undefined ? undefined : new NodeSpan(this, node);
  }

  /** [key, key start, value start, value end] of a mapping's keys, in order. */
  entriesOf(node: number): Array<[string, number, number, number]> {
    const out: Array<[string, number, number, number]> = [];
    if (!this.isMapping(node)) return out;
    const first = this.nodes.data[5 * node + 3];
    const count = this.nodes.data[5 * node + 4];
    for (let k = first; k < first + count; k++) out.push([this.keyNames[k], this.keyStart(k), this.valueStart(k), this.valueEnd(k)]);
    return out;
  }
}

/** Where one node of a parsed document stands in the text: a view of `Positions`. */
export class NodeSpan {
  constructor(
    private readonly positions: Positions,
    private readonly node: number,
  ) {}

  get start(): number {
    return this.positions.start(this.node);
  }

  get end(): number {
    return this.positions.end(this.node);
  }

  /** For mappings: key -> [key start, value start, value end]. */
  get keys(): Map<string, [number, number, number]> | undefined {
    if (!this.positions.isMapping(this.node)) return undefined;
    const keys = new Map<string, [number, number, number]>();
    for (const [name, keyStart, valueStart, valueEnd] of this.positions.entriesOf(this.node)) keys.set(name, [keyStart, valueStart, valueEnd]);
    return keys;
  }

  /** For sequences: each item's [start, end], when every item was read as a node. */
  get items(): Array<[number, number]> | undefined {
    const count = this.positions.itemCount(this.node);
    if (count < 0) return undefined;
    const items: Array<[number, number]> = new Array(count);
    for (let i = 0; i < count; i++) items[i] = [this.positions.itemStart(this.node, i), this.positions.itemEnd(this.node, i)];
    return items;
  }
}
