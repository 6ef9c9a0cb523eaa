/**
 * threadpool.tiny and threadpool.latency (shared/BENCH.md): ours against
 * poolifier, piscina, tinypool and workerpool, one line per peer, each peer
 * in its best configuration, all with 2 worker threads.
 */
import { fileURLToPath } from 'node:url';
import { AioContext, type NodeLoopAttachment } from '@vmloop/aio';
import { type BenchCase, defineBenches, type SampleContext } from '@vmloop/bench';
import { ThreadPool } from '@vmloop/thread-pool';
import { Piscina } from 'piscina';
import { FixedThreadPool } from 'poolifier';
import { Tinypool } from 'tinypool';
import workerpool from 'workerpool';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const THREADS = 2;
const IN_FLIGHT = 256;

/** Something that runs add1(x) on a worker. */
interface Runner {
  run(x: number): Promise<number>;
  close(): Promise<unknown>;
}

interface Peer {
  readonly name: string;
  readonly config: string;
  make(): Runner;
}

const peers: Peer[] = [
  {
    name: 'poolifier@5.3.2',
    config: 'FixedThreadPool(2)',
    make: () => {
      const p = new FixedThreadPool<number, number>(THREADS, here('./workers/poolifier-worker.js'));
      return { run: (x) => p.execute(x), close: async () => void (await p.destroy()) };
    },
  },
  {
    name: 'piscina@5.3.2',
    config: 'min=max=2, concurrentTasksPerWorker 16, atomics sync',
    make: () => {
      const p = new Piscina({ filename: here('./workers/plain-worker.js'), minThreads: THREADS, maxThreads: THREADS, concurrentTasksPerWorker: 16 });
      return { run: (x) => p.run(x) as Promise<number>, close: () => p.destroy() };
    },
  },
  {
    name: 'tinypool@2.2.0',
    config: 'min=max=2, isolateWorkers false, concurrentTasksPerWorker 16',
    make: () => {
      const p = new Tinypool({ filename: here('./workers/plain-worker.js'), minThreads: THREADS, maxThreads: THREADS, isolateWorkers: false, concurrentTasksPerWorker: 16 });
      return { run: (x) => p.run(x) as Promise<number>, close: () => p.destroy() };
    },
  },
  {
    name: 'workerpool@10.0.3',
    config: "minWorkers=maxWorkers=2, workerType 'thread'",
    make: () => {
      const p = workerpool.pool(here('./workers/workerpool-worker.js'), { minWorkers: THREADS, maxWorkers: THREADS, workerType: 'thread' });
      return { run: (x) => p.exec('add1', [x]) as unknown as Promise<number>, close: async () => void (await p.terminate()) };
    },
  },
];

function ours(): Runner & { att: NodeLoopAttachment } {
  // Adaptive polling on the main thread's context: it spins before sleeping
  // while completions keep coming (QEMU's poll-max-ns). A sleeping round
  // trip costs ~60–90 µs here, so the window must be able to exceed that.
  const ctx = AioContext.create({ poll: { maxNs: 262_144 } });
  const att = ctx.attachToNodeLoop();
  const pool = new ThreadPool(ctx, { jobs: new URL('./workers/jobs.js', import.meta.url), min: THREADS, max: THREADS });
  return {
    att,
    run: (x) => pool.submit<number>('add1', x),
    close: async () => {
      await pool.close();
      att.detach();
      ctx.destroy();
    },
  };
}

/** Jobs per second with IN_FLIGHT outstanding. */
async function throughput(r: Runner, n: number): Promise<number> {
  let sent = 0;
  let done = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      if (sent >= n) return;
      const x = sent++;
      r.run(x).then((v) => {
        if (v !== x + 1) reject(new Error(`bad result ${v} for ${x}`));
        if (++done === n) resolve();
        else next();
      }, reject);
    };
    for (let i = 0; i < IN_FLIGHT; i++) next();
  });
  return n / ((performance.now() - t0) / 1000);
}

/** Mean round trip in µs, one job at a time. */
async function latency(r: Runner, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) if ((await r.run(i)) !== i + 1) throw new Error('bad result');
  return ((performance.now() - t0) * 1000) / n;
}

const size = (ctx: SampleContext, n: number): number => (ctx.quick ? Math.max(200, Math.floor(n / 50)) : n);

function cases(peer: Peer): BenchCase[] {
  let a: Runner | undefined;
  let b: Runner | undefined;
  const setup = (): void => {
    a = ours();
    b = peer.make();
  };
  const teardown = async (): Promise<void> => {
    await a?.close();
    await b?.close();
  };
  return [
    {
      id: 'threadpool.tiny',
      metric: 'tiny jobs per second (add1), 2 threads, 256 in flight',
      unit: '1/s',
      better: 'higher',
      peer: `${peer.name} (${peer.config})`,
      note: 'ours: ThreadPool min=max=2 on an AioContext attached to the main thread\'s Node loop with poll-max-ns 262144; submit() promises; both pools warm; samples of ~0.5 s each (ours 1 M jobs, the peer 50 k)',
      setup,
      teardown,
      // Samples of about the same length on both sides (~0.5 s): a short one
      // of ours right after the peer's is mostly the climb back from idle
      // (200 k jobs: 1.6–2.2 M/s; 1 M: 2.0–2.2 M/s, same run).
      ours: (ctx) => throughput(a!, size(ctx, 1_000_000)),
      peerSample: (ctx) => throughput(b!, size(ctx, 50_000)),
    },
    {
      id: 'threadpool.latency',
      metric: 'one job at a time, round trip',
      unit: 'µs',
      better: 'lower',
      peer: `${peer.name} (${peer.config})`,
      note: 'ours: ThreadPool min=max=2, workers spin 20000 loads before sleeping, the main context polls adaptively (poll-max-ns 262144); the main thread awaits each submit() in turn',
      setup,
      teardown,
      ours: (ctx) => latency(a!, size(ctx, 20_000)),
      peerSample: (ctx) => latency(b!, size(ctx, 3_000)),
    },
  ];
}

export default defineBenches(peers.flatMap(cases));
