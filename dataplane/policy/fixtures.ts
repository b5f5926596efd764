// Policies and a small cluster shared by the engine's tests, the kill -9 test and the bench.
import { ns, pod } from './testing.js';

/** A: db takes port 80 from api pods (NetworkPolicy); web pods are denied by an ANP rule. */
export const POLICIES_A = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-api, namespace: x}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: api}}}]
    ports: [{protocol: TCP, port: 80}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: no-web-to-db}
spec:
  priority: 10
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}}
  ingress:
  - name: deny-web
    action: Deny
    from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {role: web}}}}]
`;

/** B: a different ruleset (port 81, no ANP, an egress policy). */
export const POLICIES_B = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-api, namespace: x}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: api}}}]
    ports: [{protocol: TCP, port: 81}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: x}
spec:
  podSelector: {matchLabels: {role: web}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 10.99.0.0/24, except: [10.99.0.10/32]}}]
`;

export const POD_IPS = { db: '10.99.0.10', api1: '10.99.0.11', api2: '10.99.0.12', web1: '10.99.0.13', web2: '10.99.0.14', other: '10.99.0.15' } as const;

export const LABELS: Record<keyof typeof POD_IPS, Record<string, string>> = {
  db: { app: 'db' },
  api1: { role: 'api' },
  api2: { role: 'api' },
  web1: { role: 'web' },
  web2: { role: 'web' },
  other: {},
};

export function clusterState(): { namespaces: unknown[]; pods: unknown[] } {
  return {
    namespaces: [ns('x', { team: 'x' })],
    pods: (Object.keys(POD_IPS) as Array<keyof typeof POD_IPS>).map((k) => pod('x', k, LABELS[k], POD_IPS[k])),
  };
}

export function relabel(name: keyof typeof POD_IPS, labels: Record<string, string>) {
  return { upsert: [pod('x', name, labels, POD_IPS[name])] };
}
