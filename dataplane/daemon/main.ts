// Standalone entry for a spawned daemon (tests that kill -9 it, the lab):
//   node --import tsx dataplane/daemon/main.ts [options]   (or node dist/dataplane/daemon/main.js)
// Prints "ready <socket>" on stdout once the socket accepts requests.
import { DAEMON_USAGE, parseDaemonArgs } from './options.js';
import { NODE_NAME_USAGE, startDaemon, takeNodeName } from './start.js';

const node = takeNodeName(process.argv.slice(2));
const parsed = 'error' in node ? node : parseDaemonArgs(node.rest);
if ('error' in parsed) {
  process.stderr.write(`${parsed.error}\nusage: ${DAEMON_USAGE} ${NODE_NAME_USAGE}\n`);
  process.exit(2);
}
const daemon = await startDaemon({ ...parsed.options, ...('nodeName' in node && node.nodeName ? { nodeName: node.nodeName } : {}) });
process.stdout.write(`ready ${daemon.socketPath}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void daemon.close().then(() => process.exit(0)));
}
