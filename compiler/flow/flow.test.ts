import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatFlow, parseFlow, parsePolicyTest, parseSelector, type FlowAst } from './index.js';

/** The AST without spans, for comparing shapes. */
function trim<T>(value: T): T {
  if (Array.isArray(value)) return value.map(trim) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'span').map(([k, v]) => [k, trim(v)])) as T;
  }
  return value;
}

const pod = (namespace: string, name: string) => ({ kind: 'pod', namespace, name });
const ip = (address: string, family: 4 | 6, prefixLength?: number) =>
  prefixLength === undefined ? { kind: 'ip', address, family } : { kind: 'ip', address, prefixLength, family };
const num = (from: number, to = from) => ({ kind: 'number', from, to });

describe('parseFlow: valid', () => {
  const table: Array<[string, unknown]> = [
    ['x/a -> y/b : 80/TCP', { source: pod('x', 'a'), destination: pod('y', 'b'), port: num(80), protocol: 'TCP' }],
    ['x/a -> y/b', { source: pod('x', 'a'), destination: pod('y', 'b'), protocol: 'TCP' }],
    ['x/a->y/b:80', { source: pod('x', 'a'), destination: pod('y', 'b'), port: num(80), protocol: 'TCP' }],
    [' x/a  ->  y/b  :  80 / udp ', { source: pod('x', 'a'), destination: pod('y', 'b'), port: num(80), protocol: 'UDP' }],
    ['prod/* -> 10.0.0.1 : 443/udp', { source: { kind: 'namespace', namespace: 'prod' }, destination: ip('10.0.0.1', 4), port: num(443), protocol: 'UDP' }],
    ['x/a -> 10.0.0.0/8:8000-8080/sctp', { source: pod('x', 'a'), destination: ip('10.0.0.0', 4, 8), port: num(8000, 8080), protocol: 'SCTP' }],
    ['10.0.0.1/32 -> 0.0.0.0/0', { source: ip('10.0.0.1', 4, 32), destination: ip('0.0.0.0', 4, 0), protocol: 'TCP' }],
    ['x/a -> fd00::1 : 53/Udp', { source: pod('x', 'a'), destination: ip('fd00::1', 6), port: num(53), protocol: 'UDP' }],
    ['fd00::/64 -> ::1', { source: ip('fd00::', 6, 64), destination: ip('::1', 6), protocol: 'TCP' }],
    ['::ffff:10.0.0.1->x/a', { source: ip('::ffff:10.0.0.1', 6), destination: pod('x', 'a'), protocol: 'TCP' }],
    ['x/a -> y/b : 1-65535', { source: pod('x', 'a'), destination: pod('y', 'b'), port: num(1, 65535), protocol: 'TCP' }],
    ['x/a -> y/b : http', { source: pod('x', 'a'), destination: pod('y', 'b'), port: { kind: 'name', name: 'http' }, protocol: 'TCP' }],
    ['x/a -> y/b : serve-80-tcp/UDP', { source: pod('x', 'a'), destination: pod('y', 'b'), port: { kind: 'name', name: 'serve-80-tcp' }, protocol: 'UDP' }],
    ['x/a -> y/b : *', { source: pod('x', 'a'), destination: pod('y', 'b'), protocol: 'TCP' }],
    ['x/a -> y/b : */UDP', { source: pod('x', 'a'), destination: pod('y', 'b'), protocol: 'UDP' }],
    ['x/web-1.v2 -> in/deny', { source: pod('x', 'web-1.v2'), destination: pod('in', 'deny'), protocol: 'TCP' }],
    [
      'ns=prod,app=web -> x/a : 443',
      {
        source: { kind: 'selector', namespace: [{ operator: 'In', values: ['prod'] }], requirements: [{ key: 'app', operator: 'In', values: ['web'] }] },
        destination: pod('x', 'a'),
        port: num(443),
        protocol: 'TCP',
      },
    ],
    [
      'namespace in (a,b),app -> ns!=kube-system,!legacy',
      {
        source: { kind: 'selector', namespace: [{ operator: 'In', values: ['a', 'b'] }], requirements: [{ key: 'app', operator: 'Exists', values: [] }] },
        destination: {
          kind: 'selector',
          namespace: [{ operator: 'NotIn', values: ['kube-system'] }],
          requirements: [{ key: 'legacy', operator: 'DoesNotExist', values: [] }],
        },
        protocol: 'TCP',
      },
    ],
    [
      'prod/{app=web} -> prod/{ns=other}',
      {
        source: { kind: 'selector', namespace: [{ operator: 'In', values: ['prod'] }], requirements: [{ key: 'app', operator: 'In', values: ['web'] }] },
        destination: {
          kind: 'selector',
          namespace: [
            { operator: 'In', values: ['prod'] },
            { operator: 'In', values: ['other'] },
          ],
          requirements: [],
        },
        protocol: 'TCP',
      },
    ],
    [
      'app -> {} : 80',
      {
        source: { kind: 'selector', requirements: [{ key: 'app', operator: 'Exists', values: [] }] },
        destination: { kind: 'selector', requirements: [] },
        port: num(80),
        protocol: 'TCP',
      },
    ],
    [
      'kubernetes.io/metadata.name=x -> {example.com/team}',
      {
        source: { kind: 'selector', requirements: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['x'] }] },
        destination: { kind: 'selector', requirements: [{ key: 'example.com/team', operator: 'Exists', values: [] }] },
        protocol: 'TCP',
      },
    ],
    [
      'x/a,app -> y/b',
      {
        source: {
          kind: 'selector',
          requirements: [
            { key: 'x/a', operator: 'Exists', values: [] },
            { key: 'app', operator: 'Exists', values: [] },
          ],
        },
        destination: pod('y', 'b'),
        protocol: 'TCP',
      },
    ],
  ];
  it.each(table)('%j', (text, ast) => {
    const result = parseFlow(text);
    expect(result.errors).toEqual([]);
    expect(trim(result.flow)).toEqual(ast);
  });

  it('puts spans on every endpoint and port', () => {
    //          0         1         2         3
    //          0123456789012345678901234567890123456789
    const text = 'ns=prod,app=web -> fd00::/64 : 80-90/udp';
    const flow = parseFlow(text).flow!;
    const at = (s: { start: number; end: number }) => text.slice(s.start, s.end);
    expect(at(flow.source.span)).toBe('ns=prod,app=web');
    expect(at(flow.destination.span)).toBe('fd00::/64');
    expect(at(flow.port!.span)).toBe('80-90');
    expect(flow.span).toEqual({ start: 0, end: text.length });
    const scoped = parseFlow('  prod/{ app=web } -> prod/*').flow!;
    expect(scoped.source.span).toEqual({ start: 2, end: 18 });
    expect(scoped.destination.span).toEqual({ start: 22, end: 28 });
    expect(scoped.span).toEqual({ start: 2, end: 28 });
  });
});

