// Bundles the client (src/extension.ts -> dist/extension.js) and the language server with the
// whole compiler (src/server.ts -> dist/server.js), so the .vsix needs no node_modules.
// The server's sources and their dependencies come from the repository root (../), whose
// `npm ci` must have run.

import { build } from 'esbuild';

const common = { bundle: true, platform: 'node', target: 'node18', format: 'cjs', sourcemap: true, logLevel: 'info', minify: process.argv.includes('--minify') };

await build({ ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] });
await build({ ...common, entryPoints: ['src/server.ts'], outfile: 'dist/server.js' });
