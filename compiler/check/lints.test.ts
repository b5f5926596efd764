// Semantic lints (PC2xxx): valid policies that probably do not mean what they say.

import { describe, expect, it } from 'vitest';
import { adminNetworkPolicy, allOf, checkText, networkPolicy, where } from './fixtures/harness.js';

const lintsOf = (yaml: string) => {
  const checked = checkText(yaml);
  return { checked, lints: checked.diagnostics.filter((d) => d.code.startsWith('PC2')) };
};

describe('PC2001 namespaceSelector and podSelector in separate peers', () => {
  const yaml = networkPolicy(`
podSelector: {}
ingress:
- from:
  - namespaceSelector:
      matchLabels: {team: a}
  - podSelector:
      matchLabels: {app: b}`);

  it('warns on the second peer, relates the first and says how to merge them', () => {
    const { checked, lints } = lintsOf(yaml);
    expect(lints.map((d) => where(checked.file, d))).toEqual(['PC2001@12:7']);
    const [d] = lints;
    expect(d.severity).toBe('warning');
    expect(d.data).toEqual({ rulePath: ['spec', 'ingress', 0], peersKey: 'from', namespaceSelectorPeer: 0, podSelectorPeer: 1 });
    expect(d.related?.map((rel) => where(checked.file, { ...d, span: rel.span }))).toEqual(['PC2001@10:7']);
  });

  it('works in egress rules and in either order', () => {
    const { checked, lints } = lintsOf(networkPolicy(`
podSelector: {}
policyTypes: [Egress]
egress:
- to:
  - ipBlock: {cidr: 10.0.0.0/8}
  - podSelector: {}
  - namespaceSelector: {}`));
    expect(lints.map((d) => where(checked.file, d))).toEqual(['PC2001@13:7']);
    expect(lints[0].data).toMatchObject({ peersKey: 'to', namespaceSelectorPeer: 2, podSelectorPeer: 1 });
  });

  it('is quiet when both selectors are in one peer', () => {
    const { lints } = lintsOf(networkPolicy(`
podSelector: {}
ingress:
- from:
  - namespaceSelector: {matchLabels: {team: a}}
    podSelector: {matchLabels: {app: b}}
  - ipBlock: {cidr: 10.0.0.0/8}`));
    expect(lints).toEqual([]);
  });
});

describe('PC2002 policyTypes omitted with egress rules', () => {
  it('warns on the egress key: the policy also denies all ingress', () => {
    const { checked, lints } = lintsOf(networkPolicy(`
podSelector: {}
egress:
- to: [{podSelector: {}}]`));
    expect(lints.map((d) => where(checked.file, d))).toEqual(['PC2002@8:3']);
    expect(lints[0].data).toEqual({ policyTypes: ['Egress'] });
  });

  it.each([
    ['explicit policyTypes', 'podSelector: {}\npolicyTypes: [Egress]\negress:\n- {}'],
    ['ingress rules too', 'podSelector: {}\ningress:\n- {}\negress:\n- {}'],
    ['an empty egress list', 'podSelector: {}\negress: []'],
  ])('is quiet with %s', (_, body) => {
    expect(lintsOf(networkPolicy(body)).lints).toEqual([]);
  });
});

describe('PC2003 rules for a direction missing from policyTypes', () => {
  it('warns that ingress rules are ignored', () => {
    const { checked, lints } = lintsOf(networkPolicy(`
podSelector: {}
policyTypes: [Egress]
ingress:
- {}`));
    expect(lints.map((d) => where(checked.file, d))).toEqual(['PC2003@9:3']);
    expect(lints[0].tags).toEqual(['unnecessary']);
  });

  it('warns that egress rules are ignored', () => {
    const { checked, lints } = lintsOf(networkPolicy(`
podSelector: {}
policyTypes: [Ingress]
egress:
- {}`));
    expect(lints.map((d) => where(checked.file, d))).toEqual(['PC2003@9:3']);
  });
});

describe('PC2010 port without protocol', () => {
  it('is an info on the port entry', () => {
    const { checked, lints } = lintsOf(networkPolicy(`
podSelector: {}
ingress:
- ports:
  - port: 80
  - port: 81
    protocol: TCP`));
    expect(lints.map((d) => where(checked.file, d))).toEqual(['PC2010@10:7']);
    expect(lints[0].severity).toBe('info');
  });
});

describe('PC2011 namespace label `name`', () => {
  it('warns on the key in a NetworkPolicy namespaceSelector', () => {
    const { checked, lints } = lintsOf(networkPolicy(`
podSelector: {}
ingress:
- from:
  - namespaceSelector:
      matchLabels:
        name: monitoring`));
    expect(lints.map((d) => where(checked.file, d))).toEqual(['PC2011@12:11']);
    expect(lints[0].data).toEqual({ replacementKey: 'kubernetes.io/metadata.name' });
  });

  it('warns on matchExpressions and on AdminNetworkPolicy namespace selectors', () => {
    const { checked } = lintsOf(adminNetworkPolicy(`
priority: 5
subject:
  namespaces:
    matchExpressions: [{key: name, operator: In, values: [a]}]
ingress:
- action: Deny
  from:
  - pods:
      namespaceSelector: {matchLabels: {name: b}}
      podSelector: {}`));
    expect(allOf(checked)).toEqual(['PC2011@9:32', 'PC2011@14:43']);
  });

  it('is quiet for pod selectors', () => {
    expect(lintsOf(networkPolicy('podSelector: {matchLabels: {name: web}}')).lints).toEqual([]);
  });
});
