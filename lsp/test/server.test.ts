// The language server as an editor sees it: a real process on stdio, driven with
// vscode-jsonrpc (initialize, didOpen, didChange, publishDiagnostics, hover, codeLens,
// completion, the custom requests), on a temporary workspace with a cluster snapshot.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExplainFlowResult, ReachabilityResult } from '../protocol.js';
import { positionOf, REPO as REPO_ROOT, TestClient } from './client.js';
import { writeWorkspace, type Fixture } from './fixtures.js';

let fx: Fixture;
let client: TestClient;

interface Hover {
  contents: { kind: string; value: string };
  range: { start: { line: number } };
}
interface Lens {
  range: { start: { line: number } };
  command: { title: string; command: string; arguments: Array<{ title: string; items: string[] }> };
}

beforeAll(async () => {
  fx = writeWorkspace();
  client = await TestClient.start({ root: fx.root });
  await client.nextStatus(0);
}, 60_000);

afterAll(async () => {
  expect(client.errors).toEqual([]);
  expect(await client.stop()).toBe(0);
});

async function hover(path: string, needle: string, delta = 0, occurrence = 0): Promise<string> {
  const h = await client.request<Hover | null>('textDocument/hover', { textDocument: { uri: client.uri(path) }, position: positionOf(fx.texts[path], needle, delta, occurrence) });
  return h?.contents.value ?? '';
}

describe('diagnostics', () => {
  it('publishes the whole workspace after initialization, without documents being opened', () => {
    const byFile = (path: string) => client.latest(client.uri(path))?.diagnostics.map((d) => d.code) ?? [];
    expect(byFile('policies/a-or-split.yaml')).toEqual(['PC2001']);
    expect(byFile('policies/b-egress-only.yaml').sort()).toEqual(['PC2002', 'PC2004']);
    expect(byFile('policies/f-redundant.yaml')).toEqual(['PC2007']);
    expect(byFile('policies/g-named-port.yaml').sort()).toEqual(['PC2005', 'PC2006']);
    expect(byFile('policies/h-ipblock.yaml')).toEqual(['PC2012']);
    expect(byFile('cluster.yaml')).toEqual([]);
  });

  it('leaves documents that are not policies alone', () => {
    expect(client.latest(client.uri('compose.yaml'))).toBeUndefined();
    expect(client.latest(client.uri('deploy/shop.yaml'))).toBeUndefined();
  });

  it('reports exact ranges, related information and the unnecessary tag', () => {
    const a = client.latest(client.uri('policies/a-or-split.yaml'))!.diagnostics[0];
    // The podSelector-only item (line 16, `podSelector:` after the dash), related: the namespaceSelector item.
    expect(a.range.start).toEqual(positionOf(fx.texts['policies/a-or-split.yaml'], 'podSelector:\n        matchLabels:\n          app: web'));
    expect(a.severity).toBe(2);
    expect(a.relatedInformation).toHaveLength(1);
    const f = client.latest(client.uri('policies/f-redundant.yaml'))!.diagnostics[0];
    expect(f.tags).toEqual([1]);
    expect(f.severity).toBe(4);
    expect(f.range.start.line).toBe(16);
  });

  it('re-diagnoses on didChange, with the new version, and on an edit of another file', async () => {
    const path = 'policies/d-no-protocol.yaml';
    const uri = client.uri(path);
    client.open(uri, fx.texts[path]);
    const broken = fx.texts[path].replace('port: 8080', 'port: 8080\n      endPort: 80');
    const next = client.nextDiagnostics(uri, (p) => p.version === 2);
    client.change(uri, broken);
    const published = await next;
    expect(published.diagnostics.map((d) => d.code)).toContain('PC1103');
    const back = client.nextDiagnostics(uri, (p) => p.version === 3);
    client.change(uri, fx.texts[path]);
    expect((await back).diagnostics.map((d) => d.code)).toEqual(['PC2010']);
  });

  it('reports duplicates across files as they appear and disappear', async () => {
    const uri = client.uri('policies/z-dup.yaml');
    const dup = fx.texts['policies/d-no-protocol.yaml'].replace('- port: 8080', '- port: 8080\n      protocol: TCP');
    const published = client.nextDiagnostics(uri);
    client.open(uri, dup);
    expect((await published).diagnostics.map((d) => d.code)).toContain('PC2008');
    const cleared = client.nextDiagnostics(uri, (p) => p.diagnostics.length === 0);
    client.connection.sendNotification('textDocument/didClose', { textDocument: { uri } });
    await cleared;
  });

  it('runs .policytest files: syntax errors and failing expectations, with related locations', () => {
    const diagnostics = client.latest(client.uri('tests/a.policytest'))!.diagnostics;
    const byCode = Object.fromEntries(diagnostics.map((d) => [String(d.code), d]));
    expect(Object.keys(byCode).sort()).toEqual(['PC5003', 'PC5004']);
    expect(byCode.PC5003.range.start.line).toBe(4); // deny client/cache-0 -> a/api-0 : 8080 fails: the OR-split allows it
    expect(byCode.PC5003.message).toContain('allowed');
    expect(byCode.PC5003.relatedInformation?.length).toBeGreaterThan(0);
    expect(byCode.PC5004.range.start.line).toBe(5);
  });
});

