import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseFile } from '../syntax/documents.js';
import { buildCluster, podKey } from './cluster.js';
import { collectObjects } from './inputs.js';

describe('buildCluster', () => {
  it('sorts pods by namespace/name as strings, whatever the names (`-` and `.` sort before `/`)', () => {
    const part = fc.stringMatching(/^[a-c0-9./-]{0,4}$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(part, part), { maxLength: 30 }), (pods) => {
        const items = pods.map(([namespace, name]) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace, name }, status: { podIP: '10.0.0.1' } }));
        const text = JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
        const { cluster, diagnostics } = buildCluster(collectObjects(parseFile({ name: 'c.json', text }).documents));
        const keys = cluster.pods.map(podKey);
        expect(keys).toEqual([...new Set(pods.map(([ns, name]) => `${ns}/${name}`))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
        expect(diagnostics.filter((d) => d.code === 'PC2013')).toHaveLength(pods.length - keys.length);
      }),
      { numRuns: 500 },
    );
  });
});
