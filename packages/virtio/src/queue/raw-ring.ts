/**
 * Raw access to a split ring's three areas as the driver sees them: write
 * any descriptor, any ring entry, any index, whether or not it makes
 * sense. DriverQueue builds a well-behaved driver on it; tests and the
 * fuzzer use it directly to play a hostile one. Exported from
 * `@vmloop/virtio/testing`.
 *
 * Payload (descriptors, ring entries, used elements) is read and written
 * plainly; protocol words (`idx`, `flags`, `used_event`, `avail_event`)
 * with the atomic accessors of GuestMemory, as a real driver must.
 *
 * ```ts
 * const raw = new RawRing(memory, { size: 8, descTable, availRing, usedRing });
 * raw.writeDescriptor(0, { addr: 0x1000, len: 0, flags: 0, next: 0 }); // zero-length
 * raw.setAvailEntry(0, 0);
 * raw.setAvailIdx(1);   // publish: the device breaks on pop()
 * ```
 * @thread driver
 */
import type { GuestMemory } from './guest-memory.js';
import {
  AVAIL_FLAGS,
  AVAIL_IDX,
  DESC_ADDR,
  DESC_FLAGS,
  DESC_LEN,
  DESC_NEXT,
  DESC_SIZE,
  USED_ELEM_ID,
  USED_ELEM_LEN,
  USED_FLAGS,
  USED_IDX,
  availEntryOffset,
  availEventOffset,
  usedElemOffset,
  usedEventOffset,
} from './layout.js';

/** A descriptor's four fields as the driver writes them. `addr` is a u64 (number or bigint). */
export interface RawDescriptor {
  readonly addr: number | bigint;
  readonly len: number;
  readonly flags: number;
  readonly next: number;
}

/** Where a ring is: its size and the three areas' guest-physical addresses. */
export interface RingAddresses {
  readonly size: number;
  readonly descTable: number;
  readonly availRing: number;
  readonly usedRing: number;
}

/**
 * Writes the 16-byte descriptor `d` at guest address `gpa` (a descriptor
 * table entry or an indirect table entry; plain writes, published later by
 * avail.idx). Throws ERR_GUEST_MEMORY_BOUNDS outside guest memory.
 */
export function writeDescriptor(memory: GuestMemory, gpa: number, d: RawDescriptor): void {
  memory.writeU64(gpa + DESC_ADDR, BigInt(d.addr));
  memory.writeU32(gpa + DESC_LEN, d.len);
  memory.writeU16(gpa + DESC_FLAGS, d.flags);
  memory.writeU16(gpa + DESC_NEXT, d.next);
}

/**
 * {@link writeDescriptor} from its fields, without a descriptor object or a
 * bigint: what a driver adding chains at a high rate uses. `addr` is a u64
 * as a number (split exactly into its two u32 halves).
 */
export function writeDescriptorFields(memory: GuestMemory, gpa: number, addr: number, len: number, flags: number, next: number): void {
  const i = memory.regionIndex(gpa, DESC_SIZE);
  if (i < 0) {
    writeDescriptor(memory, gpa, { addr, len, flags, next }); // throws ERR_GUEST_MEMORY_BOUNDS
    return;
  }
  const r = memory.regions[i]!;
  const at = gpa - r.gpa;
  r.view.setUint32(at + DESC_ADDR, addr % 2 ** 32, true);
  r.view.setUint32(at + DESC_ADDR + 4, Math.floor(addr / 2 ** 32), true);
  r.view.setUint32(at + DESC_LEN, len, true);
  r.view.setUint16(at + DESC_FLAGS, flags, true);
  r.view.setUint16(at + DESC_NEXT, next, true);
}

/** Reads the descriptor at guest address `gpa` (addr as a bigint). */
export function readDescriptor(memory: GuestMemory, gpa: number): { addr: bigint; len: number; flags: number; next: number } {
  return {
    addr: memory.readU64(gpa + DESC_ADDR),
    len: memory.readU32(gpa + DESC_LEN),
    flags: memory.readU16(gpa + DESC_FLAGS),
    next: memory.readU16(gpa + DESC_NEXT),
  };
}

/** Raw driver-side view of one split ring. See the module comment. */
export class RawRing {
  readonly size: number;
  readonly descTable: number;
  readonly availRing: number;
  readonly usedRing: number;

