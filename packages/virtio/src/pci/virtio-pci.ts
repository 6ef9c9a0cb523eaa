/**
 * The virtio-pci transport (virtio 1.x section 4.1; QEMU hw/virtio/virtio-pci.c
 * and virtio-bus.c): PCI configuration space with the virtio capabilities and
 * MSI-X, the modern MMIO registers in BAR4, the MSI-X table in BAR1, the
 * legacy I/O registers in BAR0 (transitional devices), feature negotiation,
 * the device status state machine, ioeventfd and interrupts.
 *
 * It runs on the device owner's thread, which serves the vCPUs' synchronous
 * exits; queue processing happens wherever the device model puts it (an I/O
 * thread). Everything the guest writes is validated or ignored here, never
 * thrown: a bad value is ignored as QEMU ignores it, or marks the device
 * broken (NEEDS_RESET with a configuration interrupt).
 *
 * ioeventfd follows QEMU exactly: bound when the driver sets DRIVER_OK (each
 * queue's notifier set first, then bound to its doorbell; the model then
 * looks at each queue once), unbound when status is written without
 * DRIVER_OK, on reset, when bus mastering is cleared and when the VM stops
 * — unbind first, wait out the vCPUs, then the model test-and-clears each
 * notifier and handles it (see ioeventfd.ts). Start and stop are idempotent.
 * A doorbell whose binding failed (the table is full) is handled
 * synchronously instead, and recorded.
 */
import { VirtioError } from '../errors.js';
import { QUEUE_FEATURES, VIRTIO_F_VERSION_1, featureBit } from '../queue/features.js';
import { MAX_QUEUE_SIZE } from '../queue/layout.js';
import type { InterruptRoutesHandle } from './interrupt-router.js';
import type { IoEventFdTable } from './ioeventfd.js';
import {
  BAR_LEGACY,
  BAR_MODERN,
  BAR_MODERN_SIZE,
  BAR_MSIX,
  BAR_MSIX_SIZE,
  CAP_MSIX,
  COMMON_CFGGENERATION,
  COMMON_DF,
  COMMON_DFSELECT,
  COMMON_GF,
  COMMON_GFSELECT,
  COMMON_MSIX,
  COMMON_NUMQ,
  COMMON_Q_AVAILHI,
  COMMON_Q_AVAILLO,
  COMMON_Q_DESCHI,
  COMMON_Q_DESCLO,
  COMMON_Q_ENABLE,
  COMMON_Q_MSIX,
  COMMON_Q_NOFF,
  COMMON_Q_SELECT,
  COMMON_Q_SIZE,
  COMMON_Q_USEDHI,
  COMMON_Q_USEDLO,
  COMMON_STATUS,
  LEGACY_CONFIG,
  LEGACY_CONFIG_MSIX,
  LEGACY_GUEST_FEATURES,
  LEGACY_HOST_FEATURES,
  LEGACY_ISR,
  LEGACY_MSIX_CONFIG_VECTOR,
  LEGACY_MSIX_QUEUE_VECTOR,
  LEGACY_PFN_SHIFT,
  LEGACY_QUEUE_NOTIFY,
  LEGACY_QUEUE_NUM,
  LEGACY_QUEUE_PFN,
  LEGACY_QUEUE_SEL,
  LEGACY_STATUS,
  LEGACY_VRING_ALIGN,
  MODERN_COMMON_OFFSET,
  MODERN_COMMON_SIZE,
  MODERN_DEVICE_OFFSET,
  MODERN_DEVICE_SIZE,
  MODERN_ISR_OFFSET,
  MODERN_ISR_SIZE,
  MODERN_NOTIFY_OFFSET,
  MODERN_NOTIFY_SIZE,
  MSIX_CAP_CONTROL,
  MSIX_CAP_PBA,
  MSIX_CAP_TABLE,
  MSIX_CONTROL_ENABLE,
  MSIX_CONTROL_MASKALL,
  MSIX_ENTRY_CTRL,
  MSIX_ENTRY_CTRL_MASKED,
  MSIX_ENTRY_SIZE,
  MSIX_MAX_VECTORS,
  MSIX_PBA_OFFSET,
  NOTIFY_OFF_MULTIPLIER,
  NO_VECTOR,
  PCI_BASE_ADDRESS_0,
  PCI_CAP_ID_MSIX,
  PCI_CAP_ID_VNDR,
  PCI_COMMAND,
  PCI_COMMAND_MASTER,
  PCI_NUM_BARS,
  STATUS_DRIVER_OK,
  STATUS_FAILED,
  STATUS_FEATURES_OK,
  STATUS_NEEDS_RESET,
  type TransportMemory,
  VIRTIO_CAP_BAR,
  VIRTIO_CAP_CFG_TYPE,
  VIRTIO_CAP_LENGTH,
  VIRTIO_CAP_NOTIFY_MULTIPLIER,
  VIRTIO_CAP_OFFSET,
  VIRTIO_PCI_CAP_COMMON_CFG,
  VIRTIO_PCI_CAP_DEVICE_CFG,
  VIRTIO_PCI_CAP_ISR_CFG,
  VIRTIO_PCI_CAP_NOTIFY_CFG,
  VIRTIO_PCI_DEVICE_ID_MODERN_BASE,
  VIRTIO_PCI_TRANSITIONAL_IDS,
  VIRTIO_PCI_VENDOR,
  transportLayout,
} from './layout.js';
import { PciConfigSpace } from './pci-config-space.js';
import { TransportLink, type TransportLinkHandle } from './transport-link.js';
import type { QueueConfig, VirtioDeviceModel } from './virtio-device.js';

