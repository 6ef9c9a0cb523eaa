/**
 * The vitest settings every vmloop package uses; a package's
 * vitest.config.ts is `export default defineConfig({ test: vmloopTest })`.
 */
export const vmloopTest: {
  include: string[];
  pool: 'forks';
  testTimeout: number;
  hookTimeout: number;
  reporters: string[];
  outputFile: { json: string };
} = {
  include: ['test/**/*.test.ts'],
  // Tests run on a process main thread, as user code does: that is the
  // thread where blocking is refused and waitAsync must be used.
  pool: 'forks',
  // Multi-worker tests carry their own watchdogs with a message naming what
  // was lost; these outer limits only back them up.
  testTimeout: 120_000,
  hookTimeout: 60_000,
  // The JSON report feeds the one-line summary at the end of .ci/run.
  reporters: ['default', 'json'],
  outputFile: { json: 'build/test-results.json' },
};
