/**
 * The instrumented SharedWords: the API of ../shared-words.ts, with every
 * access handed to the installed {@link AtomicsScheduler} (`Atomics` when
 * none is). Loaded only under `--conditions=vmloop-explore`.
 */
import { AtomicsError } from '../errors.js';
import { OP_LOAD, OP_STORE, hook } from './hooks.js';

const cache = new WeakMap<SharedArrayBuffer, SharedWords>();

/** Atomic 16- and 32-bit words at byte offsets of a shared payload buffer (instrumented build). @thread any */
export class SharedWords {
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;

  private constructor(readonly buffer: SharedArrayBuffer) {
    this.u16 = new Uint16Array(buffer, 0, buffer.byteLength >>> 1);
    this.u32 = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
  }

  static of(buffer: SharedArrayBuffer): SharedWords {
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw new AtomicsError('ERR_INVALID_ARGUMENT', 'SharedWords.of needs a SharedArrayBuffer');
    }
    let w = cache.get(buffer);
    if (w === undefined) {
      w = new SharedWords(buffer);
      cache.set(buffer, w);
    }
    return w;
  }

  load16(byteOffset: number): number {
    const i = this.index16(byteOffset);
    const s = hook.scheduler;
    return s === undefined ? Atomics.load(this.u16, i) : (s.access(OP_LOAD, this.u16, i, 0, 0) as number);
  }
  store16(byteOffset: number, value: number): number {
    const i = this.index16(byteOffset);
    const s = hook.scheduler;
    return s === undefined ? Atomics.store(this.u16, i, value) : (s.access(OP_STORE, this.u16, i, value, 0) as number);
  }
  load32(byteOffset: number): number {
    const i = this.index32(byteOffset);
    const s = hook.scheduler;
    return s === undefined ? Atomics.load(this.u32, i) : (s.access(OP_LOAD, this.u32, i, 0, 0) as number);
  }
  store32(byteOffset: number, value: number): number {
    const i = this.index32(byteOffset);
    const s = hook.scheduler;
    return s === undefined ? Atomics.store(this.u32, i, value) : (s.access(OP_STORE, this.u32, i, value, 0) as number);
  }

  private index16(byteOffset: number): number {
    const i = byteOffset >>> 1;
    if (i * 2 !== byteOffset || i >= this.u16.length) throw bounds(byteOffset, 2, this.buffer.byteLength);
    return i;
  }
  private index32(byteOffset: number): number {
    const i = byteOffset >>> 2;
    if (i * 4 !== byteOffset || i >= this.u32.length) throw bounds(byteOffset, 4, this.buffer.byteLength);
    return i;
  }
}

function bounds(byteOffset: number, size: number, length: number): AtomicsError {
  return new AtomicsError(
    'ERR_LAYOUT_BOUNDS',
    `a ${size * 8}-bit word at byte ${String(byteOffset)} is unaligned or outside the buffer's ${length} bytes`,
  );
}
