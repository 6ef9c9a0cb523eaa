import { DEFAULT_SPINS, assertCanBlock, type Int32Cell, type Int32CellArray } from '@vmloop/atomics';
import { NotifierError, checkSpins, checkTimeout } from './errors.js';
import {
  EventNotifier,
  type EventNotifierOptions,
  type NotifierWaitAsyncOptions,
  type NotifierWaitOptions,
  initSlot,
} from './event-notifier.js';
import { type Arena, FLAG_WATCHED, MAX_CAPACITY, arenaLayout } from './layout.js';
import { type NotifierSetStats, SetCounters } from './stats.js';

/** The shared empty result: scans that find nothing allocate nothing. */
const NONE: readonly EventNotifier[] = Object.freeze([]);

/** Options of {@link NotifierSet.create}. */
export interface NotifierSetOptions {
  /** Notifiers the set can hold, 1 … 32768 (default 1024). */
  readonly capacity?: number;
}

/**
 * Waits on many notifiers at once: the analogue of the `ppoll` set behind
 * QEMU's `aio_poll` (util/aio-posix.c), for notifiers instead of fds.
 *
 * Notifiers are born in the set (`createNotifier`), handed to other threads
 * by handle, and watched with `add` / unwatched with `remove`. `wait()` (in
 * a worker) or `waitAsync()` (on the main thread) returns the watched
 * notifiers that are set. Many sets from many threads cost the owner one
 * wake-up: setters mark a ready bitmap and bump one doorbell counter, and
 * only a setter that finds the owner asleep calls `Atomics.notify`. See
 * layout.ts for the protocol.
 *
 * Readiness is level-triggered, like poll(2): a notifier is reported again
 * by every wait until it is cleared (`testAndClear`/`read`).
 *
 * ```ts
 * const set = NotifierSet.create({ capacity: 4096 });
 * const n = set.createNotifier();
 * set.add(n);
 * worker.postMessage(n.handle);              // worker: EventNotifier.open(h).set()
 * for (const ready of set.wait(1000)) ready.testAndClear();
 * ```
 * @thread home: the thread that created it; only it waits and adds/removes.
 */
export class NotifierSet {
  /** Notifiers this set can hold. */
  readonly capacity: number;
  private readonly arena: Arena;
  private readonly doorbell: Int32Cell;
  private readonly sleepSeq: Int32Cell;
  private readonly summary: Int32CellArray;
  private readonly bitmap: Int32CellArray;
  /** This thread's notifier object per allocated slot. */
  private readonly notifiers: EventNotifier[] = [];
  /** Per slot: watched by this set (the owner's copy of FLAG_WATCHED). */
  private readonly watched: Uint8Array;
  /** Per slot: the scan generation that last reported it (dedupe). */
  private readonly reportedIn: Uint32Array;
  private generation = 0;
  /** Slots reported by the last scan (the first lastReadyCount): re-checked by the next (level-triggered). */
  private lastReady: Int32Array;
  private lastReadyCount = 0;
  /** The next scan's list of reported slots (swapped with lastReady after it). */
  private nextReady: Int32Array;
  /** Where poll/wait scan into before copying out what they return. */
  private readonly scratch: EventNotifier[] = [];
  /** Slots found already set by `add`: reported by the next scan. */
  private addedReady: number[] = [];
  private watchCount = 0;
  /** The doorbell as read before the last scan; -1 before any. */
  private scannedSeq = -1;
  private readonly counters = new SetCounters();
  private closed = false;
  private readonly closer = new AbortController();

  private constructor(capacity: number) {
    this.capacity = capacity;
    this.arena = arenaLayout(capacity).create();
    const h = this.arena.header.at(0);
    h.capacity.store(capacity);
    this.doorbell = h.doorbell;
    this.sleepSeq = h.sleepSeq;
    this.sleepSeq.store(-1);
    this.summary = this.arena.summary;
    this.bitmap = this.arena.bitmap;
    this.watched = new Uint8Array(capacity);
    this.reportedIn = new Uint32Array(capacity);
    this.lastReady = new Int32Array(capacity);
    this.nextReady = new Int32Array(capacity);
  }

