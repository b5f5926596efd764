// The same-run baseline of bench-lsp.ts: yaml-language-server (the reference the issue names),
// driven over stdio on the same generated workspace, validating the policy files against our
// local NetworkPolicy JSON schema (no network: schemaStore and the CRD store are disabled).
// Not a dependency of the repository: install it outside, e.g.
//   npm install --prefix /tmp/ylsbase yaml-language-server@1.25.0
// (1.25.0 is the newest that runs on Node 20; 2.x needs Node >= 22.13), or point
// POLICYC_YLS_BIN at its bin/yaml-language-server.
//
// Note: yaml-language-server waits a fixed 200 ms (validationDelayMs, not configurable) after
// didOpen/didChange before validating; its figures include that delay, as an editor sees them.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node.js';

export const YLS_INSTALL_HINT = 'npm install --prefix /tmp/ylsbase yaml-language-server@1.25.0  (or set POLICYC_YLS_BIN)';

/** The yaml-language-server entry script, when installed. */
export function findYls(): { bin: string; version: string } | undefined {
  const bin = process.env.POLICYC_YLS_BIN ?? '/tmp/ylsbase/node_modules/.bin/yaml-language-server';
  if (!existsSync(bin)) return undefined;
  const real = realpathSync(bin);
  let version = '?';
  try {
    version = (JSON.parse(readFileSync(resolve(dirname(real), '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // unknown version
  }
  return { bin: real, version };
}

interface Published {
  uri: string;
  version?: number;
  diagnostics: Array<{ message: string }>;
}

export class YlsClient {
  private waiters: Array<{ uri: string; resolve: (p: Published) => void }> = [];
  private versions = new Map<string, number>();
  stderr = '';

  private constructor(
    readonly child: ChildProcess,
    readonly connection: MessageConnection,
  ) {}

  static async start(bin: string, root: string, schemaPath: string, fileGlob: string): Promise<YlsClient> {
    const child = spawn(process.execPath, [bin, '--stdio'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    const client = new YlsClient(child, connection);
    child.stderr!.on('data', (d) => (client.stderr += String(d)));
    const yaml = {
      validate: true,
      hover: true,
      completion: true,
      schemas: { [pathToFileURL(schemaPath).href]: [fileGlob] },
      schemaStore: { enable: false, url: '' },
      kubernetesCRDStore: { enable: false, url: '' },
    };
    let configured!: () => void;
    const configuredP = new Promise<void>((r) => (configured = r));
    connection.onRequest('workspace/configuration', (params: { items: Array<{ section?: string }> }) => {
      const answer = params.items.map((i) => (i.section === 'yaml' ? yaml : i.section === 'http' ? { proxy: '', proxyStrictSSL: false } : {}));
      setTimeout(configured, 50);
      return answer;
    });
    connection.onRequest('client/registerCapability', () => null);
    connection.onRequest('client/unregisterCapability', () => null);
    connection.onRequest('window/workDoneProgress/create', () => null);
    connection.onNotification('textDocument/publishDiagnostics', (p: Published) => {
      client.waiters = client.waiters.filter((w) => {
        if (w.uri !== p.uri) return true;
        w.resolve(p);
        return false;
      });
    });
    connection.listen();
    await connection.sendRequest('initialize', {
      processId: process.pid,
      rootUri: pathToFileURL(root).href,
      workspaceFolders: [{ uri: pathToFileURL(root).href, name: 'ws' }],
      capabilities: { workspace: { configuration: true, didChangeConfiguration: { dynamicRegistration: false } }, textDocument: { publishDiagnostics: { versionSupport: true } } },
      initializationOptions: {},
    });
    connection.sendNotification('initialized', {});
    connection.sendNotification('workspace/didChangeConfiguration', { settings: { yaml } });
    await Promise.race([configuredP, new Promise((_, reject) => setTimeout(() => reject(new Error(`yaml-language-server never pulled its configuration; stderr: ${client.stderr}`)), 20_000))]);
    return client;
  }

  /** The next publishDiagnostics for `uri` after this call. */
  nextDiagnostics(uri: string, timeoutMs = 60_000): Promise<Published> {
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`yaml-language-server: no diagnostics for ${uri}; stderr: ${this.stderr}`)), timeoutMs);
      this.waiters.push({
        uri,
        resolve: (p) => {
          clearTimeout(timer);
          resolvePromise(p);
        },
      });
    });
  }

  open(uri: string, text: string): void {
    this.versions.set(uri, 1);
    this.connection.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'yaml', version: 1, text } });
  }

  change(uri: string, text: string): void {
    const version = (this.versions.get(uri) ?? 1) + 1;
    this.versions.set(uri, version);
    this.connection.sendNotification('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [{ text }] });
  }

  async stop(): Promise<void> {
    try {
      await Promise.race([this.connection.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 2000))]);
      this.connection.sendNotification('exit');
    } catch {
      // gone
    }
    await Promise.race([new Promise((r) => this.child.once('exit', r)), new Promise((r) => setTimeout(r, 3000))]);
    if (this.child.exitCode === null) this.child.kill();
    this.connection.dispose();
  }
}
