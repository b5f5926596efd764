// No kernel: cluster state (endpoint overlay, incremental changes, the one-pod detection),
// artifact checks, element normalization, metrics text.
import { describe, expect, it } from 'vitest';
import { fixConcatDeletes } from './apply.js';
import { parseArtifact } from './artifact.js';
import { ClusterState } from './cluster-state.js';
import { clusterState, POLICIES_A, relabel } from './fixtures.js';
import { elementKey } from './kernel-model.js';
import { escapeLabel, Histogram, parseMetrics, renderMetrics, ruleCounters, ruleCountersOfRows } from './metrics.js';
import { parseCounterLines } from './rule-counters.js';
import { parseDropPrefix } from './nflog.js';
import { compileArtifact, pod, resealed } from './testing.js';

describe('ClusterState', () => {
  it('merges endpoint IPs over API IPs and adds endpoint-only pods', () => {
    const s = new ClusterState();
    s.apply(clusterState());
    s.setEndpoints([
      { containerId: 'a', ifname: 'eth0', namespace: 'x', podName: 'db', ips: ['10.99.0.50/32'] },
      { containerId: 'b', ifname: 'eth0', namespace: 'y', podName: 'new', ips: ['10.99.0.51/32', 'fd00::51/128'] },
      // the API still says api1 has .11, but another pod's endpoint holds it now
      { containerId: 'c', ifname: 'eth0', namespace: 'x', podName: 'reuse', ips: ['10.99.0.11/32'] },
    ]);
    const c = s.cluster();
    const byKey = new Map(c.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
    expect(byKey.get('x/db')!.ips).toEqual(['10.99.0.50']);
    expect(byKey.get('y/new')).toMatchObject({ labels: {}, ips: ['10.99.0.51', 'fd00::51'] });
    expect(byKey.get('x/api1')!.ips).toEqual([]);
    expect(byKey.get('x/reuse')!.ips).toEqual(['10.99.0.11']);
    expect(c.namespaces.get('y')!.labels).toEqual({ 'kubernetes.io/metadata.name': 'y' });
    expect(c.pods.map((p) => `${p.namespace}/${p.name}`)).toEqual([...byKey.keys()].sort());
  });

  it('reports a pure relabel and patches the cached cluster; anything else rebuilds', () => {
    const s = new ClusterState();
    s.apply(clusterState());
    const before = s.cluster();
    const g = s.generation;
    const change = s.apply(relabel('web1', { role: 'api' }));
    expect(change.relabeled).toHaveLength(1);
    expect(change.relabeled![0].before.labels).toEqual({ role: 'web' });
    expect(s.cluster()).toBe(before);
    expect(s.cluster().pods.find((p) => p.name === 'web1')!.labels).toEqual({ role: 'api' });
    expect(s.generation).toBe(g + 1);
    // an address change is not a relabel
    expect(s.apply({ upsert: [pod('x', 'web1', { role: 'api' }, '10.99.0.99')] }).relabeled).toBeUndefined();
    expect(s.cluster().pods.find((p) => p.name === 'web1')!.ips).toEqual(['10.99.0.99']);
    // a namespace change is not either, nor a delete
    expect(s.apply({ upsert: [{ kind: 'Namespace', metadata: { name: 'x', labels: { a: 'b' } } }] }).relabeled).toBeUndefined();
    expect(s.apply({ delete: [{ kind: 'Pod', namespace: 'x', name: 'web2' }] }).pods).toEqual(['x/web2']);
    expect(s.cluster().pods.some((p) => p.name === 'web2')).toBe(false);
  });

  it('refuses a malformed change without applying any of it', () => {
    const s = new ClusterState();
    s.apply(clusterState());
    const g = s.generation;
    expect(() => s.apply({ upsert: [pod('x', 'db', { app: 'x' }, '10.99.0.10'), { kind: 'Service', metadata: { name: 's' } }] })).toThrow(/cannot upsert kind "Service"/);
    expect(s.generation).toBe(g);
    expect(s.cluster().pods.find((p) => p.name === 'db')!.labels).toEqual({ app: 'db' });
    expect(() => s.apply({ pods: 'nope' })).toThrow(/must be an array/);
    expect(() => s.apply(42)).toThrow();
  });
});

describe('parseArtifact', () => {
  const A = compileArtifact(POLICIES_A);
  it('accepts a compiled artifact and maps cookies to rule ids', () => {
    const r = parseArtifact(A);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.artifact.table).toBe('policyc');
    expect([...r.artifact.rules.values()].map((x) => x.id).sort()).toEqual(['anp/no-web-to-db/ingress/0', 'np/x/db-from-api/ingress/0']);
    expect(r.artifact.skeleton.some((c) => 'delete' in c)).toBe(false);
  });
  it('refuses what could touch anything but its own table', () => {
    const nft = JSON.parse(A['nftables.json']);
    const other = JSON.parse(JSON.stringify(nft));
    other.nftables.push({ add: { table: { family: 'inet', name: 'other' } } });
    expect(parseArtifact(resealed(A, 'nftables.json', JSON.stringify(other)))).toMatchObject({ ok: false, reason: expect.stringMatching(/two tables/) });
    const ip = JSON.parse(JSON.stringify(nft));
    ip.nftables.push({ add: { table: { family: 'ip', name: 'policyc' } } });
    expect(parseArtifact(resealed(A, 'nftables.json', JSON.stringify(ip)))).toMatchObject({ ok: false, reason: expect.stringMatching(/not for an inet table/) });
    const del = JSON.parse(JSON.stringify(nft));
    del.nftables.push({ delete: { chain: { family: 'inet', table: 'policyc', name: 'forward' } } });
    expect(parseArtifact(resealed(A, 'nftables.json', JSON.stringify(del)))).toMatchObject({ ok: false, reason: expect.stringMatching(/not allowed/) });
    expect(parseArtifact(resealed(A, 'program.json', '{"formatVersion": 2}'))).toMatchObject({ ok: false, reason: expect.stringMatching(/format-1 Program/) });
    expect(parseArtifact({ ...A, 'manifest.json': A['manifest.json'].replace('"formatVersion": 1', '"formatVersion": 9') })).toMatchObject({ ok: false, reason: expect.stringMatching(/format version 9/) });
  });
});

