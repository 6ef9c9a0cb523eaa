// queue/: a well-behaved driver and raw (possibly hostile) ring access, for
// tests, fuzzers, benchmarks and the demo VM's guest.
export {
  DriverQueue,
  type AddOptions,
  type DriverQueueOptions,
  type DriverQueueStats,
  type RingLayout,
} from './queue/driver-queue.js';
export { RawRing, readDescriptor, writeDescriptor, type RawDescriptor, type RingAddresses } from './queue/raw-ring.js';
// pci/: a guest's virtio-pci driver (enumeration, init sequence, MSI-X, doorbells).
export {
  CF8,
  VirtioPciDriver,
  configRead,
  configWrite,
  enumeratePci,
  legacyRingLayout,
  type ConfigMechanism,
  type DriverQueueSetup,
  type GuestIo,
  type PciProbe,
  type PciWindows,
} from './pci/virtio-pci-driver.js';
// devices/blk: a guest's virtio-blk driver and its heap.
export { GuestHeap, VirtioBlkDriver, type BlkCompletion, type BlkDriverOptions, type BlkDriverRequest } from './devices/blk/blk-driver.js';
