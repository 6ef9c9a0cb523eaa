/**
 * Guest RAM as one or more SharedArrayBuffer regions at guest-physical
 * addresses (the rust-vmm vm-memory idea: `GuestMemoryMmap` of regions).
 *
 * Addresses are JavaScript numbers: exact up to 2^53, which covers any
 * RAM a machine can have. A 64-bit address from the guest (a descriptor's
 * `addr`) at or above 2^53 is simply outside every region. Regions may sit
 * anywhere below 2^53, e.g. RAM above the 4 GiB hole at 0x1_0000_0000.
 *
 * Two kinds of access:
 * - **payload** (buffers, descriptors, ring entries): plain reads and
 *   writes (`slice`, `read`, `write`, `readU16`, …), published and consumed
 *   through an atomic word;
 * - **protocol words** (ring `idx`, `flags`, `used_event`, `avail_event`):
 *   `load16` / `store16` / `load32` / `store32`, which go through
 *   `SharedWords` of @vmloop/atomics (`Atomics.*`), never a plain access.
 *
 * ```ts
 * const mem = GuestMemory.create([{ gpa: 0, size: 1 << 20 }, { gpa: 0x1_0000_0000, size: 1 << 20 }]);
 * worker.postMessage(mem.handle);               // worker: GuestMemory.open(workerData)
 * mem.writeU32(0x1000, 7);
 * mem.slice(0x1_0000_0000, 512)?.fill(0);       // zero-copy view, undefined if outside
 * ```
 * @thread any (one object per thread; the regions are shared)
 */
import { SharedWords } from '@vmloop/atomics';
import { VirtioError } from '../errors.js';
import { hex } from './format.js';

/** Where a region goes, for {@link GuestMemory.create}. */
export interface GuestRegionSpec {
  /** Guest-physical address of the first byte (a multiple of 8). */
  readonly gpa: number;
  /** Bytes (positive). */
  readonly size: number;
}

/** A region as passed to `new GuestMemory` and carried in a handle. */
export interface GuestMemoryRegion {
  /** Guest-physical address of `buffer[0]` (a multiple of 8). */
  readonly gpa: number;
  /** The region's bytes. */
  readonly buffer: SharedArrayBuffer;
}

/** The structured-cloneable form of a GuestMemory: post it, then `GuestMemory.open` it. */
export interface GuestMemoryHandle {
  readonly kind: 'vmloop.guest-memory';
  readonly version: 1;
  readonly regions: readonly GuestMemoryRegion[];
}

/**
 * One region with its views, as {@link GuestMemory.regionIndex} finds it.
 * `bytes`, `view` and `words` all start at `gpa`: the byte of guest
 * address `a` is `bytes[a - gpa]`.
 */
export interface GuestRegion {
  readonly gpa: number;
  readonly size: number;
  /** `gpa + size`, one past the last byte. */
  readonly end: number;
  readonly buffer: SharedArrayBuffer;
  /** Payload bytes (plain access). */
  readonly bytes: Uint8Array;
  /** Little-endian payload scalars (plain access). */
  readonly view: DataView;
  /** Protocol words (atomic access). */
  readonly words: SharedWords;
}

const HANDLE_KIND = 'vmloop.guest-memory';
const TOP = 2 ** 53;

/** Guest RAM: non-overlapping SharedArrayBuffer regions. See the module comment. */
export class GuestMemory {
  /** The regions, sorted by address. */
  readonly regions: readonly GuestRegion[];
  // Index of the region the last lookup hit: most accesses stay in one region.
  private last = 0;

