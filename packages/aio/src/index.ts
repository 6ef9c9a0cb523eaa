export { AioContext, type AioContextOptions, type NotifierHandlers } from './aio-context.js';
export { BottomHalf, type BottomHalfHandle, type BottomHalfOptions } from './bottom-half.js';
export { AioError, type AioErrorCode } from './errors.js';
export { NodeLoopAttachment, type NodeLoopOptions } from './node-loop.js';
export { IOTHREAD_POLL_MAX_NS, POLL_OFF, type PollParams } from './poll-params.js';
export { AioContextRemote, RemoteBottomHalf, type AioContextHandle } from './remote.js';
export type { AioStats } from './stats.js';
export type { ContextTimers, ContextTimersOptions } from './timers.js';
export type { AioTracePoint, AioTracer } from './trace.js';
