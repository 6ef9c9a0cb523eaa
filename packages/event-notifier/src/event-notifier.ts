import { DEFAULT_SPINS, assertCanBlock, type Int32Cell } from '@vmloop/atomics';
import { NotifierError, checkSpins, checkTimeout } from './errors.js';
import { type Arena, FLAG_COUNTER, FLAG_WATCHED, Header, MAX_CAPACITY, arenaLayout } from './layout.js';
import { type EventNotifierStats, NotifierCounters } from './stats.js';

/** Options of {@link EventNotifier.create}. */
export interface EventNotifierOptions {
  /** Start set (QEMU `event_notifier_init(e, active)`). Default false. */
  readonly active?: boolean;
  /**
   * Counter mode: every `set()` adds 1 and `read()` returns the sum and
   * clears it, like an eventfd without EFD_SEMAPHORE. Default false: the
   * value is a flag, and setting a set notifier costs one atomic load.
   */
  readonly counter?: boolean;
}

/** Options of blocking waits. */
export interface NotifierWaitOptions {
  /** Atomic loads to spin before sleeping (default DEFAULT_SPINS from @vmloop/atomics; 0 sleeps at once). */
  readonly spins?: number;
}

/** Options of asynchronous waits. */
export interface NotifierWaitAsyncOptions {
  /** Keep the Node process alive while waiting (default true). */
  readonly ref?: boolean;
  /** Abandons the wait; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** The structured-cloneable form of a notifier: post it, then `EventNotifier.open` it. */
export interface EventNotifierHandle {
  readonly kind: 'vmloop.event-notifier';
  readonly version: 1;
  /** The arena the notifier lives in. */
  readonly buffer: SharedArrayBuffer;
  /** The notifier's slot in the arena. */
  readonly slot: number;
}

const HANDLE_KIND = 'vmloop.event-notifier';

/** @internal Writes a fresh slot: flags first, then the initial value. */
export function initSlot(arena: Arena, slot: number, options: EventNotifierOptions | undefined): void {
  const s = arena.slots.at(slot);
  s.flags.store(options?.counter === true ? FLAG_COUNTER : 0);
  s.waiters.store(0);
  s.value.store(options?.active === true ? 1 : 0);
}

/**
 * An eventfd over shared memory: QEMU's `EventNotifier`
 * (util/event_notifier-posix.c).
 *
 * `set()` from any thread, `testAndClear()` by the consumer, `wait()` in a
 * worker or `waitAsync()` on the main thread; pass `handle` to another
 * worker and `EventNotifier.open(handle)` it there. A notifier created by a
 * {@link NotifierSet} also rings that set's doorbell while the set watches it.
 *
 * `set()` is a kick, not a publication: when it finds the notifier already
 * set it does one atomic load and returns. Publish the work itself through
 * an atomic word (as every vmloop protocol does) before calling `set()`;
 * the consumer reads that word after `testAndClear()`.
 *
 * ```ts
 * const n = EventNotifier.create();
 * worker.postMessage(n.handle);            // worker: EventNotifier.open(h).set()
 * await n.waitAsync(1000);                 // main thread: never blocks the loop
 * if (n.testAndClear()) handle();
 * ```
 * @thread any (one object per thread; the memory is shared)
 */
export class EventNotifier {
  /** @internal */ readonly arena: Arena;
  /** @internal */ readonly slot: number;
  private readonly value: Int32Cell;
  private readonly waiters: Int32Cell;
  private readonly flags: Int32Cell;
  private readonly doorbell: Int32Cell;
  private readonly sleepSeq: Int32Cell;
  private readonly isCounter: boolean;
  private readonly counters = new NotifierCounters();
  private closed = false;
  private closer: AbortController | undefined;

  /** @internal Use `create`, `open` or `NotifierSet.createNotifier`. */
  constructor(arena: Arena, slot: number) {
    const s = arena.slots.at(slot);
    this.arena = arena;
    this.slot = slot;
    this.value = s.value;
    this.waiters = s.waiters;
    this.flags = s.flags;
    const h = arena.header.at(0);
    this.doorbell = h.doorbell;
    this.sleepSeq = h.sleepSeq;
    this.isCounter = (s.flags.load() & FLAG_COUNTER) !== 0;
  }

  /**
   * A new notifier in its own shared memory (`event_notifier_init`).
   * @thread any
   */
  static create(options?: EventNotifierOptions): EventNotifier {
    const arena = arenaLayout(1).create();
    arena.header.at(0).capacity.store(1);
    initSlot(arena, 0, options);
    return new EventNotifier(arena, 0);
  }

