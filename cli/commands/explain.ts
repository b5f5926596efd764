import { parseArgs } from 'node:util';
import { Evaluator } from '../../compiler/evaluate/evaluator.js';
import { renderVerdictText, reportVerdict } from '../../compiler/evaluate/explain.js';
import { resolveFlow } from '../../compiler/evaluate/resolve-flow.js';
import { parseFlow } from '../../compiler/flow/index.js';
import { exitCodes, type Command } from '../command.js';
import { loadAndCompile, splitFileArgs } from '../load.js';

export const command: Command = {
  name: 'explain',
  summary: 'Would this flow pass, and why: the verdict with the YAML lines responsible',
  usage: "policyc explain -f <file|dir>... '<src> -> <dst> [: <port>[/<proto>]]' [-o text|json]",
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { file: { type: 'string', short: 'f', multiple: true }, output: { type: 'string', short: 'o', default: 'text' } },
    });
    const flowText = positionals.join(' ').trim();
    if (!flowText || !values.file) {
      io.stderr.write(`usage: ${this.usage}\n`);
      return exitCodes.usage;
    }
    const parsed = parseFlow(flowText);
    if (!parsed.flow) {
      for (const e of parsed.errors) io.stderr.write(`flow:1:${e.start + 1}: error PC5001: ${e.message}\n  ${flowText}\n  ${' '.repeat(e.start)}${'^'.repeat(Math.max(1, e.end - e.start))}\n`);
      return exitCodes.usage;
    }
    const { compilation, ok } = loadAndCompile(splitFileArgs(values.file), io, { showWarnings: false });
    if (!ok || !compilation.program) return exitCodes.failed;
    const resolved = resolveFlow(parsed.flow, compilation.cluster, compilation.program);
    for (const e of resolved.errors) io.stderr.write(`flow:1:${e.start + 1}: error PC5002: ${e.message}\n`);
    if (resolved.flows.length === 0) return exitCodes.failed;
    const evaluator = new Evaluator(compilation.program, compilation.cluster);
    const reports = resolved.flows.map((f) => reportVerdict(compilation.sources, evaluator.evaluate(f)));
    if (values.output === 'json') io.stdout.write(`${JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2)}\n`);
    else io.stdout.write(`${reports.map(renderVerdictText).join('\n\n')}\n`);
    return resolved.errors.length > 0 ? exitCodes.failed : exitCodes.ok;
  },
};
