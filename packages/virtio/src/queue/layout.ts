/**
 * The split virtqueue's byte map (virtio 1.2 §2.7), in one place. Every
 * other file names these constants; none spells an offset.
 *
 * Three areas in guest memory, placed by the driver, little-endian:
 *
 * ```
 * Descriptor Table  align 16, 16 × size bytes           written by the driver, read by the device
 *   +0  addr   u64   guest-physical address of the buffer
 *   +8  len    u32   bytes
 *   +12 flags  u16   NEXT 1 | WRITE 2 | INDIRECT 4
 *   +14 next   u16   index of the next descriptor when NEXT
 *
 * Available Ring    align 2, 6 + 2 × size bytes          written by the driver, read by the device
 *   +0  flags      u16  NO_INTERRUPT 1 (without EVENT_IDX)        atomic (protocol word)
 *   +2  idx        u16  free-running count of published heads      atomic (protocol word)
 *   +4  ring[size] u16  heads of descriptor chains                 plain, published by idx
 *   +4+2·size used_event u16 (EVENT_IDX) interrupt when used.idx passes it   atomic (protocol word)
 *
 * Used Ring         align 4, 6 + 8 × size bytes          written by the device, read by the driver
 *   +0  flags      u16  NO_NOTIFY 1 (without EVENT_IDX)            atomic (protocol word)
 *   +2  idx        u16  free-running count of used elements       atomic (protocol word)
 *   +4  ring[size] { id u32, len u32 }                             plain, published by idx
 *   +4+8·size avail_event u16 (EVENT_IDX) kick when avail.idx passes it    atomic (protocol word)
 * ```
 *
 * Happens-before, the four ordering points of the ring (each names its partner):
 *
 * | writer, in order | reader, in order | spec |
 * |---|---|---|
 * | driver: descriptors + avail.ring[i] (plain), then `avail.idx` (atomic store) — `DriverQueue.needsKick` | device: `avail.idx` (atomic load), then ring[i] and descriptors (plain) — `VirtQueue.pop` | 2.7.13.3, 2.7.13.3.1 |
 * | device: used.ring[i] (plain), then `used.idx` (atomic store) — `VirtQueue.pushUsed` | driver: `used.idx` (atomic load), then used.ring[i] (plain) — `DriverQueue.getUsedHead` | 2.7.8.2, 2.7.14 |
 * | device: `avail_event` / `used.flags` (store), then `avail.idx` (load) — `VirtQueue.enableNotification` | driver: `avail.idx` (store), then `avail_event` / `used.flags` (load) — `DriverQueue.needsKick` | 2.7.10 |
 * | driver: `used_event` / `avail.flags` (store), then `used.idx` (load) — `DriverQueue.enableInterrupts` | device: `used.idx` (store), then `used_event` / `avail.flags` (load) — `VirtQueue.needsNotification` | 2.7.7 |
 *
 * The last two are the store-buffering pattern: each side writes its own
 * word and then reads the other's, so with all four accesses seq-cst
 * atomics at least one side sees the other and no notification is lost.
 */

/** The largest queue size the split ring allows (§2.7: "The maximum Queue Size value is 32768"). */
export const MAX_QUEUE_SIZE = 32768;

// Descriptor (struct virtq_desc, §2.7.5).
/** Bytes per descriptor. */
export const DESC_SIZE = 16;
/** Offset of `addr` (u64, read as two u32 halves: low word first). */
export const DESC_ADDR = 0;
/** Offset of `len` (u32). */
export const DESC_LEN = 8;
/** Offset of `flags` (u16). */
export const DESC_FLAGS = 12;
/** Offset of `next` (u16). */
export const DESC_NEXT = 14;

/** Descriptor flag: the chain continues at `next` (VIRTQ_DESC_F_NEXT). */
export const VIRTQ_DESC_F_NEXT = 1;
/** Descriptor flag: the buffer is device-writable, otherwise device-readable (VIRTQ_DESC_F_WRITE). */
export const VIRTQ_DESC_F_WRITE = 2;
/** Descriptor flag: the buffer is a table of descriptors (VIRTQ_DESC_F_INDIRECT, §2.7.5.3). */
export const VIRTQ_DESC_F_INDIRECT = 4;

