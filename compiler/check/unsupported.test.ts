import { describe, expect, it } from 'vitest';
import { checkText, errorsOf } from './fixtures/harness.js';

describe('fields policyc cannot enforce yet are refused, never ignored', () => {
  it('ANP egress domainNames', () => {
    const text = `apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: fqdn}
spec:
  priority: 5
  subject: {namespaces: {}}
  egress:
  - action: Deny
    to:
    - domainNames: ["*.example.com"]
`;
    expect(errorsOf(checkText(text))).toEqual(['PC4003@10:7']);
  });
});
