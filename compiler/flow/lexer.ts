// Tokens of the flow, selector and .policytest languages. One lexer with two modes:
// `flow` (a single flow or selector; newlines are plain whitespace) and `test` (a .policytest
// file: newlines end statements, `#` starts a comment, paths are quoted strings).
//
// Names, numbers, IPv4 addresses, port ranges and port names are all one `Word` token
// (`web-1`, `8000-8080`, `10.0.0.1`, `serve-80-tcp`): what a word means depends on where it
// stands, which the CST visitor decides. Keywords are words too (token category), so a
// namespace may be called `in` or `deny`. IPv6 addresses get their own token because of
// their colons; write a space before the port colon after one (`fd00::1 : 80`).

import { createToken, Lexer, type IToken, type TokenType } from 'chevrotain';
import type { FlowError } from './ast.js';

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r]+/, group: Lexer.SKIPPED });
export const WhiteSpaceOrNewline = createToken({
  name: 'WhiteSpaceOrNewline',
  pattern: /[ \t\r\n]+/,
  group: Lexer.SKIPPED,
  line_breaks: true,
});
export const Newline = createToken({ name: 'Newline', pattern: /\n/, line_breaks: true, label: 'end of line' });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\n]*/, group: Lexer.SKIPPED });
export const StringLiteral = createToken({
  name: 'StringLiteral',
  pattern: /"(?:[^"\\\r\n]|\\[^\r\n])*"/,
  label: 'a quoted path',
});
/** Never reaches the parser: `lex` turns it into an error. */
export const UnterminatedString = createToken({ name: 'UnterminatedString', pattern: /"(?:[^"\\\r\n]|\\[^\r\n])*\\?/ });

export const Arrow = createToken({ name: 'Arrow', pattern: /->/, label: "'->'" });
export const DoubleEquals = createToken({ name: 'DoubleEquals', pattern: /==/, label: "'=='" });
export const NotEquals = createToken({ name: 'NotEquals', pattern: /!=/, label: "'!='" });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: "'='" });
export const Bang = createToken({ name: 'Bang', pattern: /!/, label: "'!'" });
export const Colon = createToken({ name: 'Colon', pattern: /:/, label: "':'" });
export const Slash = createToken({ name: 'Slash', pattern: /\//, label: "'/'" });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
export const LCurly = createToken({ name: 'LCurly', pattern: /\{/, label: "'{'" });
export const RCurly = createToken({ name: 'RCurly', pattern: /\}/, label: "'}'" });
export const Star = createToken({ name: 'Star', pattern: /\*/, label: "'*'" });

export const Word = createToken({
  name: 'Word',
  // Begins and ends with a letter, digit or '_', so `a->b` and `x/a,` split where they should.
  pattern: /[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?/,
  label: 'a name',
});

const ipv6Run = /[0-9A-Fa-f:.]+/y;

/** A run of hex digits, colons and dots holding at least two colons; validated by the visitor. */
function matchIPv6(text: string, offset: number): [string] | null {
  ipv6Run.lastIndex = offset;
  const m = ipv6Run.exec(text);
  if (!m) return null;
  const run = m[0];
  return run.indexOf(':') !== run.lastIndexOf(':') ? [run] : null;
}

export const IPv6 = createToken({
  name: 'IPv6',
  pattern: matchIPv6,
  line_breaks: false,
  start_chars_hint: [...'0123456789abcdefABCDEF:'],
  label: 'an IPv6 address',
});

function keyword(name: string, word: string): TokenType {
  return createToken({ name, pattern: new RegExp(word), longer_alt: Word, categories: [Word], label: `'${word}'` });
}

export const NotIn = keyword('NotIn', 'notin');
export const In = keyword('In', 'in');
export const Allow = keyword('Allow', 'allow');
export const Deny = keyword('Deny', 'deny');
export const Load = keyword('Load', 'load');

const common: TokenType[] = [
  IPv6,
  Arrow,
  DoubleEquals,
  NotEquals,
  Equals,
  Bang,
  Colon,
  Slash,
  Comma,
  LParen,
  RParen,
  LCurly,
  RCurly,
  Star,
  NotIn,
  In,
  Allow,
  Deny,
  Load,
  Word,
];

const flowMode: TokenType[] = [WhiteSpaceOrNewline, ...common];
const testMode: TokenType[] = [WhiteSpace, Newline, Comment, StringLiteral, UnterminatedString, ...common];

/** Every token type the parser may see. */
export const allTokens: TokenType[] = [WhiteSpace, WhiteSpaceOrNewline, Newline, Comment, StringLiteral, UnterminatedString, ...common];

const lexer = new Lexer(
  { modes: { flow: flowMode, test: testMode }, defaultMode: 'flow' },
  { positionTracking: 'onlyOffset', ensureOptimizations: false },
);

export type LexMode = 'flow' | 'test';

export interface LexResult {
  tokens: IToken[];
  errors: FlowError[];
}

/** Never throws; characters no token matches come back as errors (and are left out). */
export function lex(text: string, mode: LexMode): LexResult {
  const result = lexer.tokenize(text, mode);
  const errors: FlowError[] = result.errors.map((e) => {
    const bad = text.slice(e.offset, e.offset + e.length);
    const what = [...bad].length === 1 ? 'character' : 'characters';
    return { message: `unexpected ${what} '${bad}'`, start: e.offset, end: e.offset + e.length };
  });
  const tokens: IToken[] = [];
  for (const token of result.tokens) {
    if (token.tokenType === UnterminatedString) {
      errors.push({ message: 'unterminated string', start: token.startOffset, end: token.startOffset + token.image.length });
    } else {
      tokens.push(token);
    }
  }
  errors.sort((a, b) => a.start - b.start);
  return { tokens, errors };
}

/** Offset just past a token. */
export function tokenEnd(token: IToken): number {
  return token.startOffset + token.image.length;
}
