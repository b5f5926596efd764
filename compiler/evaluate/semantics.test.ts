// One test per semantic rule of NetworkPolicy (and the admin tiers) that the upstream truth
// tables do not pin down on their own.

import { describe, expect, it } from 'vitest';
import { quickCompile } from '../../testkit/quick-compile.js';
import { peerMatches } from './match.js';

const np = (ns: string, name: string, spec: string) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
${spec.replace(/^/gm, '  ')}
---
`;

describe('policyTypes defaulting', () => {
  it('an egress-only policy without policyTypes isolates ingress too', () => {
    const q = quickCompile(np('x', 'egress-only', `podSelector: {matchLabels: {pod: a}}\negress:\n- to:\n  - podSelector: {}`));
    expect(q.allowed('y/a', 'x/a')).toBe(false);
    expect(q.allowed('x/a', 'x/b')).toBe(true);
    expect(q.allowed('x/a', 'y/b')).toBe(false);
  });
  it('`egress: []` without policyTypes does not isolate egress', () => {
    const q = quickCompile(np('x', 'p', `podSelector: {matchLabels: {pod: a}}\negress: []`));
    expect(q.allowed('x/a', 'y/b')).toBe(true);
    expect(q.allowed('y/b', 'x/a')).toBe(false);
  });
  it('rules for a direction missing from explicit policyTypes are ignored', () => {
    const q = quickCompile(np('x', 'p', `podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\ningress:\n- from:\n  - podSelector: {matchLabels: {pod: b}}`));
    expect(q.allowed('y/c', 'x/a')).toBe(true); // ingress not isolated
    expect(q.allowed('x/a', 'x/b')).toBe(false); // egress isolated, no egress rules
  });
});

describe('empty and missing lists', () => {
  it('ingress missing or [] with type Ingress denies all', () => {
    for (const spec of ['podSelector: {}\npolicyTypes: [Ingress]', 'podSelector: {}\npolicyTypes: [Ingress]\ningress: []']) {
      const q = quickCompile(np('x', 'deny', spec));
      expect(q.allowed('x/b', 'x/a')).toBe(false);
    }
  });
  it('`ingress: [{}]` allows all', () => {
    const q = quickCompile(np('x', 'allow', 'podSelector: {}\ningress:\n- {}'));
    expect(q.allowed('z/c', 'x/a', 12345, 'UDP')).toBe(true);
  });
  it('`from: []` means any peer', () => {
    const q = quickCompile(np('x', 'allow', 'podSelector: {}\ningress:\n- from: []\n  ports:\n  - port: 80'));
    expect(q.allowed('z/c', 'x/a', 80)).toBe(true);
    expect(q.allowed('z/c', 'x/a', 81)).toBe(false);
  });
});

describe('peers', () => {
  it('a peer without namespaceSelector means the policy namespace', () => {
    const q = quickCompile(np('x', 'p', 'podSelector: {}\ningress:\n- from:\n  - podSelector: {matchLabels: {pod: b}}'));
    expect(q.allowed('x/b', 'x/a')).toBe(true);
    expect(q.allowed('y/b', 'x/a')).toBe(false);
  });
  it('namespaceSelector: {} means every namespace', () => {
    const q = quickCompile(np('x', 'p', 'podSelector: {}\ningress:\n- from:\n  - namespaceSelector: {}\n    podSelector: {matchLabels: {pod: b}}'));
    expect(q.allowed('y/b', 'x/a')).toBe(true);
    expect(q.allowed('y/c', 'x/a')).toBe(false);
  });
  it('two selectors in one peer are AND; two peers are OR', () => {
    const and = quickCompile(np('x', 'p', 'podSelector: {}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: y}}\n    podSelector: {matchLabels: {pod: b}}'));
    expect(and.allowed('y/b', 'x/a')).toBe(true);
    expect(and.allowed('y/c', 'x/a')).toBe(false);
    expect(and.allowed('z/b', 'x/a')).toBe(false);
    const or = quickCompile(np('x', 'p', 'podSelector: {}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: y}}\n  - podSelector: {matchLabels: {pod: b}}'));
    expect(or.allowed('y/c', 'x/a')).toBe(true);
    expect(or.allowed('x/b', 'x/a')).toBe(true);
    expect(or.allowed('z/b', 'x/a')).toBe(false);
  });
  it('NotIn and DoesNotExist match objects that lack the key', () => {
    const q = quickCompile(np('x', 'p', `podSelector: {}\ningress:\n- from:\n  - namespaceSelector: {}\n    podSelector:\n      matchExpressions:\n      - {key: tier, operator: NotIn, values: [db]}\n      - {key: legacy, operator: DoesNotExist}`));
    expect(q.allowed('z/c', 'x/a')).toBe(true);
  });
});

describe('ipBlock', () => {
  it('matches pod IPs too, and except removes addresses', () => {
    const q = quickCompile(np('x', 'p', 'podSelector: {}\ningress:\n- from:\n  - ipBlock: {cidr: 10.244.1.0/24, except: [10.244.1.20/32]}'));
    expect(q.allowed('x/b', 'x/a')).toBe(true); // 10.244.1.11
    expect(q.allowed('y/a', 'x/a')).toBe(false); // 10.244.1.20 excepted
    expect(q.allowed('y/b', 'x/a')).toBe(false); // 10.244.2.21 outside
    expect(q.allowed('10.244.1.99', 'x/a')).toBe(true);
  });
  it('except equal to cidr is rejected as the API server does, and would match nothing', () => {
    expect(() => quickCompile(np('x', 'p', 'podSelector: {}\ningress:\n- from:\n  - ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}'))).toThrow(/PC1107/);
    const q = quickCompile('');
    const peer = { kind: 'cidr', cidr: '10.0.0.0/8', except: ['10.0.0.0/8'], span: { file: 'f', start: 0, end: 0 } } as const;
    expect(peerMatches(peer, q.endpoint('10.1.2.3'), q.evaluator.groups, q.compilation.cluster).matched).toBe(false);
    expect(peerMatches(peer, q.endpoint('x/a'), q.evaluator.groups, q.compilation.cluster).matched).toBe(false);
  });
  it('a CIDR with host bits set is normalised', () => {
    const q = quickCompile(np('x', 'p', 'podSelector: {}\ningress:\n- from:\n  - ipBlock: {cidr: 10.244.1.10/4}'));
    expect(q.compilation.program!.rules[0].peers[0]).toMatchObject({ kind: 'cidr', cidr: '0.0.0.0/4' });
    expect(q.allowed('x/b', 'x/a')).toBe(true);
  });
});

describe('ports', () => {
  it('protocol defaults to TCP; `ports: [{}]` is every TCP port', () => {
    const q = quickCompile(np('x', 'p', 'podSelector: {}\ningress:\n- ports:\n  - {}'));
    expect(q.allowed('y/a', 'x/a', 4242, 'TCP')).toBe(true);
    expect(q.allowed('y/a', 'x/a', 4242, 'UDP')).toBe(false);
  });
  it('port + endPort is an inclusive range', () => {
    const q = quickCompile(np('x', 'p', 'podSelector: {}\ningress:\n- ports:\n  - {port: 80, endPort: 90}'));
    expect([79, 80, 85, 90, 91].map((p) => q.allowed('y/a', 'x/a', p))).toEqual([false, true, true, true, false]);
  });
  it('a named port resolves on the destination pod, for egress too, and the protocol must match', () => {
    const ingress = quickCompile(np('x', 'p', 'podSelector: {}\ningress:\n- ports:\n  - {port: serve-81-udp, protocol: UDP}'));
    expect(ingress.allowed('y/a', 'x/a', 81, 'UDP')).toBe(true);
    expect(ingress.allowed('y/a', 'x/a', 81, 'TCP')).toBe(false);
    const mismatch = quickCompile(np('x', 'p', 'podSelector: {}\ningress:\n- ports:\n  - {port: serve-81-udp, protocol: TCP}'));
    expect(mismatch.allowed('y/a', 'x/a', 81, 'TCP')).toBe(false);
    expect(mismatch.allowed('y/a', 'x/a', 81, 'UDP')).toBe(false);
    const egress = quickCompile(np('x', 'p', 'podSelector: {}\npolicyTypes: [Egress]\negress:\n- ports:\n  - {port: serve-80-tcp}'));
    expect(egress.allowed('x/a', 'y/b', 80)).toBe(true);
    expect(egress.allowed('x/a', 'y/b', 81)).toBe(false);
    expect(egress.allowed('x/a', '192.0.2.1', 80)).toBe(false); // not a pod: the name resolves nowhere
  });
  it('a UDP-only rule still isolates the pod for TCP', () => {
    const q = quickCompile(np('x', 'p', 'podSelector: {}\ningress:\n- ports:\n  - {port: 53, protocol: UDP}'));
    expect(q.allowed('y/a', 'x/a', 53, 'UDP')).toBe(true);
    expect(q.allowed('y/a', 'x/a', 53, 'TCP')).toBe(false);
  });
});

describe('directions combine', () => {
  it('an ingress allow never overrides the source egress isolation', () => {
    const q = quickCompile(
      np('x', 'allow-in', 'podSelector: {}\ningress:\n- {}') + np('y', 'deny-out', 'podSelector: {}\npolicyTypes: [Egress]'),
    );
    expect(q.allowed('y/a', 'x/a')).toBe(false);
    expect(q.allowed('z/a', 'x/a')).toBe(true);
  });
});

const anp = (name: string, priority: number, body: string) => `apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: ${name}}
spec:
  priority: ${priority}
