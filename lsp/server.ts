// The policyc language server: wires each feature (lsp/features/*) to the connection. All
// intelligence is in the compiler and the feature files; this file only keeps the workspace
// in sync with the editor and schedules diagnosis.
//
// Invariants: the server never writes to stdout except the protocol (lsp/stdio.ts); no
// handler lets an exception out (lsp/safe.ts); documents that hold no policies or cluster
// objects get nothing.

import {
  CodeActionKind,
  CodeLensRefreshRequest,
  DidChangeWatchedFilesNotification,
  TextDocuments,
  TextDocumentSyncKind,
  type Connection,
  type InitializeParams,
  type InitializeResult,
} from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { SourceFile } from '../compiler/syntax/source.js';
import type { Analysis } from './analysis/analysis.js';
import { LabelCache } from './completion/label-cache.js';
import { codeActions } from './features/code-actions.js';
import { codeLenses } from './features/code-lens.js';
import { completionsAt } from './features/completion.js';
import { DiagnosticsPublisher, toLspDiagnostic } from './features/diagnostics.js';
import { explainFlow } from './features/explain-flow.js';
import { hoverAt } from './features/hover.js';
import { PolicyTestRunner } from './features/policytest.js';
import { reachabilityMatrix } from './features/reachability.js';
import { roleOf, uriToPath } from './files.js';
import { toOffset, type SpanResolver } from './positions.js';
import { explainFlow as explainFlowRequest, reachability as reachabilityRequest, status, type ExplainFlowParams, type ReachabilityParams, type StatusParams } from './protocol.js';
import { guard } from './safe.js';
import { parseSettings, Workspace } from './workspace.js';

export const SERVER_VERSION = '0.1.0';

