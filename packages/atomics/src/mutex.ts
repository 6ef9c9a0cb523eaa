import { threadId } from 'node:worker_threads';
import type { Int32Cell } from './cell.js';
import { AtomicsError } from './errors.js';
import { type PrimitiveHandle, handleOf, openHandle } from './handle.js';
import { CACHE_LINE, defineLayout, int32 } from './layout.js';
import { assertCanBlock } from './thread.js';

const UNLOCKED = 0;
const LOCKED = 1;
/** Locked, and a thread may be sleeping on it: unlock must notify. */
const CONTENDED = 2;
/** Loads to spin on a held mutex before sleeping. */
const SPINS = 100;

const Layout = defineLayout('atomics.mutex', {
  // UNLOCKED / LOCKED / CONTENDED (Drepper, "Futexes Are Tricky", mutex3).
  // Written by lockers (compareExchange 0 → 1; exchange → 2 before sleeping)
  // and by unlock (exchange → 0, notify one if it was 2). Read by lockers as
  // the futex word (wait while 2). A locker that sleeps has made the word 2
  // first, so the unlock that ends its wait sees 2 and notifies.
  state: int32({ align: CACHE_LINE }),
  // threadId + 1 of the holder, for ERR_NOT_OWNER. Written by the locker
  // after acquiring and by unlock before releasing; read only by unlock on
  // the thread that must be the holder (a plain cross-check, no ordering).
  owner: int32(),
});

/**
 * A mutual-exclusion lock across threads (QEMU QemuMutex): the three-state
 * futex mutex. Uncontended lock and unlock are one RMW each; a contended
 * lock spins briefly, then sleeps — never a busy loop that cannot sleep.
 * On the Node main thread use `lockAsync`.
 * @thread any (one object per thread; share it by `handle`)
 */
export class Mutex {
  private readonly state: Int32Cell;
  private readonly owner: Int32Cell;
  private readonly me = threadId + 1;

  private constructor(private readonly mem: ReturnType<typeof Layout.create>) {
    this.state = mem.state;
    this.owner = mem.owner;
  }

  /** A new, unlocked mutex. */
  static create(): Mutex {
    return new Mutex(Layout.create());
  }

  /** Opens a mutex from its handle. */
  static open(handle: unknown): Mutex {
    return new Mutex(openHandle('vmloop.mutex', Layout, handle));
  }

  /** The handle to post to another thread. */
  get handle(): PrimitiveHandle<'vmloop.mutex'> {
    return handleOf('vmloop.mutex', this.mem);
  }

  /** Whether some thread holds it. */
  get isLocked(): boolean {
    return this.state.load() !== UNLOCKED;
  }

  /** Takes the lock if it is free (`qemu_mutex_trylock`). */
  tryLock(): boolean {
    if (this.state.compareExchange(UNLOCKED, LOCKED) !== UNLOCKED) return false;
    this.owner.store(this.me);
    return true;
  }

  /**
   * Takes the lock, sleeping while another thread holds it (`qemu_mutex_lock`).
   * @thread a thread that may block (else ERR_CANNOT_BLOCK)
   */
  lock(): void {
    assertCanBlock('Mutex.lock()', 'Mutex.lockAsync() or tryLock()');
    let c = this.state.compareExchange(UNLOCKED, LOCKED);
    if (c !== UNLOCKED) {
      for (let i = 0; i < SPINS && c !== UNLOCKED; i++) {
        c = this.state.load() === UNLOCKED ? this.state.compareExchange(UNLOCKED, LOCKED) : LOCKED;
      }
      if (c !== UNLOCKED) this.lockContended(c);
    }
    this.owner.store(this.me);
  }

  /** @internal The slow path, also used by Condition to re-take the lock: mark it contended, sleep until free. */
  lockContended(c = LOCKED): void {
    if (c !== CONTENDED) c = this.state.exchange(CONTENDED);
    while (c !== UNLOCKED) {
      this.state.wait(CONTENDED);
      c = this.state.exchange(CONTENDED);
    }
    this.owner.store(this.me);
  }

  /** `lock` as a Promise; never blocks. @thread any */
  async lockAsync(): Promise<void> {
    let c = this.state.compareExchange(UNLOCKED, LOCKED);
    if (c !== UNLOCKED) {
      if (c !== CONTENDED) c = this.state.exchange(CONTENDED);
      while (c !== UNLOCKED) {
        await this.state.waitAsync(CONTENDED);
        c = this.state.exchange(CONTENDED);
      }
    }
    this.owner.store(this.me);
  }

  /**
   * Releases the lock (`qemu_mutex_unlock`) and wakes one sleeper if there
   * may be one. Throws ERR_NOT_OWNER if it is not locked by this thread.
   */
  unlock(): void {
    if (this.state.load() === UNLOCKED || this.owner.load() !== this.me) {
      throw new AtomicsError('ERR_NOT_OWNER', 'unlock() of a mutex this thread does not hold');
    }
    this.owner.store(0);
    if (this.state.exchange(UNLOCKED) === CONTENDED) this.state.notify(1);
  }

  /** Runs `fn` holding the lock. @thread a thread that may block */
  withLock<T>(fn: () => T): T {
    this.lock();
    try {
      return fn();
    } finally {
      this.unlock();
    }
  }
}
