// The small languages of policyc: label selectors (`kubectl -l` syntax), flows
// (`src -> dst : port/proto`, as `policyc explain` and .policytest take them) and .policytest files.
// Errors come back as data; nothing here throws on bad input.

import type { FlowAst, FlowError, Selector } from './ast.js';
import { lex, tokenEnd } from './lexer.js';
import { parseTokens } from './parser.js';
import { buildFlow, buildSelector } from './visitor.js';

export type * from './ast.js';
export { formatEndpoint, formatFlow, formatPort, formatRequirement, formatSelector } from './format.js';
export { parsePolicyTest, type PolicyTestResult } from './policytest.js';

export interface FlowParseResult {
  /** Present exactly when there are no errors. */
  flow?: FlowAst;
  errors: FlowError[];
}

export interface SelectorParseResult {
  /** Present exactly when there are no errors. `""` selects everything (no requirements). */
  selector?: Selector;
  errors: FlowError[];
}

/** Parses `<src> -> <dst> [: <port>[/<proto>]]`; spans are offsets into `text`. */
export function parseFlow(text: string): FlowParseResult {
  const { tokens, errors } = lex(text, 'flow');
  if (errors.length > 0) return { errors };
  const parsed = parseTokens(tokens, 'flow', tokens.length > 0 ? tokenEnd(tokens[tokens.length - 1]) : 0);
  if (!parsed.cst) return { errors: parsed.errors };
  const built = buildFlow(parsed.cst);
  return built.value ? { flow: built.value, errors: [] } : { errors: built.errors };
}

/** Parses a label selector as `kubectl -l` does (`ns` is an ordinary label key here). */
export function parseSelector(text: string): SelectorParseResult {
  const { tokens, errors } = lex(text, 'flow');
  if (errors.length > 0) return { errors };
  const parsed = parseTokens(tokens, 'selectorInput', tokens.length > 0 ? tokenEnd(tokens[tokens.length - 1]) : 0);
  if (!parsed.cst) return { errors: parsed.errors };
  const built = buildSelector(parsed.cst);
  return built.value ? { selector: built.value, errors: [] } : { errors: built.errors };
}