export function startServer(connection: Connection): void {
  const workspace = new Workspace();
  const documents = new TextDocuments(TextDocument);
  const publisher = new DiagnosticsPublisher(connection);
  const tests = new PolicyTestRunner(workspace);
  const labels = new LabelCache(workspace);
  const force = new Set<string>();
  /** The diagnostics (compiler objects) last published per URI: unchanged files are skipped cheaply. */
  const lastSent = new Map<string, readonly unknown[]>();
  const sameObjects = (a: readonly unknown[] | undefined, b: readonly unknown[]) => !!a && a.length === b.length && a.every((x, i) => x === b[i]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let canPullConfig = false;
  let canRefreshLenses = false;
  let canWatchFiles = false;

  const resolverFor = (analysis: Analysis): SpanResolver => ({
    uriOf: (name) => workspace.uriOf(name),
    fileOf: (name) => analysis.compilation.sources.get(name),
  });

  /** The compiled SourceFile of a document (same object the analysis's spans refer to). */
  const compiledFile = (analysis: Analysis, uri: string): SourceFile | undefined => analysis.compilation.sources.get(workspace.nameOf(uri));

  const publishAll = () => {
    timer = undefined;
    const analysis = workspace.current();
    const resolver = resolverFor(analysis);
    const keep = new Set<string>();
    let count = 0;
    for (const uri of workspace.compiledUris()) {
      const file = compiledFile(analysis, uri);
      if (!file) continue;
      keep.add(uri);
      const found = analysis.byFile.get(file.name) ?? [];
      count += found.length;
      if (!force.has(uri) && sameObjects(lastSent.get(uri), found)) continue;
      lastSent.set(uri, found);
      const diagnostics = found.map((d) => toLspDiagnostic(d, file, resolver));
      publisher.publish(uri, diagnostics, workspace.version(uri), force.has(uri));
    }
    for (const uri of workspace.policyTestUris()) {
      const diagnostics = tests.run(uri);
      count += diagnostics.length;
      publisher.publish(uri, diagnostics, workspace.version(uri), force.has(uri));
      keep.add(uri);
    }
    publisher.clearOthers(keep);
    for (const uri of lastSent.keys()) if (!keep.has(uri)) lastSent.delete(uri);
    force.clear();
    const params: StatusParams = {
      generation: analysis.generation,
      files: analysis.compilation.sources.all().length,
      policies: analysis.compilation.inputs.policies.length,
      pods: analysis.compilation.cluster.pods.length,
      diagnostics: count,
      elapsedMs: Math.round((analysis.elapsedMs.compile + analysis.elapsedMs.lint) * 10) / 10,
    };
    void connection.sendNotification(status.method, params);
    if (canRefreshLenses) connection.sendRequest(CodeLensRefreshRequest.type).catch(() => undefined);
  };
  const diagnoseNow = () => {
    try {
      publishAll();
    } catch (err) {
      connection.console.error(`policyc: diagnosis failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  };
  const schedule = (uri?: string) => {
    if (uri) force.add(uri);
    if (!workspace.loaded) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(diagnoseNow, workspace.settings.debounceMs);
  };

  /** Before the workspace is read: diagnose the opened document alone, so the editor shows something at once. */
  const diagnoseAlone = (uri: string) => {
    const role = workspace.roleOfUri(uri);
    if (role === 'policytest') {
      publisher.publish(uri, tests.run(uri), workspace.version(uri), true);
      return;
    }
    if (role !== 'policy' && role !== 'cluster') return;
    const file = workspace.sourceFile(uri);
    if (!file) return;
    const compilation = workspace.compiler.compile([file]);
    const resolver = { uriOf: (name: string) => workspace.uriOf(name), fileOf: (name: string) => compilation.sources.get(name) };
    const diagnostics = compilation.diagnostics.filter((d) => d.span?.file === file.name).map((d) => toLspDiagnostic(d, file, resolver));
    publisher.publish(uri, diagnostics, workspace.version(uri), true);
  };

  const pullSettings = async () => {
    if (!canPullConfig) return;
    try {
      const raw = await connection.workspace.getConfiguration('policyc');
      if (raw) workspace.settings = parseSettings(raw);
    } catch {
      // the client cannot answer: keep what we have
    }
  };

  connection.onInitialize((params: InitializeParams): InitializeResult => {
    const folders = (params.workspaceFolders ?? []).map((f) => uriToPath(f.uri)).filter((p): p is string => !!p);
    if (folders.length === 0 && params.rootUri) {
      const root = uriToPath(params.rootUri);
      if (root) folders.push(root);
    }
    if (folders.length === 0 && params.rootPath) folders.push(params.rootPath);
    workspace.setFolders(folders);
    const init = params.initializationOptions as { settings?: unknown } | undefined;
    workspace.settings = parseSettings(init?.settings ?? init);
    canPullConfig = !!params.capabilities.workspace?.configuration;
    canRefreshLenses = !!params.capabilities.workspace?.codeLens?.refreshSupport;
    canWatchFiles = !!params.capabilities.workspace?.didChangeWatchedFiles?.dynamicRegistration;
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, save: { includeText: false } },
        hoverProvider: true,
        codeLensProvider: { resolveProvider: false },
        codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
        completionProvider: { triggerCharacters: [':', ' ', '-', '[', ','] },
      },
      serverInfo: { name: 'policyc', version: SERVER_VERSION },
    };
  });

  connection.onInitialized(
    guard(connection, 'initialized', undefined, async () => {
      if (canWatchFiles) {
        void connection.client.register(DidChangeWatchedFilesNotification.type, { watchers: [{ globPattern: '**/*.{yaml,yml,json,policytest}' }] }).catch(() => undefined);
      }
      await pullSettings();
      await workspace.load();
      for (const doc of documents.all()) force.add(doc.uri);
      diagnoseNow();
    }),
  );

  documents.onDidOpen((e) => {
    try {
      workspace.openDocument(e.document.uri, e.document.getText(), e.document.version);
      if (workspace.loaded) schedule(e.document.uri);
      else {
        force.add(e.document.uri);
        diagnoseAlone(e.document.uri);
      }
    } catch (err) {
      connection.console.error(`policyc: open failed: ${String(err)}`);
    }
  });
  documents.onDidChangeContent((e) => {
    const uri = e.document.uri;
    if (workspace.text(uri) === e.document.getText() && workspace.version(uri) === e.document.version) return;
    workspace.changeDocument(uri, e.document.getText(), e.document.version);
    schedule(uri);
  });
  documents.onDidSave((e) => workspace.saveDocument(e.document.uri));
  documents.onDidClose((e) => {
    workspace.closeDocument(e.document.uri);
    tests.forget(e.document.uri);
    schedule();
  });

  connection.onDidChangeConfiguration(
    guard(connection, 'configuration', undefined, async (change) => {
      const before = JSON.stringify(workspace.settings.snapshotPaths);
      const fromPush = (change?.settings as { policyc?: unknown } | undefined)?.policyc;
      if (fromPush) workspace.settings = parseSettings(fromPush);
      else await pullSettings();
      if (JSON.stringify(workspace.settings.snapshotPaths) !== before && workspace.loaded) await workspace.load();
      workspace.touch();
      schedule();
    }),
  );

  connection.onDidChangeWatchedFiles(
    guard(connection, 'watched files', undefined, async (params) => {
      for (const change of params.changes) if (!workspace.isOpen(change.uri)) await workspace.refreshFromDisk(change.uri);
      schedule();
    }),
  );

  connection.onHover(
    guard(connection, 'hover', null, (params) => {
      const analysis = workspace.current();
      const file = compiledFile(analysis, params.textDocument.uri);
      return file ? hoverAt(analysis, file, toOffset(file, params.position)) : null;
    }),
  );

  connection.onCodeLens(
    guard(connection, 'code lens', [], (params) => {
      const analysis = workspace.current();
      const file = compiledFile(analysis, params.textDocument.uri);
      return file ? codeLenses(analysis, file, workspace.baselines.get(params.textDocument.uri)) : [];
    }),
  );

  connection.onCodeAction(
    guard(connection, 'code action', [], (params) => {
      const analysis = workspace.current();
      const uri = params.textDocument.uri;
      const file = compiledFile(analysis, uri);
      return file ? codeActions(analysis, file, uri, params.range, resolverFor(analysis)) : [];
    }),
  );

  connection.onCompletion(
    guard(connection, 'completion', [], (params) => {
      const uri = params.textDocument.uri;
      const text = workspace.text(uri);
      if (text === undefined || uri.endsWith('.policytest')) return [];
      // Policy documents, and new ones that do not say yet what they are.
      if (roleOf(text) !== 'policy' && /^\s*kind\s*:\s*\S/m.test(text)) return [];
      const analysis = workspace.current();
      const file = workspace.sourceFile(uri)!;
      return completionsAt(file, toOffset(file, params.position), labels.get(analysis.compilation.cluster));
    }),
  );

  connection.onRequest(
    explainFlowRequest.method,
    guard(connection, 'explainFlow', { errors: [{ message: 'internal error', start: 0, end: 0 }], verdicts: [], total: 0 }, (params: ExplainFlowParams) => {
      const analysis = workspace.current();
      return explainFlow(analysis, params, resolverFor(analysis));
    }),
  );

  connection.onRequest(
    reachabilityRequest.method,
    guard(connection, 'reachability', { port: '', protocol: 'TCP', pods: [], allowed: [], error: 'internal error' }, (params: ReachabilityParams) => reachabilityMatrix(workspace.current(), params)),
  );

  connection.onShutdown(() => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  });

  documents.listen(connection);
}
