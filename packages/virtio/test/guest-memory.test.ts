import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GuestMemory } from '@vmloop/virtio';
import { codeOf } from './queue-pair.js';

const HIGH = 0x1_0000_0000;
const two = (): GuestMemory =>
  GuestMemory.create([
    { gpa: HIGH, size: 4096 },
    { gpa: 0, size: 4096 },
  ]);

describe('virtio / guest-memory', () => {
  it('regions are sorted by address and carry their views', () => {
    const m = two();
    expect(m.regions.map((r) => [r.gpa, r.size, r.end])).toEqual([
      [0, 4096, 4096],
      [HIGH, 4096, HIGH + 4096],
    ]);
    expect(m.regions[1]!.bytes.byteLength).toBe(4096);
  });

  it('the constructor rejects overlap, empty or non-shared buffers, unaligned or too-high addresses', () => {
    const sab = (n: number) => new SharedArrayBuffer(n);
    expect(codeOf(() => new GuestMemory([]))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new GuestMemory([{ gpa: 0, buffer: sab(0) }]))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new GuestMemory([{ gpa: 0, buffer: new ArrayBuffer(8) as unknown as SharedArrayBuffer }]))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new GuestMemory([{ gpa: 4, buffer: sab(8) }]))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new GuestMemory([{ gpa: -8, buffer: sab(8) }]))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new GuestMemory([{ gpa: 2 ** 53 - 8, buffer: sab(16) }]))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new GuestMemory([{ gpa: 2 ** 53 - 16, buffer: sab(16) }]))).toBeUndefined();
    expect(
      codeOf(
        () =>
          new GuestMemory([
            { gpa: 0, buffer: sab(4096) },
            { gpa: 4088, buffer: sab(16) },
          ]),
      ),
    ).toBe('ERR_INVALID_ARGUMENT');
    expect(
      codeOf(
        () =>
          new GuestMemory([
            { gpa: 0, buffer: sab(4096) },
            { gpa: 4096, buffer: sab(16) },
          ]),
      ),
    ).toBeUndefined();
    expect(codeOf(() => GuestMemory.create([{ gpa: 0, size: 0 }]))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => GuestMemory.create([{ gpa: 0, size: 1.5 }]))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('contains() answers for any number, never throws, and never computes gpa + len', () => {
    const m = two();
    expect(m.contains(0, 4096)).toBe(true);
    expect(m.contains(0, 4097)).toBe(false);
    expect(m.contains(4096, 0)).toBe(true); // the end of a region, empty
    expect(m.contains(4096, 1)).toBe(false); // the hole
    expect(m.contains(HIGH + 4095, 1)).toBe(true);
    expect(m.contains(HIGH - 1, 2)).toBe(false);
    for (const [g, l] of [
      [Number.NaN, 1],
      [0, Number.NaN],
      [-1, 1],
      [0, -1],
      [0.5, 1],
      [0, 0.5],
      [Number.POSITIVE_INFINITY, 0],
      [0, Number.POSITIVE_INFINITY],
      [2 ** 53, 0],
      [2 ** 64, 1],
      [HIGH + 1, 2 ** 53 - 1], // the sum overflows 2^53
      [2 ** 53 - 1, 2 ** 53 - 1],
    ] as const) {
      expect(m.contains(g, l)).toBe(false);
      expect(m.slice(g, l)).toBeUndefined();
    }
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer(), fc.maxSafeNat()), fc.oneof(fc.double(), fc.integer(), fc.maxSafeNat()), (g, l) => {
        const r = m.contains(g, l);
        const inside = Number.isSafeInteger(g) && Number.isSafeInteger(l) && l >= 0 && m.regions.some((x) => g >= x.gpa && g + l <= x.end);
        expect(r).toBe(inside);
      }),
      { numRuns: 2000 },
    );
  });

  it('slice() is a zero-copy view into the region, inside one region only', () => {
    const m = two();
    const v = m.slice(HIGH + 16, 8)!;
    v[0] = 0xab;
    expect(m.readU8(HIGH + 16)).toBe(0xab);
    expect(v.buffer).toBe(m.regions[1]!.buffer);
    expect(m.slice(4090, 10)).toBeUndefined();
    expect(m.slice(4096, 0)?.byteLength).toBe(0);
  });

  it('scalar accessors are little-endian, take u64 as bigint, and work above 4 GiB', () => {
    const m = two();
    m.writeU64(HIGH + 8, 0x1122_3344_5566_7788n);
    expect(m.readU32(HIGH + 8)).toBe(0x5566_7788);
    expect(m.readU32(HIGH + 12)).toBe(0x1122_3344);
    expect(m.readU16(HIGH + 8)).toBe(0x7788);
    expect(m.readU8(HIGH + 15)).toBe(0x11);
    expect(m.readU64(HIGH + 8)).toBe(0x1122_3344_5566_7788n);
    m.writeU64(0, -1n);
    expect(m.readU64(0)).toBe(2n ** 64n - 1n);
    m.writeU16(3, 0xbeef); // plain accessors need no alignment
    expect(m.readU16(3)).toBe(0xbeef);
    m.writeU8(5, 7);
    m.writeU32(100, 0xdead_beef);
    expect([m.readU8(5), m.readU32(100)]).toEqual([7, 0xdead_beef]);
  });

  it('host-side accesses outside guest memory throw ERR_GUEST_MEMORY_BOUNDS', () => {
    const m = two();
    expect(codeOf(() => m.readU8(4096))).toBe('ERR_GUEST_MEMORY_BOUNDS');
    expect(codeOf(() => m.readU32(4094))).toBe('ERR_GUEST_MEMORY_BOUNDS');
    expect(codeOf(() => m.writeU64(HIGH + 4092, 1n))).toBe('ERR_GUEST_MEMORY_BOUNDS');
    expect(codeOf(() => m.readU16(Number.NaN))).toBe('ERR_GUEST_MEMORY_BOUNDS');
    expect(codeOf(() => m.read(4000, new Uint8Array(200)))).toBe('ERR_GUEST_MEMORY_BOUNDS');
    expect(codeOf(() => m.write(-1, new Uint8Array(1)))).toBe('ERR_GUEST_MEMORY_BOUNDS');
  });

  it('read() and write() span regions that touch each other', () => {
    const m = GuestMemory.create([
      { gpa: 0, size: 16 },
      { gpa: 16, size: 16 },
    ]);
    m.write(8, Uint8Array.from({ length: 16 }, (_, i) => i + 1));
    expect([...m.regions[0]!.bytes.subarray(8)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...m.regions[1]!.bytes.subarray(0, 8)]).toEqual([9, 10, 11, 12, 13, 14, 15, 16]);
    const back = new Uint8Array(16);
    m.read(8, back);
    expect([...back]).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(m.contains(8, 16)).toBe(false); // one region only: no single view
  });

  it('protocol words are atomic, aligned and bounds-checked', () => {
    const m = two();
    m.store16(HIGH + 2, 0x1_2345); // u16: wraps like the hardware field
    expect(m.load16(HIGH + 2)).toBe(0x2345);
    m.store32(HIGH + 4, 0xffff_ffff);
    expect(m.load32(HIGH + 4)).toBe(0xffff_ffff);
    expect(m.readU16(HIGH + 2)).toBe(0x2345);
    expect(codeOf(() => m.load16(HIGH + 1))).toBe('ERR_GUEST_MEMORY_BOUNDS');
    expect(codeOf(() => m.store32(HIGH + 2, 0))).toBe('ERR_GUEST_MEMORY_BOUNDS');
    expect(codeOf(() => m.load16(4096))).toBe('ERR_GUEST_MEMORY_BOUNDS');
    expect(codeOf(() => m.load32(HIGH + 4094))).toBe('ERR_GUEST_MEMORY_BOUNDS');
  });

  it('handle: structured-cloneable, opens onto the same buffers', () => {
    const m = two();
    const h = structuredClone(m.handle);
    expect(h.kind).toBe('vmloop.guest-memory');
    expect(h.version).toBe(1);
    const o = GuestMemory.open(h);
    o.writeU32(HIGH, 42);
    expect(m.readU32(HIGH)).toBe(42);
  });

  it('open() of anything but a guest-memory handle throws ERR_BAD_HANDLE', () => {
    const good = two().handle;
    for (const bad of [
      null,
      undefined,
      42,
      {},
      { ...good, kind: 'vmloop.event-notifier' },
      { ...good, version: 2 },
      { ...good, regions: 'x' },
      { ...good, regions: [] },
      { ...good, regions: [{ gpa: 1, buffer: new SharedArrayBuffer(8) }] },
      { ...good, regions: [{ gpa: 0, buffer: new ArrayBuffer(8) }] },
      { ...good, regions: [null] },
    ]) {
      expect(codeOf(() => GuestMemory.open(bad))).toBe('ERR_BAD_HANDLE');
    }
  });
});
