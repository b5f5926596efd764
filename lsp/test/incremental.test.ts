// The incremental compiler must give what compileSources gives: same diagnostics, same
// program, same cluster, over random workspaces and random sequences of edits.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileSources } from '../../compiler/compile.js';
import { IncrementalCompiler } from '../analysis/incremental.js';
import { POLICIES, snapshotText } from './fixtures.js';

const pieces = Object.values(POLICIES);

/** Small variations of the fixture policies: renamed, moved between namespaces, broken, duplicated. */
const policyText = fc.tuple(fc.integer({ min: 0, max: pieces.length - 1 }), fc.integer({ min: 0, max: 5 }), fc.constantFrom('', 'endPort: 1', 'bad: [', 'port: 99999', 'dup')).map(([i, n, twist]) => {
  let text = pieces[i].replace(/name: ([a-z-]+)\n  namespace/, `name: $1-${n}\n  namespace`);
  if (twist === 'endPort: 1') text = text.replace('port: 8080', 'port: 8080\n      endPort: 1');
  else if (twist === 'bad: [') text += 'bad: [\n';
  else if (twist === 'port: 99999') text = text.replace('port: 8080', 'port: 99999');
  else if (twist === 'dup') text = `${text}---\n${text}`;
  return text;
});

const workspace = fc.array(fc.array(policyText, { minLength: 1, maxLength: 3 }).map((docs) => docs.join('---\n')), { minLength: 1, maxLength: 5 });

function comparable(c: ReturnType<typeof compileSources>) {
  const key = (d: { code: string; message: string; span?: { file: string; start: number } }) => `${d.span?.file}|${String(d.span?.start).padStart(8, '0')}|${d.code}|${d.message}`;
  return {
    diagnostics: c.diagnostics.map(key).sort(),
    program: JSON.stringify(c.program),
    pods: c.cluster.pods.length,
    namespaces: [...c.cluster.namespaces.keys()],
    hasSnapshot: c.hasSnapshot,
  };
}

describe('incremental compile', () => {
  it('equals compileSources on random workspaces and edit sequences', () => {
    fc.assert(
      fc.property(workspace, fc.array(fc.tuple(fc.nat(), policyText), { maxLength: 6 }), fc.boolean(), (initial, edits, withSnapshot) => {
        const files = initial.map((text, i) => ({ name: `p${i}.yaml`, text }));
        if (withSnapshot) files.push({ name: 'snapshot.yaml', text: snapshotText() });
        const inc = new IncrementalCompiler();
        const safeCompile = () => {
          try {
            return compileSources(files, { lowerDespiteErrors: true });
          } catch {
            return undefined; // the compiler crashes on some inputs; the incremental one must not
          }
        };
        const check = () => {
          const got = inc.compile(files);
          const want = safeCompile();
          if (want) expect(comparable(got)).toEqual(comparable(want));
        };
        check();
        for (const [at, text] of edits) {
          const i = at % initial.length;
          files[i] = { name: files[i].name, text };
          check();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('reuses the analysis of unchanged files', () => {
    const inc = new IncrementalCompiler();
    const a = { name: 'a.yaml', text: pieces[0] };
    const b = { name: 'b.yaml', text: pieces[1] };
    inc.compile([a, b]);
    const before = inc.analyze(a);
    inc.compile([a, { name: 'b.yaml', text: pieces[2] }]);
    expect(inc.analyze(a)).toBe(before);
  });

  it('survives policies the compiler cannot lower (a NetworkPolicy without spec; a null rule)', () => {
    const inc = new IncrementalCompiler();
    const noSpec = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: x\n  namespace: a\n';
    const nullRule = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: y\n  namespace: a\nspec:\n  podSelector: {}\n  ingress: [null]\n';
    const c = inc.compile([{ name: 'x.yaml', text: noSpec }, { name: 'y.yaml', text: nullRule }, { name: 'z.yaml', text: pieces[0] }]);
    expect(c.program?.policies.map((p) => p.ref.name)).toContain('api-from-client-web');
  });
});
