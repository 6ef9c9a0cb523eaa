export { AtomicsError, VmloopError, type AtomicsErrorCode } from './errors.js';
export { assertCanBlock, canBlock, osThreadId, setMainThreadBlocking, threadCpuTimeNs, threadKind, type ThreadKind, workerExecArgv } from './thread.js';
export {
  DEFAULT_SPINS,
  futexNotify,
  futexSpinWait,
  futexWait,
  futexWaitAsync,
  type SpinWaitOptions,
  type WaitAsyncOptions,
  type WaitResult,
} from '#futex';
// `#cell`, `#futex` and `#shared-words` are ./cell.js, ./futex.js and
// ./shared-words.js, or their instrumented twins in ./explore/ when Node runs
// with --conditions=vmloop-explore (package.json "imports"; see testing.ts).
export { BigInt64Cell, BigInt64CellArray, Int32Cell, Int32CellArray } from '#cell';
export { SharedWords } from '#shared-words';
export {
  CACHE_LINE,
  Layout,
  StructArray,
  bigInt64,
  bigInt64Array,
  bytes,
  defineLayout,
  layoutFamily,
  int32,
  int32Array,
  struct,
  type BigInt64ArrayField,
  type BigInt64Field,
  type BytesField,
  type Field,
  type FieldOptions,
  type FieldValue,
  type Fields,
  type Instance,
  type Int32ArrayField,
  type Int32Field,
  type LayoutHandle,
  type StructField,
} from './layout.js';
export { runLitmus, type LitmusMode, type LitmusOptions, type LitmusResult, type LitmusShape } from './litmus.js';
export type { PrimitiveHandle } from './handle.js';
export { Event, type EventOptions } from './event.js';
export { Semaphore } from './semaphore.js';
export { Mutex } from './mutex.js';
export { Condition } from './condition.js';
export { Seqlock, type SeqlockHandle, type SeqlockReader, type SeqlockWriter } from './seqlock.js';