describe('parseFlow: invalid', () => {
  const endpoint = 'expected an endpoint (ns/name, ns/*, an address or CIDR, or a label selector)';
  const table: Array<[string, Array<[string, number, number]>]> = [
    ['', [[`${endpoint}, found end of input`, 0, 0]]],
    ['x/a', [["expected '->', found end of input", 3, 3]]],
    ['x/a ->', [[`${endpoint}, found end of input`, 6, 6]]],
    ['-> x/a', [[`${endpoint}, found '->'`, 0, 2]]],
    ['x/a -> y/b :', [["expected a port, a port range, a port name or '*', found end of input", 12, 12]]],
    ['x/a -> y/b 80', [["unexpected '80'", 11, 13]]],
    ['x/a -> y/b -> z/c', [["unexpected '->'", 11, 13]]],
    ['x/a -> y/b : 80 : 90', [["unexpected ':'", 16, 17]]],
    ['x/a -> y/b : 80/', [['expected a name, found end of input', 16, 16]]],
    ['x/a -> y/b : 80/TCP/x', [["unexpected '/'", 19, 20]]],
    ['x/ -> y/b', [["expected a name, found '->'", 3, 5]]],
    ['{ -> x/a', [["expected '}', found '->'", 2, 4]]],
    ['app=web, -> x/a', [["expected a label requirement, found '->'", 9, 11]]],
    ['x/a => y/b', [["unexpected character '>'", 5, 6]]],
    ['x/a -> y/b # c', [["unexpected character '#'", 11, 12]]],
    ['x/a -> y/b : 0', [['port 0 out of range 1-65535', 13, 14]]],
    ['x/a -> y/b : 65536', [['port 65536 out of range 1-65535', 13, 18]]],
    ['x/a -> y/b : 80-70000', [['port 70000 out of range 1-65535', 16, 21]]],
    ['x/a -> y/b : 9000-8000', [["port range '9000-8000' ends below its start", 13, 22]]],
    ['x/a -> y/b : 80/icmp', [["unknown protocol 'icmp': TCP, UDP or SCTP", 16, 20]]],
    ['x/a -> y/b : Http', [["invalid port name 'Http'", 13, 17]]],
    ['x/a -> y/b : abcdefghijklmnop', [["invalid port name 'abcdefghijklmnop'", 13, 29]]],
    ['x/a -> y/b : a--b', [["invalid port name 'a--b'", 13, 17]]],
    ['Prod/a -> y/b', [["invalid namespace name 'Prod'", 0, 4]]],
    ['x/A -> y/b', [["invalid pod name 'A'", 2, 3]]],
    ['Prod/* -> y/b', [["invalid namespace name 'Prod'", 0, 4]]],
    ['x/a -> 10.0.0.256', [["invalid IPv4 address '10.0.0.256'", 7, 17]]],
    ['x/a -> 10.0.0', [["invalid IPv4 address '10.0.0'", 7, 13]]],
    ['x/a -> 10.0.0.0/33', [["invalid prefix length '33': 0 to 32", 16, 18]]],
    ['x/a -> 10.0.0.0/x', [["invalid prefix length 'x': 0 to 32", 16, 17]]],
    ['x/a -> fd00::/129', [["invalid prefix length '129': 0 to 128", 14, 17]]],
    ['x/a -> fd00:::1', [["invalid IPv6 address 'fd00:::1'", 7, 15]]],
    ['ns -> x/a', [["'ns' constrains the namespace name and needs a value", 0, 2]]],
    ['!namespace -> x/a', [["'namespace' constrains the namespace name and needs a value", 0, 10]]],
    ['ns=Prod -> x/a', [["invalid namespace name 'Prod'", 3, 7]]],
    ['ns= -> x/a', [["invalid namespace name ''", 3, 3]]],
    ['ns in (a,) -> x/a', [["invalid namespace name ''", 9, 9]]],
    ['app=_x -> x/a', [["invalid label value '_x'", 4, 6]]],
    [
      'Prod/a -> 10.0.0.0/99 : 0/udpx',
      [
        ["invalid namespace name 'Prod'", 0, 4],
        ["invalid prefix length '99'", 19, 21],
        ['port 0 out of range', 24, 25],
        ["unknown protocol 'udpx'", 26, 30],
      ],
    ],
  ];
  it.each(table)('%j', (text, expected) => {
    const result = parseFlow(text);
    expect(result.flow).toBeUndefined();
    // Offsets exactly; messages by their beginning.
    expect(result.errors.map((e, i) => [e.message.slice(0, expected[i]?.[0].length), e.start, e.end])).toEqual(expected);
  });
});

