/**
 * What a virtio device model gives its transport (QEMU VirtioDeviceClass).
 * The transport runs on the owner thread and calls these there; a model
 * whose queues are processed on other threads (I/O threads) forwards
 * start/stop to them and returns a promise that settles when they acked.
 */
import type { TransportLinkHandle } from './transport-link.js';

/** One queue as the driver configured it (QEMU VirtQueue's vring fields). */
export interface QueueConfig {
  readonly index: number;
  /** The driver enabled it (queue_enable, or a non-zero legacy PFN). */
  readonly enabled: boolean;
  readonly size: number;
  readonly descTable: number;
  readonly availRing: number;
  readonly usedRing: number;
}

/** Passed to {@link VirtioDeviceModel.start} on DRIVER_OK. */
export interface DeviceStartConfig {
  /** Negotiated features (driver's, a subset of the device's). */
  readonly features: bigint;
  readonly queues: readonly QueueConfig[];
  /** Interrupts and the broken flag, to open on the processing thread. */
  readonly link: TransportLinkHandle;
}

export interface VirtioDeviceModel {
  /** Virtio device type (5 "Device Types"): 2 for a block device. */
  readonly deviceType: number;
  readonly numQueues: number;
  /** Largest queue size the driver may configure (a power of two ≤ 32768). */
  readonly queueMaxSize: number;
  /** Device-specific feature bits offered; the transport adds VERSION_1, EVENT_IDX and INDIRECT_DESC. */
  readonly features: bigint;
  /** Bytes of device configuration space. */
  readonly configSize: number;
  /** A device configuration read inside [0, configSize) (QEMU VirtioDeviceClass::get_config). */
  readConfig(offset: number, size: number): number;
  /** A device configuration write inside [0, configSize) (set_config). */
  writeConfig(offset: number, size: number, value: number): void;
  /**
   * Index, in the machine's ioeventfd notifier list, of the notifier queue
   * `q`'s doorbell sets; undefined when the queue has none (its doorbells
   * are then always synchronous exits).
   */
  hostNotifier(q: number): number | undefined;
  /**
   * DRIVER_OK: start processing the queues (QEMU set_status with DRIVER_OK,
   * then start_ioeventfd / dataplane start). The transport has already bound
   * the ioeventfds with their notifiers set, so the model's first look at
   * each queue picks up requests already in the ring. A start that follows
   * a stop without a {@link reset} (VM resume, DRIVER_OK written again)
   * continues each queue from the ring indices it stopped at, as QEMU's
   * VirtQueue keeps last_avail_idx; after a reset the queues begin at 0.
   */
  start(config: DeviceStartConfig): Promise<void> | void;
  /**
   * Stop processing (status without DRIVER_OK, reset, bus mastering off,
   * VM stop). The transport has already unbound the ioeventfds and waited
   * out every vCPU, so nothing sets a host notifier behind the model's back:
   * it must now test-and-clear each queue's host notifier and handle what
   * it held (QEMU virtio_bus_cleanup_host_notifier), detach its handlers,
   * and let in-flight requests complete before the promise settles.
   */
  stop(): Promise<void> | void;
  /** A doorbell that came as a synchronous exit (QEMU virtio_queue_notify); `q` is in range. */
  notify(q: number): void;
  /** Device reset, after stop (VirtioDeviceClass::reset). */
  reset(): void;
}
