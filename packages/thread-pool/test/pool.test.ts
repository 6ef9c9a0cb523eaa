import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withWatchdog } from '@vmloop/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { AioContext, type AioContextOptions, type NodeLoopAttachment } from '@vmloop/aio';
import { PoolError, ThreadPool, type ThreadPoolOptions, transfer } from '@vmloop/thread-pool';

const jobs = new URL('../build/test/workers/jobs.js', import.meta.url);
const open: { pool: ThreadPool; ctx: AioContext; att: NodeLoopAttachment }[] = [];

function makePool(options: Partial<ThreadPoolOptions> = {}, ctxOptions: AioContextOptions = {}): ThreadPool {
  const ctx = AioContext.create(ctxOptions);
  const att = ctx.attachToNodeLoop();
  const pool = new ThreadPool(ctx, { jobs, max: 2, ...options });
  open.push({ pool, ctx, att });
  return pool;
}

afterEach(async () => {
  for (const { pool, att } of open.splice(0)) {
    await pool.close({ cancel: true });
    att.detach();
  }
});

/** Submits `sleep(ms)` and resolves once a worker runs it. */
async function activeRequest(pool: ThreadPool, ms: number): Promise<{ done: Promise<number> }> {
  let settle!: (v: number) => void;
  const done = new Promise<number>((r) => {
    settle = r;
  });
  const req = pool.submitCallback<number>('sleep', ms, (_e, v) => settle(v!));
  await withWatchdog(
    (async () => {
      while (req.state !== 'active') await new Promise((x) => setTimeout(x, 1));
    })(),
    10_000,
    'the request never became active',
  );
  return { done };
}

const codeOf = async (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (e: unknown) => (e as { code?: string }).code,
  );

