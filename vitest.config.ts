import { defineConfig } from 'vitest/config';

export default defineConfig({
  // In the repo, @relaydesk/client resolves to its TypeScript source (the
  // published package resolves to dist/).
  resolve: { conditions: ['relaydesk-source', 'module', 'node', 'development|production'] },
  ssr: { resolve: { conditions: ['relaydesk-source', 'module', 'node', 'development|production'] } },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // Each file gets its own database; two cores run two files at a time.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
