import { existsSync } from 'node:fs';
import { platform } from 'node:os';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { osThreadId, threadCpuTimeNs } from '@vmloop/atomics';

describe('atomics / thread / cpu time and kernel id', () => {
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

  it.runIf(platform() === 'linux')('osThreadId is the TID: the main thread is the pid, a worker is another task of this process', async () => {
    // vitest may run this file in a worker itself: the test's thread is a task of the process either way.
    const here = osThreadId()!;
    expect(existsSync(`/proc/${process.pid}/task/${here}`)).toBe(true);
    const url = new URL('../dist/index.js', import.meta.url).href;
    const w = new Worker(`import('${url}').then((m) => require('node:worker_threads').parentPort.postMessage(m.osThreadId()))`, { eval: true });
    const tid = await new Promise<number>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await w.terminate();
    expect(tid).not.toBe(here);
    expect(tid).not.toBe(process.pid);
    expect(Number.isSafeInteger(tid) && tid > 0).toBe(true);
  });
});