  /**
   * Opens a notifier from a handle received from another thread.
   * Throws ERR_BAD_HANDLE for anything that is not a notifier handle.
   * @thread any
   */
  static open(handle: unknown): EventNotifier {
    const h = handle as Partial<EventNotifierHandle> | null;
    if (typeof h !== 'object' || h === null || h.kind !== HANDLE_KIND || h.version !== 1) {
      throw new NotifierError('ERR_BAD_HANDLE', 'not an EventNotifier handle (use notifier.handle)');
    }
    const { buffer, slot } = h;
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < Header.byteLength) {
      throw new NotifierError('ERR_BAD_HANDLE', 'handle.buffer is not a notifier arena');
    }
    const capacity = Header.at(buffer, 0).capacity.load();
    if (!(capacity >= 1 && capacity <= MAX_CAPACITY) || buffer.byteLength < arenaLayout(capacity).byteLength) {
      throw new NotifierError('ERR_BAD_HANDLE', 'handle.buffer is not a notifier arena');
    }
    if (typeof slot !== 'number' || !(slot >>> 0 === slot && slot < capacity)) {
      throw new NotifierError('ERR_BAD_HANDLE', `handle.slot ${String(slot)} is outside the arena's ${capacity} slots`);
    }
    return new EventNotifier(arenaLayout(capacity).at(buffer, 0), slot);
  }

  /** The structured-cloneable handle of this notifier. */
  get handle(): EventNotifierHandle {
    this.checkOpen();
    return { kind: HANDLE_KIND, version: 1, buffer: this.arena.buffer, slot: this.slot };
  }

  /** Whether this notifier is in counter mode. */
  get counter(): boolean {
    return this.isCounter;
  }

  /** Whether `close()` was called on this object. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** A snapshot of this object's counters. */
  get stats(): EventNotifierStats {
    return { ...this.counters };
  }

  /**
   * Sets the notifier (`event_notifier_set`; in counter mode adds 1) and
   * wakes whoever waits on it: threads in `wait`/`waitAsync`, and the
   * owning NotifierSet if it watches this notifier. Only the set that moves
   * the value from 0 does the waking, and it calls `Atomics.notify` only
   * when someone sleeps.
   * @thread any
   */
  set(): void {
    this.checkOpen();
    const c = this.counters;
    c.sets++;
    if (this.isCounter) {
      // Accumulate; the set that moves 0 → 1 wakes (wraps at 2^32: read() returns it unsigned).
      if (this.value.add(1) !== 0) {
        c.coalesced++;
        c.skippedWakes++;
        return;
      }
    } else {
      // Fast path: already set, one load. Whoever moved it from 0 wakes.
      if (this.value.load() !== 0 || this.value.exchange(1) !== 0) {
        c.coalesced++;
        c.skippedWakes++;
        return;
      }
    }
    let woke = false;
    // The RMW on `value` above is ordered before these loads (seq-cst);
    // pairs with `waiters.add` before the futex wait in wait/waitAsync.
    if (this.waiters.load() !== 0) {
      this.value.notify();
      woke = true;
    }
    // Pairs with `flags.or(FLAG_WATCHED)` then `value.load()` in NotifierSet.add.
    if ((this.flags.load() & FLAG_WATCHED) !== 0 && this.ring()) woke = true;
    if (woke) c.wakeups++;
    else c.skippedWakes++;
  }

  /** Marks this slot ready in the arena's bitmap and rings the doorbell; true if it notified. */
  private ring(): boolean {
    const a = this.arena;
    const word = this.slot >>> 5;
    a.bitmap.or(word, 1 << (this.slot & 31));
    a.summary.or(word >>> 5, 1 << (word & 31));
    // (B) in layout.ts: bitmap before doorbell, so an owner that read the
    // doorbell before our bump either sees these bits or a new doorbell.
    const old = this.doorbell.add(1);
    // (D): pairs with the owner's `sleepSeq.store(S)` before its futex wait
    // on S (C). Only the setter that moved the doorbell off S notifies.
    if (this.sleepSeq.load() === old) {
      this.doorbell.notify();
      return true;
    }
    return false;
  }

