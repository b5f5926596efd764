// A small cluster and one policy file per mistake the server should catch, written to a
// fresh temporary workspace. Each scenario lives in its own namespace so that checking the
// meaning of a fix (with the evaluator) is not disturbed by the other scenarios.

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const NAMESPACES = ['client', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];

function pod(ns: string, name: string, labels: Record<string, string>, ip: string, ports: Array<[string, number, string]> = []): string {
  const labelLines = Object.entries(labels).map(([k, v]) => `        ${k}: ${v}`).join('\n');
  const portLines = ports.length ? `\n          ports:\n${ports.map(([n, p, proto]) => `            - name: ${n}\n              containerPort: ${p}\n              protocol: ${proto}`).join('\n')}` : '';
  return `  - apiVersion: v1
    kind: Pod
    metadata:
      name: ${name}
      namespace: ${ns}
      labels:
${labelLines}
    spec:
      nodeName: node-1
      containers:
        - name: main${portLines}
    status:
      podIP: ${ip}`;
}

export function snapshotText(): string {
  const items: string[] = [];
  for (const ns of ['kube-system', ...NAMESPACES]) {
    items.push(`  - apiVersion: v1\n    kind: Namespace\n    metadata:\n      name: ${ns}\n      labels:\n        kubernetes.io/metadata.name: ${ns}`);
  }
  items.push(`  - apiVersion: v1\n    kind: Node\n    metadata:\n      name: node-1\n    spec:\n      podCIDR: 10.244.0.0/16\n    status:\n      addresses:\n        - type: InternalIP\n          address: 172.18.0.2`);
  items.push(pod('kube-system', 'coredns-0', { 'k8s-app': 'kube-dns' }, '10.244.0.10', [['dns', 53, 'UDP'], ['dns-tcp', 53, 'TCP']]));
  NAMESPACES.forEach((ns, i) => {
    const base = `10.244.${i + 1}`;
    items.push(pod(ns, 'web-0', { app: 'web' }, `${base}.10`, [['http', 8080, 'TCP']]));
    items.push(pod(ns, 'api-0', { app: 'api' }, `${base}.11`, [['http', 8080, 'TCP']]));
    items.push(pod(ns, 'cache-0', { app: 'cache' }, `${base}.12`, [['redis', 6379, 'TCP']]));
  });
  return `apiVersion: v1\nkind: List\nitems:\n${items.join('\n')}\n`;
}

const header = (ns: string, name: string) => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n`;

export const POLICIES: Record<string, string> = {
  // PC2001: two peers, ORed, where one peer with both selectors was meant.
  'policies/a-or-split.yaml': `${header('a', 'api-from-client-web')}spec:
  podSelector:
    matchLabels:
      app: api
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: client
    - podSelector:
        matchLabels:
          app: web
    ports:
    - protocol: TCP
      port: 8080
`,
  // PC2002 (policyTypes omitted on an egress-only policy) and PC2004 (no DNS).
  'policies/b-egress-only.yaml': `${header('b', 'web-egress')}spec:
  podSelector:
    matchLabels:
      app: web
  egress:
  - to:
    - podSelector:
        matchLabels:
          app: api
    ports:
    - protocol: TCP
      port: 8080
`,
  // PC2003: egress rules, but policyTypes lists only Ingress.
  'policies/c-ignored-egress.yaml': `${header('c', 'web')}spec:
  podSelector:
    matchLabels:
      app: web
  policyTypes:
  - Ingress
  ingress:
  - from:
    - podSelector: {}
  egress:
  - to:
    - podSelector:
        matchLabels:
          app: api
  - to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
    ports:
    - protocol: UDP
      port: 53
`,
  // PC2010: a port without protocol.
  'policies/d-no-protocol.yaml': `${header('d', 'api')}spec:
  podSelector:
    matchLabels:
      app: api
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: web
    ports:
    - port: 8080
`,
  // PC2011 and PC2006: \`name:\` instead of kubernetes.io/metadata.name.
  'policies/e-name-label.yaml': `${header('e', 'api-from-client')}spec:
  podSelector:
    matchLabels:
      app: api
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          name: client
    ports:
    - protocol: TCP
      port: 8080
`,
  // PC2007: the second rule is covered by the first.
  'policies/f-redundant.yaml': `${header('f', 'api')}spec:
  podSelector:
    matchLabels:
      app: api
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {}
    ports:
    - protocol: TCP
      port: 8080
  - from:
    - podSelector:
        matchLabels:
          app: web
    ports:
    - protocol: TCP
      port: 8080
`,
  // PC2005 (no api pod defines \`metrics\`) and PC2006 (a label typo).
  'policies/g-named-port.yaml': `${header('g', 'api')}spec:
  podSelector:
    matchLabels:
      app: api
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: wbe
    ports:
    - protocol: TCP
      port: metrics
`,
  // PC2012: ipBlock over the pod range.
  'policies/h-ipblock.yaml': `${header('h', 'web')}spec:
  podSelector:
    matchLabels:
      app: web
  policyTypes: [Ingress]
  ingress:
  - from:
    - ipBlock:
        cidr: 10.244.3.0/24
`,
  // Allow-all vs deny-all, for hovers.
  'policies/i-allow-deny.yaml': `${header('i', 'deny-all')}spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: []
---
${header('i', 'allow-all')}spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - {}
`,
};

export const MANIFEST = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  namespace: client
spec:
  selector:
    matchLabels:
      app: shop
  template:
    metadata:
      labels:
        app: shop
        tier: storefront
    spec:
      containers:
        - name: shop
          image: example/shop:1
`;

export const NOT_POLICY = `services:
  web:
    image: nginx
    ports: ["80:80"]
`;

export const POLICYTEST = `load "../cluster.yaml"
load "../policies/"

allow client/web-0 -> a/api-0 : 8080
deny  client/cache-0 -> a/api-0 : 8080
allow nope ->
`;

export interface Fixture {
  root: string;
  texts: Record<string, string>;
}

/** Writes the workspace; `only` limits the policy files (default: all). */
export function writeWorkspace(only?: string[]): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'policyc-lsp-'));
  const texts: Record<string, string> = {
    'cluster.yaml': snapshotText(),
    'deploy/shop.yaml': MANIFEST,
    'compose.yaml': NOT_POLICY,
    'tests/a.policytest': POLICYTEST,
  };
  for (const [path, text] of Object.entries(POLICIES)) if (!only || only.includes(path)) texts[path] = text;
  for (const [path, text] of Object.entries(texts)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return { root, texts };
}
