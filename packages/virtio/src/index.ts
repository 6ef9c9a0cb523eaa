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

// pci/: the virtio-pci transport, vCPU exits, ioeventfd and irqfd.
export { PciConfigSpace, type BarDefinition, type PciIdentity } from './pci/pci-config-space.js';
export { PciBus, PCI_CONFIG_ADDRESS, PCI_CONFIG_DATA, PCI_ECAM_BASE, PCI_ECAM_BUS_SIZE, type IoRegion, type PciBusOptions, type PciBusStats, type PciFunction } from './pci/pci-bus.js';
export { ExitServer, VcpuExitPort, type ExitHandler, type ExitServerHandle, type ExitServerOptions, type IoAccess } from './pci/exit-channel.js';
export { VcpuAddressSpace, type AddressSpaceHandle, type AddressSpaceStats } from './pci/address-space.js';
export {
  IoEventFdMatcher,
  IoEventFdTable,
  type IoEventFdRegistration,
  type IoEventFdTableHandle,
  type IoEventFdTableOptions,
} from './pci/ioeventfd.js';
export { MSI_ADDRESS_BASE, NotifierInterruptRouter, type InterruptRouter, type InterruptRoutesHandle } from './pci/interrupt-router.js';
export { TransportLink, type InterruptStats, type TransportLinkHandle } from './pci/transport-link.js';
export type { DeviceStartConfig, QueueConfig, VirtioDeviceModel } from './pci/virtio-device.js';
export { VirtioPciDevice, type TransportEvent, type VirtioPciOptions, type VirtioPciState } from './pci/virtio-pci.js';
export * as pciRegs from './pci/registers.js';

// devices/blk: virtio-blk over a raw image file.
export { VirtioBlk, LocalBlkHost, type BlkQueueHost, type VirtioBlkOptions, type VirtioBlkStats } from './devices/blk/virtio-blk.js';
export { BlkIothread, BLK_IOTHREAD_MODULE, type BlkIothreadOptions } from './devices/blk/blk-iothread-client.js';
export type { BlkDataplaneStats, BlkDisk, BlkTracePoint } from './devices/blk/blk-dataplane.js';
export type { TraceRecord } from './devices/blk/blk-iothread.js';
export * as blkRegs from './devices/blk/registers.js';
