import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import jsYaml from 'js-yaml';
import { parseBlockYaml } from './block-yaml.js';
import { parseFile, type ParsedDocument } from './documents.js';

// The block reader must give exactly what js-yaml gives (value, and with positions the spans
// the js-yaml listener records), or give up. Texts are made like kubectl prints them, then
// roughened (comments, blank lines, trailing spaces, bare dashes, odd indentation).

const scalar = fc.oneof(
  fc.constantFrom('a\nb', 'line1\nline2\n', '  lead\nx', 'x\n\ny', '#x\ny\n', '{"a":1}\n', '\n', '', 'true', 'True', 'null', '~', 'no', '0', '-1', '012', '0x1F', '1_000', '1e3', '.5', '.inf', '2024-01-02', '2024-01-02T03:04:05Z', '<<', 'a: b', 'a #b', '-', '::/0', ':x', "it's", 'say "hi"', 'back\\slash', '{}', '[]', '[a]', '&x', '*x', '|', 'a,b', ' lead', 'trail ', 'é', '10.0.0.0/8', 'TCP', '__proto__'),
  fc.stringMatching(/^[a-z0-9.:/_ #-]{0,8}$/),
);
const key = fc.oneof(fc.constantFrom('a', 'kind', 'app.kubernetes.io/name', '1', 'true', 'null', '<<', '__proto__', 'k y', '-k'), fc.stringMatching(/^[a-zA-Z0-9._/-]{1,6}$/));
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, fc.integer(), fc.boolean(), fc.constant(null), tie('list'), tie('map')),
  list: fc.array(tie('value'), { maxLength: 4 }),
  map: fc.dictionary(key, tie('value'), { maxKeys: 4 }),
}));

function roughen(text: string, edits: Array<[number, number]>): string {
  let lines = text.split('\n');
  for (const [kind, at] of edits) {
    const i = at % Math.max(1, lines.length);
    if (kind === 0) lines.splice(i, 0, '');
    else if (kind === 1) lines.splice(i, 0, `${' '.repeat(at % 5)}# comment`);
    else if (kind === 2 && lines[i] !== undefined) lines[i] += '  ';
    else if (kind === 3) lines.push('# trailing');
    else if (kind === 4 && lines[i] !== undefined) lines[i] = lines[i].replace(/^( *)/, '$1  ');
    else if (kind === 5) lines = lines.map((l) => l.replace(/(^ *-|:) null$/, '$1'));
    else if (kind === 6) lines = lines.flatMap((l) => (/:$/.test(l) ? [l, '   # c'] : [l]));
    else if (kind === 7) lines = lines.map((l) => l.replace(/^( *)- (\S)/, '$1-\n$1  $2'));
    else if (kind === 8 && lines[i] !== undefined) lines[i] += ' # c';
  }
  return lines.join('\n');
}

const kubectlStyle = (v: unknown) => jsYaml.dump(v, { noArrayIndent: true, sortKeys: true });
const edits = fc.array(fc.tuple(fc.integer({ min: 0, max: 8 }), fc.nat()), { maxLength: 3 });

function located(doc: ParsedDocument, shift: number): unknown[] {
  const out: unknown[] = [];
  const walk = (v: unknown) => {
    if (v === null || typeof v !== 'object') return;
    const s = doc.positions?.get(v);
    out.push(s ? [s.start - shift, s.end - shift, s.keys ? [...s.keys].map(([k, [a, b, c]]) => [k, a - shift, b - shift, c - shift]) : null, s.items?.map(([a, b]) => [a - shift, b - shift]) ?? null] : null);
    for (const child of Array.isArray(v) ? v : Object.values(v)) walk(child);
  };
  walk(doc.value);
  return out;
}

describe('block YAML reader', () => {
  it('reads kubectl output', () => {
    const text = 'apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    labels:\n      app: web\n    name: p\n  spec:\n    containers:\n    - ports:\n      - containerPort: 8080\n        name: http\n  status:\n    podIP: 10.0.0.1\n    podIPs:\n    - ip: 10.0.0.1\nkind: List\nmetadata:\n  resourceVersion: ""\n';
    expect(parseBlockYaml(text)).toEqual(jsYaml.load(text));
    expect(parseBlockYaml(text)).not.toBeUndefined();
  });

  it('gives up outside its subset', () => {
    for (const text of ['a: &x 1\nb: *x\n', 'a:\t1\n', 'a: >\n  x\n', 'a: |2\n   x\n', 'a: |\n  x\n\n  y\n', 'a: [1, 2]\n', 'a: 1\na: 2\n', 'a: "x\\ty"\n', 'a: b # c\n', 'a: b\n  c\n', '? a\n: b\n', '- - a\n', 'a: !!str 1\n', '1: a\n', 'a: 1\r\n']) {
      expect(parseBlockYaml(text), text).toBeUndefined();
    }
  });

  it('reads literal block scalars like the last-applied-configuration annotation', () => {
    const text = 'metadata:\n  annotations:\n    last-applied: |\n      {"kind":"Namespace"}\n        more\n    other: |-\n      a\n      b\n  name: x\n';
    expect(parseBlockYaml(text)).toStrictEqual(jsYaml.load(text));
    expect(parseBlockYaml(text)).toStrictEqual({ metadata: { annotations: { 'last-applied': '{"kind":"Namespace"}\n  more\n', other: 'a\nb' }, name: 'x' } });
  });

  it('agrees with js-yaml on every text it accepts', () => {
    fc.assert(
      fc.property(fc.oneof(fc.dictionary(key, value, { maxKeys: 5 }), fc.array(value, { maxLength: 4 })), edits, (v, e) => {
        const text = roughen(kubectlStyle(v), e);
        const got = parseBlockYaml(text);
        if (got === undefined) return;
        expect(() => jsYaml.load(text)).not.toThrow();
        expect(got).toStrictEqual(jsYaml.load(text));
      }),
      { numRuns: 400 },
    );
  });

  it('records the spans js-yaml`s listener records', () => {
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 5 }), edits, (v, e) => {
        const text = roughen(kubectlStyle({ ...v, kind: 'NetworkPolicy' }), e);
        // A tab in a leading comment sends the same document to js-yaml (3 characters later).
        const viaJsYaml = parseFile({ name: 'f.yaml', text: `#\t\n${text}` });
        const viaBlock = parseFile({ name: 'f.yaml', text });
        expect(viaBlock.diagnostics.map((d) => [d.code, d.span!.start])).toEqual(viaJsYaml.diagnostics.map((d) => [d.code, d.span!.start - 3]));
        expect(viaBlock.documents.map((d) => d.value)).toStrictEqual(viaJsYaml.documents.map((d) => d.value));
        expect(viaBlock.documents.map((d) => located(d, 0))).toEqual(viaJsYaml.documents.map((d) => located(d, 3)));
      }),
      { numRuns: 300 },
    );
  });
});
