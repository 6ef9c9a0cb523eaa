export { VirtioError, type VirtioErrorCode } from './errors.js';

// queue/: the split virtqueue over guest memory (imports only @vmloop/atomics).
export {
  GuestMemory,
  type GuestMemoryHandle,
  type GuestMemoryRegion,
  type GuestRegion,
  type GuestRegionSpec,
} from './queue/guest-memory.js';
export { VirtQueue, type VirtQueueOptions, type VirtQueueStats } from './queue/virt-queue.js';
export type { DescriptorChain, Segment } from './queue/descriptor-chain.js';
export { vringNeedEvent } from './queue/need-event.js';
export {
  QUEUE_FEATURES,
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_F_ANY_LAYOUT,
  VIRTIO_F_IN_ORDER,
  VIRTIO_F_NOTIFICATION_DATA,
  VIRTIO_F_NOTIFY_ON_EMPTY,
  VIRTIO_F_RING_PACKED,
  VIRTIO_F_RING_RESET,
  VIRTIO_F_VERSION_1,
  VIRTIO_RING_F_EVENT_IDX,
  VIRTIO_RING_F_INDIRECT_DESC,
  featureBit,
  queueFeatures,
  type QueueFeatures,
} from './queue/features.js';
export {
  AVAIL_RING_ALIGN,
  DESC_SIZE,
  DESC_TABLE_ALIGN,
  MAX_QUEUE_SIZE,
  USED_RING_ALIGN,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_USED_F_NO_NOTIFY,
  availRingSize,
  descTableSize,
  usedRingSize,
} from './queue/layout.js';
