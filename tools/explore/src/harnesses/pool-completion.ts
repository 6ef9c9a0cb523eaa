/**
 * Thread-pool completion: a pool worker completing two requests against
 * the home thread's completion BH, whose callbacks each wait (a nested
 * blocking poll, `waitWhile`) for the other request — QEMU
 * test-thread-pool's shape, packages/thread-pool/test/workers/nested.ts;
 * the model is verification/models/pool-completion.pml.
 *
 * Production code under test, on the home thread: ThreadPool
 * `submitCallback`/`dispatch`/`wake` (in setup, not explored),
 * `completionBhCallback` (drain the done ring, C1 state before result,
 * reschedule before each callback when more are pending, cancel after),
 * `finish`/`freeSlot`/`pump`, BottomHalf `schedule`/`cancel`, and
 * AioContext `poll`/`waitWhile` with the nested polls. On the worker:
 * RemoteBottomHalf `schedule` (the W4 completion schedule) over the pool's
 * real shared memory (thread-pool layout.ts, opened by name).
 *
 * The worker's side is the pool's own WorkerRing (worker-ring.ts, what
 * pool-worker.ts runs): `take()` (W1, W2), `publish()` (result meta, W3
 * state DONE, then W4) and `complete()` (done-ring reservation and entry,
 * W4). Only the job call itself is left out. No job module is loaded and no worker is
 * spawned: the pool is told one worker is idle (`idle = 1`, what a started
 * pool-worker does first), so dispatch does not spawn.
 *
 * Each request completes exactly once and nobody sleeps forever.
 *
 * Mutant `pool-completion:no-reschedule` (the model's BUG_NO_RESCHEDULE):
 * the completion BH does not reschedule itself before a callback; the
 * first callback's nested poll then sleeps with the second completion in
 * the done ring. The mutant wraps the pool's completion BH so that
 * `schedule()` does nothing while `completionBhCallback` runs.
 */
import { AioContext, type BottomHalf, type BottomHalfHandle, RemoteBottomHalf } from '@vmloop/aio';
import type { Instance, Int32Cell, Int32CellArray, Layout, LayoutHandle } from '@vmloop/atomics';
import { ThreadPool } from '@vmloop/thread-pool';
import { Clocks } from '@vmloop/timers';
import { assertThat, defineHarness } from '../harness.js';

/** The pool's own layout module (not exported by the package; the same module instance it uses). */
const layoutModule = (await import(new URL('./layout.js', import.meta.resolve('@vmloop/thread-pool')).href)) as {
  poolLayout(shape: { slots: number; payload: number }): Layout<Record<string, never>>;
};
/** The worker's ring operations (worker-ring.ts, what pool-worker.ts runs), from the same package. */
const ringModule = (await import(new URL('./worker-ring.js', import.meta.resolve('@vmloop/thread-pool')).href)) as {
  WorkerRing: new (mem: PoolMemory, completion: { schedule(): void }) => { take(): number; publish(slot: number, tag: number, length: number): void };
};
/** codec.ts TAG_UNDEFINED: the job's result is `undefined` (no payload bytes). */
const TAG_UNDEFINED = 0;

const SHAPE = { slots: 4, payload: 8 };

interface PoolMemory {
  readonly submitHead: Int32Cell;
  readonly submitTail: Int32Cell;
  readonly idle: Int32Cell;
  readonly doneTail: Int32Cell;
  readonly ring: Int32CellArray;
  readonly doneRing: Int32CellArray;
  readonly state: Int32CellArray;
  readonly argMeta: Int32CellArray;
  readonly resMeta: Int32CellArray;
  readonly worker: Int32CellArray;
}

interface Home {
  readonly ctx: AioContext;
  readonly pool: ThreadPool;
  readonly calls: number[];
  readonly done: boolean[];
}
interface Handles {
  readonly memory: LayoutHandle;
  readonly completion: BottomHalfHandle;
}
interface Worker {
  readonly mem: PoolMemory;
  readonly completion: RemoteBottomHalf;
}

interface PoolInternals {
  mem: Instance<Record<string, never>> & PoolMemory;
  completionBh: BottomHalf;
  completionBhCallback(): void;
  publish(): void;
}

