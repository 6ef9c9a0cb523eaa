import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests run on a process main thread, as user code does: that is the
    // thread where blocking is forbidden and waitAsync must be used.
    pool: 'forks',
    // Multi-worker tests carry their own watchdogs with a message naming
    // what was lost; this outer limit only backs them up.
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
