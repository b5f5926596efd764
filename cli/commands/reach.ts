import { parseArgs } from 'node:util';
import { Evaluator } from '../../compiler/evaluate/evaluator.js';
import { computeReach } from '../../compiler/evaluate/reach.js';
import type { Protocol } from '../../compiler/model/k8s-types.js';
import { renderReachSvg } from '../render-reach-svg.js';
import { renderReachText } from '../render-reach-text.js';
import { exitCodes, type Command } from '../command.js';
import { loadAndCompile, splitFileArgs } from '../load.js';

export const command: Command = {
  name: 'reach',
  summary: 'Reachability matrix over every pod of the snapshot (rows = from, columns = to)',
  usage: 'policyc reach -f <file|dir>... --port <number|name> [--protocol TCP|UDP|SCTP] [--family 4|6] [-o text|json|svg]',
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        file: { type: 'string', short: 'f', multiple: true },
        port: { type: 'string', short: 'p' },
        protocol: { type: 'string', default: 'TCP' },
        family: { type: 'string' },
        output: { type: 'string', short: 'o', default: 'text' },
      },
    });
    const protocol = values.protocol!.toUpperCase();
    if (!values.port || !['TCP', 'UDP', 'SCTP'].includes(protocol) || !['text', 'json', 'svg'].includes(values.output!) || (values.family !== undefined && !['4', '6'].includes(values.family))) {
      io.stderr.write(`usage: ${this.usage}\n`);
      return exitCodes.usage;
    }
    const { compilation, ok } = loadAndCompile([...splitFileArgs(values.file), ...positionals], io, { showWarnings: false });
    if (!ok || !compilation.program) return exitCodes.failed;
    if (compilation.cluster.pods.length === 0) {
      io.stderr.write('policyc reach: no pods: give a cluster snapshot (kubectl get namespaces,pods -A -o yaml) with -f\n');
      return exitCodes.failed;
    }
    const port = /^\d+$/.test(values.port) ? Number(values.port) : values.port;
    // --family: each pod's address of that family (pods without one reach nothing); unset: as before
    const family = values.family === undefined ? undefined : (Number(values.family) as 4 | 6);
    const evaluator = new Evaluator(compilation.program, compilation.cluster);
    const matrix = computeReach(evaluator, port, protocol as Protocol, evaluator.cluster.pods, family);
    if (values.output === 'json') io.stdout.write(`${JSON.stringify({ pods: matrix.pods, allowed: matrix.allowed })}\n`);
    else if (values.output === 'svg') io.stdout.write(renderReachSvg(matrix, `${values.port}/${protocol}`));
    else io.stdout.write(`${renderReachText(matrix)}\n`);
    return exitCodes.ok;
  },
};
