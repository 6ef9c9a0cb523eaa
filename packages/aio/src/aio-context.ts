import { canBlock } from '@vmloop/atomics';
import { type EventNotifier, type EventNotifierOptions, NotifierSet } from '@vmloop/event-notifier';
import { BottomHalf, type BottomHalfOptions, type BottomHalfOwner } from './bottom-half.js';
import { AioError, checkInt } from './errors.js';
import {
  BH_DELETED,
  BH_FLAGS_MASK,
  BH_GEN_MASK,
  BH_GEN_SHIFT,
  BH_IDLE,
  BH_ONESHOT,
  BH_PENDING,
  BH_SCHEDULED,
  type ContextMemory,
  LIST_END,
  MAX_BHS,
  STATE_DESTROYED,
  contextLayout,
} from './layout.js';
import { NodeLoopAttachment, type NodeLoopOptions } from './node-loop.js';
import { type PollParams, POLL_OFF, adjustPollWindow, checkPollParams } from './poll-params.js';
import { type AioContextHandle, AioContextRemote } from './remote.js';
import { SharedContext } from './shared-context.js';
import type { AioStats } from './stats.js';
import { type ClockType, type Clocks, type Timer, TimerListGroup } from '@vmloop/timers';
import { defaultClocks } from './timers.js';
import type { AioTracer } from './trace.js';

/** Options of {@link AioContext.create}. */
export interface AioContextOptions {
  /** Shows in errors, traces and `IOThread.query()`. */
  readonly name?: string;
  /** The clocks of the context's timers (default: one system Clocks per thread, see defaultClocks). */
  readonly clocks?: Clocks;
  /** Bottom-half slots (default 1024). Slots are reused after `delete()`. */
  readonly maxBottomHalves?: number;
  /** Notifier slots of the context's set (default 1024; one is the context's own). */
  readonly maxNotifiers?: number;
  /** Adaptive polling (default off, as a new QEMU AioContext). */
  readonly poll?: Partial<PollParams>;
  /**
   * Measurement reference only: every aio_notify sets the context notifier,
   * ignoring notifyMe, as QEMU did before the notify_me optimisation. The
   * `aio.cross-thread-bh` benchmark compares against it. Default false.
   */
  readonly notifyAlways?: boolean;
}

/**
 * Callbacks of a notifier handler (QEMU aio_set_event_notifier and
 * aio_set_event_notifier_poll). All run on the home thread.
 */
export interface NotifierHandlers {
  /** The notifier is set. Usually calls `n.testAndClear()` first (QEMU io_read). */
  readonly onRead?: (notifier: EventNotifier) => void;
  /** Busy-poll check, called in a tight loop while polling: true when there is work (QEMU io_poll). */
  readonly onPoll?: () => boolean;
  /** `onPoll` returned true; handle the work (QEMU io_poll_ready). */
  readonly onPollReady?: (notifier: EventNotifier) => void;
  /** Polling starts: e.g. disable guest notifications (QEMU io_poll_begin). */
  readonly onPollBegin?: () => void;
  /** Polling ends: re-enable notifications; onPoll is called once more after it (QEMU io_poll_end). */
  readonly onPollEnd?: () => void;
}

/** Options of {@link AioContext.setNotifierHandler}. */
export interface HandlerOptions {
  /**
   * Whether the handler is live work that keeps the process alive while
   * the context is attached to Node's loop (default true). `false` for a
   * handler that only polls for work something else already holds the
   * process for (like `timer.unref()`): a thread pool's completion poller,
   * whose outstanding requests keep it alive themselves.
   */
  readonly ref?: boolean;
}

interface HandlerNode {
  readonly notifier: EventNotifier;
  readonly handlers: NotifierHandlers;
  deleted: boolean;
  /** The context's own notifier: its events are never progress. */
  readonly own: boolean;
  /** Counts as live work that keeps the Node-loop attachment's sleep ref'd. */
  readonly ref: boolean;
}

/** A run of BH slots taken from the list by one aio_bh_poll (QEMU BHListSlice). */
interface Slice {
  /** Slot numbers; only [pos, end) are live (arrays are reused, never truncated). */
  slots: number[];
  pos: number;
  end: number;
  /** The next (younger) slice: slices form a FIFO like QEMU's QSIMPLEQ. */
  next: Slice | undefined;
}

/** The poll-ready list of a poll that is not in poll mode: never written. */
const NOT_POLLING: HandlerNode[] = Object.freeze([]) as unknown as HandlerNode[];

/** Idle BHs are polled at least this often (QEMU: 10 ms). */
const IDLE_BH_TIMEOUT_NS = 10_000_000;

/** qemu_soonest_timeout: the smaller timeout, -1 meaning infinite. */
function soonest(a: number, b: number): number {
  if (a < 0) return b;
  if (b < 0) return a;
  return Math.min(a, b);
}

const nowNs = (): number => Math.round(performance.now() * 1e6);

