/**
 * (c) Timers on an AioContext (@vmloop/timers through `ctx.createTimer`):
 * a worker whose loop is `while (!stop) ctx.poll(true)`, so every sleep is
 * bounded by the timer deadline. Timer callbacks re-arm themselves, delete,
 * re-arm and anticipate other timers at random; a BH the main thread
 * schedules every few milliseconds ("poke") arms timers from outside a
 * timer callback while the loop may be asleep on a longer deadline.
 *
 * Every arming is tracked here: a timer must fire only while armed, never
 * before its expiry, exactly once per arming, and never stay armed 10 s
 * past its expiry (a lost wake-up) — any of these throws out of poll(),
 * which fails the worker and the soak with the message.
 */
import { parentPort } from 'node:worker_threads';
import { AioContext, type AioStats, type BottomHalfHandle } from '@vmloop/aio';
import { SCALE_NS, type TimerStats } from '@vmloop/timers';
import { workerMain } from '@vmloop/test-kit/worker';
import { Control, Timers } from '../layout.js';

export interface TimerJob {
  readonly timers: number;
  readonly state: unknown;
  readonly control: unknown;
}

export interface TimerResult {
  readonly fired: number;
  readonly armed: number;
  readonly rearmed: number;
  readonly deleted: number;
  readonly anticipated: number;
  readonly pokes: number;
  readonly meanLateUs: number;
  readonly maxLateUs: number;
  readonly stats: TimerStats;
  readonly aio: AioStats;
}

const MS = 1_000_000;
const LOST_NS = 10_000 * MS;

workerMain(async (job: TimerJob): Promise<TimerResult> => {
  const st = Timers.open(job.state);
  const control = Control.open(job.control);
  const ctx = AioContext.create({ name: 'soak-timers' });
  const clocks = ctx.timers.clocks;
  const now = (): number => clocks.now('realtime');
  const T = job.timers;
  // expiry[i]: the ns timer i is armed for, or -1 (home thread only).
  const expiry = new Float64Array(T).fill(-1);
  let x = 0x1234567;
  const rnd = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  let fired = 0;
  let armed = 0;
  let rearmed = 0;
  let deleted = 0;
  let anticipated = 0;
  let pokes = 0;
  let lateSumNs = 0;
  let maxLateNs = 0;

  const delay = (): number => {
    const r = rnd();
    if ((r & 31) === 0) return 0; // due at once
    if ((r & 63) === 1) return 200 * MS; // long: usually deleted or re-armed first
    return (r >>> 6) % (4 * MS);
  };
  const arm = (i: number, t: number): void => {
    if (expiry[i]! >= 0) rearmed++;
    else armed++;
    timers[i]!.modNs(t);
    expiry[i] = t;
  };
  const del = (i: number): void => {
    if (expiry[i]! >= 0) deleted++;
    timers[i]!.del();
    expiry[i] = -1;
  };
  const anticipate = (i: number, t: number): void => {
    anticipated++;
    timers[i]!.modAnticipateNs(t);
    expiry[i] = expiry[i]! >= 0 ? Math.min(expiry[i]!, t) : t;
  };

  const fire = (i: number): void => {
    const t = now();
    const e = expiry[i]!;
    if (e < 0) throw new Error(`soak timers: timer ${i} fired while not armed (deleted, or fired twice for one arming)`);
    if (t < e) throw new Error(`soak timers: timer ${i} fired ${e - t} ns before its expiry`);
    if (timers[i]!.pending) throw new Error(`soak timers: timer ${i} is still pending inside its own callback`);
    const late = t - e;
    lateSumNs += late;
    if (late > maxLateNs) maxLateNs = late;
    expiry[i] = -1;
    fired++;
    const r = rnd();
    if ((r & 3) !== 0) arm(i, t + delay());
    const j = (r >>> 8) % T;
    switch ((r >>> 4) & 15) {
      case 0:
      case 1:
        del(j);
        break;
      case 2:
      case 3:
        arm(j, t + delay());
        break;
      case 4:
        anticipate(j, t + delay());
        break;
    }
  };
  const timers = Array.from({ length: T }, (_, i) => ctx.createTimer('realtime', SCALE_NS, () => fire(i)));

  const poke = ctx.bh(
    () => {
      const k = st.pokePending.exchange(0);
      pokes += k;
      st.pokesTaken.add(k);
      // Arm a timer that is not armed (or re-arm one): from a BH, not a timer callback.
      const t = now();
      for (let a = 0; a < Math.min(k, 4); a++) {
        const i = rnd() % T;
        arm(i, t + delay());
      }
    },
    { name: 'poke' },
  );
  parentPort!.postMessage({ poke: poke.handle } satisfies { poke: BottomHalfHandle });

  for (let i = 0; i < T; i++) arm(i, now() + delay());
  const publish = (): void => {
    st.fired.store(fired);
    st.armed.store(armed);
    st.rearmed.store(rearmed);
    st.deleted.store(deleted);
    st.maxLateUs.store(Math.min(0x7fffffff, Math.round(maxLateNs / 1000)));
  };
  const audit = (): void => {
    const t = now();
    for (let i = 0; i < T; i++) {
      const e = expiry[i]!;
      if (timers[i]!.pending !== e >= 0) throw new Error(`soak timers: timer ${i} pending=${timers[i]!.pending} but the soak armed it for ${e}`);
      if (e >= 0 && t - e > LOST_NS) throw new Error(`soak timers: timer ${i} is ${((t - e) / 1e9).toFixed(1)} s past its expiry and has not fired: a lost wake-up`);
    }
  };
  let polls = 0;
  while (control.stop.load() === 0) {
    ctx.poll(true);
    if ((++polls & 255) === 0) {
      audit();
      publish();
    }
  }
  audit();
  // The main thread's last poke comes before `released`.
  for (let v = control.released.load(); v === 0; v = control.released.load()) control.released.wait(v);
  ctx.poll(false);
  publish();
  for (let i = 0; i < T; i++) timers[i]!.del();
  const stats = ctx.timers.stats;
  if (stats.fired !== fired) throw new Error(`soak timers: the group counted ${stats.fired} firings, the callbacks ${fired}`);
  poke.delete();
  ctx.poll(false);
  const aio = ctx.stats;
  ctx.destroy();
  return { fired, armed, rearmed, deleted, anticipated, pokes, meanLateUs: fired === 0 ? 0 : lateSumNs / fired / 1000, maxLateUs: maxLateNs / 1000, stats, aio };
});
