/**
 * EventNotifier: `set()` on one thread against the consumer's
 * `wait()` / `testAndClear()` loop on another
 * (packages/event-notifier/src/event-notifier.ts; the model is
 * verification/models/notifier-consumer.pml).
 *
 * - `notifier`: flag mode. The setter publishes work (an atomic count) and
 *   sets the notifier, twice; the consumer waits, clears, then takes the
 *   work, until it has both. A lost set is a consumer asleep forever.
 * - `notifier:counter`: counter mode, the eventfd sum. The setter sets three
 *   times; the consumer waits and `read()`s until the sums reach 3, and
 *   nothing is left after.
 * - `notifier:early-waiters` (mutant, the model's BUG_EARLY_LOAD): `set()`
 *   reads `waiters` before its RMW on `value`, breaking the
 *   store-buffering pair with the waiter's `waiters.add` then futex check.
 */
import { type LayoutHandle, defineLayout, int32 } from '@vmloop/atomics';
import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';
import { assertThat, defineHarness } from '../harness.js';

/** The published work: written by the setter (add), taken by the consumer (exchange). */
const Work = defineLayout('harness.work', { count: int32() });

type Handles = { notifier: EventNotifierHandle; work: LayoutHandle };

interface Home {
  readonly n: EventNotifier;
  readonly work: ReturnType<typeof Work.create>;
  taken: number;
}
interface Setter {
  readonly n: EventNotifier;
  readonly work: ReturnType<typeof Work.open>;
}

const WAIT = { spins: 0 } as const;

function flag(name: string, expect: 'pass' | 'fail', mutate?: (n: EventNotifier) => void) {
  return defineHarness<Home, Handles, Setter>({
    name,
    description:
      expect === 'pass'
        ? 'EventNotifier flag mode: 2× (publish, set) vs wait / testAndClear / take; every set is seen'
        : 'mutant: set() reads waiters before its RMW on value (store-buffering broken); a set is lost',
    expect,
    setup() {
      const n = EventNotifier.create();
      const work = Work.create();
      return { home: { n, work, taken: 0 }, handles: { notifier: n.handle, work: Work.handle(work) } };
    },
    open(h) {
      const n = EventNotifier.open(h.notifier);
      mutate?.(n);
      return { n, work: Work.open(h.work) };
    },
    home: {
      name: 'consumer',
      run(s) {
        while (s.taken < 2) {
          s.n.wait(undefined, WAIT);
          // Clear, then take: work published after the clear comes with a new set.
          s.n.testAndClear();
          s.taken += s.work.count.exchange(0);
        }
      },
    },
    remotes: [
      {
        name: 'setter',
        run(s) {
          for (let i = 0; i < 2; i++) {
            s.work.count.add(1);
            s.n.set();
          }
        },
      },
    ],
    check(s) {
      assertThat(s.taken === 2, `consumer took ${s.taken} work items, expected 2`);
      assertThat(s.work.count.load() === 0, 'work left behind');
    },
  });
}

/**
 * The mutant's set(): event-notifier.ts set() in flag mode with the
 * `waiters` load moved before the exchange (and no NotifierSet ring: this
 * notifier is standalone).
 */
function earlyWaitersSet(n: EventNotifier): void {
  const p = n as unknown as { value: { load(): number; exchange(v: number): number; notify(): number }; waiters: { load(): number } };
  n.set = function set(): void {
    const sleepers = p.waiters.load(); // BUG: read before the RMW below
    if (p.value.load() !== 0 || p.value.exchange(1) !== 0) return;
    if (sleepers !== 0) p.value.notify();
  };
}

interface CounterHome {
  readonly n: EventNotifier;
  sum: number;
}

const counter = defineHarness<CounterHome, EventNotifierHandle, EventNotifier>({
  name: 'notifier:counter',
  description: 'EventNotifier counter mode: 3× set vs wait / read; the reads sum to 3',
  expect: 'pass',
  setup() {
    const n = EventNotifier.create({ counter: true });
    return { home: { n, sum: 0 }, handles: n.handle };
  },
  open: (h) => EventNotifier.open(h),
  home: {
    name: 'consumer',
    run(s) {
      while (s.sum < 3) {
        s.n.wait(undefined, WAIT);
        s.sum += s.n.read();
      }
    },
  },
  remotes: [
    {
      name: 'setter',
      run(n) {
        for (let i = 0; i < 3; i++) n.set();
      },
    },
  ],
  check(s) {
    assertThat(s.sum === 3, `reads summed to ${s.sum}, expected 3`);
    assertThat(s.n.read() === 0, 'a count was left in the notifier');
  },
});

export const harnesses = [flag('notifier', 'pass'), counter, flag('notifier:early-waiters', 'fail', earlyWaitersSet)];