/**
 * QEMU's AioContext (util/async.c, util/aio-posix.c): an event loop that
 * runs bottom halves, notifier handlers and timers on its home thread.
 *
 * ```ts
 * const ctx = AioContext.create({ poll: { maxNs: 32768 } });
 * const bh = ctx.bh(() => console.log('ran'), { name: 'hello' });
 * worker.postMessage(bh.handle);     // worker: RemoteBottomHalf.open(h).schedule()
 * while (running) ctx.poll(true);    // in a worker; on the main thread:
 * ctx.attachToNodeLoop();            //   run inside Node's event loop instead
 * ```
 *
 * The protocol between `poll` and `notify` (notifyMe, notified) and the
 * lock-free BH list are explained once, in layout.ts.
 * @thread home: the thread that created it runs every callback; other
 *   threads use `handle` (AioContext.open → AioContextRemote).
 */
export class AioContext implements BottomHalfOwner {
  readonly name: string;
  /** @internal */ readonly shared: SharedContext;
  /** The context's timers: one list per clock (QEMU ctx->tlg). */
  readonly timers: TimerListGroup;
  private readonly memory: ContextMemory;
  private readonly set: NotifierSet;
  private readonly capacity: number;
  /** Home objects per BH slot; undefined when free. */
  private readonly bhs: (BottomHalf | undefined)[];
  /** Current generation per slot (also in the shared flag word). */
  private readonly generations: Uint32Array;
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  /** Pending slices, oldest first (QEMU ctx->bh_slice_list). */
  private sliceHead: Slice | undefined;
  private sliceTail: Slice | undefined;
  /** @internal BH slots scheduled from this thread since the last bhPoll: [0, localCount). */
  localQueue: number[] = [];
  /** @internal */
  localCount = 0;
  /** Exhausted slices and their arrays, reused so a poll allocates nothing. */
  private readonly spareSlices: Slice[] = [];
  private readonly spareArrays: number[][] = [];
  /** Handlers by notifier slot. */
  private readonly handlers = new Map<number, HandlerNode>();
  /** Handlers with onPoll, in registration order (QEMU poll_aio_handlers). */
  private pollHandlers: HandlerNode[] = [];
  private userHandlerCount = 0;
  private pollParams: PollParams;
  private pollWindowNs = 0;
  private pollStarted = false;
  /** Poll handlers whose onPoll saw work as the Node-loop spin ended poll mode: the next poll dispatches them. */
  private spinReady: HandlerNode[] = [];
  private spinSpare: HandlerNode[] = [];
  /** The current poll's timeout in ns (-1 = infinite), shared by the try-poll-mode steps. */
  private timeoutNs = 0;
  private destroyed = false;
  private attachment: NodeLoopAttachment | undefined;
  private readonly kickBh: BottomHalf;
  private tracer: AioTracer | undefined;
  private readonly counters = {
    polls: 0,
    blockingWaits: 0,
    wakeups: 0,
    pollHits: 0,
    bhsRun: 0,
    handlersDispatched: 0,
    timerRuns: 0,
  };

  private constructor(options: AioContextOptions) {
    this.name = options.name ?? 'aio-context';
    this.capacity = checkInt('maxBottomHalves', options.maxBottomHalves ?? 1024, 1, MAX_BHS);
    const maxNotifiers = checkInt('maxNotifiers', options.maxNotifiers ?? 1024, 1, 32767);
    this.pollParams = options.poll === undefined ? POLL_OFF : checkPollParams(options.poll);
    this.memory = contextLayout(this.capacity).create();
    this.memory.capacity.store(this.capacity);
    this.memory.bhHead.store(LIST_END);
    this.memory.notifyAlways.store(options.notifyAlways === true ? 1 : 0);
    this.set = NotifierSet.create({ capacity: maxNotifiers + 1 });
    const own = this.set.createNotifier();
    this.shared = new SharedContext(this.memory, own);
    this.bhs = new Array<BottomHalf | undefined>(this.capacity);
    this.generations = new Uint32Array(this.capacity);
    // The context's own notifier: reading it only clears it; polling it
    // reads `notified` (QEMU aio_context_notifier_cb / _poll / _poll_ready).
    // "No need for a stronger read: we only want to kick the event loop;
    // notifyAccept synchronises with the producers."
    this.addHandler(own, {
      onRead: (n) => void n.testAndClear(),
      onPoll: () => this.shared.notified.load() !== 0,
      onPollReady: () => {},
    }, true, false);
    this.kickBh = this.bh(() => {}, { name: 'aio-wait-kick' });
    // QEMU aio_timerlist_notify: a timer armed earlier than the current
    // earliest wakes the loop to recompute its timeout. Timers are armed on
    // this thread, so the home-thread notify suffices.
    this.timers = new TimerListGroup(options.clocks ?? defaultClocks(), () => this.shared.notifyLocal());
  }

