import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**', 'vscode-extension/node_modules/**'],
    // Kernel tests create network namespaces with unique names, so files may run in parallel.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The JSON report lets .ci/run print one plain "N passed, N failed" closing line.
    reporters: ['default', ['json', { outputFile: 'out/vitest-results.json' }]],
  },
});
