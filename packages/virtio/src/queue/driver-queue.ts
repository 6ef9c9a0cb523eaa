/**
 * The driver side of a split virtqueue: what a guest's virtio driver does
 * (Linux drivers/virtio/virtio_ring.c, split ring; rust-vmm's MockSplitQueue
 * as a working driver). Used by the tests, the fuzzer, the benchmark and
 * the demo VM's guest; exported from `@vmloop/virtio/testing`.
 *
 * It is a well-behaved driver: it keeps its own shadow of the free list
 * and chain shapes and never trusts ring memory for them. The driver loop:
 *
 * ```ts
 * const head = driver.add([request], [reply]);     // undefined: ring full
 * if (driver.needsKick()) doorbell.set();          // publish, then ask
 * // on an interrupt:
 * do {
 *   driver.disableInterrupts();
 *   for (let u = driver.getUsed(); u; u = driver.getUsed()) complete(u.head, u.len);
 * } while (driver.enableInterrupts());             // true: more raced in
 * ```
 *
 * Shared words it touches (byte map in ./layout.ts):
 * - `avail.idx`: written here (atomic store in needsKick, after the ring
 *   entries and descriptors), read by VirtQueue.pop (atomic load first).
 * - `avail_event` / `used.flags`: read here (atomic load after storing
 *   avail.idx), written by VirtQueue.enableNotification / disableNotification / pop.
 * - `used.idx`: read here (atomic load, then the element), written by
 *   VirtQueue.pushUsed (atomic store after the element).
 * - `used_event` / `avail.flags`: written here (atomic store, then a load
 *   of used.idx), read by VirtQueue.needsNotification.
 * @thread driver (one thread owns a DriverQueue: the guest's vCPU)
 */
import { VirtioError } from '../errors.js';
import type { Segment } from './descriptor-chain.js';
import type { GuestMemory } from './guest-memory.js';
import {
  DESC_SIZE,
  DESC_TABLE_ALIGN,
  USED_RING_ALIGN,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_USED_F_NO_NOTIFY,
  availRingSize,
  descTableSize,
  isQueueSize,
  ringAreas,
  usedRingSize,
} from './layout.js';
import { vringNeedEvent } from './need-event.js';
import { RawRing, writeDescriptorFields } from './raw-ring.js';

/** Options of {@link DriverQueue}. */
export interface DriverQueueOptions {
  /** Queue size: a power of two ≤ 32768 (the device's maximum or less). */
  readonly size: number;
  /** Guest-physical addresses of the three areas (see {@link DriverQueue.layout}). */
  readonly descTable: number;
  readonly availRing: number;
  readonly usedRing: number;
  /** VIRTIO_RING_F_EVENT_IDX was negotiated. */
  readonly eventIdx: boolean;
  /** VIRTIO_RING_F_INDIRECT_DESC was negotiated (lets `add` take an `indirectTable`). */
  readonly indirect: boolean;
  /**
   * Where avail.idx and used.idx start (default 0, as after a reset). Set
   * the device's `nextAvail` and `nextUsed` to the same value; tests start
   * near 65535 to cross the 16-bit wrap.
   */
  readonly startIndex?: number;
}

/** Byte sizes and offsets of one ring's areas packed together from a 16-byte aligned base. */
export interface RingLayout {
  readonly descTable: { readonly offset: number; readonly size: number };
  readonly availRing: { readonly offset: number; readonly size: number };
  readonly usedRing: { readonly offset: number; readonly size: number };
  /** Total bytes from the base to the end of the used ring. */
  readonly size: number;
  /** Alignment the base needs. */
  readonly align: number;
}

/** Options of {@link DriverQueue.add}. */
export interface AddOptions {
  /** Put the chain in an indirect table at this guest address (room for 16 bytes per segment). */
  readonly indirectTable?: number;
}

/** Counters of a DriverQueue. */
export interface DriverQueueStats {
  /** Chains added. */
  readonly added: number;
  /** Used elements reclaimed by getUsedHead (or getUsed). */
  readonly reclaimed: number;
  /** needsKick answers of true. */
  readonly kicks: number;
  /** needsKick answers of false after new entries (kicks the device did not want). */
  readonly kicksSuppressed: number;
}

const roundUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** A segment's fields must be a u64 address and a u32 length (ERR_INVALID_ARGUMENT). */
function checkSegment(s: Segment): void {
  if (!(Number.isInteger(s.addr) && s.addr >= 0 && s.addr < 2 ** 64 && Number.isInteger(s.len) && s.len >= 0 && s.len < 2 ** 32)) {
    throw new VirtioError('ERR_INVALID_ARGUMENT', `segment { addr: ${String(s.addr)}, len: ${String(s.len)} } is not a u64 address and a u32 length`);
  }
}

/** The driver side of a split ring. See the module comment. */
export class DriverQueue {
  readonly size: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  /** Raw access to the same rings (for tests that misbehave on purpose). */
  readonly raw: RawRing;
  private readonly mask: number;

  // Shadows (Linux vring_virtqueue): never read back from ring memory.
  private availShadow: number; // next avail.idx to publish
  private kickedAt: number; // avail.idx published by the last needsKick
  private lastUsed: number; // next used element to reclaim
  private usedSeen: number; // used.idx as last loaded
  private lastLen = 0; // used.ring[].len of the element getUsedHead returned last
  private interruptsOn = true;
  private freeHead = 0;
  private free: number;
  private readonly freeNext: Uint16Array;
  private readonly chainNext: Uint16Array; // next descriptor of a chain, by descriptor
  private readonly chainLength: Uint16Array; // descriptors a head's chain holds (1 when indirect)
  private readonly headInFlight: Uint8Array;
  private inFlightCount = 0;

  private added = 0;
  private reclaimed = 0;
  private kicks = 0;
  private kicksSuppressed = 0;

  /** Sizes and offsets of the three areas for a queue of `size`, packed from a 16-byte aligned base. */
  static layout(size: number): RingLayout {
    if (!isQueueSize(size)) throw new VirtioError('ERR_INVALID_ARGUMENT', `queue size ${String(size)} must be a power of two ≤ 32768`);
    const desc = { offset: 0, size: descTableSize(size) };
    const avail = { offset: desc.size, size: availRingSize(size) };
    const used = { offset: roundUp(avail.offset + avail.size, USED_RING_ALIGN), size: usedRingSize(size) };
    return { descTable: desc, availRing: avail, usedRing: used, size: used.offset + used.size, align: DESC_TABLE_ALIGN };
  }

