/** (c) Timers, main-thread side: starts the timer worker, pokes it every few ms through a BH, checks the counts. */
import { RemoteBottomHalf } from '@vmloop/aio';
import { runWorkers } from '@vmloop/test-kit';
import { type Activity, check, failure, fmtCount, fmtRate, type SummaryRow } from './activity.js';
import { type Control, Timers } from './layout.js';
import type { TimerJob, TimerResult } from './workers/timer-worker.js';

const worker = new URL('./workers/timer-worker.js', import.meta.url);
const POKE_MS = 5;

export function startTimers(control: ReturnType<typeof Control.create>, controlHandle: unknown, o: { timers: number; timeoutMs: number }): Activity {
  const st = Timers.create();
  const f = failure();
  let poke: RemoteBottomHalf | undefined;
  let interval: ReturnType<typeof setInterval> | undefined;
  const sendPoke = (): void => {
    // Counted before the schedule publishes it (the BH exchanges pokePending).
    st.pokesSent.add(1);
    st.pokePending.add(1);
    poke!.schedule();
  };
  const describe = (): string =>
    `${st.fired.load()} fired, ${st.armed.load()} armed, ${st.rearmed.load()} re-armed, ${st.deleted.load()} deleted; worst lateness ${st.maxLateUs.load()} µs; pokes sent ${st.pokesSent.load()}, taken ${st.pokesTaken.load()} (pending ${st.pokePending.load()})`;
  const run = runWorkers<TimerResult>(worker, [{ timers: o.timers, state: Timers.handle(st), control: controlHandle } satisfies TimerJob], {
    timeoutMs: o.timeoutMs,
    what: describe,
    onMessage: (_, msg) => {
      poke = RemoteBottomHalf.open((msg as { poke: unknown }).poke);
      interval = setInterval(sendPoke, POKE_MS);
    },
  });
  run.catch((e: unknown) => f.reject(new Error(`timers: ${(e as Error).message}`, { cause: e })));
  let r: TimerResult | undefined;
  return {
    name: 'timers',
    failed: f.promise,
    // Firings and pokes taken: the loop also wakes for pokes when no timer is due.
    progress: () => st.fired.load() + st.pokesTaken.load(),
    describe,
    async stop() {
      clearInterval(interval);
      if (poke === undefined) throw new Error('timers: the worker never sent its poke BH');
      // A last poke wakes a loop asleep with no timer armed; then the worker may delete the BH.
      sendPoke();
      control.released.store(1);
      control.released.notify();
      [r] = await run;
      check(r!.pokes === st.pokesSent.load() && st.pokePending.load() === 0, () => `timers: ${st.pokesSent.load()} pokes scheduled, the BH took ${r!.pokes}`);
      check(r!.stats.fired === r!.fired, () => `timers: the timer group fired ${r!.stats.fired}, the callbacks counted ${r!.fired}`);
    },
    summary(seconds: number): SummaryRow {
      const x = r!;
      return {
        activity: `timers (${o.timers} on one AioContext)`,
        unit: 'timer firings',
        count: x.fired,
        detail: `${fmtRate(x.fired, seconds)}; ${fmtCount(x.armed)} arms, ${fmtCount(x.rearmed)} re-arms, ${fmtCount(x.deleted)} deletes, ${fmtCount(x.anticipated)} anticipates; ${fmtCount(x.pokes)} poke BHs from the main thread; lateness mean ${x.meanLateUs.toFixed(0)} µs, max ${(x.maxLateUs / 1000).toFixed(1)} ms; every firing armed, on time or later, once`,
      };
    },
  };
}
