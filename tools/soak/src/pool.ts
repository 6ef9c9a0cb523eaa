/**
 * (d) Thread-pool jobs, on an AioContext attached to the main thread's Node
 * loop (as an application runs a pool; the pool's fault handling needs that
 * loop). Up to 64 requests in flight; every completion is matched to its
 * request and checked: its result (a function of the argument), its planted
 * failure, ECANCELED exactly when `cancel()` said it cancelled, and
 * ERR_WORKER_DIED for the job that ends its worker. Every few seconds the
 * stream pauses longer than the idle timeout, so workers retire and new
 * ones start.
 */
import { AioContext } from '@vmloop/aio';
import { type PoolRequest, ThreadPool } from '@vmloop/thread-pool';
import { type Activity, check, failure, fmtCount, fmtRate, type SummaryRow } from './activity.js';
import { mixOf } from './jobs.js';

const jobs = new URL('./jobs.js', import.meta.url);
const IN_FLIGHT = 64;
const IDLE_TIMEOUT_MS = 100;
const PAUSE_EVERY_MS = 3000;
const PAUSE_MS = 300;
const DIE_EVERY_MS = 5000;

type Kind = 'add1' | 'mix' | 'sleepUs' | 'big' | 'fail' | 'die';

interface Pending {
  readonly kind: Kind;
  readonly arg: number;
  req: PoolRequest<unknown> | undefined;
  cancelAsked: boolean;
  cancelled: boolean;
}

