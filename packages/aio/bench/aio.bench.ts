/**
 * aio.bh-local, aio.cross-thread-bh and aio.wake-latency (shared/BENCH.md).
 */
import { Worker } from 'node:worker_threads';
import { AioContext, IOTHREAD_POLL_MAX_NS, type BottomHalfHandle } from '@vmloop/aio';
import { defineBenches, type SampleContext } from '@vmloop/bench';
import type { AioBenchJob } from './workers/aio-bench-worker.js';
import { BenchState } from './workers/shared.js';

const entry = new URL('./workers/aio-bench-worker.js', import.meta.url);
const size = (ctx: SampleContext, n: number): number => (ctx.quick ? Math.max(1000, Math.floor(n / 50)) : n);

/** A BH that reschedules itself `hops` times, driven by non-blocking polls: hops per second. */
function bhChain(hops: number): number {
  const ctx = AioContext.create();
  let n = 0;
  const bh = ctx.bh(() => {
    if (++n < hops) bh.schedule();
  });
  const t0 = performance.now();
  bh.schedule();
  while (ctx.poll(false)) {
    /* one hop per poll */
  }
  const rate = hops / ((performance.now() - t0) / 1000);
  bh.delete();
  ctx.poll(false);
  ctx.destroy();
  return rate;
}

/** The peer: a setImmediate callback that re-queues itself `hops` times. */
function immediateChain(hops: number): Promise<number> {
  return new Promise((resolve) => {
    let n = 0;
    const t0 = performance.now();
    const step = (): void => {
      if (++n < hops) setImmediate(step);
      else resolve(hops / ((performance.now() - t0) / 1000));
    };
    setImmediate(step);
  });
}

function spawn(job: AioBenchJob): { worker: Worker; next: <T>() => Promise<T> } {
  const worker = new Worker(entry, { workerData: job });
  const queue: unknown[] = [];
  const waiting: ((m: unknown) => void)[] = [];
  worker.on('message', (m) => {
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  worker.on('error', (e) => {
    throw e;
  });
  return {
    worker,
    next: <T>() => (queue.length > 0 ? Promise.resolve(queue.shift() as T) : new Promise<T>((r) => waiting.push(r as (m: unknown) => void))),
  };
}

/** BH ping-pong between two worker contexts: ns per round trip. */
async function pingPong(rounds: number, pollMaxNs: number): Promise<number> {
  const state = BenchState.handle(BenchState.create());
  const a = spawn({ op: 'pong', side: 0, rounds, pollMaxNs, state });
  const b = spawn({ op: 'pong', side: 1, rounds, pollMaxNs, state });
  const [ha, hb] = await Promise.all([a.next<{ bh: BottomHalfHandle }>(), b.next<{ bh: BottomHalfHandle }>()]);
  a.worker.postMessage(hb.bh);
  b.worker.postMessage(ha.bh);
  const [ra] = await Promise.all([a.next<{ ns: number }>(), b.next<{ ns: number }>()]);
  await Promise.all([a.worker.terminate(), b.worker.terminate()]);
  return ra.ns / rounds / 1000;
}

/** One producer worker keeps 64 BHs of a consumer worker scheduled: BH runs per second. */
async function crossThread(runs: number, notifyAlways: boolean): Promise<number> {
  const state = BenchState.handle(BenchState.create());
  const consumer = spawn({ op: 'consumer', runs, notifyAlways, state });
  const { bhs } = await consumer.next<{ bhs: BottomHalfHandle[] }>();
  const producer = spawn({ op: 'producer', bhs, runs, state });
  const [done] = await Promise.all([consumer.next<{ ns: number }>(), producer.next<unknown>()]);
  await Promise.all([consumer.worker.terminate(), producer.worker.terminate()]);
  return runs / (done.ns / 1e9);
}

/** The window for aio.wake-latency; see its note. */
const WAKE_POLL_MAX_NS = 131072;

export default defineBenches([
  {
    id: 'aio.bh-local',
    metric: 'BH schedule + dispatch hops per second, one thread',
    unit: '1/s',
    better: 'higher',
    peer: `setImmediate (node ${process.version})`,
    note: 'ours: a BH that reschedules itself, run by ctx.poll(false) in a loop; peer: a setImmediate callback that re-queues itself; both one hop per loop turn',
    ours: (ctx) => bhChain(size(ctx, 1_000_000)),
    peerSample: (ctx) => immediateChain(size(ctx, 300_000)),
  },
  {
    id: 'aio.cross-thread-bh',
    metric: 'BH runs per second, scheduled from another worker',
    unit: '1/s',
    better: 'higher',
    peer: 'the same AioContext with the notifier set on every aio_notify (QEMU before notify_me)',
    note: '2 workers: a producer keeps 64 BHs of a consumer context scheduled (each re-armed as soon as it ran); consumer runs waitWhile(); polling off',
    ours: (ctx) => crossThread(size(ctx, 300_000), false),
    peerSample: (ctx) => crossThread(size(ctx, 300_000), true),
  },
  {
    id: 'aio.wake-latency',
    metric: 'cross-thread BH round trip',
    unit: 'µs',
    better: 'lower',
    peer: 'the same with adaptive polling off (poll-max-ns 0)',
    note: `2 worker contexts ping-pong one BH; ours with poll-max-ns ${WAKE_POLL_MAX_NS} (a futex wake costs ~28 µs each way here, so a sleeping round trip blocks ~57 µs and QEMU's default ${IOTHREAD_POLL_MAX_NS} ns window would never grow)`,
    ours: (ctx) => pingPong(size(ctx, 50_000), WAKE_POLL_MAX_NS),
    peerSample: (ctx) => pingPong(size(ctx, 5_000), 0),
  },
]);
