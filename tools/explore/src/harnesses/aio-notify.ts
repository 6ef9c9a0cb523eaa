/**
 * AioContext's notify/poll handshake: a home thread in blocking `poll(true)`
 * — and in a nested blocking poll from inside a BH callback — against other
 * threads that schedule RemoteBottomHalfs or call `notify()`
 * (packages/aio/src/aio-context.ts pollFull()/notifyAccept()/bhPoll(),
 * shared-context.ts notify()/enqueueRemote(), event-notifier set() and
 * NotifierSet wait(); the protocol is in packages/aio/src/layout.ts, N1/N2
 * against P1–P3; the model is verification/models/aio-notify.pml).
 *
 * - `aio-notify`: two remote threads each schedule one BH. The first BH to
 *   run polls, nested and blocking, until the other one ran (the seed-001
 *   shape); the home loop polls until both ran. Each BH runs exactly once,
 *   and nobody sleeps forever.
 * - `aio-notify:notify`: one remote thread publishes work and calls
 *   `AioContextRemote.notify()`; the home thread polls until it sees it.
 * - `aio-notify:seed-001` (mutant): QEMU's "dispatching" shortcut — a
 *   blocking poll inside a BH callback does not raise notifyMe (P1),
 *   trusting the outer poll to re-evaluate everything. aio_notify then
 *   reads notifyMe == 0 and skips the notifier, and the nested poll sleeps
 *   through the second BH. The mutant wraps the context's real notifyMe cell
 *   so that its add(2)/sub(2) are skipped while a callback runs; everything
 *   else is the production code.
 * - `aio-notify:early-notify-me` (mutant, QEMU's aio_notify.promela BUG):
 *   aio_notify reads notifyMe before it writes `notified` — the
 *   store-buffering pair N1/N2 against P1/P2 broken on the notifier's side.
 * - `aio-notify:notified-shortcut` (the other half of the seed's
 *   description): aio_notify skips the notifier when `notified` was already
 *   set. In vmloop that is *not* a lost wake-up — the poller re-checks
 *   `notified` after raising notifyMe (P2), and whoever set it either woke
 *   the poller or was seen by P2 — and the explorer agrees within the bound.
 */
import { AioContext, type AioContextHandle, type AioContextRemote, type BottomHalfHandle, RemoteBottomHalf } from '@vmloop/aio';
import { type Int32Cell, type LayoutHandle, defineLayout, int32 } from '@vmloop/atomics';
import { Clocks } from '@vmloop/timers';
import { assertThat, defineHarness } from '../harness.js';

interface Home {
  readonly ctx: AioContext;
  /** Runs per BH. */
  readonly runs: number[];
  ran: number;
  /** BH callbacks running (the "dispatching" of QEMU's old shortcut). */
  depth: number;
}

type Mutant = 'seed-001' | 'notified-shortcut' | 'early-notify-me' | undefined;

/** A context as small as the scenario needs, with manual clocks (no real time is read). */
function context(): AioContext {
  return AioContext.create({ name: 'explore', clocks: Clocks.create({ source: 'manual' }), maxBottomHalves: 4, maxNotifiers: 1 });
}

/**
 * The seed-001 mutant: the context's own notifyMe cell, except that
 * add(2)/sub(2) do nothing while a BH callback runs (a nested poll).
 */
function skipNotifyMeWhileDispatching(home: Home): void {
  const shared = (home.ctx as unknown as { shared: { notifyMe: Int32Cell } }).shared;
  const real = shared.notifyMe;
  const skipped: boolean[] = [];
  const cell = Object.create(real) as Int32Cell;
  cell.add = (v: number): number => {
    const skip = v === 2 && home.depth > 0; // BUG: "dispatching: the outer poll re-evaluates everything"
    skipped.push(skip);
    return skip ? 0 : real.add(v);
  };
  cell.sub = (v: number): number => (v === 2 && skipped.pop() === true ? 0 : real.sub(v));
  Object.defineProperty(shared, 'notifyMe', { value: cell });
}

/** aio_notify (shared-context.ts notify()) reading notifyMe before writing notified: QEMU aio_notify.promela's BUG. */
function earlyNotifyMe(bh: RemoteBottomHalf): void {
  const shared = (bh as unknown as { shared: { notified: Int32Cell; notifyMe: Int32Cell; notifier: { set(): void }; notify(): void } }).shared;
  shared.notify = function notify(): void {
    const me = shared.notifyMe.load(); // BUG: (N2) before (N1)
    shared.notified.store(1);
    if (me !== 0) shared.notifier.set();
  };
}

