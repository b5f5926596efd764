import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Cursor, limits, parseFile, positionsFor, spanAt, spanAtPath, type PathSegment } from './documents.js';
import { collectObjects } from '../model/inputs.js';
import { lineColAt } from './source.js';

const file = (text: string) => ({ name: 'f.yaml', text });

describe('documents', () => {
  it('splits multi-document files and keeps each document`s offsets', () => {
    const text = '# header\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: Pod\nmetadata: {name: p}\n--- \n...\n';
    const r = parseFile(file(text));
    expect(r.diagnostics).toEqual([]);
    expect(r.documents.map((d) => (d.value as { kind: string }).kind)).toEqual(['Namespace', 'Pod']);
    expect(text.slice(r.documents[1].start).startsWith('\nkind: Pod') || text.slice(r.documents[1].start).startsWith('kind: Pod')).toBe(true);
  });

  it('opens kind: List and keeps a path to each item', () => {
    const text = 'apiVersion: v1\nkind: List\nitems:\n- apiVersion: networking.k8s.io/v1\n  kind: NetworkPolicy\n  metadata: {name: x, namespace: y}\n  spec: {podSelector: {}}\n';
    const inputs = collectObjects(parseFile(file(text)).documents);
    expect(inputs.policies).toHaveLength(1);
    expect(inputs.policies[0].path).toEqual(['items', 0]);
    const span = spanAt(inputs.policies[0].doc, inputs.policies[0].doc.value, ['items', 0, 'spec', 'podSelector']);
    expect(lineColAt(file(text), span.start)).toEqual({ line: 7, col: 23 });
  });

  it('reads JSON as kubectl get -o json prints it', () => {
    const json = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'n' }, status: { podIP: '10.0.0.1' } }] }, null, 4);
    const inputs = collectObjects(parseFile({ name: 'c.json', text: json }).documents);
    expect(inputs.pods.map((p) => p.object.metadata.name)).toEqual(['p']);
  });

  it('locates fields of fast-path documents on demand', () => {
    const text = 'kind: Pod\nmetadata:\n  name: p\n  labels: {app: web}\n';
    const doc = parseFile(file(text)).documents[0];
    expect(doc.positions).toBeUndefined();
    const located = positionsFor(doc);
    const span = spanAt(located, located.value, ['metadata', 'labels', 'app']);
    expect(text.slice(span.start, span.end)).toBe('web');
  });

  it('reports YAML errors with a position and keeps going', () => {
    const text = 'kind: NetworkPolicy\nspec: {a: 1\n---\nkind: Namespace\nmetadata: {name: ok}\n';
    const r = parseFile(file(text));
    expect(r.diagnostics.map((d) => d.code)).toEqual(['PC1001']);
    expect(r.documents).toHaveLength(1);
  });

  it('bounds alias expansion (billion laughs)', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    const r = parseFile(file(`kind: NetworkPolicy\n${lines.join('\n')}\n`));
    expect(r.diagnostics.map((d) => d.code)).toEqual(['PC1003']);
    expect(limits.maxAliasExpansion).toBeGreaterThan(1000);
  });

  it('rejects duplicate keys as kubectl does', () => {
    const r = parseFile(file('kind: NetworkPolicy\nmetadata: {name: a}\nmetadata: {name: b}\n'));
    expect(r.diagnostics.map((d) => d.code)).toEqual(['PC1001']);
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const r = parseFile(file(`kind: NetworkPolicy\n${text}`));
        for (const d of r.diagnostics) expect(d.span!.start).toBeLessThanOrEqual(text.length + 21);
      }),
      { numRuns: 500 },
    );
  });
});

describe('spans of scalars', () => {
  it('keep a leading colon or dash that belongs to the value', () => {
    const text = 'kind: AdminNetworkPolicy\nspec:\n  networks:\n  - ::/0\n  - -1\n  a: :x';
    const doc = parseFile({ name: 'f.yaml', text }).documents[0];
    const at = (path: (string | number)[]) => {
      const s = spanAt(doc, doc.value, path);
      return text.slice(s.start, s.end);
    };
    expect(at(['spec', 'networks', 0])).toBe('::/0');
    expect(at(['spec', 'networks', 1])).toBe('-1');
  });
  it('never end past the end of a file without a final newline', () => {
    const text = 'kind: NetworkPolicy\nmetadata: {name: a}';
    const doc = parseFile({ name: 'f.yaml', text }).documents[0];
    const s = spanAt(doc, doc.value, ['metadata']);
    expect(s.end).toBeLessThanOrEqual(text.length);
  });

  it('walks with a Cursor to the spans spanAtPath gives, down every path and past its end', () => {
    const texts = [
      'apiVersion: v1\nkind: List\nitems:\n- kind: NetworkPolicy\n  metadata: {name: x, namespace: y}\n  spec:\n    podSelector: {}\n    ingress:\n    - from:\n      - podSelector:\n          matchLabels: {app: a}\n      ports:\n      - port: 80\n    -\n- null\n',
      'kind: NetworkPolicy\nmetadata:\n  name: x\nspec:\n  podSelector: {}\n  "egress":\n  - to: [{ipBlock: {cidr: 10.0.0.0/8}}, {}]\n  - {}\n',
      'kind: NetworkPolicy\nspec: &s\n  podSelector: {}\nother: *s\n',
    ];
    for (const text of texts) {
      for (const doc of parseFile(file(text)).documents) {
        const paths: PathSegment[][] = [];
        const walk = (v: unknown, path: PathSegment[]) => {
          paths.push(path, [...path, 'missing'], [...path, 7]);
          if (v !== null && typeof v === 'object') for (const [k, child] of Object.entries(v)) walk(child, [...path, Array.isArray(v) ? Number(k) : k]);
        };
        walk(doc.value, []);
        for (const path of paths) {
          for (let split = 0; split <= path.length; split++) {
            let cursor = Cursor.at(doc, doc.value, path.slice(0, split));
            for (const seg of path.slice(split)) cursor = cursor.step(seg);
            expect(cursor.span(), path.join('.')).toEqual(spanAtPath(doc, doc.value, path.slice(0, split), path.slice(split)));
            const last = path[path.length - 1];
            if (typeof last === 'string') {
              const parent = Cursor.at(doc, doc.value, path.slice(0, -1));
              expect(parent.keySpan(last), path.join('.')).toEqual(spanAt(doc, doc.value, path, true));
            }
          }
        }
      }
    }
  });
});
