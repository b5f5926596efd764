// Property tests: random mutations of valid policies (a random field set to a random value,
// removed, or a known field added in the wrong place; random truncations and splices of the
// YAML text) never make parse + collect + check throw, and every diagnostic's span (and related
// span) lies inside the file.

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import jsYaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import { collectObjects } from '../model/inputs.js';
import { parseFile } from '../syntax/documents.js';
import upstream from './fixtures/upstream-policies.json' with { type: 'json' };
import { checkPolicySet, isValidPolicy } from './index.js';
import { mutateAt, pathsOf } from '../../testkit/mutate.js';

const seeds: string[] = [
  ...upstream.steps.map((s) => s.policies),
  readFileSync(new URL('./fixtures/admin-policies.yaml', import.meta.url), 'utf8'),
];

const FIELDS = [
  'podSelector', 'namespaceSelector', 'ipBlock', 'cidr', 'except', 'ports', 'port', 'endPort', 'protocol', 'from', 'to', 'ingress', 'egress',
  'policyTypes', 'matchLabels', 'matchExpressions', 'key', 'operator', 'values', 'priority', 'subject', 'namespaces', 'pods', 'nodes',
  'networks', 'domainNames', 'action', 'name', 'namespace', 'portNumber', 'namedPort', 'portRange', 'start', 'end', 'metadata', 'spec', 'kind', 'bogus',
];

const values = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom<unknown>(
    null, '', 0, -1, 1, 80, 65535, 65536, 2 ** 31, -(2 ** 31) - 1, 1.5, true, false, 'In', 'NotIn', 'Exists', 'Foo', 'TCP', 'ICMP', 'http', 'HTTP',
    'Ingress', 'Egress', 'Allow', 'Deny', 'Pass', 'default', '10.0.0.0/8', '10.0.0.1/4', '::/0', '010.0.0.0/8', '::ffff:1.2.3.4/120', 'x'.repeat(300),
    '*.example.com', {}, [], [{}], [null], [[]], { matchLabels: { name: 'a' } }, { cidr: 'nope', except: ['10.0.0.0/8'] }, { port: 'a--b', endPort: 1 },
    [{ namespaceSelector: {} }, { podSelector: {} }], { portRange: { start: 9, end: 1 } }, { networks: ['1.2.3.4/33'] },
  ),
);

const structural = fc.record({
  seed: fc.nat(),
  doc: fc.nat(),
  at: fc.nat(),
  op: fc.constantFrom('set', 'delete', 'add'),
  value: values,
  field: fc.constantFrom(...FIELDS),
  flowLevel: fc.constantFrom(-1, 1, 2, 3),
});

type Mutation = typeof structural extends fc.Arbitrary<infer T> ? T : never;

function mutate(m: Mutation): string {
  const docs = jsYaml.loadAll(seeds[m.seed % seeds.length]) as unknown[];
  const index = m.doc % docs.length;
  const paths = pathsOf(docs[index]);
  const path = paths[m.at % paths.length];
  if (path.length === 0) {
    docs[index] = m.op === 'add' && docs[index] !== null && typeof docs[index] === 'object' ? { ...(docs[index] as object), [m.field]: m.value } : m.value;
  } else mutateAt(docs[index], path, m.op, m.field, m.value);
  return docs.map((d) => jsYaml.dump(d, { flowLevel: m.flowLevel, noRefs: true })).join('---\n');
}

function spanInside(text: string, name: string, span: Diagnostic['span']): boolean {
  return span !== undefined && span.file === name && Number.isInteger(span.start) && Number.isInteger(span.end) && span.start >= 0 && span.start <= span.end && span.end <= text.length;
}

/** Parses, collects and checks; returns the check diagnostics after asserting their spans. */
function checkAll(text: string): Diagnostic[] {
  const name = 'fuzz.yaml';
  const parsed = parseFile({ name, text });
  const inputs = collectObjects(parsed.documents);
  const diagnostics = checkPolicySet(inputs.policies);
  isValidPolicy(diagnostics);
  for (const d of diagnostics) {
    expect(spanInside(text, name, d.span), `${d.code} ${d.message} ${JSON.stringify(d.span)}`).toBe(true);
    for (const rel of d.related ?? []) expect(spanInside(text, name, rel.span), `related of ${d.code}`).toBe(true);
    expect(typeof d.message).toBe('string');
  }
  return diagnostics;
}

const YAML_CHARS = ['-', ':', ' ', '\n', '{', '}', '[', ']', ',', '#', '&', '*', '!', '|', '>', "'", '"', '%', '@', '?', 'a', '0', '/', '.', '\t', '<<'];

describe('fuzz: checking never throws and spans stay in the file', () => {
  it('random structural mutations of valid policies', () => {
    fc.assert(fc.property(structural, (m) => {
      checkAll(mutate(m));
    }), { numRuns: 400 });
  });

  it('random truncations of valid (and mutated) policy text', () => {
    fc.assert(fc.property(structural, fc.nat(), fc.boolean(), (m, cut, mutated) => {
      const text = mutated ? mutate(m) : seeds[m.seed % seeds.length];
      checkAll(text.slice(0, cut % (text.length + 1)));
    }), { numRuns: 400 });
  });

  it('random splices of YAML punctuation into policy text', () => {
    const edit = fc.record({ at: fc.nat(), remove: fc.nat({ max: 8 }), insert: fc.array(fc.constantFrom(...YAML_CHARS), { maxLength: 6 }) });
    fc.assert(fc.property(fc.nat(), fc.array(edit, { minLength: 1, maxLength: 4 }), (seed, edits) => {
      let text = seeds[seed % seeds.length];
      for (const e of edits) {
        const at = e.at % (text.length + 1);
        text = text.slice(0, at) + e.insert.join('') + text.slice(at + e.remove);
      }
      checkAll(text);
    }), { numRuns: 400 });
  });

  it('YAML alias cycles and timestamps', () => {
    const text = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: &m
  name: 2024-01-01
  labels: {self: *m}
spec: &s
  podSelector: *s
  ingress: &i [*i, {from: *i}]
`;
    const diagnostics = checkAll(text);
    expect(diagnostics.length).toBeGreaterThan(0);
  });
});