export function startPool(o: { workers: number }): Activity {
  const ctx = AioContext.create({ name: 'soak-pool-home', poll: { maxNs: 65536 } });
  const f = failure();
  const att = ctx.attachToNodeLoop({ onError: (e) => f.reject(e) });
  const pool = new ThreadPool(ctx, { jobs, max: o.workers, idleTimeoutMs: IDLE_TIMEOUT_MS });
  const inflight = new Map<number, Pending>();
  const counts = { submitted: 0, completed: 0, results: 0, failures: 0, cancelled: 0, cancelRefused: 0, died: 0, pauses: 0 };
  let next = 0;
  let paused = false;
  let stopping = false;
  let lastDie = performance.now();
  let x = 0x6b43a9b5;
  const rnd = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const bad = (why: string): void => f.reject(new Error(`pool: ${why}`));

  /** What is wrong with request `id`'s completion, or undefined (and the matching count moves). */
  const judge = (id: number, p: Pending, err: Error | null, result: unknown): string | undefined => {
    const code = (err as { code?: string } | null)?.code;
    if (p.cancelled) {
      if (code !== 'ECANCELED') return `request ${id} (${p.kind}) was cancelled but completed with ${err ? `${code}: ${err.message}` : JSON.stringify(result)}`;
      counts.cancelled++;
    } else if (code === 'ECANCELED') {
      return `request ${id} (${p.kind}) completed with ECANCELED although cancel() ${p.cancelAsked ? 'returned false' : 'was never called'}`;
    } else if (p.kind === 'fail') {
      if (code !== 'E_SOAK') return `request ${id}: the planted failure came back as ${err ? `${err.name} ${code}` : 'a result'}`;
      counts.failures++;
    } else if (p.kind === 'die') {
      if (code !== 'ERR_WORKER_DIED') return `request ${id}: the job that ends its worker completed with ${err ? code : 'a result'}`;
      counts.died++;
    } else {
      if (err !== null) return `request ${id} (${p.kind}) failed: ${err.name}: ${err.message}`;
      if (p.kind === 'big') {
        const a = result as number[];
        if (!Array.isArray(a) || a.length !== 200 || a[0] !== p.arg || a[199] !== p.arg + 199) return `request ${id} (big ${p.arg}) got another request's result`;
      } else {
        const want = p.kind === 'add1' ? p.arg + 1 : p.kind === 'mix' ? mixOf(p.arg) : p.arg;
        if (result !== want) return `request ${id} (${p.kind} ${p.arg}) got ${JSON.stringify(result)}, expected ${want}: a completion matched to the wrong request`;
      }
      counts.results++;
    }
    return undefined;
  };

  const complete = (id: number, err: Error | null, result: unknown): void => {
    const p = inflight.get(id);
    if (p === undefined) {
      bad(`request ${id} completed twice (or was never submitted)`);
      return;
    }
    inflight.delete(id);
    counts.completed++;
    const problem = judge(id, p, err, result);
    if (problem !== undefined) bad(problem);
    else pump();
  };

  const submit = (): void => {
    const id = next++;
    const r = rnd() % 100;
    let kind: Kind = r < 70 ? 'add1' : r < 85 ? 'mix' : r < 90 ? 'sleepUs' : r < 95 ? 'big' : 'fail';
    const now = performance.now();
    if (now - lastDie > DIE_EVERY_MS) {
      kind = 'die';
      lastDie = now;
    }
    const arg = rnd() & 0xfffffff;
    const p: Pending = { kind, arg, req: undefined, cancelAsked: false, cancelled: false };
    inflight.set(id, p);
    counts.submitted++;
    p.req = pool.submitCallback(kind, kind === 'sleepUs' ? [arg, 200] : arg, (err, result) => complete(id, err, result));
    const c = rnd() & 15;
    if (c === 0 && kind !== 'die') {
      p.cancelAsked = true;
      p.cancelled = p.req.cancel();
      if (!p.cancelled) counts.cancelRefused++;
    } else if (c === 1 && kind !== 'die') {
      setImmediate(() => {
        if (!inflight.has(id)) return;
        p.cancelAsked = true;
        p.cancelled = p.req!.cancel();
        if (!p.cancelled) counts.cancelRefused++;
      });
    }
  };

  function pump(): void {
    while (!paused && !stopping && inflight.size < IN_FLIGHT) submit();
  }
  const pauser = setInterval(() => {
    paused = true;
    counts.pauses++;
    setTimeout(() => {
      paused = false;
      pump();
    }, PAUSE_MS);
  }, PAUSE_EVERY_MS);
  setImmediate(pump);

  let stats = pool.stats;
  return {
    name: 'pool',
    failed: f.promise,
    // Completions, plus pauses so a planned idle gap is not a stall.
    progress: () => counts.completed + counts.pauses,
    describe: () => {
      const some = [...inflight.entries()].slice(0, 8).map(([id, p]) => `#${id} ${p.kind} ${p.req?.state ?? '?'}${p.cancelled ? ' cancelled' : ''}`);
      return `${counts.completed} of ${counts.submitted} completed, ${inflight.size} in flight (${some.join(', ')}${inflight.size > 8 ? ', …' : ''}); pool stats ${JSON.stringify(pool.stats)}`;
    },
    async stop() {
      stopping = true;
      clearInterval(pauser);
      while (inflight.size > 0) await new Promise((r) => setTimeout(r, 10));
      const before = pool.stats;
      await pool.close();
      stats = pool.stats;
      att.detach();
      ctx.destroy();
      check(counts.completed === counts.submitted, () => `pool: ${counts.submitted} submitted, ${counts.completed} completed`);
      check(before.submitted === counts.submitted, () => `pool: the pool counted ${before.submitted} submissions, the soak ${counts.submitted}`);
      check(before.done === counts.results && before.cancelled === counts.cancelled && before.failed === counts.failures + counts.died, () => `pool: pool stats ${JSON.stringify(before)} do not match the soak's ${JSON.stringify(counts)}`);
    },
    summary(seconds: number): SummaryRow {
      return {
        activity: `pool (${o.workers} workers, ${IN_FLIGHT} in flight)`,
        unit: 'jobs completed',
        count: counts.completed,
        detail: `${fmtRate(counts.completed, seconds)}; ${fmtCount(counts.results)} results checked, ${fmtCount(counts.failures)} planted failures, ${fmtCount(counts.cancelled)} cancelled (${fmtCount(counts.cancelRefused)} cancel() too late), ${fmtCount(counts.died)} workers killed by a job; ${fmtCount(stats.spawned)} workers spawned, ${fmtCount(stats.exited)} exited`,
      };
    },
  };
}