  /**
   * Opens another thread's context from its `handle`: notify it, kick its
   * waitWhile, and (with RemoteBottomHalf.open) schedule its exported BHs.
   * @thread any
   */
  static open(handle: unknown): AioContextRemote {
    return AioContextRemote.open(handle);
  }

  /** A new context whose home is the calling thread. @thread any */
  static create(options: AioContextOptions = {}): AioContext {
    return new AioContext(options);
  }

  // ---------------------------------------------------------------- BHs

  /**
   * A new bottom half running `cb` on this thread (`aio_bh_new_full`).
   * Delete it when done: `destroy()` fails while BHs are alive.
   * @thread home
   */
  bh(cb: () => void, options?: BottomHalfOptions): BottomHalf {
    this.checkLive();
    if (typeof cb !== 'function') throw new AioError('ERR_INVALID_ARGUMENT', 'a bottom half needs a callback');
    const slot = this.allocSlot(options?.name ?? 'bh');
    const bh = new BottomHalf(this, slot, this.generations[slot]!, options?.name ?? 'bh', cb);
    this.bhs[slot] = bh;
    return bh;
  }

  /**
   * Runs `cb` once on the next poll and frees it (`aio_bh_schedule_oneshot`).
   * @thread home
   */
  scheduleOneshot(cb: () => void, options?: BottomHalfOptions): void {
    const bh = this.bh(cb, options);
    bh.deleted = true; // no handle, no further calls: the slot frees itself after running
    this.enqueueLocal(bh.slot, BH_SCHEDULED | BH_ONESHOT);
  }

  /** @internal aio_bh_enqueue from the home thread: flags, notify, local queue. */
  enqueueLocal(slot: number, flags: number): void {
    if (this.shared.enqueueLocal(slot, flags)) this.localQueue[this.localCount++] = slot;
  }

