import type { ClockType } from './clock-type.js';
import type { Clocks } from './clocks.js';
import { TimerError } from './errors.js';
import type { TimerStats } from './stats.js';
import { Timer } from './timer.js';
import { TimerHeap } from './timer-heap.js';

const SCALES = new Set([1, 1_000, 1_000_000]);

/**
 * The timers of one clock on one thread (QEMU QEMUTimerList), kept in an
 * indexed heap: mod, del and run cost O(log n) per timer, the deadline O(1).
 * Its owner learns through `notify` when the earliest expiry moved earlier,
 * to recompute its poll timeout (QEMU timerlist_notify).
 * @thread home
 */
export class TimerList {
  private readonly heap = new TimerHeap();
  /** Timers by heap slot. */
  private readonly timers: Timer[] = [];
  private seq = 0;
  private destroyed = false;
  private readonly counters = { fired: 0, mods: 0, dels: 0, notifies: 0 };

  /** @internal Use `group.list(type)`, or `new TimerList(clocks, type, notify)` for a list on its own. */
  constructor(
    readonly clocks: Clocks,
    readonly type: ClockType,
    private readonly notify: (type: ClockType) => void = () => {},
  ) {
    clocks.isEnabled(type); // validates the type
  }

  /** A timer on this list (`timer_new_tl`). `scale`: SCALE_NS, SCALE_US or SCALE_MS. */
  createTimer(scale: number, callback: () => void): Timer {
    this.checkLive();
    if (!SCALES.has(scale)) throw new TimerError('ERR_INVALID_ARGUMENT', `scale must be SCALE_NS, SCALE_US or SCALE_MS, got ${String(scale)}`);
    if (typeof callback !== 'function') throw new TimerError('ERR_INVALID_ARGUMENT', 'a timer needs a callback');
    const t = new Timer(this, this.timers.length, scale, callback);
    this.timers.push(t);
    this.heap.reserve(this.timers.length);
    return t;
  }

  /** @internal timer_mod_ns: (re)insert, and notify if the earliest expiry moved earlier. */
  modNs(t: Timer, ns: number): void {
    this.checkTimer(t);
    const expire = Math.max(ns, 0);
    const heap = this.heap;
    const head = heap.peek();
    const earliest = head < 0 ? Number.POSITIVE_INFINITY : heap.expiryOf(head);
    if (heap.contains(t.slot)) heap.remove(t.slot);
    t.expireNs = expire;
    t.seq = ++this.seq;
    heap.push(t.slot, expire, t.seq);
    this.counters.mods++;
    // Only an earlier earliest expiry can shorten the owner's wait; QEMU
    // also notifies when the head moved later, which only costs a wake-up.
    if (heap.peek() === t.slot && expire < earliest) {
      this.counters.notifies++;
      this.notify(this.type);
    }
  }

  /** @internal timer_del. */
  del(t: Timer): void {
    this.checkTimer(t);
    if (t.expireNs < 0) return;
    // A timer deferred by a running run() is pending but out of the heap.
    if (this.heap.contains(t.slot)) this.heap.remove(t.slot);
    t.expireNs = -1;
    this.counters.dels++;
  }

  /** Timers pending. */
  get armed(): number {
    return this.heap.size;
  }

  /** Expiry of the earliest timer in ns, -1 if none (`timerlist_get_deadline`'s head). */
  get earliestNs(): number {
    const head = this.heap.peek();
    return head < 0 ? -1 : this.heap.expiryOf(head);
  }

  /**
   * ns until the earliest timer: -1 if none or the clock is disabled, 0 if
   * one is due (`timerlist_deadline_ns`).
   */
  deadlineNs(): number {
    this.checkLive();
    const head = this.heap.peek();
    if (head < 0 || !this.clocks.isEnabled(this.type)) return -1;
    return Math.max(0, this.heap.expiryOf(head) - this.clocks.now(this.type));
  }

  /**
   * Runs the timers that are due (`timerlist_run_timers`); returns whether
   * any ran. Each timer is made not pending before its callback, which may
   * mod or del any timer; a timer deleted by an earlier callback does not
   * fire. A timer (re)armed during this run waits for the next run even if
   * it is already due, so a run always ends. Nothing runs while the clock
   * is disabled.
   */
  run(): boolean {
    this.checkLive();
    const heap = this.heap;
    if (heap.size === 0 || !this.clocks.isEnabled(this.type)) return false;
    const now = this.clocks.now(this.type);
    const limit = this.seq;
    let deferred: Timer[] | undefined;
    let progress = false;
    try {
      for (let slot = heap.peek(); slot >= 0 && heap.expiryOf(slot) <= now; slot = heap.peek()) {
        const t = this.timers[slot]!;
        heap.remove(slot);
        if (t.seq > limit) {
          (deferred ??= []).push(t);
          continue;
        }
        t.expireNs = -1;
        this.counters.fired++;
        progress = true;
        t.callback();
      }
    } finally {
      if (deferred !== undefined) for (const t of deferred) if (!heap.contains(t.slot) && t.expireNs >= 0) heap.push(t.slot, t.expireNs, t.seq);
    }
    return progress;
  }

  /** A snapshot of the counters. */
  get stats(): TimerStats {
    return { armed: this.heap.size, ...this.counters };
  }

  /** Whether `destroy()` was called. */
  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** @internal Destroys the list: its timers become unusable (ERR_DESTROYED). */
  destroy(): void {
    this.destroyed = true;
    for (let slot = this.heap.peek(); slot >= 0; slot = this.heap.peek()) {
      this.heap.remove(slot);
      this.timers[slot]!.expireNs = -1;
    }
  }

  /** @internal */
  checkLive(): void {
    if (this.destroyed) throw new TimerError('ERR_DESTROYED', `the ${this.type} timer list was destroyed`);
  }

  private checkTimer(t: Timer): void {
    this.checkLive();
    if (t.list !== this) throw new TimerError('ERR_INVALID_ARGUMENT', 'the timer belongs to another list');
  }
}
