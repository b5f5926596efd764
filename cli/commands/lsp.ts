// `policyc lsp --stdio`: the language server for editors (diagnostics, hovers in plain words,
// quick fixes, flow explanations). Speaks LSP on stdin/stdout until the client exits it.

import { exitCodes, type Command } from '../command.js';

export const command: Command = {
  name: 'lsp',
  summary: 'Language server for editors (LSP over stdin/stdout)',
  usage: 'policyc lsp --stdio',
  async run(args, io) {
    if (!args.includes('--stdio')) {
      io.stderr.write(`usage: ${this.usage}\n(the only transport is stdio)\n`);
      return exitCodes.usage;
    }
    const { startStdioServer } = await import('../../lsp/stdio.js');
    const connection = startStdioServer();
    // Runs until the client sends `exit` (the connection ends the process) or closes stdin.
    await new Promise<void>((resolve) => connection.onExit(resolve));
    return exitCodes.ok;
  },
};
