/**
 * What a benchmark declares. One `BenchCase` is one comparison of the
 * contract in shared/BENCH.md: ours against a named peer or limit, measured
 * in the same run, interleaved.
 */

/** Passed to every sample. */
export interface SampleContext {
  /** Smoke mode (`--quick` or VMLOOP_BENCH_QUICK=1): use a small size; figures are not meaningful. */
  readonly quick: boolean;
}

/** One comparison. */
export interface BenchCase {
  /** Stable id from BENCH.md, e.g. `notifier.roundtrip`. */
  readonly id: string;
  /** What is measured, e.g. `round trips per second`. */
  readonly metric: string;
  /** Unit of `ours` and `peerValue`, e.g. `1/s` or `µs`. */
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  /** The peer with its pinned version, or the platform primitive it is. */
  readonly peer: string;
  /** Conditions a reader needs: threads, sizes, configuration. */
  readonly note: string;
  /** Interleaved samples of each side after warm-up (default 9, at least 3). */
  readonly samples?: number;
  /** Warm-up rounds of each side, not recorded (default 2). */
  readonly warmup?: number;
  /** Called once before any sample. */
  readonly setup?: (ctx: SampleContext) => Promise<void> | void;
  /** Called once after the last sample, even when a sample failed. */
  readonly teardown?: () => Promise<void> | void;
  /** One sample of ours: returns the metric value. */
  readonly ours: (ctx: SampleContext) => Promise<number> | number;
  /** One sample of the peer: returns the metric value. */
  readonly peerSample: (ctx: SampleContext) => Promise<number> | number;
}

/** Identity function that type-checks a case list; a bench module exports its result as default. */
export function defineBenches(cases: readonly BenchCase[]): readonly BenchCase[] {
  return cases;
}

/** One line of `--json` output, exactly the contract's fields. */
export interface BenchResult {
  readonly id: string;
  readonly metric: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  readonly ours: number;
  readonly peer: string;
  readonly peerValue: number;
  readonly advantage: number;
  readonly samples: number;
  readonly note: string;
}