  private allocSlot(name: string): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      if (this.nextSlot >= this.capacity) {
        throw new AioError('ERR_TOO_MANY_BHS', `all ${this.capacity} bottom-half slots are in use; "${name}" did not fit (raise maxBottomHalves)`);
      }
      slot = this.nextSlot++;
    }
    // Flags zero, current generation: stale handles of a previous owner fail.
    this.shared.bhFlags.store(slot, this.generations[slot]! << BH_GEN_SHIFT);
    return slot;
  }

  private freeSlot(slot: number): void {
    const gen = (this.generations[slot]! + 1) & BH_GEN_MASK;
    this.generations[slot] = gen;
    // Clears the flags and bumps the generation in one store, so a remote
    // compare-exchange against the old word fails from here on.
    this.shared.bhFlags.store(slot, gen << BH_GEN_SHIFT);
    this.bhs[slot] = undefined;
    this.freeSlots.push(slot);
  }

  /**
   * QEMU aio_bh_poll: take the list (D1), walk all of it (D2), then dequeue
   * each BH (D3) and run it if it is scheduled and not deleted. Slices are
   * kept on the context, so a nested poll from a callback continues the
   * slice the outer poll took. Within a slice BHs run in the order they were
   * scheduled (QEMU runs them LIFO; we reverse the list we take): first those
   * other threads scheduled, then this thread's own (its local queue).
   */
  private bhPoll(): boolean {
    const remote = this.shared.bhHead.load() !== LIST_END;
    // One BH of this thread's own and nothing else: there is no rest of a
    // slice a nested poll could need, so run it without building one.
    if (!remote && this.localCount === 1 && this.sliceHead === undefined) {
      this.localCount = 0;
      return this.runOne(this.localQueue[0]!);
    }
    // The remote list: a load first, so an empty list costs no RMW; a push
    // that lands after it comes with a notify and is taken next time.
    if (remote) this.takeRemoteList();
    // BHs this thread scheduled, in order, after the remote ones.
    if (this.localCount > 0) this.takeLocalQueue();
    if (this.sliceHead === undefined) return false;
    return this.runSlices();
  }

  /** (D1) take the shared list, (D2) walk all of it, as one slice in schedule order. */
  private takeRemoteList(): void {
    const head = this.shared.bhHead.exchange(LIST_END); // (D1) pairs with the push CAS (F2)
    const slots = this.spareArrays.pop() ?? [];
    const next = this.shared.bhNext;
    let n = 0;
    for (let i = head; i !== LIST_END; i = next.load(i)) slots[n++] = i; // (D2)
    for (let lo = 0, hi = n - 1; lo < hi; lo++, hi--) {
      const t = slots[lo]!;
      slots[lo] = slots[hi]!;
      slots[hi] = t;
    }
    this.pushSlice(slots, n);
  }

  private takeLocalQueue(): void {
    const slots = this.localQueue;
    const n = this.localCount;
    this.localQueue = this.spareArrays.pop() ?? [];
    this.localCount = 0;
    this.pushSlice(slots, n);
  }

  private pushSlice(slots: number[], end: number): void {
    let slice = this.spareSlices.pop();
    if (slice === undefined) slice = { slots, pos: 0, end, next: undefined };
    else {
      slice.slots = slots;
      slice.pos = 0;
      slice.end = end;
      slice.next = undefined;
    }
    if (this.sliceTail === undefined) this.sliceHead = slice;
    else this.sliceTail.next = slice;
    this.sliceTail = slice;
  }

  /** Dequeues (D3) and runs the BHs of every pending slice, oldest first. */
  private runSlices(): boolean {
    let progress = false;
    for (let s = this.sliceHead; s !== undefined; s = this.sliceHead) {
      if (s.pos === s.end) {
        this.sliceHead = s.next;
        if (this.sliceHead === undefined) this.sliceTail = undefined;
        this.spareArrays.push(s.slots);
        this.spareSlices.push(s);
        continue;
      }
      if (this.runOne(s.slots[s.pos++]!)) progress = true;
    }
    return progress;
  }

  /** (D3) dequeues one BH and runs it if scheduled and not deleted; whether that was progress. */
  private runOne(slot: number): boolean {
    // Clear PENDING after the slice walk; pairs with the fetch-or (F1) of a
    // concurrent schedule, which pushes again only once PENDING is clear.
    const old = this.shared.bhFlags.and(slot, ~(BH_PENDING | BH_SCHEDULED | BH_IDLE));
    const bh = this.bhs[slot]!;
    try {
      if ((old & (BH_SCHEDULED | BH_DELETED)) !== BH_SCHEDULED) return false;
      this.counters.bhsRun++;
      this.tracer?.('bh-run', nowNs(), bh.name);
      bh.callback();
      // Idle BHs don't count as progress.
      return (old & BH_IDLE) === 0;
    } finally {
      if ((old & (BH_DELETED | BH_ONESHOT)) !== 0) this.freeSlot(slot);
    }
  }

  /** The BH part of aio_compute_timeout: 0 if a BH will run, 10 ms for idle BHs, else -1. */
  private bhTimeout(): number {
    const flags = this.shared.bhFlags;
    let timeout = -1;
    const check = (slot: number): boolean => {
      const f = flags.load(slot) & BH_FLAGS_MASK;
      if ((f & (BH_SCHEDULED | BH_DELETED)) !== BH_SCHEDULED) return false;
      if ((f & BH_IDLE) === 0) return true;
      timeout = IDLE_BH_TIMEOUT_NS;
      return false;
    };
    // Only this thread removes from the list, so a walk from a loaded head
    // is stable: schedulers only prepend.
    const next = this.shared.bhNext;
    for (let i = this.shared.bhHead.load(); i !== LIST_END; i = next.load(i)) if (check(i)) return 0;
    for (let k = 0; k < this.localCount; k++) if (check(this.localQueue[k]!)) return 0;
    for (let s = this.sliceHead; s !== undefined; s = s.next) for (let k = s.pos; k < s.end; k++) if (check(s.slots[k]!)) return 0;
    return timeout;
  }

  /** QEMU aio_compute_timeout, in ns: 0, a positive bound, or -1 (infinite). */
  private computeTimeoutNs(): number {
    const t = this.bhTimeout();
    if (t === 0) return 0;
    const deadline = this.timers.deadlineNs();
    if (deadline === 0) return 0;
    return soonest(t, deadline);
  }

  /**
   * A timer on this context (`aio_timer_new`): its callback runs from
   * `poll()` on this thread. `scale`: SCALE_NS, SCALE_US or SCALE_MS.
   * @thread home
   */
  createTimer(type: ClockType, scale: number, callback: () => void): Timer {
    this.checkLive();
    return this.timers.createTimer(type, scale, callback);
  }

  // ---------------------------------------------------------------- notify

  /**
   * Makes the home thread re-evaluate everything (`aio_notify`); a no-op
   * beyond one store and one load unless the home thread sleeps.
   * @thread any (on other threads through AioContext.open(handle))
   */
  notify(): void {
    this.checkLive();
    this.shared.notify();
  }

  /**
   * (P3) QEMU aio_notify_accept: clear `notified` before reading the work.
   * Clear only when set: one load instead of a store (an xchg on x86) on
   * the common path. A notify landing between the load and the BH read
   * leaves `notified` set, which costs the next blocking poll one round
   * without sleeping, never a lost wake-up (seed 000's lesson: no
   * unconditional write where a read tells us it is not needed).
   */
  private notifyAccept(): void {
    if (this.shared.notified.load() !== 0) this.shared.notified.store(0);
  }

  // ---------------------------------------------------------------- handlers

  /** A notifier in this context's set, for `setNotifierHandler` or to hand to another thread. @thread home */
  createNotifier(options?: EventNotifierOptions): EventNotifier {
    this.checkLive();
    return this.set.createNotifier(options);
  }

  /**
   * Registers (or with `null`, removes) the handlers of `notifier`
   * (`aio_set_event_notifier` + `aio_set_event_notifier_poll`). The
   * notifier must come from `ctx.createNotifier()`. Safe from inside any
   * callback of this context; a removed handler is not called again.
   * `onPollBegin`/`onPollEnd` stay balanced per handler: one registered
   * while the context is in poll mode begins at once, one removed in poll
   * mode ends at once (QEMU leaves this to the handler).
   * @thread home
   */
  setNotifierHandler(notifier: EventNotifier, handlers: NotifierHandlers | null, options?: HandlerOptions): void {
    this.checkLive();
    if (!this.set.owns(notifier)) {
      throw new AioError('ERR_FOREIGN_NOTIFIER', 'the notifier was not created by this context (use ctx.createNotifier())');
    }
    const old = this.handlers.get(notifier.slot);
    if (old !== undefined) {
      if (old.own) throw new AioError('ERR_INVALID_ARGUMENT', "the context's own notifier cannot be re-registered");
      old.deleted = true;
      this.handlers.delete(notifier.slot);
      if (old.ref) this.userHandlerCount--;
      if (old.handlers.onPoll !== undefined) {
        this.pollHandlers = this.pollHandlers.filter((h) => h !== old);
        // Keep onPollBegin/onPollEnd balanced per handler: one removed in
        // poll mode gets its end now (e.g. to re-enable guest notifications).
        if (this.pollStarted) old.handlers.onPollEnd?.();
      }
    }
    if (handlers === null) {
      this.set.remove(notifier);
    } else {
      this.addHandler(notifier, handlers, false, options?.ref !== false);
    }
    // QEMU aio_set_fd_handler ends with aio_notify: the loop re-evaluates.
    this.shared.notify();
  }

  private addHandler(notifier: EventNotifier, handlers: NotifierHandlers, own: boolean, ref: boolean): void {
    const node: HandlerNode = { notifier, handlers, deleted: false, own, ref: ref && !own };
    this.handlers.set(notifier.slot, node);
    if (node.ref) this.userHandlerCount++;
    if (handlers.onPoll !== undefined) {
      this.pollHandlers = [...this.pollHandlers, node];
      // Balanced: a handler added in poll mode begins polling now.
      if (this.pollStarted) handlers.onPollBegin?.();
    }
    this.set.add(notifier);
  }

  // ---------------------------------------------------------------- polling

  /**
   * Sets the adaptive polling parameters (`aio_context_set_poll_params`).
   * The current window restarts from 0.
   * @thread home
   */
  setPollParams(params: Partial<PollParams>): void {
    this.checkLive();
    this.pollParams = checkPollParams(params);
    this.pollWindowNs = 0;
  }

  /** The polling parameters in force. */
  get pollParameters(): PollParams {
    return this.pollParams;
  }

  /**
   * QEMU poll_set_started: tell poll handlers that polling begins or ends;
   * when it ends, poll each once more in case onPollEnd raced with an event.
   */
  private pollSetStarted(started: boolean, ready: HandlerNode[]): boolean {
    if (started === this.pollStarted) return false;
    this.pollStarted = started;
    let progress = false;
    for (const node of this.pollHandlers) {
      if (node.deleted) continue;
      const fn = started ? node.handlers.onPollBegin : node.handlers.onPollEnd;
      fn?.();
      if (!started && node.handlers.onPoll!()) {
        // Once per poll: it may be there already (the Node-loop spin's).
        if (!ready.includes(node)) ready.push(node);
        if (!node.own) progress = true;
      }
    }
    return progress;
  }

  /**
   * QEMU run_poll_handlers: busy-poll the handlers' onPoll callbacks and the
   * notifier set's doorbell for up to `maxNs`. Every notifier is pollable
   * here (one load of the set's sequence), not only those with onPoll.
   * Updates `this.timeoutNs`; returns progress.
   */
  private runPollHandlers(maxNs: number, ready: HandlerNode[]): boolean {
    const start = nowNs();
    const seq = this.set.sequence;
    let progress = false;
    let elapsed = 0;
    let max = maxNs;
    do {
      for (const node of this.pollHandlers) {
        if (!node.deleted && node.handlers.onPoll!()) {
          ready.push(node);
          // Polling was successful: exit to adjust the next window.
          this.timeoutNs = 0;
          // aio_notify() alone is not progress.
          if (!node.own) progress = true;
        }
      }
      if (this.set.sequence !== seq) this.timeoutNs = 0;
      elapsed = nowNs() - start;
      max = soonest(this.timeoutNs, max);
    } while (elapsed < max);
    if (this.timeoutNs === 0) this.counters.pollHits++;
    else if (this.timeoutNs > 0) this.timeoutNs -= Math.min(this.timeoutNs, elapsed);
    return progress;
  }

  /** QEMU try_poll_mode: updates `this.timeoutNs`; returns progress. */
  private tryPollMode(ready: HandlerNode[]): boolean {
    const maxNs = soonest(this.timeoutNs, this.pollWindowNs);
    if (maxNs > 0) {
      this.pollSetStarted(true, ready);
      if (this.runPollHandlers(maxNs, ready)) return true;
    }
    if (this.pollSetStarted(false, ready)) {
      this.timeoutNs = 0;
      return true;
    }
    return false;
  }

  /**
   * Runs what is ready and, if `blocking`, first waits until something is
   * (`aio_poll`). Returns whether progress was made: a BH (not idle) or a
   * handler ran, or a timer fired. A wake-up caused only by `notify()` is
   * not progress. Blocking is refused on the Node main thread
   * (ERR_CANNOT_BLOCK): attach the context to Node's loop there.
   * May be called from inside a callback of this context (a nested poll).
   * @thread home
   */
  poll(blocking: boolean): boolean {
    this.checkLive();
    // The common non-blocking poll, with polling off and no tracer: exactly
    // the steps pollFull takes with a zero timeout, kept short so V8 inlines
    // the cell operations under it.
    if (!blocking && this.pollWindowNs === 0 && !this.pollStarted && this.pollParams.maxNs === 0 && this.tracer === undefined && this.spinReady.length === 0) {
      this.counters.polls++;
      const ready = this.set.poll();
      this.notifyAccept();
      let progress = this.bhPoll();
      if (ready.length !== 0) progress = this.dispatchHandlers(ready, NOT_POLLING) || progress;
      if (this.timers.armed() !== 0 && this.timers.run()) {
        this.counters.timerRuns++;
        progress = true;
      }
      return progress;
    }
    return this.pollFull(blocking);
  }

  /** aio_poll in full: try_poll_mode, notifyMe, the wait, adaptive polling, dispatch. */
  private pollFull(blocking: boolean): boolean {
    if (blocking && !canBlock()) {
      throw new AioError('ERR_CANNOT_BLOCK', 'poll(true) would block this thread; use poll(false), attachToNodeLoop() or a worker');
    }
    const c = this.counters;
    c.polls++;
    const trace = this.tracer;
    const start = trace !== undefined || this.pollParams.maxNs !== 0 ? nowNs() : 0;
    trace?.('poll-begin', start, blocking);
    // Only poll mode adds to this list: allocate it only when polling.
    let pollReady = this.pollStarted || this.pollWindowNs > 0 ? [] : NOT_POLLING;
    if (this.spinReady.length !== 0) {
      pollReady = this.spinReady;
      this.spinReady = [];
    }
    this.timeoutNs = blocking ? this.computeTimeoutNs() : 0;
    // try_poll_mode has nothing to do without a window and outside poll mode.
    let progress = this.pollWindowNs === 0 && !this.pollStarted ? false : this.tryPollMode(pollReady);
    let timeout = this.timeoutNs;

    // Everything is re-evaluated before the next blocking wait when this
    // poll does not block; only a blocking one must ask to be notified.
    const useNotifyMe = timeout !== 0;
    const sh = this.shared;
    if (useNotifyMe) {
      // (P1) Write notifyMe before reading notified; pairs with (N1)/(N2).
      sh.notifyMe.add(2);
      // (P2) Don't block if aio_notify() was called.
      if (sh.notified.load() !== 0) timeout = 0;
    }
    let readyNotifiers: readonly EventNotifier[];
    if (timeout !== 0) {
      // Polling must be off before sleeping so handlers re-enable their
      // notifications (QEMU: "essential to avoid hangs").
      if (this.pollSetStarted(false, pollReady)) {
        timeout = 0;
        progress = true;
        readyNotifiers = this.set.poll();
      } else {
        c.blockingWaits++;
        trace?.('wait-begin', nowNs(), timeout);
        const before = this.set.stats.wakeups;
        readyNotifiers = this.set.wait(timeout < 0 ? undefined : timeout / 1e6, { spins: 0 });
        if (this.set.stats.wakeups !== before) c.wakeups++;
        trace?.('wait-end', nowNs(), readyNotifiers.length);
      }
    } else {
      readyNotifiers = this.set.poll();
    }
    if (useNotifyMe) {
      // Finish the wait before lowering notifyMe.
      sh.notifyMe.sub(2);
    }
    this.notifyAccept();

    if (this.pollParams.maxNs !== 0) {
      const before = this.pollWindowNs;
      this.pollWindowNs = adjustPollWindow(before, nowNs() - start, this.pollParams);
      if (before !== this.pollWindowNs) trace?.('poll-window', nowNs(), this.pollWindowNs);
    }

    progress = this.bhPoll() || progress;
    progress = this.dispatchHandlers(readyNotifiers, pollReady) || progress;
    if (this.timers.run()) {
      c.timerRuns++;
      trace?.('timers-run', nowNs());
      progress = true;
    }
    trace?.('poll-end', nowNs(), progress);
    return progress;
  }

  /**
   * The Node-loop attachment's poll after its spin saw a poll handler
   * ready: dispatch it, BHs and timers as aio_poll does, but stay in poll
   * mode (QEMU keeps poll mode across aio_poll calls while polling
   * succeeds): the attachment spins again next, or ends poll mode before
   * it can sleep. The handler's notifications stay off meanwhile.
   */
  private pollSpun(): boolean {
    this.checkLive();
    this.counters.polls++;
    this.tracer?.('poll-begin', nowNs(), false);
    // Swap the two arrays rather than allocate one per round trip.
    const pollReady = this.spinReady;
    this.spinReady = this.spinSpare;
    this.spinSpare = pollReady;
    const ready = this.set.poll();
    this.notifyAccept();
    let progress = this.bhPoll();
    try {
      progress = this.dispatchHandlers(ready, pollReady) || progress;
    } finally {
      pollReady.length = 0;
    }
    if (this.timers.armed() !== 0 && this.timers.run()) {
      this.counters.timerRuns++;
      this.tracer?.('timers-run', nowNs());
      progress = true;
    }
    this.tracer?.('poll-end', nowNs(), progress);
    return progress;
  }

  /** QEMU aio_dispatch_ready_handlers. */
  private dispatchHandlers(ready: readonly EventNotifier[], pollReady: readonly HandlerNode[]): boolean {
    if (ready.length === 0 && pollReady.length === 0) return false;
    let progress = false;
    const c = this.counters;
    for (let i = 0; i < ready.length; i++) {
      const n = ready[i]!;
      const node = this.handlers.get(n.slot);
      if (node === undefined || node.deleted || node.handlers.onRead === undefined) continue;
      c.handlersDispatched++;
      if (!node.own) this.tracer?.('handler-dispatch', nowNs(), n.slot);
      node.handlers.onRead(n);
      if (!node.own) progress = true;
    }
    for (let i = 0; i < pollReady.length; i++) {
      const node = pollReady[i]!;
      if (node.deleted || node.handlers.onPollReady === undefined) continue;
      c.handlersDispatched++;
      node.handlers.onPollReady(node.notifier);
      // Return progress so that poll() does not block.
      if (!node.own) progress = true;
    }
    return progress;
  }

  // ---------------------------------------------------------------- waiting

  /**
   * Polls (blocking) while `cond()` holds (`AIO_WAIT_WHILE`); returns
   * whether it waited. Another thread that changes what `cond` reads calls
   * `kick()` afterwards (`aio_wait_kick`).
   * @thread home, a thread that may block
   */
  waitWhile(cond: () => boolean): boolean {
    this.checkLive();
    // Count ourselves before evaluating cond; pairs with kick()'s load of
    // `waiters`, which follows the kicker's write of the condition.
    this.shared.waiters.add(1);
    let waited = false;
    try {
      while (cond()) {
        this.poll(true);
        waited = true;
      }
    } finally {
      this.shared.waiters.sub(1);
    }
    return waited;
  }

  /**
   * Wakes a `waitWhile` on this context so it re-evaluates its condition
   * (`aio_wait_kick`). Cheap when nobody waits.
   * @thread any (on other threads through AioContext.open(handle))
   */
  kick(): void {
    this.checkLive();
    this.shared.kick(this.kickBh.slot, this.kickBh.generation);
  }

  // ---------------------------------------------------------------- Node loop

  /**
   * Runs this context inside Node's event loop on the current thread, with
   * `Atomics.waitAsync` instead of blocking (QEMU's GSource mode; bit 0 of
   * notifyMe). It keeps the process alive while something can still run —
   * a live handler, a scheduled BH, an armed timer — unless `unref()`ed,
   * and lets it exit otherwise. Errors thrown by callbacks go to
   * `options.onError`, or become uncaught exceptions.
   * @thread home
   */
  attachToNodeLoop(options?: NodeLoopOptions): NodeLoopAttachment {
    this.checkLive();
    if (this.attachment?.attached) throw new AioError('ERR_ATTACHED', `context "${this.name}" is already attached to the Node loop`);
    this.attachment = new NodeLoopAttachment(
      {
        pollOnce: () => (this.pollStarted && this.spinReady.length !== 0 ? this.pollSpun() : this.poll(false)),
        prepare: () => {
          // QEMU aio_ctx_prepare: raise bit 0, then compute the timeout (the
          // BH flags read pairs with (N2) in aio_notify).
          this.shared.notifyMe.or(1);
          // Poll mode off before sleeping ("essential to avoid hangs"): a
          // spin that found work left it on, and the window may have
          // dropped to 0 since. What a handler sees then is dispatched by
          // the next poll, without sleeping.
          if (this.pollStarted && this.pollSetStarted(false, this.spinReady)) return 0;
          const t = this.computeTimeoutNs();
          return this.shared.notified.load() !== 0 ? 0 : t;
        },
        finish: () => {
          // QEMU aio_ctx_check: finish the wait before clearing the bit.
          this.shared.notifyMe.and(~1);
        },
        sleep: (timeoutNs, ref, signal) =>
          this.set.waitAsync(timeoutNs < 0 ? undefined : timeoutNs / 1e6, { ref, signal }).then(() => undefined),
        hasLiveWork: () => this.userHandlerCount > 0 || this.timers.armed() > 0,
        live: () => !this.destroyed,
        spin: () => this.spinForWork(),
        blocked: (ns) => {
          if (this.pollParams.maxNs !== 0) this.pollWindowNs = adjustPollWindow(this.pollWindowNs, ns, this.pollParams);
        },
      },
      options,
    );
    return this.attachment;
  }

  /**
   * The Node-loop attachment's busy-poll: up to the current window, watch
   * the notifier set's doorbell, `notified` and the handlers' onPoll for
   * work to appear (bit 0 of notifyMe stays clear meanwhile, so notifiers
   * skip the notifier set). True if work appeared. As QEMU try_poll_mode,
   * the spin never outlasts the poll timeout: a BH scheduled from this
   * thread (which sets neither the doorbell nor `notified`) or a timer
   * that is due ends it at once, and a timer ends it when it is due.
   */
  private spinForWork(): boolean {
    if (this.pollWindowNs === 0) return false;
    const timeout = this.computeTimeoutNs();
    if (timeout === 0) return true;
    const window = soonest(timeout, this.pollWindowNs);
    const start = nowNs();
    const seq = this.set.sequence;
    const handlers = this.pollHandlers;
    // Poll mode while spinning (QEMU poll_set_started): handlers may stop
    // their notifications meanwhile (io_poll_begin). Work found leaves it
    // on — the next poll ends it and dispatches what onPoll sees then —
    // and it ends here before the attachment can go to sleep.
    if (handlers.length > 1) this.pollSetStarted(true, this.spinReady);
    do {
      if (this.set.sequence !== seq || this.shared.notified.load() !== 0) return true;
      for (let i = 0; i < handlers.length; i++) {
        const h = handlers[i]!;
        if (!h.own && !h.deleted && h.handlers.onPoll!()) {
          this.spinReady.push(h);
          return true;
        }
      }
    } while (nowNs() - start < window);
    // "Essential to avoid hangs": notifications back on before sleeping,
    // and one more look at each handler (what it sees is dispatched by the
    // next poll).
    return this.pollSetStarted(false, this.spinReady);
  }


  // ---------------------------------------------------------------- misc

  /**
   * Installs (or with undefined, removes) a tracer that receives every trace
   * point of this context. Free when none is installed.
   * @thread home
   */
  setTracer(tracer: AioTracer | undefined): void {
    this.tracer = tracer;
  }

  /** A snapshot of the counters. */
  get stats(): AioStats {
    const n = this.shared.counters;
    return {
      ...this.counters,
      pollWindowNs: this.pollWindowNs,
      notifies: n.notifies,
      notifierSets: n.notifierSets,
      notifiesSkipped: n.notifiesSkipped,
      bhsLive: this.nextSlot - this.freeSlots.length,
    };
  }

  /** The handle other threads open with `AioContext.open` (notify, kick, schedule exported BHs). */
  get handle(): AioContextHandle {
    this.checkLive();
    return this.contextHandle();
  }

  /** @internal */
  contextHandle(): AioContextHandle {
    return {
      kind: 'vmloop.aio-context',
      version: 1,
      name: this.name,
      buffer: this.memory.buffer,
      notifier: this.shared.notifier.handle,
      kick: { slot: this.kickBh.slot, generation: this.kickBh.generation },
    };
  }

  /** Whether `destroy()` was called. */
  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /**
   * Destroys the context (QEMU aio_context_unref → aio_ctx_finalize). Fails
   * with ERR_BH_LEAKED naming every bottom half that was not deleted, and
   * with ERR_TIMERS_ARMED while timers are armed; nothing is torn down then.
   * Registered handlers are removed. Remote handles fail afterwards with
   * ERR_CONTEXT_DESTROYED.
   * @thread home
   */
  destroy(): void {
    if (this.destroyed) return;
    const leaked = this.bhs.filter((b): b is BottomHalf => b !== undefined && !b.deleted && b !== this.kickBh).map((b) => `"${b.name}"`);
    if (leaked.length > 0) {
      throw new AioError('ERR_BH_LEAKED', `context "${this.name}" destroyed with ${leaked.length} bottom half(s) not deleted: ${leaked.join(', ')} (call bh.delete())`);
    }
    const armed = this.timers.armed();
    if (armed > 0) throw new AioError('ERR_TIMERS_ARMED', `context "${this.name}" destroyed with ${armed} armed timer(s) (del() them first)`);
    this.attachment?.detach();
    this.destroyed = true;
    this.memory.state.store(STATE_DESTROYED);
    this.timers.destroy();
    this.set.close();
  }

  /** @internal */
  checkLive(): void {
    if (this.destroyed) throw new AioError('ERR_CONTEXT_DESTROYED', `context "${this.name}" was destroyed`);
  }
}
