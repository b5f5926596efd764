// comparePodKey orders pods exactly as their `namespace/name` strings compare: the cluster's pod
// order (binary searches in dataplane/policy/cluster-state.ts and compiler/emit/membership.ts)
// is the order of those strings, where '/' sorts after '-' and '.' and before digits and letters.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { comparePodKey } from './cluster.js';

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,6}[a-z0-9])?$/);

describe('comparePodKey', () => {
  it('has the sign of the string comparison of namespace/name', () => {
    fc.assert(
      fc.property(label, label, label, label, (ns, name, ns2, name2) => {
        const key = `${ns2}/${name2}`;
        const want = `${ns}/${name}` < key ? -1 : `${ns}/${name}` > key ? 1 : 0;
        expect(Math.sign(comparePodKey({ namespace: ns, name }, key))).toBe(want);
      }),
      { numRuns: 2000 },
    );
  });

  it('orders a namespace before its longer namesakes as the strings do', () => {
    // "a-b/x" < "a/x" as strings ('-' is below '/'), though "a" < "a-b" as namespaces
    expect(comparePodKey({ namespace: 'a-b', name: 'x' }, 'a/x')).toBeLessThan(0);
    expect(comparePodKey({ namespace: 'a', name: 'x' }, 'a-b/x')).toBeGreaterThan(0);
    expect(comparePodKey({ namespace: 'a', name: 'x' }, 'a/x')).toBe(0);
    expect(comparePodKey({ namespace: 'a', name: 'x' }, 'a/x.1')).toBeLessThan(0);
    expect(comparePodKey({ namespace: 'a', name: 'x' }, 'a')).toBeGreaterThan(0);
  });
});
