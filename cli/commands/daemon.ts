// `policyc daemon`: the long-running node agent (CNI server now, policy loading later).
import type { Command } from '../command.js';
import { exitCodes } from '../command.js';
import { DAEMON_USAGE, parseDaemonArgs } from '../../dataplane/daemon/options.js';
import { startDaemon } from '../../dataplane/daemon/start.js';

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
    const daemon = await startDaemon({ ...parsed.options, log: (msg) => io.stderr.write(`policyc daemon: ${msg}\n`) });
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
