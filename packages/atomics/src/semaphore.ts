import type { Int32Cell } from './cell.js';
import { AtomicsError, checkInt } from './errors.js';
import { type PrimitiveHandle, handleOf, openHandle } from './handle.js';
import { waitUntil, waitUntilAsync } from './wait-until.js';
import { CACHE_LINE, defineLayout, int32 } from './layout.js';
import { assertCanBlock } from './thread.js';

const Layout = defineLayout('atomics.semaphore', {
  // Permits available. Written by acquirers (compareExchange c → c-1) and
  // releasers (compareExchange c → c+n); read by acquirers as the futex word
  // (wait while 0). The release's RMW pairs with the acquirer's futex check
  // after `waiters.add` (store-buffering).
  count: int32({ align: CACHE_LINE }),
  // Threads inside acquire/acquireAsync. Written by them (add/sub); read by
  // release() after its RMW to skip notify.
  waiters: int32(),
});

const MAX_COUNT = 0x7fffffff;

/**
 * A counting semaphore across threads (QEMU QemuSemaphore).
 * @thread any (one object per thread; share it by `handle`)
 */
export class Semaphore {
  private readonly count: Int32Cell;
  private readonly waiters: Int32Cell;

  private constructor(private readonly mem: ReturnType<typeof Layout.create>) {
    this.count = mem.count;
    this.waiters = mem.waiters;
  }

  /** A semaphore with `initial` permits (`qemu_sem_init`). */
  static create(initial = 0): Semaphore {
    const mem = Layout.create();
    mem.count.store(checkInt('initial', initial, 0, MAX_COUNT));
    return new Semaphore(mem);
  }

  /** Opens a semaphore from its handle. */
  static open(handle: unknown): Semaphore {
    return new Semaphore(openHandle('vmloop.semaphore', Layout, handle));
  }

  /** The handle to post to another thread. */
  get handle(): PrimitiveHandle<'vmloop.semaphore'> {
    return handleOf('vmloop.semaphore', this.mem);
  }

  /** Permits available now. */
  get value(): number {
    return this.count.load();
  }

  /** Takes a permit if one is available. */
  tryAcquire(): boolean {
    for (let c = this.count.load(); c > 0; c = this.count.load()) {
      if (this.count.compareExchange(c, c - 1) === c) return true;
    }
    return false;
  }

  /**
   * Takes a permit, waiting for one at most `timeoutMs` (`qemu_sem_timedwait`);
   * returns whether it got one.
   * @thread a thread that may block (else ERR_CANNOT_BLOCK)
   */
  acquire(timeoutMs?: number): boolean {
    assertCanBlock('Semaphore.acquire()', 'Semaphore.acquireAsync()');
    return waitUntil(() => this.tryAcquire(), this.count, 0, this.waiters, timeoutMs);
  }

  /** `acquire` as a Promise; never blocks. @thread any */
  acquireAsync(timeoutMs?: number): Promise<boolean> {
    return waitUntilAsync(() => this.tryAcquire(), this.count, 0, this.waiters, timeoutMs);
  }

  /** Returns `n` permits (`qemu_sem_post`) and wakes up to `n` waiters. */
  release(n = 1): void {
    checkInt('n', n, 1, MAX_COUNT);
    for (let c = this.count.load(); ; c = this.count.load()) {
      if (c > MAX_COUNT - n) throw new AtomicsError('ERR_INVALID_ARGUMENT', `semaphore would exceed ${MAX_COUNT} permits`);
      if (this.count.compareExchange(c, c + n) === c) break;
    }
    // After the RMW; pairs with `waiters.add` before the futex wait.
    if (this.waiters.load() !== 0) this.count.notify(n);
  }
}
