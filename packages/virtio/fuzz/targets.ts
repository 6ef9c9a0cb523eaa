/**
 * The fuzz targets: thin fast-check properties over FuzzCase, replayed by
 * ./replay.ts. `runFuzz` runs them for a number of cases and tallies the
 * outcomes; the CLI (./run.ts) and test/fuzz.test.ts both call it.
 */
import fc from 'fast-check';
import { fuzzCase } from './arbitraries.js';
import { type FuzzCase, reasonKind } from './ring-case.js';
import { MemoryPool, type Outcome, replay } from './replay.js';

/** Outcome counts: `completed`, `well-formed` (of those, the exact-service checks), and one key per refusal or break kind. */
export type Tally = Map<string, number>;

function count(t: Tally, key: string): void {
  t.set(key, (t.get(key) ?? 0) + 1);
}

function record(t: Tally, c: FuzzCase, o: Outcome): void {
  if (c.expected !== undefined) count(t, 'of the completed: well-formed rings, served exactly');
  if (o.kind === 'completed') count(t, 'completed');
  else count(t, `${o.kind}: ${reasonKind(o.reason)}`);
}

/** The device-side ring target: any case replays without violating an invariant. */
export function ringTarget(pool: MemoryPool, tally?: Tally, onCase?: () => void): fc.IPropertyWithHooks<[FuzzCase]> {
  return fc.property(fuzzCase, (c) => {
    onCase?.();
    const o = replay(c, pool);
    if (tally !== undefined) record(tally, c, o);
  });
}

export interface FuzzRunOptions {
  readonly cases: number;
  readonly seed?: number;
  /** Cases per fast-check run; progress is reported after each (default 50 000). */
  readonly chunk?: number;
  readonly onProgress?: (done: number, elapsedMs: number) => void;
  /** Called before each case with its chunk and its index in the chunk (a watchdog's breadcrumb: see stuckCase). */
  readonly onCase?: (chunk: number, index: number) => void;
}

export interface FuzzRunResult {
  readonly cases: number;
  readonly seconds: number;
  readonly seed: number;
  readonly tally: Tally;
  /** The shrunk counterexample and its error, when a case failed. */
  readonly failure?: { readonly counterexample: FuzzCase; readonly error: string; readonly seed: number; readonly path: string | null };
}

/** Runs `cases` fuzz cases in chunks (each its own seed, derived from `seed`) and tallies the outcomes. */
export function runFuzz(o: FuzzRunOptions): FuzzRunResult {
  const pool = new MemoryPool();
  const tally: Tally = new Map();
  const seed = o.seed ?? Date.now() % 0x7fff_ffff;
  const chunk = o.chunk ?? 50_000;
  const t0 = performance.now();
  let done = 0;
  for (let i = 0; done < o.cases; i++) {
    const n = Math.min(chunk, o.cases - done);
    const chunkSeed = seedOfChunk(seed, i);
    // Shrinking replays cases too: tally only what the run itself generated.
    const counting: Tally = new Map();
    let index = 0;
    const onCase = o.onCase === undefined ? undefined : () => o.onCase!(i, index++);
    const details = fc.check(ringTarget(pool, counting, onCase), { numRuns: n, seed: chunkSeed, endOnFailure: false });
    if (details.failed) {
      const error = details.errorInstance instanceof Error ? `${details.errorInstance.name}: ${details.errorInstance.message}` : String(details.errorInstance);
      const [counterexample] = details.counterexample ?? [];
      return {
        cases: done + details.numRuns,
        seconds: (performance.now() - t0) / 1e3,
        seed,
        tally,
        failure: { counterexample: counterexample!, error, seed: chunkSeed, path: details.counterexamplePath },
      };
    }
    for (const [k, v] of counting) tally.set(k, (tally.get(k) ?? 0) + v);
    done += n;
    o.onProgress?.(done, performance.now() - t0);
  }
  return { cases: done, seconds: (performance.now() - t0) / 1e3, seed, tally };
}

/** The fast-check seed of chunk `i` of a run with `seed`. */
export function seedOfChunk(seed: number, i: number): number {
  return (seed + i * 0x9e37) | 0;
}

/**
 * The case a run with `seed` was replaying at (`chunk`, `index`), generated
 * again without replaying it: how a watchdog reports a case that never
 * finished (a pop that did not terminate).
 */
export function stuckCase(seed: number, chunk: number, index: number): FuzzCase {
  return fc.sample(fuzzCase, { seed: seedOfChunk(seed, chunk), numRuns: index + 1 })[index]!;
}

/** The tally as lines, most frequent first. */
export function formatTally(t: Tally, total: number): string[] {
  return [...t.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${String(v).padStart(9)}  ${((100 * v) / total).toFixed(2).padStart(6)}%  ${k}`);
}
