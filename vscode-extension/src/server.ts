// The bundled server: exactly `policyc lsp --stdio` (cli/commands/lsp.ts), in one file.

import { command } from '../../cli/commands/lsp.js';

command.run(['--stdio'], { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`policyc lsp: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 70;
  },
);