describe('formatFlow', () => {
  it.each([
    ['x/a->y/b:80', 'x/a -> y/b : 80/TCP'],
    ['x/a -> y/b', 'x/a -> y/b'],
    ['x/a -> y/b : *', 'x/a -> y/b'],
    ['x/a -> y/b : */udp', 'x/a -> y/b : */UDP'],
    ['x/a -> y/b : 80-80', 'x/a -> y/b : 80/TCP'],
    ['prod/{app=web} -> prod/*', 'ns=prod,app=web -> prod/*'],
    ['app=web,namespace==prod -> {}', 'ns=prod,app=web -> {}'],
    ['{x/a} -> {10.0.0.1} : http/sctp', '{x/a} -> {10.0.0.1} : http/SCTP'],
    ['x/a -> fd00::1 : 53/udp', 'x/a -> fd00::1 : 53/UDP'],
    ['ns in (a,b) , app notin (c) -> 10.0.0.0/8', 'ns in (a,b),app!=c -> 10.0.0.0/8'],
  ])('%j -> %j', (text, formatted) => {
    expect(formatFlow(parseFlow(text).flow!)).toBe(formatted);
  });
});

// ---- properties

const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?$/);
const podName = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?(\.[a-z0-9]{1,4}){0,2}$/);
const ws = fc.constantFrom('', ' ', '  ', '\t');
const wsSome = fc.constantFrom(' ', '  ', '\t');
// Label key names and prefixes with a letter, so that a lone `k` or `p/k` is not read as an address.
const keyName = fc
  .stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,6}[A-Za-z0-9])?$/)
  .filter((s) => /[A-Za-z]/.test(s) && s !== 'ns' && s !== 'namespace');
const key = fc
  .tuple(fc.option(fc.stringMatching(/^[a-z]{1,5}(\.[a-z0-9]{1,4}){0,2}$/), { nil: undefined }), keyName)
  .map(([prefix, name]) => (prefix ? `${prefix}/${name}` : name));
const value = fc.oneof(fc.constant(''), fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,6}[A-Za-z0-9])?$/));

