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