  /**
   * Guest memory over existing buffers. Each region's `gpa` is a safe
   * integer, a multiple of 8 (so naturally aligned guest addresses are
   * aligned in the buffer, as atomics need), and `gpa + size ≤ 2^53`;
   * sizes are positive; regions do not overlap. Throws ERR_INVALID_ARGUMENT.
   */
  constructor(regions: readonly GuestMemoryRegion[]) {
    if (!Array.isArray(regions) || regions.length === 0) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', 'guest memory needs at least one region ({ gpa, buffer })');
    }
    const list = regions.map((r, i): GuestRegion => {
      const { gpa, buffer } = (r ?? {}) as Partial<GuestMemoryRegion>;
      if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength === 0) {
        throw new VirtioError('ERR_INVALID_ARGUMENT', `region ${i}: buffer must be a non-empty SharedArrayBuffer`);
      }
      if (typeof gpa !== 'number' || !Number.isSafeInteger(gpa) || gpa < 0 || gpa % 8 !== 0) {
        throw new VirtioError('ERR_INVALID_ARGUMENT', `region ${i}: gpa ${String(gpa)} must be a non-negative multiple of 8 below 2^53`);
      }
      const size = buffer.byteLength;
      if (gpa + size > TOP) {
        throw new VirtioError('ERR_INVALID_ARGUMENT', `region ${i}: gpa ${gpa} + size ${size} exceeds 2^53`);
      }
      return { gpa, size, end: gpa + size, buffer, bytes: new Uint8Array(buffer), view: new DataView(buffer), words: SharedWords.of(buffer) };
    });
    list.sort((a, b) => a.gpa - b.gpa);
    for (let i = 1; i < list.length; i++) {
      const a = list[i - 1]!;
      const b = list[i]!;
      if (b.gpa < a.end) throw new VirtioError('ERR_INVALID_ARGUMENT', `regions overlap: [${hex(a.gpa)}, ${hex(a.end)}) and [${hex(b.gpa)}, ${hex(b.end)})`);
    }
    this.regions = list;
  }

  /** Guest memory in fresh zero-filled SharedArrayBuffers, one per spec. Throws ERR_INVALID_ARGUMENT. */
  static create(specs: readonly GuestRegionSpec[]): GuestMemory {
    if (!Array.isArray(specs)) throw new VirtioError('ERR_INVALID_ARGUMENT', 'GuestMemory.create takes an array of { gpa, size }');
    return new GuestMemory(
      specs.map((s, i) => {
        const size = (s as Partial<GuestRegionSpec> | undefined)?.size;
        if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) {
          throw new VirtioError('ERR_INVALID_ARGUMENT', `region ${i}: size ${String(size)} must be a positive integer`);
        }
        return { gpa: s.gpa, buffer: new SharedArrayBuffer(size) };
      }),
    );
  }

  /** Opens guest memory from a handle posted by another thread. Throws ERR_BAD_HANDLE. */
  static open(handle: unknown): GuestMemory {
    const h = handle as Partial<GuestMemoryHandle> | null;
    if (typeof h !== 'object' || h === null || h.kind !== HANDLE_KIND || h.version !== 1 || !Array.isArray(h.regions)) {
      throw new VirtioError('ERR_BAD_HANDLE', 'not a GuestMemory handle (use memory.handle)');
    }
    try {
      return new GuestMemory(h.regions);
    } catch (e) {
      throw new VirtioError('ERR_BAD_HANDLE', `GuestMemory handle has bad regions: ${(e as Error).message.replace(/^virtio: /, '')}`, { cause: e });
    }
  }

  /** The structured-cloneable handle (the same buffers, no copy). */
  get handle(): GuestMemoryHandle {
    return { kind: HANDLE_KIND, version: 1, regions: this.regions.map(({ gpa, buffer }) => ({ gpa, buffer })) };
  }

  /**
   * Index in `regions` of the one region holding all of [gpa, gpa + len),
   * or -1. Never throws: NaN, negative, fractional, huge or overflowing
   * inputs give -1. A zero-length range is inside a region when `gpa` lies
   * in [region.gpa, region.end].
   */
  regionIndex(gpa: number, len: number): number {
    if (!(Number.isSafeInteger(gpa) && gpa >= 0 && Number.isSafeInteger(len) && len >= 0)) return -1;
    const rs = this.regions;
    const hit = rs[this.last];
    // r.end - gpa is exact (both safe integers); comparing len with the
    // room left never computes gpa + len, which could overflow 2^53. With
    // len ≥ 0 it also implies gpa ≤ r.end.
    if (hit !== undefined && gpa >= hit.gpa && len <= hit.end - gpa) return this.last;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!;
      if (gpa >= r.gpa && len <= r.end - gpa) {
        this.last = i;
        return i;
      }
    }
    return -1;
  }

  /** Whether [gpa, gpa + len) lies inside one region. Never throws. */
  contains(gpa: number, len: number): boolean {
    return this.regionIndex(gpa, len) >= 0;
  }

  /**
   * A zero-copy view of [gpa, gpa + len) (plain access), or undefined
   * unless the range lies inside one region. Never throws.
   */
  slice(gpa: number, len: number): Uint8Array | undefined {
    const i = this.regionIndex(gpa, len);
    if (i < 0) return undefined;
    const r = this.regions[i]!;
    return new Uint8Array(r.buffer, gpa - r.gpa, len);
  }

  /**
   * Copies `dst.length` bytes from guest address `gpa` into `dst`. The
   * range may span regions that touch each other. Throws
   * ERR_GUEST_MEMORY_BOUNDS when any byte is outside guest memory.
   * @thread any (host side; plain access)
   */
  read(gpa: number, dst: Uint8Array): void {
    this.copy(gpa, dst, false);
  }

  /** Copies `src` to guest address `gpa`; see {@link read}. */
  write(gpa: number, src: Uint8Array): void {
    this.copy(gpa, src, true);
  }

  private copy(gpa: number, data: Uint8Array, toGuest: boolean): void {
    let done = 0;
    while (done < data.length) {
      const at = gpa + done;
      const i = this.regionIndex(at, 1);
      if (i < 0) throw outside(gpa, data.length);
      const r = this.regions[i]!;
      const n = Math.min(data.length - done, r.end - at);
      const guest = r.bytes.subarray(at - r.gpa, at - r.gpa + n);
      if (toGuest) guest.set(data.subarray(done, done + n));
      else data.set(guest, done);
      done += n;
    }
    if (data.length === 0 && this.regionIndex(gpa, 0) < 0) throw outside(gpa, 0);
  }

  /** The region holding [gpa, gpa + len); throws ERR_GUEST_MEMORY_BOUNDS. */
  private at(gpa: number, len: number): GuestRegion {
    const i = this.regionIndex(gpa, len);
    if (i < 0) throw outside(gpa, len);
    return this.regions[i]!;
  }

  /** Plain little-endian scalar reads and writes (payload, host side). Throw ERR_GUEST_MEMORY_BOUNDS. */
  readU8(gpa: number): number {
    const r = this.at(gpa, 1);
    return r.bytes[gpa - r.gpa]!;
  }
  readU16(gpa: number): number {
    const r = this.at(gpa, 2);
    return r.view.getUint16(gpa - r.gpa, true);
  }
  readU32(gpa: number): number {
    const r = this.at(gpa, 4);
    return r.view.getUint32(gpa - r.gpa, true);
  }
  readU64(gpa: number): bigint {
    const r = this.at(gpa, 8);
    return r.view.getBigUint64(gpa - r.gpa, true);
  }
  writeU8(gpa: number, value: number): void {
    const r = this.at(gpa, 1);
    r.bytes[gpa - r.gpa] = value;
  }
  writeU16(gpa: number, value: number): void {
    const r = this.at(gpa, 2);
    r.view.setUint16(gpa - r.gpa, value, true);
  }
  writeU32(gpa: number, value: number): void {
    const r = this.at(gpa, 4);
    r.view.setUint32(gpa - r.gpa, value, true);
  }
  writeU64(gpa: number, value: bigint): void {
    const r = this.at(gpa, 8);
    r.view.setBigUint64(gpa - r.gpa, BigInt.asUintN(64, value), true);
  }

  /**
   * Atomic protocol-word accesses (`Atomics.load` / `Atomics.store` via
   * SharedWords). `gpa` must be naturally aligned and inside one region;
   * otherwise ERR_GUEST_MEMORY_BOUNDS. Callers with guest-chosen addresses
   * check them first (as `VirtQueue.validate` does for the rings).
   */
  load16(gpa: number): number {
    const r = this.word(gpa, 2);
    return r.words.load16(gpa - r.gpa);
  }
  store16(gpa: number, value: number): void {
    const r = this.word(gpa, 2);
    r.words.store16(gpa - r.gpa, value);
  }
  load32(gpa: number): number {
    const r = this.word(gpa, 4);
    return r.words.load32(gpa - r.gpa);
  }
  store32(gpa: number, value: number): void {
    const r = this.word(gpa, 4);
    r.words.store32(gpa - r.gpa, value);
  }

  private word(gpa: number, size: number): GuestRegion {
    const r = this.at(gpa, size);
    // Region addresses are multiples of 8, so gpa alignment is buffer alignment.
    if (gpa % size !== 0) throw new VirtioError('ERR_GUEST_MEMORY_BOUNDS', `a ${size * 8}-bit protocol word at ${hex(gpa)} is not aligned`);
    return r;
  }
}

function outside(gpa: number, len: number): VirtioError {
  return new VirtioError('ERR_GUEST_MEMORY_BOUNDS', `guest range [${hex(gpa)}, +${String(len)}) is outside guest memory`);
}
