// The grammar (chevrotain CST parser). Structure only: which word is a pod, a CIDR, a port
// range or a label key, and whether names are valid, is decided by the visitor.
//
//   testLine    := 'load' STRING | ('allow' | 'deny') flow
//   flow        := endpoint '->' endpoint (':' portSpec)?
//   endpoint    := ipv6 | braced | scoped | selector
//   ipv6        := IPV6 ('/' WORD)?
//   braced      := '{' selector? '}'
//   scoped      := WORD '/' ('*' | braced)                      ns/*  ns/{app=web}
//   selectorInput := selector?
//   selector    := requirement (',' requirement)*
//   requirement := '!' key | key operation?
//   key         := WORD ('/' WORD)?         also ns/name, 10.0.0.0/8, 10.0.0.1 (visitor)
//   operation   := ('=' | '==' | '!=') WORD? | ('in' | 'notin') '(' valueSlot (',' valueSlot)* ')'
//   valueSlot   := WORD?
//   portSpec    := (WORD | '*') ('/' WORD)?

import {
  CstParser,
  EOF,
  type CstNode,
  type IParserErrorMessageProvider,
  type IRecognitionException,
  type IToken,
  type TokenType,
} from 'chevrotain';
import type { FlowError } from './ast.js';
import * as T from './lexer.js';

const ruleDescriptions: Record<string, string> = {
  testLine: "'allow', 'deny' or 'load'",
  endpoint: 'an endpoint (ns/name, ns/*, an address or CIDR, or a label selector)',
  requirement: 'a label requirement',
  operation: 'an operator',
  portSpec: "a port, a port range, a port name or '*'",
  scoped: "'*' or '{'",
};

function describe(token: IToken): string {
  return token.tokenType === EOF ? 'end of input' : `'${token.image}'`;
}

function labelOf(type: TokenType): string {
  return type.LABEL ?? type.name;
}

const errorMessageProvider: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, actual }) => `expected ${labelOf(expected)}, found ${describe(actual)}`,
  buildNotAllInputParsedMessage: ({ firstRedundant }) => `unexpected ${describe(firstRedundant)}`,
  buildNoViableAltMessage: ({ actual, ruleName }) =>
    `expected ${ruleDescriptions[ruleName] ?? ruleName}, found ${describe(actual[0])}`,
  buildEarlyExitMessage: ({ actual, ruleName }) =>
    `expected ${ruleDescriptions[ruleName] ?? ruleName}, found ${describe(actual[0])}`,
};

class FlowParser extends CstParser {
  constructor() {
    super(T.allTokens, {
      recoveryEnabled: false,
      maxLookahead: 3,
      nodeLocationTracking: 'onlyOffset',
      errorMessageProvider,
    });
    this.performSelfAnalysis();
  }

  public testLine = this.RULE('testLine', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Load);
          this.CONSUME(T.StringLiteral);
        },
      },
      {
        ALT: () => {
          this.OR2([{ ALT: () => this.CONSUME(T.Allow) }, { ALT: () => this.CONSUME(T.Deny) }]);
          this.SUBRULE(this.flow);
        },
      },
    ]);
  });

  public flow = this.RULE('flow', () => {
    this.SUBRULE(this.endpoint);
    this.CONSUME(T.Arrow);
    this.SUBRULE2(this.endpoint);
    this.OPTION(() => {
      this.CONSUME(T.Colon);
      this.SUBRULE(this.portSpec);
    });
  });

  public endpoint = this.RULE('endpoint', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.ipv6) },
      { ALT: () => this.SUBRULE(this.braced) },
      { ALT: () => this.SUBRULE(this.scoped) },
      { ALT: () => this.SUBRULE(this.selector) },
    ]);
  });

  public ipv6 = this.RULE('ipv6', () => {
    this.CONSUME(T.IPv6);
    this.OPTION(() => {
      this.CONSUME(T.Slash);
      this.CONSUME(T.Word);
    });
  });

  public braced = this.RULE('braced', () => {
    this.CONSUME(T.LCurly);
    this.OPTION(() => this.SUBRULE(this.selector));
    this.CONSUME(T.RCurly);
  });

  public scoped = this.RULE('scoped', () => {
    this.CONSUME(T.Word);
    this.CONSUME(T.Slash);
    this.OR([{ ALT: () => this.CONSUME(T.Star) }, { ALT: () => this.SUBRULE(this.braced) }]);
  });

  public selectorInput = this.RULE('selectorInput', () => {
    this.OPTION(() => this.SUBRULE(this.selector));
  });

  public selector = this.RULE('selector', () => {
    this.SUBRULE(this.requirement);
    this.MANY(() => {
      this.CONSUME(T.Comma);
      this.SUBRULE2(this.requirement);
    });
  });

  public requirement = this.RULE('requirement', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Bang);
          this.SUBRULE(this.key);
        },
      },
      {
        ALT: () => {
          this.SUBRULE2(this.key);
          this.OPTION(() => this.SUBRULE(this.operation));
        },
      },
    ]);
  });

  public key = this.RULE('key', () => {
    this.CONSUME(T.Word);
    this.OPTION(() => {
      this.CONSUME(T.Slash);
      this.CONSUME2(T.Word);
    });
  });

  public operation = this.RULE('operation', () => {
    this.OR([
      {
        ALT: () => {
          this.OR2([
            { ALT: () => this.CONSUME(T.Equals) },
            { ALT: () => this.CONSUME(T.DoubleEquals) },
            { ALT: () => this.CONSUME(T.NotEquals) },
          ]);
          this.OPTION(() => this.CONSUME(T.Word));
        },
      },
      {
        ALT: () => {
          this.OR3([{ ALT: () => this.CONSUME(T.In) }, { ALT: () => this.CONSUME(T.NotIn) }]);
          this.CONSUME(T.LParen);
          this.SUBRULE(this.valueSlot);
          this.MANY(() => {
            this.CONSUME(T.Comma);
            this.SUBRULE2(this.valueSlot);
          });
          this.CONSUME(T.RParen);
        },
      },
    ]);
  });

  public valueSlot = this.RULE('valueSlot', () => {
    this.OPTION(() => this.CONSUME(T.Word));
  });

  public portSpec = this.RULE('portSpec', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Word, { LABEL: 'port' }) }, { ALT: () => this.CONSUME(T.Star) }]);
    this.OPTION(() => {
      this.CONSUME(T.Slash);
      this.CONSUME2(T.Word, { LABEL: 'protocol' });
    });
  });
}

/** One shared instance (chevrotain parsers are built once and reused; parsing is synchronous). */
export const parser = new FlowParser();

export type StartRule = 'flow' | 'selectorInput' | 'testLine';

export interface ParseResult {
  cst?: CstNode;
  /** At most one: recovery is off, a statement is abandoned at its first syntax error. */
  errors: FlowError[];
}

/**
 * Parses a token vector from a start rule. `endOffset` is where "end of input" is reported:
 * just past the last token.
 */
export function parseTokens(tokens: IToken[], rule: StartRule, endOffset: number): ParseResult {
  parser.input = tokens;
  const cst = parser[rule]();
  const errors = parser.errors.map((e) => toError(e, endOffset));
  return errors.length > 0 ? { errors } : { cst, errors };
}

function toError(e: IRecognitionException, endOffset: number): FlowError {
  const token = e.token;
  if (!token || token.tokenType === EOF || Number.isNaN(token.startOffset)) {
    return { message: e.message, start: endOffset, end: endOffset };
  }
  return { message: e.message, start: token.startOffset, end: T.tokenEnd(token) };
}
