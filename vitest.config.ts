import { defineConfig } from 'vitest/config';

// Test files run in parallel (each isolates itself: its own database and queue prefix).
// End-to-end files start real worker processes, so they get generous timeouts (files run in parallel on
// two cores: a 100k-task migration that takes 13 s alone took over 120 s while the machine was busy).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
