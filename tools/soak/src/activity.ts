/** What the soak's main loop knows of each activity. */
export interface Activity {
  /** Short name, used in the watchdog's message and the summary. */
  readonly name: string;
  /** A count that grows while the activity makes progress (sampled by the watchdog). */
  progress(): number;
  /** The activity's counters, for a failure message. */
  describe(): string;
  /**
   * Called once `control.stop` is set, synchronously first (stop feeding
   * it); resolves when the activity drained and its exact accounting
   * checked out, rejects with what did not add up.
   */
  stop(): Promise<void>;
  /** Rejects as soon as the activity fails on its own (a worker's error, a bad completion). */
  readonly failed: Promise<never>;
  /** One line of the summary, valid after stop() resolved. */
  summary(seconds: number): SummaryRow;
}

export interface SummaryRow {
  readonly activity: string;
  /** The operation counted, e.g. "BH messages". */
  readonly unit: string;
  readonly count: number;
  /** Other figures worth printing, already formatted. */
  readonly detail: string;
}

/** A promise that never settles unless `reject` is called: `failed` of an activity. */
export function failure(): { promise: Promise<never>; reject: (e: unknown) => void } {
  let reject!: (e: unknown) => void;
  const promise = new Promise<never>((_, r) => {
    reject = r;
  });
  // Observed through Promise.race in the main loop; never an unhandled rejection.
  promise.catch(() => {});
  return { promise, reject };
}

/** Throws `message` unless `ok`. */
export function check(ok: boolean, message: () => string): void {
  if (!ok) throw new Error(message());
}

export function fmtCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtRate(n: number, seconds: number): string {
  const r = seconds > 0 ? n / seconds : 0;
  if (r >= 1e6) return `${(r / 1e6).toFixed(2)} M/s`;
  if (r >= 1e3) return `${(r / 1e3).toFixed(1)} k/s`;
  return `${r.toFixed(1)}/s`;
}