  /** A new, empty set. @thread any (the caller becomes its home thread) */
  static create(options?: NotifierSetOptions): NotifierSet {
    const capacity = options?.capacity ?? 1024;
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new NotifierError('ERR_INVALID_ARGUMENT', `capacity must be an integer in [1, ${MAX_CAPACITY}], got ${String(capacity)}`);
    }
    return new NotifierSet(capacity);
  }

  /** Watched notifiers. */
  get size(): number {
    return this.watchCount;
  }

  /** Notifiers created so far (slots are not reused). */
  get allocated(): number {
    return this.notifiers.length;
  }

  /**
   * The doorbell counter: it changes whenever a watched notifier is set.
   * A busy-poller (AioContext's adaptive polling) compares it with an
   * earlier value to learn, with one load, that a `poll()` would find work.
   * @thread any
   */
  get sequence(): number {
    return this.doorbell.load();
  }

  /** A snapshot of the set's counters. */
  get stats(): NotifierSetStats {
    return { ...this.counters };
  }

  /**
   * A new notifier in this set's memory, not yet watched. Its handle works
   * in any thread; its `set()` rings this set while the set watches it.
   * Throws ERR_SET_FULL when all `capacity` slots were handed out.
   * @thread home
   */
  createNotifier(options?: EventNotifierOptions): EventNotifier {
    this.checkOpen();
    const slot = this.notifiers.length;
    if (slot >= this.capacity) {
      throw new NotifierError('ERR_SET_FULL', `all ${this.capacity} notifiers of this set are in use (raise capacity)`);
    }
    initSlot(this.arena, slot, options);
    const n = new EventNotifier(this.arena, slot);
    this.notifiers.push(n);
    return n;
  }

  /**
   * Watches `n` (the `aio_set_event_notifier` registration). If `n` is
   * already set it is reported by the next wait. Idempotent.
   * @thread home
   */
  add(n: EventNotifier): void {
    const slot = this.slotOf(n);
    if (this.watched[slot] === 1) return;
    this.watched[slot] = 1;
    this.watchCount++;
    const s = this.arena.slots.at(slot);
    s.flags.or(FLAG_WATCHED);
    // Flag before value; pairs with set()'s RMW on `value` then `flags.load`:
    // a set racing with add() either rings the doorbell or is seen here.
    if (s.value.load() !== 0) this.addedReady.push(slot);
  }

  /** Stops watching `n`. Idempotent. @thread home */
  remove(n: EventNotifier): void {
    const slot = this.slotOf(n);
    if (this.watched[slot] === 0) return;
    this.watched[slot] = 0;
    this.watchCount--;
    // A setter that read the flag just before this may still ring: the scan
    // ignores unwatched slots, so that costs one spurious wake at most.
    this.arena.slots.at(slot).flags.and(~FLAG_WATCHED);
  }

  /** Whether `n` lives in this set's memory (made by `createNotifier`), watched or not. @thread home */
  owns(n: EventNotifier): boolean {
    return n.arena.buffer === this.arena.buffer && this.notifiers[n.slot] !== undefined;
  }

  /** Whether the set watches `n`. @thread home */
  has(n: EventNotifier): boolean {
    return n.arena.buffer === this.arena.buffer && this.watched[n.slot] === 1;
  }

  /** The watched notifiers that are set now, without sleeping. @thread home */
  poll(): readonly EventNotifier[] {
    this.checkOpen();
    return this.copyOut(this.scan(this.scratch));
  }

  /**
   * poll() into the caller's array: writes the ready notifiers to
   * `out[0 … n)` (growing it if needed; never shortening it, so entries
   * from `n` on are stale) and returns `n`. A caller that passes the same
   * array every time allocates nothing (a vCPU's interrupt check on every
   * loop round).
   * @thread home
   */
  pollInto(out: EventNotifier[]): number {
    this.checkOpen();
    return this.scan(out);
  }

  /**
   * Blocks until a watched notifier is set or `timeoutMs` passes; returns
   * the ready notifiers ([] on timeout). Spins `options.spins` doorbell
   * loads before sleeping. Throws ERR_CANNOT_BLOCK on the Node main thread.
   * @thread home, a worker
   */
  wait(timeoutMs?: number, options?: NotifierWaitOptions): readonly EventNotifier[] {
    this.checkOpen();
    const timeout = checkTimeout(timeoutMs);
    let spins = checkSpins(options?.spins, DEFAULT_SPINS);
    try {
      assertCanBlock('NotifierSet.wait()', 'NotifierSet.waitAsync()');
    } catch (e) {
      throw new NotifierError('ERR_CANNOT_BLOCK', (e as Error).message.replace(/^atomics: /, ''));
    }
    const deadline = timeout === Number.POSITIVE_INFINITY ? timeout : performance.now() + timeout;
    const c = this.counters;
    let slept = false;
    for (;;) {
      // (A) in layout.ts: read the doorbell before scanning.
      const seq = this.doorbell.load();
      const n = this.scan(this.scratch);
      if (n > 0) return this.copyOut(n);
      if (slept) c.spuriousWakeups++;
      if (spins > 0) {
        while (spins > 0 && this.doorbell.load() === seq) spins--;
        if (spins > 0) continue;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) return [];
      // (C) in layout.ts; pairs with the setter's `sleepSeq.load` (D).
      this.sleepSeq.store(seq);
      c.waits++;
      const r = this.doorbell.wait(seq, remaining === Number.POSITIVE_INFINITY ? undefined : remaining);
      if (r === 'ok') c.wakeups++;
      slept = true;
    }
  }

  /**
   * Resolves with the ready notifiers when a watched notifier is set, or
   * with [] after `timeoutMs`. Never blocks. Keeps the process alive while
   * pending unless `{ ref: false }`. `close()` rejects it with ERR_SET_CLOSED.
   * @thread home
   */
  async waitAsync(timeoutMs?: number, options?: NotifierWaitAsyncOptions): Promise<readonly EventNotifier[]> {
    this.checkOpen();
    const timeout = checkTimeout(timeoutMs);
    const signal = options?.signal === undefined ? this.closer.signal : this.combined(options.signal);
    const ref = options?.ref !== false;
    const deadline = timeout === Number.POSITIVE_INFINITY ? timeout : performance.now() + timeout;
    const c = this.counters;
    let slept = false;
    for (;;) {
      const seq = this.doorbell.load();
      const n = this.scan(this.scratch);
      if (n > 0) return this.copyOut(n);
      if (slept) c.spuriousWakeups++;
      const remaining = deadline - performance.now();
      if (remaining <= 0) return [];
      // (C) in layout.ts, as in wait().
      this.sleepSeq.store(seq);
      c.waits++;
      const r = await this.doorbell.waitAsync(seq, remaining === Number.POSITIVE_INFINITY ? undefined : remaining, { ref, signal });
      if (r === 'ok') c.wakeups++;
      slept = true;
    }
  }

  /**
   * Closes the set: later calls throw ERR_SET_CLOSED and a pending
   * `waitAsync` rejects with it. Notifiers created by the set stay usable
   * as plain notifiers (other threads may still hold them).
   * @thread home
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closer.abort(new NotifierError('ERR_SET_CLOSED', 'notifier set closed while waiting'));
  }

  private lastSignal: AbortSignal | undefined;
  private lastCombined: AbortSignal | undefined;

  /** The caller's signal or close(): one combined signal per caller signal, not per wait. */
  private combined(signal: AbortSignal): AbortSignal {
    if (signal !== this.lastSignal) {
      this.lastSignal = signal;
      this.lastCombined = AbortSignal.any([this.closer.signal, signal]);
    }
    return this.lastCombined!;
  }

  /** The first `n` of scratch as a new array (what poll and wait return), or the shared empty one. */
  private copyOut(n: number): readonly EventNotifier[] {
    return n === 0 ? NONE : this.scratch.slice(0, n);
  }

  /**
   * Collects ready watched slots into `out[0 … n)` and returns n: last
   * round's still-set ones, add()'s, then the bitmap. Allocates nothing
   * (beyond growing `out` the first times).
   */
  private scan(out: EventNotifier[]): number {
    // Fast path: nothing can be ready if the doorbell did not move since it
    // was read before the last scan (a set whose bits that scan missed bumps
    // the doorbell after them) and nothing is pending from that scan or add().
    const seq = this.doorbell.load();
    if (seq === this.scannedSeq && this.lastReadyCount === 0 && this.addedReady.length === 0) return 0;
    this.scannedSeq = seq;
    this.counters.scans++;
    const gen = ++this.generation === 0x1_0000_0000 ? this.resetGenerations() : this.generation;
    const previous = this.lastReady;
    const slots = this.nextReady;
    let n = 0;
    for (let k = 0; k < this.lastReadyCount; k++) n = this.take(previous[k]!, gen, out, slots, n);
    if (this.addedReady.length > 0) {
      for (const slot of this.addedReady) n = this.take(slot, gen, out, slots, n);
      this.addedReady = [];
    }
    const summary = this.summary;
    for (let sw = 0; sw < summary.length; sw++) {
      if (summary.load(sw) === 0) continue;
      // Summary before bitmap; setters write bitmap before summary, so a
      // bit missed here comes with a doorbell bump that makes us rescan.
      let words = summary.exchange(sw, 0);
      while (words !== 0) {
        const b = 31 - Math.clz32(words & -words);
        words &= words - 1;
        const w = sw * 32 + b;
        if (this.bitmap.load(w) === 0) continue;
        let bits = this.bitmap.exchange(w, 0);
        while (bits !== 0) {
          const i = 31 - Math.clz32(bits & -bits);
          bits &= bits - 1;
          n = this.take(w * 32 + i, gen, out, slots, n);
        }
      }
    }
    // This scan's slots are the next one's previous; the old list is reused.
    this.nextReady = previous;
    this.lastReady = slots;
    this.lastReadyCount = n;
    this.counters.reported += n;
    return n;
  }

  /** Reports `slot` (as out[n] and slots[n]) once per scan if it is watched and set; returns the new count. */
  private take(slot: number, gen: number, out: EventNotifier[], slots: Int32Array, n: number): number {
    if (this.watched[slot] !== 1 || this.reportedIn[slot] === gen) return n;
    const notifier = this.notifiers[slot]!;
    if (!notifier.isSetUnchecked()) return n;
    this.reportedIn[slot] = gen;
    out[n] = notifier;
    slots[n] = slot;
    return n + 1;
  }

  private resetGenerations(): number {
    this.reportedIn.fill(0);
    this.generation = 1;
    return 1;
  }

  private slotOf(n: EventNotifier): number {
    this.checkOpen();
    if (!this.owns(n)) {
      throw new NotifierError('ERR_FOREIGN_NOTIFIER', 'this notifier was not created by this set (use set.createNotifier())');
    }
    return n.slot;
  }

  private checkOpen(): void {
    if (this.closed) throw new NotifierError('ERR_SET_CLOSED', 'this NotifierSet was closed');
  }
}
