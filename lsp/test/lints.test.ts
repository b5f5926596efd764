// compiler/lint: the workspace lints on small inputs (no server), including what they must
// not say: no snapshot, no false alarm on the demo.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileSources } from '../../compiler/compile.js';
import { lintWorkspace } from '../../compiler/lint/index.js';
import { REPO } from './client.js';
import { snapshotText } from './fixtures.js';

const np = (ns: string, name: string, spec: string) => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: ${name}\n  namespace: ${ns}\nspec:\n${spec}`;

function lint(texts: string[], options = {}) {
  const c = compileSources(texts.map((text, i) => ({ name: `f${i}.yaml`, text })), { lowerDespiteErrors: true });
  return lintWorkspace(c, options);
}

const denyEgress = np('b', 'deny-egress', '  podSelector: {}\n  policyTypes: [Egress]\n');
const dnsRule = np('b', 'dns', `  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
    ports:
    - protocol: UDP
      port: 53
`);

describe('PC2004 default-deny egress blocks DNS', () => {
  it('without a snapshot: judged on the rules', () => {
    expect(lint([denyEgress]).map((d) => d.code)).toEqual(['PC2004']);
    expect(lint([denyEgress, dnsRule]).map((d) => d.code)).toEqual([]);
  });
  it('with a snapshot: judged by the evaluator for each selected pod', () => {
    const d = lint([denyEgress, snapshotText()]);
    expect(d.map((x) => x.code)).toEqual(['PC2004']);
    expect(d[0].message).toContain('b/api-0');
    expect(lint([denyEgress, dnsRule, snapshotText()])).toEqual([]);
  });
  it('a DNS rule for other pods does not count', () => {
    const narrow = dnsRule.replace('  podSelector: {}\n  policyTypes', '  podSelector:\n    matchLabels:\n      app: web\n  policyTypes');
    expect(lint([denyEgress, narrow]).map((d) => d.code)).toEqual(['PC2004']);
  });
});

describe('PC2007 redundant and shadowed rules', () => {
  it('first-match tiers: a later rule covered by an earlier one never applies', () => {
    const anp = `apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata:
  name: x
spec:
  priority: 1
  subject:
    namespaces: {}
  ingress:
  - action: Deny
    from:
    - namespaces: {}
  - action: Allow
    from:
    - namespaces:
        matchLabels:
          team: a
`;
    const d = lint([anp]);
    expect(d.map((x) => x.code)).toEqual(['PC2007']);
    expect(d[0].message).toContain('never applies');
    expect(d[0].message).toContain('denies them, where this rule would allow');
    expect(d[0].tags).toEqual(['unnecessary']);
  });
  it('two identical NetworkPolicy rules: only the later is reported', () => {
    const rule = '  - from:\n    - podSelector: {}\n';
    expect(lint([np('a', 'x', `  podSelector: {}\n  ingress:\n${rule}${rule}`)]).map((d) => d.span!.start)).toHaveLength(1);
  });
  it('ipBlocks: a narrower block with the same holes is covered', () => {
    const spec = `  podSelector: {}
  ingress:
  - from:
    - ipBlock:
        cidr: 192.0.2.0/24
        except: [192.0.2.0/28]
  - from:
    - ipBlock:
        cidr: 192.0.2.128/25
`;
    expect(lint([np('a', 'x', spec)]).map((d) => d.code)).toEqual(['PC2007']);
  });
});

describe('snapshot lints', () => {
  it('PC2006 judges namespace selectors only when the snapshot lists namespaces', () => {
    const spec = '  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n          team: nope\n';
    const podsOnly = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: a\n  labels: {app: x}\n';
    expect(lint([np('a', 'x', spec), podsOnly])).toEqual([]);
    const d = lint([np('a', 'x', spec), snapshotText()]);
    expect(d.map((x) => x.code)).toEqual(['PC2006']);
    expect(d[0].message).toContain('no namespace has the label key `team`');
  });
  it('PC2012 knows Service ranges from the options', () => {
    const spec = '  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock:\n        cidr: 10.96.0.10/32\n    ports:\n    - {protocol: UDP, port: 53}\n';
    expect(lint([np('a', 'x', spec)])).toEqual([]);
    const d = lint([np('a', 'x', spec)], { serviceCIDRs: ['10.96.0.0/12'] });
    expect(d.map((x) => x.code)).toEqual(['PC2012']);
    expect(d[0].message).toContain('Service');
  });
  it('raise no alarm on the demo', () => {
    const dir = join(REPO, 'testdata/demo');
    const files = [join(dir, 'cluster.yaml'), ...readdirSync(join(dir, 'policies')).map((f) => join(dir, 'policies', f))];
    const c = compileSources(files.map((f) => ({ name: f, text: readFileSync(f, 'utf8') })));
    expect(lintWorkspace(c)).toEqual([]);
  });
});
