/**
 * A driver worker and a device worker over one ring, kicks and interrupts
 * through EventNotifiers: 1e5 requests with every reply checked. A lost
 * kick or interrupt stalls both sides; the watchdog then fails the test
 * with the ring's indices and event words instead of hanging.
 */
import { describe, expect, it } from 'vitest';
import { runRing } from './ring-harness.js';

const worker = new URL('../build/test/workers/ring.js', import.meta.url);

describe('virtqueue / multithread', () => {
  for (const c of [
    { name: 'EVENT_IDX, 32 in flight on 256 entries', size: 256, inFlight: 32, eventIdx: true, indirect: false, requests: 100_000 },
    { name: 'EVENT_IDX, indirect tables, the ring full (64 on 64)', size: 64, inFlight: 64, eventIdx: true, indirect: true, requests: 100_000 },
    { name: 'NO_NOTIFY / NO_INTERRUPT flags, out of descriptors (16 requests of 2 on 16)', size: 16, inFlight: 16, eventIdx: false, indirect: false, requests: 100_000 },
  ]) {
    it(`1e5 requests, data verified: ${c.name}`, async () => {
      const r = await runRing(worker, { ...c, suppress: true });
      expect(r.driver.completed).toBe(c.requests);
      expect(r.device.served).toBe(c.requests);
      expect(r.device.stats).toMatchObject({ popped: c.requests, pushed: c.requests, broken: 0 });
      expect(r.driver.stats).toMatchObject({ added: c.requests, reclaimed: c.requests });
      // Notifications went both ways (the counts themselves depend on scheduling).
      expect(r.driver.kicks).toBeGreaterThan(0);
      expect(r.device.interrupts).toBeGreaterThan(0);
    });
  }

  it('without suppression: one kick and one interrupt per request', async () => {
    const requests = 20_000;
    const r = await runRing(worker, { size: 256, inFlight: 32, eventIdx: true, indirect: false, requests, suppress: false });
    expect(r.driver.completed).toBe(requests);
    expect(r.driver.kicks).toBe(requests);
    expect(r.device.interrupts).toBe(requests);
  });
});