function valueOp(k: fc.Arbitrary<string>, v: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    fc.tuple(k, ws, fc.constantFrom('=', '==', '!='), ws, v).map((p) => p.join('')),
    fc.tuple(k, wsSome, fc.constantFrom('in', 'notin'), ws, fc.array(v, { minLength: 1, maxLength: 3 })).map(
      ([kk, s, op, s2, vs]) => `${kk}${s}${op}${s2}(${vs.join(',')})`,
    ),
  );
}

const labelRequirement = fc.oneof(key, key.map((k) => `!${k}`), valueOp(key, value));
const namespaceRequirement = valueOp(fc.constantFrom('ns', 'namespace'), dnsLabel);

const selectorEndpoint = fc
  .tuple(fc.array(labelRequirement, { maxLength: 3 }), fc.array(namespaceRequirement, { maxLength: 2 }), fc.nat(5), fc.nat(2))
  .map(([labels, namespaces, at, form]) => {
    const all = [...labels];
    all.splice(at % (all.length + 1), 0, ...namespaces);
    const body = all.join(',');
    // Bare needs something that cannot be read as a pod or address: an operator or two requirements.
    const bareOk = all.length > 1 || (all.length === 1 && /[=!(]/.test(all[0]));
    if (form === 0 && bareOk) return body;
    return `{${body}}`;
  });

const endpoint = fc.oneof(
  fc.tuple(dnsLabel, podName).map(([ns, name]) => `${ns}/${name}`),
  dnsLabel.map((ns) => `${ns}/*`),
  fc.tuple(dnsLabel, fc.array(labelRequirement, { maxLength: 3 })).map(([ns, rs]) => `${ns}/{${rs.join(',')}}`),
  fc.ipV4(),
  fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`),
  fc.ipV6(),
  fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([a, p]) => `${a}/${p}`),
  selectorEndpoint,
);

const port = fc.oneof(
  fc.integer({ min: 1, max: 65535 }).map(String),
  fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 })).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
  fc.stringMatching(/^[a-z][a-z0-9]{0,4}(-[a-z0-9]{1,3}){0,2}$/), // at most 13
  fc.constant('*'),
);
const protocol = fc.option(fc.constantFrom('TCP', 'tcp', 'UDP', 'Udp', 'sctp', 'SCTP'), { nil: undefined });

const flowText = fc
  .tuple(endpoint, endpoint, fc.option(fc.tuple(port, protocol), { nil: undefined }), ws, ws)
  .map(([src, dst, portPart, s1, s2]) => {
    let text = `${s1}${src}${s2}->${s2}${dst}`;
    if (portPart) {
      const [p, proto] = portPart;
      // A space before the port colon after an IPv6 address: its colons would swallow the port.
      text += ` :${s1}${p}${proto ? `/${proto}` : ''}`;
    }
    return text + s2;
  });

describe('properties', () => {
  it('formatFlow(parseFlow(x)) re-parses to the same AST', () => {
    fc.assert(
      fc.property(flowText, (text) => {
        const first = parseFlow(text);
        expect(first.errors).toEqual([]);
        const formatted = formatFlow(first.flow as FlowAst);
        const second = parseFlow(formatted);
        expect(second.errors).toEqual([]);
        expect(trim(second.flow)).toEqual(trim(first.flow));
        expect(formatFlow(second.flow as FlowAst)).toBe(formatted);
      }),
      { numRuns: 500 },
    );
  });

  const soup = fc
    .array(
      fc.constantFrom('x', 'a/b', '/', '->', ':', '80', '8000-80', '=', '!', '!=', 'in', 'notin', '(', ')', ',', '{', '}', '*',
        'fd00::1', '10.0.0.0', ' ', '"', '#', '\n', '\r\n', 'allow ', 'deny ', 'load ', 'UDP', '-', 'ns', '\\', 'é'),
      { maxLength: 25 },
    )
    .map((parts) => parts.join(''));
  const anyText = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), soup);

  it('never throws, and errors lie inside the input', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const inside = (e: { start: number; end: number }) => 0 <= e.start && e.start <= e.end && e.end <= text.length;
        const flow = parseFlow(text);
        expect(flow.errors.every(inside)).toBe(true);
        expect(flow.flow === undefined).toBe(flow.errors.length > 0);
        if (flow.flow) expect(parseFlow(formatFlow(flow.flow)).errors).toEqual([]);
        const selector = parseSelector(text);
        expect(selector.errors.every(inside)).toBe(true);
        expect(selector.selector === undefined).toBe(selector.errors.length > 0);
        const test = parsePolicyTest({ name: 'p.policytest', text });
        expect(test.diagnostics.every((d) => d.code === 'PC5004' && inside(d.span!))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