  constructor(
    readonly memory: GuestMemory,
    at: RingAddresses,
  ) {
    this.size = at.size;
    this.descTable = at.descTable;
    this.availRing = at.availRing;
    this.usedRing = at.usedRing;
  }

  /** Writes descriptor `index` of the table (any index; the address must be in memory). */
  writeDescriptor(index: number, d: RawDescriptor): void {
    writeDescriptor(this.memory, this.descTable + DESC_SIZE * index, d);
  }
  /** {@link writeDescriptor} of `index` from its fields (see the function {@link writeDescriptorFields}). */
  writeDescriptorFields(index: number, addr: number, len: number, flags: number, next: number): void {
    writeDescriptorFields(this.memory, this.descTable + DESC_SIZE * index, addr, len, flags, next);
  }
  /** Reads descriptor `index` of the table. */
  readDescriptor(index: number): { addr: bigint; len: number; flags: number; next: number } {
    return readDescriptor(this.memory, this.descTable + DESC_SIZE * index);
  }

  /** Writes avail.ring[slot] (plain: published by the next setAvailIdx). */
  setAvailEntry(slot: number, head: number): void {
    this.memory.writeU16(this.availRing + availEntryOffset(slot), head);
  }
  /** Reads avail.ring[slot]. */
  availEntry(slot: number): number {
    return this.memory.readU16(this.availRing + availEntryOffset(slot));
  }
  /** avail.idx (atomic load). */
  availIdx(): number {
    return this.memory.load16(this.availRing + AVAIL_IDX);
  }
  /** Stores avail.idx (atomic: publishes the entries before it; pairs with the load in VirtQueue.pop). */
  setAvailIdx(v: number): void {
    this.memory.store16(this.availRing + AVAIL_IDX, v & 0xffff);
  }
  /** avail.flags (atomic load). */
  availFlags(): number {
    return this.memory.load16(this.availRing + AVAIL_FLAGS);
  }
  /** Stores avail.flags (atomic; read by VirtQueue.needsNotification). */
  setAvailFlags(v: number): void {
    this.memory.store16(this.availRing + AVAIL_FLAGS, v & 0xffff);
  }
  /** used_event (atomic load). */
  usedEvent(): number {
    return this.memory.load16(this.availRing + usedEventOffset(this.size));
  }
  /** Stores used_event (atomic; read by VirtQueue.needsNotification with EVENT_IDX). */
  setUsedEvent(v: number): void {
    this.memory.store16(this.availRing + usedEventOffset(this.size), v & 0xffff);
  }

  /** used.idx (atomic load; pairs with the store in VirtQueue.pushUsed). */
  usedIdx(): number {
    return this.memory.load16(this.usedRing + USED_IDX);
  }
  /** Stores used.idx: only to initialise the ring before the device runs. */
  setUsedIdx(v: number): void {
    this.memory.store16(this.usedRing + USED_IDX, v & 0xffff);
  }
  /** used.flags (atomic load; VRING_USED_F_NO_NOTIFY). */
  usedFlags(): number {
    return this.memory.load16(this.usedRing + USED_FLAGS);
  }
  /** avail_event (atomic load; written by VirtQueue with EVENT_IDX). */
  availEvent(): number {
    return this.memory.load16(this.usedRing + availEventOffset(this.size));
  }
  /** Stores avail_event: only to initialise the ring before the device runs. */
  setAvailEvent(v: number): void {
    this.memory.store16(this.usedRing + availEventOffset(this.size), v & 0xffff);
  }
  /** Writes used.ring[slot] (plain): for driver tests that play a buggy device. */
  setUsedElem(slot: number, e: { readonly id: number; readonly len: number }): void {
    const at = this.usedRing + usedElemOffset(slot);
    this.memory.writeU32(at + USED_ELEM_ID, e.id);
    this.memory.writeU32(at + USED_ELEM_LEN, e.len);
  }
  /** used.ring[slot] (plain: read after loading used.idx). */
  usedElem(slot: number): { id: number; len: number } {
    return { id: this.usedElemId(slot), len: this.usedElemLen(slot) };
  }
  /** used.ring[slot].id alone (plain, as usedElem), without an object. */
  usedElemId(slot: number): number {
    return this.memory.readU32(this.usedRing + usedElemOffset(slot) + USED_ELEM_ID);
  }
  /** used.ring[slot].len alone (plain, as usedElem). */
  usedElemLen(slot: number): number {
    return this.memory.readU32(this.usedRing + usedElemOffset(slot) + USED_ELEM_LEN);
  }
}
