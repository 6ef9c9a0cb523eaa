/**
 * Atomic 16- and 32-bit words at byte offsets of a shared payload buffer.
 *
 * Some protocols keep their words inside memory that is otherwise payload
 * and whose layout another party chooses: a virtqueue's `avail.idx`,
 * `used.idx`, ring flags and event indices live in guest RAM, wherever the
 * driver put the rings. Those words cannot be declared as a
 * {@link defineLayout | layout}, but they are cross-thread protocol words
 * all the same, so they are read and written here, with `Atomics`, and
 * never with a plain typed-array access.
 *
 * What is published *through* such a word (descriptors, ring entries,
 * buffers) stays plain memory: the writer fills it, then stores the word;
 * the reader loads the word, then reads what it covers. An `Atomics.store`
 * read by an `Atomics.load` synchronises the two threads, so plain writes
 * before the store are visible to plain reads after the load.
 *
 * ```ts
 * const words = SharedWords.of(ram);          // ram: SharedArrayBuffer
 * const idx = words.load16(availAddr + 2);    // avail.idx, before the entries
 * words.store16(usedAddr + 2, newUsedIdx);    // used.idx, after the entries
 * ```
 *
 * Words are in the platform's byte order, little-endian on every platform
 * Node.js supports that vmloop targets (x86-64, arm64), as virtio requires.
 * Offsets must be naturally aligned and inside the buffer; a bad offset is
 * a host-program bug here (callers that take offsets from an untrusted
 * party check them first) and throws `ERR_LAYOUT_BOUNDS`.
 * @thread any
 */
import { AtomicsError } from './errors.js';

// One pair of views per buffer, shared by every SharedWords over it.
const cache = new WeakMap<SharedArrayBuffer, SharedWords>();

export class SharedWords {
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;

  private constructor(readonly buffer: SharedArrayBuffer) {
    this.u16 = new Uint16Array(buffer, 0, buffer.byteLength >>> 1);
    this.u32 = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
  }

  /** The words of `buffer` (one object per buffer). */
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

  /** `Atomics.load` of the little-endian u16 at `byteOffset` (even). */
  load16(byteOffset: number): number {
    return Atomics.load(this.u16, this.index16(byteOffset));
  }
  /** `Atomics.store` of a u16 at `byteOffset` (even); returns the stored value. */
  store16(byteOffset: number, value: number): number {
    return Atomics.store(this.u16, this.index16(byteOffset), value);
  }
  /** `Atomics.load` of the little-endian u32 at `byteOffset` (a multiple of 4). */
  load32(byteOffset: number): number {
    return Atomics.load(this.u32, this.index32(byteOffset));
  }
  /** `Atomics.store` of a u32 at `byteOffset` (a multiple of 4); returns the stored value. */
  store32(byteOffset: number, value: number): number {
    return Atomics.store(this.u32, this.index32(byteOffset), value);
  }

  private index16(byteOffset: number): number {
    const i = byteOffset >>> 1;
    // One unsigned compare rejects negatives, NaN, odd and out-of-range offsets.
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
