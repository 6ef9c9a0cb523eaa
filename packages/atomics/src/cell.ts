/**
 * Named shared-memory words and the atomic operations on them.
 *
 * Every cross-thread protocol word in vmloop is an `Int32Cell` (or a
 * `BigInt64Cell`, or an element of a cell array) obtained from a
 * {@link defineLayout | layout}; nothing else in vmloop calls `Atomics`.
 * All operations are sequentially consistent, the only ordering ECMAScript
 * offers for atomics: a seq-cst RMW on one cell is *not* a fence for plain
 * accesses to other memory, so protocol words never use plain access.
 */
import { AtomicsError } from './errors.js';
import {
  futexNotify,
  futexSpinWait,
  futexWait,
  futexWaitAsync,
  type SpinWaitOptions,
  type WaitAsyncOptions,
  type WaitResult,
} from './futex.js';

/** One 32-bit shared word. All methods are atomic and seq-cst. @thread any */
export class Int32Cell {
  /** @internal */
  constructor(
    /** The Int32Array over the whole SharedArrayBuffer. */
    readonly view: Int32Array,
    /** Element index of this word in `view`. */
    readonly index: number,
  ) {}

  /** `Atomics.load` */
  load(): number {
    return Atomics.load(this.view, this.index);
  }
  /** `Atomics.store`; returns the stored value. */
  store(value: number): number {
    return Atomics.store(this.view, this.index, value);
  }
  /** `Atomics.exchange`; returns the old value. */
  exchange(value: number): number {
    return Atomics.exchange(this.view, this.index, value);
  }
  /** `Atomics.compareExchange`; returns the old value (equal to `expected` on success). */
  compareExchange(expected: number, replacement: number): number {
    return Atomics.compareExchange(this.view, this.index, expected, replacement);
  }
  /** `Atomics.add`; returns the old value. Wraps at 2^32. */
  add(value: number): number {
    return Atomics.add(this.view, this.index, value);
  }
  /** `Atomics.sub`; returns the old value. Wraps at 2^32. */
  sub(value: number): number {
    return Atomics.sub(this.view, this.index, value);
  }
  /** `Atomics.and`; returns the old value. */
  and(value: number): number {
    return Atomics.and(this.view, this.index, value);
  }
  /** `Atomics.or`; returns the old value. */
  or(value: number): number {
    return Atomics.or(this.view, this.index, value);
  }
  /** Sleeps while the word equals `expected` (see futexWait). */
  wait(expected: number, timeoutMs?: number): WaitResult {
    return futexWait(this.view, this.index, expected, timeoutMs);
  }
  /** Waits asynchronously while the word equals `expected` (see futexWaitAsync). */
  waitAsync(expected: number, timeoutMs?: number, options?: WaitAsyncOptions): Promise<WaitResult> {
    return futexWaitAsync(this.view, this.index, expected, timeoutMs, options);
  }
  /** Spins, then sleeps, while the word equals `expected` (see futexSpinWait). */
  spinWait(expected: number, options?: SpinWaitOptions): WaitResult {
    return futexSpinWait(this.view, this.index, expected, options);
  }
  /** Wakes up to `count` sleepers (default all); returns how many woke. */
  notify(count?: number): number {
    return futexNotify(this.view, this.index, count);
  }
}

/** One 64-bit shared word holding a bigint. All methods are atomic and seq-cst. @thread any */
export class BigInt64Cell {
  /** @internal */
  constructor(
    readonly view: BigInt64Array,
    readonly index: number,
  ) {}

  /** `Atomics.load` */
  load(): bigint {
    return Atomics.load(this.view, this.index);
  }
  /** `Atomics.store`; returns the stored value. */
  store(value: bigint): bigint {
    return Atomics.store(this.view, this.index, value);
  }
  /** `Atomics.exchange`; returns the old value. */
  exchange(value: bigint): bigint {
    return Atomics.exchange(this.view, this.index, value);
  }
  /** `Atomics.compareExchange`; returns the old value. */
  compareExchange(expected: bigint, replacement: bigint): bigint {
    return Atomics.compareExchange(this.view, this.index, expected, replacement);
  }
  /** `Atomics.add`; returns the old value. Wraps at 2^64. */
  add(value: bigint): bigint {
    return Atomics.add(this.view, this.index, value);
  }
  /** `Atomics.sub`; returns the old value. Wraps at 2^64. */
  sub(value: bigint): bigint {
    return Atomics.sub(this.view, this.index, value);
  }
  /** `Atomics.and`; returns the old value. */
  and(value: bigint): bigint {
    return Atomics.and(this.view, this.index, value);
  }
  /** `Atomics.or`; returns the old value. */
  or(value: bigint): bigint {
    return Atomics.or(this.view, this.index, value);
  }
}

