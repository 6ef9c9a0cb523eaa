/**
 * A latency histogram with log-linear buckets (HdrHistogram's idea: 16
 * sub-buckets per power of two, ≤ 6.25% error), cheap to record on a vCPU's
 * hot path and cheap to merge across threads.
 */
const SUB = 16;
const BUCKETS = 64 * SUB;

export class Histogram {
  readonly counts: Float64Array;
  count = 0;
  max = 0;

  constructor(counts?: Float64Array) {
    this.counts = counts ?? new Float64Array(BUCKETS);
    if (counts !== undefined) for (const c of counts) this.count += c;
  }

  static bucketOf(ns: number): number {
    if (ns < SUB) return Math.max(0, Math.floor(ns));
    const e = Math.floor(Math.log2(ns));
    const sub = Math.floor((ns / 2 ** e - 1) * SUB);
    return Math.min(BUCKETS - 1, (e - 3) * SUB + sub);
  }

  /** The lower bound (ns) of bucket `b`. */
  static lowerBound(b: number): number {
    if (b < SUB) return b;
    const e = Math.floor(b / SUB) + 3;
    return 2 ** e * (1 + (b % SUB) / SUB);
  }

  record(ns: number): void {
    this.counts[Histogram.bucketOf(ns)]!++;
    this.count++;
    if (ns > this.max) this.max = ns;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.max = Math.max(this.max, other.max);
  }

  /** The value at quantile q (0 < q ≤ 1), in ns (a bucket's midpoint). */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b]!;
      if (seen >= rank) return Math.min(this.max, (Histogram.lowerBound(b) + Histogram.lowerBound(b + 1)) / 2);
    }
    return this.max;
  }
}
