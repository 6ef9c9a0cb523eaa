import type { Int32Cell, Int32CellArray } from '@vmloop/atomics';
import type { EventNotifier } from '@vmloop/event-notifier';
import { AioError } from './errors.js';
import {
  BH_DELETED,
  BH_FLAGS_MASK,
  BH_GEN_MASK,
  BH_GEN_SHIFT,
  BH_IDLE,
  BH_PENDING,
  BH_SCHEDULED,
  type ContextMemory,
  STATE_DESTROYED,
} from './layout.js';

/** Counters of the operations any thread performs on a context (this thread's view). */
export interface NotifyCounters {
  /** aio_notify calls. */
  notifies: number;
  /** aio_notify calls that set the context notifier (notifyMe was non-zero). */
  notifierSets: number;
  /** aio_notify calls that skipped the notifier (notifyMe was zero). */
  notifiesSkipped: number;
  /** BH schedules (any kind) made through this object. */
  bhSchedules: number;
}

/**
 * The operations on a context's shared memory that every thread may perform:
 * aio_notify, enqueueing a bottom half, aio_wait_kick. The home AioContext
 * and remote handles both go through this one implementation; layout.ts
 * explains the protocol and names each step (N1, F1, …).
 * @thread any
 */
export class SharedContext {
  readonly notifyMe: Int32Cell;
  readonly notified: Int32Cell;
  readonly bhHead: Int32Cell;
  readonly waiters: Int32Cell;
  readonly state: Int32Cell;
  readonly bhFlags: Int32CellArray;
  readonly bhNext: Int32CellArray;
  readonly counters: NotifyCounters = { notifies: 0, notifierSets: 0, notifiesSkipped: 0, bhSchedules: 0 };
  /** notifyMe is ignored and every notify sets the notifier (a reference mode for benchmarks). */
  private readonly always: boolean;

  constructor(
    readonly memory: ContextMemory,
    /** The context's own notifier (QEMU ctx->notifier). */
    readonly notifier: EventNotifier,
  ) {
    this.notifyMe = memory.notifyMe;
    this.notified = memory.notified;
    this.bhHead = memory.bhHead;
    this.waiters = memory.waiters;
    this.state = memory.state;
    this.bhFlags = memory.bhFlags;
    this.bhNext = memory.bhNext;
    this.always = memory.notifyAlways.load() === 1;
  }

  /**
   * QEMU aio_notify: make the home thread re-evaluate BHs, handlers and timers.
   * Called after the work is published (the BH push is a seq-cst CAS).
   */
  notify(): void {
    const c = this.counters;
    c.notifies++;
    // (N1) Write `notified` (and, before it, the BH list) before reading
    // notifyMe. Pairs with (P3) notifyAccept and with (P2) in aio_poll.
    this.notified.store(1);
    // (N2) Pairs with notifyMe.add(2) (P1) in aio_poll and or(1) in the
    // Node-loop prepare step. Set the notifier whenever notifyMe is non-zero,
    // even if `notified` was already true: that shortcut loses wake-ups.
    if (this.notifyMe.load() !== 0 || this.always) {
      this.notifier.set();
      c.notifierSets++;
    } else {
      c.notifiesSkipped++;
    }
  }

  /**
   * QEMU aio_bh_enqueue for the home thread, which knows its BH is live:
   * (F1) fetch-or the flags and notify; returns whether the caller must
   * queue the slot (it was not pending).
   *
   * The notify is cheaper than aio_notify: every decision to sleep on this
   * context (a blocking poll's (P1)/(P2), the Node-loop prepare step) runs
   * on this same thread, so it is sequenced with this code and re-reads the
   * BH list before sleeping; the `notified` store only matters to a poller
   * on another thread, and there is none. What remains is waking the
   * Node-loop attachment when its sleep is pending (bit 0 of notifyMe).
   */
  enqueueLocal(slot: number, newFlags: number): boolean {
    const old = this.bhFlags.or(slot, BH_PENDING | newFlags);
    this.counters.bhSchedules++;
    this.notifyLocal();
    // Only the scheduler that set PENDING enqueues (F1). From the home thread
    // the caller queues the slot locally instead of on the shared list: the
    // home thread is its only reader, and remote schedulers of the same BH
    // see PENDING and do not push it.
    return (old & BH_PENDING) === 0;
  }