// Available ring (struct virtq_avail, §2.7.6).
/** Offset of avail `flags` (u16). */
export const AVAIL_FLAGS = 0;
/** Offset of avail `idx` (u16). */
export const AVAIL_IDX = 2;
/** Offset of avail `ring[0]` (u16 entries). */
export const AVAIL_RING = 4;
/** Bytes per available-ring entry. */
export const AVAIL_ELEM_SIZE = 2;
/** Avail flag: the driver does not want used-buffer notifications (VIRTQ_AVAIL_F_NO_INTERRUPT, §2.7.7). */
export const VRING_AVAIL_F_NO_INTERRUPT = 1;

// Used ring (struct virtq_used, §2.7.8).
/** Offset of used `flags` (u16). */
export const USED_FLAGS = 0;
/** Offset of used `idx` (u16). */
export const USED_IDX = 2;
/** Offset of used `ring[0]` ({ id u32, len u32 } entries). */
export const USED_RING = 4;
/** Bytes per used-ring element. */
export const USED_ELEM_SIZE = 8;
/** Offset of `id` (u32) inside a used element: the head of the chain. */
export const USED_ELEM_ID = 0;
/** Offset of `len` (u32) inside a used element: bytes written into the chain. */
export const USED_ELEM_LEN = 4;
/** Used flag: the device does not want available-buffer notifications (VIRTQ_USED_F_NO_NOTIFY, §2.7.10). */
export const VRING_USED_F_NO_NOTIFY = 1;

// Alignments (§2.7, the table of virtqueue parts).
/** Required alignment of the descriptor table. */
export const DESC_TABLE_ALIGN = 16;
/** Required alignment of the available ring. */
export const AVAIL_RING_ALIGN = 2;
/** Required alignment of the used ring. */
export const USED_RING_ALIGN = 4;

/** Bytes of the descriptor table for `size` entries. */
export const descTableSize = (size: number): number => DESC_SIZE * size;
/** Bytes of the available ring for `size` entries, `used_event` included. */
export const availRingSize = (size: number): number => AVAIL_RING + AVAIL_ELEM_SIZE * size + 2;
/** Bytes of the used ring for `size` entries, `avail_event` included. */
export const usedRingSize = (size: number): number => USED_RING + USED_ELEM_SIZE * size + 2;
/** Offset of `used_event` in the available ring (after its `size` entries). */
export const usedEventOffset = (size: number): number => AVAIL_RING + AVAIL_ELEM_SIZE * size;
/** Offset of `avail_event` in the used ring (after its `size` elements). */
export const availEventOffset = (size: number): number => USED_RING + USED_ELEM_SIZE * size;
/** Offset of available-ring entry `slot`. */
export const availEntryOffset = (slot: number): number => AVAIL_RING + AVAIL_ELEM_SIZE * slot;
/** Offset of used-ring element `slot`. */
export const usedElemOffset = (slot: number): number => USED_RING + USED_ELEM_SIZE * slot;

/** One of the three areas of a ring, with what §2.7 requires of it. */
export interface RingArea {
  readonly what: 'descriptor table' | 'available ring' | 'used ring';
  readonly gpa: number;
  readonly align: number;
  readonly bytes: number;
}

/** The three areas of a ring of `size` at the given addresses (event words included). */
export function ringAreas(size: number, at: { readonly descTable: number; readonly availRing: number; readonly usedRing: number }): readonly RingArea[] {
  return [
    { what: 'descriptor table', gpa: at.descTable, align: DESC_TABLE_ALIGN, bytes: descTableSize(size) },
    { what: 'available ring', gpa: at.availRing, align: AVAIL_RING_ALIGN, bytes: availRingSize(size) },
    { what: 'used ring', gpa: at.usedRing, align: USED_RING_ALIGN, bytes: usedRingSize(size) },
  ];
}

/** True for a valid split-ring size: a power of two in [1, MAX_QUEUE_SIZE]. */
export const isQueueSize = (size: number): boolean => Number.isInteger(size) && size >= 1 && size <= MAX_QUEUE_SIZE && (size & (size - 1)) === 0;
