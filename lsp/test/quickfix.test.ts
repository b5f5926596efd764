// Quick fixes, end to end: the real server proposes the fix for a diagnostic; the edits are
// applied to the text; the compiler and the lints run again on the result: the diagnostic is
// gone, and the reference evaluator confirms the meaning the fix promises.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient, type Published } from './client.js';
import { writeWorkspace, type Fixture } from './fixtures.js';
import { applyLspEdits, check, type LspTextEdit } from './helpers.js';

let fx: Fixture;
let client: TestClient;

beforeAll(async () => {
  fx = writeWorkspace();
  client = await TestClient.start({ root: fx.root });
  await client.nextStatus(0);
}, 60_000);

afterAll(async () => {
  expect(client.errors).toEqual([]);
  await client.stop();
});

interface Action {
  title: string;
  isPreferred?: boolean;
  diagnostics: Array<{ code: string }>;
  edit: { changes: Record<string, LspTextEdit[]> };
}

/** Opens the file, finds the diagnostic, asks for its fixes, applies the chosen one. */
async function fix(path: string, code: string, pick = 0): Promise<{ before: string; after: string; action: Action; edits: LspTextEdit[] }> {
  const uri = client.uri(path);
  const text = fx.texts[path];
  const published = client.nextDiagnostics(uri, (p: Published) => p.diagnostics.some((d) => d.code === code));
  client.open(uri, text);
  const diagnostic = (await published).diagnostics.find((d) => d.code === code)!;
  const actions = await client.request<Action[]>('textDocument/codeAction', {
    textDocument: { uri },
    range: diagnostic.range,
    context: { diagnostics: [diagnostic], only: ['quickfix'] },
  });
  const mine = actions.filter((a) => a.diagnostics.some((d) => d.code === code));
  expect(mine.length).toBeGreaterThan(pick);
  const action = mine[pick];
  const edits = action.edit.changes[uri];
  return { before: text, after: applyLspEdits(text, edits), action, edits };
}

function codesIn(texts: Record<string, string>, path: string): string[] {
  return check(texts).diagnostics.filter((d) => d.span?.file === path).map((d) => d.code);
}