describe('thread-pool / basics', () => {
  it('1e5 tiny jobs across 4 workers, 256 in flight, every result matched to its request', async () => {
    const pool = makePool({ max: 4 });
    const N = 100_000;
    const results = new Int32Array(N).fill(-1);
    let done = 0;
    let sent = 0;
    let inflight = 0;
    await withWatchdog(
      new Promise<void>((resolve, reject) => {
        const pump = (): void => {
          while (inflight < 256 && sent < N) {
            const i = sent++;
            inflight++;
            pool.submitCallback<number>('add1', i, (err, r) => {
              inflight--;
              if (err) return reject(err);
              if (results[i] !== -1) return reject(new Error(`request ${i} completed twice`));
              results[i] = r!;
              if (++done === N) resolve();
              else pump();
            });
          }
        };
        pump();
      }),
      60_000,
      () => `lost completions: ${done} of ${N} done, ${inflight} in flight, stats ${JSON.stringify(pool.stats)}`,
    );
    for (let i = 0; i < N; i++) if (results[i] !== i + 1) throw new Error(`request ${i} got ${results[i]}`);
    expect(pool.stats).toMatchObject({ done: N, failed: 0, cancelled: 0 });
    expect(pool.stats.spawned).toBeLessThanOrEqual(4);
  });

  it('a job that throws rejects with its name, message, stack and code', async () => {
    const pool = makePool();
    const e = (await pool.submit('fail', 'boom').catch((x: unknown) => x)) as Error & { code: string };
    expect(e.name).toBe('RangeError');
    expect(e.message).toBe('boom');
    expect(e.code).toBe('E_JOB');
    expect(e.stack).toContain('fail');
  });

  it('values that do not fit the fast path fall back to structured clone transparently', async () => {
    const pool = makePool({ payloadBytes: 64 });
    expect(await pool.submit('echo', 'short')).toBe('short');
    expect((await pool.submit<string>('big', 100_000)).length).toBe(100_000);
    const obj = { list: Array.from({ length: 200 }, (_, i) => i), nested: { m: new Map([[1, 'a']]) } };
    expect(await pool.submit('echo', obj)).toEqual(obj);
    expect(await pool.submit('echoLater', [1, 'two', null])).toEqual([1, 'two', null]);
    expect(pool.stats.fallback).toBeGreaterThan(0);
    expect(pool.stats.fastPath).toBeGreaterThan(0);
  });

  it('transferables are moved, not cloned (piscina #155); SharedArrayBuffer views are shared', async () => {
    const pool = makePool();
    const buf = new ArrayBuffer(1024);
    const back = pool.submit<ArrayBuffer>('fillAndReturn', transfer(buf, [buf]));
    expect(buf.byteLength).toBe(0); // detached here: it moved to the worker
    const returned = await back;
    expect(returned.byteLength).toBe(1024);
    expect(new Uint8Array(returned)[1023]).toBe(7);
    const view = new Int32Array(new SharedArrayBuffer(16));
    expect(await pool.submit('writeShared', view)).toBe(4);
    expect(Atomics.load(view, 0)).toBe(42);
  });

  it('workerData reaches every job as its second argument, once per worker; its SharedArrayBuffers are shared', async () => {
    const words = new SharedArrayBuffer(8);
    const pool = makePool({ max: 2, workerData: { words, tag: 'disk0' } });
    const got = await Promise.all(Array.from({ length: 200 }, () => pool.submit<string>('bumpShared', 1)));
    expect(got.every((g) => g.startsWith('disk0:'))).toBe(true);
    expect(new Set(got).size).toBe(200); // every bump saw a distinct old value: one shared word
    expect(Atomics.load(new Int32Array(words), 1)).toBe(200);
    expect(pool.stats.fallback).toBe(0); // the context did not travel with the requests
  });

  it('completionBatch: completions handed back in batches while more are queued, and at once when the ring empties', async () => {
    const pool = makePool({ max: 1, completionBatch: 8 });
    // A lone request: nothing else queued, so its completion is signalled at once (no wait for a batch).
    expect(await withWatchdog(pool.submit('add1', 1), 20_000, 'a lone request under completionBatch 8 never completed')).toBe(2);
    // Many: every result arrives, whatever the batching did.
    const got = await withWatchdog(Promise.all(Array.from({ length: 5000 }, (_, i) => pool.submit<number>('add1', i))), 60_000, 'completions held by batching were never signalled');
    expect(got.every((v, i) => v === i + 1)).toBe(true);
    expect(() => makePool({ completionBatch: 0 })).toThrow(PoolError);
  });

  // maxAwake Infinity: every sleeper is woken at once (S2's count, W0');
  // maxAwake 1: the others only through the stranding check (S5), because
  // each job holds its worker until the whole round runs — the head stands
  // still, so the check must wake the rest, or the round gives up.
  it.each([
    ['Infinity (S2, W0\')', Number.POSITIVE_INFINITY],
    ['1 (S5, the stranding check)', 1],
  ])('a burst reaches every sleeping worker, maxAwake %s: jobs that each wait for the whole burst all meet (wake protocol, verification/models/pool-wakeup.pml)', async (_, maxAwake) => {
    // Few spins, so workers sleep between rounds and the spinner role moves
    // around; every job of a round holds its worker until all of the round
    // are running, so a request left in the ring while a worker sleeps (a
    // lost wake-up, or one of parallelism) makes the round give up.
    const rounds = maxAwake === 1 ? 150 : 400;
    const words = new SharedArrayBuffer(4 * rounds);
    const pool = makePool({ min: 4, max: 4, spins: 200, maxAwake, workerData: { words } });
    for (let r = 0; r < rounds; r++) {
      const n = 2 + (r % 3);
      const met = await Promise.all(Array.from({ length: n }, () => pool.submit<number>('meetRound', r * 8 + n)));
      if (met.some((m) => m !== 1)) throw new Error(`round ${r}: ${n} requests, but one never reached a worker while the others waited in theirs (a lost wake-up)`);
      // Let the workers go back to sleep now and then.
      if (r % 4 === 3) await new Promise((x) => setTimeout(x, r % 3));
    }
    expect(pool.stats.done).toBe(Array.from({ length: rounds }, (_, r) => 2 + (r % 3)).reduce((a, b) => a + b, 0));
    // With the cap, rounds whose requests outnumber the room must have met through S5.
    if (maxAwake === 1) expect(pool.stats.strandWakes).toBeGreaterThan(0);
  });

  it('maxAwake: tiny jobs on a pool of 4 capped at 1 awake all complete with their results; bad values are ERR_INVALID_ARGUMENT', async () => {
    for (const bad of [0, -1, 1.5, 257, Number.NaN]) {
      expect(() => new ThreadPool(AioContext.create(), { jobs, maxAwake: bad })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    const pool = makePool({ min: 4, max: 4, maxAwake: 1 });
    const N = 20_000;
    const results = await withWatchdog(
      Promise.all(Array.from({ length: N }, (_, i) => pool.submit<number>('add1', i))),
      20_000,
      'tiny jobs under maxAwake 1 never all completed (a request stranded in the ring)',
    );
    for (let i = 0; i < N; i++) if (results[i] !== i + 1) throw new Error(`request ${i}: got ${results[i]}`);
  });

  it('spinMaxNs: requests that come a little apart (the adaptive spin window in use) all complete with their results; a bad value is ERR_INVALID_ARGUMENT', async () => {
    expect(() => new ThreadPool(AioContext.create(), { jobs, spinMaxNs: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    const pool = makePool({ min: 2, max: 2, spins: 100, spinMaxNs: 500_000 });
    for (let i = 0; i < 300; i++) {
      expect(await withWatchdog(pool.submit<number>('add1', i), 10_000, `request ${i} never completed`)).toBe(i + 1);
      // Gaps of a timer turn: sleeps the window can grow to cover.
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 0));
    }
    expect(pool.stats.done).toBe(300);
  });

  it('unknown jobs and bad arguments are typed errors', async () => {
    const pool = makePool();
    expect(await codeOf(pool.submit('nope', 1))).toBe('ERR_UNKNOWN_JOB');
    expect(() => pool.submitCallback('', 1, () => {})).toThrow(PoolError);
    expect(() => pool.submitCallback('add1', 1, undefined as never)).toThrow(/callback/);
  });
});

describe('thread-pool / cancel', () => {
  it('cancellation at random moments: each request ends exactly once with a result or ECANCELED', async () => {
    const pool = makePool({ max: 2 });
    const N = 3000;
    const ends = new Int32Array(N);
    const cancelled = new Uint8Array(N);
    let seen = 0;
    let rnd = 12345;
    const reqs = Array.from({ length: N }, (_, i) =>
      pool.submitCallback<number>(i % 7 === 0 ? 'sleep' : 'add1', i % 7 === 0 ? 1 : i, (err) => {
        ends[i]!++;
        seen++;
        if (err) expect((err as PoolError).code).toBe('ECANCELED');
        else expect(cancelled[i]).toBe(0);
      }),
    );
    for (let k = 0; k < N / 3; k++) {
      rnd = (rnd * 1103515245 + 12345) >>> 0;
      const i = rnd % N;
      if (reqs[i]!.cancel()) cancelled[i] = 1;
      if (k % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    await withWatchdog(
      (async () => {
        while (seen < N) await new Promise((r) => setTimeout(r, 5));
      })(),
      60_000,
      () => `${seen} of ${N} requests completed`,
    );
    for (let i = 0; i < N; i++) expect(ends[i]).toBe(1);
    const s = pool.stats;
    expect(s.cancelled).toBe(cancelled.reduce((a, b) => a + b, 0));
    expect(s.done + s.cancelled).toBe(N);
  });

  it('a cancelled queued task does not stop later tasks from starting (piscina #805)', async () => {
    const pool = makePool({ max: 1 });
    const first = pool.submit('sleep', 50);
    const middle = pool.submit('add1', 1);
    const last = pool.submit('add1', 2);
    const reqs = [pool.submitCallback('add1', 3, () => {})];
    expect(reqs[0]!.cancel()).toBe(true);
    expect(await codeOf(middle.then(() => undefined))).toBeUndefined();
    expect(await last).toBe(3);
    expect(await first).toBe(50);
  });

  it('cancelling one task does not kill unrelated tasks sharing its thread (piscina #934)', async () => {
    const pool = makePool({ max: 1 });
    const running = pool.submit('sleep', 30);
    const victim = pool.submitCallback('add1', 10, () => {});
    const bystander = pool.submit('add1', 20);
    expect(victim.cancel()).toBe(true);
    expect(victim.cancel()).toBe(false);
    expect(await running).toBe(30);
    expect(await bystander).toBe(21);
    expect(pool.stats.died).toBe(0);
  });

  it('a running request is not cancelled; it finishes normally', async () => {
    const pool = makePool({ max: 1 });
    const r = pool.submitCallback<number>('sleep', 40, () => {});
    await withWatchdog(
      (async () => {
        while (r.state !== 'active') await new Promise((x) => setTimeout(x, 1));
      })(),
      10_000,
      'the request never became active',
    );
    expect(r.cancel()).toBe(false);
  });
});

describe('thread-pool / faults', () => {
  it('a worker that exits mid-task rejects only its request with ERR_WORKER_DIED and is replaced (poolifier #3211, piscina #304)', async () => {
    const pool = makePool({ max: 2 });
    const others = Array.from({ length: 50 }, (_, i) => pool.submit<number>('add1', i));
    const dying = pool.submit('exitProcess', 3);
    expect(await codeOf(dying)).toBe('ERR_WORKER_DIED');
    expect(await Promise.all(others)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await pool.submit('add1', 99)).toBe(100);
    expect(pool.stats.died).toBe(1);
  });

  it('an uncaught error outside a job kills the worker; nothing else is lost', async () => {
    const pool = makePool({ max: 1 });
    expect(await pool.submit('crashLater')).toBe('scheduled');
    const after = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.submit<number>('add1', i)));
    expect(after).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('TypeScript job files fail to load with a typed error, never a hang (piscina #153)', async () => {
    const pool = makePool({ jobs: fileURLToPath(new URL('./workers/jobs.ts', import.meta.url)) });
    const e = (await pool.submit('add1', 1).catch((x: unknown) => x)) as PoolError;
    expect(e.code).toBe('ERR_JOB_MODULE');
    expect(e.message).toMatch(/TypeScript/);
  });
});

describe('thread-pool / workers and limits', () => {
  it('idle workers above min exit after idleTimeoutMs', async () => {
    const pool = makePool({ min: 1, max: 4, idleTimeoutMs: 30 });
    await Promise.all(Array.from({ length: 200 }, () => pool.submit('sleep', 2)));
    expect(pool.stats.spawned).toBeGreaterThan(1);
    await withWatchdog(
      (async () => {
        while (pool.workerCount > 1) await new Promise((r) => setTimeout(r, 10));
      })(),
      20_000,
      () => `idle workers did not shrink to min: ${pool.workerCount}`,
    );
    expect(pool.workerCount).toBe(1);
  });

  it('setParams under load; invalid limits are ERR_INVALID_ARGUMENT', async () => {
    const pool = makePool({ max: 1 });
    const load = Array.from({ length: 2000 }, (_, i) => pool.submit<number>('add1', i));
    pool.setParams({ min: 2, max: 3 });
    expect(pool.workerCount).toBeGreaterThanOrEqual(2);
    pool.setParams({ min: 0, max: 1 });
    expect((await Promise.all(load)).length).toBe(2000);
    for (const bad of [{ min: 3, max: 2 }, { max: 0 }, { min: -1 }, { max: 1.5 }]) {
      expect(() => pool.setParams(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    expect(() => new ThreadPool(AioContext.create(), { jobs, min: 2, max: 1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('back-pressure: maxQueue with "error" rejects at once; with "wait" drain() fires as soon as there is room (piscina #796, #868)', async () => {
    const strict = makePool({ max: 1, maxQueue: 2, queueFull: 'error' });
    const running = await activeRequest(strict, 30);
    // One runs, two wait: then the queue is full.
    const queued = [strict.submit('add1', 1), strict.submit('add1', 2)];
    expect(() => strict.submitCallback('add1', 4, () => {})).toThrow(expect.objectContaining({ code: 'ERR_QUEUE_FULL' }));
    await Promise.all([running.done, ...queued]);

    const patient = makePool({ max: 1, maxQueue: 1, queueFull: 'wait' });
    const order: string[] = [];
    const all = Array.from({ length: 6 }, (_, i) => patient.submit('sleep', 5).then(() => order.push(`done-${i}`)));
    const drained = patient.drain().then(() => order.push('drain'));
    await Promise.all([...all, drained]);
    // drain fired before the last request finished, not after everything.
    expect(order.indexOf('drain')).toBeLessThan(order.length - 1);
  });

  it('close({ cancel: true }) cancels queued requests, lets running ones finish, and leaves no worker', async () => {
    const pool = makePool({ max: 1 });
    const running = await activeRequest(pool, 30);
    const queued = Array.from({ length: 5 }, (_, i) => codeOf(pool.submit('add1', i)));
    await pool.close({ cancel: true });
    expect(await running.done).toBe(30);
    expect(await Promise.all(queued)).toEqual(Array(5).fill('ECANCELED'));
    expect(pool.workerCount).toBe(0);
    expect(() => pool.submitCallback('add1', 1, () => {})).toThrow(expect.objectContaining({ code: 'ERR_POOL_CLOSED' }));
  });
});

/** The pool's shared words and ring counters (white-box: the wrap-around test starts them near 2^31). */
interface PoolInternals {
  mem: { submitHead: { store(v: number): number; load(): number }; submitTail: { store(v: number): number }; doneTail: { store(v: number): number; load(): number } };
  submitTail: number;
  published: number;
  doneHead: number;
}

describe('thread-pool / ring counters and the polled done ring', () => {
  it('the ring counters wrap past 2^31 requests: every request still completes with its result', async () => {
    // Before the fix the counters left the int32 range: a worker indexed the
    // ring with a negative number and died (ERR_LAYOUT_BOUNDS), and the
    // home thread's copies never matched the shared words again.
    const pool = makePool({ max: 4, min: 4, slots: 6, maxAwake: Number.POSITIVE_INFINITY }, { poll: { maxNs: 50_000 } });
    const p = pool as unknown as PoolInternals;
    const start = 2 ** 31 - 300;
    for (const w of [p.mem.submitHead, p.mem.submitTail, p.mem.doneTail]) w.store(start);
    p.submitTail = p.published = p.doneHead = start;
    // Several in flight (the 6 slots, then the overflow queue), then one at a time.
    const burst = await withWatchdog(
      Promise.all(Array.from({ length: 400 }, (_, i) => pool.submit<number>('add1', i))),
      30_000,
      () => `requests stranded across the int32 wrap: head ${p.mem.submitHead.load()}, done tail ${p.mem.doneTail.load()}`,
    );
    expect(burst).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    for (let i = 0; i < 200; i++) expect(await withWatchdog(pool.submit<number>('add1', i), 10_000, `request ${i} after the wrap never completed`)).toBe(i + 1);
    expect(p.mem.submitHead.load()).toBe((start + 600) | 0);
    expect(p.mem.doneTail.load()).toBe((start + 600) | 0);
    expect(pool.stats.done).toBe(600);
  });

  it('one request at a time against a polling context, completions landing while it spins, as its window ends and while it sleeps: none is lost (C2)', async () => {
    // While the home thread's context is in poll mode, workers skip the
    // completion BH and the pool's poll handler finds the entry. Job
    // lengths straddle the 20 µs window, so completions also land as
    // polling ends (the handler looks once more after homePolling = 0)
    // and after the attachment went to sleep (the worker saw 0 and
    // scheduled the BH). A completion both skip hangs its request.
    const pool = makePool({ max: 2, min: 2 }, { poll: { maxNs: 20_000 } });
    const rounds = 4000;
    for (let i = 0; i < rounds; i++) {
      const us = Math.floor(Math.random() * 60);
      const v = await withWatchdog(pool.submit<number>('spinFor', us), 20_000, () => `completion ${i} of ${rounds} (a ${us} µs job) was lost: neither polled nor scheduled; stats ${JSON.stringify(pool.stats)}`);
      expect(v).toBe(us);
    }
    // Both ways were taken.
    expect(pool.stats.polled).toBeGreaterThan(0);
    expect(pool.stats.polled).toBeLessThan(rounds);
    expect(pool.stats.done).toBe(rounds);
  });
});

describe('thread-pool / process lifetime', () => {
  it('a pool on the Node main thread does not keep the process alive after close(), nor while idle', () => {
    const aio = JSON.stringify(fileURLToPath(new URL('../../aio/dist/index.js', import.meta.url)));
    const tp = JSON.stringify(fileURLToPath(new URL('../dist/index.js', import.meta.url)));
    const src = `import { AioContext } from ${aio}; import { ThreadPool } from ${tp};
const ctx = AioContext.create({ poll: { maxNs: 100000 } }); ctx.attachToNodeLoop();
const pool = new ThreadPool(ctx, { jobs: ${JSON.stringify(jobs.href)}, min: 2, max: 2 });
console.log(await pool.submit('add1', 1));
const idle = new ThreadPool(ctx, { jobs: ${JSON.stringify(jobs.href)}, min: 1, max: 1 });
console.log(await idle.submit('add1', 2));
await pool.close();
console.log('closed');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', src], { encoding: 'utf8', timeout: 8_000 });
    if (r.error) throw new Error(`the process did not exit by itself: ${r.error.message}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    expect(r.stdout).toBe('2\n3\nclosed\n');
    expect(r.status).toBe(0);
  });
});
