/**
 * Trace points of @vmloop/aio, declared in one place (QEMU trace-events).
 * They cost one property load and an undefined check when off.
 */
export type AioTracePoint =
  | 'poll-begin'
  | 'poll-end'
  | 'wait-begin'
  | 'wait-end'
  | 'poll-window'
  | 'bh-run'
  | 'handler-dispatch'
  | 'timers-run';

/** Receives trace events: the point, a monotonic timestamp in ns, and a detail (BH name, window, …). */
export type AioTracer = (point: AioTracePoint, timeNs: number, detail?: string | number | boolean) => void;