describe('hover', () => {
  it('explains `ingress: []` as deny-all and `ingress: [{}]` as allow-all', async () => {
    const path = 'policies/i-allow-deny.yaml';
    expect(await hover(path, 'ingress: []')).toMatch(/denies all ingress/);
    expect(await hover(path, '- {}')).toMatch(/allows all ingress/);
  });

  it('explains an empty podSelector, with the pods it selects', async () => {
    const text = await hover('policies/i-allow-deny.yaml', 'podSelector: {}');
    expect(text).toContain('every pod in namespace `i`');
    expect(text).toContain('3 pods');
    expect(text).toContain('`i/web-0`');
  });

  it('explains ORed peers and a peer with both selectors', async () => {
    const path = 'policies/a-or-split.yaml';
    const peer = await hover(path, 'podSelector:\n        matchLabels:\n          app: web');
    expect(peer).toContain("in this policy's namespace `a`");
    expect(peer).toContain('`a/web-0`');
    const rule = await hover(path, 'from:');
    expect(rule).toContain('any of 2 peers (ORed)');
  });

  it('explains the policy, its isolation and a named port', async () => {
    const policy = await hover('policies/b-egress-only.yaml', 'name: web-egress');
    expect(policy).toMatch(/isolates them for \*\*ingress and egress\*\*/);
    expect(policy).toContain('policyTypes omitted');
    const port = await hover('policies/g-named-port.yaml', 'port: metrics');
    expect(port).toContain('named `metrics`');
    expect(port).toContain('`g/api-0`: not defined');
  });

  it('explains AdminNetworkPolicy rules', async () => {
    const path = 'policies/anp.yaml';
    const text = `apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata:
  name: guard
spec:
  priority: 5
  subject:
    namespaces:
      matchLabels:
        kubernetes.io/metadata.name: a
  ingress:
  - name: no-cache
    action: Deny
    from:
    - pods:
        namespaceSelector: {}
        podSelector:
          matchLabels:
            app: cache
`;
    fx.texts[path] = text;
    const uri = client.uri(path);
    const published = client.nextDiagnostics(uri);
    client.open(uri, text);
    await published;
    expect(await hover(path, 'action: Deny')).toMatch(/\*\*denies\*\* \(no NetworkPolicy can allow it\)/);
    expect(await hover(path, 'name: guard')).toContain('Priority 5');
    expect(await hover(path, 'app: cache')).toContain('10 pods'); // a cache-0 in each of the 10 namespaces
    client.connection.sendNotification('textDocument/didClose', { textDocument: { uri } });
  });

  it('has nothing to say outside policies', async () => {
    const h = await client.request('textDocument/hover', { textDocument: { uri: client.uri('compose.yaml') }, position: { line: 1, character: 3 } });
    expect(h).toBeNull();
  });
});