const VERSION_1 = featureBit(VIRTIO_F_VERSION_1);
const LO32 = 0xffffffffn;

/** Something that happened in the transport, for traces and logs. */
export type TransportEvent =
  | { readonly type: 'status'; readonly status: number }
  | { readonly type: 'start' }
  | { readonly type: 'stop' }
  | { readonly type: 'reset' }
  | { readonly type: 'ioeventfd'; readonly bound: boolean; readonly registrations: number }
  | { readonly type: 'ioeventfd-fallback'; readonly queue: number; readonly reason: string }
  | { readonly type: 'broken'; readonly reason: string }
  | { readonly type: 'features-refused'; readonly driver: bigint; readonly device: bigint };

/** Options of a {@link VirtioPciDevice}. */
export interface VirtioPciOptions {
  readonly model: VirtioDeviceModel;
  /** Where its interrupts go (MSI routes per vCPU and vector, the INTx line). */
  readonly routes: InterruptRoutesHandle;
  /** Transitional (legacy I/O BAR0 and modern BAR4, device id 0x1000-range; QEMU's default on PCI) or modern-only (0x1040 + type). Default true. */
  readonly transitional?: boolean;
  /** The `ioeventfd` property (default true). Needs `ioeventfds`. */
  readonly ioeventfd?: boolean;
  /** The machine's ioeventfd table. */
  readonly ioeventfds?: IoEventFdTable;
  /** MSI-X vectors (default queues + 1, at most 128). */
  readonly vectors?: number;
  /** PCI class code (default by device type: 0x010000 storage for blk, 0x020000 network, else 0xff0000). */
  readonly classCode?: number;
  /** Trace of transport events. */
  readonly onEvent?: (event: TransportEvent) => void;
}

interface QueueState {
  size: number;
  enabled: boolean;
  desc: number;
  avail: number;
  used: number;
}

/** A snapshot of the transport's state (for monitors and tests). */
export interface VirtioPciState {
  readonly status: number;
  readonly deviceFeatures: bigint;
  readonly driverFeatures: bigint;
  readonly running: boolean;
  readonly vmRunning: boolean;
  readonly ioeventfd: 'disabled' | 'bound' | 'unbound';
  /** Queues whose doorbells are handled synchronously although ioeventfd is on, and why. */
  readonly fallback: readonly { readonly queue: number; readonly reason: string }[];
  readonly brokenReason: string | undefined;
  /** Synchronous doorbells (exits that carried a queue notify). */
  readonly syncNotifies: number;
  /** Doorbells ignored: queue index out of range, or the device not running. */
  readonly ignoredNotifies: number;
}

const DEFAULT_CLASS: Readonly<Record<number, number>> = { 1: 0x020000, 2: 0x010000 };

/**
 * One virtio-pci function.
 * @thread home: the device owner's thread (the one that serves exits)
 */
export class VirtioPciDevice {
  readonly config: PciConfigSpace;
  /** The owner's own link: interrupts raised from this thread, the broken flag. */
  readonly link: TransportLink;
  readonly model: VirtioDeviceModel;
  readonly transitional: boolean;
  readonly vectors: number;
  private readonly mem: TransportMemory;
  private readonly routes: InterruptRoutesHandle;
  private readonly hostFeatures: bigint;
  private readonly ioeventfdOn: boolean;
  private readonly table: IoEventFdTable | undefined;
  private readonly onEvent: ((e: TransportEvent) => void) | undefined;
  private readonly queues: QueueState[];
  private status = 0;
  private dfselect = 0;
  private gfselect = 0;
  private driverFeatures = 0n;
  private queueSel = 0;
  private generation = 0;
  private running = false;
  private vmRunning = true;
  private bound: number[] = [];
  private fallback = new Map<number, string>();
  private syncNotifies = 0;
  private ignoredNotifies = 0;
  /** Serialises start/stop: a reconcile waits for the one in flight. */
  private reconciling: Promise<void> = Promise.resolve();

