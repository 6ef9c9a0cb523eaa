import { type PrimitiveHandle, handleOf, openHandle } from './handle.js';
import { waitUntil, waitUntilAsync } from './wait-until.js';
import { CACHE_LINE, defineLayout, int32 } from './layout.js';
import type { Int32Cell } from './cell.js';
import { assertCanBlock } from './thread.js';

const Layout = defineLayout('atomics.event', {
  // 1 while set. Written by set() (exchange 1), reset() (store 0) and, in
  // auto-reset mode, by the waiter that consumes it (compareExchange 1 → 0).
  // Read by waiters as the futex word (wait while 0). set()'s exchange pairs
  // with the waiter's futex check after `waiters.add` (store-buffering).
  state: int32({ align: CACHE_LINE }),
  // Threads inside wait/waitAsync. Written by waiters (add before the futex
  // wait, sub after); read by set() (load after its exchange) to skip notify.
  waiters: int32(),
  // 1 for manual reset. Written once by create() before sharing; read by open().
  manual: int32(),
});

/** Options of {@link Event.create}. */
export interface EventOptions {
  /** Manual reset: stays set and releases every waiter until `reset()` (QemuEvent). Default false: auto-reset. */
  readonly manualReset?: boolean;
  /** Start set. Default false. */
  readonly initiallySet?: boolean;
}

/**
 * An event across threads. Manual-reset (QEMU's QemuEvent): once set it
 * releases every waiter until `reset()`. Auto-reset: each `set()` releases
 * exactly one waiter, which consumes it; setting a set event does nothing.
 * `set()` calls `Atomics.notify` only when someone waits.
 * @thread any (one object per thread; share it by `handle`)
 */
export class Event {
  private readonly state: Int32Cell;
  private readonly waiters: Int32Cell;
  /** Whether this is a manual-reset event. */
  readonly manualReset: boolean;

  private constructor(private readonly mem: ReturnType<typeof Layout.create>) {
    this.state = mem.state;
    this.waiters = mem.waiters;
    this.manualReset = mem.manual.load() === 1;
  }

  /** A new event in its own shared memory. */
  static create(options?: EventOptions): Event {
    const mem = Layout.create();
    mem.manual.store(options?.manualReset === true ? 1 : 0);
    mem.state.store(options?.initiallySet === true ? 1 : 0);
    return new Event(mem);
  }

  /** Opens an event from its handle (ERR_BAD_HANDLE if it is not one). */
  static open(handle: unknown): Event {
    return new Event(openHandle('vmloop.event', Layout, handle));
  }

  /** The handle to post to another thread. */
  get handle(): PrimitiveHandle<'vmloop.event'> {
    return handleOf('vmloop.event', this.mem);
  }

  /** Sets the event (`qemu_event_set`): wakes all waiters (manual) or one (auto). */
  set(): void {
    if (this.state.exchange(1) !== 0) return;
    // After the exchange; pairs with `waiters.add` before the futex wait.
    if (this.waiters.load() !== 0) this.state.notify(this.manualReset ? undefined : 1);
  }

  /** Clears the event (`qemu_event_reset`). */
  reset(): void {
    this.state.store(0);
  }

  /** Whether it is set. */
  isSet(): boolean {
    return this.state.load() === 1;
  }

  /** Takes the event if it is set: always true for manual-reset; consumes it for auto-reset. */
  private take(): boolean {
    return this.manualReset ? this.state.load() === 1 : this.state.compareExchange(1, 0) === 1;
  }

  /**
   * Blocks until the event is set (and, auto-reset, consumed by this
   * waiter) or the timeout passes; returns whether it got the event.
   * @thread a thread that may block (else ERR_CANNOT_BLOCK)
   */
  wait(timeoutMs?: number): boolean {
    assertCanBlock('Event.wait()', 'Event.waitAsync()');
    return waitUntil(() => this.take(), this.state, 0, this.waiters, timeoutMs);
  }

  /** `wait` as a Promise; never blocks. @thread any */
  waitAsync(timeoutMs?: number): Promise<boolean> {
    return waitUntilAsync(() => this.take(), this.state, 0, this.waiters, timeoutMs);
  }
}
