/**
 * timers.churn (shared/BENCH.md) and the same at 1k, 10k and 1M armed:
 * re-arming one of N armed timers (del + mod) against clearTimeout +
 * setTimeout with N armed Node timers. Both keep N armed throughout.
 */
import { type BenchCase, defineBenches, type SampleContext } from '@vmloop/bench';
import { Clocks, SCALE_NS, type Timer, TimerListGroup } from '@vmloop/timers';

const noop = (): void => {};
/** Expiries / durations far in the future, so nothing fires during a sample. */
const HOUR_NS = 3_600_000_000_000;

function churnCase(id: string, armed: number): BenchCase {
  let group: TimerListGroup | undefined;
  let timers: Timer[] = [];
  let handles: NodeJS.Timeout[] = [];
  let rand = new Float64Array(0);
  const ops = (ctx: SampleContext): number => (ctx.quick ? 20_000 : 1_000_000);
  return {
    id,
    metric: 're-arms (del + mod) per second',
    unit: '1/s',
    better: 'higher',
    peer: `clearTimeout + setTimeout (node ${process.version})`,
    note: `${armed.toLocaleString('en')} armed timers with random expiries over an hour; each op re-arms one of them at a new random expiry; ours: a TimerListGroup on the REALTIME list (indexed binary heap)`,
    samples: armed >= 1_000_000 ? 5 : 9,
    setup: (ctx) => {
      const n = ctx.quick ? Math.min(armed, 10_000) : armed;
      rand = new Float64Array(1 << 16).map(() => Math.random());
      group = new TimerListGroup(Clocks.create());
      const now = group.clocks.now('realtime');
      timers = Array.from({ length: n }, (_, i) => {
        const t = group!.createTimer('realtime', SCALE_NS, noop);
        t.modNs(now + HOUR_NS + Math.floor(rand[i & 0xffff]! * HOUR_NS));
        return t;
      });
      handles = Array.from({ length: n }, (_, i) => setTimeout(noop, 3_600_000 + Math.floor(rand[i & 0xffff]! * 3_600_000)));
    },
    teardown: () => {
      for (const h of handles) clearTimeout(h);
      group?.destroy();
      timers = [];
      handles = [];
    },
    ours: (ctx) => {
      const n = timers.length;
      const k = ops(ctx);
      const base = group!.clocks.now('realtime') + HOUR_NS;
      const t0 = performance.now();
      for (let i = 0; i < k; i++) {
        const t = timers[(i * 7919) % n]!;
        t.del();
        t.modNs(base + Math.floor(rand[i & 0xffff]! * HOUR_NS));
      }
      return k / ((performance.now() - t0) / 1000);
    },
    peerSample: (ctx) => {
      const n = handles.length;
      const k = ops(ctx);
      const t0 = performance.now();
      for (let i = 0; i < k; i++) {
        const j = (i * 7919) % n;
        clearTimeout(handles[j]);
        handles[j] = setTimeout(noop, 3_600_000 + Math.floor(rand[i & 0xffff]! * 3_600_000));
      }
      return k / ((performance.now() - t0) / 1000);
    },
  };
}

export default defineBenches([
  churnCase('timers.churn', 100_000),
  churnCase('timers.churn-1k', 1_000),
  churnCase('timers.churn-10k', 10_000),
  churnCase('timers.churn-1m', 1_000_000),
]);