describe('code lens', () => {
  it('shows how many pods each policy selects and what it isolates', async () => {
    const lenses = await client.request<Lens[]>('textDocument/codeLens', { textDocument: { uri: client.uri('policies/i-allow-deny.yaml') } });
    expect(lenses.map((l) => l.command.title)).toEqual(['selects 3 pods · isolates ingress', 'selects 1 pod · isolates ingress']);
    expect(lenses[0].command.command).toBe('policyc.showDetails');
    expect(lenses[0].command.arguments[0].items).toEqual(['i/api-0', 'i/cache-0', 'i/web-0']);
    expect(lenses[1].range.start.line).toBe(10);
  });

  it('shows the impact of an edit: flows now allowed and now blocked', async () => {
    const path = 'policies/d-no-protocol.yaml';
    const uri = client.uri(path);
    // Allow every pod of d (not only web) to reach the api: cache-0 and api-0 itself gain access.
    const edited = fx.texts[path].replace('    - podSelector:\n        matchLabels:\n          app: web\n', '    - podSelector: {}\n');
    const next = client.nextDiagnostics(uri, (p) => p.version !== undefined && p.version >= 4);
    client.change(uri, fx.texts[path].replace('xx', 'xx'));
    client.change(uri, edited);
    await next;
    const lenses = await client.request<Lens[]>('textDocument/codeLens', { textDocument: { uri } });
    const impact = lenses.find((l) => l.command.title.startsWith('edit:'))!;
    expect(impact.command.title).toBe('edit: now allows 2 flows');
    expect(impact.command.arguments[0].items).toEqual(['now allowed: d/api-0 -> d/api-0 : 8080/TCP', 'now allowed: d/cache-0 -> d/api-0 : 8080/TCP']);
    // Narrow it instead: no pod may reach the api any more.
    const narrowed = fx.texts[path].replace('app: web', 'app: nobody');
    const again = client.nextDiagnostics(uri, (p) => p.version !== undefined && p.version >= 5);
    client.change(uri, narrowed);
    await again;
    const after = await client.request<Lens[]>('textDocument/codeLens', { textDocument: { uri } });
    expect(after.find((l) => l.command.title.startsWith('edit:'))!.command.title).toBe('edit: blocks 1');
    expect(after.find((l) => l.command.title.startsWith('edit:'))!.command.arguments[0].items).toEqual(['now blocked: d/web-0 -> d/api-0 : 8080/TCP']);
    client.change(uri, fx.texts[path]);
  });
});

describe('completion', () => {
  interface Item {
    label: string;
  }
  async function complete(text: string, marker = '|'): Promise<string[]> {
    const uri = client.uri('policies/new.yaml');
    const offset = text.indexOf(marker);
    const clean = text.replace(marker, '');
    client.open(uri, clean);
    const items = await client.request<Item[]>('textDocument/completion', { textDocument: { uri }, position: positionAt(clean, offset) });
    client.connection.sendNotification('textDocument/didClose', { textDocument: { uri } });
    return items.map((i) => i.label);
  }
  function positionAt(text: string, offset: number) {
    const before = text.slice(0, offset);
    return { line: before.split('\n').length - 1, character: offset - (before.lastIndexOf('\n') + 1) };
  }

  it('offers schema keys by YAML path', async () => {
    expect(await complete('apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nspec:\n  |')).toEqual(['podSelector', 'ingress', 'egress', 'policyTypes']);
    expect(await complete('kind: NetworkPolicy\nspec:\n  ingress:\n  - ports:\n    - protocol: |')).toEqual(['TCP', 'UDP', 'SCTP']);
  });

  it('offers label keys and values from the snapshot and manifests', async () => {
    const keys = await complete('kind: NetworkPolicy\nspec:\n  podSelector:\n    matchLabels:\n      |');
    expect(keys).toContain('app');
    expect(keys).toContain('tier'); // from the Deployment's pod template
    const values = await complete('kind: NetworkPolicy\nspec:\n  podSelector:\n    matchLabels:\n      app: |');
    expect(values.slice(0, 3).sort()).toEqual(['api', 'cache', 'web']);
    expect(values).toContain('shop');
    const nsKeys = await complete('kind: NetworkPolicy\nspec:\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n          |');
    expect(nsKeys).toEqual(['kubernetes.io/metadata.name']);
  });
});

