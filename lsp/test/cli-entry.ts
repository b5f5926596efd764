// Runs the policyc CLI from source (for tests): `node --import tsx lsp/test/cli-entry.ts lsp --stdio`.
// Goes through cli/commands/lsp.ts, exactly as `policyc lsp --stdio` will once it is registered.

import { command } from '../../cli/commands/lsp.js';

const args = process.argv.slice(2);
const rest = args[0] === 'lsp' ? args.slice(1) : args;
command.run(rest, { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`policyc lsp: internal error: ${err?.stack ?? err}\n`);
    process.exitCode = 70;
  },
);
