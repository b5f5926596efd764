// CST -> AST. This is where words get their meaning (pod, namespace, CIDR, port range, label
// key, namespace constraint) and where names are checked against the Kubernetes rules.
// Problems are collected as errors with exact offsets; nothing here throws on bad input.

import type { CstNode, IToken } from 'chevrotain';
import type {
  EndpointRef,
  FlowAst,
  FlowError,
  IpRef,
  NamespaceConstraint,
  Operator,
  PortRef,
  Protocol,
  Requirement,
  Selector,
  SelectorRef,
  TextSpan,
} from './ast.js';
import { Allow, tokenEnd } from './lexer.js';
import * as N from './names.js';
import { parser } from './parser.js';

type Children = Record<string, Array<CstNode | IToken> | undefined>;

function tokensOf(ctx: Children, name: string): IToken[] {
  return (ctx[name] ?? []) as IToken[];
}
function tokenOf(ctx: Children, name: string): IToken | undefined {
  return tokensOf(ctx, name)[0];
}
function nodesOf(ctx: Children, name: string): CstNode[] {
  return (ctx[name] ?? []) as CstNode[];
}
function nodeOf(ctx: Children, name: string): CstNode | undefined {
  return nodesOf(ctx, name)[0];
}

interface Piece extends TextSpan {
  text: string;
}

function piece(token: IToken): Piece {
  return { text: token.image, start: token.startOffset, end: tokenEnd(token) };
}

function spanFrom(first: TextSpan, last: TextSpan): TextSpan {
  return { start: first.start, end: last.end };
}

/** A requirement as written, before we know whether it is about labels or namespace names. */
interface RawRequirement {
  prefix?: Piece;
  name: Piece;
  op?: '!' | '=' | '==' | '!=' | 'in' | 'notin';
  values: Piece[];
  span: TextSpan;
}

interface RawOperation {
  op: '=' | '==' | '!=' | 'in' | 'notin';
  values: Piece[];
  span: TextSpan;
}

interface RawPortSpec {
  port?: PortRef;
  protocol: Protocol;
  span: TextSpan;
}

/** One statement of a .policytest file, spans still without the file. */
export type TestStatement =
  | { kind: 'load'; path: string; span: TextSpan }
  | { kind: 'expect'; expect: 'allow' | 'deny'; flow: FlowAst; span: TextSpan };

const OPERATORS: Record<NonNullable<RawRequirement['op']>, Operator> = {
  '!': 'DoesNotExist',
  '=': 'In',
  '==': 'In',
  '!=': 'NotIn',
  in: 'In',
  notin: 'NotIn',
};

const NAMESPACE_KEYS = new Set(['ns', 'namespace']);

const BaseVisitor = parser.getBaseCstVisitorConstructor();

class AstBuilder extends BaseVisitor {
  errors: FlowError[] = [];

  constructor() {
    super();
    this.validateVisitor();
  }

  private error(message: string, at: TextSpan): void {
    this.errors.push({ message, start: at.start, end: at.end });
  }

  // ---- statements

  testLine(ctx: Children): TestStatement {
    const literal = tokenOf(ctx, 'StringLiteral');
    if (literal) {
      const path = literal.image.slice(1, -1).replace(/\\(.)/g, '$1');
      const span = piece(literal);
      if (path === '') this.error(N.messages.emptyPath(), span);
      return { kind: 'load', path, span: { start: span.start, end: span.end } };
    }
    const keyword = (tokenOf(ctx, 'Allow') ?? tokenOf(ctx, 'Deny')) as IToken;
    const flow = this.visit(nodeOf(ctx, 'flow') as CstNode) as FlowAst;
    return {
      kind: 'expect',
      expect: keyword.tokenType === Allow ? 'allow' : 'deny',
      flow,
      span: { start: keyword.startOffset, end: flow.span.end },
    };
  }

  flow(ctx: Children): FlowAst {
    const [src, dst] = nodesOf(ctx, 'endpoint');
    const source = this.visit(src) as EndpointRef;
    const destination = this.visit(dst) as EndpointRef;
    const portNode = nodeOf(ctx, 'portSpec');
    const spec: RawPortSpec | undefined = portNode ? this.visit(portNode) : undefined;
    return {
      source,
      destination,
      ...(spec?.port ? { port: spec.port } : {}),
      protocol: spec?.protocol ?? 'TCP',
      span: spanFrom(source.span, spec?.span ?? destination.span),
    };
  }

  // ---- endpoints

