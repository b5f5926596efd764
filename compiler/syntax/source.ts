// A source file's text plus a lazily built line index, so that spans stay as offsets
// everywhere and become line/column only when something is printed.

export interface SourceFile {
  readonly name: string;
  readonly text: string;
}

/** A half-open range of character offsets in one file. */
export interface Span {
  readonly file: string;
  readonly start: number;
  readonly end: number;
}

export interface LineCol {
  /** 1-based */
  line: number;
  /** 1-based */
  col: number;
}

const lineIndexCache = new WeakMap<SourceFile, number[]>();

function lineStarts(file: SourceFile): number[] {
  let starts = lineIndexCache.get(file);
  if (!starts) {
    starts = [0];
    const text = file.text;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
    lineIndexCache.set(file, starts);
  }
  return starts;
}

export function lineColAt(file: SourceFile, offset: number): LineCol {
  const starts = lineStarts(file);
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, col: offset - starts[lo] + 1 };
}

export function lineText(file: SourceFile, line: number): string {
  const starts = lineStarts(file);
  const start = starts[line - 1] ?? file.text.length;
  const end = line < starts.length ? starts[line] - 1 : file.text.length;
  return file.text.slice(start, end).replace(/\r$/, '');
}

export function lineCount(file: SourceFile): number {
  return lineStarts(file).length;
}

/** Offset of the first character of a 1-based line/column. */
export function offsetAt(file: SourceFile, pos: LineCol): number {
  const starts = lineStarts(file);
  const lineStart = starts[Math.min(Math.max(pos.line, 1), starts.length) - 1];
  return Math.min(lineStart + Math.max(pos.col - 1, 0), file.text.length);
}

/** Files known to a compilation, by name; used to turn spans into `file:line:col`. */
export class SourceSet {
  private readonly files = new Map<string, SourceFile>();
  add(file: SourceFile): void {
    this.files.set(file.name, file);
  }
  get(name: string): SourceFile | undefined {
    return this.files.get(name);
  }
  all(): SourceFile[] {
    return [...this.files.values()];
  }
  /** `file:line:col` of a span's start, or just the file name when the file is unknown. */
  where(span: Span): string {
    const file = this.files.get(span.file);
    if (!file) return span.file;
    const { line, col } = lineColAt(file, span.start);
    return `${span.file}:${line}:${col}`;
  }
  startOf(span: Span): LineCol {
    const file = this.files.get(span.file);
    return file ? lineColAt(file, span.start) : { line: 1, col: 1 };
  }
  endOf(span: Span): LineCol {
    const file = this.files.get(span.file);
    return file ? lineColAt(file, span.end) : { line: 1, col: 1 };
  }
}