describe('quick fixes fix meaning', () => {
  it('PC2001: merges the ORed peers into one; only pods matching both selectors are allowed', async () => {
    const path = 'policies/a-or-split.yaml';
    const { after, action } = await fix(path, 'PC2001');
    expect(action.isPreferred).toBe(true);
    const before = check(fx.texts);
    expect(before.allowed('client/cache-0', 'a/api-0', 8080)).toBe(true); // any pod of client (the OR)
    expect(before.allowed('a/web-0', 'a/api-0', 8080)).toBe(true); // web pods of a (the OR)
    const fixed = { ...fx.texts, [path]: after };
    expect(codesIn(fixed, path)).not.toContain('PC2001');
    expect(check(fixed).diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const now = check(fixed);
    expect(now.allowed('client/web-0', 'a/api-0', 8080)).toBe(true);
    expect(now.allowed('client/cache-0', 'a/api-0', 8080)).toBe(false);
    expect(now.allowed('a/web-0', 'a/api-0', 8080)).toBe(false);
    expect(after).toContain(`    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: client
      podSelector:
        matchLabels:
          app: web
    ports:`);
  });

  it('PC2002: sets policyTypes: [Egress]; ingress to the pods is no longer denied', async () => {
    const path = 'policies/b-egress-only.yaml';
    const { after } = await fix(path, 'PC2002');
    expect(check(fx.texts).allowed('b/cache-0', 'b/web-0', 8080)).toBe(false);
    const fixed = { ...fx.texts, [path]: after };
    expect(codesIn(fixed, path)).not.toContain('PC2002');
    expect(check(fixed).allowed('b/cache-0', 'b/web-0', 8080)).toBe(true);
    expect(check(fixed).allowed('b/web-0', 'b/api-0', 8080)).toBe(true);
    expect(check(fixed).allowed('b/web-0', 'b/cache-0', 6379)).toBe(false);
  });

  it('PC2002 (second fix): [Ingress, Egress] keeps the ingress isolation, explicitly', async () => {
    const path = 'policies/b-egress-only.yaml';
    const { after, action } = await fix(path, 'PC2002', 1);
    expect(action.title).toContain('Ingress, Egress');
    const fixed = { ...fx.texts, [path]: after };
    expect(codesIn(fixed, path)).not.toContain('PC2002');
    expect(check(fixed).allowed('b/cache-0', 'b/web-0', 8080)).toBe(false);
  });

  it('PC2004: adds the DNS egress rule; the pods reach kube-dns on UDP and TCP 53', async () => {
    const path = 'policies/b-egress-only.yaml';
    const { after } = await fix(path, 'PC2004');
    expect(check(fx.texts).egressAllowed('b/web-0', 'kube-system/coredns-0', 53, 'UDP')).toBe(false);
    const fixed = { ...fx.texts, [path]: after };
    expect(codesIn(fixed, path)).not.toContain('PC2004');
    const now = check(fixed);
    expect(now.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(now.egressAllowed('b/web-0', 'kube-system/coredns-0', 53, 'UDP')).toBe(true);
    expect(now.egressAllowed('b/web-0', 'kube-system/coredns-0', 53, 'TCP')).toBe(true);
    expect(now.egressAllowed('b/web-0', 'b/api-0', 8080)).toBe(true); // the existing rule still holds
    expect(now.egressAllowed('b/web-0', 'b/cache-0', 53, 'UDP')).toBe(false); // DNS to kube-dns only
  });

  it('PC2003: adds Egress to policyTypes; the egress rules now apply', async () => {
    const path = 'policies/c-ignored-egress.yaml';
    const { after } = await fix(path, 'PC2003');
    expect(check(fx.texts).allowed('c/web-0', 'c/cache-0', 6379)).toBe(true); // egress rules ignored
    const fixed = { ...fx.texts, [path]: after };
    expect(codesIn(fixed, path)).not.toContain('PC2003');
    expect(after).toContain('  policyTypes:\n  - Ingress\n  - Egress\n');
    const now = check(fixed);
    expect(now.allowed('c/web-0', 'c/cache-0', 6379)).toBe(false);
    expect(now.allowed('c/web-0', 'c/api-0', 8080)).toBe(true);
  });

  it('PC2010: writes protocol: TCP; nothing else changes', async () => {
    const path = 'policies/d-no-protocol.yaml';
    const { after, edits } = await fix(path, 'PC2010');
    expect(edits).toHaveLength(1);
    expect(after).toContain('    - protocol: TCP\n      port: 8080\n');
    const fixed = { ...fx.texts, [path]: after };
    expect(codesIn(fixed, path)).not.toContain('PC2010');
    const before = check(fx.texts);
    const now = check(fixed);
    for (const from of ['d/web-0', 'd/cache-0', 'client/web-0']) expect(now.allowed(from, 'd/api-0', 8080)).toBe(before.allowed(from, 'd/api-0', 8080));
  });

  it('PC2006 / PC2011: uses kubernetes.io/metadata.name; the namespace is now matched', async () => {
    const path = 'policies/e-name-label.yaml';
    const { after } = await fix(path, 'PC2006');
    expect(check(fx.texts).allowed('client/web-0', 'e/api-0', 8080)).toBe(false);
    const fixed = { ...fx.texts, [path]: after };
    const left = codesIn(fixed, path);
    expect(left).not.toContain('PC2006');
    expect(left).not.toContain('PC2011');
    expect(check(fixed).allowed('client/web-0', 'e/api-0', 8080)).toBe(true);
    const viaStatic = await fix(path, 'PC2011');
    expect(viaStatic.after).toBe(after);
  });
});
