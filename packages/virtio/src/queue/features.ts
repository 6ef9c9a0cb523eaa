/**
 * Device-independent feature bits (virtio 1.2 §6, "Reserved Feature Bits")
 * that the transport negotiates and the queue layer cares about. Bit
 * numbers are plain numbers (they index the 64-bit feature words the
 * transport reads 32 bits at a time); {@link featureBit} turns one into a
 * bigint mask for a full 64-bit feature set.
 *
 * ```ts
 * const offered = featureBit(VIRTIO_F_VERSION_1) | featureBit(VIRTIO_RING_F_EVENT_IDX);
 * queue.setFeatures(queueFeatures(negotiated));   // { eventIdx, indirect }
 * ```
 */

/** Descriptors may point at indirect tables (VIRTIO_F_INDIRECT_DESC, §2.7.5.3). */
export const VIRTIO_RING_F_INDIRECT_DESC = 28;
/** `used_event` / `avail_event` suppress notifications (VIRTIO_F_EVENT_IDX, §2.7.7, §2.7.10). */
export const VIRTIO_RING_F_EVENT_IDX = 29;
/** Legacy: notify when the avail ring runs empty even if suppressed (not offered by vmloop). */
export const VIRTIO_F_NOTIFY_ON_EMPTY = 24;
/** Legacy: the device does not assume message framing (implied by VERSION_1). */
export const VIRTIO_F_ANY_LAYOUT = 27;
/** A virtio 1.x (non-legacy) device (§6). Without it the transport speaks the legacy interface. */
export const VIRTIO_F_VERSION_1 = 32;
/** The device is behind an IOMMU / limited DMA (not offered by vmloop: guest RAM is all mapped). */
export const VIRTIO_F_ACCESS_PLATFORM = 33;
/** Packed virtqueue layout (§2.8; not implemented: vmloop has split rings only). */
export const VIRTIO_F_RING_PACKED = 34;
/** Buffers are used in the order they were made available (§2.7.9; not offered). */
export const VIRTIO_F_IN_ORDER = 35;
/** The driver's notifications carry data (not offered). */
export const VIRTIO_F_NOTIFICATION_DATA = 38;
/** Individual queues can be reset (not offered). */
export const VIRTIO_F_RING_RESET = 40;

/** The 64-bit mask of feature bit `bit` (0 ≤ bit < 64). */
export function featureBit(bit: number): bigint {
  return 1n << BigInt(bit);
}

/** The ring features the queue layer implements; a transport offers these plus the device's own. */
export const QUEUE_FEATURES: bigint =
  featureBit(VIRTIO_F_VERSION_1) | featureBit(VIRTIO_RING_F_INDIRECT_DESC) | featureBit(VIRTIO_RING_F_EVENT_IDX);

/** What {@link VirtQueue.setFeatures} takes: the negotiated ring features. */
export interface QueueFeatures {
  /** VIRTIO_RING_F_EVENT_IDX was negotiated. */
  readonly eventIdx: boolean;
  /** VIRTIO_RING_F_INDIRECT_DESC was negotiated. */
  readonly indirect: boolean;
}

/** The ring features contained in a negotiated 64-bit feature set. */
export function queueFeatures(negotiated: bigint): QueueFeatures {
  return {
    eventIdx: (negotiated & featureBit(VIRTIO_RING_F_EVENT_IDX)) !== 0n,
    indirect: (negotiated & featureBit(VIRTIO_RING_F_INDIRECT_DESC)) !== 0n,
  };
}
