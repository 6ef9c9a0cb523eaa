/**
 * The litmus harness across two real workers. With Atomics the forbidden
 * outcome never appears; the plain control must show it on x86-64, or the
 * harness could not see reordering at all and the atomic runs would prove
 * nothing.
 */
import { describe, expect, it } from 'vitest';
import { AtomicsError, runLitmus } from '@vmloop/atomics';

const MILLION = 1_000_000;

describe('atomics / litmus', () => {
  for (const shape of ['SB', 'MP', 'LB'] as const) {
    it(`${shape} with Atomics: the forbidden outcome never appears in 1e6 iterations`, async () => {
      const r = await runLitmus({ shape, mode: 'atomic', iterations: MILLION });
      expect(r.iterations).toBe(MILLION);
      expect(Object.values(r.histogram).reduce((a, b) => a + b, 0)).toBe(MILLION);
      expect(r.forbiddenCount, `${r.forbidden} seen with seq-cst atomics: ${JSON.stringify(r.histogram)}`).toBe(0);
      // More than one outcome: the threads really overlapped.
      expect(Object.keys(r.histogram).length).toBeGreaterThan(1);
    });
  }

  it.skipIf(process.arch !== 'x64')('control (x86-64 only; skipped elsewhere): plain SB shows the forbidden outcome', async () => {
    const r = await runLitmus({ shape: 'SB', mode: 'plain', iterations: MILLION });
    expect(r.forbiddenCount, `the harness never observed store buffering: ${JSON.stringify(r.histogram)}`).toBeGreaterThan(0);
  });

  it('the watchdog ends a run that cannot finish in time with ERR_LITMUS_TIMEOUT', async () => {
    // Starting two workers alone takes longer than 1 ms.
    await expect(runLitmus({ shape: 'SB', mode: 'atomic', iterations: 10_000_000, timeoutMs: 1 })).rejects.toMatchObject({
      code: 'ERR_LITMUS_TIMEOUT',
    });
  });

  it('rejects bad options with ERR_INVALID_ARGUMENT', async () => {
    for (const bad of [
      { shape: 'XX', mode: 'atomic', iterations: 10 },
      { shape: 'SB', mode: 'relaxed', iterations: 10 },
      { shape: 'SB', mode: 'atomic', iterations: 0 },
      { shape: 'SB', mode: 'atomic', iterations: 1.5 },
      { shape: 'SB', mode: 'atomic', iterations: 10, timeoutMs: Number.NaN },
    ]) {
      const e = await runLitmus(bad as never).catch((x: unknown) => x);
      expect(AtomicsError.isInstance(e)).toBe(true);
      expect((e as AtomicsError).code).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});
