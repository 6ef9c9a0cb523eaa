import type { Int32Cell } from './cell.js';
import { checkTimeout } from './errors.js';
import { type PrimitiveHandle, handleOf, openHandle } from './handle.js';
import { CACHE_LINE, defineLayout, int32 } from './layout.js';
import type { Mutex } from './mutex.js';
import { assertCanBlock } from './thread.js';

const Layout = defineLayout('atomics.condition', {
  // Sequence counter (the futex-based condvar of Rust's std / glibc's old
  // one). Written by notifyOne/notifyAll (add 1, then notify); read by
  // waiters (load while holding the mutex, futex wait on the value read
  // after unlocking). A notify between the load and the sleep changes the
  // word, so the wait returns at once: no lost wake-up.
  seq: int32({ align: CACHE_LINE }),
  // Threads inside wait/waitAsync. Written by waiters (add before reading
  // seq, sub after waking); read by notifiers to skip Atomics.notify.
  waiters: int32(),
});

/**
 * A condition variable across threads (QEMU QemuCond), used with a
 * {@link Mutex}. Waits may wake spuriously: always wait in a loop on the
 * predicate, holding the mutex.
 * @thread any (one object per thread; share it by `handle`)
 */
export class Condition {
  private readonly seq: Int32Cell;
  private readonly waiters: Int32Cell;

  private constructor(private readonly mem: ReturnType<typeof Layout.create>) {
    this.seq = mem.seq;
    this.waiters = mem.waiters;
  }

  /** A new condition variable. */
  static create(): Condition {
    return new Condition(Layout.create());
  }

  /** Opens a condition variable from its handle. */
  static open(handle: unknown): Condition {
    return new Condition(openHandle('vmloop.condition', Layout, handle));
  }

  /** The handle to post to another thread. */
  get handle(): PrimitiveHandle<'vmloop.condition'> {
    return handleOf('vmloop.condition', this.mem);
  }

  /**
   * Atomically releases `mutex` and sleeps until notified or `timeoutMs`
   * passes, then re-takes `mutex` (`qemu_cond_timedwait`). Returns false on
   * timeout. The caller must hold `mutex`.
   * @thread a thread that may block (else ERR_CANNOT_BLOCK)
   */
  wait(mutex: Mutex, timeoutMs?: number): boolean {
    assertCanBlock('Condition.wait()', 'Condition.waitAsync()');
    const timeout = checkTimeout('timeoutMs', timeoutMs);
    this.waiters.add(1);
    const s = this.seq.load();
    mutex.unlock();
    let r: string;
    try {
      r = this.seq.wait(s, timeout);
    } finally {
      this.waiters.sub(1);
      // Re-take it as contended: other woken waiters may sleep on it.
      mutex.lockContended();
    }
    return r !== 'timed-out';
  }

  /** `wait` as a Promise; never blocks. @thread any */
  async waitAsync(mutex: Mutex, timeoutMs?: number): Promise<boolean> {
    const timeout = checkTimeout('timeoutMs', timeoutMs);
    this.waiters.add(1);
    const s = this.seq.load();
    mutex.unlock();
    let r: string;
    try {
      r = await this.seq.waitAsync(s, timeout);
    } finally {
      this.waiters.sub(1);
      await mutex.lockAsync();
    }
    return r !== 'timed-out';
  }

  /** Wakes one waiter (`qemu_cond_signal`). */
  notifyOne(): void {
    this.seq.add(1);
    if (this.waiters.load() !== 0) this.seq.notify(1);
  }

  /** Wakes every waiter (`qemu_cond_broadcast`). */
  notifyAll(): void {
    this.seq.add(1);
    if (this.waiters.load() !== 0) this.seq.notify();
  }
}
