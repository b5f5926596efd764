#!/usr/bin/env bash
# Builds the VS Code extension package (policyc.vsix) from a clean checkout, for CI:
# the repository's own dependencies (the server is bundled from ../lsp, ../compiler, ../cli),
# then the extension's, then esbuild + vsce. Prints the path of the .vsix.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
if [ ! -d "$root/node_modules/vscode-languageserver" ]; then
  (cd "$root" && npm ci --no-audit --no-fund)
fi
cd "$here"
npm ci --no-audit --no-fund
npm run typecheck
npm run package
node -e "
const fs = require('fs');
const s = fs.statSync('policyc.vsix');
if (s.size < 10000) { console.error('policyc.vsix is too small: ' + s.size + ' bytes'); process.exit(1); }
console.log('built ' + require('path').resolve('policyc.vsix') + ' (' + s.size + ' bytes)');
"
