/**
 * The context's timers (QEMU ctx->tlg): a TimerListGroup from
 * @vmloop/timers whose notify callback calls aio_notify.
 * TEMPORARY: until @vmloop/timers lands, a group with no clocks.
 */

/** Options of the context's timer group. */
export interface ContextTimersOptions {
  /** Reserved for the timer group's options. */
  readonly timers?: never;
}

/** What the context needs of its timer group. */
export interface ContextTimers {
  /** QEMU timerlistgroup_deadline_ns: -1, 0 or ns until the soonest timer. */
  deadlineNs(): number;
  /** QEMU timerlistgroup_run_timers: whether any timer ran. */
  run(): boolean;
  /** Armed timers (keep-alive and leak checks). */
  armed(): number;
  destroy(): void;
}

/** @internal */
export function createContextTimers(_options: ContextTimersOptions, _notify: () => void): ContextTimers {
  return { deadlineNs: () => -1, run: () => false, armed: () => 0, destroy: () => {} };
}