  /**
   * Takes over the rings at the given addresses and initialises them: all
   * ring memory zeroed, then the indices (and event words) set to
   * `startIndex`. Throws ERR_INVALID_ARGUMENT for a bad size or an area
   * that is unaligned or outside guest memory.
   */
  constructor(
    readonly memory: GuestMemory,
    options: DriverQueueOptions,
  ) {
    const { size, descTable, availRing, usedRing, eventIdx, indirect, startIndex = 0 } = options;
    if (!isQueueSize(size)) throw new VirtioError('ERR_INVALID_ARGUMENT', `queue size ${String(size)} must be a power of two ≤ 32768`);
    if (!(Number.isInteger(startIndex) && startIndex >= 0 && startIndex <= 0xffff)) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `startIndex ${String(startIndex)} is not a u16`);
    }
    for (const { what, gpa, align, bytes } of ringAreas(size, { descTable, availRing, usedRing })) {
      if (gpa % align !== 0 || !memory.contains(gpa, bytes)) {
        throw new VirtioError('ERR_INVALID_ARGUMENT', `the ${what} at ${String(gpa)} must be ${align}-byte aligned with ${bytes} bytes inside guest memory`);
      }
      memory.slice(gpa, bytes)!.fill(0);
    }
    this.size = size;
    this.mask = size - 1;
    this.eventIdx = eventIdx;
    this.indirect = indirect;
    this.raw = new RawRing(memory, { size, descTable, availRing, usedRing });
    this.availShadow = this.kickedAt = this.lastUsed = this.usedSeen = startIndex;
    this.raw.setUsedEvent(startIndex);
    this.raw.setAvailEvent(startIndex);
    this.raw.setUsedIdx(startIndex);
    this.raw.setAvailIdx(startIndex);
    this.free = size;
    this.freeNext = new Uint16Array(size);
    for (let i = 0; i < size; i++) this.freeNext[i] = i + 1;
    this.chainNext = new Uint16Array(size);
    this.chainLength = new Uint16Array(size);
    this.headInFlight = new Uint8Array(size);
  }

  /** Free descriptors. */
  get numFree(): number {
    return this.free;
  }
  /** Chains added and not yet reclaimed. */
  get inFlight(): number {
    return this.inFlightCount;
  }
  /** A snapshot of the counters. */
  get stats(): DriverQueueStats {
    return { added: this.added, reclaimed: this.reclaimed, kicks: this.kicks, kicksSuppressed: this.kicksSuppressed };
  }

  /**
   * Adds a chain of device-readable then device-writable segments and
   * writes its avail-ring entry (virtqueue_add_split); it is published by
   * the next `needsKick`. Returns the head, or undefined when there are
   * too few free descriptors (one with `indirectTable`, else one per
   * segment). With `indirectTable` the segments go in an indirect table
   * there (§2.7.5.3). Segment addresses are u64 numbers, lengths u32: a
   * test may add a zero-length or out-of-memory buffer on purpose.
   * Throws ERR_INVALID_ARGUMENT for no segments or non-integer fields,
   * ERR_INVALID_STATE for an indirect table without the feature.
   */
  add(readable: readonly Segment[], writable: readonly Segment[], options?: AddOptions): number | undefined {
    const n = readable.length + writable.length;
    if (n === 0) throw new VirtioError('ERR_INVALID_ARGUMENT', 'add() needs at least one segment');
    const table = options?.indirectTable;
    if (table !== undefined && !this.indirect) {
      throw new VirtioError('ERR_INVALID_STATE', 'add({ indirectTable }) without VIRTIO_RING_F_INDIRECT_DESC negotiated');
    }
    // Per call, no allocation: the driver of a fast device adds a chain per request.
    const nr = readable.length;
    for (let i = 0; i < n; i++) checkSegment(i < nr ? readable[i]! : writable[i - nr]!);
    const need = table === undefined ? n : 1;
    if (this.free < need) return undefined;
    let head: number;
    if (table !== undefined) {
      for (let i = 0; i < n; i++) {
        const s = i < nr ? readable[i]! : writable[i - nr]!;
        const flags = (i >= nr ? VIRTQ_DESC_F_WRITE : 0) | (i < n - 1 ? VIRTQ_DESC_F_NEXT : 0);
        writeDescriptorFields(this.memory, table + DESC_SIZE * i, s.addr, s.len, flags, i < n - 1 ? i + 1 : 0);
      }
      head = this.alloc();
      this.raw.writeDescriptorFields(head, table, DESC_SIZE * n, VIRTQ_DESC_F_INDIRECT, 0);
      this.chainLength[head] = 1;
    } else {
      head = this.alloc();
      let id = head;
      for (let i = 0; i < n; i++) {
        const s = i < nr ? readable[i]! : writable[i - nr]!;
        const flags = (i >= nr ? VIRTQ_DESC_F_WRITE : 0) | (i < n - 1 ? VIRTQ_DESC_F_NEXT : 0);
        const next = i < n - 1 ? this.alloc() : 0;
        this.raw.writeDescriptorFields(id, s.addr, s.len, flags, next);
        this.chainNext[id] = next;
        id = next;
      }
      this.chainLength[head] = n;
    }
    // Plain write of the entry: needsKick publishes it with its store of avail.idx.
    this.raw.setAvailEntry(this.availShadow & this.mask, head);
    this.availShadow = (this.availShadow + 1) & 0xffff;
    this.headInFlight[head] = 1;
    this.inFlightCount++;
    this.added++;
    return head;
  }

  /**
   * Publishes the chains added since the last call and says whether to
   * notify the device (virtqueue_kick_prepare). Stores avail.idx (atomic,
   * after the entries: §2.7.13.3; pairs with the load in VirtQueue.pop),
   * then loads the device's request (§2.7.10.1): with EVENT_IDX, kick when
   * avail.idx passed `avail_event` since the previous call
   * (vring_need_event); without, unless VRING_USED_F_NO_NOTIFY is set.
   * Store then load: the driver half of the store-buffering pair with
   * VirtQueue.enableNotification. False when nothing was added.
   */
  needsKick(): boolean {
    const old = this.kickedAt;
    const neu = this.availShadow;
    if (neu === old) return false;
    this.raw.setAvailIdx(neu);
    this.kickedAt = neu;
    const kick = this.eventIdx ? vringNeedEvent(this.raw.availEvent(), neu, old) : (this.raw.usedFlags() & VRING_USED_F_NO_NOTIFY) === 0;
    if (kick) this.kicks++;
    else this.kicksSuppressed++;
    return kick;
  }

  /**
   * The next used element, or undefined when the device has published
   * none (virtqueue_get_buf): {@link getUsedHead} as an object.
   */
  getUsed(): { head: number; len: number } | undefined {
    const head = this.getUsedHead();
    return head < 0 ? undefined : { head, len: this.lastLen };
  }

  /**
   * The head of the next used element, or -1 when the device has
   * published none (virtqueue_get_buf, which returns the token and writes
   * the length through a pointer: here {@link usedLen}). Loads used.idx
   * (atomic; pairs with the store in VirtQueue.pushUsed), then reads the
   * element, then frees the chain's descriptors. With EVENT_IDX and
   * interrupts enabled it moves `used_event` to the new position, as
   * Linux does. Allocates nothing. Throws ERR_INVALID_STATE when the
   * device returns a head that is not in flight (a device bug).
   */
  getUsedHead(): number {
    const idx = this.lastUsed;
    if (idx === this.usedSeen) {
      this.usedSeen = this.raw.usedIdx();
      if (idx === this.usedSeen) return -1;
    }
    const slot = idx & this.mask;
    const id = this.raw.usedElemId(slot);
    if (!(id < this.size && this.headInFlight[id] === 1)) {
      throw new VirtioError('ERR_INVALID_STATE', `the device returned head ${id} at used index ${idx}, which is not in flight`);
    }
    this.lastLen = this.raw.usedElemLen(slot);
    this.lastUsed = (idx + 1) & 0xffff;
    this.headInFlight[id] = 0;
    this.inFlightCount--;
    this.reclaimed++;
    let d = id;
    for (let k = this.chainLength[id]!; k > 0; k--) {
      const next = this.chainNext[d]!;
      this.freeNext[d] = this.freeHead;
      this.freeHead = d;
      this.free++;
      d = next;
    }
    if (this.eventIdx && this.interruptsOn) this.raw.setUsedEvent(this.lastUsed);
    return id;
  }

  /** The length (bytes the device wrote) of the element {@link getUsedHead} returned last; 0 before any. */
  get usedLen(): number {
    return this.lastLen;
  }

  /**
   * Asks the device not to interrupt (virtqueue_disable_cb). Without
   * EVENT_IDX it sets VRING_AVAIL_F_NO_INTERRUPT (atomic store). With
   * EVENT_IDX it writes nothing: `used_event` stays where the last enable
   * or getUsed put it, which the device has already passed, and getUsed
   * stops moving it.
   */
  disableInterrupts(): void {
    this.interruptsOn = false;
    if (!this.eventIdx) this.raw.setAvailFlags(VRING_AVAIL_F_NO_INTERRUPT);
  }

  /**
   * Asks for interrupts again, then re-checks the ring; true means used
   * elements arrived meanwhile and must be reclaimed before waiting
   * (virtqueue_enable_cb). With EVENT_IDX stores `used_event` = the next
   * element to reclaim, otherwise clears VRING_AVAIL_F_NO_INTERRUPT; then
   * loads used.idx. Store then load: the driver half of the
   * store-buffering pair with VirtQueue.needsNotification.
   */
  enableInterrupts(): boolean {
    this.interruptsOn = true;
    if (this.eventIdx) this.raw.setUsedEvent(this.lastUsed);
    else this.raw.setAvailFlags(0);
    this.usedSeen = this.raw.usedIdx();
    return this.usedSeen !== this.lastUsed;
  }

  /**
   * Asks for an interrupt only once `count` more used elements have arrived
   * (Linux virtqueue_enable_cb_delayed, for a guest that wants fewer, larger
   * batches), then re-checks; true means at least `count` arrived meanwhile
   * and must be reclaimed before waiting. With EVENT_IDX stores `used_event`
   * = the next element to reclaim + count − 1; without it there is no way
   * to delay, and it is {@link enableInterrupts}. `count` must not exceed
   * the chains in flight, or the interrupt never comes.
   */
  enableInterruptsDelayed(count: number): boolean {
    if (!this.eventIdx || count <= 1) return this.enableInterrupts();
    if (!(Number.isInteger(count) && count <= this.inFlightCount)) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `enableInterruptsDelayed(${String(count)}): count must be an integer ≤ the ${this.inFlightCount} chains in flight`);
    }
    this.interruptsOn = true;
    this.raw.setUsedEvent((this.lastUsed + count - 1) & 0xffff);
    this.usedSeen = this.raw.usedIdx();
    return ((this.usedSeen - this.lastUsed) & 0xffff) >= count;
  }

  private alloc(): number {
    const d = this.freeHead;
    this.freeHead = this.freeNext[d]!;
    this.free--;
    return d;
  }
}
