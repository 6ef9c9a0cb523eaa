/** Counters of a ThreadPool (`pool.stats`). */
export interface PoolStats {
  /** Requests not started: waiting for a slot, in the ring, or held by back-pressure. */
  readonly queued: number;
  /** Requests running on a worker now. */
  readonly active: number;
  readonly submitted: number;
  /** Completed with a result. */
  readonly done: number;
  /** Completed with the job's error or ERR_WORKER_DIED. */
  readonly failed: number;
  /** Completed with ECANCELED. */
  readonly cancelled: number;
  /** Workers started / exited (retired or died) / died. */
  readonly spawned: number;
  readonly exited: number;
  readonly died: number;
  /** Requests whose argument travelled in shared memory / by message (structured clone). */
  readonly fastPath: number;
  readonly fallback: number;
  /** Times the ring's head stood still with requests queued beyond `maxAwake` and sleepers were woken for them (S5). */
  readonly strandWakes: number;
  /**
   * Drains of the done ring that the home thread's busy-polling started
   * (C2: the context in poll mode saw a completion, and its workers skipped
   * the completion BH's cross-thread schedule); the rest ran as the BH.
   */
  readonly polled: number;
  readonly workers: number;
  readonly idleWorkers: number;
}
