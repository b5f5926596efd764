// The precompiled validators (generated/validators.ts): the committed file is exactly what the
// generator gives today (so it cannot go stale after a schema, format or ajv change), and its
// error objects are exactly ajv's own, `verbose` fields included, on real and mutated policies.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import jsYaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { GENERATED_PATH, generateValidators, policyAjv } from './generate-validators.js';
import * as generated from './generated/validators.js';
import type { PolicyKindName, Validate } from './schema.js';
import { mutateAt, pathsOf } from '../../testkit/mutate.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('generated/validators.ts', () => {
  it('is what scripts/gen-validators.ts generates (run `npx tsx scripts/gen-validators.ts` if not)', () => {
    const committed = readFileSync(join(root, GENERATED_PATH), 'utf8');
    const fresh = generateValidators();
    expect(fresh).toBe(generateValidators());
    expect(committed === fresh, `${GENERATED_PATH} is stale: run npx tsx scripts/gen-validators.ts`).toBe(true);
  });

  it('imports nothing but ../formats.js', () => {
    const imports = [...readFileSync(join(root, GENERATED_PATH), 'utf8').matchAll(/^import .*$|require\(/gm)].map((m) => m[0]);
    expect(imports).toEqual([`import { formats } from '../formats.js';`]);
  });
});

const KINDS: PolicyKindName[] = ['NetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy'];
const SCHEMA_ID: Record<PolicyKindName, string> = {
  NetworkPolicy: 'networkpolicy.schema.json',
  AdminNetworkPolicy: 'adminnetworkpolicy.schema.json',
  BaselineAdminNetworkPolicy: 'baselineadminnetworkpolicy.schema.json',
};

/** Every policy object in testdata/ and ./fixtures, `kind: List` opened. */
function corpus(): unknown[] {
  const out: unknown[] = [];
  const add = (doc: unknown): void => {
    if (doc === null || typeof doc !== 'object') return;
    const kind = (doc as { kind?: unknown }).kind;
    if (kind === 'List' && Array.isArray((doc as { items?: unknown }).items)) (doc as { items: unknown[] }).items.forEach(add);
    else if (KINDS.includes(kind as PolicyKindName)) out.push(doc);
  };
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(ya?ml|json)$/.test(name)) {
        try {
          for (const doc of jsYaml.loadAll(readFileSync(path, 'utf8'))) add(doc);
        } catch {
          // not YAML (or deliberately broken): skip
        }
      }
    }
  };
  walk(join(root, 'testdata'));
  walk(join(root, 'compiler/check/fixtures'));
  const upstream = JSON.parse(readFileSync(join(root, 'compiler/check/fixtures/upstream-policies.json'), 'utf8')) as { steps: Array<{ policies: string }> };
  for (const step of upstream.steps) for (const doc of jsYaml.loadAll(step.policies)) add(doc);
  return out;
}

const ajv = policyAjv();
const GENERATED = generated as unknown as Record<PolicyKindName, Validate>;

/** Validates with both; both must agree on validity and give identical error objects. */
function compare(kind: PolicyKindName, object: unknown): number {
  const reference = ajv.getSchema(SCHEMA_ID[kind])!;
  const validate = GENERATED[kind];
  const expected = reference(object);
  const expectedErrors = structuredClone(reference.errors ?? null);
  const actual = validate(object);
  expect(actual).toBe(expected);
  expect(structuredClone(validate.errors ?? null)).toStrictEqual(expectedErrors);
  return expectedErrors?.length ?? 0;
}

const FIELDS = [
  'podSelector', 'namespaceSelector', 'ipBlock', 'cidr', 'except', 'ports', 'port', 'endPort', 'protocol', 'from', 'to', 'ingress', 'egress',
  'policyTypes', 'matchLabels', 'matchExpressions', 'key', 'operator', 'values', 'priority', 'subject', 'namespaces', 'pods', 'nodes',
  'networks', 'domainNames', 'action', 'name', 'portNumber', 'namedPort', 'portRange', 'start', 'end', 'metadata', 'spec', 'kind', 'bogus',
];

const VALUES = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom<unknown>(
    null, '', 0, -1, 1, 80, 65535, 65536, 1000, 1001, 2 ** 31, -(2 ** 31) - 1, 1.5, true, 'TCP', 'ICMP', 'Allow', 'Nope', 'Ingress', 'x'.repeat(101),
    '\u{1F600}'.repeat(100), '\u{1F600}'.repeat(101), {}, [], [{}], [null], ['a', 'a'], [{ cidr: 'a' }, { cidr: 'a' }], { namespaces: {}, pods: {} },
    { portRange: { start: 9, end: 1 } }, Array.from({ length: 101 }, () => ({ namespaces: {} })),
  ),
);

describe('generated validators give ajv\'s own error objects', () => {
  const objects = corpus();

  it('on every policy in testdata/ and the fixtures, against every kind\'s schema', () => {
    expect(objects.length).toBeGreaterThan(50);
    let errors = 0;
    for (const object of objects) for (const kind of KINDS) errors += compare(kind, object);
    expect(errors).toBeGreaterThan(100);
  });

  it('on random mutations of them', () => {
    const mutation = fc.record({ doc: fc.nat(), at: fc.nat(), op: fc.constantFrom('set', 'delete', 'add'), value: VALUES, field: fc.constantFrom(...FIELDS) });
    fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
      const object = structuredClone(objects[mutations[0].doc % objects.length]) as Record<string | number, unknown>;
      const kind = object.kind as PolicyKindName;
      for (const m of mutations) {
        const paths = pathsOf(object).filter((p) => p.length > 0);
        if (paths.length === 0) break;
        mutateAt(object, paths[m.at % paths.length], m.op, m.field, structuredClone(m.value));
      }
      compare(kind, object);
    }), { numRuns: 500 });
  });
});
