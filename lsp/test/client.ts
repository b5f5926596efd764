// Drives a real server process over stdio with vscode-jsonrpc, as an editor would. Used by
// the tests (server started from source with tsx) and the benchmark (compiled dist/).

import { spawn, type ChildProcess } from 'node:child_process';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node.js';

const up = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The repository root, whether this file runs from source (lsp/test) or compiled (dist/lsp/test). */
export const REPO = basename(up) === 'dist' ? dirname(up) : up;

export interface Published {
  uri: string;
  version?: number;
  diagnostics: Array<{ range: { start: { line: number; character: number }; end: { line: number; character: number } }; code?: string | number; message: string; severity?: number; tags?: number[]; relatedInformation?: unknown[]; data?: unknown }>;
}

export interface StartOptions {
  root: string;
  settings?: Record<string, unknown>;
  /** Command and args; default: the `policyc lsp --stdio` command from source, with tsx. */
  command?: string[];
  capabilities?: Record<string, unknown>;
}

type Waiter = { match: (p: Published) => boolean; resolve: (p: Published) => void };

export class TestClient {
  readonly published: Published[] = [];
  readonly statuses: Array<{ generation: number; elapsedMs: number; files: number; policies: number; diagnostics: number }> = [];
  readonly errors: string[] = [];
  stderr = '';
  private waiters: Waiter[] = [];
  private statusWaiters: Array<{ after: number; resolve: () => void }> = [];
  private versions = new Map<string, number>();

  private constructor(
    readonly child: ChildProcess,
    readonly connection: MessageConnection,
    readonly root: string,
  ) {}

  static async start(options: StartOptions): Promise<TestClient> {
    const [cmd, ...args] = options.command ?? [process.execPath, '--import', 'tsx', resolve(REPO, 'lsp/test/cli-entry.ts'), 'lsp', '--stdio'];
    const child = spawn(cmd, args, { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    const client = new TestClient(child, connection, options.root);
    child.stderr!.on('data', (d) => (client.stderr += String(d)));
    connection.onError(([err]) => client.errors.push(String(err)));
    connection.onNotification('textDocument/publishDiagnostics', (p: Published) => {
      client.published.push(p);
      client.waiters = client.waiters.filter((w) => {
        if (!w.match(p)) return true;
        w.resolve(p);
        return false;
      });
    });
    connection.onNotification('policyc/status', (s) => {
      client.statuses.push(s);
      client.statusWaiters = client.statusWaiters.filter((w) => {
        if (s.generation <= w.after) return true;
        w.resolve();
        return false;
      });
    });
    connection.onNotification('window/logMessage', (m: { message: string }) => client.errors.push(`log: ${m.message}`));
    connection.onRequest('workspace/configuration', () => [options.settings ?? {}]);
    connection.onRequest('client/registerCapability', () => null);
    connection.onRequest('workspace/codeLens/refresh', () => null);
    connection.listen();
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`server exited with ${code} before answering initialize; stderr: ${client.stderr}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([exited, connection.sendRequest('initialize', {
      processId: process.pid,
      rootUri: pathToFileURL(options.root).href,
      workspaceFolders: [{ uri: pathToFileURL(options.root).href, name: 'ws' }],
      capabilities: options.capabilities ?? { workspace: { configuration: true } },
      initializationOptions: { settings: options.settings ?? {} },
    })]);
    connection.sendNotification('initialized', {});
    return client;
  }

  uri(relative: string): string {
    return pathToFileURL(resolve(this.root, relative)).href;
  }

  /** Resolves with the next publishDiagnostics for `uri` (after this call) that passes `match`. */
  nextDiagnostics(uri: string, match: (p: Published) => boolean = () => true, timeoutMs = 20_000): Promise<Published> {
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`no diagnostics for ${uri} within ${timeoutMs} ms; stderr: ${this.stderr}; errors: ${this.errors.join('; ')}`)), timeoutMs);
      this.waiters.push({
        match: (p) => p.uri === uri && match(p),
        resolve: (p) => {
          clearTimeout(timer);
          resolvePromise(p);
        },
      });
    });
  }

  /** The latest diagnostics published for a URI. */
  latest(uri: string): Published | undefined {
    for (let i = this.published.length - 1; i >= 0; i--) if (this.published[i].uri === uri) return this.published[i];
    return undefined;
  }

  /** Resolves after a whole-workspace diagnosis newer than generation `after` (default: the latest seen). */
  nextStatus(after = this.statuses.at(-1)?.generation ?? 0, timeoutMs = 20_000): Promise<void> {
    return new Promise((resolvePromise, reject) => {
      if (this.statuses.some((s) => s.generation > after)) return resolvePromise();
      const timer = setTimeout(() => reject(new Error(`no status within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      this.statusWaiters.push({
        after,
        resolve: () => {
          clearTimeout(timer);
          resolvePromise();
        },
      });
    });
  }

  open(uri: string, text: string, languageId = 'yaml'): void {
    this.versions.set(uri, 1);
    this.connection.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId, version: 1, text } });
  }

  /** Replaces the whole text (a valid change under incremental sync); returns the new version. */
  change(uri: string, text: string): number {
    const version = (this.versions.get(uri) ?? 1) + 1;
    this.versions.set(uri, version);
    this.connection.sendNotification('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [{ text }] });
    return version;
  }

  /** An incremental edit: replace a range. */
  edit(uri: string, range: { start: { line: number; character: number }; end: { line: number; character: number } }, text: string): number {
    const version = (this.versions.get(uri) ?? 1) + 1;
    this.versions.set(uri, version);
    this.connection.sendNotification('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [{ range, text }] });
    return version;
  }

  request<R>(method: string, params: unknown): Promise<R> {
    return this.connection.sendRequest(method, params) as Promise<R>;
  }

  async stop(): Promise<number | null> {
    const exited = new Promise<number | null>((r) => this.child.once('exit', (code) => r(code)));
    try {
      await Promise.race([this.connection.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 2000))]);
      this.connection.sendNotification('exit');
    } catch {
      // already gone
    }
    const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
    if (code === null) this.child.kill();
    this.connection.dispose();
    return code;
  }
}

/** Position of the first occurrence of `needle` (plus `delta` characters) in `text`. */
export function positionOf(text: string, needle: string, delta = 0, occurrence = 0): { line: number; character: number } {
  let index = -1;
  for (let i = 0; i <= occurrence; i++) index = text.indexOf(needle, index + 1);
  if (index < 0) throw new Error(`${needle} not found`);
  const offset = index + delta;
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  return { line, character: offset - (before.lastIndexOf('\n') + 1) };
}
