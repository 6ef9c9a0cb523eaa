/** Counters of a timer list or group (`stats`). */
export interface TimerStats {
  /** Timers pending now. */
  readonly armed: number;
  /** Callbacks run. */
  readonly fired: number;
  /** mod/modNs/modAnticipate calls that (re)armed a timer. */
  readonly mods: number;
  /** del calls that disarmed a pending timer. */
  readonly dels: number;
  /** Notify callbacks: the earliest expiry moved earlier (or a clock was enabled). */
  readonly notifies: number;
}
