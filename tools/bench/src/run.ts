import type { BenchCase, BenchResult, SampleContext } from './bench.js';

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** `ours/peer` when higher is better, `peer/ours` when lower is better. */
export function advantageOf(better: 'higher' | 'lower', ours: number, peer: number): number {
  return better === 'higher' ? ours / peer : peer / ours;
}

/**
 * Runs one case: warm-up rounds of both sides, then `samples` interleaved
 * pairs (ours, peer, ours, peer, …), and reports the medians.
 * `log` receives progress lines (stderr in the CLI).
 */
export async function runCase(c: BenchCase, ctx: SampleContext, log: (line: string) => void): Promise<BenchResult> {
  const samples = Math.max(3, ctx.quick ? 3 : (c.samples ?? 9));
  const warmup = ctx.quick ? 1 : (c.warmup ?? 2);
  await c.setup?.(ctx);
  try {
    for (let i = 0; i < warmup; i++) {
      await c.ours(ctx);
      await c.peerSample(ctx);
    }
    const ours: number[] = [];
    const peer: number[] = [];
    for (let i = 0; i < samples; i++) {
      ours.push(await c.ours(ctx));
      peer.push(await c.peerSample(ctx));
      log(`  ${c.id} sample ${i + 1}/${samples}: ours ${fmt(ours[i]!)} ${c.unit}, peer ${fmt(peer[i]!)} ${c.unit}`);
    }
    const o = median(ours);
    const p = median(peer);
    return {
      id: c.id,
      metric: c.metric,
      unit: c.unit,
      better: c.better,
      ours: round(o),
      peer: c.peer,
      peerValue: round(p),
      advantage: Math.round(advantageOf(c.better, o, p) * 1000) / 1000,
      samples,
      note: c.note,
    };
  } finally {
    await c.teardown?.();
  }
}

function round(x: number): number {
  return Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 1000) / 1000;
}

/** Human-friendly number: 3 significant digits with k/M suffix. */
export function fmt(x: number): string {
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${(x / 1e3).toPrecision(3)}k`;
  return x.toPrecision(3);
}
