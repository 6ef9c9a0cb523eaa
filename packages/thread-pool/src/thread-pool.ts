import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort, type TransferListItem, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import type { AioContext, BottomHalf } from '@vmloop/aio';
import { SCALE_NS, type Timer } from '@vmloop/timers';
import { workerExecArgv } from '@vmloop/atomics';
import { type PayloadView, TAG_ERROR, TAG_ERROR_MESSAGE, TAG_MESSAGE, Transfer, decode, encode, encodedLength, encodedTag } from './codec.js';
import { PoolError, type SerializedError, reviveError } from './errors.js';
import { ACTIVE, CANCELLED, DONE, JOB_NAME_BYTES, MAX_JOBS, MAX_WORKERS, type PoolMemory, QUEUED, WORKER_PROVEN, WORKER_RETIRED, WORKER_STARTED, metaLength, metaTag, doneSlotAt, packMeta, poolLayout, sleepingOf } from './layout.js';
import type { PoolWorkerData, ResultMessage } from './messages.js';
import { type PoolCallback, PoolRequest, type RequestState } from './request.js';
import type { PoolStats } from './stats.js';

/** Options of a {@link ThreadPool}. */
export interface ThreadPoolOptions {
  /** Module(s) whose exported functions are the jobs, by name (URL or absolute path of built JavaScript). */
  readonly jobs: string | URL | readonly (string | URL)[];
  /** Workers kept even when idle (default 0; QEMU min-threads). */
  readonly min?: number;
  /** Most workers at once (default os.availableParallelism(), at most 256; QEMU max-threads, default 64). */
  readonly max?: number;
  /** Idle workers above `min` exit after this long (default 10 000 ms, QEMU's). */
  readonly idleTimeoutMs?: number;
  /** Requests that may wait for a worker before back-pressure applies (default Infinity). */
  readonly maxQueue?: number;
  /** At `maxQueue`: `'error'` rejects new requests with ERR_QUEUE_FULL; `'wait'` (default) holds them until there is room. */
  readonly queueFull?: 'error' | 'wait';
  /** Requests in shared memory at once (default 1024); more wait in a queue on this thread. */
  readonly slots?: number;
  /** Bytes per request for arguments and results on the fast path (default 256, multiple of 8). */
  readonly payloadBytes?: number;
  /** Loads a worker spins on the ring before sleeping (default 20 000, ~20–40 µs: longer than a futex wake costs here). */
  readonly spins?: number;
  /**
   * Adaptive spinning beyond `spins` (QEMU's poll-max-ns for a worker):
   * the worker that spins lengthens its spin, up to this many ns, while its
   * sleeps keep ending sooner than that, and drops back when they do not
   * (default 0: off). Only one worker spins at a time.
   */
  readonly spinMaxNs?: number;
  /**
   * Given to every job as its second argument, `job(arg, workerData)`:
   * structured-cloned once per worker when it starts (SharedArrayBuffers in
   * it are shared), so per-pool context — a file descriptor, guest memory —
   * does not travel with each request (Piscina's `workerData`).
   */
  readonly workerData?: unknown;
  /**
   * Completions a worker hands back with one completion-BH schedule while
   * more requests are queued (default 1: one per request, as QEMU). Larger
   * values cut the home thread's wake-ups when jobs are short and uniform
   * (disk I/O from the page cache); a completion then waits for at most
   * `completionBatch - 1` later jobs of its worker, so keep it 1 when job
   * lengths vary.
   */
  readonly completionBatch?: number;
  /**
   * Workers that submissions keep awake at once (default
   * `max(1, os.availableParallelism() - 1)`: the home thread that submits
   * needs a core too). While this many workers are awake, more queued
   * requests do not wake a sleeper — the awake ones come back to the ring
   * for them, and on a 2-core machine a second worker would only take
   * turns with the home thread for a core. If the ring's head then stands
   * still for a millisecond with requests queued and a worker asleep (a
   * long or blocking job), the pool wakes sleepers for all of them (S5).
   * `Infinity`: a sleeper for each queued request at once, as QEMU's
   * semaphore does.
   */
  readonly maxAwake?: number;
}

/** Options of one submission. */
export interface SubmitOptions {
  /** Objects to move to the worker instead of copying (ArrayBuffers, MessagePorts, …). */
  readonly transfer?: readonly TransferListItem[];
}

interface WorkerRecord {
  readonly id: number;
  readonly worker: Worker;
  readonly port: MessagePort;
  /** Results that arrived on the port before their slot was drained. */
  readonly early: Map<number, unknown>;
}

