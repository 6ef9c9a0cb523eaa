import { runWorkers } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import { Clocks } from '@vmloop/timers';

const worker = new URL('../build/test/workers/clocks-worker.js', import.meta.url);

describe('timers / clocks across workers', () => {
  it('a worker that opens the handle sees the same virtual time and run state, and can stop it for everyone', async () => {
    const clocks = Clocks.create({ source: 'manual', virtualEnabled: true });
    clocks.advance(1234);
    const [seen] = await runWorkers<{ virtual: number; enabled: boolean; realtime: number }>(worker, [{ clocks: clocks.handle, op: 'read' }]);
    expect(seen).toEqual({ virtual: 1234, enabled: true, realtime: 1234 });
    await runWorkers(worker, [{ clocks: clocks.handle, op: 'stop' }]);
    expect(clocks.isEnabled('virtual')).toBe(false);
    clocks.advance(1000);
    expect(clocks.now('virtual')).toBe(1234);
  });

  it('system clocks: REALTIME read on a worker is within the same monotonic timeline', async () => {
    const clocks = Clocks.create();
    const before = clocks.now('realtime');
    const [seen] = await runWorkers<{ realtime: number }>(worker, [{ clocks: clocks.handle, op: 'read' }]);
    const after = clocks.now('realtime');
    expect(seen!.realtime).toBeGreaterThanOrEqual(before - 1_000_000);
    expect(seen!.realtime).toBeLessThanOrEqual(after + 1_000_000);
  });
});
