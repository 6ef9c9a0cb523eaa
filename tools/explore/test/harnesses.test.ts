/**
 * Every harness under the explorer, with the production code of
 * @vmloop/event-notifier, @vmloop/aio and @vmloop/thread-pool in real
 * worker threads: each protocol holds in every schedule with at most 2
 * preemptions (exhaustive), and each planted mutant is caught with a
 * printed schedule that its replay string reproduces.
 */
import { describe, expect, it } from 'vitest';
import { type ExploreReport, asExpected, explore, listHarnesses } from '@vmloop/explore';

const all = await listHarnesses();
/** Each exploration's own watchdog, and the test's timeout just above it (bh-schedule takes ~30 s; a loaded machine doubles that). */
const WATCHDOG_MS = 240_000;
const TIMEOUT_MS = WATCHDOG_MS + 10_000;

function summary(r: ExploreReport): string {
  return `${r.harness}: ${r.schedules} schedules, bound ${r.bound}, ${r.exhaustive ? 'exhaustive' : r.stoppedBy}, max ${r.maxSteps} steps, ${(r.elapsedMs / 1000).toFixed(1)} s`;
}

describe('explore / harnesses (bound 2)', () => {
  for (const { harness } of all.filter((h) => h.harness.expect === 'pass')) {
    it(`${harness.name}: ${harness.description}`, async () => {
      const r = await explore({ harness: harness.name, watchdogMs: WATCHDOG_MS });
      console.log(summary(r));
      if (r.failure !== undefined) throw new Error(`${harness.name}: ${r.failure.kind}\n${r.failure.error}\n${r.failure.threads}\n${r.failure.trace}\nreplay: ${r.failure.replay}`);
      expect(r.exhaustive).toBe(true);
      expect(r.schedules).toBeGreaterThan(1);
    }, TIMEOUT_MS);
  }

  for (const { harness } of all.filter((h) => h.harness.expect === 'fail')) {
    it(`${harness.name} is caught, and its replay string reproduces the failure`, async () => {
      const r = await explore({ harness: harness.name, watchdogMs: WATCHDOG_MS });
      console.log(summary(r));
      expect(asExpected(r)).toBe(true);
      const f = r.failure!;
      expect(f.trace.split('\n').length).toBeGreaterThan(5);
      const again = await explore({ harness: harness.name, replay: f.replay, watchdogMs: WATCHDOG_MS });
      expect(again.schedules).toBe(1);
      expect(again.failure?.kind).toBe(f.kind);
      expect(again.failure?.trace).toBe(f.trace);
    }, TIMEOUT_MS);
  }
});

describe('explore / seed 001', () => {
  it('the dispatching shortcut is a lost wake-up: the nested poll sleeps on the doorbell after the second BH was pushed with notifyMe 0', async () => {
    const r = await explore({ harness: 'aio-notify:seed-001', watchdogMs: WATCHDOG_MS });
    const f = r.failure;
    expect(f?.kind).toMatch(/^deadlock/);
    console.log(`${f!.kind}\n${f!.threads}\n${f!.trace}\nreplay: ${f!.replay}`);
    expect(f!.threads).toMatch(/home +blocked in a futex wait on event-notifier\.arena\[2\]\.header\[0\]\.doorbell/);
    // The second scheduler pushed its BH and read notifyMe = 0, so it skipped the notifier.
    expect(f!.trace).toMatch(/remote-\d +compareExchange +aio\.context\[4\]\.bhHead[^\n]*\n[^\n]*notified +:= 1\n[^\n]*notifyMe += 0/);
  }, TIMEOUT_MS);

  it('the correct aio_notify passes the same scenario', async () => {
    const r = await explore({ harness: 'aio-notify', watchdogMs: WATCHDOG_MS });
    expect(r.failure).toBeUndefined();
    expect(r.exhaustive).toBe(true);
  }, TIMEOUT_MS);
});
