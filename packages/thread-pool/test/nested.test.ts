import { runWorkers } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';

const worker = new URL('../build/test/workers/nested.js', import.meta.url);
const jobs = new URL('../build/test/workers/jobs.js', import.meta.url).href;

describe('thread-pool / nested poll', () => {
  it('a completion callback that runs a nested poll sees the other completions (QEMU test-thread-pool)', async () => {
    const [r] = await runWorkers<{ nested: number }>(worker, [{ jobs, rounds: 50 }], {
      timeoutMs: 60_000,
      what: 'a nested poll inside a completion callback never saw the other completion (the completion BH did not reschedule itself)',
    });
    expect(r!.nested).toBeGreaterThan(0);
  });
});
