// Benchmark of the language server on a workspace of 1,000 policies (50 files of 20, about
// 30k lines) plus a 400-pod snapshot, generated in a temporary folder. Drives the compiled
// server (dist/lsp/main.js) over stdio like an editor and prints:
//   - time to first diagnostics: didOpen of one policy file -> its publishDiagnostics
//   - time to the whole workspace diagnosed
//   - re-diagnosis after an edit: didChange -> publishDiagnostics of that version
//     (with the default 10 ms debounce, and with none), plus the server's own compute time
//   - hover, completion and code lens (edit impact) latency
// Targets: first diagnostics < 200 ms, re-diagnosis < 50 ms.
// Run: npm run bench:lsp   (tsc, then node dist/lsp/bench/bench-lsp.js)

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { REPO, TestClient } from '../test/client.js';

const FILES = 50;
const PER_FILE = 20;
const NAMESPACES = 50;
const APPS = 8;

function policy(i: number): string {
  const ns = `ns-${i % NAMESPACES}`;
  const app = `app-${Math.floor(i / NAMESPACES) % APPS}`;
  const peerNs = `ns-${(i * 7 + 3) % NAMESPACES}`;
  const peerApp = `app-${(i * 3 + 1) % APPS}`;
  const dns = i % 2 === 0;
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: pol-${i}
  namespace: ${ns}
spec:
  podSelector:
    matchLabels:
      app: ${app}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: ${peerNs}
      podSelector:
        matchLabels:
          app: ${peerApp}
    ports:
    - protocol: TCP
      port: ${8000 + (i % 97)}
  egress:
  - to:
    - podSelector:
        matchLabels:
          app: app-${(i + 5) % APPS}
    ports:
    - protocol: TCP
      port: http
${dns ? `  - to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
    ports:
    - protocol: UDP
      port: 53
` : ''}`;
}

function snapshot(): string {
  const items: string[] = [];
  for (let n = 0; n < NAMESPACES; n++) items.push(`- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: ns-${n}\n    labels:\n      kubernetes.io/metadata.name: ns-${n}`);
  items.push('- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: kube-system');
  items.push('- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: coredns-0\n    namespace: kube-system\n    labels:\n      k8s-app: kube-dns\n  spec:\n    containers:\n    - name: dns\n      ports:\n      - {name: dns, containerPort: 53, protocol: UDP}\n  status:\n    podIP: 10.244.255.10');
  for (let n = 0; n < NAMESPACES; n++) {
    for (let a = 0; a < APPS; a++) {
      items.push(`- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: app-${a}-0\n    namespace: ns-${n}\n    labels:\n      app: app-${a}\n  spec:\n    containers:\n    - name: main\n      ports:\n      - {name: http, containerPort: 8080, protocol: TCP}\n  status:\n    podIP: 10.244.${n}.${a + 10}`);
    }
  }
  return `apiVersion: v1\nkind: List\nitems:\n${items.join('\n')}\n`;
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `median ${q(0.5).toFixed(1)} ms, p95 ${q(0.95).toFixed(1)} ms, max ${s[s.length - 1].toFixed(1)} ms (n=${s.length})`;
}

async function editLoop(client: TestClient, uri: string, text: string, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let k = 0; k < n; k++) {
    const edited = text.replace('port: 8000', `port: ${9000 + k}`);
    const t0 = performance.now();
    const wait = client.nextDiagnostics(uri, (p) => p.version === k + 2);
    client.change(uri, edited);
    await wait;
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 30));
  }
  return times;
}

async function run(debounceMs: number, root: string, first: string, firstText: string, lines: number): Promise<void> {
  const t0 = performance.now();
  const client = await TestClient.start({ root, settings: { debounceMs }, command: [process.execPath, resolve(REPO, 'dist/lsp/main.js'), '--stdio'] });
  const tInit = performance.now() - t0;
  const uri = client.uri(first);
  const firstDiag = client.nextDiagnostics(uri);
  const tOpen = performance.now();
  client.open(uri, firstText);
  await firstDiag;
  const tFirst = performance.now() - tOpen;
  await client.nextStatus(0);
  const tAll = performance.now() - tOpen;
  const status = client.statuses[0];
  console.log(`\n== debounce ${debounceMs} ms: ${FILES * PER_FILE} policies in ${FILES} files (${lines} lines) + 401 pods ==`);
  console.log(`server start (spawn -> initialize answered): ${tInit.toFixed(0)} ms`);
  console.log(`time to first diagnostics (didOpen -> publishDiagnostics): ${tFirst.toFixed(1)} ms`);
  console.log(`whole workspace diagnosed (didOpen -> all files published): ${tAll.toFixed(1)} ms (server compile+lint ${status.elapsedMs} ms; ${status.diagnostics} diagnostics)`);
  // Warm-up edits, then measured ones.
  await editLoop(client, uri, firstText, 5);
  const times: number[] = [];
  const server: number[] = [];
  let version = 7;
  for (let k = 0; k < 30; k++) {
    const edited = firstText.replace('port: 8000', `port: ${9100 + k}`);
    const v = version++;
    const wait = client.nextDiagnostics(uri, (p) => p.version === v);
    const gen = client.statuses.at(-1)!.generation;
    const t = performance.now();
    client.change(uri, edited);
    await wait;
    times.push(performance.now() - t);
    await client.nextStatus(gen);
    server.push(client.statuses.at(-1)!.elapsedMs);
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log(`re-diagnosis after an edit (didChange -> publishDiagnostics): ${stats(times)}`);
  console.log(`  of which server compile+lint: ${stats(server)}`);
  const timeRequest = async (method: string, params: unknown, n = 20) => {
    const xs: number[] = [];
    for (let k = 0; k < n; k++) {
      const t = performance.now();
      await client.request(method, params);
      xs.push(performance.now() - t);
    }
    return stats(xs);
  };
  console.log(`hover: ${await timeRequest('textDocument/hover', { textDocument: { uri }, position: { line: 15, character: 12 } })}`);
  console.log(`completion (label values): ${await timeRequest('textDocument/completion', { textDocument: { uri }, position: { line: 9, character: 11 } })}`);
  console.log(`code lens with edit impact: ${await timeRequest('textDocument/codeLens', { textDocument: { uri } }, 5)}`);
  console.log(`explain flow: ${await timeRequest('policyc/explainFlow', { flow: 'ns-3/app-1-0 -> ns-0/app-0-0 : 8000' }, 10)}`);
  if (client.errors.length) console.log('errors:', client.errors);
  await client.stop();
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'policyc-bench-lsp-'));
  let lines = 0;
  let first = '';
  let firstText = '';
  for (let f = 0; f < FILES; f++) {
    const text = Array.from({ length: PER_FILE }, (_, k) => policy(f * PER_FILE + k)).join('---\n');
    const path = `policies/p${String(f).padStart(2, '0')}.yaml`;
    mkdirSync(join(root, 'policies'), { recursive: true });
    writeFileSync(join(root, path), text);
    lines += text.split('\n').length;
    if (f === 0) [first, firstText] = [path, text];
  }
  writeFileSync(join(root, 'snapshot.yaml'), snapshot());
  try {
    await run(10, root, first, firstText, lines);
    await run(0, root, first, firstText, lines);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
