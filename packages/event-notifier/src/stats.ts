/** Counters of one EventNotifier object (this thread's view; not shared). */
export interface EventNotifierStats {
  /** `set()` calls. */
  readonly sets: number;
  /** Sets that found the notifier already set: one atomic load, nothing else. */
  readonly coalesced: number;
  /** Sets that did not call `Atomics.notify` (coalesced, or nobody was waiting). */
  readonly skippedWakes: number;
  /** `Atomics.notify` calls made by sets (notifier waiters or the set's doorbell). */
  readonly wakeups: number;
  /** Sleeps entered by `wait`/`waitAsync` (after the spin phase). */
  readonly waits: number;
  /** Sleeps that ended with the notifier still clear (taken by another consumer, or a stale wake). */
  readonly spuriousWakeups: number;
}

/** Counters of one NotifierSet (owner thread). */
export interface NotifierSetStats {
  /** Scans of the ready bitmap (`poll`, and each round of `wait`). */
  readonly scans: number;
  /** Sleeps on the doorbell. */
  readonly waits: number;
  /** Sleeps ended by a notify (rather than a changed doorbell or a timeout). */
  readonly wakeups: number;
  /** Sleeps after which the scan found nothing ready. */
  readonly spuriousWakeups: number;
  /** Notifiers reported ready, summed over all calls. */
  readonly reported: number;
}

/** @internal Mutable backing of EventNotifierStats. */
export class NotifierCounters implements EventNotifierStats {
  sets = 0;
  coalesced = 0;
  skippedWakes = 0;
  wakeups = 0;
  waits = 0;
  spuriousWakeups = 0;
}

/** @internal Mutable backing of NotifierSetStats. */
export class SetCounters implements NotifierSetStats {
  scans = 0;
  waits = 0;
  wakeups = 0;
  spuriousWakeups = 0;
  reported = 0;
}
