/**
 * HLT and the interrupt controller across real threads: a vCPU worker halts
 * round after round and this thread, as the irqfd, sets a vector at a
 * different point of each halt — before it starts, during its halt poll,
 * and while it sleeps. A lost wake-up leaves the worker asleep for 60 s;
 * the watchdog fails the test first and names the round.
 */
import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';
import { runWorkers } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import type { HaltJob, HaltResult } from './workers/halt-worker.js';
import { HaltSync } from './workers/halt-sync.js';

const worker = new URL('../build/test/workers/halt-worker.js', import.meta.url);
const module = new URL('../dist/interrupt-controller.js', import.meta.url).href;
const ROUNDS = 2000;

/** Waits (without blocking this thread) until the worker says it halts in round `round`. */
async function untilHalting(sync: ReturnType<typeof HaltSync.create>, round: number): Promise<void> {
  for (let seen = sync.halting.load(); seen < round; seen = sync.halting.load()) await sync.halting.waitAsync(seen, 100);
}

describe('demo-vm / HLT (InterruptController.halt)', () => {
  it('an interrupt before, during the halt poll or during the sleep ends the halt with its vector; a kick ends it with none', async () => {
    const sync = HaltSync.create();
    let driver: Promise<void> | undefined;
    const drive = async (h: { vectors: EventNotifierHandle[]; kick: EventNotifierHandle }): Promise<void> => {
      const vectors = h.vectors.map((v) => EventNotifier.open(v));
      for (let r = 0; r < ROUNDS; r++) {
        await untilHalting(sync, r + 1);
        switch (r % 4) {
          case 0: // at once: often before the halt's first look
            break;
          case 1: // a little later: often inside the halt poll
            for (let i = (r * 37) % 20_000; i > 0; i--) sync.done.load();
            break;
          case 2: // later still: the worker may be going to sleep
            await new Promise((resolve) => setImmediate(resolve));
            break;
          default: // asleep, when the round's poll window is 0
            await new Promise((resolve) => setTimeout(resolve, 1));
        }
        vectors[r % 8]!.set();
      }
      await untilHalting(sync, ROUNDS + 1);
      await new Promise((resolve) => setTimeout(resolve, 1));
      EventNotifier.open(h.kick).set();
    };
    const [result] = await runWorkers<HaltResult>(worker, [{ module, sync: HaltSync.handle(sync), rounds: ROUNDS, pollNs: [0, 50_000, 0, 2_000_000] } satisfies HaltJob], {
      timeoutMs: 30_000,
      what: () => `halt of round ${sync.done.load() + 1} of ${ROUNDS} never ended: the vCPU slept through its interrupt (lost wake-up), or spun out a halt poll with one already pending, or a halt poll never ended`,
      onMessage: (_, m) => {
        driver = drive((m as { handles: { vectors: EventNotifierHandle[]; kick: EventNotifierHandle } }).handles);
      },
    });
    await driver;
    expect(result!.pendingFirst).toBe((1n << 5n).toString());
    expect(result!.emptyPoll).toBe('0');
    const wrong = result!.masks.map((m, r) => [r, m] as const).filter(([r, m]) => m !== (1n << BigInt(r % 8)).toString());
    expect(wrong.slice(0, 5), 'rounds whose halt did not return exactly that round\'s vector').toEqual([]);
    expect(result!.kick).toBe('0');
    // Both ways of ending a halt were taken (otherwise the rounds tested one path only).
    expect(result!.haltSleeps).toBeGreaterThan(0);
    expect(result!.haltPolls).toBeGreaterThan(0);
  });
});