${body.replace(/^/gm, '  ')}
---
`;
const banp = (body: string) => `apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
${body.replace(/^/gm, '  ')}
---
`;

describe('admin tiers', () => {
  const toX = 'subject:\n  namespaces: {matchLabels: {ns: x}}';
  it('ANP Deny beats a NetworkPolicy allow; ANP Allow beats a NetworkPolicy deny', () => {
    const q = quickCompile(
      anp('deny-y', 10, `${toX}\ningress:\n- {action: Deny, from: [{namespaces: {matchLabels: {ns: y}}}]}`) +
        anp('allow-z', 20, `${toX}\ningress:\n- {action: Allow, from: [{namespaces: {matchLabels: {ns: z}}}]}`) +
        np('x', 'allow-y-only', 'podSelector: {}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: y}}'),
    );
    expect(q.allowed('y/a', 'x/a')).toBe(false);
    expect(q.allowed('z/a', 'x/a')).toBe(true);
    expect(q.allowed('x/b', 'x/a')).toBe(false);
  });
  it('lower priority number wins; Pass skips to NetworkPolicy', () => {
    const q = quickCompile(
      anp('pass-y', 5, `${toX}\ningress:\n- {action: Pass, from: [{namespaces: {matchLabels: {ns: y}}}]}`) +
        anp('deny-all', 50, `${toX}\ningress:\n- {action: Deny, from: [{namespaces: {}}]}`),
    );
    expect(q.allowed('y/a', 'x/a')).toBe(true); // passed, no NP, no BANP: default allow
    expect(q.allowed('z/a', 'x/a')).toBe(false);
  });
  it('BANP applies only when no NetworkPolicy selects the pod', () => {
    const q = quickCompile(
      banp(`${toX}\ningress:\n- {action: Deny, from: [{namespaces: {matchLabels: {ns: y}}}]}`) +
        np('x', 'allow-all-to-a', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- {}'),
    );
    expect(q.allowed('y/a', 'x/a')).toBe(true); // NP selects x/a
    expect(q.allowed('y/a', 'x/b')).toBe(false); // BANP
    expect(q.allowed('z/a', 'x/b')).toBe(true); // default allow
  });
  it('ANP networks and port ranges, egress', () => {
    const q = quickCompile(anp('egress', 1, `${toX}\negress:\n- {action: Deny, to: [{networks: [192.0.2.0/24]}], ports: [{portRange: {start: 1000, end: 2000}}]}`));
    expect(q.allowed('x/a', '192.0.2.7', 1500)).toBe(false);
    expect(q.allowed('x/a', '192.0.2.7', 2001)).toBe(true);
    expect(q.allowed('x/a', '198.51.100.1', 1500)).toBe(true);
  });
});

describe('explanations', () => {
  it('says which selector did not match and where the rule is', () => {
    const q = quickCompile(np('x', 'p', 'podSelector: {}\ningress:\n- from:\n  - namespaceSelector: {matchLabels: {ns: y}}\n    podSelector: {matchLabels: {pod: b}}'));
    const v = q.evaluator.evaluate({ source: q.endpoint('y/a'), destination: q.endpoint('x/a'), protocol: 'TCP', port: 80 });
    expect(v.allowed).toBe(false);
    expect(v.ingress.decision.kind).toBe('isolation');
    expect(v.ingress.checks[0].reasons).toEqual(['namespaceSelector matched y', 'podSelector pod=b did not match labels {pod: a}']);
    const where = q.compilation.sources.where(v.ingress.checks[0].rule.origins[0]);
    expect(where).toBe('policies.yaml:7:5'); // `- from:` of ingress[0]
  });
});
