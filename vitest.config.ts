import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // End-to-end files start real servers on loopback: keep files in parallel but bounded.
    maxWorkers: 2,
    // Makes the test CA and names it in NODE_EXTRA_CA_CERTS before the workers start; that only
    // works with workers that are processes (forks, vitest's default), not threads.
    globalSetup: ['test/setup/testCa.ts'],
    pool: 'forks',
  },
});
