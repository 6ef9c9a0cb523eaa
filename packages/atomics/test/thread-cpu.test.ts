import { platform } from 'node:os';
import { describe, expect, it } from 'vitest';
import { threadCpuTimeNs } from '@vmloop/atomics';

describe('atomics / thread / cpu time', () => {
  it.runIf(platform() === 'linux')('threadCpuTimeNs grows while this thread computes', () => {
    const before = threadCpuTimeNs();
    expect(before).toBeTypeOf('number');
    let x = 0;
    // Enough work for the scheduler's account to move (it is kept in ns).
    for (let i = 0; i < 5e6; i++) x = (x + i * 7) % 1000003;
    const after = threadCpuTimeNs()!;
    expect(x).toBeGreaterThanOrEqual(0);
    expect(after).toBeGreaterThan(before!);
  });
});
