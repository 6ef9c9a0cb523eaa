import { thrownCode } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import { SharedWords } from '@vmloop/atomics';

describe('atomics / shared-words', () => {
  it('reads and writes little-endian u16 and u32 words that plain views see', () => {
    const buf = new SharedArrayBuffer(64);
    const w = SharedWords.of(buf);
    expect(SharedWords.of(buf)).toBe(w);
    w.store16(6, 0xbeef);
    w.store32(8, 0xdeadbeef);
    const bytes = new Uint8Array(buf);
    expect([bytes[6], bytes[7]]).toEqual([0xef, 0xbe]);
    expect([bytes[8], bytes[9], bytes[10], bytes[11]]).toEqual([0xef, 0xbe, 0xad, 0xde]);
    expect(w.load16(6)).toBe(0xbeef);
    expect(w.load32(8)).toBe(0xdeadbeef);
    // u16 wraps like the ring indices it holds.
    w.store16(0, 0x1_0001);
    expect(w.load16(0)).toBe(1);
  });

  it('rejects unaligned, negative and out-of-range offsets with ERR_LAYOUT_BOUNDS', () => {
    const w = SharedWords.of(new SharedArrayBuffer(16));
    for (const off of [1, -2, 16, 1.5, Number.NaN]) expect(thrownCode(() => w.load16(off))).toBe('ERR_LAYOUT_BOUNDS');
    for (const off of [2, -4, 16, 14]) expect(thrownCode(() => w.store32(off, 1))).toBe('ERR_LAYOUT_BOUNDS');
    expect(w.load16(14)).toBe(0);
    expect(w.load32(12)).toBe(0);
    expect(thrownCode(() => SharedWords.of(new ArrayBuffer(8) as unknown as SharedArrayBuffer))).toBe('ERR_INVALID_ARGUMENT');
  });
});
