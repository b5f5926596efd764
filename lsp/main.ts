// Entry point for running the server alone: `node dist/lsp/main.js --stdio` (the same server
// `policyc lsp --stdio` starts; the VS Code extension bundles cli/commands/lsp.ts instead).

import { startStdioServer } from './stdio.js';

startStdioServer();
