// Standalone entry for a spawned daemon (tests that kill -9 it, the lab):
//   node --import tsx dataplane/daemon/main.ts [options]   (or node dist/dataplane/daemon/main.js)
// Prints "ready <socket>" on stdout once the socket accepts requests.
import { DAEMON_USAGE, parseDaemonArgs } from './options.js';
import { startDaemon } from './start.js';

// --drop-samples is accepted and ignored here: the NFLOG reader is started by `policyc daemon`.
const parsed = parseDaemonArgs(process.argv.slice(2));
if ('error' in parsed) {
  process.stderr.write(`${parsed.error}\nusage: ${DAEMON_USAGE}\n`);
  process.exit(2);
}
const daemon = await startDaemon(parsed.options);
process.stdout.write(`ready ${daemon.socketPath}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void daemon.close().then(() => process.exit(0)));
}