/** The mutant: the completion BH's schedule() does nothing from inside completionBhCallback. */
function noReschedule(pool: ThreadPool): void {
  const p = pool as unknown as PoolInternals;
  const real = p.completionBh;
  let depth = 0;
  p.completionBh = Object.assign(Object.create(real) as BottomHalf, {
    schedule(): void {
      if (depth === 0) real.schedule(); // BUG: no reschedule before the callback
    },
  });
  const callback = p.completionBhCallback;
  p.completionBhCallback = function completionBhCallback(this: PoolInternals): void {
    depth++;
    try {
      callback.call(this);
    } finally {
      depth--;
    }
  };
}

function harness(name: string, expect: 'pass' | 'fail') {
  return defineHarness<Home, Handles, Worker>({
    name,
    description:
      expect === 'pass'
        ? 'pool worker completes 2 requests vs the completion BH whose callbacks each waitWhile (nested poll) for the other; each completes once'
        : 'mutant: the completion BH does not reschedule itself before a callback (BUG_NO_RESCHEDULE); the nested poll sleeps forever',
    expect,
    setup() {
      const ctx = AioContext.create({ name: 'explore', clocks: Clocks.create({ source: 'manual' }), maxBottomHalves: 4, maxNotifiers: 1 });
      const pool = new ThreadPool(ctx, { jobs: 'file:///explore-no-jobs.js', min: 0, max: 1, ...SHAPE, payloadBytes: SHAPE.payload, spins: 0 });
      const p = pool as unknown as PoolInternals;
      // A started pool-worker counts itself idle first; with one idle worker, dispatch does not spawn.
      p.mem.idle.store(1);
      const completion = p.completionBh.handle;
      if (expect === 'fail') noReschedule(pool);
      const home: Home = { ctx, pool, calls: [0, 0], done: [false, false] };
      for (const i of [0, 1]) {
        pool.submitCallback('job', undefined, () => {
          home.calls[i]!++;
          home.done[i] = true;
          // Each callback waits for the other (QEMU test-thread-pool).
          if (!home.done[1 - i]) ctx.waitWhile(() => !home.done[1 - i]);
        });
      }
      // The second request is held back for the completion BH to publish
      // (S3: more outstanding than workers); publish both now — this harness
      // is about the completions, and pool-wakeup.pml about publication.
      p.publish();
      return { home, handles: { memory: { buffer: p.mem.buffer, byteOffset: p.mem.byteOffset }, completion } };
    },
    open: (h) => ({
      mem: layoutModule.poolLayout(SHAPE).open(h.memory) as unknown as PoolMemory,
      completion: RemoteBottomHalf.open(h.completion),
    }),
    home: {
      name: 'home',
      run(s) {
        s.ctx.waitWhile(() => !(s.done[0] && s.done[1]));
      },
    },
    remotes: [
      {
        name: 'pool-worker',
        run({ mem, completion }) {
          const ring = new ringModule.WorkerRing(mem, completion);
          for (let n = 0; n < 2; n++) {
            const slot = ring.take();
            if (slot < 0) throw new Error('pool-worker: the ring is empty, expected two requests');
            // pool-worker.ts run() and finish(): the job returns undefined.
            mem.worker.store(slot, 0);
            mem.argMeta.load(slot);
            ring.publish(slot, TAG_UNDEFINED, 0);
          }
        },
      },
    ],
    check(s) {
      // A worker's completion schedule may land after the BH already took
      // its entry (it writes the entry, then schedules): the BH then runs
      // once more and finds nothing. Let it, then look.
      while (s.ctx.poll(false)) {
        // drain
      }
      assertThat(s.calls[0] === 1 && s.calls[1] === 1, `callbacks ran ${JSON.stringify(s.calls)} times, expected [1,1]`);
      const stats = s.pool.stats;
      assertThat(stats.done === 2 && stats.queued === 0 && stats.active === 0, `pool stats ${JSON.stringify(stats)}`);
    },
  });
}

export const harnesses = [harness('pool-completion', 'pass'), harness('pool-completion:no-reschedule', 'fail')];
