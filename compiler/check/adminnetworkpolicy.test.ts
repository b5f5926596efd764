// AdminNetworkPolicy and BaselineAdminNetworkPolicy: the CRD schema and CEL rules of
// sigs.k8s.io/network-policy-api v1alpha1, each with a snippet that is rejected (expected code
// at an exact line:col) and snippets that are accepted. The spec body starts on line 6, column 3.

import { describe, expect, it } from 'vitest';
import { adminNetworkPolicy, allOf, baselineAdminNetworkPolicy, checkText, errorsOf } from './fixtures/harness.js';

const ingressRule = (rule: string) => `
priority: 10
subject: {namespaces: {}}
ingress:
${rule}`;

const egressPeer = (peer: string) => `
priority: 10
subject: {namespaces: {}}
egress:
- action: Allow
  to:
  - ${peer}`;

const port = (entry: string) => ingressRule(`- action: Allow
  from: [{namespaces: {}}]
  ports:
  - ${entry}`);

const rules = (n: number) => Array.from({ length: n }, (_, i) => `- name: r${i}\n  action: Deny\n  from: [{namespaces: {}}]`).join('\n');

const rejected: Array<{ rule: string; yaml: string; errors: string[] }> = [
  // ---- spec
  { rule: 'priority above 1000', yaml: adminNetworkPolicy('priority: 1001\nsubject: {namespaces: {}}'), errors: ['PC1113@6:13'] },
  { rule: 'negative priority', yaml: adminNetworkPolicy('priority: -1\nsubject: {namespaces: {}}'), errors: ['PC1113@6:13'] },
  { rule: 'priority as a string', yaml: adminNetworkPolicy('priority: "5"\nsubject: {namespaces: {}}'), errors: ['PC1011@6:13'] },
  { rule: 'missing priority', yaml: adminNetworkPolicy('subject: {namespaces: {}}'), errors: ['PC1010@5:1'] },
  { rule: 'null priority', yaml: adminNetworkPolicy('priority:\nsubject: {namespaces: {}}'), errors: ['PC1010@6:3'] },
  { rule: 'missing subject', yaml: adminNetworkPolicy('priority: 3'), errors: ['PC1010@5:1'] },
  { rule: 'missing spec', yaml: 'apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {name: a}\n', errors: ['PC1010@2:1'] },
  { rule: 'wrong apiVersion', yaml: adminNetworkPolicy('priority: 3\nsubject: {namespaces: {}}').replace('v1alpha1', 'v1beta1'), errors: ['PC1012@1:13'] },
  { rule: 'invalid name', yaml: adminNetworkPolicy('priority: 3\nsubject: {namespaces: {}}', 'Cluster_Wide'), errors: ['PC1114@4:9'] },
  { rule: 'more than 100 ingress rules', yaml: adminNetworkPolicy(`priority: 3\nsubject: {namespaces: {}}\ningress:\n${rules(101)}`), errors: ['PC1115@8:3'] },
  { rule: 'more than 100 egress rules', yaml: adminNetworkPolicy(`priority: 3\nsubject: {namespaces: {}}\negress:\n${rules(101).replace(/from:/g, 'to:')}`), errors: ['PC1115@8:3'] },

  // ---- subject: exactly one of namespaces / pods
  { rule: 'subject with both namespaces and pods', yaml: adminNetworkPolicy(`
priority: 10
subject:
  namespaces: {}
  pods: {namespaceSelector: {}, podSelector: {}}`), errors: ['PC1012@8:5'] },
  { rule: 'empty subject', yaml: adminNetworkPolicy('priority: 10\nsubject: {}'), errors: ['PC1012@7:12'] },
  { rule: 'subject pods without podSelector', yaml: adminNetworkPolicy(`
priority: 10
subject:
  pods:
    namespaceSelector: {}`), errors: ['PC1010@8:5'] },
  { rule: 'invalid label key in the subject', yaml: adminNetworkPolicy(`
priority: 10
subject:
  namespaces:
    matchLabels: {"a b": c}`), errors: ['PC1111@9:21'] },

  // ---- rules
  { rule: 'unknown action', yaml: adminNetworkPolicy(ingressRule('- action: allow\n  from: [{namespaces: {}}]')), errors: ['PC1012@9:13'] },
  { rule: 'rule without action', yaml: adminNetworkPolicy(ingressRule('- from: [{namespaces: {}}]')), errors: ['PC1010@9:5'] },
  { rule: 'ingress rule without from', yaml: adminNetworkPolicy(ingressRule('- action: Deny')), errors: ['PC1010@9:5'] },
  { rule: 'empty from', yaml: adminNetworkPolicy(ingressRule('- action: Deny\n  from: []')), errors: ['PC1118@10:5'] },
  { rule: 'rule name longer than 100', yaml: adminNetworkPolicy(ingressRule(`- name: ${'n'.repeat(101)}\n  action: Deny\n  from: [{namespaces: {}}]`)), errors: ['PC1116@9:11'] },

  // ---- peers: exactly one field; nodes and networks only in egress
  { rule: 'networks in an ingress peer', yaml: adminNetworkPolicy(ingressRule('- action: Allow\n  from:\n  - networks: [10.0.0.0/8]')), errors: ['PC1118@11:7'] },
  { rule: 'nodes in an ingress peer', yaml: adminNetworkPolicy(ingressRule('- action: Allow\n  from:\n  - nodes: {}')), errors: ['PC1118@11:7'] },
  { rule: 'egress peer with two fields', yaml: adminNetworkPolicy(egressPeer('namespaces: {}\n    nodes: {}')), errors: ['PC1118@11:7'] },
  { rule: 'empty egress peer', yaml: adminNetworkPolicy(egressPeer('{}')), errors: ['PC1118@11:7'] },
  { rule: 'named port towards networks', yaml: adminNetworkPolicy(`${egressPeer('networks: [10.0.0.0/8]')}\n  ports:\n  - namedPort: http`), errors: ['PC1118@13:18'] },
  { rule: 'named port towards nodes', yaml: adminNetworkPolicy(`${egressPeer('nodes: {}')}\n  ports:\n  - namedPort: http`), errors: ['PC1118@13:18'] },
  { rule: 'In without values in a pods peer', yaml: adminNetworkPolicy(egressPeer(`pods:
      namespaceSelector: {}
      podSelector:
        matchExpressions: [{key: app, operator: In}]`)), errors: ['PC1110@14:51'] },

  // ---- networks: CEL isCIDR, at most 43 characters, a set
  ...['"010.0.0.0/8"', '"::ffff:10.0.0.0/104"', '"10.0.0.0"', '"fe80::1%eth0/64"', '"10.0.0.0/08"', '"1:2:3:4:5:6:7:8:9/64"', '"00001::/64"', '"10.0.0.0/33"', '"10.0.0.0/-8"']
    .map((cidr) => ({ rule: `invalid network ${cidr}`, yaml: adminNetworkPolicy(egressPeer(`networks: [${cidr}]`)), errors: ['PC1106@11:18'] })),
  { rule: 'network longer than 43 characters', yaml: adminNetworkPolicy(egressPeer('networks: ["ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128"]')), errors: ['PC1106@11:18'] },
  { rule: 'duplicate network', yaml: adminNetworkPolicy(egressPeer('networks: [10.0.0.0/8, 10.0.0.0/8]')), errors: ['PC1012@11:30'] },
  { rule: 'empty networks', yaml: adminNetworkPolicy(egressPeer('networks: []')), errors: ['PC1012@11:7'] },

  // ---- ports: exactly one of portNumber / namedPort / portRange
  { rule: 'port number 0', yaml: adminNetworkPolicy(port('portNumber: {port: 0}')), errors: ['PC1104@12:26'] },
  { rule: 'port range end above 65535', yaml: adminNetworkPolicy(port('portRange: {start: 1, end: 65536}')), errors: ['PC1104@12:34'] },
  { rule: 'port range start above end', yaml: adminNetworkPolicy(port('portRange: {start: 90, end: 80}')), errors: ['PC1103@12:35'] },
  { rule: 'port entry with two fields', yaml: adminNetworkPolicy(port('{namedPort: http, portNumber: {port: 80}}')), errors: ['PC1012@12:7'] },
  { rule: 'empty port entry', yaml: adminNetworkPolicy(port('{}')), errors: ['PC1012@12:7'] },
  { rule: 'portNumber without port', yaml: adminNetworkPolicy(port('portNumber: {protocol: TCP}')), errors: ['PC1010@12:7'] },
  { rule: 'protocol not TCP/UDP/SCTP', yaml: adminNetworkPolicy(port('portNumber: {port: 80, protocol: ICMP}')), errors: ['PC1119@12:40'] },
  { rule: 'empty ports list', yaml: adminNetworkPolicy(ingressRule('- action: Allow\n  from: [{namespaces: {}}]\n  ports: []')), errors: ['PC1012@11:5'] },

  // ---- BaselineAdminNetworkPolicy
  { rule: 'BANP not named default', yaml: baselineAdminNetworkPolicy('subject: {namespaces: {}}', 'baseline'), errors: ['PC1117@4:9'] },
  { rule: 'BANP with a Pass rule', yaml: baselineAdminNetworkPolicy('subject: {namespaces: {}}\negress:\n- action: Pass\n  to: [{namespaces: {}}]'), errors: ['PC1012@8:13'] },
  { rule: 'BANP peer with only domainNames (pruned: an empty peer)', yaml: baselineAdminNetworkPolicy('subject: {namespaces: {}}\negress:\n- action: Allow\n  to: [{domainNames: [example.com]}]'), errors: ['PC1118@9:10'] },
];