  /**
   * Returns whether the notifier was set, and clears it
   * (`event_notifier_test_and_clear`). On a clear notifier this is one
   * atomic load and no read-modify-write: QEMU once lost measurable
   * performance to an unconditional clear (an extra barrier per poll).
   * @thread any (normally the one consumer)
   */
  testAndClear(): boolean {
    this.checkOpen();
    if (this.value.load() === 0) return false;
    return this.value.exchange(0) !== 0;
  }

  /**
   * Returns the counter and clears it, like `read(2)` on an eventfd
   * (0 when clear; 1 for a set flag-mode notifier). One load when clear.
   * @thread any (normally the one consumer)
   */
  read(): number {
    this.checkOpen();
    if (this.value.load() === 0) return 0;
    return this.value.exchange(0) >>> 0;
  }

  /** @internal NotifierSet.scan: whether the value is non-zero, without the closed check. */
  isSetUnchecked(): boolean {
    return this.value.load() !== 0;
  }

  /** Whether the notifier is set, without clearing it. @thread any */
  isSet(): boolean {
    this.checkOpen();
    return this.value.load() !== 0;
  }

  /**
   * Blocks until the notifier is set or `timeoutMs` passes; returns whether
   * it is set. Does not clear it. Spins `options.spins` loads first.
   * Throws ERR_CANNOT_BLOCK on the Node main thread (use `waitAsync`).
   * @thread worker (any thread that may block)
   */
  wait(timeoutMs?: number, options?: NotifierWaitOptions): boolean {
    this.checkOpen();
    const timeout = checkTimeout(timeoutMs);
    const spins = checkSpins(options?.spins, DEFAULT_SPINS);
    try {
      assertCanBlock('EventNotifier.wait()', 'EventNotifier.waitAsync()');
    } catch (e) {
      throw new NotifierError('ERR_CANNOT_BLOCK', (e as Error).message.replace(/^atomics: /, ''));
    }
    const value = this.value;
    for (let i = 0; i < spins; i++) if (value.load() !== 0) return true;
    const deadline = timeout === Number.POSITIVE_INFINITY ? timeout : performance.now() + timeout;
    const c = this.counters;
    for (;;) {
      if (value.load() !== 0) return true;
      const remaining = deadline - performance.now();
      if (remaining <= 0) return false;
      // Counted before the futex check; pairs with `waiters.load` in set().
      this.waiters.add(1);
      c.waits++;
      const r = value.wait(0, remaining === Number.POSITIVE_INFINITY ? undefined : remaining);
      this.waiters.sub(1);
      if (value.load() !== 0) return true;
      if (r === 'ok') c.spuriousWakeups++;
    }
  }

  /**
   * Resolves when the notifier is set (true) or after `timeoutMs` (false),
   * without blocking the thread. Does not clear it. By default the pending
   * wait keeps the process alive; pass `{ ref: false }` to let it exit.
   * `close()` rejects pending waits of this object with ERR_NOTIFIER_CLOSED.
   * @thread any
   */
  async waitAsync(timeoutMs?: number, options?: NotifierWaitAsyncOptions): Promise<boolean> {
    this.checkOpen();
    const timeout = checkTimeout(timeoutMs);
    const value = this.value;
    if (value.load() !== 0) return true;
    this.closer ??= new AbortController();
    const signal = options?.signal === undefined ? this.closer.signal : AbortSignal.any([this.closer.signal, options.signal]);
    const ref = options?.ref !== false;
    const deadline = timeout === Number.POSITIVE_INFINITY ? timeout : performance.now() + timeout;
    const c = this.counters;
    for (;;) {
      if (value.load() !== 0) return true;
      const remaining = deadline - performance.now();
      if (remaining <= 0) return false;
      this.waiters.add(1);
      c.waits++;
      let r: string;
      try {
        r = await value.waitAsync(0, remaining === Number.POSITIVE_INFINITY ? undefined : remaining, { ref, signal });
      } finally {
        this.waiters.sub(1);
      }
      if (value.load() !== 0) return true;
      if (r === 'ok') c.spuriousWakeups++;
    }
  }

  /**
   * Closes this object (`event_notifier_cleanup` for this thread's view):
   * later calls throw ERR_NOTIFIER_CLOSED and pending `waitAsync` calls of
   * this object reject with it. Other threads' objects keep working.
   * @thread the thread that owns this object
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closer?.abort(new NotifierError('ERR_NOTIFIER_CLOSED', 'notifier closed while waiting'));
  }

  private checkOpen(): void {
    if (this.closed) throw new NotifierError('ERR_NOTIFIER_CLOSED', 'this EventNotifier was closed');
  }
}
