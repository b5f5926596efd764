// NetworkPolicy: every rule of the API server's ValidateNetworkPolicy, each with a snippet the
// server rejects (expected code at an exact line:col) and snippets it accepts (no errors).
// networkPolicy() puts the spec body on lines 7.. with two spaces of indentation.

import { describe, expect, it } from 'vitest';
import { allOf, checkText, errorsOf, networkPolicy } from './fixtures/harness.js';

interface Rejected {
  rule: string;
  yaml: string;
  /** Exactly the errors expected, as CODE@line:col. */
  errors: string[];
}

const portBody = (port: string) => `
podSelector: {}
ingress:
- ports:
  - port: ${port}`;

const cidrBody = (cidr: string) => `
podSelector: {}
ingress:
- from:
  - ipBlock:
      cidr: ${cidr}`;

const exceptBody = (cidr: string, except: string) => `
podSelector: {}
policyTypes: [Egress]
egress:
- to:
  - ipBlock:
      cidr: ${cidr}
      except:
      - ${except}`;

const selectorBody = (selector: string) => `
podSelector:
${selector}`;

const rejected: Rejected[] = [
  // ---- ports (ValidateNetworkPolicyPort)
  { rule: 'endPort without port', yaml: networkPolicy(`
podSelector: {}
ingress:
- ports:
  - endPort: 90`), errors: ['PC1101@10:16'] },
  { rule: 'endPort with a named port', yaml: networkPolicy(`
podSelector: {}
ingress:
- ports:
  - port: http
    endPort: 90`), errors: ['PC1102@11:16'] },
  { rule: 'endPort below port', yaml: networkPolicy(`
podSelector: {}
policyTypes: [Egress]
egress:
- ports:
  - port: 8080
    endPort: 80`), errors: ['PC1103@12:16'] },
  { rule: 'port 0', yaml: networkPolicy(portBody('0')), errors: ['PC1104@10:13'] },
  { rule: 'port 65536', yaml: networkPolicy(portBody('65536')), errors: ['PC1104@10:13'] },
  { rule: 'negative port', yaml: networkPolicy(portBody('-1')), errors: ['PC1104@10:13'] },
  { rule: 'endPort 65536', yaml: networkPolicy(`
podSelector: {}
ingress:
- ports:
  - port: 80
    endPort: 65536`), errors: ['PC1104@11:16'] },
  { rule: 'port name in upper case', yaml: networkPolicy(portBody('HTTP')), errors: ['PC1105@10:13'] },
  { rule: 'port name with consecutive hyphens', yaml: networkPolicy(portBody('a--b')), errors: ['PC1105@10:13'] },
  { rule: 'port name with a leading hyphen', yaml: networkPolicy(portBody('-http')), errors: ['PC1105@10:13'] },
  { rule: 'port name with a trailing hyphen', yaml: networkPolicy(portBody('http-')), errors: ['PC1105@10:13'] },
  { rule: 'port name longer than 15', yaml: networkPolicy(portBody('sixteen-chars-xx')), errors: ['PC1105@10:13'] },
  { rule: 'port name without a letter (a quoted number)', yaml: networkPolicy(portBody('"80"')), errors: ['PC1105@10:13'] },
  { rule: 'empty port name', yaml: networkPolicy(portBody('""')), errors: ['PC1105@10:13'] },
  { rule: 'port name with an underscore', yaml: networkPolicy(portBody('my_port')), errors: ['PC1105@10:13'] },
  { rule: 'protocol not TCP/UDP/SCTP', yaml: networkPolicy(`
podSelector: {}
ingress:
- ports:
  - protocol: ICMP`), errors: ['PC1119@10:17'] },
  { rule: 'protocol in lower case', yaml: networkPolicy(`
podSelector: {}
ingress:
- ports:
  - protocol: tcp
    port: 80`), errors: ['PC1119@10:17'] },
  { rule: 'port of the wrong type', yaml: networkPolicy(portBody('true')), errors: ['PC1011@10:13'] },
  { rule: 'port not an int32', yaml: networkPolicy(portBody('4294967297')), errors: ['PC1011@10:13'] },
  { rule: 'fractional endPort', yaml: networkPolicy(`
podSelector: {}
ingress:
- ports:
  - port: 80
    endPort: 80.5`), errors: ['PC1011@11:16'] },

  // ---- peers (ValidateNetworkPolicyPeer)
  { rule: 'ipBlock with namespaceSelector', yaml: networkPolicy(`
podSelector: {}
ingress:
- from:
  - ipBlock:
      cidr: 10.0.0.0/8
    namespaceSelector: {}`), errors: ['PC1108@10:7'] },
  { rule: 'ipBlock with podSelector', yaml: networkPolicy(`
podSelector: {}
ingress:
- from:
  - podSelector: {}
    ipBlock:
      cidr: 10.0.0.0/8`), errors: ['PC1108@11:7'] },
  { rule: 'empty peer', yaml: networkPolicy(`
podSelector: {}
ingress:
- from:
  - {}`), errors: ['PC1109@10:7'] },
  { rule: 'peer whose only field is unknown (dropped by the server, leaving it empty)', yaml: networkPolicy(`
podSelector: {}
ingress:
- from:
  - podSelektor: {}`), errors: ['PC1109@10:7'] },
  { rule: 'null peer', yaml: networkPolicy(`
podSelector: {}
policyTypes: [Egress]
egress:
- to:
  - podSelector: {}
  - null`), errors: ['PC1109@12:7'] },

  // ---- ipBlock (ValidateIPBlock)
  ...[
    '10.0.0.0', '10.0.0.0/33', '10.0.0.256/8', '1.2.3/8', '1.2.3.4.5/8', '"::1/129"', '"fe80::1%eth0/64"',
    '10.0.0.0/-1', '10.0.0.0/+8', '10.0.0.0/8/8', 'abc/8', '"2001:db8:::/64"', '"1:2:3:4:5:6:7:8:9/64"', '"1::2::3/64"', '"::1.2.3.4.5/128"',
    '"10.0.0.0 /8"', '10.0.0.0/', '/8', '"1:2:3:4:5:6:7:8::/64"', '"12345::/64"', '0x0a.0.0.0/8',
  ].map((cidr) => ({ rule: `invalid cidr ${cidr}`, yaml: networkPolicy(cidrBody(cidr)), errors: ['PC1106@11:15'] })),
  { rule: 'empty cidr', yaml: networkPolicy(cidrBody('""')), errors: ['PC1010@11:15'] },
  { rule: 'ipBlock without cidr', yaml: networkPolicy(`
podSelector: {}
ingress:
- from:
  - ipBlock:
      except: [10.0.0.0/8]`), errors: ['PC1010@10:7'] },
  { rule: 'invalid except', yaml: networkPolicy(`
podSelector: {}
ingress:
- from:
  - ipBlock:
      cidr: 10.0.0.0/8
      except: [10.1.0.0]`), errors: ['PC1106@12:18'] },
  { rule: 'except outside cidr', yaml: networkPolicy(exceptBody('10.0.0.0/16', '10.1.0.0/24')), errors: ['PC1107@14:11'] },
  { rule: 'except equal to cidr', yaml: networkPolicy(exceptBody('10.0.0.0/16', '10.0.0.0/16')), errors: ['PC1107@14:11'] },
  { rule: 'except equal to cidr written with host bits', yaml: networkPolicy(exceptBody('10.0.5.5/16', '10.0.0.0/16')), errors: ['PC1107@14:11'] },
  { rule: 'except wider than cidr', yaml: networkPolicy(exceptBody('10.0.0.0/16', '10.0.0.0/8')), errors: ['PC1107@14:11'] },
  { rule: 'except of the other IP family', yaml: networkPolicy(exceptBody('10.0.0.0/8', '"fd00::/64"')), errors: ['PC1107@14:11'] },
  { rule: 'IPv4 except in an IPv6 cidr', yaml: networkPolicy(exceptBody('"::/0"', '10.0.0.0/8')), errors: ['PC1107@14:11'] },

  // ---- label selectors (ValidateLabelSelector)
  { rule: 'In without values', yaml: networkPolicy(selectorBody(`  matchExpressions:
  - key: app
    operator: In`)), errors: ['PC1110@10:17'] },
  { rule: 'NotIn with empty values', yaml: networkPolicy(selectorBody(`  matchExpressions:
  - key: app
    operator: NotIn
    values: []`)), errors: ['PC1110@11:15'] },
  { rule: 'Exists with values', yaml: networkPolicy(selectorBody(`  matchExpressions:
  - key: app
    operator: Exists
    values: [a]`)), errors: ['PC1110@11:15'] },
  { rule: 'DoesNotExist with values', yaml: networkPolicy(selectorBody(`  matchExpressions:
  - key: app
    operator: DoesNotExist
    values: [a]`)), errors: ['PC1110@11:15'] },
  { rule: 'unknown operator', yaml: networkPolicy(selectorBody(`  matchExpressions:
  - key: app
    operator: Equals
    values: [a]`)), errors: ['PC1110@10:17'] },
  { rule: 'requirement without operator', yaml: networkPolicy(selectorBody(`  matchExpressions:
  - key: app`)), errors: ['PC1010@9:7'] },
  { rule: 'label key with two slashes', yaml: networkPolicy(selectorBody(`  matchLabels:
    "a/b/c": x`)), errors: ['PC1111@9:7'] },
  { rule: 'label key with an invalid prefix', yaml: networkPolicy(selectorBody(`  matchLabels:
    "Example.com/app": x`)), errors: ['PC1111@9:7'] },
  { rule: 'label key with an empty prefix', yaml: networkPolicy(selectorBody(`  matchLabels:
    "/app": x`)), errors: ['PC1111@9:7'] },
  { rule: 'label key name longer than 63', yaml: networkPolicy(selectorBody(`  matchLabels:
    ${'k'.repeat(64)}: x`)), errors: ['PC1111@9:7'] },
  { rule: 'label value with a space', yaml: networkPolicy(selectorBody(`  matchLabels:
    app: "my app"`)), errors: ['PC1111@9:12'] },
  { rule: 'label value longer than 63', yaml: networkPolicy(selectorBody(`  matchLabels:
    app: ${'v'.repeat(64)}`)), errors: ['PC1111@9:12'] },
  { rule: 'label value not a string', yaml: networkPolicy(selectorBody(`  matchLabels:
    app: 1`)), errors: ['PC1011@9:12'] },
  { rule: 'invalid expression key', yaml: networkPolicy(selectorBody(`  matchExpressions:
  - key: "a b"
    operator: Exists`)), errors: ['PC1111@9:12'] },
  { rule: 'invalid expression value', yaml: networkPolicy(selectorBody(`  matchExpressions:
  - key: app
    operator: In
    values: [ok, "not ok"]`)), errors: ['PC1111@11:20'] },
  { rule: 'invalid namespaceSelector in a peer', yaml: networkPolicy(`
podSelector: {}
ingress:
- from:
  - namespaceSelector:
      matchLabels:
        "-ns": a`), errors: ['PC1111@12:11'] },

  // ---- policyTypes
  { rule: 'unknown policyType', yaml: networkPolicy(`
podSelector: {}
policyTypes: [Ingress, Egres]`), errors: ['PC1112@8:26'] },
  { rule: 'policyType in lower case', yaml: networkPolicy(`
podSelector: {}
policyTypes: [ingress]`), errors: ['PC1112@8:17'] },
  { rule: 'more than two policyTypes', yaml: networkPolicy(`
podSelector: {}
policyTypes: [Ingress, Egress, Ingress]`), errors: ['PC1112@8:16'] },

  // ---- object and metadata
  { rule: 'name not a DNS subdomain', yaml: networkPolicy('podSelector: {}', 'Bad_Name'), errors: ['PC1114@4:9'] },
  { rule: 'name ending with a hyphen', yaml: networkPolicy('podSelector: {}', 'deny-'), errors: ['PC1114@4:9'] },
  { rule: 'name longer than 253', yaml: networkPolicy('podSelector: {}', `${'a'.repeat(63)}.`.repeat(4).slice(0, 254)), errors: ['PC1114@4:9'] },
  { rule: 'invalid namespace', yaml: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny
  namespace: My.Namespace
spec: {}
`, errors: ['PC1114@5:14'] },
  { rule: 'missing name', yaml: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: x
spec: {}
`, errors: ['PC1010@3:1'] },
  { rule: 'missing metadata', yaml: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
spec: {}
`, errors: ['PC1010@2:1'] },
  { rule: 'missing apiVersion', yaml: `kind: NetworkPolicy
metadata: {name: a}
`, errors: ['PC1010@1:1'] },
  { rule: 'wrong apiVersion', yaml: `apiVersion: extensions/v1beta1
kind: NetworkPolicy
metadata: {name: a}
`, errors: ['PC1012@1:13'] },
  { rule: 'invalid metadata label', yaml: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: a
  labels:
    team: "a b"
`, errors: ['PC1111@6:11'] },
  { rule: 'invalid annotation key', yaml: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: a
  annotations:
    "bad key": x
`, errors: ['PC1111@6:5'] },
  { rule: 'spec of the wrong type', yaml: networkPolicy('[]').replace('spec:\n  []', 'spec: []'), errors: ['PC1011@6:7'] },
  { rule: 'ingress of the wrong type', yaml: networkPolicy(`
podSelector: {}
ingress: {}`), errors: ['PC1011@8:12'] },
  { rule: 'podSelector of the wrong type', yaml: networkPolicy('podSelector: []'), errors: ['PC1011@7:16'] },
];

describe('NetworkPolicy: rejected as the API server rejects it', () => {
  it.each(rejected)('$rule', ({ yaml, errors }) => {
    expect(errorsOf(checkText(yaml))).toEqual(errors);
  });

  it('reports every problem of one object at once', () => {
    const checked = checkText(networkPolicy(`
podSelector: {}
ingress:
- from:
  - {}
  - ipBlock:
      cidr: nope
  ports:
  - port: 0
  - endPort: 5`, 'Bad'));
    expect(errorsOf(checked)).toEqual(['PC1114@4:9', 'PC1109@10:7', 'PC1106@12:15', 'PC1104@14:13', 'PC1101@15:16']);
  });

  it('reports an unknown field as a warning on its key, with a suggestion', () => {
    const checked = checkText(networkPolicy(`
podSelector: {}
ingress:
- form:
  - podSelector: {}`));
    const unknown = checked.diagnostics.find((d) => d.code === 'PC1013');
    expect(allOf(checked)).toContain('PC1013@9:5');
    expect(unknown?.severity).toBe('warning');
    expect(unknown?.message).toContain('did you mean `from`?');
    expect(unknown?.data).toEqual({ suggestion: 'from' });
  });

  it('reports repeated policyTypes as a warning (the API server accepts them)', () => {
    const checked = checkText(networkPolicy(`
podSelector: {}
policyTypes: [Egress, Egress]`));
    expect(errorsOf(checked)).toEqual([]);
    expect(allOf(checked)).toEqual(['PC1112@8:25']);
  });

  it('names the field and the offending value in messages', () => {
    const [d] = checkText(networkPolicy(portBody('70000'))).diagnostics.filter((x) => x.code === 'PC1104');
    expect(d.message).toContain('spec.ingress[0].ports[0].port');
    expect(d.message).toContain('70000');
  });
});

const accepted: Array<{ rule: string; yaml: string }> = [
  { rule: 'no spec at all', yaml: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: a
` },
  { rule: 'generateName instead of name', yaml: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  generateName: a-
` },
  { rule: 'null podSelector, ingress and egress', yaml: networkPolicy(`
podSelector:
ingress:
egress:`) },
  { rule: 'allow all ingress', yaml: networkPolicy(`
podSelector: {}
ingress:
- {}`) },
  { rule: 'empty from and ports lists', yaml: networkPolicy(`
podSelector: {}
ingress:
- from: []
  ports: []`) },
  { rule: 'a port entry with nothing (all TCP ports)', yaml: networkPolicy(`
podSelector: {}
ingress:
- ports:
  - {}`) },
  { rule: 'port range bounds', yaml: networkPolicy(`
podSelector: {}
ingress:
- ports:
  - port: 1
  - port: 65535
    protocol: UDP
  - port: 30000
    endPort: 30000
    protocol: SCTP
  - port: 1
    endPort: 65535`) },
  { rule: 'named ports', yaml: networkPolicy(`
podSelector: {}
ingress:
- ports:
  - port: http
  - port: h2c
  - port: a-b-c
  - port: fifteen-chars-x
  - port: serve-80-tcp`) },
  { rule: 'CIDR with host bits set (accepted by the API server)', yaml: networkPolicy(`
podSelector: {}
policyTypes: [Egress]
egress:
- to:
  - ipBlock:
      cidr: 10.244.1.10/4
      except:
      - 10.244.1.11/32`) },
  { rule: 'IPv6 and whole-space CIDRs', yaml: networkPolicy(`
podSelector: {}
ingress:
- from:
  - ipBlock:
      cidr: "2001:db8::/64"
      except: ["2001:db8::1/128", "2001:db8:0:0:8000::/65"]
  - ipBlock:
      cidr: "::/0"
  - ipBlock:
      cidr: 0.0.0.0/0
      except: [10.0.0.0/8, 0.0.0.0/1]
  - ipBlock:
      cidr: "::ffff:0:0/96"
  - ipBlock:
      cidr: "1:2:3:4:5:6:1.2.3.4/128"
  - ipBlock:
      cidr: 10.0.0.0/08`) },
  { rule: 'label selectors of every form', yaml: networkPolicy(`
podSelector:
  matchLabels:
    app.kubernetes.io/name: web
    tier: ""
    k8s-app: kube_dns.v1
  matchExpressions:
  - key: env
    operator: In
    values: [prod, staging]
  - key: example.com/team
    operator: NotIn
    values: [a]
  - key: canary
    operator: Exists
  - key: legacy
    operator: DoesNotExist
    values: []
ingress:
- from:
  - namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: y
    podSelector:
      matchLabels:
        pod: a
  - namespaceSelector: {}`) },
  { rule: 'both policyTypes', yaml: networkPolicy(`
podSelector: {}
policyTypes: [Egress, Ingress]`) },
  { rule: 'null items in rule and port lists (Go zero values)', yaml: networkPolicy(`
podSelector: {}
ingress:
- null
- ports:
  - null`) },
  { rule: 'kubectl get -o yaml metadata', yaml: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {}
  creationTimestamp: "2024-05-01T10:00:00Z"
  generation: 1
  name: deny
  namespace: x
  resourceVersion: "1234"
  uid: 0c5b0d3e-1111-2222-3333-444444444444
spec:
  podSelector: {}
  policyTypes:
  - Ingress
` },
  { rule: 'an unquoted timestamp in metadata', yaml: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny
  creationTimestamp: 2024-05-01T10:00:00Z
` },
];

describe('NetworkPolicy: accepted as the API server accepts it', () => {
  it.each(accepted)('$rule', ({ yaml }) => {
    expect(errorsOf(checkText(yaml))).toEqual([]);
  });

  it('accepts legacy CIDR forms with a warning, as the API server does', () => {
    const checked = checkText(networkPolicy(cidrBody('010.1.0.0/16')));
    expect(errorsOf(checked)).toEqual([]);
    expect(allOf(checked)).toEqual(['PC1106@11:15']);
    expect(checked.diagnostics[0].severity).toBe('warning');
    expect(checked.diagnostics[0].message).toContain('"10.1.0.0/16"');
  });
});
