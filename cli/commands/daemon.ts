// `policyc daemon`: the long-running node agent (CNI server now, policy loading later).
import type { Command } from '../command.js';
import { exitCodes } from '../command.js';
import { DAEMON_USAGE, parseDaemonArgs } from '../../dataplane/daemon/options.js';
import { NODE_NAME_USAGE, startDaemon, takeNodeName, type DaemonOptions } from '../../dataplane/daemon/start.js';
import { daemonDropSamples } from '../../dataplane/policy/nflog-reader.js';
import type { DropSampleSource } from '../../dataplane/policy/nflog.js';

const USAGE = `${DAEMON_USAGE} [--drop-samples on|off (default on when policyc-nflog is built)] ${NODE_NAME_USAGE}`;

/** Takes `--drop-samples on|off` (NFLOG drop samples, dataplane/policy/nflog-reader.ts) out of args. */
function takeDropSamples(args: string[]): { rest: string[]; on?: boolean } | { error: string } {
  const rest: string[] = [];
  let on: boolean | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg !== '--drop-samples' && !arg.startsWith('--drop-samples=')) {
      rest.push(arg);
      continue;
    }
    const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : args[++i];
    const parsed = value === undefined ? undefined : { on: true, true: true, off: false, false: false }[value];
    if (parsed === undefined) return { error: '--drop-samples takes on|off or true|false' };
    on = parsed;
  }
  return { rest, on };
}

export const command: Command = {
  name: 'daemon',
  summary: 'run the node daemon (CNI server, endpoint registry, policy dataplane)',
  usage: USAGE,
  async run(args, io) {
    const node = takeNodeName(args);
    const samples = 'error' in node ? node : takeDropSamples(node.rest);
    const parsed = 'error' in samples ? samples : parseDaemonArgs(samples.rest);
    if ('error' in parsed) {
      io.stderr.write(`policyc daemon: ${parsed.error}\nusage: ${USAGE}\n`);
      return exitCodes.usage;
    }
    const log = (msg: string) => io.stderr.write(`policyc daemon: ${msg}\n`);
    const policyRuns = Boolean(parsed.options.artifactsDir || parsed.options.policy);
    const dropSamples = policyRuns && !('error' in samples) ? daemonDropSamples(samples.on, parsed.options.hostNetns, log) : undefined;
    // handed to the policy engine (EngineOptions.dropSamples) through the policy hook
    // --node-name (or env NODE_NAME): node-local policy tables (dataplane/policy/engine.ts)
    const nodeName = 'error' in node ? undefined : node.nodeName;
    const options: DaemonOptions = { ...parsed.options, dropSamples, log, ...(nodeName ? { nodeName } : {}) };
    const daemon = await startDaemon(options);
    if (dropSamples && dropSamples.state === 'idle') log('drop samples: the NFLOG reader did not start');
    io.stderr.write(`policyc daemon: listening on ${daemon.socketPath}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await daemon.close();
    return exitCodes.ok;
  },
};