function checkLimit(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new PoolError('ERR_INVALID_ARGUMENT', `${what} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

const entry = new URL('./pool-worker.js', import.meta.url);
/** How long a notify that woke workers lets later ones skip (S4), in ms. */
const S4_WINDOW_MS = 1;
/** How long the ring's head may stand still with requests queued before S5 wakes sleepers beyond `maxAwake`, in ns. */
const STRAND_NS = 1_000_000;
/** Most ring entries dispatch holds back before publishing them (S3). */
const PUBLISH_BATCH = 64;
/** takeCompletion: a slot that only had to be freed. */
const SKIPPED = Symbol('skipped');

/**
 * QEMU's thread pool (util/thread-pool.c) for Node.js: worker threads run
 * named jobs exported by modules; requests and small results travel through
 * a shared-memory ring, and completions come back to the pool's AioContext
 * as one bottom half. On the Node main thread, bind it to a context that is
 * attached to Node's loop.
 *
 * ```ts
 * const ctx = AioContext.create();
 * ctx.attachToNodeLoop();
 * const pool = new ThreadPool(ctx, { jobs: new URL('./jobs.js', import.meta.url), max: 2 });
 * console.log(await pool.submit('add', 41));
 * await pool.close();
 * ```
 * @thread home: the context's home thread
 */
export class ThreadPool {
  private readonly mem: PoolMemory;
  private readonly pv: PayloadView;
  private readonly C: number;
  private readonly P: number;
  private readonly modules: string[];
  private readonly idleTimeoutMs: number;
  private readonly spins: number;
  private readonly spinMaxNs: number;
  private readonly workerData: unknown;
  private readonly completionBatch: number;
  private readonly maxAwake: number;
  /** (S5) Fires STRAND_NS after a wake held back by `maxAwake` (or left to the spinner). */
  private readonly strandTimer: Timer;
  /** Whether strandTimer is armed; the head it was armed with. */
  private watching = false;
  private watchedHead = 0;
  private readonly queueFull: 'error' | 'wait';
  private maxQueue: number;
  private min: number;
  private max: number;
  private readonly completionBh: BottomHalf;
  private readonly ctx: AioContext;
  /** The (never set) notifier of the done-ring poll handler (C2). */
  private readonly pollNotifier: ReturnType<AioContext['createNotifier']>;
  private readonly bySlot: (PoolRequest<unknown> | undefined)[];
  private readonly freeSlots: number[] = [];
  /** Requests waiting for a slot (home-thread FIFO). */
  private overflow: PoolRequest<unknown>[] = [];
  /** Requests held back by `queueFull: 'wait'`. */
  private held: PoolRequest<unknown>[] = [];
  /** Requests cancelled before they got a slot or while queued: complete from the BH. */
  private cancelledQueue: PoolRequest<unknown>[] = [];
  private readonly workers = new Map<number, WorkerRecord>();
  private readonly freeIds: number[] = [];
  private nextId = 0;
  private rrWorker = 0;
  private readonly jobIndex = new Map<string, number>();
  /** Ring entries written (the next index); `published` of them are visible to workers. */
  private submitTail = 0;
  /** The value of the shared `submitTail`: entries up to here are published (S2). */
  private published = 0;
  /** The `sleepers` word when the last notify was made, or -1 (S4). */
  private wokeAt = -1;
  /**
   * Workers on their way to the ring since the word was last different
   * (S4): those woken, or all of them (Infinity) once a notify woke fewer
   * than it asked for.
   */
  private inTransit = 0;
  /** When the S4 window opened (performance.now()). */
  private wokeAtMs = 0;
  private doneHead = 0;
  private outstanding = 0;
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private drainWaiters: (() => void)[] = [];
  /** Workers in a row that died before finishing any request (reset by any completion, and by the death of a worker that had finished one). */
  private startupDeaths = 0;
  /** Entries into the completion BH (nested runs included). */
  private completionRuns = 0;
  private static readonly MAX_STARTUP_DEATHS = 5;
  private readonly counters = { submitted: 0, done: 0, failed: 0, cancelled: 0, spawned: 0, exited: 0, died: 0, fastPath: 0, fallback: 0, strandWakes: 0, polled: 0 };

  constructor(ctx: AioContext, options: ThreadPoolOptions) {
    if (typeof options !== 'object' || options === null || options.jobs === undefined) {
      throw new PoolError('ERR_INVALID_ARGUMENT', 'a ThreadPool needs { jobs: module URL(s) }');
    }
    const list = Array.isArray(options.jobs) ? options.jobs : [options.jobs];
    this.modules = (list as (string | URL)[]).map((m) => (m instanceof URL ? m.href : m.startsWith('file:') ? m : pathToFileURL(m).href));
    this.min = 0;
    this.max = Math.min(MAX_WORKERS, availableParallelism());
    this.setLimits(options.min ?? this.min, options.max ?? Math.max(this.max, options.min ?? 0));
    this.idleTimeoutMs = checkLimit('idleTimeoutMs', options.idleTimeoutMs ?? 10_000, 1, 2 ** 31 - 1);
    this.maxQueue = options.maxQueue === undefined || options.maxQueue === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : checkLimit('maxQueue', options.maxQueue, 0, 2 ** 31 - 1);
    this.queueFull = options.queueFull ?? 'wait';
    if (this.queueFull !== 'error' && this.queueFull !== 'wait') throw new PoolError('ERR_INVALID_ARGUMENT', `queueFull must be 'error' or 'wait'`);
    this.C = checkLimit('slots', options.slots ?? 1024, 2, 32767);
    const p = checkLimit('payloadBytes', options.payloadBytes ?? 256, 8, 65528);
    if (p % 8 !== 0) throw new PoolError('ERR_INVALID_ARGUMENT', 'payloadBytes must be a multiple of 8');
    this.P = p;
    this.spins = checkLimit('spins', options.spins ?? 20_000, 0, 1e9);
    this.spinMaxNs = checkLimit('spinMaxNs', options.spinMaxNs ?? 0, 0, 1e9);
    this.workerData = options.workerData;
    this.completionBatch = checkLimit('completionBatch', options.completionBatch ?? 1, 1, 1024);
    this.maxAwake =
      options.maxAwake === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : checkLimit('maxAwake', options.maxAwake ?? Math.max(1, availableParallelism() - 1), 1, MAX_WORKERS);
    this.mem = poolLayout({ slots: this.C, payload: this.P }).create();
    this.mem.minWorkers.store(this.min);
    this.pv = { bytes: this.mem.payload, view: new DataView(this.mem.payload.buffer, this.mem.payload.byteOffset, this.mem.payload.byteLength) };
    this.bySlot = new Array(this.C);
    for (let s = this.C - 1; s >= 0; s--) this.freeSlots.push(s);
    this.completionBh = ctx.bh(() => this.completionBhCallback(), { name: 'thread-pool-completion' });
    // (C2) QEMU's io_poll for the done ring, as linux-aio's
    // qemu_laio_poll_cb polls its completion ring: while the context
    // busy-polls, onPoll watches the ring's next entry and workers skip the
    // BH's cross-thread schedule; onPollReady drains as the BH does. The
    // notifier is never set; the handler does not keep the process alive
    // (outstanding requests do, through ref()).
    this.pollNotifier = ctx.createNotifier();
    ctx.setNotifierHandler(
      this.pollNotifier,
      {
        onPoll: () => this.nextDone() >= 0,
        onPollReady: () => {
          this.counters.polled++;
          this.completionBhCallback();
        },
        onPollBegin: () => void this.mem.homePolling.store(1),
        onPollEnd: () => void this.mem.homePolling.store(0),
      },
      { ref: false },
    );
    this.ctx = ctx;
    this.strandTimer = ctx.createTimer('realtime', SCALE_NS, () => this.strandCheck());
    for (let i = 0; i < this.min; i++) this.spawn();
  }

  // ------------------------------------------------------------ submit

  /**
   * Runs `job(arg)` on a worker; resolves with its result or rejects with
   * its error (name, message, stack and `code` preserved)
   * (`thread_pool_submit_co`).
   */
  submit<T = unknown>(job: string, arg?: unknown, options?: SubmitOptions): Promise<T> {
    // The request settles the promise itself: no callback closure per job.
    return new Promise<T>((resolve, reject) => {
      const req = this.enqueue<T>(job, arg, undefined, options);
      req.resolve = resolve;
      req.reject = reject;
    });
  }

  /**
   * Runs `job(arg)` on a worker and calls `cb` from the pool's completion
   * BH on the home thread (`thread_pool_submit_aio`). Returns the request,
   * which can be cancelled while queued.
   */
  submitCallback<T = unknown>(job: string, arg: unknown, cb: PoolCallback<T>, options?: SubmitOptions): PoolRequest<T> {
    if (typeof cb !== 'function') throw new PoolError('ERR_INVALID_ARGUMENT', 'submitCallback needs a callback');
    return this.enqueue(job, arg, cb, options);
  }

  /** Creates and queues a request; it completes through `cb`, or through `resolve`/`reject` set right after. */
  private enqueue<T>(job: string, arg: unknown, cb: PoolCallback<T> | undefined, options: SubmitOptions | undefined): PoolRequest<T> {
    if (this.closed) throw new PoolError('ERR_POOL_CLOSED', 'submit on a closed pool');
    if (typeof job !== 'string' || job.length === 0) throw new PoolError('ERR_INVALID_ARGUMENT', 'the job must be a non-empty name');
    let value = arg;
    let transferList = options?.transfer;
    if (arg instanceof Transfer) {
      value = arg.value;
      transferList = [...(transferList ?? []), ...arg.transferList];
    }
    const req = new PoolRequest<T>(this as never, job, this.indexOf(job), value, transferList, cb);
    this.counters.submitted++;
    if (this.maxQueue !== Number.POSITIVE_INFINITY && this.queued() >= this.maxQueue) {
      if (this.queueFull === 'error') throw new PoolError('ERR_QUEUE_FULL', `${this.queued()} requests are queued (maxQueue ${this.maxQueue})`);
      this.held.push(req as PoolRequest<unknown>);
      this.mem.signalTake.store(1);
      this.ref(+1);
      return req;
    }
    this.ref(+1);
    this.dispatch(req as PoolRequest<unknown>);
    return req;
  }

  private indexOf(job: string): number {
    let i = this.jobIndex.get(job);
    if (i !== undefined) return i;
    i = this.jobIndex.size;
    if (i >= MAX_JOBS) throw new PoolError('ERR_INVALID_ARGUMENT', `more than ${MAX_JOBS} distinct job names`);
    const bytes = new TextEncoder().encode(job);
    if (bytes.length >= JOB_NAME_BYTES) throw new PoolError('ERR_INVALID_ARGUMENT', `job name longer than ${JOB_NAME_BYTES - 1} bytes`);
    this.mem.jobNames.set(bytes, i * JOB_NAME_BYTES);
    // The name bytes before the count; workers read the count... and then
    // use the index only after a slot's state published it (S1).
    this.mem.jobCount.store(i + 1);
    this.jobIndex.set(job, i);
    return i;
  }

  /** Requests that have not started: waiting for a slot or in the ring. */
  private queued(): number {
    return this.overflow.length + ((this.submitTail - this.mem.submitHead.load()) | 0);
  }

  /** Puts a request in shared memory (or the overflow queue if every slot is taken). */
  private dispatch(req: PoolRequest<unknown>): void {
    const slot = this.freeSlots.pop();
    if (slot === undefined) {
      this.overflow.push(req);
      this.maybeSpawn();
      return;
    }
    const mem = this.mem;
    req.slot = slot;
    this.bySlot[slot] = req;
    const e = encode(req.arg, this.pv, this.mem.payloadBase(slot), this.P, req.transferList !== undefined && req.transferList.length > 0);
    const tag = encodedTag(e);
    mem.argMeta.store(slot, packMeta(tag, req.jobIndex, encodedLength(e)));
    if (tag === TAG_MESSAGE) {
      this.counters.fallback++;
      this.mail(req);
      return;
    }
    this.counters.fastPath++;
    // No worker holds the slot yet: the one that takes it stores its id
    // before W2 (reclaim() relies on it). Before S1, like the argument.
    mem.worker.store(slot, -1);
    // (S1) The argument and the tags before the state; the ring entry after.
    mem.state.store(slot, QUEUED);
    mem.ring.store(this.submitTail & mem.ringMask, slot);
    this.submitTail = (this.submitTail + 1) | 0;
    // (S3) Publish at once while few requests are outstanding — a worker
    // may be waiting, and latency is what counts then — or when a batch is
    // pending; otherwise the completion BH publishes, and is scheduled for
    // it by the first entry held back. With many requests outstanding the
    // workers have published ones to run meanwhile, and one tail store per
    // burst instead of per request spares the line the spinner reads.
    const held = (this.submitTail - this.published) | 0;
    if (this.outstanding <= Math.max(1, this.workers.size) || held >= PUBLISH_BATCH) this.publish();
    else if (held === 1) this.completionBh.schedule();
    if (this.workers.size < this.max) this.maybeSpawn();
  }

  /** (S2) Makes the ring entries written so far visible to workers, and wakes one if needed. */
  private publish(): void {
    if (this.published === this.submitTail) return;
    this.published = this.submitTail;
    this.mem.submitTail.store(this.submitTail);
    this.wake(false);
  }

  /** The message path: post the argument to one worker's port, reserve the slot for it. */
  private mail(req: PoolRequest<unknown>): void {
    if (this.workers.size === 0) this.spawn();
    const ids = [...this.workers.keys()];
    const id = ids[this.rrWorker++ % ids.length]!;
    const rec = this.workers.get(id)!;
    req.mailedTo = id;
    this.mem.worker.store(req.slot, -1);
    this.mem.state.store(req.slot, QUEUED);
    rec.port.postMessage({ slot: req.slot, value: req.arg }, req.transferList === undefined ? [] : [...req.transferList]);
    this.mem.mail.add(id, 1);
    this.wake(true);
  }

  /**
   * (S2) Wake a sleeping worker unless one holds the spinner role: the
   * tail (or mail) store above, then these loads of `spinning` and
   * `sleepers`, against the worker's store of 0 to `spinning` or its
   * `sleepers.add`, then its next ring check
   * (store-buffering): either it sees the new work, or we see it counted
   * and bump + notify, which ends its futex wait on the old value.
   * `all`: every sleeper (mail, closing, a dead spinner). `capped`: at most
   * `maxAwake` workers awake (S5); strandCheck() wakes without the cap.
   */
  private wake(all: boolean, capped = !all): void {
    // The spinner-role holder looks at the ring again by itself (W0); mail
    // and closing are for particular (or all) workers and always wake.
    if (!all && this.mem.spinning.load() !== 0) {
      // (S5) The holder's hand-off (W0') keeps to maxAwake too: if that
      // holds back a wake, the head stands still and strandCheck() sees it.
      if (this.maxAwake < this.workers.size) this.watchHead();
      return;
    }
    let word = this.mem.sleepers.load();
    if (sleepingOf(word) === 0) return;
    const queued = (this.published - this.mem.submitHead.load()) | 0;
    if (!all && word === this.wokeAt) {
      // (S4) Nobody went to sleep or woke up since this thread's last
      // notify: skip this one if that notify woke fewer than it asked for
      // (then every sleeper counted was out of the futex wait, leaving it
      // or about to enter it with the old `workSeq`, and looks at the ring
      // anyway), or if no more requests are queued than the workers it
      // woke, who take one each. The head (read above) first, then the
      // word again: a woken worker leaves the wait (the word changes)
      // before it takes its request (the head moves). The window closes
      // after S4_WINDOW_MS, long before the word's entry counter could
      // wrap.
      word = this.mem.sleepers.load();
      if (word === this.wokeAt && queued <= this.inTransit && performance.now() - this.wokeAtMs < S4_WINDOW_MS) return;
    }
    const sleeping = sleepingOf(word);
    // Wake as many sleepers as there are waiting requests, at most all. No
    // wake-up is ever deferred past what S5 watches: the home thread may
    // block right after.
    let asked = all ? Number.POSITIVE_INFINITY : Math.min(sleeping, Math.max(1, queued));
    if (capped) {
      // (S5) Workers awake: live ones not counted asleep (running a job,
      // spinning, starting, or on their way into or out of the wait). Held
      // back, the rest wait for those, who come back to the ring after
      // their job; strandCheck() wakes them if the head stands still.
      const room = this.maxAwake - (this.mem.live.load() - sleeping);
      if (room < asked) {
        this.watchHead();
        if (room <= 0) return;
        asked = room;
      }
    }
    this.mem.workSeq.add(1);
    const woken = this.mem.workSeq.notify(asked);
    if (all) {
      this.wokeAt = -1;
    } else {
      if (word !== this.wokeAt) {
        this.wokeAt = word;
        this.inTransit = 0;
        this.wokeAtMs = performance.now();
      }
      this.inTransit = woken < asked ? Number.POSITIVE_INFINITY : this.inTransit + woken;
    }
  }

  /** (S5) Arms strandCheck() for STRAND_NS from now, with the ring's head as it is now, unless it is armed. */
  private watchHead(): void {
    if (this.watching) return;
    this.watching = true;
    this.watchedHead = this.mem.submitHead.load();
    this.strandTimer.modNs(this.strandTimer.list.clocks.now('realtime') + STRAND_NS);
  }

  /**
   * (S5) STRAND_NS after a wake that `maxAwake` (or the spinner role) held
   * back: if requests are still queued and a worker sleeps, and the head
   * has not moved since, the awake workers are stuck in their jobs — wake
   * sleepers for every queued request, without the cap. If the head moved,
   * look again later; with nothing queued or nobody asleep there is
   * nothing to do (a worker that goes to sleep looks at the ring first).
   */
  private strandCheck(): void {
    this.watching = false;
    const head = this.mem.submitHead.load();
    if (this.published === head || sleepingOf(this.mem.sleepers.load()) === 0) return;
    if (head !== this.watchedHead) {
      this.watchHead();
      return;
    }
    this.counters.strandWakes++;
    this.wake(false, false);
  }

  /** QEMU: spawn a thread when none is idle and fewer than max exist. */
  private maybeSpawn(): void {
    // Idle: sleeping (counted in `idle`) or holding the spinner role.
    if (this.workers.size < this.max && this.mem.idle.load() === 0 && this.mem.spinning.load() === 0) this.spawn();
  }

  private spawn(): void {
    const id = this.freeIds.pop() ?? this.nextId++;
    const { port1, port2 } = new MessageChannel();
    const data: PoolWorkerData & { port: MessagePort } = {
      memory: { buffer: this.mem.buffer, byteOffset: this.mem.byteOffset },
      slots: this.C,
      payload: this.P,
      id,
      modules: this.modules,
      completion: this.completionBh.handle,
      spins: this.spins,
      spinMaxNs: this.spinMaxNs,
      idleTimeoutMs: this.idleTimeoutMs,
      user: this.workerData,
      completionBatch: this.completionBatch,
      maxAwake: this.maxAwake,
      port: port2,
    };
    this.mem.retired.store(id, WORKER_STARTED);
    this.mem.live.add(1);
    const worker = new Worker(entry, { execArgv: workerExecArgv(), workerData: data, transferList: [port2] });
    // Idle workers never keep the process alive, nor their ports; outstanding
    // requests do (ref()).
    worker.unref();
    port1.unref();
    const rec: WorkerRecord = { id, worker, port: port1, early: new Map() };
    this.workers.set(id, rec);
    this.counters.spawned++;
    worker.once('exit', () => this.onExit(rec));
    worker.on('error', () => {
      /* reported through 'exit': the worker died */
    });
  }

  // ------------------------------------------------------------ completion

  /**
   * QEMU thread_pool_completion_bh: drain the completion ring and run the
   * callbacks. Before a callback runs while more completions are pending,
   * the BH is scheduled, so a callback that runs a nested poll still sees
   * them ("schedule ourselves in case elem->common.cb() calls aio_poll()").
   * QEMU schedules and cancels around every callback; here the schedule is
   * taken once and kept for the rest of the drain (a nested run uses it up,
   * and it is taken again if needed), then cancelled at the end, followed by
   * one more look at the ring: a completion that landed after the last look
   * either is seen then or scheduled the BH after the cancel (QEMU's
   * "cancel regardless ... because we reenter the completion function
   * anyway"). A callback that throws leaves the BH scheduled for the rest.
   */
  private completionBhCallback(): void {
    let armedAt = -1; // completionRuns when this run scheduled the BH, or -1
    this.completionRuns++;
    this.publish(); // (S3) what dispatch held back, before the callbacks run
    for (;;) {
      const next = this.takeCompletion();
      if (next === undefined) {
        if (armedAt < 0) break;
        this.completionBh.cancel();
        armedAt = -1;
        continue;
      }
      if (next === SKIPPED) continue;
      if (armedAt >= 0 && armedAt !== this.completionRuns) armedAt = -1; // a nested run used the schedule
      if (armedAt < 0 && this.completionPending()) {
        this.completionBh.schedule();
        armedAt = this.completionRuns;
      }
      const error = this.takenError;
      const value = this.takenValue;
      this.takenError = undefined;
      this.takenValue = undefined;
      try {
        this.finish(next, error, value);
      } catch (e) {
        if (this.completionPending()) this.completionBh.schedule();
        throw e;
      }
    }
    this.pump();
  }

  /** Completions (or cancellations) still to run. */
  private completionPending(): boolean {
    // The next entry written, not `doneTail`: the worker of an entry
    // reserved but not yet written signals it after writing it (W4, or C2's
    // poll handler sees it), and the home thread leaves doneTail's line to
    // the workers.
    return this.cancelledQueue.length > 0 || this.nextDone() >= 0;
  }

  /** The slot of the done ring's next entry, or -1 while it is not written. */
  private nextDone(): number {
    return doneSlotAt(this.mem.doneRing.load(this.doneHead & this.mem.ringMask), this.doneHead, this.mem.ringShift);
  }

  /** takeCompletion's result besides the request (fields, not an object per completion). */
  private takenError: Error | undefined;
  private takenValue: unknown;

  /**
   * The next completion to run, with its outcome in `takenError` and
   * `takenValue`; SKIPPED for a slot that only had to be freed, or
   * undefined when none is ready.
   */
  private takeCompletion(): PoolRequest<unknown> | typeof SKIPPED | undefined {
    const cancelled = this.cancelledQueue.shift();
    if (cancelled !== undefined) {
      this.takenError = new PoolError('ECANCELED', `request for job "${cancelled.job}" was cancelled`);
      return cancelled;
    }
    const h = this.doneHead;
    // 0: not reserved yet, or reserved and not written yet — its worker
    // schedules us after writing it (W4), or the poll handler sees it (C2).
    const slot = this.nextDone();
    if (slot < 0) return undefined;
    this.doneHead = (h + 1) | 0;
    // (C1) Read state before ret; pairs with (W3) in the worker.
    const state = this.mem.state.load(slot);
    const req = this.bySlot[slot];
    if (state !== DONE || req === undefined || req.completed) {
      // A cancelled slot handed back by a worker, or one whose request
      // already completed (its worker died): free it now.
      this.freeSlot(slot);
      return SKIPPED;
    }
    const meta = this.mem.resMeta.load(slot);
    const tag = metaTag(meta);
    let value: unknown;
    let error: Error | undefined;
    if (tag === TAG_MESSAGE || tag === TAG_ERROR_MESSAGE) {
      const m = this.receive(this.mem.worker.load(slot), slot);
      if (tag === TAG_ERROR_MESSAGE) error = reviveError(m as SerializedError);
      else value = m;
    } else if (tag === TAG_ERROR) {
      error = reviveError(decode(tag, metaLength(meta), this.pv, this.mem.payloadBase(slot)) as SerializedError);
    } else {
      value = decode(tag, metaLength(meta), this.pv, this.mem.payloadBase(slot));
    }
    this.freeSlot(slot);
    this.takenError = error;
    this.takenValue = value;
    return req;
  }

  /** A result that travelled on worker `id`'s port (posted before the slot became DONE). */
  private receive(id: number, slot: number): unknown {
    const rec = this.workers.get(id) ?? this.dead.get(id);
    if (rec === undefined) return undefined;
    if (rec.early.has(slot)) {
      const v = rec.early.get(slot);
      rec.early.delete(slot);
      return v;
    }
    for (let m = receiveMessageOnPort(rec.port); m !== undefined; m = receiveMessageOnPort(rec.port)) {
      const msg = m.message as ResultMessage;
      if (msg.slot === slot) return msg.value;
      rec.early.set(msg.slot, msg.value);
    }
    throw new Error(`thread-pool: the result of slot ${slot} never arrived on worker ${id}'s port`);
  }

  private finish(req: PoolRequest<unknown>, error: Error | undefined, value: unknown): void {
    if (req.completed) return;
    req.completed = true;
    if (error === undefined || !(PoolError.isInstance(error) && error.code === 'ERR_WORKER_DIED')) this.startupDeaths = 0;
    this.ref(-1);
    if (error === undefined) this.counters.done++;
    else if (PoolError.isInstance(error) && error.code === 'ECANCELED') this.counters.cancelled++;
    else this.counters.failed++;
    const cb = req.callback;
    if (cb !== undefined) {
      if (error === undefined) cb(null, value);
      else cb(error);
    } else if (error === undefined) req.resolve!(value);
    else req.reject!(error);
  }

  private freeSlot(slot: number): void {
    // The state word keeps DONE/CANCELLED until dispatch writes QUEUED: no
    // worker looks at a slot that is not in the ring or its mailbox.
    this.bySlot[slot] = undefined;
    this.freeSlots.push(slot);
  }

  /** Moves waiting requests into free slots, and held ones into the queue. */
  private pump(): void {
    while (this.freeSlots.length > 0 && this.overflow.length > 0) this.dispatch(this.overflow.shift()!);
    while (this.held.length > 0 && this.queued() < this.maxQueue) {
      const req = this.held.shift()!;
      if (!req.cancelled) this.dispatch(req);
    }
    if (this.queued() < this.maxQueue && this.held.length === 0 && this.drainWaiters.length > 0) {
      for (const w of this.drainWaiters.splice(0)) w();
    }
    if (this.held.length === 0 && this.drainWaiters.length === 0 && this.mem.signalTake.load() !== 0) this.mem.signalTake.store(0);
    this.publish();
  }

  // ------------------------------------------------------------ cancel

  /** @internal PoolRequest.cancel. */
  cancel(req: PoolRequest<unknown>): boolean {
    if (req.completed || req.cancelled) return false;
    let ok = false;
    const held = this.held.indexOf(req);
    const waiting = this.overflow.indexOf(req);
    if (held >= 0) {
      this.held.splice(held, 1);
      ok = true;
    } else if (waiting >= 0) {
      this.overflow.splice(waiting, 1);
      ok = true;
    } else if (req.slot >= 0 && this.mem.state.compareExchange(req.slot, QUEUED, CANCELLED) === QUEUED) {
      // The slot stays reserved until a worker passes it and hands it back.
      ok = true;
    }
    if (!ok) return false;
    req.cancelled = true;
    this.cancelledQueue.push(req);
    this.completionBh.schedule();
    return true;
  }

  /** Fails every request that has not started (workers keep dying at startup). */
  private failQueued(error: PoolError): void {
    const victims = [...this.held, ...this.overflow];
    this.held = [];
    this.overflow = [];
    for (let slot = 0; slot < this.C; slot++) {
      const req = this.bySlot[slot];
      if (req !== undefined && !req.completed && this.mem.state.compareExchange(slot, QUEUED, CANCELLED) === QUEUED) victims.push(req);
    }
    for (const req of victims) this.finish(req, error, undefined);
  }

  /** @internal PoolRequest.state. */
  stateOf(req: PoolRequest<unknown>): RequestState {
    if (req.completed) return 'done';
    if (req.slot >= 0 && this.mem.state.load(req.slot) === ACTIVE) return 'active';
    return 'queued';
  }

  // ------------------------------------------------------------ workers

  private readonly dead = new Map<number, WorkerRecord>();

  private onExit(rec: WorkerRecord): void {
    this.workers.delete(rec.id);
    this.counters.exited++;
    const life = this.mem.retired.load(rec.id);
    const retired = life === WORKER_RETIRED;
    // It may have died holding the spinner role (W0): submitters would skip
    // every wake for a worker that never looks at the ring again.
    if (this.mem.spinning.compareExchange(rec.id + 1, 0) === rec.id + 1) this.wake(true);
    if (!retired) {
      // Died: it never took itself off `live`.
      this.counters.died++;
      this.mem.live.sub(1);
      this.dead.set(rec.id, rec);
      this.reclaim(rec.id);
      this.dead.delete(rec.id);
    }
    rec.port.close();
    this.freeIds.push(rec.id);
    // A worker that finished requests and then died was killed by a job:
    // workers do start. Only deaths before a first request count, however
    // their 'exit' events bunch up.
    if (life === WORKER_PROVEN) this.startupDeaths = 0;
    if (!retired && life !== WORKER_PROVEN && ++this.startupDeaths >= ThreadPool.MAX_STARTUP_DEATHS) {
      // Workers die before finishing anything: respawning would loop forever.
      this.failQueued(new PoolError('ERR_WORKER_DIED', `${this.startupDeaths} workers in a row died before finishing a request; giving up on the queued requests`));
      this.startupDeaths = 0;
    } else if (!this.closed) {
      const pending = this.queued() > 0 || this.overflow.length > 0;
      if (this.workers.size < this.min || (pending && this.workers.size === 0)) this.spawn();
      else if (pending) this.maybeSpawn();
    }
    this.completionBh.schedule();
    for (const w of this.exitWaiters.splice(0)) w();
  }

  /**
   * After worker `id` died: its active request fails with ERR_WORKER_DIED;
   * requests posted to it that it never started go to another worker (or
   * fail, if their arguments were transferred away); a request it had taken
   * off the ring but not started goes back on the ring. Nothing else is lost.
   */
  private reclaim(id: number): void {
    const mem = this.mem;
    const inRing = new Set<number>();
    this.publish();
    for (let i = mem.submitHead.load(); i !== this.submitTail; i = (i + 1) | 0) inRing.add(mem.ring.load(i & mem.ringMask));
    for (let slot = 0; slot < this.C; slot++) {
      const req = this.bySlot[slot];
      if (req === undefined || req.completed) continue;
      const state = mem.state.load(slot);
      if (state === ACTIVE && mem.worker.load(slot) === id) {
        mem.state.store(slot, DONE);
        this.finish(req, new PoolError('ERR_WORKER_DIED', `the worker running job "${req.job}" died`), undefined);
        this.freeSlot(slot);
      } else if (state === QUEUED && req.mailedTo === id) {
        if (req.transferList !== undefined && req.transferList.length > 0) {
          mem.state.store(slot, DONE);
          this.finish(req, new PoolError('ERR_WORKER_DIED', `the worker holding job "${req.job}" died; its transferred arguments are gone`), undefined);
          this.freeSlot(slot);
        } else {
          if (this.workers.size === 0) this.spawn();
          this.mail(req);
        }
      } else if (state === QUEUED && req.mailedTo < 0 && !inRing.has(slot) && mem.worker.load(slot) === id) {
        // Taken off the ring by the dead worker (W1 and its id store) but
        // never activated (W2). A slot off the ring whose word is not the
        // dead worker's belongs to a live worker between W1 and W2: it
        // activates it in a moment, and putting it back would run it twice.
        mem.ring.store(this.submitTail & mem.ringMask, slot);
        this.submitTail = (this.submitTail + 1) | 0;
        this.publish();
      } else if (state === CANCELLED && req.mailedTo === id) {
        this.freeSlot(slot);
      }
    }
  }

  /**
   * Changes the limits at run time (`thread_pool_update_params`): extra
   * workers retire when idle, missing ones are spawned. Invalid limits
   * (min > max, max ≤ 0, min < 0, non-integers) throw ERR_INVALID_ARGUMENT.
   */
  setParams(params: { min?: number; max?: number }): void {
    this.checkOpen();
    this.setLimits(params.min ?? this.min, params.max ?? this.max);
    this.mem.minWorkers.store(this.min);
    while (this.workers.size < this.min) this.spawn();
    this.wake(true);
  }

  private setLimits(min: number, max: number): void {
    const lo = checkLimit('max', max, 1, MAX_WORKERS);
    const mi = checkLimit('min', min, 0, MAX_WORKERS);
    if (mi > lo) throw new PoolError('ERR_INVALID_ARGUMENT', `min (${mi}) must not exceed max (${lo})`);
    this.min = mi;
    this.max = lo;
  }

  // ------------------------------------------------------------ lifetime

  /** Resolves once the queue has room again (after `maxQueue` applied back-pressure). */
  drain(): Promise<void> {
    if (this.queued() < this.maxQueue && this.held.length === 0) return Promise.resolve();
    this.mem.signalTake.store(1);
    return new Promise((r) => this.drainWaiters.push(r));
  }

  private readonly exitWaiters: (() => void)[] = [];

  /**
   * Closes the pool: later submissions throw ERR_POOL_CLOSED. With
   * `{ cancel: true }` queued requests complete with ECANCELED; otherwise
   * they run first. Running requests finish. Resolves when every worker has
   * exited, and the completion BH is deleted: nothing is left behind.
   */
  close(options?: { cancel?: boolean }): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      if (options?.cancel === true) {
        for (const req of [...this.held, ...this.overflow]) this.cancel(req);
        for (let slot = 0; slot < this.C; slot++) {
          const req = this.bySlot[slot];
          if (req !== undefined && !req.completed) this.cancel(req);
        }
      }
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (this.outstanding === 0) resolve();
          else this.afterCompletion.push(check);
        };
        check();
      });
      this.mem.closing.store(1);
      this.wake(true);
      // Joining the workers must keep the process alive (they are unref'd).
      const hold = setInterval(() => {}, 0x3fffffff);
      try {
        while (this.workers.size > 0) await new Promise<void>((r) => this.exitWaiters.push(r));
      } finally {
        clearInterval(hold);
      }
      if (this.keepAlive !== undefined) clearInterval(this.keepAlive);
      this.keepAlive = undefined;
      this.strandTimer.del();
      this.ctx.setNotifierHandler(this.pollNotifier, null);
      this.pollNotifier.close();
      this.completionBh.delete();
    })();
    return this.closing;
  }

  private readonly afterCompletion: (() => void)[] = [];

  /** Outstanding requests keep the process alive (workers themselves are unref'd). */
  private ref(delta: number): void {
    const was = this.outstanding;
    this.outstanding += delta;
    if (was === 0 && delta > 0) {
      // One interval for the pool's life, ref'd and unref'd (a flag and a
      // counter in Node) rather than created per busy period: one request
      // at a time makes every request a busy period.
      this.keepAlive ??= setInterval(() => {}, 0x3fffffff);
      this.keepAlive.ref();
    } else if (this.outstanding === 0 && was > 0) {
      this.keepAlive?.unref();
      if (this.afterCompletion.length > 0) for (const f of this.afterCompletion.splice(0)) f();
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new PoolError('ERR_POOL_CLOSED', 'the pool is closed');
  }

  /** Workers alive now. */
  get workerCount(): number {
    return this.workers.size;
  }

  /** A snapshot of the counters. */
  get stats(): PoolStats {
    let active = 0;
    for (let slot = 0; slot < this.C; slot++) if (this.mem.state.load(slot) === ACTIVE) active++;
    return {
      queued: this.queued() + this.held.length,
      active,
      ...this.counters,
      workers: this.workers.size,
      idleWorkers: this.mem.idle.load() + (this.mem.spinning.load() !== 0 ? 1 : 0),
    };
  }
}