describe('element normalization', () => {
  it('compares emitted elements with nft listings', () => {
    const id = { key: 'ipv4_addr', value: 'classid' };
    expect(elementKey(id, [{ range: ['0.0.0.0', '10.0.0.255'] }, 2411152786])).toBe(elementKey(id, [{ range: ['0.0.0.0', '10.0.0.255'] }, '8fb7:4592']));
    expect(elementKey(id, [{ prefix: { addr: '10.0.0.0', len: 24 } }, 1])).toBe(elementKey(id, [{ range: ['10.0.0.0', '10.0.0.255'] }, 1]));
    const dec = { key: ['classid', 'mark', 'inet_proto', 'inet_service'], value: 'verdict' };
    expect(elementKey(dec, [{ concat: [65537, 7, 6, 80] }, { goto: { target: 'allow_1' } }])).toBe(elementKey(dec, [{ concat: ['1:1', 7, 'tcp', 80] }, { goto: { target: 'allow_1' } }]));
  });
  it('rewrites concatenated deletes as ranges (nft 1.0.6 workaround)', () => {
    const doc = fixConcatDeletes({
      nftables: [
        { delete: { element: { family: 'inet', table: 't', name: 'egress_ports', elem: [[{ concat: [1, { range: [0, 5] }, 80] }, { goto: { target: 'x' } }]] } } },
        { delete: { element: { family: 'inet', table: 't', name: 'egress_pairs', elem: [[{ concat: [1, 2] }, 7]] } } },
      ],
    } as any);
    expect((doc.nftables[0] as any).delete.element.elem[0][0].concat).toEqual([{ range: [1, 1] }, { range: [0, 5] }, { range: [80, 80] }]);
    // the pair maps have exact keys: a range there would be refused
    expect((doc.nftables[1] as any).delete.element.elem[0][0].concat).toEqual([1, 2]);
  });
});

