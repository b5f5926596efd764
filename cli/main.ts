// `policyc <command> ...`: dispatch to one file per command.

import { exitCodes, type Io } from './command.js';
import { commands } from './commands/index.js';

function usage(io: Io): void {
  const width = Math.max(...commands.map((c) => c.name.length));
  io.stdout.write(['policyc: Kubernetes network policy compiler, dataplane and tools', '', 'commands:', ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`), '', "run 'policyc <command> --help' for a command's usage", ''].join('\n'));
}

export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    usage(io);
    return argv.length === 0 ? exitCodes.usage : exitCodes.ok;
  }
  // Nested commands ("cni install") match on their first two words.
  const command = commands.find((c) => c.name === argv.slice(0, c.name.split(' ').length).join(' '));
  if (!command) {
    io.stderr.write(`policyc: unknown command '${argv[0]}'\n`);
    usage(io);
    return exitCodes.usage;
  }
  const rest = argv.slice(command.name.split(' ').length);
  // `--help` after `--` belongs to a command being run (`policyc lab exec x/a -- nc --help`).
  const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (own.includes('--help') || own.includes('-h')) {
    io.stdout.write(`usage: ${command.usage}\n${command.summary}\n`);
    return exitCodes.ok;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`policyc ${command.name}: ${err.message}\nusage: ${command.usage}\n`);
      return exitCodes.usage;
    }
    throw err;
  }
}
