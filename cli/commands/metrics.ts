// `policyc metrics`: the node daemon's Prometheus text (policy counts, apply durations, errors,
// per-rule allow/drop counters read from the kernel).
import { parseArgs } from 'node:util';
import { exitCodes, type Command } from '../command.js';
import { DEFAULT_SOCKET } from '../../dataplane/daemon/start.js';
import { daemonRequest } from '../../dataplane/policy/client.js';

export const command: Command = {
  name: 'metrics',
  summary: 'the node daemon metrics in Prometheus text format',
  usage: `policyc metrics [--socket PATH (default ${DEFAULT_SOCKET})]`,
  async run(args, io) {
    let values;
    try {
      ({ values } = parseArgs({ args, options: { socket: { type: 'string', default: DEFAULT_SOCKET } } }));
    } catch (err) {
      io.stderr.write(`policyc metrics: ${(err as Error).message}\nusage: ${this.usage}\n`);
      return exitCodes.usage;
    }
    let r: any;
    try {
      r = await daemonRequest(values.socket!, { type: 'metrics' }, 30_000);
    } catch (err) {
      io.stderr.write(`policyc metrics: cannot reach the daemon at ${values.socket}: ${(err as Error).message}\n`);
      return exitCodes.failed;
    }
    if (typeof r?.text !== 'string') {
      io.stderr.write(`policyc metrics: ${r?.error ?? 'unexpected reply'}\n`);
      return exitCodes.failed;
    }
    io.stdout.write(r.text);
    return exitCodes.ok;
  },
};
