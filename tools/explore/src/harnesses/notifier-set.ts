/**
 * NotifierSet's counter doorbell: two setters, each on its own notifier of
 * the set, against the owner's `wait()` loop
 * (packages/event-notifier/src/notifier-set.ts wait()/scan(),
 * event-notifier.ts set()/ring(); the protocol is in layout.ts, (A)–(D);
 * the model is verification/models/notifier-doorbell.pml).
 *
 * Each setter publishes work and sets its notifier, twice; the owner waits
 * on the set, clears what is ready, and takes the work, until it has all
 * four. A lost wake-up is the owner asleep on the doorbell with work
 * published.
 *
 * Mutant `notifier-set:late-seq` (the model's BUG_LATE_SEQ): the owner
 * reads the doorbell *after* its scan, so a set whose bits the scan missed
 * but whose doorbell bump came before that read is slept through.
 */
import { type EventNotifier, EventNotifier as Notifier, type EventNotifierHandle, NotifierSet } from '@vmloop/event-notifier';
import { type LayoutHandle, defineLayout, int32Array } from '@vmloop/atomics';
import { assertThat, defineHarness } from '../harness.js';

/** Work per setter: written by the setter (add), taken by the owner (exchange). */
const Work = defineLayout('harness.work', { count: int32Array(2) });

interface Home {
  readonly set: NotifierSet;
  readonly work: ReturnType<typeof Work.create>;
  taken: number;
}
interface Handles {
  readonly notifiers: readonly EventNotifierHandle[];
  readonly work: LayoutHandle;
}
interface Setter {
  readonly n: EventNotifier;
  readonly work: ReturnType<typeof Work.open>;
  readonly index: number;
}

const SETS = 2;

/** notifier-set.ts wait() with (A) moved after the scan; infinite timeout, no spin. */
function lateSeqWait(set: NotifierSet): void {
  const p = set as unknown as {
    doorbell: { load(): number; wait(v: number): string };
    sleepSeq: { store(v: number): number };
    scan(): readonly EventNotifier[];
  };
  set.wait = function wait(): readonly EventNotifier[] {
    for (;;) {
      const ready = p.scan();
      const seq = p.doorbell.load(); // BUG: (A) after the scan
      if (ready.length > 0) return ready;
      p.sleepSeq.store(seq);
      p.doorbell.wait(seq);
    }
  };
}

function harness(name: string, expect: 'pass' | 'fail') {
  return defineHarness<Home, Handles, Setter>({
    name,
    description:
      expect === 'pass'
        ? `NotifierSet: 2 setters × ${SETS} (publish, set) on their notifiers vs the owner's wait / testAndClear / take`
        : 'mutant: the owner reads the doorbell after its scan (BUG_LATE_SEQ); a ring is slept through',
    expect,
    setup() {
      const set = NotifierSet.create({ capacity: 2 });
      const a = set.createNotifier();
      const b = set.createNotifier();
      set.add(a);
      set.add(b);
      if (expect === 'fail') lateSeqWait(set);
      const work = Work.create();
      return { home: { set, work, taken: 0 }, handles: { notifiers: [a.handle, b.handle], work: Work.handle(work) } };
    },
    open: (h, t) => ({ n: Notifier.open(h.notifiers[t - 1]), work: Work.open(h.work), index: t - 1 }),
    home: {
      name: 'owner',
      run(s) {
        while (s.taken < 2 * SETS) {
          for (const n of s.set.wait(undefined, { spins: 0 })) n.testAndClear();
          s.taken += s.work.count.exchange(0, 0) + s.work.count.exchange(1, 0);
        }
      },
    },
    remotes: [0, 1].map((i) => ({
      name: `setter-${i + 1}`,
      run(s: Setter) {
        for (let k = 0; k < SETS; k++) {
          s.work.count.add(s.index, 1);
          s.n.set();
        }
      },
    })),
    check(s) {
      assertThat(s.taken === 2 * SETS, `owner took ${s.taken} items, expected ${2 * SETS}`);
    },
  });
}

export const harnesses = [harness('notifier-set', 'pass'), harness('notifier-set:late-seq', 'fail')];
