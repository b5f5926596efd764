// `policyc daemon`: the long-running node agent (CNI server, endpoint registry, policy dataplane).
import type { Command } from '../command.js';
import { exitCodes } from '../command.js';
import { DAEMON_USAGE, parseDaemonArgs } from '../../dataplane/daemon/options.js';
import { startDaemon, type DaemonOptions } from '../../dataplane/daemon/start.js';
import { daemonDropSamples } from '../../dataplane/policy/nflog-reader.js';

export const command: Command = {
  name: 'daemon',
  summary: 'run the node daemon (CNI server, endpoint registry, policy dataplane)',
  usage: DAEMON_USAGE,
  async run(args, io) {
    const parsed = parseDaemonArgs(args);
    if ('error' in parsed) {
      io.stderr.write(`policyc daemon: ${parsed.error}\nusage: ${DAEMON_USAGE}\n`);
      return exitCodes.usage;
    }
    const log = (msg: string) => io.stderr.write(`policyc daemon: ${msg}\n`);
    const policyRuns = Boolean(parsed.options.artifactsDir || parsed.options.policy);
    // the NFLOG drop-sample reader, handed to the policy engine through the policy hook
    const dropSamples = policyRuns ? daemonDropSamples(parsed.dropSamples, parsed.options.hostNetns, log) : undefined;
    const options: DaemonOptions = { ...parsed.options, dropSamples, log };
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