  endpoint(ctx: Children): EndpointRef {
    const direct = nodeOf(ctx, 'ipv6') ?? nodeOf(ctx, 'braced') ?? nodeOf(ctx, 'scoped');
    if (direct) return this.visit(direct, []) as EndpointRef;
    const raw = this.visit(nodeOf(ctx, 'selector') as CstNode) as RawRequirement[];
    const span = spanFrom(raw[0].span, raw[raw.length - 1].span);
    // A lone bare word (or word/word) is a pod, an address or a CIDR, not a label requirement.
    if (raw.length === 1 && raw[0].op === undefined) {
      const { prefix, name } = raw[0];
      if (prefix && N.looksLikeIPv4(prefix.text)) return this.ipv4(prefix, name, span);
      if (prefix) return this.pod(prefix, name, span);
      if (N.looksLikeIPv4(name.text)) return this.ipv4(name, undefined, span);
    }
    return this.selectorRef(raw, [], span);
  }

  ipv6(ctx: Children): IpRef {
    const address = piece(tokenOf(ctx, 'IPv6') as IToken);
    if (!N.isIPv6(address.text)) this.error(N.messages.ipv6(address.text), address);
    const word = tokenOf(ctx, 'Word');
    const prefix = word ? piece(word) : undefined;
    return this.ip(address.text, 6, prefix, spanFrom(address, prefix ?? address));
  }

  braced(ctx: Children, scope: NamespaceConstraint[]): SelectorRef {
    const selector = nodeOf(ctx, 'selector');
    const raw: RawRequirement[] = selector ? this.visit(selector) : [];
    const span = spanFrom(piece(tokenOf(ctx, 'LCurly') as IToken), piece(tokenOf(ctx, 'RCurly') as IToken));
    return this.selectorRef(raw, scope, span);
  }

  scoped(ctx: Children): EndpointRef {
    const ns = piece(tokenOf(ctx, 'Word') as IToken);
    if (!N.isDnsLabel(ns.text)) this.error(N.messages.namespace(ns.text), ns);
    const star = tokenOf(ctx, 'Star');
    if (star) return { kind: 'namespace', namespace: ns.text, span: spanFrom(ns, piece(star)) };
    const scope: NamespaceConstraint[] = [{ operator: 'In', values: [ns.text] }];
    const ref = this.visit(nodeOf(ctx, 'braced') as CstNode, scope) as SelectorRef;
    return { ...ref, span: spanFrom(ns, ref.span) };
  }

  private pod(ns: Piece, name: Piece, span: TextSpan): EndpointRef {
    if (!N.isDnsLabel(ns.text)) this.error(N.messages.namespace(ns.text), ns);
    if (!N.isDnsSubdomain(name.text)) this.error(N.messages.podName(name.text), name);
    return { kind: 'pod', namespace: ns.text, name: name.text, span };
  }

  private ipv4(address: Piece, prefix: Piece | undefined, span: TextSpan): IpRef {
    if (!N.isIPv4(address.text)) this.error(N.messages.ipv4(address.text), address);
    return this.ip(address.text, 4, prefix, span);
  }

  private ip(address: string, family: 4 | 6, prefix: Piece | undefined, span: TextSpan): IpRef {
    if (!prefix) return { kind: 'ip', address, family, span };
    const max = family === 4 ? 32 : 128;
    const prefixLength = Number(prefix.text);
    if (!/^[0-9]+$/.test(prefix.text) || prefixLength > max) this.error(N.messages.prefix(prefix.text, max), prefix);
    return { kind: 'ip', address, prefixLength, family, span };
  }

  /** Splits `ns`/`namespace` requirements (namespace names) from label requirements. */
  private selectorRef(raw: RawRequirement[], scope: NamespaceConstraint[], span: TextSpan): SelectorRef {
    const namespace = [...scope];
    const requirements: Requirement[] = [];
    for (const r of raw) {
      if (r.prefix || !NAMESPACE_KEYS.has(r.name.text)) {
        requirements.push(this.checkRequirement(r));
        continue;
      }
      if (r.op === undefined || r.op === '!') {
        this.error(N.messages.namespaceNeedsValue(r.name.text), r.span);
        continue;
      }
      for (const v of r.values) if (!N.isDnsLabel(v.text)) this.error(N.messages.namespace(v.text), v);
      namespace.push({ operator: OPERATORS[r.op] as 'In' | 'NotIn', values: r.values.map((v) => v.text) });
    }
    return { kind: 'selector', ...(namespace.length > 0 ? { namespace } : {}), requirements, span };
  }

  // ---- label selectors

  selectorInput(ctx: Children): Selector {
    const selector = nodeOf(ctx, 'selector');
    const raw: RawRequirement[] = selector ? this.visit(selector) : [];
    return { requirements: raw.map((r) => this.checkRequirement(r)) };
  }

  selector(ctx: Children): RawRequirement[] {
    return nodesOf(ctx, 'requirement').map((n) => this.visit(n) as RawRequirement);
  }

  requirement(ctx: Children): RawRequirement {
    const key = this.visit(nodeOf(ctx, 'key') as CstNode) as { prefix?: Piece; name: Piece };
    const bang = tokenOf(ctx, 'Bang');
    const opNode = nodeOf(ctx, 'operation');
    const operation: RawOperation | undefined = opNode ? this.visit(opNode) : undefined;
    const first = bang ? piece(bang) : (key.prefix ?? key.name);
    return {
      ...key,
      op: bang ? '!' : operation?.op,
      values: operation?.values ?? [],
      span: spanFrom(first, operation?.span ?? key.name),
    };
  }

