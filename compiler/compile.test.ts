// The front door never throws: random, half-valid policy objects go through parse, check,
// lowering, the evaluator and the nftables emitter (also with lowerDespiteErrors, as the
// language server compiles).

import fc from 'fast-check';
import jsYaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { compileSources } from './compile.js';
import { Evaluator } from './evaluate/evaluator.js';
import { computeReach } from './evaluate/reach.js';
import { emitNftables } from './emit/nftables/index.js';
import { snapshotYaml } from '../testkit/conformance.js';

const KEYS = ['podSelector', 'namespaceSelector', 'ipBlock', 'cidr', 'except', 'ingress', 'egress', 'from', 'to', 'ports', 'port', 'endPort', 'protocol', 'policyTypes', 'matchLabels', 'matchExpressions', 'key', 'operator', 'values', 'priority', 'subject', 'namespaces', 'pods', 'action', 'networks', 'nodes', 'namedPort', 'portNumber', 'portRange', 'start', 'end', 'name'];
const SCALARS = fc.oneof(
  fc.constantFrom(null, true, 0, 80, 65536, -1, '', 'TCP', 'UDP', 'SCTP', 'Ingress', 'Egress', 'Allow', 'Deny', 'Pass', 'In', 'NotIn', 'Exists', '10.0.0.0/8', '10.244.1.10/4', 'fd00::/64', 'x', 'serve-80-tcp', 'pod', 'a'),
  fc.string({ maxLength: 6 }),
);
const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, SCALARS, tie('list'), tie('map')),
  list: fc.array(tie('node'), { maxLength: 3 }),
  map: fc.dictionary(fc.constantFrom(...KEYS), tie('node'), { maxKeys: 4 }),
})).node;

const policy = fc.record({
  kind: fc.constantFrom('NetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy'),
  name: fc.constantFrom('default', 'p', 'q'),
  spec: value,
});

describe('compileSources never throws', () => {
  it('on random, half-valid policies', () => {
    const snapshot = snapshotYaml();
    fc.assert(
      fc.property(fc.array(policy, { maxLength: 3 }), fc.boolean(), (policies, despite) => {
        const text = policies
          .map((p) => jsYaml.dump({ apiVersion: p.kind === 'NetworkPolicy' ? 'networking.k8s.io/v1' : 'policy.networking.k8s.io/v1alpha1', kind: p.kind, metadata: { name: p.name, namespace: 'x' }, spec: p.spec }))
          .join('---\n');
        const c = compileSources([{ name: 'p.yaml', text }, { name: 's.yaml', text: snapshot }], { lowerDespiteErrors: despite });
        for (const d of c.diagnostics) expect(d.span?.end ?? 0).toBeLessThanOrEqual(Math.max(text.length, snapshot.length) + 1);
        if (c.program) {
          computeReach(new Evaluator(c.program, c.cluster), 80, 'TCP');
          emitNftables(c.program, c.cluster);
        }
      }),
      { numRuns: 300 },
    );
  });
});
