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