describe('metrics', () => {
  it('renders parseable exposition text with per-rule counters', () => {
    const h = new Histogram();
    h.observe(0.004);
    h.observe(0.2);
    const listing = {
      nftables: [
        { rule: { chain: 'drop_0000002a', comment: 'r1', expr: [{ counter: { packets: 5, bytes: 300 } }, { drop: null }] } },
        { rule: { chain: 'allow_0000002b', expr: [{ counter: { packets: 7, bytes: 400 } }, { return: null }] } },
        { rule: { chain: 'drop_isolated_ingress', expr: [{ counter: { packets: 2, bytes: 1 } }, { drop: null }] } },
        { rule: { chain: 'drop_0000002a', expr: [{ limit: { rate: 10 } }, { log: { prefix: 'x' } }] } },
      ],
    };
    const rules = new Map([
      [42, { id: 'anp/x/ingress/0', cookie: 42, policy: 'AdminNetworkPolicy "x"', action: 'deny', direction: 'ingress' }],
      [43, { id: 'np/ns/y/ingress/0', cookie: 43, policy: 'NetworkPolicy ns/y', action: 'allow', direction: 'ingress' }],
    ]);
    const text = renderMetrics({
      policies: 2,
      groups: 3,
      rules: 4,
      setElements: 10,
      endpoints: 1,
      ready: true,
      applyDuration: new Map([['full', h]]),
      applies: new Map([['full', 2]]),
      applyErrors: new Map([['kernel-refused', 1]]),
      counters: ruleCounters(listing, rules),
      lastError: { reason: 'kernel-refused', message: 'nft said "no"\nreally', at: new Date(1000) },
    });
    const s = parseMetrics(text);
    const v = (name: string, l: Record<string, string> = {}) => s.find((x) => x.name === name && Object.entries(l).every(([k, val]) => x.labels[k] === val))?.value;
    expect(v('policyc_drops_total', { rule_id: 'anp/x/ingress/0', policy: 'AdminNetworkPolicy "x"' })).toBe(5);
    expect(v('policyc_allows_total', { rule_id: 'np/ns/y/ingress/0' })).toBe(7);
    expect(v('policyc_drops_total', { rule_id: 'isolated:ingress' })).toBe(2);
    expect(v('policyc_apply_duration_seconds_bucket', { kind: 'full', le: '0.005' })).toBe(1);
    expect(v('policyc_apply_duration_seconds_bucket', { kind: 'full', le: '+Inf' })).toBe(2);
    expect(v('policyc_last_error_info', { reason: 'kernel-refused', message: 'nft said "no"\nreally' })).toBe(1);
    expect(escapeLabel('a"b\\c\n')).toBe('a\\"b\\\\c\\n');
    // the helper's rule dump (rule-counters.ts) gives the same counters as the listing, hence the same text
    const dumped = parseCounterLines('drop_0000002a\t5\t300\tr1\nallow_0000002b\t7\t400\t\ndrop_isolated_ingress\t2\t1\t\n');
    expect(ruleCountersOfRows(dumped, rules)).toEqual(ruleCounters(listing, rules));
    // a cookie rules.json does not know: the rule's comment, else the cookie, both ways
    const unknown = { nftables: [{ rule: { chain: 'drop_0000002c', comment: 'from comment', expr: [{ counter: { packets: 1, bytes: 2 } }] } }, { rule: { chain: 'allow_0000002d', expr: [{ counter: { packets: 3, bytes: 4 } }] } }] };
    const unknownRows = parseCounterLines('drop_0000002c\t1\t2\tfrom comment\nallow_0000002d\t3\t4\t\n');
    expect(ruleCountersOfRows(unknownRows, rules)).toEqual(ruleCounters(unknown, rules));
    expect(ruleCountersOfRows(unknownRows, rules).map((c) => c.ruleId)).toEqual(['from comment', 'cookie:0000002d']);
    expect(() => parseMetrics('bad line here\n')).toThrow();
  });
  it('counts helper starts per helper (restarts show as more than one), only for helpers in use', () => {
    const base = { policies: 0, groups: 0, rules: 0, setElements: 0, endpoints: 0, ready: true, applyDuration: new Map(), applyErrors: new Map(), applies: new Map() } as const;
    const text = renderMetrics({ ...base, helperStarts: { nft: 1, conntrack: 3 } });
    expect(text).toContain('# TYPE policyc_helper_starts_total counter\n');
    expect(text).toMatch(/^# HELP policyc_helper_starts_total \S.*$/m);
    const starts = parseMetrics(text).filter((x) => x.name === 'policyc_helper_starts_total');
    expect(starts).toEqual([
      { name: 'policyc_helper_starts_total', labels: { helper: 'nft' }, value: 1 },
      { name: 'policyc_helper_starts_total', labels: { helper: 'conntrack' }, value: 3 },
    ]);
    // nft per batch (no policyc-nft) and no flusher: no sample, no HELP/TYPE without samples
    for (const none of [renderMetrics({ ...base, helperStarts: { nft: undefined, conntrack: undefined } }), renderMetrics(base)]) expect(none).not.toContain('policyc_helper_starts_total');
  });
  it('parses drop-sample prefixes', () => {
    expect(parseDropPrefix('policyc drop 914b76f3 anp/no-web-to-db/ingress/0 ')).toMatchObject({ cookie: '914b76f3', ruleId: 'anp/no-web-to-db/ingress/0' });
    expect(parseDropPrefix('policyc drop isolated egress ')).toMatchObject({ isolated: 'egress' });
    expect(parseDropPrefix('something else')).toBeUndefined();
  });
});
