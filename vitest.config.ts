import { defineConfig } from 'vitest/config';

// Test files run in parallel (each isolates itself: its own database and queue prefix).
// End-to-end files start real worker processes, so they get generous timeouts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
