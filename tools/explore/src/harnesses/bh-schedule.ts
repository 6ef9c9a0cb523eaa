/**
 * Cross-thread bottom-half scheduling: two remote schedulers against the
 * home thread's dequeue (packages/aio/src/shared-context.ts enqueueRemote()
 * and push(), aio-context.ts bhPoll()/takeRemoteList()/runOne(); the flag
 * word F1, the lock-free push F2 and the take-whole-list dequeue D1–D3 of
 * packages/aio/src/layout.ts; the model is verification/models/bh-flags.pml).
 *
 * remote-1 schedules A then B; remote-2 schedules B then A; each then
 * schedules its own "done" BH, and the home thread polls (blocking) until
 * both done BHs ran. After every thread finished, a final non-blocking
 * poll runs whatever is still due, and then: no BH is left pending or
 * scheduled (a schedule whose BH fell off the list keeps PENDING set and
 * nothing would ever push it again), the list is empty, every BH ran at
 * least once and never more often than it was scheduled (concurrent
 * schedules of a pending BH coalesce into one run). A corrupted list shows
 * up as a walk that never ends (step limit) or a BH run twice.
 *
 * Mutant `bh-schedule:push-always` (the model's BUG_PUSH_ALWAYS): a
 * scheduler pushes the BH even when PENDING was already set, so two
 * schedulers can put it on the list twice.
 */
import { AioContext, RemoteBottomHalf, type BottomHalfHandle } from '@vmloop/aio';
import type { Int32Cell, Int32CellArray } from '@vmloop/atomics';
import { Clocks } from '@vmloop/timers';
import { Ghost, assertThat, defineHarness } from '../harness.js';

/** BH indices: the two shared ones, then each remote's done BH. */
const A = 0;
const B = 1;
const NAMES = ['A', 'B', 'done-1', 'done-2'];
/** Ghost words: schedules per BH (written by the remotes). */
const SCHEDS = 0;

interface Home {
  readonly ctx: AioContext;
  readonly ghost: Ghost;
  readonly runs: number[];
  readonly slots: number[];
  doneRuns: number;
}
interface Handles {
  readonly bhs: readonly BottomHalfHandle[];
  readonly ghost: SharedArrayBuffer;
}
interface Remote {
  readonly bhs: readonly RemoteBottomHalf[];
  readonly ghost: Ghost;
  readonly order: readonly number[];
}

interface SharedInternals {
  readonly bhFlags: Int32CellArray;
  readonly bhHead: Int32Cell;
  readonly counters: { bhSchedules: number };
  checkLive(): void;
  push(slot: number): void;
  notify(): void;
  enqueueRemote(slot: number, generation: number, newFlags: number, name: string): void;
}

/** shared-context.ts enqueueRemote() with the push made unconditional. */
function pushAlways(bh: RemoteBottomHalf): void {
  const shared = (bh as unknown as { shared: SharedInternals }).shared;
  shared.enqueueRemote = function enqueueRemote(slot: number, generation: number, newFlags: number): void {
    this.checkLive();
    const flags = this.bhFlags;
    let old = flags.load(slot);
    // The fast path of the original (already PENDING|SCHEDULED, not idle or deleted).
    if (newFlags === 2 && (old & 0x17) === 3 && ((old >>> 8) & 0xffffff) === generation) return;
    for (;;) {
      const seen = flags.compareExchange(slot, old, old | 1 | newFlags);
      if (seen === old) break;
      old = seen;
    }
    this.push(slot); // BUG: the original pushes only if PENDING was clear in `old`
    this.counters.bhSchedules++;
    this.notify();
  };
}

function harness(name: string, expect: 'pass' | 'fail') {
  return defineHarness<Home, Handles, Remote>({
    name,
    description:
      expect === 'pass'
        ? 'remote-1 schedules A, B; remote-2 schedules B, A; home dequeues (blocking poll); every schedule runs, none twice, list intact'
        : 'mutant: schedulers push a BH even when it is already pending (BUG_PUSH_ALWAYS); the list is corrupted',
    expect,
    setup() {
      const ctx = AioContext.create({ name: 'explore', clocks: Clocks.create({ source: 'manual' }), maxBottomHalves: 8, maxNotifiers: 1 });
      const ghost = Ghost.create(8);
      const home: Home = { ctx, ghost, runs: [0, 0, 0, 0], slots: [], doneRuns: 0 };
      const bhs = NAMES.map((n, i) => {
        const bh = ctx.bh(
          () => {
            home.runs[i]!++;
            if (i > B) home.doneRuns++;
          },
          { name: n },
        );
        home.slots.push((bh as unknown as { slot: number }).slot);
        return bh.handle;
      });
      return { home, handles: { bhs, ghost: ghost.buffer } };
    },
    open(h, t) {
      const bhs = h.bhs.map((x) => RemoteBottomHalf.open(x));
      if (expect === 'fail') bhs.forEach(pushAlways);
      return { bhs, ghost: new Ghost(h.ghost), order: t === 1 ? [A, B, 2] : [B, A, 3] };
    },
    home: {
      name: 'home',
      run(s) {
        while (s.doneRuns < 2) s.ctx.poll(true);
      },
    },
    remotes: [1, 2].map((r) => ({
      name: `remote-${r}`,
      run(s: Remote) {
        for (const i of s.order) {
          s.ghost.add(SCHEDS + i);
          s.bhs[i]!.schedule();
        }
      },
    })),
    check(s) {
      while (s.ctx.poll(false)) {
        // run whatever is still due
      }
      const shared = (s.ctx as unknown as { shared: SharedInternals }).shared;
      NAMES.forEach((n, i) => {
        const flags = shared.bhFlags.load(s.slots[i]!) & 0xff;
        assertThat((flags & 3) === 0, `BH ${n} still has flags ${flags} (pending/scheduled) after every thread finished and a final poll`);
        const scheds = s.ghost.get(SCHEDS + i);
        assertThat(s.runs[i]! >= 1 && s.runs[i]! <= scheds, `BH ${n} ran ${s.runs[i]} times for ${scheds} schedules`);
      });
      assertThat(shared.bhHead.load() === -1, 'the BH list is not empty at the end');
    },
  });
}

export const harnesses = [harness('bh-schedule', 'pass'), harness('bh-schedule:push-always', 'fail')];
