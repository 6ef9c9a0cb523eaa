/** What the explorer reports, and the settings of a run. */

/** Settings every worker of a run gets. */
export interface RunSettings {
  readonly bound: number;
  /** Sleep sets (partial-order reduction). */
  readonly por: boolean;
  readonly maxSchedules: number;
  readonly timeBudgetMs: number;
  /** Run this one schedule (a replay string) instead of searching. */
  readonly replay?: string;
  readonly maxSteps: number;
  readonly spinLimit: number;
  readonly handoffSpins: number;
  readonly progressMs: number;
}

/** A schedule that broke the harness. */
export interface ExploreFailure {
  readonly status: number;
  /** What went wrong (deadlock, a thread threw, the check failed, …). */
  readonly kind: string;
  /** The thread that noticed (threw, or found nobody could run). */
  readonly thread: string;
  readonly step: number;
  /** Which schedule of the search (1-based). */
  readonly schedule: number;
  /** The error's stack, for throws and failed checks. */
  readonly error: string;
  /** Where every thread was at the end. */
  readonly threads: string;
  /** The schedule, one step per line. */
  readonly trace: string;
  /** `--replay` re-runs exactly this schedule. */
  readonly replay: string;
}

/** The result of one exploration. */
export interface ExploreReport {
  readonly harness: string;
  readonly description: string;
  readonly expect: 'pass' | 'fail';
  readonly threads: readonly string[];
  readonly bound: number;
  /** Sleep sets were on. */
  readonly por: boolean;
  /** Choices the sleep sets cut. */
  readonly pruned: number;
  readonly schedules: number;
  /** Every schedule within the bound was run. */
  readonly exhaustive: boolean;
  readonly stoppedBy: 'exhaustive' | 'max-schedules' | 'time' | 'failure' | 'replay';
  /** Longest schedule, in steps. */
  readonly maxSteps: number;
  readonly elapsedMs: number;
  readonly failure?: ExploreFailure;
  /** A replayed schedule that passed, printed. */
  readonly trace?: string;
}
