// The policyc extension: a thin client. It starts the bundled language server (the
// `policyc lsp --stdio` command) and adds two commands on top of its custom requests.
// All intelligence is in the server.

import * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions } from 'vscode-languageclient/node';
import { explainFlow, reachability, SHOW_DETAILS_COMMAND, type ExplainFlowResult, type ReachabilityResult, type ShowDetailsArgs } from '../../lsp/protocol';

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const module = context.asAbsolutePath('dist/server.js');
  const options: LanguageClientOptions = {
    documentSelector: [{ language: 'yaml' }, { language: 'json' }, { language: 'policytest' }],
    synchronize: { configurationSection: 'policyc', fileEvents: vscode.workspace.createFileSystemWatcher('**/*.{yaml,yml,json,policytest}') },
    initializationOptions: { settings: vscode.workspace.getConfiguration('policyc') },
  };
  client = new LanguageClient('policyc', 'policyc', { module, transport: TransportKind.stdio }, options);
  const lsp = client;
  const output = vscode.window.createOutputChannel('policyc');
  const highlight = vscode.window.createTextEditorDecorationType({ isWholeLine: true, backgroundColor: new vscode.ThemeColor('editor.findMatchHighlightBackground') });

  const explain = async () => {
    const flow = await vscode.window.showInputBox({ prompt: 'Flow to explain', placeHolder: 'sandbox/debug -> payments/ledger-0 : grpc', value: context.workspaceState.get('policyc.flow') });
    if (!flow) return;
    await context.workspaceState.update('policyc.flow', flow);
    const result = await lsp.sendRequest<ExplainFlowResult>(explainFlow.method, { flow });
    if (result.verdicts.length === 0) return void vscode.window.showErrorMessage(`policyc: ${result.errors.map((e) => e.message).join('; ') || 'no flow'}`);
    output.clear();
    output.appendLine(result.verdicts.map((v) => v.text).join('\n\n'));
    const verdict = result.allowed === true ? 'ALLOWED' : result.allowed === false ? 'DENIED' : `mixed (${result.total} flows)`;
    const first = result.verdicts[0];
    const involved = first.locations.filter((l) => l.role !== 'candidate');
    for (const editor of vscode.window.visibleTextEditors) editor.setDecorations(highlight, []);
    const target = involved[0] ?? first.locations[0];
    if (target) {
      const editor = await vscode.window.showTextDocument(vscode.Uri.parse(target.uri));
      const ranges = involved.filter((l) => l.uri === target.uri).map((l) => lsp.protocol2CodeConverter.asRange(l.range));
      editor.setDecorations(highlight, ranges);
      editor.revealRange(lsp.protocol2CodeConverter.asRange(target.range), vscode.TextEditorRevealType.InCenter);
    }
    const why = first.ingress.allowed ? first.egress.summary : first.ingress.summary;
    const choice = await vscode.window.showInformationMessage(`${result.flow}: ${verdict}: ${why}`, 'Show explanation');
    if (choice) output.show(true);
  };

  const showMatrix = async () => {
    const port = await vscode.window.showInputBox({ prompt: 'Port (number or named port), optionally /UDP or /SCTP', value: '80' });
    if (!port) return;
    const [p, proto] = port.trim().split('/');
    const params = { port: /^\d+$/.test(p) ? Number(p) : p, protocol: (proto?.toUpperCase() ?? 'TCP') as 'TCP' | 'UDP' | 'SCTP' };
    const m = await lsp.sendRequest<ReachabilityResult>(reachability.method, params);
    if (m.error) return void vscode.window.showWarningMessage(`policyc: ${m.error}`);
    const cols = m.pods.map((_, i) => String(i + 1));
    const lines = [`# Reachability on ${m.port}/${m.protocol}`, '', 'Rows: from; columns: to (numbers below). ✓ allowed, · denied.', '', `| from \\ to | ${cols.join(' | ')} |`, `|---|${cols.map(() => ':-:').join('|')}|`];
    m.pods.forEach((pod, i) => lines.push(`| ${i + 1}. ${pod} | ${m.allowed[i].map((a) => (a ? '✓' : '·')).join(' | ')} |`));
    const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: `${lines.join('\n')}\n` });
    await vscode.window.showTextDocument(doc, { preview: true });
  };

  const showDetails = async (args: ShowDetailsArgs) => {
    await vscode.window.showQuickPick(args.items.length > 0 ? args.items : ['(none)'], { title: args.title, canPickMany: false });
  };

  context.subscriptions.push(
    output,
    highlight,
    vscode.commands.registerCommand('policyc.explainFlow', explain),
    vscode.commands.registerCommand('policyc.showReachability', showMatrix),
    vscode.commands.registerCommand(SHOW_DETAILS_COMMAND, showDetails),
  );
  await client.start();
}

export function deactivate(): Thenable<void> | undefined {
  return client?.stop();
}
