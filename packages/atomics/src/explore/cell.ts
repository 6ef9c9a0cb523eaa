/**
 * The instrumented cells: the API of ../cell.ts, with every operation handed
 * to the installed {@link AtomicsScheduler} (`Atomics` when none is). Loaded
 * instead of ../cell.ts only under `--conditions=vmloop-explore`; keep the
 * two files' public members identical (test/explore.test.ts compares them).
 */
import { AtomicsError } from '../errors.js';
import type { SpinWaitOptions, WaitAsyncOptions, WaitResult } from '../futex.js';
import { futexNotify, futexSpinWait, futexWait, futexWaitAsync } from './futex.js';
import {
  OP_ADD,
  OP_AND,
  OP_COMPARE_EXCHANGE,
  OP_EXCHANGE,
  OP_LOAD,
  OP_OR,
  OP_STORE,
  OP_SUB,
  type AtomicOp,
  hook,
} from './hooks.js';

function i32(op: AtomicOp, view: Int32Array, index: number, value: number, replacement: number): number {
  const s = hook.scheduler;
  if (s !== undefined) return s.access(op, view, index, value, replacement) as number;
  switch (op) {
    case OP_LOAD:
      return Atomics.load(view, index);
    case OP_STORE:
      return Atomics.store(view, index, value);
    case OP_EXCHANGE:
      return Atomics.exchange(view, index, value);
    case OP_COMPARE_EXCHANGE:
      return Atomics.compareExchange(view, index, value, replacement);
    case OP_ADD:
      return Atomics.add(view, index, value);
    case OP_SUB:
      return Atomics.sub(view, index, value);
    case OP_AND:
      return Atomics.and(view, index, value);
    case OP_OR:
      return Atomics.or(view, index, value);
  }
}

function i64(op: AtomicOp, view: BigInt64Array, index: number, value: bigint, replacement: bigint): bigint {
  const s = hook.scheduler;
  if (s !== undefined) return s.access(op, view, index, value, replacement) as bigint;
  switch (op) {
    case OP_LOAD:
      return Atomics.load(view, index);
    case OP_STORE:
      return Atomics.store(view, index, value);
    case OP_EXCHANGE:
      return Atomics.exchange(view, index, value);
    case OP_COMPARE_EXCHANGE:
      return Atomics.compareExchange(view, index, value, replacement);
    case OP_ADD:
      return Atomics.add(view, index, value);
    case OP_SUB:
      return Atomics.sub(view, index, value);
    case OP_AND:
      return Atomics.and(view, index, value);
    case OP_OR:
      return Atomics.or(view, index, value);
  }
}

/** One 32-bit shared word (instrumented build). @thread any */
export class Int32Cell {
  /** @internal */
  constructor(
    readonly view: Int32Array,
    readonly index: number,
  ) {}

  load(): number {
    return i32(OP_LOAD, this.view, this.index, 0, 0);
  }
  store(value: number): number {
    return i32(OP_STORE, this.view, this.index, value, 0);
  }
  exchange(value: number): number {
    return i32(OP_EXCHANGE, this.view, this.index, value, 0);
  }
  compareExchange(expected: number, replacement: number): number {
    return i32(OP_COMPARE_EXCHANGE, this.view, this.index, expected, replacement);
  }
  add(value: number): number {
    return i32(OP_ADD, this.view, this.index, value, 0);
  }
  sub(value: number): number {
    return i32(OP_SUB, this.view, this.index, value, 0);
  }
  and(value: number): number {
    return i32(OP_AND, this.view, this.index, value, 0);
  }
  or(value: number): number {
    return i32(OP_OR, this.view, this.index, value, 0);
  }
  wait(expected: number, timeoutMs?: number): WaitResult {
    return futexWait(this.view, this.index, expected, timeoutMs);
  }
  waitAsync(expected: number, timeoutMs?: number, options?: WaitAsyncOptions): Promise<WaitResult> {
    return futexWaitAsync(this.view, this.index, expected, timeoutMs, options);
  }
  spinWait(expected: number, options?: SpinWaitOptions): WaitResult {
    return futexSpinWait(this.view, this.index, expected, options);
  }
  notify(count?: number): number {
    return futexNotify(this.view, this.index, count);
  }
}

