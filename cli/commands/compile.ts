import { parseArgs } from 'node:util';
import { buildArtifact } from '../../compiler/emit/artifact.js';
import { DEFAULT_LIMITS } from '../../compiler/emit/limits.js';
import { runBackends } from '../../compiler/emit/backends.js';
import { exitCodes, type Command } from '../command.js';
import { loadAndCompile, splitFileArgs } from '../load.js';
import { renderDiagnostics, type DiagnosticFormat } from '../render-diagnostics.js';
import { writeArtifact } from '../write-artifact.js';

export const command: Command = {
  name: 'compile',
  summary: 'Check policies and write the artifact: nftables ruleset, rule map, groups, manifest',
  usage: 'policyc compile -f <file|dir>... -o <dir> [--format text|json|sarif] [--table NAME] [--node NAME] [--max-elements N]\n  --node NAME  with a snapshot: the table that node loads (decisions for its own pods only; address maps stay cluster-wide)',
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        file: { type: 'string', short: 'f', multiple: true },
        output: { type: 'string', short: 'o' },
        format: { type: 'string', default: 'text' },
        table: { type: 'string', default: 'policyc' },
        node: { type: 'string' },
        quiet: { type: 'boolean', short: 'q', default: false },
        'max-elements': { type: 'string', default: String(DEFAULT_LIMITS.maxDecisionElements) },
      },
    });
    const format = values.format as DiagnosticFormat;
    const files = [...splitFileArgs(values.file), ...positionals];
    if (files.length === 0 || !['text', 'json', 'sarif'].includes(format)) {
      io.stderr.write(`usage: ${this.usage}\n`);
      return exitCodes.usage;
    }
    const progress = io.stderr.isTTY && !values.quiet ? (msg: string) => io.stderr.write(`\r\u001b[2K${msg}`) : () => {};
    progress('reading and checking...');
    const started = performance.now();
    const { compilation, ok } = loadAndCompile(files, io, { format, showWarnings: !values.quiet });
    progress('');
    // Machine-readable diagnostics on stdout, also when everything is fine (an empty list).
    if (format !== 'text') io.stdout.write(`${renderDiagnostics(compilation.diagnostics, compilation.sources, format)}\n`);
    if (!ok || !compilation.program) return exitCodes.failed;
    if (!values.output) {
      if (format === 'text') io.stderr.write('policyc: no errors (give -o <dir> to write the artifact)\n');
      return exitCodes.ok;
    }
    if (values.node !== undefined && !compilation.hasSnapshot) {
      io.stderr.write('policyc compile: --node needs a cluster snapshot (Pods with spec.nodeName) among the inputs\n');
      return exitCodes.usage;
    }
    if (values.node !== undefined && !compilation.cluster.pods.some((p) => p.node === values.node) && !compilation.cluster.nodes.some((n) => n.name === values.node)) {
      io.stderr.write(`policyc compile: no Node and no pod of the snapshot is on node ${JSON.stringify(values.node)}\n`);
      return exitCodes.failed;
    }
    progress('lowering...');
    const maxElements = Number(values['max-elements']);
    const backends = runBackends(compilation, { table: values.table!, node: values.node, limits: { maxDecisionElements: maxElements, maxIdentityElements: Math.max(maxElements, DEFAULT_LIMITS.maxIdentityElements) } });
    if (backends.diagnostics.length > 0) {
      progress('');
      io.stderr.write(`${renderDiagnostics(backends.diagnostics, compilation.sources, 'text', !!io.stderr.isTTY)}\npolicyc: dataplane limits exceeded; nothing was emitted\n`);
      return exitCodes.failed;
    }
    const artifact = buildArtifact(compilation.program, compilation.sources, backends.outputs, { withSnapshot: compilation.hasSnapshot, generator: 'policyc 0.1.0', node: values.node });
    const written = writeArtifact(values.output, artifact);
    progress('');
    if (format === 'text' && !values.quiet) {
      const c = artifact.manifest.counts;
      const ms = Math.round(performance.now() - started);
      io.stderr.write(`policyc: wrote ${written.length} files to ${values.output} in ${ms} ms: ${Object.entries(c).map(([k, v]) => `${v} ${k}`).join(', ')}\n`);
    }
    return exitCodes.ok;
  },
};
