import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**', 'vscode-extension/node_modules/**'],
    // Kernel tests create network namespaces; running files in parallel on 2 cores is fine,
    // but each test names its namespaces uniquely so parallel files never collide.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
