import type { Int32Cell, Int32CellArray } from './cell.js';
import { checkInt } from './errors.js';
import { type PrimitiveHandle, handleOf, openHandle } from './handle.js';
import { CACHE_LINE, type Layout, int32, int32Array, layoutFamily } from './layout.js';
import { canBlock } from './thread.js';

function fields(words: number) {
  return {
    // Even: stable; odd: a write is in progress. Written by writers
    // (compareExchange even → odd to begin, store +2 to end); read by
    // readers before and after reading the payload: equal and even means
    // the payload they read is one writer's complete tuple.
    seq: int32({ align: CACHE_LINE }),
    // Writers waiting for another writer to finish (add/sub around a futex
    // wait on the odd seq); read by the finishing writer to skip notify.
    writers: int32(),
    // Words of the payload. Written by the writer holding the odd sequence,
    // read by readers between their two sequence loads, both with atomic
    // operations: ECMAScript has no acquire/release fences, and a seq-cst
    // load does not keep earlier *plain* reads from moving after it, so
    // plain payload reads could see a torn value that passes the check.
    data: int32Array(words, { align: CACHE_LINE }),
  };
}

type SeqlockFields = ReturnType<typeof fields>;
const layoutFor = layoutFamily('atomics.seqlock', fields);

/** Writes (and may read back) payload words inside `Seqlock.write`. */
export interface SeqlockWriter {
  set(index: number, value: number): void;
  /** The current value: the writer holds the lock, so no retry is needed. */
  get(index: number): number;
}
/** Reads payload words inside `Seqlock.read`. */
export interface SeqlockReader {
  get(index: number): number;
}

/** The handle of a seqlock: also carries its payload size. */
export interface SeqlockHandle extends PrimitiveHandle<'vmloop.seqlock'> {
  readonly words: number;
}

/**
 * A sequence lock over a payload of 32-bit words (QEMU QemuSeqLock):
 * readers never block writers and retry if a write overlapped their read.
 * Writers exclude each other (a compare-exchange of the sequence), so
 * several writer threads are safe.
 * @thread any (one object per thread; share it by `handle`)
 */
export class Seqlock {
  private readonly seq: Int32Cell;
  private readonly writers: Int32Cell;
  private readonly data: Int32CellArray;
  private readonly writer: SeqlockWriter;
  private readonly reader: SeqlockReader;

  private constructor(
    private readonly mem: ReturnType<Layout<SeqlockFields>['create']>,
    /** Payload words. */
    readonly words: number,
  ) {
    this.seq = mem.seq;
    this.writers = mem.writers;
    this.data = mem.data;
    const data = this.data;
    this.writer = { set: (i, v) => void data.store(i, v), get: (i) => data.load(i) };
    this.reader = { get: (i) => data.load(i) };
  }

  /** A seqlock over `words` payload words (1 … 65536), all 0. */
  static create(words: number): Seqlock {
    const n = checkInt('words', words, 1, 65536);
    return new Seqlock(layoutFor(n).create(), n);
  }

  /** Opens a seqlock from its handle. */
  static open(handle: unknown): Seqlock {
    const words = (handle as { words?: unknown } | null)?.words;
    const n = typeof words === 'number' && Number.isInteger(words) && words >= 1 && words <= 65536 ? words : 1;
    return new Seqlock(openHandle('vmloop.seqlock', layoutFor(n), handle), n);
  }

  /** The handle to post to another thread. */
  get handle(): SeqlockHandle {
    return { ...handleOf('vmloop.seqlock', this.mem), words: this.words };
  }

  /**
   * Writes the payload (`seqlock_write_begin` … `seqlock_write_end`),
   * waiting for another writer first. Keep `fn` short: readers spin while
   * it runs. On a thread that may not block, waiting for another writer
   * spins instead of sleeping.
   */
  write(fn: (w: SeqlockWriter) => void): void {
    let s: number;
    for (;;) {
      s = this.seq.load();
      if ((s & 1) === 0 && this.seq.compareExchange(s, s + 1) === s) break;
      if ((s & 1) !== 0 && canBlock()) {
        this.writers.add(1);
        this.seq.wait(s, 1);
        this.writers.sub(1);
      }
    }
    try {
      fn(this.writer);
    } finally {
      this.seq.store(s + 2);
      if (this.writers.load() !== 0) this.seq.notify();
    }
  }

  /**
   * Reads a consistent payload (`seqlock_read_begin` / `seqlock_read_retry`):
   * calls `fn` until no write overlapped it, and returns its result. `fn`
   * may run more than once and must not have side effects beyond reading.
   */
  read<T>(fn: (r: SeqlockReader) => T): T {
    for (;;) {
      const s = this.seq.load();
      if ((s & 1) !== 0) continue;
      const result = fn(this.reader);
      if (this.seq.load() === s) return result;
    }
  }

  /** The sequence (even when stable); changes with every write. */
  get sequence(): number {
    return this.seq.load();
  }
}