  constructor(options: VirtioPciOptions) {
    const m = options.model;
    this.model = m;
    if (!Number.isInteger(m.numQueues) || m.numQueues < 1 || m.numQueues > 1024) throw new VirtioError('ERR_INVALID_ARGUMENT', 'a device needs 1 … 1024 queues');
    if (!Number.isInteger(m.queueMaxSize) || m.queueMaxSize < 1 || m.queueMaxSize > MAX_QUEUE_SIZE || (m.queueMaxSize & (m.queueMaxSize - 1)) !== 0) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `queueMaxSize must be a power of two ≤ ${MAX_QUEUE_SIZE}`);
    }
    this.transitional = options.transitional ?? true;
    if (this.transitional && VIRTIO_PCI_TRANSITIONAL_IDS[m.deviceType] === undefined) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `device type ${m.deviceType} has no transitional id; use transitional: false`);
    }
    this.vectors = options.vectors ?? Math.min(MSIX_MAX_VECTORS, m.numQueues + 1);
    if (!Number.isInteger(this.vectors) || this.vectors < 1 || this.vectors > MSIX_MAX_VECTORS) throw new VirtioError('ERR_INVALID_ARGUMENT', `vectors must be in [1, ${MSIX_MAX_VECTORS}]`);
    this.ioeventfdOn = options.ioeventfd ?? true;
    this.table = options.ioeventfds;
    if (this.ioeventfdOn && this.table === undefined) throw new VirtioError('ERR_INVALID_ARGUMENT', 'ioeventfd needs the machine ioeventfd table (ioeventfds)');
    this.onEvent = options.onEvent;
    this.routes = options.routes;
    this.hostFeatures = m.features | QUEUE_FEATURES;
    this.mem = transportLayout({ queues: m.numQueues, vectors: this.vectors }).create();
    // The owner raises interrupts (config changes, MSI-X unmask) through a link like any other thread.
    this.link = TransportLink.open(this.linkHandle);
    this.queues = Array.from({ length: m.numQueues }, () => ({ size: m.queueMaxSize, enabled: false, desc: 0, avail: 0, used: 0 }));
    this.config = this.buildConfigSpace(options.classCode ?? DEFAULT_CLASS[m.deviceType] ?? 0xff0000);
    this.resetShared();
  }

  private buildConfigSpace(classCode: number): PciConfigSpace {
    const m = this.model;
    const cs = new PciConfigSpace({
      vendorId: VIRTIO_PCI_VENDOR,
      deviceId: this.transitional ? VIRTIO_PCI_TRANSITIONAL_IDS[m.deviceType]! : VIRTIO_PCI_DEVICE_ID_MODERN_BASE + m.deviceType,
      revision: this.transitional ? 0 : 1,
      classCode,
      subsystemVendorId: VIRTIO_PCI_VENDOR,
      subsystemId: m.deviceType,
      interruptPin: 1,
    });
    if (this.transitional) cs.defineBar({ index: BAR_LEGACY, kind: 'io', size: pow2AtLeast(LEGACY_CONFIG_MSIX + m.configSize) });
    cs.defineBar({ index: BAR_MSIX, kind: 'mem32', size: BAR_MSIX_SIZE });
    cs.defineBar({ index: BAR_MODERN, kind: 'mem64', size: BAR_MODERN_SIZE, prefetchable: true });
    const cap = (type: number, offset: number, length: number, extra = 0): number => {
      const at = cs.addCapability(PCI_CAP_ID_VNDR, 16 + extra);
      cs.setField(at + 2, 1, 16 + extra);
      cs.setField(at + VIRTIO_CAP_CFG_TYPE, 1, type);
      cs.setField(at + VIRTIO_CAP_BAR, 1, BAR_MODERN);
      cs.setField(at + VIRTIO_CAP_OFFSET, 4, offset);
      cs.setField(at + VIRTIO_CAP_LENGTH, 4, length);
      return at;
    };
    cap(VIRTIO_PCI_CAP_COMMON_CFG, MODERN_COMMON_OFFSET, MODERN_COMMON_SIZE);
    cap(VIRTIO_PCI_CAP_ISR_CFG, MODERN_ISR_OFFSET, MODERN_ISR_SIZE);
    cap(VIRTIO_PCI_CAP_DEVICE_CFG, MODERN_DEVICE_OFFSET, MODERN_DEVICE_SIZE);
    const notify = cap(VIRTIO_PCI_CAP_NOTIFY_CFG, MODERN_NOTIFY_OFFSET, MODERN_NOTIFY_SIZE, 4);
    cs.setField(notify + VIRTIO_CAP_NOTIFY_MULTIPLIER, 4, NOTIFY_OFF_MULTIPLIER);
    const msix = cs.addCapability(PCI_CAP_ID_MSIX, 12);
    if (msix !== CAP_MSIX) throw new Error(`virtio: invariant: MSI-X capability at 0x${msix.toString(16)}, layout says 0x${CAP_MSIX.toString(16)}`);
    cs.setField(msix + MSIX_CAP_CONTROL, 2, this.vectors - 1);
    cs.setWritable(msix + MSIX_CAP_CONTROL, 2, MSIX_CONTROL_ENABLE | MSIX_CONTROL_MASKALL);
    cs.setField(msix + MSIX_CAP_TABLE, 4, 0 | BAR_MSIX);
    cs.setField(msix + MSIX_CAP_PBA, 4, MSIX_PBA_OFFSET | BAR_MSIX);
    return cs;
  }

  /** For the threads that process this device's queues: `TransportLink.open(handle)`. */
  get linkHandle(): TransportLinkHandle {
    return {
      kind: 'vmloop.virtio-pci-link',
      version: 1,
      queues: this.model.numQueues,
      vectors: this.vectors,
      memory: { buffer: this.mem.buffer, byteOffset: this.mem.byteOffset },
      routes: this.routes,
    };
  }

  get state(): VirtioPciState {
    return {
      status: this.readStatus(),
      deviceFeatures: this.hostFeatures,
      driverFeatures: this.driverFeatures,
      running: this.running,
      vmRunning: this.vmRunning,
      ioeventfd: !this.ioeventfdOn ? 'disabled' : this.bound.length > 0 ? 'bound' : 'unbound',
      fallback: [...this.fallback].map(([queue, reason]) => ({ queue, reason })),
      brokenReason: this.link.brokenReason(),
      syncNotifies: this.syncNotifies,
      ignoredNotifies: this.ignoredNotifies,
    };
  }

  // ---------------------------------------------------------------- configuration space

  /** Guest read of configuration space. */
  configRead(offset: number, size: number): number {
    return this.config.read(offset, size);
  }

  /**
   * Guest write of configuration space (QEMU virtio_write_config): mirrors
   * the command register and MSI-X control into shared memory; clearing
   * bus mastering stops the device (and clears DRIVER_OK, as QEMU does);
   * a BAR that moved while ioeventfds are bound moves them.
   */
  configWrite(offset: number, size: number, value: number): void | Promise<void> {
    const cs = this.config;
    const oldCmd = cs.command;
    const oldMsix = cs.field(CAP_MSIX + MSIX_CAP_CONTROL, 2);
    const oldBars = this.barAddresses();
    cs.write(offset, size, value);
    const cmd = cs.command;
    const msix = cs.field(CAP_MSIX + MSIX_CAP_CONTROL, 2);
    this.mem.command.store(cmd);
    this.mem.msixControl.store(msix);
    if (msix !== oldMsix && (msix & MSIX_CONTROL_ENABLE) !== 0 && (msix & MSIX_CONTROL_MASKALL) === 0) {
      for (let v = 0; v < this.vectors; v++) this.link.deliverPending(v);
    }
    if ((oldCmd & PCI_COMMAND_MASTER) !== 0 && (cmd & PCI_COMMAND_MASTER) === 0 && (this.status & STATUS_DRIVER_OK) !== 0) {
      this.status &= ~STATUS_DRIVER_OK;
      this.onEvent?.({ type: 'status', status: this.status });
      return this.reconcile();
    }
    const bars = this.barAddresses();
    if (this.bound.length > 0 && bars.some((a, i) => a !== oldBars[i])) return this.rebind();
    if (offset <= PCI_COMMAND && PCI_COMMAND < offset + size && cmd !== oldCmd && this.running && this.ioeventfdOn && this.bound.length === 0) {
      // Decoding just came on for a running device: bind what was not bound.
      return this.rebind();
    }
  }

  private barAddresses(): (number | undefined)[] {
    return Array.from({ length: PCI_NUM_BARS }, (_, i) => this.config.barAddress(i));
  }

  // ---------------------------------------------------------------- BAR access

  /** Guest read of BAR `bar` at `offset` (1, 2 or 4 bytes). Never throws for guest input. */
  barRead(bar: number, offset: number, size: number): number {
    switch (bar) {
      case BAR_MODERN:
        return this.modernRead(offset, size);
      case BAR_MSIX:
        return this.msixRead(offset, size);
      case BAR_LEGACY:
        return this.transitional ? this.legacyRead(offset, size) : ones(size);
      default:
        return ones(size);
    }
  }

  /** Guest write of BAR `bar`; may return a promise (status writes that start or stop the device). */
  barWrite(bar: number, offset: number, size: number, value: number): void | Promise<void> {
    switch (bar) {
      case BAR_MODERN:
        return this.modernWrite(offset, size, value);
      case BAR_MSIX:
        return this.msixWrite(offset, size, value);
      case BAR_LEGACY:
        if (this.transitional) return this.legacyWrite(offset, size, value);
        return;
      default:
        return;
    }
  }

  private modernRead(offset: number, size: number): number {
    if (offset < MODERN_COMMON_OFFSET + MODERN_COMMON_SIZE) return this.commonRead(offset);
    if (offset < MODERN_ISR_OFFSET + MODERN_ISR_SIZE) return offset === MODERN_ISR_OFFSET ? this.readIsr() : 0;
    if (offset < MODERN_DEVICE_OFFSET + MODERN_DEVICE_SIZE) return this.deviceConfigRead(offset - MODERN_DEVICE_OFFSET, size);
    return 0; // notify region reads as 0 (QEMU virtio_pci_notify_read)
  }

  private modernWrite(offset: number, size: number, value: number): void | Promise<void> {
    if (offset < MODERN_COMMON_OFFSET + MODERN_COMMON_SIZE) return this.commonWrite(offset, size, value);
    if (offset < MODERN_ISR_OFFSET + MODERN_ISR_SIZE) return; // ISR is read-only
    if (offset < MODERN_DEVICE_OFFSET + MODERN_DEVICE_SIZE) return this.deviceConfigWrite(offset - MODERN_DEVICE_OFFSET, size, value);
    if (offset < MODERN_NOTIFY_OFFSET + MODERN_NOTIFY_SIZE) {
      const rel = offset - MODERN_NOTIFY_OFFSET;
      if (rel % NOTIFY_OFF_MULTIPLIER === 0) this.syncNotify(rel / NOTIFY_OFF_MULTIPLIER);
      else this.ignoredNotifies++;
    }
  }

  private commonRead(offset: number): number {
    const q = this.queues[this.queueSel];
    switch (offset) {
      case COMMON_DFSELECT:
        return this.dfselect;
      case COMMON_DF:
        return this.dfselect === 0 ? Number(this.hostFeatures & LO32) : this.dfselect === 1 ? Number((this.hostFeatures >> 32n) & LO32) : 0;
      case COMMON_GFSELECT:
        return this.gfselect;
      case COMMON_GF:
        return this.gfselect === 0 ? Number(this.driverFeatures & LO32) : this.gfselect === 1 ? Number((this.driverFeatures >> 32n) & LO32) : 0;
      case COMMON_MSIX:
        return this.mem.configVector.load();
      case COMMON_NUMQ:
        return this.model.numQueues;
      case COMMON_STATUS:
        return this.readStatus();
      case COMMON_CFGGENERATION:
        return this.generation & 0xff;
      case COMMON_Q_SELECT:
        return this.queueSel;
      case COMMON_Q_SIZE:
        return q?.size ?? 0;
      case COMMON_Q_MSIX:
        return q === undefined ? NO_VECTOR : this.mem.queueVector.load(this.queueSel);
      case COMMON_Q_ENABLE:
        return q?.enabled ? 1 : 0;
      case COMMON_Q_NOFF:
        return q === undefined ? 0 : this.queueSel;
      case COMMON_Q_DESCLO:
        return lo(q?.desc ?? 0);
      case COMMON_Q_DESCHI:
        return hi(q?.desc ?? 0);
      case COMMON_Q_AVAILLO:
        return lo(q?.avail ?? 0);
      case COMMON_Q_AVAILHI:
        return hi(q?.avail ?? 0);
      case COMMON_Q_USEDLO:
        return lo(q?.used ?? 0);
      case COMMON_Q_USEDHI:
        return hi(q?.used ?? 0);
      default:
        return 0;
    }
  }

  private commonWrite(offset: number, _size: number, value: number): void | Promise<void> {
    const v = value >>> 0;
    const q = this.queues[this.queueSel];
    // Queue configuration is frozen once the queue is enabled or the device runs (4.1.4.3.2).
    const qWritable = q !== undefined && !q.enabled && (this.status & STATUS_DRIVER_OK) === 0;
    switch (offset) {
      case COMMON_DFSELECT:
        this.dfselect = v;
        return;
      case COMMON_GFSELECT:
        this.gfselect = v;
        return;
      case COMMON_GF:
        // Ignored once FEATURES_OK is set (QEMU virtio_set_features: -EINVAL).
        if ((this.status & STATUS_FEATURES_OK) !== 0) return;
        if (this.gfselect === 0) this.driverFeatures = (this.driverFeatures & ~LO32) | BigInt(v);
        else if (this.gfselect === 1) this.driverFeatures = (this.driverFeatures & LO32) | (BigInt(v) << 32n);
        return;
      case COMMON_MSIX:
        this.mem.configVector.store(this.checkVector(v));
        return;
      case COMMON_STATUS:
        return this.writeStatus(v & 0xff);
      case COMMON_Q_SELECT:
        this.queueSel = v & 0xffff;
        return;
      case COMMON_Q_SIZE:
        if (qWritable) q.size = v & 0xffff;
        return;
      case COMMON_Q_MSIX:
        if (q !== undefined) this.mem.queueVector.store(this.queueSel, this.checkVector(v & 0xffff));
        return;
      case COMMON_Q_ENABLE:
        if (qWritable && v === 1) q.enabled = true;
        return;
      case COMMON_Q_DESCLO:
        if (qWritable) q.desc = setLo(q.desc, v);
        return;
      case COMMON_Q_DESCHI:
        if (qWritable) q.desc = setHi(q.desc, v);
        return;
      case COMMON_Q_AVAILLO:
        if (qWritable) q.avail = setLo(q.avail, v);
        return;
      case COMMON_Q_AVAILHI:
        if (qWritable) q.avail = setHi(q.avail, v);
        return;
      case COMMON_Q_USEDLO:
        if (qWritable) q.used = setLo(q.used, v);
        return;
      case COMMON_Q_USEDHI:
        if (qWritable) q.used = setHi(q.used, v);
        return;
      default:
        return; // read-only or reserved
    }
  }

  /** QEMU: a vector beyond the table reads back as NO_VECTOR, so the driver sees it was refused. */
  private checkVector(v: number): number {
    return v < this.vectors ? v : NO_VECTOR;
  }

  private deviceConfigRead(offset: number, size: number): number {
    if (!inRange(offset, size, this.model.configSize)) return ones(size);
    return this.model.readConfig(offset, size) >>> 0;
  }

  private deviceConfigWrite(offset: number, size: number, value: number): void {
    if (!inRange(offset, size, this.model.configSize)) return;
    this.model.writeConfig(offset, size, value);
  }

  private readIsr(): number {
    // Read-to-clear (4.1.4.5); deasserts INTx.
    return this.mem.isr.exchange(0) & 0xff;
  }

  private readStatus(): number {
    // NEEDS_RESET is the device's; QEMU shows it only to VERSION_1 drivers.
    const broken = this.link.brokenReason() !== undefined && (this.driverFeatures & VERSION_1) !== 0n;
    return this.status | (broken ? STATUS_NEEDS_RESET : 0);
  }

  // ---------------------------------------------------------------- MSI-X table

  private msixRead(offset: number, size: number): number {
    if (size !== 4 || offset % 4 !== 0) return 0;
    if (offset < this.vectors * MSIX_ENTRY_SIZE) return this.mem.msixTable.load(offset >>> 2) >>> 0;
    const pba = offset - MSIX_PBA_OFFSET;
    if (pba >= 0 && pba < Math.ceil(this.vectors / 32) * 4) return this.mem.msixPba.load(pba >>> 2) >>> 0;
    return 0;
  }

  private msixWrite(offset: number, size: number, value: number): void {
    if (size !== 4 || offset % 4 !== 0 || offset >= this.vectors * MSIX_ENTRY_SIZE) return; // PBA is read-only
    const word = offset >>> 2;
    const t = this.mem.msixTable;
    const was = t.load(word);
    const v = (offset % MSIX_ENTRY_SIZE === MSIX_ENTRY_CTRL ? value & MSIX_ENTRY_CTRL_MASKED : value) | 0;
    t.store(word, v);
    // Unmasking a vector sends what was held pending (PCI 3.0 6.8.3.5).
    if (offset % MSIX_ENTRY_SIZE === MSIX_ENTRY_CTRL && (was & MSIX_ENTRY_CTRL_MASKED) !== 0 && (v & MSIX_ENTRY_CTRL_MASKED) === 0) {
      this.link.deliverPending(offset >>> 4);
    }
  }

  // ---------------------------------------------------------------- legacy I/O (BAR0)

  private legacyConfigBase(): number {
    return this.link.msixEnabled() ? LEGACY_CONFIG_MSIX : LEGACY_CONFIG;
  }

  private legacyRead(offset: number, size: number): number {
    const base = this.legacyConfigBase();
    if (offset >= base) return this.deviceConfigRead(offset - base, size);
    const q = this.queues[this.queueSel];
    switch (offset) {
      case LEGACY_HOST_FEATURES:
        return Number(this.hostFeatures & LO32);
      case LEGACY_GUEST_FEATURES:
        return Number(this.driverFeatures & LO32);
      case LEGACY_QUEUE_PFN:
        return q === undefined ? 0 : Math.floor(q.desc / 2 ** LEGACY_PFN_SHIFT);
      case LEGACY_QUEUE_NUM:
        return q === undefined ? 0 : this.model.queueMaxSize;
      case LEGACY_QUEUE_SEL:
        return this.queueSel;
      case LEGACY_STATUS:
        return this.readStatus();
      case LEGACY_ISR:
        return this.readIsr();
      case LEGACY_MSIX_CONFIG_VECTOR:
        return this.mem.configVector.load();
      case LEGACY_MSIX_QUEUE_VECTOR:
        return q === undefined ? NO_VECTOR : this.mem.queueVector.load(this.queueSel);
      default:
        return 0;
    }
  }

  private legacyWrite(offset: number, size: number, value: number): void | Promise<void> {
    const base = this.legacyConfigBase();
    if (offset >= base) return this.deviceConfigWrite(offset - base, size, value);
    const v = value >>> 0;
    const q = this.queues[this.queueSel];
    switch (offset) {
      case LEGACY_GUEST_FEATURES:
        // Legacy drivers set features at once; bits not offered are dropped (QEMU virtio_ioport_write).
        this.driverFeatures = BigInt(v) & this.hostFeatures & LO32;
        return;
      case LEGACY_QUEUE_PFN: {
        if (v === 0) return this.writeStatus(0); // QEMU: a zero PFN resets the device
        if (q === undefined || (this.status & STATUS_DRIVER_OK) !== 0) return;
        // Legacy ring layout (virtio 0.9.5): avail right after the descriptors, used at the next 4096.
        const size = this.model.queueMaxSize;
        q.size = size;
        q.desc = v * 2 ** LEGACY_PFN_SHIFT;
        q.avail = q.desc + 16 * size;
        q.used = Math.ceil((q.avail + 6 + 2 * size) / LEGACY_VRING_ALIGN) * LEGACY_VRING_ALIGN;
        q.enabled = true;
        return;
      }
      case LEGACY_QUEUE_SEL:
        this.queueSel = v & 0xffff;
        return;
      case LEGACY_QUEUE_NOTIFY:
        this.syncNotify(v & 0xffff);
        return;
      case LEGACY_STATUS:
        return this.writeStatus(v & 0xff);
      case LEGACY_MSIX_CONFIG_VECTOR:
        if (this.link.msixEnabled()) this.mem.configVector.store(this.checkVector(v & 0xffff));
        return;
      case LEGACY_MSIX_QUEUE_VECTOR:
        if (this.link.msixEnabled() && q !== undefined) this.mem.queueVector.store(this.queueSel, this.checkVector(v & 0xffff));
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- doorbells

  /** A doorbell write that arrived as a synchronous exit (QEMU virtio_queue_notify). */
  private syncNotify(q: number): void {
    if (q >= this.model.numQueues || !this.running) {
      this.ignoredNotifies++;
      return;
    }
    this.syncNotifies++;
    this.model.notify(q);
  }

  // ---------------------------------------------------------------- status

  private writeStatus(val: number): Promise<void> {
    if (val === 0) return this.reset();
    let v = val & ~STATUS_NEEDS_RESET; // the driver cannot set NEEDS_RESET
    if ((v & STATUS_FEATURES_OK) !== 0 && (this.status & STATUS_FEATURES_OK) === 0 && !this.featuresAcceptable()) {
      // QEMU virtio_set_status: FEATURES_OK is not accepted; the driver reads it back clear (3.1.1).
      v &= ~STATUS_FEATURES_OK;
      this.onEvent?.({ type: 'features-refused', driver: this.driverFeatures, device: this.hostFeatures });
    }
    this.status = v;
    this.onEvent?.({ type: 'status', status: v });
    return this.reconcile();
  }

  /** 2.2.2: the driver accepts only offered features; a modern-only device needs VERSION_1. */
  private featuresAcceptable(): boolean {
    if ((this.driverFeatures & ~this.hostFeatures) !== 0n) return false;
    return this.transitional || (this.driverFeatures & VERSION_1) !== 0n;
  }

  private wantRunning(): boolean {
    return (this.status & STATUS_DRIVER_OK) !== 0 && (this.status & STATUS_FAILED) === 0 && this.vmRunning;
  }

  /** Brings the device to the state status and the VM ask for; one start/stop at a time. */
  private reconcile(): Promise<void> {
    const next = this.reconciling.then(() => this.reconcileNow());
    this.reconciling = next.catch(() => {});
    return next;
  }

  private async reconcileNow(): Promise<void> {
    const want = this.wantRunning();
    if (this.running && !want) {
      await this.unbindIoeventfds();
      this.running = false;
      this.onEvent?.({ type: 'stop' });
      await this.model.stop();
    } else if (!this.running && want) {
      const modern = (this.driverFeatures & VERSION_1) !== 0n;
      if (modern && (this.status & STATUS_FEATURES_OK) === 0) {
        this.markBroken('driver set DRIVER_OK without FEATURES_OK');
        return;
      }
      if (this.link.brokenReason() !== undefined) return; // broken until reset
      this.running = true;
      this.bindIoeventfds();
      this.onEvent?.({ type: 'start' });
      await this.model.start({ features: this.driverFeatures, queues: this.queueConfigs(), link: this.linkHandle });
    }
  }

  private queueConfigs(): QueueConfig[] {
    return this.queues.map((q, index) => ({ index, enabled: q.enabled, size: q.size, descTable: q.desc, availRing: q.avail, usedRing: q.used }));
  }

  /** Marks the device broken from the owner thread (QEMU virtio_error). */
  markBroken(reason: string): void {
    if (this.link.setBroken(reason)) this.onEvent?.({ type: 'broken', reason });
  }

  // ---------------------------------------------------------------- ioeventfd

  /** QEMU virtio_pci_start_ioeventfd: notifier set, then bound, for every enabled queue. Idempotent. */
  private bindIoeventfds(): void {
    if (!this.ioeventfdOn || this.bound.length > 0 || this.table === undefined) return;
    const table = this.table;
    const modern = this.config.barAddress(BAR_MODERN);
    const legacy = this.transitional ? this.config.barAddress(BAR_LEGACY) : undefined;
    this.fallback.clear();
    for (let q = 0; q < this.queues.length; q++) {
      if (!this.queues[q]!.enabled) continue;
      const n = this.model.hostNotifier(q);
      if (n === undefined) {
        this.recordFallback(q, 'the device has no host notifier for this queue');
        continue;
      }
      // "Assign each queue's notifier already set": requests already in the
      // ring are picked up even if their kick went the synchronous way.
      table.notifier(n).set();
      const regs = [
        ...(modern === undefined ? [] : [{ space: 'mmio' as const, address: modern + MODERN_NOTIFY_OFFSET + q * NOTIFY_OFF_MULTIPLIER, size: 0 }]),
        ...(legacy === undefined ? [] : [{ space: 'pio' as const, address: legacy + LEGACY_QUEUE_NOTIFY, size: 2, data: q }]),
      ];
      for (const r of regs) {
        const id = table.assign({ ...r, notifier: n });
        if (id === undefined) this.recordFallback(q, 'ioeventfd table full: doorbell handled synchronously (slower)');
        else this.bound.push(id);
      }
    }
    this.onEvent?.({ type: 'ioeventfd', bound: true, registrations: this.bound.length });
  }

  private recordFallback(q: number, reason: string): void {
    this.fallback.set(q, reason);
    this.onEvent?.({ type: 'ioeventfd-fallback', queue: q, reason });
  }

  /** QEMU virtio_pci_stop_ioeventfd: unbind, then wait out the vCPUs (the model test-and-clears). Idempotent. */
  private async unbindIoeventfds(): Promise<void> {
    if (this.bound.length === 0 || this.table === undefined) return;
    for (const id of this.bound) this.table.unbind(id);
    const n = this.bound.length;
    this.bound = [];
    await this.table.quiesce();
    this.onEvent?.({ type: 'ioeventfd', bound: false, registrations: n });
  }

  /** A BAR moved (or decoding came on) while the device runs: move the bindings. Kicks stay with the attached handlers. */
  private rebind(): Promise<void> {
    const next = this.reconciling.then(async () => {
      if (!this.running) return;
      await this.unbindIoeventfds();
      this.bindIoeventfds();
    });
    this.reconciling = next.catch(() => {});
    return next;
  }

  // ---------------------------------------------------------------- reset and VM state

  /** Device reset (status 0; QEMU virtio_pci_reset): stop, reset the model and the transport's virtio state. */
  async reset(): Promise<void> {
    this.status = 0;
    await this.reconcile();
    this.model.reset();
    this.dfselect = 0;
    this.gfselect = 0;
    this.driverFeatures = 0n;
    this.queueSel = 0;
    for (const q of this.queues) Object.assign(q, { size: this.model.queueMaxSize, enabled: false, desc: 0, avail: 0, used: 0 });
    this.fallback.clear();
    this.resetShared();
    this.generation++;
    this.onEvent?.({ type: 'reset' });
  }

  /** System reset (QEMU qemu_system_reset → pci_device_reset): also clears command, BARs and MSI-X. */
  async systemReset(): Promise<void> {
    await this.reset();
    const cs = this.config;
    cs.write(PCI_COMMAND, 2, 0);
    for (let i = 0; i < PCI_NUM_BARS; i++) {
      const def = cs.bar(i);
      if (def === undefined) continue;
      cs.write(PCI_BASE_ADDRESS_0 + i * 4, 4, 0);
      if (def.kind === 'mem64') cs.write(PCI_BASE_ADDRESS_0 + (i + 1) * 4, 4, 0);
    }
    cs.write(CAP_MSIX + MSIX_CAP_CONTROL, 2, 0);
    this.mem.command.store(0);
    this.mem.msixControl.store(0);
    for (let v = 0; v < this.vectors; v++) {
      this.mem.msixTable.store(v * 4, 0);
      this.mem.msixTable.store(v * 4 + 1, 0);
      this.mem.msixTable.store(v * 4 + 2, 0);
      this.mem.msixTable.store(v * 4 + 3, MSIX_ENTRY_CTRL_MASKED);
    }
  }

  /** The VM stops (QMP `stop`; QEMU virtio_vmstate_change): ioeventfd unbound, the device stopped. */
  vmStop(): Promise<void> {
    this.vmRunning = false;
    return this.reconcile();
  }

  /** The VM resumes (QMP `cont`): a device with DRIVER_OK starts again and rebinds its ioeventfds. */
  vmResume(): Promise<void> {
    this.vmRunning = true;
    return this.reconcile();
  }

  private resetShared(): void {
    const m = this.mem;
    m.isr.store(0);
    m.broken.store(0);
    m.reasonLength.store(0);
    m.configVector.store(NO_VECTOR);
    for (let q = 0; q < this.model.numQueues; q++) m.queueVector.store(q, NO_VECTOR);
    for (let i = 0; i < m.msixPba.length; i++) m.msixPba.store(i, 0);
  }
}

function ones(size: number): number {
  return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
}
function inRange(offset: number, size: number, limit: number): boolean {
  return (size === 1 || size === 2 || size === 4) && offset >= 0 && offset + size <= limit;
}
function pow2AtLeast(n: number): number {
  let p = 4;
  while (p < n) p *= 2;
  return p;
}
function lo(a: number): number {
  return a >>> 0;
}
function hi(a: number): number {
  return Math.floor(a / 2 ** 32) >>> 0;
}
function setLo(a: number, v: number): number {
  return hi(a) * 2 ** 32 + v;
}
function setHi(a: number, v: number): number {
  // An address at or above 2^53 cannot be exact in a double, and lies outside
  // any guest memory: keep it invalid (the queue then fails validation)
  // rather than let rounding turn it into a valid one.
  return v >= 0x200000 ? Number.MAX_SAFE_INTEGER : v * 2 ** 32 + lo(a);
}
