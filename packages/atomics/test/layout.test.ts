import { thrownCode } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import {
  AtomicsError,
  CACHE_LINE,
  bigInt64,
  bigInt64Array,
  bytes,
  defineLayout,
  int32,
  int32Array,
  struct,
} from '@vmloop/atomics';

const Slot = defineLayout('test.slot', { a: int32(), b: int32() });
const L = defineLayout('test.layout', {
  flag: int32(),
  hot: int32({ align: CACHE_LINE }),
  stamp: bigInt64(),
  ring: int32Array(5),
  wide: bigInt64Array(3),
  payload: bytes(7),
  slots: struct(Slot, 4),
});

describe('atomics / layout', () => {
  it('assigns aligned offsets in declaration order', () => {
    expect(L.offsets).toEqual({ flag: 0, hot: 64, stamp: 72, ring: 80, wide: 104, payload: 128, slots: 136 });
    expect(L.alignment).toBe(64);
    expect(L.byteLength).toBe(192);
    expect(L.describe()).toContain('0x0040  +4  hot  int32');
  });

  it('cells of one instance are distinct words and atomic ops return old values', () => {
    const m = L.create();
    expect(m.flag.store(5)).toBe(5);
    expect(m.flag.add(2)).toBe(5);
    expect(m.flag.sub(1)).toBe(7);
    expect(m.flag.or(0x10)).toBe(6);
    expect(m.flag.and(0x12)).toBe(0x16);
    expect(m.flag.exchange(9)).toBe(0x12);
    expect(m.flag.compareExchange(8, 1)).toBe(9);
    expect(m.flag.compareExchange(9, 1)).toBe(9);
    expect(m.flag.load()).toBe(1);
    expect(m.hot.load()).toBe(0);
    m.stamp.store(2n ** 62n);
    expect(m.stamp.add(1n)).toBe(2n ** 62n);
    expect(m.stamp.load()).toBe(2n ** 62n + 1n);
    m.ring.store(4, 44);
    expect(m.ring.at(4).load()).toBe(44);
    m.wide.store(2, -1n);
    expect(m.wide.load(2)).toBe(-1n);
    m.slots.at(3).b.store(33);
    expect(m.slots.at(3).b.load()).toBe(33);
    expect(m.slots.at(2).b.load()).toBe(0);
    expect(m.payload.byteOffset).toBe(128);
    expect(m.payload.length).toBe(7);
  });

  it('open(handle) sees the same memory, at an offset inside a larger buffer', () => {
    const buffer = new SharedArrayBuffer(1024);
    const a = L.at(buffer, 256);
    const b = L.open(structuredClone(L.handle(a)));
    a.hot.store(123);
    expect(b.hot.load()).toBe(123);
  });

  it('rejects out-of-range indices, misaligned and out-of-bounds placements with typed errors', () => {
    const m = L.create();
    const codeOf = (f: () => unknown): string | undefined => thrownCode(f, AtomicsError.isInstance);
    expect(codeOf(() => m.ring.load(5))).toBe('ERR_LAYOUT_BOUNDS');
    expect(codeOf(() => m.ring.load(-1))).toBe('ERR_LAYOUT_BOUNDS');
    expect(codeOf(() => m.ring.load(1.5))).toBe('ERR_LAYOUT_BOUNDS');
    expect(codeOf(() => m.slots.at(4))).toBe('ERR_LAYOUT_BOUNDS');
    expect(codeOf(() => L.at(new SharedArrayBuffer(1024), 4))).toBe('ERR_LAYOUT_BOUNDS');
    expect(codeOf(() => L.at(new SharedArrayBuffer(128), 0))).toBe('ERR_LAYOUT_BOUNDS');
    expect(codeOf(() => L.open({ buffer: new ArrayBuffer(8), byteOffset: 0 }))).toBe('ERR_BAD_HANDLE');
    expect(codeOf(() => L.open(null))).toBe('ERR_BAD_HANDLE');
    expect(codeOf(() => int32({ align: 3 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => int32Array(-1))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => defineLayout('bad', { buffer: int32() }))).toBe('ERR_INVALID_ARGUMENT');
  });
});
