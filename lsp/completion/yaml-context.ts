// Where the cursor is in a YAML document that is being typed (and so often not valid YAML):
// the path of keys/indices to the mapping or value being written, found from indentation the
// way a person reads it. Handles block style as kubectl and editors write it, including
// compact sequences (`ingress:` followed by `- from:` at the same column) and `[a, b]` lists.

export type Segment = string | number;

export interface CursorContext {
  /** Path to the mapping whose key is being typed, or to the key whose value is being typed. */
  path: Segment[];
  mode: 'key' | 'value';
  /** What is typed so far of the key or value. */
  prefix: string;
  /** Offset where `prefix` starts (the completion replaces from here to the cursor). */
  prefixStart: number;
  /** Keys already present in the mapping (key mode). */
  siblings: string[];
  /** The document's top-level `kind`, if written. */
  kind?: string;
  /** Lines of the document up to the cursor, and the cursor line's index (for value lookups). */
  lines: Line[];
  line: number;
  /** In a flow list `[a, b` or a block list item `- ` (value mode on a list). */
  inList: boolean;
}

export interface Line {
  start: number;
  text: string;
  blank: boolean;
  indent: number;
  dash: boolean;
  keyCol: number;
  key?: string;
  value?: string;
}

const KEY = /^("[^"]*"|'[^']*'|[^\s#:'"{}[\],-][^:#]*?|-[^\s:#][^:#]*?)\s*:(?:\s+|$)/;

export function parseLine(text: string, start: number): Line {
  const trimmed = text.trimStart();
  const indent = text.length - trimmed.length;
  if (trimmed === '' || trimmed.startsWith('#')) return { start, text, blank: true, indent, dash: false, keyCol: indent };
  const dashMatch = /^-(\s+|$)/.exec(trimmed);
  const rest = dashMatch ? trimmed.slice(dashMatch[0].length) : trimmed;
  const keyCol = indent + (dashMatch ? dashMatch[0].length : 0);
  const m = KEY.exec(rest);
  const line: Line = { start, text, blank: false, indent, dash: !!dashMatch, keyCol };
  if (m) {
    line.key = m[1].replace(/^["']|["']$/g, '');
    line.value = rest.slice(m[0].length).replace(/\s+#.*$/, '').trim();
  } else if (rest === '' && dashMatch) {
    line.keyCol = keyCol;
  } else {
    line.value = rest.replace(/\s+#.*$/, '').trim();
  }
  return line;
}

/** Path of the mapping holding a key at `col` on line `idx` (an item of the list with dashes at `dashCol` when `item`). */
function mappingPath(lines: Line[], idx: number, col: number, item: boolean, dashCol: number, depth = 0): Segment[] {
  if (depth > 64) return [];
  if (item) {
    const owner = seqOwner(lines, idx, dashCol);
    if (!owner) return [0];
    return [...keyPath(lines, owner.line, depth + 1), owner.index];
  }
  for (let j = idx - 1; j >= 0; j--) {
    const l = lines[j];
    if (l.blank) continue;
    if (l.keyCol === col && l.dash) return mappingPath(lines, j, col, true, l.indent, depth + 1);
    if (l.keyCol >= col) continue;
    if (l.key !== undefined) return keyPath(lines, j, depth + 1);
    return [];
  }
  return [];
}

function keyPath(lines: Line[], j: number, depth: number): Segment[] {
  const l = lines[j];
  return [...mappingPath(lines, j, l.keyCol, l.dash, l.indent, depth), l.key ?? ''];
}

/** The line of the key that owns the list whose dashes are at `dashCol`, and the item's index. */
function seqOwner(lines: Line[], idx: number, dashCol: number): { line: number; index: number } | undefined {
  let index = 0;
  for (let j = idx - 1; j >= 0; j--) {
    const l = lines[j];
    if (l.blank) continue;
    if (l.dash && l.indent === dashCol) {
      index++;
      continue;
    }
    if (l.keyCol > dashCol) continue;
    if (l.key !== undefined && (l.value === '' || l.value === undefined)) return { line: j, index };
    return undefined;
  }
  return undefined;
}

export function cursorContext(text: string, offset: number): CursorContext {
  const docStart = (() => {
    const re = /^---.*$/gm;
    let last = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null && m.index < offset) last = m.index + m[0].length + 1;
    return Math.min(last, offset);
  })();
  const lines: Line[] = [];
  let pos = docStart;
  while (pos <= offset) {
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 || nl >= offset ? offset : nl;
    lines.push(parseLine(text.slice(pos, end), pos));
    if (end >= offset) break;
    pos = end + 1;
  }
  const kindMatch = /^kind:\s*["']?([A-Za-z]+)/m.exec(text.slice(docStart, nextDocStart(text, offset)));
  const cur = lines.length - 1;
  const line = lines[cur];
  const base: Omit<CursorContext, 'path' | 'mode' | 'prefix' | 'prefixStart' | 'siblings' | 'inList'> = { kind: kindMatch?.[1], lines, line: cur };
  const raw = line.text;
  const valueMatch = /^(\s*(?:-\s+)?)("[^"]*"|'[^']*'|[^\s#:'"{}[\],][^:#]*?)\s*:\s*(.*)$/.exec(raw);
  if (valueMatch && !line.blank) {
    const key = valueMatch[2].replace(/^["']|["']$/g, '');
    const valueText = valueMatch[3];
    const path = [...mappingPath(lines, cur, line.keyCol, line.dash, line.indent), key];
    if (valueText.startsWith('[')) {
      const after = valueText.slice(1);
      const lastSep = Math.max(after.lastIndexOf(','), -1);
      const prefix = after.slice(lastSep + 1).trimStart();
      return { ...base, path, mode: 'value', prefix, prefixStart: offset - prefix.length, siblings: [], inList: true };
    }
    const prefix = valueText.replace(/^["']/, '');
    return { ...base, path, mode: 'value', prefix, prefixStart: offset - prefix.length, siblings: [], inList: false };
  }
  const prefix = raw.slice(line.keyCol).replace(/^["']/, '');
  const path = mappingPath(lines, cur, line.keyCol, line.dash, line.indent);
  const siblings = siblingKeys(text, lines, cur, line.keyCol, offset);
  const inList = line.dash && prefix === '';
  return { ...base, path, mode: 'key', prefix, prefixStart: offset - prefix.length, siblings, inList };
}

function nextDocStart(text: string, offset: number): number {
  const re = /^---/gm;
  re.lastIndex = offset;
  const m = re.exec(text);
  return m ? m.index : text.length;
}

/** Keys at `col` in the same mapping, above and below the cursor line. */
function siblingKeys(text: string, lines: Line[], cur: number, col: number, offset: number): string[] {
  const out: string[] = [];
  const line = lines[cur];
  for (let j = cur - 1; j >= 0; j--) {
    const l = lines[j];
    if (l.blank) continue;
    if (l.keyCol < col) {
      if (l.dash && l.keyCol === col && l.key) out.push(l.key);
      break;
    }
    if (l.keyCol === col && l.key) out.push(l.key);
    if (l.dash && l.keyCol === col) break;
  }
  if (line.dash) return out;
  const rest = text.slice(text.indexOf('\n', offset) + 1 || text.length);
  let p = text.indexOf('\n', offset) < 0 ? text.length : text.indexOf('\n', offset) + 1;
  for (const t of rest.split('\n')) {
    const l = parseLine(t, p);
    p += t.length + 1;
    if (l.blank) continue;
    if (t.startsWith('---') || l.keyCol < col || (l.dash && l.indent < col)) break;
    if (l.keyCol === col && l.dash) break;
    if (l.keyCol === col && l.key) out.push(l.key);
  }
  return out;
}