  private checkRequirement(r: RawRequirement): Requirement {
    if (r.prefix && !N.isDnsSubdomain(r.prefix.text)) this.error(N.messages.keyPrefix(r.prefix.text), r.prefix);
    if (!N.isLabelName(r.name.text)) this.error(N.messages.keyName(r.name.text), r.name);
    for (const v of r.values) if (!N.isLabelValue(v.text)) this.error(N.messages.value(v.text), v);
    return {
      key: r.prefix ? `${r.prefix.text}/${r.name.text}` : r.name.text,
      operator: r.op ? OPERATORS[r.op] : 'Exists',
      values: r.values.map((v) => v.text),
    };
  }

  key(ctx: Children): { prefix?: Piece; name: Piece } {
    const words = tokensOf(ctx, 'Word').map(piece);
    return words.length === 2 ? { prefix: words[0], name: words[1] } : { name: words[0] };
  }

  operation(ctx: Children): RawOperation {
    const opToken = (tokenOf(ctx, 'Equals') ??
      tokenOf(ctx, 'DoubleEquals') ??
      tokenOf(ctx, 'NotEquals') ??
      tokenOf(ctx, 'In') ??
      tokenOf(ctx, 'NotIn')) as IToken;
    const op = opToken.image as RawOperation['op'];
    const opPiece = piece(opToken);
    if (op === 'in' || op === 'notin') {
      // An empty slot (`in ()`, `in (a,)`) is the empty value, placed after the '(' or ',' before it.
      const before = [tokenOf(ctx, 'LParen') as IToken, ...tokensOf(ctx, 'Comma')].map(piece);
      const values = nodesOf(ctx, 'valueSlot').map((n, i) => {
        const word = this.visit(n) as IToken | undefined;
        return word ? piece(word) : { text: '', start: before[i].end, end: before[i].end };
      });
      return { op, values, span: spanFrom(opPiece, piece(tokenOf(ctx, 'RParen') as IToken)) };
    }
    const word = tokenOf(ctx, 'Word');
    const value = word ? piece(word) : { text: '', start: opPiece.end, end: opPiece.end };
    return { op, values: [value], span: spanFrom(opPiece, word ? value : opPiece) };
  }

  valueSlot(ctx: Children): IToken | undefined {
    return tokenOf(ctx, 'Word');
  }

  // ---- ports

  portSpec(ctx: Children): RawPortSpec {
    const word = tokenOf(ctx, 'port');
    const first = piece((word ?? tokenOf(ctx, 'Star')) as IToken);
    const protoToken = tokenOf(ctx, 'protocol');
    let protocol: Protocol = 'TCP';
    if (protoToken) {
      const upper = protoToken.image.toUpperCase();
      if ((N.PROTOCOLS as readonly string[]).includes(upper)) protocol = upper as Protocol;
      else this.error(N.messages.protocol(protoToken.image), piece(protoToken));
    }
    const span = spanFrom(first, protoToken ? piece(protoToken) : first);
    return word ? { port: this.port(piece(word)), protocol, span } : { protocol, span };
  }

  private port(p: Piece): PortRef {
    const span = { start: p.start, end: p.end };
    const range = /^([0-9]+)(?:-([0-9]+))?$/.exec(p.text);
    if (!range) {
      if (!N.isPortName(p.text)) this.error(N.messages.portName(p.text), p);
      return { kind: 'name', name: p.text, span };
    }
    const from = this.portNumber(range[1], p.start);
    if (range[2] === undefined) return { kind: 'number', from, to: from, span };
    const to = this.portNumber(range[2], p.start + range[1].length + 1);
    if (to < from) this.error(N.messages.reversedRange(p.text), p);
    return { kind: 'number', from, to, span };
  }

  private portNumber(digits: string, start: number): number {
    const n = Number(digits);
    if (n < 1 || n > 65535) this.error(N.messages.port(digits), { start, end: start + digits.length });
    return n;
  }
}

const builder = new AstBuilder();

export interface Built<T> {
  value?: T;
  errors: FlowError[];
}

function build<T>(cst: CstNode): Built<T> {
  builder.errors = [];
  const value = builder.visit(cst) as T;
  const errors = builder.errors.sort((a, b) => a.start - b.start);
  builder.errors = [];
  return errors.length > 0 ? { errors } : { value, errors };
}

export const buildFlow = (cst: CstNode): Built<FlowAst> => build<FlowAst>(cst);
export const buildSelector = (cst: CstNode): Built<Selector> => build<Selector>(cst);
export const buildTestLine = (cst: CstNode): Built<TestStatement> => build<TestStatement>(cst);