/** One 64-bit shared word holding a bigint (instrumented build). @thread any */
export class BigInt64Cell {
  /** @internal */
  constructor(
    readonly view: BigInt64Array,
    readonly index: number,
  ) {}

  load(): bigint {
    return i64(OP_LOAD, this.view, this.index, 0n, 0n);
  }
  store(value: bigint): bigint {
    return i64(OP_STORE, this.view, this.index, value, 0n);
  }
  exchange(value: bigint): bigint {
    return i64(OP_EXCHANGE, this.view, this.index, value, 0n);
  }
  compareExchange(expected: bigint, replacement: bigint): bigint {
    return i64(OP_COMPARE_EXCHANGE, this.view, this.index, expected, replacement);
  }
  add(value: bigint): bigint {
    return i64(OP_ADD, this.view, this.index, value, 0n);
  }
  sub(value: bigint): bigint {
    return i64(OP_SUB, this.view, this.index, value, 0n);
  }
  and(value: bigint): bigint {
    return i64(OP_AND, this.view, this.index, value, 0n);
  }
  or(value: bigint): bigint {
    return i64(OP_OR, this.view, this.index, value, 0n);
  }
}

/** A run of 32-bit shared words (instrumented build). @thread any */
export class Int32CellArray {
  /** @internal */
  constructor(
    readonly view: Int32Array,
    readonly base: number,
    readonly length: number,
  ) {}

  at(i: number): Int32Cell {
    return new Int32Cell(this.view, this.slot(i));
  }
  load(i: number): number {
    return i32(OP_LOAD, this.view, this.slot(i), 0, 0);
  }
  store(i: number, value: number): number {
    return i32(OP_STORE, this.view, this.slot(i), value, 0);
  }
  exchange(i: number, value: number): number {
    return i32(OP_EXCHANGE, this.view, this.slot(i), value, 0);
  }
  compareExchange(i: number, expected: number, replacement: number): number {
    return i32(OP_COMPARE_EXCHANGE, this.view, this.slot(i), expected, replacement);
  }
  add(i: number, value: number): number {
    return i32(OP_ADD, this.view, this.slot(i), value, 0);
  }
  sub(i: number, value: number): number {
    return i32(OP_SUB, this.view, this.slot(i), value, 0);
  }
  and(i: number, value: number): number {
    return i32(OP_AND, this.view, this.slot(i), value, 0);
  }
  or(i: number, value: number): number {
    return i32(OP_OR, this.view, this.slot(i), value, 0);
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
    if (!(i >>> 0 === i && i < this.length)) throw rangeError(i, this.length);
    return this.base + i;
  }
}

/** A run of 64-bit shared words holding bigints (instrumented build). @thread any */
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
    return i64(OP_LOAD, this.view, this.slot(i), 0n, 0n);
  }
  store(i: number, value: bigint): bigint {
    return i64(OP_STORE, this.view, this.slot(i), value, 0n);
  }
  exchange(i: number, value: bigint): bigint {
    return i64(OP_EXCHANGE, this.view, this.slot(i), value, 0n);
  }
  compareExchange(i: number, expected: bigint, replacement: bigint): bigint {
    return i64(OP_COMPARE_EXCHANGE, this.view, this.slot(i), expected, replacement);
  }
  add(i: number, value: bigint): bigint {
    return i64(OP_ADD, this.view, this.slot(i), value, 0n);
  }
  sub(i: number, value: bigint): bigint {
    return i64(OP_SUB, this.view, this.slot(i), value, 0n);
  }

  private slot(i: number): number {
    if (!(i >>> 0 === i && i < this.length)) throw rangeError(i, this.length);
    return this.base + i;
  }
}

hook.instrumentedCell = Int32Cell;

function rangeError(i: number, length: number): AtomicsError {
  return new AtomicsError('ERR_LAYOUT_BOUNDS', `cell index ${String(i)} outside [0, ${length})`);
}