/**
 * A run of 32-bit shared words. Element operations mirror {@link Int32Cell}
 * and take the element index first; `at(i)` gives a cell for one element.
 * Indices are checked against `length` (a bad index would otherwise touch a
 * neighbouring field of the layout).
 * @thread any
 */
export class Int32CellArray {
  /** @internal */
  constructor(
    readonly view: Int32Array,
    /** Element index of element 0 in `view`. */
    readonly base: number,
    readonly length: number,
  ) {}

  /** A cell for element `i`. */
  at(i: number): Int32Cell {
    return new Int32Cell(this.view, this.slot(i));
  }
  load(i: number): number {
    return Atomics.load(this.view, this.slot(i));
  }
  store(i: number, value: number): number {
    return Atomics.store(this.view, this.slot(i), value);
  }
  exchange(i: number, value: number): number {
    return Atomics.exchange(this.view, this.slot(i), value);
  }
  compareExchange(i: number, expected: number, replacement: number): number {
    return Atomics.compareExchange(this.view, this.slot(i), expected, replacement);
  }
  add(i: number, value: number): number {
    return Atomics.add(this.view, this.slot(i), value);
  }
  sub(i: number, value: number): number {
    return Atomics.sub(this.view, this.slot(i), value);
  }
  and(i: number, value: number): number {
    return Atomics.and(this.view, this.slot(i), value);
  }
  or(i: number, value: number): number {
    return Atomics.or(this.view, this.slot(i), value);
  }
  wait(i: number, expected: number, timeoutMs?: number): WaitResult {
    return futexWait(this.view, this.slot(i), expected, timeoutMs);
  }
  waitAsync(i: number, expected: number, timeoutMs?: number, options?: WaitAsyncOptions): Promise<WaitResult> {
    return futexWaitAsync(this.view, this.slot(i), expected, timeoutMs, options);
  }
  notify(i: number, count?: number): number {
    return futexNotify(this.view, this.slot(i), count);
  }

  private slot(i: number): number {
    // Unsigned compare rejects negatives, NaN and non-integers in one test.
    if (!(i >>> 0 === i && i < this.length)) throw rangeError(i, this.length);
    return this.base + i;
  }
}

/** A run of 64-bit shared words holding bigints. @thread any */
export class BigInt64CellArray {
  /** @internal */
  constructor(
    readonly view: BigInt64Array,
    readonly base: number,
    readonly length: number,
  ) {}

  at(i: number): BigInt64Cell {
    return new BigInt64Cell(this.view, this.slot(i));
  }
  load(i: number): bigint {
    return Atomics.load(this.view, this.slot(i));
  }
  store(i: number, value: bigint): bigint {
    return Atomics.store(this.view, this.slot(i), value);
  }
  exchange(i: number, value: bigint): bigint {
    return Atomics.exchange(this.view, this.slot(i), value);
  }
  compareExchange(i: number, expected: bigint, replacement: bigint): bigint {
    return Atomics.compareExchange(this.view, this.slot(i), expected, replacement);
  }
  add(i: number, value: bigint): bigint {
    return Atomics.add(this.view, this.slot(i), value);
  }
  sub(i: number, value: bigint): bigint {
    return Atomics.sub(this.view, this.slot(i), value);
  }

  private slot(i: number): number {
    if (!(i >>> 0 === i && i < this.length)) throw rangeError(i, this.length);
    return this.base + i;
  }
}

function rangeError(i: number, length: number): AtomicsError {
  return new AtomicsError('ERR_LAYOUT_BOUNDS', `cell index ${String(i)} outside [0, ${length})`);
}