describe('AdminNetworkPolicy / BaselineAdminNetworkPolicy: rejected', () => {
  it.each(rejected)('$rule', ({ yaml, errors }) => {
    expect(errorsOf(checkText(yaml))).toEqual(errors);
  });

  it('points at the peer a named port conflicts with', () => {
    const checked = checkText(adminNetworkPolicy(`${egressPeer('networks: [10.0.0.0/8]')}\n  ports:\n  - namedPort: http`));
    const d = checked.diagnostics.find((x) => x.code === 'PC1118');
    expect(d?.related?.map((rel) => rel.span.start)).toEqual([checked.file.text.indexOf('networks: [10')]);
  });

  it('warns about fields the CRD does not have (the API server prunes them)', () => {
    const checked = checkText(baselineAdminNetworkPolicy('priority: 5\nsubject: {namespaces: {}}'));
    expect(errorsOf(checked)).toEqual([]);
    expect(allOf(checked)).toEqual(['PC1013@6:3']);
  });

  it('warns about a named port that no container port can have', () => {
    const checked = checkText(adminNetworkPolicy(port('namedPort: HTTP_8080')));
    expect(errorsOf(checked)).toEqual([]);
    expect(allOf(checked)).toEqual(['PC1105@12:18']);
  });
});

const accepted: Array<{ rule: string; yaml: string }> = [
  { rule: 'every peer, port and action', yaml: adminNetworkPolicy(`
priority: 0
subject:
  pods:
    namespaceSelector:
      matchExpressions:
      - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}
    podSelector: {}
ingress:
- name: allow-from-monitoring
  action: Allow
  from:
  - namespaces:
      matchLabels: {kubernetes.io/metadata.name: monitoring}
  - pods:
      namespaceSelector: {}
      podSelector: {matchLabels: {app: prometheus}}
  ports:
  - portNumber: {protocol: TCP, port: 9090}
  - namedPort: metrics
  - portRange: {protocol: UDP, start: 30000, end: 30000}
egress:
- name: ${'n'.repeat(100)}
  action: Pass
  to:
  - nodes:
      matchExpressions: [{key: node-role.kubernetes.io/control-plane, operator: Exists}]
  - networks: [10.244.1.10/4, "2001:db8::/32", 0.0.0.0/0, "::/0", "::1.2.3.4/128"]
  ports:
  - portRange: {start: 1, end: 65535}
- action: Deny
  to: [{namespaces: {}}]`) },
  { rule: 'priority 1000 and 100 rules each way', yaml: adminNetworkPolicy(`priority: 1000\nsubject: {namespaces: {}}\ningress:\n${rules(100)}\negress:\n${rules(100).replace(/from:/g, 'to:')}`) },
  { rule: 'portNumber without protocol (defaulted to TCP)', yaml: adminNetworkPolicy(port('portNumber: {port: 443}')) },
  { rule: 'minimal BANP', yaml: baselineAdminNetworkPolicy('subject: {namespaces: {}}') },
  { rule: 'BANP with rules', yaml: baselineAdminNetworkPolicy(`
subject:
  namespaces: {matchLabels: {tenant: a}}
ingress:
- action: Deny
  from: [{namespaces: {}}]
egress:
- action: Allow
  to:
  - networks: [192.168.0.0/16]
  - nodes: {}
  ports:
  - portNumber: {port: 53, protocol: UDP}`) },
];

describe('AdminNetworkPolicy / BaselineAdminNetworkPolicy: accepted', () => {
  it.each(accepted)('$rule', ({ yaml }) => {
    expect(errorsOf(checkText(yaml))).toEqual([]);
  });
});
