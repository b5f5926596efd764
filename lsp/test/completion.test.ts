// Completion by YAML path, in process: the cursor's path is read from indentation even in
// half-typed documents; keys and enums come from the schemas, labels from the snapshot.

import { describe, expect, it } from 'vitest';
import { LabelIndex } from '../completion/labels.js';
import { cursorContext } from '../completion/yaml-context.js';
import { completionsAt } from '../features/completion.js';
import { snapshotText } from './fixtures.js';

const labels = new LabelIndex();
labels.addManifest(snapshotText());

function complete(marked: string): string[] {
  const offset = marked.indexOf('|');
  const text = marked.replace('|', '');
  return completionsAt({ name: 'x.yaml', text }, offset, labels).map((i) => i.label);
}

const NP = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n';
const ANP = 'apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\n';

describe('cursor path', () => {
  it.each([
    ['spec:\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n          |', ['spec', 'ingress', 0, 'from', 0, 'podSelector', 'matchLabels'], 'key'],
    ['spec:\n  ingress:\n  - from: []\n  - ports:\n    - port: 80\n      |', ['spec', 'ingress', 1, 'ports', 0], 'key'],
    ['spec:\n  egress:\n    - to:\n        - ipBlock:\n            cidr: |', ['spec', 'egress', 0, 'to', 0, 'ipBlock', 'cidr'], 'value'],
    ['a: 1\n---\nspec:\n  policyTypes: [Ingress, |', ['spec', 'policyTypes'], 'value'],
  ] as const)('%j', (marked, path, mode) => {
    const c = cursorContext(marked.replace('|', ''), marked.indexOf('|'));
    expect(c.path).toEqual(path);
    expect(c.mode).toBe(mode);
  });

  it('knows the sibling keys already written', () => {
    const marked = 'spec:\n  podSelector: {}\n  |\n  policyTypes: [Ingress]\n';
    expect(cursorContext(marked.replace('|', ''), marked.indexOf('|')).siblings.sort()).toEqual(['podSelector', 'policyTypes']);
  });
});

describe('completion items', () => {
  it.each([
    [`${NP}spec:\n  podSelector: {}\n  |`, ['ingress', 'egress', 'policyTypes']],
    [`${NP}spec:\n  policyTypes:\n  - |`, ['Ingress', 'Egress']],
    [`${NP}spec:\n  ingress:\n  - from:\n    - |`, ['podSelector', 'namespaceSelector', 'ipBlock']],
    [`${NP}spec:\n  podSelector:\n    matchExpressions:\n    - key: app\n      operator: |`, ['In', 'NotIn', 'Exists', 'DoesNotExist']],
    [`${ANP}spec:\n  egress:\n  - action: |`, ['Allow', 'Deny', 'Pass']],
    ['kind: |', ['NetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy']],
    ['|', ['apiVersion', 'kind', 'metadata', 'spec']],
  ])('%j', (marked, expected) => {
    expect(complete(marked)).toEqual(expected);
  });

  it('label keys, values, and matchExpressions values from the snapshot', () => {
    expect(complete(`${NP}spec:\n  podSelector:\n    matchLabels:\n      |`)).toEqual(['app', 'k8s-app']);
    expect(complete(`${NP}spec:\n  podSelector:\n    matchLabels:\n      app: |`)).toEqual(['api', 'cache', 'web']);
    expect(complete(`${NP}spec:\n  podSelector:\n    matchExpressions:\n    - key: app\n      operator: In\n      values:\n      - |`)).toEqual(['api', 'cache', 'web']);
    expect(complete(`${ANP}spec:\n  subject:\n    namespaces:\n      matchLabels:\n        |`)).toEqual(['kubernetes.io/metadata.name']);
  });

  it('offers nothing inside values it knows nothing about', () => {
    expect(complete(`${NP}metadata:\n  name: |`)).toEqual([]);
  });
});
