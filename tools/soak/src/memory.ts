/**
 * Memory flatness: the soak process's RSS (all its worker threads) and its
 * main-thread heap after a full GC, and the demo child's RSS, sampled every
 * few seconds. After a warm-up, the baseline of a series is its highest
 * sample in the first BASE_WINDOW_S seconds (one GC sawtooth of the
 * workers' heaps, which a full GC on the main thread does not reach); no
 * later sample may exceed it by more than RATIO plus a slack. A demo
 * child's series starts with that child and warms up for at least
 * DEMO_WARMUP_S (its RSS climbs for ~10 s alone, ~30 s under the soak's
 * load, as the heaps of its seven threads grow to their working size, then
 * saw-tooths).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export const RATIO = 0.2;
export const RSS_SLACK = 16 << 20;
export const HEAP_SLACK = 8 << 20;
export const BASE_WINDOW_S = 10;
export const DEMO_WARMUP_S = 30;

export interface Sample {
  /** Seconds since the soak started. */
  readonly t: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly demoPid: number | undefined;
  readonly demoRss: number | undefined;
}

/** `gc()` without `node --expose-gc`: the flag, then a fresh context picks the function up. */
export function exposeGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    setFlagsFromString('--expose-gc');
    const fn = runInNewContext('gc') as unknown;
    return typeof fn === 'function' ? (fn as () => void) : undefined;
  } catch {
    return undefined;
  }
}

const MiB = (b: number): string => (b / 1048576).toFixed(1);

export class MemoryWatch {
  readonly samples: Sample[] = [];
  constructor(
    private readonly gc: (() => void) | undefined,
    private readonly warmupS: number,
  ) {}

  get gcExposed(): boolean {
    return this.gc !== undefined;
  }

  sample(t: number, demo: { pid: number | undefined; rss: number | undefined }): Sample {
    this.gc?.();
    const m = process.memoryUsage();
    const s: Sample = { t, rss: m.rss, heapUsed: m.heapUsed, demoPid: demo.pid, demoRss: demo.rss };
    this.samples.push(s);
    return s;
  }

  /** The first series that grew past its bound, as a message; undefined if all are flat. */
  check(): string | undefined {
    const grew = (what: string, series: readonly Sample[], value: (s: Sample) => number, warmupS: number, slack: number): string | undefined => {
      if (series.length === 0) return undefined;
      const from = series[0]!.t + warmupS;
      const window = series.filter((s) => s.t >= from && s.t < from + BASE_WINDOW_S);
      if (window.length === 0) return undefined;
      const base = window.reduce((a, s) => (value(s) > value(a) ? s : a));
      const bound = value(base) * (1 + RATIO) + slack;
      const over = series.find((s) => s.t >= from && value(s) > bound);
      if (over === undefined) return undefined;
      return `${what} grew from ${MiB(value(base))} MiB (baseline, t=${base.t.toFixed(0)} s) to ${MiB(value(over))} MiB (t=${over.t.toFixed(0)} s), over the bound of +${RATIO * 100}% + ${MiB(slack)} MiB`;
    };
    const all = this.samples;
    const bad =
      grew('soak process RSS', all, (s) => s.rss, this.warmupS, RSS_SLACK) ??
      (this.gc === undefined ? undefined : grew('main-thread heap (after GC)', all, (s) => s.heapUsed, this.warmupS, HEAP_SLACK));
    if (bad !== undefined) return bad;
    const byPid = new Map<number, Sample[]>();
    for (const s of all) if (s.demoPid !== undefined && s.demoRss !== undefined) byPid.set(s.demoPid, [...(byPid.get(s.demoPid) ?? []), s]);
    for (const [pid, series] of byPid) {
      const b = grew(`demo child ${pid} RSS`, series, (s) => s.demoRss!, Math.max(DEMO_WARMUP_S, this.warmupS), RSS_SLACK);
      if (b !== undefined) return b;
    }
    return undefined;
  }

  /** min / max of each series after the warm-up (all samples if none yet). */
  ranges(): { rss: [number, number]; heap: [number, number]; demo: [number, number] | undefined } {
    const post = this.samples.filter((s) => s.t >= this.warmupS);
    const xs = post.length > 0 ? post : this.samples;
    const mm = (v: number[]): [number, number] => [Math.min(...v), Math.max(...v)];
    const demoFrom = Math.max(DEMO_WARMUP_S, this.warmupS);
    const demo = this.samples.filter((s) => s.t >= demoFrom).map((s) => s.demoRss).filter((v): v is number => v !== undefined);
    return { rss: mm(xs.map((s) => s.rss)), heap: mm(xs.map((s) => s.heapUsed)), demo: demo.length > 0 ? mm(demo) : undefined };
  }

  /** The series, a few samples per line: "t s rss/heap[/demo] MiB". */
  format(): string[] {
    const cells = this.samples.map((s) => `${s.t.toFixed(0).padStart(4)}s ${MiB(s.rss)}/${MiB(s.heapUsed)}${s.demoRss === undefined ? '' : `/${MiB(s.demoRss)}`}`);
    const lines: string[] = [];
    for (let i = 0; i < cells.length; i += 6) lines.push(`  ${cells.slice(i, i + 6).join('  ')}`);
    return lines;
  }
}

export { MiB };
