import { thrownCode } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import { DATA, makePair } from './queue-pair.js';

describe('virtqueue / 2.7.10 driver: delayed interrupts (virtqueue_enable_cb_delayed)', () => {
  it('with EVENT_IDX the device is asked to interrupt only after `count` more used elements', () => {
    const { driver, queue } = makePair({ size: 16, eventIdx: true, startIndex: 65530 });
    for (let i = 0; i < 8; i++) expect(driver.add([], [{ addr: DATA + i * 64, len: 64 }])).toBeDefined();
    driver.needsKick();
    const chains = Array.from({ length: 8 }, () => queue.pop()!);
    // The first decision after activation always interrupts (§2.7.7.2); take it out of the way.
    queue.pushUsed(chains[0]!.head, 64);
    expect(queue.needsNotification()).toBe(true);
    expect(driver.getUsed()).toBeDefined();
    expect(driver.enableInterruptsDelayed(4)).toBe(false); // nothing new used: sleep
    // The next three completions do not interrupt; the fourth does (indices wrap past 65535 here).
    for (let i = 1; i < 4; i++) {
      queue.pushUsed(chains[i]!.head, 64);
      expect(queue.needsNotification(), `completion ${i}`).toBe(false);
    }
    queue.pushUsed(chains[4]!.head, 64);
    expect(queue.needsNotification()).toBe(true);
    for (let i = 0; i < 4; i++) expect(driver.getUsed()).toBeDefined();
    // Re-check: with 3 already used when it asks for 3, it must not sleep.
    for (let i = 5; i < 8; i++) queue.pushUsed(chains[i]!.head, 64);
    expect(driver.enableInterruptsDelayed(3)).toBe(true);
  });

  it('without EVENT_IDX it is enableInterrupts(); a count above the chains in flight is refused', () => {
    const { driver } = makePair({ size: 8, eventIdx: false });
    expect(driver.enableInterruptsDelayed(4)).toBe(false);
    const ev = makePair({ size: 8, eventIdx: true }).driver;
    expect(thrownCode(() => ev.enableInterruptsDelayed(3))).toBe('ERR_INVALID_ARGUMENT');
  });
});
