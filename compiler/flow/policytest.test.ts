import { describe, expect, it } from 'vitest';
import { lineColAt, type SourceFile } from '../syntax/source.js';
import { formatFlow, parsePolicyTest } from './index.js';

const file = (text: string): SourceFile => ({ name: 'dir/net.policytest', text });

describe('parsePolicyTest', () => {
  it('parses the documented example', () => {
    const text = [
      '# which inputs the expectations are about: paths relative to the test file; files or directories',
      'load "policies/"',
      'load "../cluster/snapshot.yaml"',
      '',
      'allow x/a -> y/b : 80/TCP',
      'deny ns=prod,app=web -> 10.0.0.0/8 : 443',
      'deny x/a -> y/b : serve-80-udp/UDP   # trailing comments allowed',
      '',
    ].join('\n');
    const f = file(text);
    const { test, diagnostics } = parsePolicyTest(f);
    expect(diagnostics).toEqual([]);
    expect(test.loads.map((l) => l.path)).toEqual(['policies/', '../cluster/snapshot.yaml']);
    expect(test.loads.map((l) => text.slice(l.span.start, l.span.end))).toEqual(['"policies/"', '"../cluster/snapshot.yaml"']);
    expect(test.loads[0].span.file).toBe('dir/net.policytest');
    expect(test.expectations.map((e) => [e.expect, formatFlow(e.flow)])).toEqual([
      ['allow', 'x/a -> y/b : 80/TCP'],
      ['deny', 'ns=prod,app=web -> 10.0.0.0/8 : 443/TCP'],
      ['deny', 'x/a -> y/b : serve-80-udp/UDP'],
    ]);
    const last = test.expectations[2];
    expect(text.slice(last.span.start, last.span.end)).toBe('deny x/a -> y/b : serve-80-udp/UDP');
    expect(last.span.file).toBe('dir/net.policytest');
    // Spans inside flows are absolute offsets into the file.
    expect(text.slice(last.flow.source.span.start, last.flow.source.span.end)).toBe('x/a');
    expect(text.slice(last.flow.port!.span.start, last.flow.port!.span.end)).toBe('serve-80-udp');
    expect(lineColAt(f, last.flow.destination.span.start)).toEqual({ line: 7, col: 13 });
  });

  it('reports every bad line, at its line, and keeps the good ones', () => {
    const text = [
      'load "policies/"', //                   1 ok
      'alow x/a -> y/b', //                    2 unknown statement
      'allow x/a -> y/b : 80', //              3 ok
      'load policies/', //                     4 unquoted path
      'deny x/a -> y/b : 0', //                5 port out of range
      'allow x/a ->   # nothing after', //     6 missing endpoint
      'load "unterminated', //                 7
      'deny Prod/a -> y/b : 80/icmp', //       8 two errors on one line
      'deny x/a -> y/b % 80', //               9 bad character
      'load ""', //                            10 empty path
      'allow', //                              11
      '   # just a comment', //                12 ok
      'deny ns -> x/a', //                     13
      'deny x/a -> y/b : http/udp', //         14 ok
    ].join('\n');
    const f = file(text);
    const { test, diagnostics } = parsePolicyTest(f);
    const where = diagnostics.map((d) => {
      const { line, col } = lineColAt(f, d.span!.start);
      return [line, col, d.span!.end - d.span!.start, d.message];
    });
    expect(where).toEqual([
      [2, 1, 4, "expected 'allow', 'deny' or 'load', found 'alow'"],
      [4, 6, 8, "expected a quoted path, found 'policies'"],
      [5, 19, 1, 'port 0 out of range 1-65535'],
      [6, 13, 0, 'expected an endpoint (ns/name, ns/*, an address or CIDR, or a label selector), found end of line'],
      [7, 6, 13, 'unterminated string'],
      [8, 6, 4, "invalid namespace name 'Prod': a lowercase RFC 1123 label (a-z, 0-9, '-'; at most 63)"],
      [8, 25, 4, "unknown protocol 'icmp': TCP, UDP or SCTP"],
      [9, 17, 1, "unexpected character '%'"],
      [10, 6, 2, 'empty path'],
      [11, 6, 0, 'expected an endpoint (ns/name, ns/*, an address or CIDR, or a label selector), found end of line'],
      [13, 6, 2, "'ns' constrains the namespace name and needs a value: ns=NAME or ns in (A,B)"],
    ]);
    expect(diagnostics.every((d) => d.code === 'PC5004' && d.severity === 'error' && d.span?.file === f.name)).toBe(true);
    expect(test.loads.map((l) => l.path)).toEqual(['policies/']);
    expect(test.expectations.map((e) => formatFlow(e.flow))).toEqual(['x/a -> y/b : 80/TCP', 'x/a -> y/b : http/UDP']);
  });

  it('handles CRLF, escapes, # inside quotes, keywords as names and a missing final newline', () => {
    const text = 'load "a\\"b\\\\c#d"\r\n\r\n  allow   allow/deny -> load/in : 53/udp  # c\r\ndeny in/x -> notin/y';
    const { test, diagnostics } = parsePolicyTest(file(text));
    expect(diagnostics).toEqual([]);
    expect(test.loads.map((l) => l.path)).toEqual(['a"b\\c#d']);
    expect(test.expectations.map((e) => [e.expect, formatFlow(e.flow)])).toEqual([
      ['allow', 'allow/deny -> load/in : 53/UDP'],
      ['deny', 'in/x -> notin/y'],
    ]);
    const first = test.expectations[0];
    expect(text.slice(first.span.start, first.span.end)).toBe('allow   allow/deny -> load/in : 53/udp');
  });

  it('accepts empty and comment-only files', () => {
    for (const text of ['', '\n\n', '# only\n  # comments', '\r\n']) {
      expect(parsePolicyTest(file(text))).toEqual({ test: { loads: [], expectations: [] }, diagnostics: [] });
    }
  });

  it('takes one statement a line', () => {
    const { diagnostics } = parsePolicyTest(file('allow x/a -> y/b deny x/a -> y/b\nallow x/a\n-> y/b'));
    expect(diagnostics.map((d) => [d.span!.start, d.span!.end, d.message])).toEqual([
      [17, 21, "unexpected 'deny'"],
      [42, 42, "expected '->', found end of line"],
      [43, 45, "expected 'allow', 'deny' or 'load', found '->'"],
    ]);
  });
});