/** aio_notify (shared-context.ts notify()) with the "already notified" shortcut. */
function notifiedShortcut(bh: RemoteBottomHalf): void {
  const shared = (bh as unknown as { shared: { notified: Int32Cell; notifyMe: Int32Cell; notifier: { set(): void }; notify(): void } }).shared;
  shared.notify = function notify(): void {
    if (shared.notified.exchange(1) !== 0) return; // the shortcut: someone already notified
    if (shared.notifyMe.load() !== 0) shared.notifier.set();
  };
}

function bhs(name: string, expect: 'pass' | 'fail', mutant: Mutant, description: string) {
  return defineHarness<Home, readonly BottomHalfHandle[], RemoteBottomHalf>({
    name,
    description,
    expect,
    setup() {
      const ctx = context();
      const home: Home = { ctx, runs: [0, 0], ran: 0, depth: 0 };
      const handles = [0, 1].map((i) => {
        const bh = ctx.bh(
          () => {
            home.depth++;
            try {
              home.runs[i]!++;
              home.ran++;
              // The first BH to run waits, in a nested blocking poll, for the other.
              if (home.ran === 1) while (home.ran < 2) ctx.poll(true);
            } finally {
              home.depth--;
            }
          },
          { name: `bh-${i + 1}` },
        );
        return bh.handle;
      });
      if (mutant === 'seed-001') skipNotifyMeWhileDispatching(home);
      return { home, handles };
    },
    open(handles, t) {
      const bh = RemoteBottomHalf.open(handles[t - 1]);
      if (mutant === 'notified-shortcut') notifiedShortcut(bh);
      if (mutant === 'early-notify-me') earlyNotifyMe(bh);
      return bh;
    },
    home: {
      name: 'home',
      run(s) {
        while (s.ran < 2) s.ctx.poll(true);
      },
    },
    remotes: [0, 1].map((i) => ({ name: `remote-${i + 1}`, run: (bh: RemoteBottomHalf) => bh.schedule() })),
    check(s) {
      assertThat(s.runs[0] === 1 && s.runs[1] === 1, `BH runs ${JSON.stringify(s.runs)}, expected [1,1]`);
      // Nothing is left: no BH pending, nothing to run.
      assertThat(!s.ctx.poll(false), 'a poll after the end still made progress');
      assertThat(s.runs[0] === 1 && s.runs[1] === 1, `BH runs after the final poll ${JSON.stringify(s.runs)}`);
    },
  });
}

/** The remote's published work: written by the remote (store), read by the home thread (load). */
const Work = defineLayout('harness.work', { done: int32() });

interface NotifyHome {
  readonly ctx: AioContext;
  readonly work: ReturnType<typeof Work.create>;
}

const notify = defineHarness<NotifyHome, { ctx: AioContextHandle; work: LayoutHandle }, { ctx: AioContextRemote; work: ReturnType<typeof Work.open> }>({
  name: 'aio-notify:notify',
  description: 'AioContextRemote.notify() after publishing work vs blocking poll(true) until the work is seen',
  expect: 'pass',
  setup() {
    const ctx = context();
    const work = Work.create();
    return { home: { ctx, work }, handles: { ctx: ctx.handle, work: Work.handle(work) } };
  },
  open: (h) => ({ ctx: AioContext.open(h.ctx), work: Work.open(h.work) }),
  home: {
    name: 'home',
    run(s) {
      while (s.work.done.load() === 0) s.ctx.poll(true);
    },
  },
  remotes: [
    {
      name: 'notifier',
      run(s) {
        s.work.done.store(1);
        s.ctx.notify();
      },
    },
  ],
});

export const harnesses = [
  bhs('aio-notify', 'pass', undefined, '2 remote BH schedules vs blocking poll(true) with a nested blocking poll in the first BH; each BH runs once, nobody sleeps forever'),
  notify,
  bhs('aio-notify:seed-001', 'fail', 'seed-001', "mutant (seed 001): a nested blocking poll does not raise notifyMe while dispatching; aio_notify skips the notifier and the nested poll sleeps through the second BH"),
  bhs('aio-notify:early-notify-me', 'fail', 'early-notify-me', 'mutant (QEMU aio_notify.promela BUG): aio_notify reads notifyMe before writing notified; a poll that raised notifyMe after the read and checked notified before the write sleeps'),
  bhs('aio-notify:notified-shortcut', 'pass', 'notified-shortcut', 'variant: aio_notify skips the notifier when notified was already set; not a lost wake-up here, because the poller re-checks notified after raising notifyMe (P2)'),
];
