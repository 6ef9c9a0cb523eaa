/**
 * The scheduling hook of the instrumented build (see ../testing.ts).
 *
 * When Node runs with `--conditions=vmloop-explore`, the package's internal
 * imports `#cell`, `#futex` and `#shared-words` resolve to the modules of
 * this folder instead of ../cell.ts, ../futex.ts and ../shared-words.ts.
 * Their operations ask `hook.scheduler` to perform every atomic access and
 * every futex wait and notify, so a model checker decides when each one
 * happens; with no scheduler installed they call `Atomics` like the normal
 * build. Without the condition none of this code is loaded.
 */
import type { WaitResult } from '../futex.js';

/** `Atomics.load` */
export const OP_LOAD = 0;
/** `Atomics.store` */
export const OP_STORE = 1;
/** `Atomics.exchange` */
export const OP_EXCHANGE = 2;
/** `Atomics.compareExchange` (value = expected, replacement) */
export const OP_COMPARE_EXCHANGE = 3;
/** `Atomics.add` */
export const OP_ADD = 4;
/** `Atomics.sub` */
export const OP_SUB = 5;
/** `Atomics.and` */
export const OP_AND = 6;
/** `Atomics.or` */
export const OP_OR = 7;

/** An atomic access, as passed to {@link AtomicsScheduler.access}. */
export type AtomicOp = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** Names of the operations, by code. */
export const OP_NAMES: readonly string[] = ['load', 'store', 'exchange', 'compareExchange', 'add', 'sub', 'and', 'or'];

/** The shared typed arrays cells operate on. */
export type SharedView = Int32Array | BigInt64Array | Uint16Array | Uint32Array;

/**
 * What a model checker installs with `setAtomicsScheduler`. Each method is
 * called *instead of* the `Atomics` operation and must perform it (or, for
 * waits and notifies, model it) and return its result.
 */
export interface AtomicsScheduler {
  /** An access to `view[index]`: `value` is the operand (the expected value of a compare-exchange), `replacement` the CAS replacement. */
  access(op: AtomicOp, view: SharedView, index: number, value: number | bigint, replacement: number | bigint): number | bigint;
  /** A futex wait while `view[index] === expected`, at most `timeoutMs` (Infinity: forever); never called spinning. */
  wait(view: Int32Array, index: number, expected: number, timeoutMs: number): WaitResult;
  /** Wakes up to `count` waiters of `view[index]` (Infinity: all); returns how many woke. */
  notify(view: Int32Array, index: number, count: number): number;
}

/**
 * The installed scheduler (undefined: operations go straight to `Atomics`),
 * and the instrumented Int32Cell class once ./cell.ts is loaded: `#cell`
 * resolved to the instrumented build iff it is that class.
 */
export const hook: { scheduler: AtomicsScheduler | undefined; instrumentedCell: unknown } = { scheduler: undefined, instrumentedCell: undefined };
