// Benchmark of the language server on a workspace of 1,000 policies (50 files of 20, about
// 30k lines) plus a 400-pod snapshot, generated in a temporary folder. Drives the compiled
// server (dist/lsp/main.js) over stdio like an editor and prints:
//   - time to first diagnostics: didOpen of one policy file -> its publishDiagnostics
//   - time to the whole workspace diagnosed
//   - re-diagnosis after an edit: didChange -> publishDiagnostics of that version
//     (with the default 10 ms debounce, and with none), plus the server's own compute time
//   - hover, completion and code lens (edit impact) latency
// Same-run baseline: yaml-language-server (lsp/bench/yls-baseline.ts) on the same workspace,
// edits alternating with ours; each figure is printed with its ratio ours/baseline. Without
// the install, the bench says how to install it and prints our figures only.
// Profile the server: POLICYC_LSP_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' npm run bench:lsp
// Targets: first diagnostics < 200 ms, re-diagnosis < 50 ms.
// Run: npm run bench:lsp   (tsc, then node dist/lsp/bench/bench-lsp.js)

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { REPO, TestClient } from '../test/client.js';
import { findYls, YLS_INSTALL_HINT, YlsClient } from './yls-baseline.js';

const SCHEMA = 'compiler/check/schema/networkpolicy.schema.json';

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

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** " | baseline <b> ms, ours/baseline <r>" when there is a baseline figure. */
function vs(ours: number, base: number | undefined): string {
  return base === undefined ? '' : ` | yaml-language-server ${base.toFixed(1)} ms, ours/baseline ${(ours / base).toFixed(3)}`;
}

function edited(text: string, k: number): string {
  return text.replace('port: 8000', `port: ${9000 + k}`);
}

/** Node arguments for the server process, e.g. POLICYC_LSP_NODE_ARGS=--cpu-prof to profile it. */
const SERVER_NODE_ARGS = (process.env.POLICYC_LSP_NODE_ARGS ?? '').split(' ').filter(Boolean);

interface Baseline {
  bin: string;
  version: string;
}

async function run(debounceMs: number, root: string, first: string, firstText: string, lines: number, yls: Baseline | undefined): Promise<void> {
  const t0 = performance.now();
  const client = await TestClient.start({ root, settings: { debounceMs }, command: [process.execPath, ...SERVER_NODE_ARGS, resolve(REPO, 'dist/lsp/main.js'), '--stdio'] });
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
  // The baseline starts once ours has diagnosed the workspace (as in an editor, each server
  // starts alone); from then on the two alternate.
  const t1 = performance.now();
  const base = yls ? await YlsClient.start(yls.bin, root, resolve(REPO, SCHEMA), '/policies/*.yaml') : undefined;
  const tInitBase = base ? performance.now() - t1 : undefined;
  let tFirstBase: number | undefined;
  if (base) {
    const wait = base.nextDiagnostics(uri);
    const t = performance.now();
    base.open(uri, firstText);
    await wait;
    tFirstBase = performance.now() - t;
  }
  console.log(`\n== debounce ${debounceMs} ms: ${FILES * PER_FILE} policies in ${FILES} files (${lines} lines) + 401 pods ==`);
  console.log(`server start (spawn -> initialize answered): ${tInit.toFixed(0)} ms${vs(tInit, tInitBase)}`);
  console.log(`time to first diagnostics (didOpen -> publishDiagnostics): ${tFirst.toFixed(1)} ms${vs(tFirst, tFirstBase)}`);
  console.log(`whole workspace diagnosed (didOpen -> all files published): ${tAll.toFixed(1)} ms (server compile+lint ${status.elapsedMs} ms; ${status.diagnostics} diagnostics)${base ? ' | yaml-language-server: n/a (validates open documents only)' : ''}`);
  // Warm-up edits, then measured ones; ours and the baseline alternate edit by edit, so both
  // see the same machine load.
  let version = 2;
  const times: number[] = [];
  const server: number[] = [];
  const baseTimes: number[] = [];
  for (let k = 0; k < 35; k++) {
    const text = edited(firstText, k);
    const v = version++;
    const wait = client.nextDiagnostics(uri, (p) => p.version === v);
    const gen = client.statuses.at(-1)!.generation;
    const t = performance.now();
    client.change(uri, text);
    await wait;
    const elapsed = performance.now() - t;
    await client.nextStatus(gen);
    if (k >= 5) {
      times.push(elapsed);
      server.push(client.statuses.at(-1)!.elapsedMs);
    }
    await new Promise((r) => setTimeout(r, 20));
    if (base) {
      const bwait = base.nextDiagnostics(uri);
      const bt = performance.now();
      base.change(uri, text);
      await bwait;
      if (k >= 5) baseTimes.push(performance.now() - bt);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  console.log(`re-diagnosis after an edit (didChange -> publishDiagnostics): ${stats(times)}${vs(median(times), base ? median(baseTimes) : undefined)}${base ? ' (medians)' : ''}`);
  if (base) console.log(`  yaml-language-server re-diagnosis: ${stats(baseTimes)} (includes its fixed 200 ms validation delay)`);
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
  await base?.stop();
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
  const yls = findYls();
  if (yls) console.log(`baseline: yaml-language-server ${yls.version} (${yls.bin}), same workspace, schema ${SCHEMA}, schemaStore off; measured interleaved with ours`);
  else console.log(`baseline: yaml-language-server not installed (install: ${YLS_INSTALL_HINT}); printing our figures only`);
  try {
    await run(10, root, first, firstText, lines, yls);
    await run(0, root, first, firstText, lines, yls);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