describe('custom requests', () => {
  it('policyc/explainFlow: verdict and the locations of every rule and policy involved', async () => {
    const result = await client.request<ExplainFlowResult>('policyc/explainFlow', { flow: 'client/cache-0 -> a/api-0 : 8080' });
    expect(result.errors).toEqual([]);
    expect(result.allowed).toBe(true);
    const [v] = result.verdicts;
    expect(v.ingress.summary).toContain('NetworkPolicy a/api-from-client-web ingress[0]');
    const decided = v.locations.find((l) => l.role === 'decided')!;
    expect(decided.uri).toBe(client.uri('policies/a-or-split.yaml'));
    expect(decided.range.start.line).toBe(11); // `- from:` of the rule
    expect(v.locations.some((l) => l.role === 'isolated' && l.range.start.line === 0)).toBe(true);
    const denied = await client.request<ExplainFlowResult>('policyc/explainFlow', { flow: 'e/web-0 -> client/web-0 : 8080' });
    expect(denied.allowed).toBe(true);
    const bad = await client.request<ExplainFlowResult>('policyc/explainFlow', { flow: 'client/web-0 -> ' });
    expect(bad.verdicts).toEqual([]);
    expect(bad.errors.length).toBeGreaterThan(0);
    const unknown = await client.request<ExplainFlowResult>('policyc/explainFlow', { flow: 'nope/x -> a/api-0' });
    expect(unknown.errors[0].message).toContain('no pod nope/x');
  });

  it('policyc/reachability: the matrix over the snapshot pods', async () => {
    const m = await client.request<ReachabilityResult>('policyc/reachability', { port: 8080 });
    expect(m.error).toBeUndefined();
    expect(m.pods).toHaveLength(31);
    const at = (from: string, to: string) => m.allowed[m.pods.indexOf(from)][m.pods.indexOf(to)];
    expect(at('client/cache-0', 'a/api-0')).toBe(true);
    expect(at('e/web-0', 'e/api-0')).toBe(false);
    const named = await client.request<ReachabilityResult>('policyc/reachability', { port: 'http' });
    expect(named.pods).toHaveLength(31);
    const bad = await client.request<ReachabilityResult>('policyc/reachability', { port: 0 });
    expect(bad.error).toBeDefined();
  });
});

describe('the lsp command', () => {
  it('asks for --stdio and speaks nothing on stdout without it', async () => {
    const { command } = await import('../../cli/commands/lsp.js');
    let out = '';
    let err = '';
    const io = { stdout: { write: (s: string) => ((out += s), true) }, stderr: { write: (s: string) => ((err += s), true) }, cwd: REPO_ROOT };
    expect(await command.run([], io as never)).toBe(2);
    expect(out).toBe('');
    expect(err).toContain('policyc lsp --stdio');
  });

  it('publishes diagnostics for a document opened before the workspace is read', async () => {
    const fx2 = writeWorkspace(['policies/a-or-split.yaml']);
    const c = await TestClient.start({ root: fx2.root });
    const uri = c.uri('policies/a-or-split.yaml');
    const first = c.nextDiagnostics(uri);
    c.open(uri, fx2.texts['policies/a-or-split.yaml']);
    expect((await first).diagnostics.map((d) => d.code)).toEqual(['PC2001']);
    await c.nextStatus(0);
    expect(c.errors).toEqual([]);
    expect(await c.stop()).toBe(0);
  }, 30_000);
});
