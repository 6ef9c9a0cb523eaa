/**
 * The queue fuzz targets (fuzz/) with a modest number of cases, so `npm
 * test` stays quick; VMLOOP_FUZZ_CASES overrides the count. They run in a
 * worker: a pop that never returns fails the test through the watchdog,
 * which prints the case, instead of hanging it.
 */
import { runWorkers } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import { CHUNK, DONE, type FuzzJob, FuzzProgress, INDEX } from '../fuzz/progress.js';
import { type FuzzRunResult, stuckCase } from '../fuzz/targets.js';

const worker = new URL('../build/fuzz/worker.js', import.meta.url);
const cases = Number(process.env.VMLOOP_FUZZ_CASES ?? 20_000);

describe('virtqueue / fuzz', () => {
  it(`${cases} hostile rings: no exception escapes, every pop is bounded and stays in guest RAM, every case completes or breaks with a reason`, async () => {
    const seed = Date.now() % 0x7fff_ffff;
    const progress = FuzzProgress.create();
    const { cells } = progress;
    const [r] = await runWorkers<FuzzRunResult>(worker, [{ cases, seed, progress: FuzzProgress.handle(progress) } satisfies FuzzJob], {
      timeoutMs: 100_000,
      what: () => {
        const [chunk, index] = [cells.load(CHUNK), cells.load(INDEX)];
        return `fuzz stalled after ${cells.load(DONE)} cases (seed ${seed}) at this case:\n${JSON.stringify(stuckCase(seed, chunk, index))}`;
      },
    });
    const failure = r!.failure;
    expect(failure, failure && `${failure.error}\nseed ${seed}, shrunk counterexample:\n${JSON.stringify(failure.counterexample, null, 2)}`).toBeUndefined();
    expect(r!.cases).toBe(cases);
    // The generator reaches all three outcomes, well-formed rings included.
    const kinds = [...r!.tally.keys()];
    expect(r!.tally.get('completed') ?? 0).toBeGreaterThan(0);
    expect(r!.tally.get('of the completed: well-formed rings, served exactly') ?? 0).toBeGreaterThan(0);
    expect(kinds.some((k) => k.startsWith('broken: '))).toBe(true);
    expect(kinds.some((k) => k.startsWith('refused: '))).toBe(true);
  });
});
