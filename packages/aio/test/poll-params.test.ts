import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AioContext, AioError } from '@vmloop/aio';
import { adjustPollWindow } from '../src/poll-params.js';

const p = (maxNs: number, grow = 0, shrink = 0) => ({ maxNs, grow, shrink });

describe('aio / adaptive polling (QEMU adjust_polling_time)', () => {
  it('grows from 0 to 4 µs, then doubles (grow 0), capped at maxNs', () => {
    expect(adjustPollWindow(0, 1000, p(32768))).toBe(4000);
    expect(adjustPollWindow(4000, 5000, p(32768))).toBe(8000);
    expect(adjustPollWindow(16000, 20000, p(32768))).toBe(32000);
    expect(adjustPollWindow(32000, 32500, p(32768))).toBe(32768);
    expect(adjustPollWindow(4000, 5000, p(32768, 3))).toBe(12000);
  });
  it('keeps the window when the block fit in it (the sweet spot)', () => {
    expect(adjustPollWindow(8000, 8000, p(32768))).toBe(8000);
    expect(adjustPollWindow(8000, 10, p(32768))).toBe(8000);
  });
  it('shrinks to 0 (shrink 0) or divides (shrink n) when the block exceeded maxNs', () => {
    expect(adjustPollWindow(32768, 1e6, p(32768))).toBe(0);
    expect(adjustPollWindow(32768, 1e6, p(32768, 0, 2))).toBe(16384);
  });
  it('never leaves [0, maxNs] and never grows on a block over maxNs (property)', () => {
    fc.assert(
      fc.property(fc.nat(1e6), fc.nat(1e7), fc.nat(1e6), fc.nat(8), fc.nat(8), (w0, block, maxNs, grow, shrink) => {
        const w = Math.min(w0, maxNs);
        const next = adjustPollWindow(w, block, p(maxNs, grow, shrink));
        expect(next).toBeGreaterThanOrEqual(0);
        expect(next).toBeLessThanOrEqual(Math.max(w, maxNs));
        if (block > maxNs && block > w) expect(next).toBeLessThanOrEqual(w);
      }),
    );
  });
  it('setPollParams validates and is reported in stats', () => {
    const ctx = AioContext.create();
    ctx.setPollParams({ maxNs: 32768, grow: 2, shrink: 2 });
    expect(ctx.pollParameters).toEqual({ maxNs: 32768, grow: 2, shrink: 2 });
    expect(ctx.stats.pollWindowNs).toBe(0);
    expect(() => ctx.setPollParams({ maxNs: 1.5 })).toThrow(AioError);
  });
});