  /**
   * aio_notify from the home thread (see enqueueLocal for why `notified` is
   * only written when notifyMe is non-zero): wakes the Node-loop attachment's
   * pending sleep; otherwise one load.
   */
  notifyLocal(): void {
    const c = this.counters;
    c.notifies++;
    if (this.notifyMe.load() !== 0 || this.always) {
      this.notified.store(1);
      this.notifier.set();
      c.notifierSets++;
    } else {
      c.notifiesSkipped++;
    }
  }

  /**
   * aio_bh_enqueue from a handle: compare-exchange against the handle's
   * generation, so a stale handle (its BH deleted, the slot maybe reused)
   * throws ERR_BH_DELETED instead of scheduling another BH.
   */
  enqueueRemote(slot: number, generation: number, newFlags: number, name: string): void {
    this.checkLive();
    const flags = this.bhFlags;
    let old = flags.load(slot);
    // Already pending and scheduled (and not idle): the home thread has yet
    // to dequeue it, and its dequeue comes after this load, so it will see
    // whatever the caller published before; whoever scheduled it notified.
    if (newFlags === BH_SCHEDULED && (old & (BH_PENDING | BH_SCHEDULED | BH_IDLE | BH_DELETED)) === (BH_PENDING | BH_SCHEDULED) && ((old >>> BH_GEN_SHIFT) & BH_GEN_MASK) === generation) {
      this.counters.bhSchedules++;
      return;
    }
    for (;;) {
      // A deleted BH must never be pushed again: between its dequeue and the
      // free that bumps the generation it is off the list with PENDING clear,
      // and a push then would put the freed slot on the list twice.
      if (((old >>> BH_GEN_SHIFT) & BH_GEN_MASK) !== generation || (old & BH_DELETED) !== 0) {
        throw new AioError('ERR_BH_DELETED', `bottom half "${name}" was deleted; its handle is stale`);
      }
      const seen = flags.compareExchange(slot, old, old | BH_PENDING | newFlags);
      if (seen === old) break;
      old = seen;
    }
    if ((old & BH_PENDING) === 0) this.push(slot);
    this.counters.bhSchedules++;
    this.notify();
  }

  /** QEMU qemu_bh_cancel from a handle: clear `bits` if the generation matches. */
  clearRemote(slot: number, generation: number, bits: number): void {
    this.checkLive();
    const flags = this.bhFlags;
    let old = flags.load(slot);
    while (((old >>> BH_GEN_SHIFT) & BH_GEN_MASK) === generation) {
      const seen = flags.compareExchange(slot, old, old & ~bits);
      if (seen === old) return;
      old = seen;
    }
  }

  /**
   * QSLIST_INSERT_HEAD_ATOMIC (F2): link `slot` in front of the current head
   * and publish it with a compare-exchange; retry if another push won.
   */
  private push(slot: number): void {
    const head = this.bhHead;
    let h = head.load();
    for (;;) {
      this.bhNext.store(slot, h);
      const seen = head.compareExchange(h, slot);
      if (seen === h) return;
      h = seen;
    }
  }

  /**
   * QEMU aio_wait_kick: wake a waitWhile() on this context. The caller
   * wrote the condition before; pairs with waiters.add(1) in waitWhile,
   * which is before the condition read (store-buffering).
   */
  kick(kickSlot: number, kickGeneration: number): void {
    if (this.waiters.load() !== 0) this.enqueueRemote(kickSlot, kickGeneration, BH_SCHEDULED, 'aio-wait-kick');
  }

  checkLive(): void {
    if (this.state.load() === STATE_DESTROYED) throw new AioError('ERR_CONTEXT_DESTROYED', 'the AioContext was destroyed');
  }
}

/** The generation part of a flag word. */
export function generationOf(word: number): number {
  return (word >>> BH_GEN_SHIFT) & BH_GEN_MASK;
}

/** The flags part of a flag word. */
export function flagsOf(word: number): number {
  return word & BH_FLAGS_MASK;
}
