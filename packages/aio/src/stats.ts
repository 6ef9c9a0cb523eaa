/** Counters of an AioContext (home thread's view), `ctx.stats`. */
export interface AioStats {
  /** `poll()` calls, blocking or not, nested included. */
  readonly polls: number;
  /** Polls that went to sleep on the notifier set (timeout ≠ 0). */
  readonly blockingWaits: number;
  /** Sleeps that ended because a notifier was set (not by timeout). */
  readonly wakeups: number;
  /** Busy-poll rounds that found work before sleeping. */
  readonly pollHits: number;
  /** The current adaptive poll window in ns (QEMU ctx->poll_ns). */
  readonly pollWindowNs: number;
  /** `aio_notify` calls made on the home thread. */
  readonly notifies: number;
  /** Of those, the ones that set the context notifier (notifyMe ≠ 0). */
  readonly notifierSets: number;
  /** Of those, the ones that skipped it (notifyMe = 0). */
  readonly notifiesSkipped: number;
  /** Bottom-half callbacks run. */
  readonly bhsRun: number;
  /** Notifier-handler callbacks run (onRead and onPollReady). */
  readonly handlersDispatched: number;
  /** Polls in which timers ran. */
  readonly timerRuns: number;
  /** Bottom halves allocated and not freed. */
  readonly bhsLive: number;
}
