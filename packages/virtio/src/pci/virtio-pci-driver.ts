/**
 * The driver side of virtio-pci, as a guest kernel does it (Linux
 * drivers/virtio/virtio_pci_modern.c and virtio_pci_legacy.c over
 * drivers/pci probing): enumerate bus 0 through configuration mechanism #1,
 * size and program the BARs, find the virtio capabilities, run the
 * initialisation sequence of 3.1.1 (reset, ACKNOWLEDGE, DRIVER, features,
 * FEATURES_OK, queues, DRIVER_OK), program MSI-X, and ring doorbells.
 *
 * It touches the device only through a {@link GuestIo} (the vCPU's address
 * space: every access is an MMIO/PIO access, never a call into the device
 * model). Exported from `@vmloop/virtio/testing` for tests, fuzzers and the
 * demo VM's guest.
 */
import { VirtioError } from '../errors.js';
import { PCI_CONFIG_ADDRESS, PCI_CONFIG_DATA } from './pci-bus.js';
import {
  BAR_LEGACY,
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
  MSIX_CAP_CONTROL,
  MSIX_CAP_TABLE,
  MSIX_CONTROL_ENABLE,
  MSIX_ENTRY_ADDR_HI,
  MSIX_ENTRY_ADDR_LO,
  MSIX_ENTRY_CTRL,
  MSIX_ENTRY_DATA,
  MSIX_ENTRY_SIZE,
  NO_VECTOR,
  PCI_BASE_ADDRESS_0,
  PCI_BAR_MEM_TYPE_64,
  PCI_BAR_SPACE_IO,
  PCI_CAPABILITY_LIST,
  PCI_CAP_ID_MSIX,
  PCI_CAP_ID_VNDR,
  PCI_COMMAND,
  PCI_COMMAND_IO,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_MEMORY,
  PCI_DEVICE_ID,
  PCI_NUM_BARS,
  PCI_SUBSYSTEM_ID,
  PCI_VENDOR_ID,
  STATUS_ACKNOWLEDGE,
  STATUS_DRIVER,
  STATUS_DRIVER_OK,
  STATUS_FEATURES_OK,
  VIRTIO_CAP_BAR,
  VIRTIO_CAP_CFG_TYPE,
  VIRTIO_CAP_NOTIFY_MULTIPLIER,
  VIRTIO_CAP_OFFSET,
  VIRTIO_PCI_CAP_COMMON_CFG,
  VIRTIO_PCI_CAP_DEVICE_CFG,
  VIRTIO_PCI_CAP_ISR_CFG,
  VIRTIO_PCI_CAP_NOTIFY_CFG,
  VIRTIO_PCI_VENDOR,
} from './layout.js';

/** What a guest uses to reach devices: its vCPU's MMIO and port I/O (a VcpuAddressSpace). */
export interface GuestIo {
  mmioRead(address: number, size: number): number;
  mmioWrite(address: number, size: number, value: number): void;
  pioRead(port: number, size: number): number;
  pioWrite(port: number, size: number, value: number): void;
}

/** A function found on bus 0. */
export interface PciProbe {
  readonly slot: number;
  readonly vendorId: number;
  readonly deviceId: number;
  readonly subsystemId: number;
  /** BAR index → [address, size, 'io' | 'mem'], as this driver programmed them. */
  readonly bars: readonly ({ readonly address: number; readonly size: number; readonly io: boolean } | undefined)[];
}

/** Where the enumerator puts BARs (a firmware's resource windows). */
export interface PciWindows {
  /** First address of the 32-bit MMIO window (default 0xC000_0000). */
  readonly mmio32?: number;
  /** First address of the 64-bit MMIO window (default 0x80_0000_0000, above 4 GiB). */
  readonly mmio64?: number;
  /** First I/O port (default 0xC000). */
  readonly io?: number;
  /** Configuration mechanism (default CF8). */
  readonly via?: ConfigMechanism;
}

function cfgAddress(slot: number, offset: number): number {
  return (0x80000000 | (slot << 11) | (offset & 0xfc)) >>> 0;
}

/** How a guest reaches configuration space. */
export type ConfigMechanism = { readonly kind: 'cf8' } | { readonly kind: 'ecam'; readonly base: number };

/** Configuration mechanism #1 (ports 0xCF8/0xCFC): one shared latch, so callers on several vCPUs must serialise. */
export const CF8: ConfigMechanism = { kind: 'cf8' };

/** Configuration space reads and writes of bus 0 (mechanism #1 by default, or ECAM: one MMIO access each). */
export function configRead(io: GuestIo, slot: number, offset: number, size: number, via: ConfigMechanism = CF8): number {
  if (via.kind === 'ecam') return io.mmioRead(via.base + slot * 0x8000 + offset, size);
  io.pioWrite(PCI_CONFIG_ADDRESS, 4, cfgAddress(slot, offset));
  return io.pioRead(PCI_CONFIG_DATA + (offset & 3), size);
}
export function configWrite(io: GuestIo, slot: number, offset: number, size: number, value: number, via: ConfigMechanism = CF8): void {
  if (via.kind === 'ecam') {
    io.mmioWrite(via.base + slot * 0x8000 + offset, size, value);
    return;
  }
  io.pioWrite(PCI_CONFIG_ADDRESS, 4, cfgAddress(slot, offset));
  io.pioWrite(PCI_CONFIG_DATA + (offset & 3), size, value);
}

/**
 * Enumerates bus 0: for each function with a vendor id, sizes its BARs
 * (write all ones, read back), assigns addresses from the windows, and
 * enables I/O, memory decoding and bus mastering (what firmware and Linux's
 * pci_assign_resources + pci_enable_device + pci_set_master do).
 */
export function enumeratePci(io: GuestIo, windows: PciWindows = {}): PciProbe[] {
  let mmio32 = windows.mmio32 ?? 0xc0000000;
  let mmio64 = windows.mmio64 ?? 0x80_0000_0000;
  let ioPort = windows.io ?? 0xc000;
  const via = windows.via ?? CF8;
  const cr = (slot: number, off: number, size: number): number => configRead(io, slot, off, size, via);
  const cw = (slot: number, off: number, size: number, v: number): void => configWrite(io, slot, off, size, v, via);
  const align = (a: number, s: number): number => Math.ceil(a / s) * s;
  const found: PciProbe[] = [];
  for (let slot = 0; slot < 32; slot++) {
    const vendorId = cr(slot, PCI_VENDOR_ID, 2);
    if (vendorId === 0xffff) continue;
    const bars: PciProbe['bars'][number][] = new Array(PCI_NUM_BARS).fill(undefined);
    for (let i = 0; i < PCI_NUM_BARS; i++) {
      const off = PCI_BASE_ADDRESS_0 + i * 4;
      const orig = cr(slot, off, 4);
      cw(slot, off, 4, 0xffffffff);
      const probe = cr(slot, off, 4);
      if (probe === 0 || probe === 0xffffffff) {
        cw(slot, off, 4, orig);
        continue;
      }
      const isIo = (probe & PCI_BAR_SPACE_IO) !== 0;
      const is64 = !isIo && (probe & 0x6) === PCI_BAR_MEM_TYPE_64;
      const size = (~(probe & (isIo ? ~0x3 : ~0xf)) + 1) >>> 0;
      let address: number;
      if (isIo) {
        address = ioPort = align(ioPort, size);
        ioPort += size;
      } else if (is64) {
        address = mmio64 = align(mmio64, size);
        mmio64 += size;
      } else {
        address = mmio32 = align(mmio32, size);
        mmio32 += size;
      }
      cw(slot, off, 4, address >>> 0);
      if (is64) cw(slot, off + 4, 4, Math.floor(address / 2 ** 32));
      bars[i] = { address, size, io: isIo };
      if (is64) i++;
    }
    const cmd = cr(slot, PCI_COMMAND, 2);
    cw(slot, PCI_COMMAND, 2, cmd | PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    found.push({
      slot,
      vendorId,
      deviceId: cr(slot, PCI_DEVICE_ID, 2),
      subsystemId: cr(slot, PCI_SUBSYSTEM_ID, 2),
      bars,
    });
  }
  return found;
}

/**
 * Where a legacy device expects the rings of a queue of `size` at the
 * 4 KiB-aligned `base` (virtio 0.9.5 2.3: avail right after the descriptor
 * table, used at the next 4096 boundary).
 */
export function legacyRingLayout(base: number, size: number): { descTable: number; availRing: number; usedRing: number; bytes: number } {
  const availRing = base + 16 * size;
  const usedRing = Math.ceil((availRing + 6 + 2 * size) / 4096) * 4096;
  return { descTable: base, availRing, usedRing, bytes: usedRing + 6 + 8 * size - base };
}

/** How one queue is set up. */
export interface DriverQueueSetup {
  readonly size: number;
  readonly descTable: number;
  readonly availRing: number;
  readonly usedRing: number;
  /** MSI-X vector (default none). */
  readonly vector?: number;
}

interface Where {
  readonly bar: number;
  readonly offset: number;
}

/**
 * A virtio-pci function driven the modern way (4.1.4) or, for transitional
 * devices with `legacy: true`, through the legacy I/O BAR (4.1.4.8).
 */
export class VirtioPciDriver {
  private common: Where | undefined;
  private notify: Where | undefined;
  private notifyMultiplier = 0;
  private isr: Where | undefined;
  private device: Where | undefined;
  private msixCap = 0;
  private msixTable: Where | undefined;
  private readonly notifyOff: number[] = [];
  /** Doorbells rung. */
  kicks = 0;

  constructor(
    readonly io: GuestIo,
    readonly probe: PciProbe,
    readonly legacy = false,
    /** How this driver reaches configuration space (default CF8). */
    readonly via: ConfigMechanism = CF8,
  ) {
    if (probe.vendorId !== VIRTIO_PCI_VENDOR) throw new VirtioError('ERR_INVALID_ARGUMENT', `slot ${probe.slot} is not a virtio device`);
    this.parseCapabilities();
    if (!legacy && this.common === undefined) throw new VirtioError('ERR_INVALID_ARGUMENT', `slot ${probe.slot} has no virtio common configuration capability`);
    if (legacy && probe.bars[BAR_LEGACY] === undefined) throw new VirtioError('ERR_INVALID_ARGUMENT', `slot ${probe.slot} has no legacy I/O BAR`);
  }

  private parseCapabilities(): void {
    const { io } = this;
    const slot = this.probe.slot;
    let cap = configRead(io, slot, PCI_CAPABILITY_LIST, 1, this.via);
    for (let guard = 0; cap !== 0 && guard < 48; guard++) {
      const id = configRead(io, slot, cap, 1, this.via);
      if (id === PCI_CAP_ID_VNDR) {
        const type = configRead(io, slot, cap + VIRTIO_CAP_CFG_TYPE, 1, this.via);
        const where = { bar: configRead(io, slot, cap + VIRTIO_CAP_BAR, 1, this.via), offset: configRead(io, slot, cap + VIRTIO_CAP_OFFSET, 4, this.via) };
        if (type === VIRTIO_PCI_CAP_COMMON_CFG) this.common ??= where;
        else if (type === VIRTIO_PCI_CAP_NOTIFY_CFG) {
          this.notify ??= where;
          this.notifyMultiplier = configRead(io, slot, cap + VIRTIO_CAP_NOTIFY_MULTIPLIER, 4, this.via);
        } else if (type === VIRTIO_PCI_CAP_ISR_CFG) this.isr ??= where;
        else if (type === VIRTIO_PCI_CAP_DEVICE_CFG) this.device ??= where;
      } else if (id === PCI_CAP_ID_MSIX) {
        this.msixCap = cap;
        const t = configRead(io, slot, cap + MSIX_CAP_TABLE, 4, this.via);
        this.msixTable = { bar: t & 7, offset: t & ~7 };
      }
      cap = configRead(io, slot, cap + 1, 1, this.via);
    }
  }

  private addr(w: Where, off: number): number {
    const b = this.probe.bars[w.bar];
    if (b === undefined) throw new VirtioError('ERR_INVALID_STATE', `BAR ${w.bar} is not programmed`);
    return b.address + w.offset + off;
  }
  private rd(w: Where, off: number, size: number): number {
    return this.probe.bars[w.bar]?.io ? this.io.pioRead(this.addr(w, off), size) : this.io.mmioRead(this.addr(w, off), size);
  }
  private wr(w: Where, off: number, size: number, v: number): void {
    if (this.probe.bars[w.bar]?.io) this.io.pioWrite(this.addr(w, off), size, v);
    else this.io.mmioWrite(this.addr(w, off), size, v);
  }
  private get legacyBar(): Where {
    return { bar: BAR_LEGACY, offset: 0 };
  }

  // ---- status and features (3.1.1) ----

  get status(): number {
    return this.legacy ? this.rd(this.legacyBar, LEGACY_STATUS, 1) : this.rd(this.common!, COMMON_STATUS, 1);
  }
  set status(v: number) {
    if (this.legacy) this.wr(this.legacyBar, LEGACY_STATUS, 1, v);
    else this.wr(this.common!, COMMON_STATUS, 1, v);
  }

  /** Writes 0 to status and waits until it reads back 0 (4.1.4.3.2). */
  reset(): void {
    this.status = 0;
    for (let i = 0; i < 1000 && this.status !== 0; i++) {
      /* the device resets synchronously here; the loop is the spec's */
    }
  }

  /** The device's feature bits. */
  deviceFeatures(): bigint {
    if (this.legacy) return BigInt(this.rd(this.legacyBar, LEGACY_HOST_FEATURES, 4) >>> 0);
    const c = this.common!;
    this.wr(c, COMMON_DFSELECT, 4, 0);
    const lo = this.rd(c, COMMON_DF, 4) >>> 0;
    this.wr(c, COMMON_DFSELECT, 4, 1);
    const hi = this.rd(c, COMMON_DF, 4) >>> 0;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** Writes the driver's features. */
  writeFeatures(f: bigint): void {
    if (this.legacy) {
      this.wr(this.legacyBar, LEGACY_GUEST_FEATURES, 4, Number(f & 0xffffffffn));
      return;
    }
    const c = this.common!;
    this.wr(c, COMMON_GFSELECT, 4, 0);
    this.wr(c, COMMON_GF, 4, Number(f & 0xffffffffn));
    this.wr(c, COMMON_GFSELECT, 4, 1);
    this.wr(c, COMMON_GF, 4, Number((f >> 32n) & 0xffffffffn));
  }

  /**
   * Steps 1–6 of 3.1.1: reset, ACKNOWLEDGE, DRIVER, negotiate `wanted` ∩
   * offered, FEATURES_OK (modern; re-read to check). Returns the features
   * in force, or undefined if the device refused FEATURES_OK (the driver
   * then sets FAILED).
   */
  negotiate(wanted: bigint): bigint | undefined {
    this.reset();
    this.status = STATUS_ACKNOWLEDGE;
    this.status = STATUS_ACKNOWLEDGE | STATUS_DRIVER;
    const features = this.deviceFeatures() & wanted;
    this.writeFeatures(features);
    if (this.legacy) return features;
    this.status = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK;
    if ((this.status & STATUS_FEATURES_OK) === 0) return undefined;
    return features;
  }

  /** Step 8: DRIVER_OK. */
  driverOk(): void {
    const s = this.legacy ? STATUS_ACKNOWLEDGE | STATUS_DRIVER : STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK;
    this.status = s | STATUS_DRIVER_OK;
  }

  // ---- queues ----

  get numQueues(): number {
    return this.legacy ? 0 : this.rd(this.common!, COMMON_NUMQ, 2);
  }

  /** The largest size of queue `q` (0: the queue does not exist). */
  queueMaxSize(q: number): number {
    if (this.legacy) {
      this.wr(this.legacyBar, LEGACY_QUEUE_SEL, 2, q);
      return this.rd(this.legacyBar, LEGACY_QUEUE_NUM, 2);
    }
    this.wr(this.common!, COMMON_Q_SELECT, 2, q);
    return this.rd(this.common!, COMMON_Q_SIZE, 2);
  }

  /**
   * Step 7 for one queue (4.1.5.1.3). Legacy: the rings must be laid out
   * the legacy way at a 4 KiB-aligned `descTable` with the device's size
   * ({@link legacyRingLayout}). Returns whether the vector was accepted.
   */
  setupQueue(q: number, s: DriverQueueSetup): boolean {
    const vector = s.vector ?? NO_VECTOR;
    if (this.legacy) {
      const b = this.legacyBar;
      this.wr(b, LEGACY_QUEUE_SEL, 2, q);
      if (this.msixEnabled()) this.wr(b, LEGACY_MSIX_QUEUE_VECTOR, 2, vector);
      this.wr(b, LEGACY_QUEUE_PFN, 4, Math.floor(s.descTable / 2 ** LEGACY_PFN_SHIFT));
      return !this.msixEnabled() || this.rd(b, LEGACY_MSIX_QUEUE_VECTOR, 2) === vector;
    }
    const c = this.common!;
    this.wr(c, COMMON_Q_SELECT, 2, q);
    this.wr(c, COMMON_Q_SIZE, 2, s.size);
    this.wr(c, COMMON_Q_MSIX, 2, vector);
    const accepted = this.rd(c, COMMON_Q_MSIX, 2) === vector;
    this.wr(c, COMMON_Q_DESCLO, 4, s.descTable >>> 0);
    this.wr(c, COMMON_Q_DESCHI, 4, Math.floor(s.descTable / 2 ** 32));
    this.wr(c, COMMON_Q_AVAILLO, 4, s.availRing >>> 0);
    this.wr(c, COMMON_Q_AVAILHI, 4, Math.floor(s.availRing / 2 ** 32));
    this.wr(c, COMMON_Q_USEDLO, 4, s.usedRing >>> 0);
    this.wr(c, COMMON_Q_USEDHI, 4, Math.floor(s.usedRing / 2 ** 32));
    this.notifyOff[q] = this.rd(c, COMMON_Q_NOFF, 2);
    this.wr(c, COMMON_Q_ENABLE, 2, 1);
    return accepted;
  }

  /** Sets the configuration-change vector; returns whether it was accepted. */
  setConfigVector(vector: number): boolean {
    if (this.legacy) {
      this.wr(this.legacyBar, LEGACY_MSIX_CONFIG_VECTOR, 2, vector);
      return this.rd(this.legacyBar, LEGACY_MSIX_CONFIG_VECTOR, 2) === vector;
    }
    this.wr(this.common!, COMMON_MSIX, 2, vector);
    return this.rd(this.common!, COMMON_MSIX, 2) === vector;
  }

  /** Rings queue `q`'s doorbell (4.1.4.4: notify_off × multiplier; legacy: port 16). */
  kick(q: number): void {
    this.kicks++;
    if (this.legacy) {
      this.wr(this.legacyBar, LEGACY_QUEUE_NOTIFY, 2, q);
      return;
    }
    this.wr(this.notify!, (this.notifyOff[q] ?? q) * this.notifyMultiplier, 2, q);
  }

  /** The guest address of queue `q`'s modern doorbell (for ioeventfd-aware tests). */
  doorbellAddress(q: number): number {
    return this.addr(this.notify!, (this.notifyOff[q] ?? q) * this.notifyMultiplier);
  }

  /** Reads and clears ISR (4.1.4.5): bit 0 queue, bit 1 configuration change. */
  readIsr(): number {
    return this.legacy ? this.rd(this.legacyBar, LEGACY_ISR, 1) : this.rd(this.isr!, 0, 1);
  }

  /** Device-specific configuration. */
  readConfig(offset: number, size: number): number {
    if (this.legacy) return this.rd(this.legacyBar, (this.msixEnabled() ? LEGACY_CONFIG_MSIX : LEGACY_CONFIG) + offset, size);
    return this.rd(this.device!, offset, size);
  }

  // ---- MSI-X (PCI 3.0 6.8) ----

  /** Programs table entry `vector` with an MSI message and unmasks it. */
  setMsixEntry(vector: number, address: number, data: number): void {
    const t = this.msixTable;
    if (t === undefined) throw new VirtioError('ERR_INVALID_STATE', 'the device has no MSI-X capability');
    const base = vector * MSIX_ENTRY_SIZE;
    this.wr(t, base + MSIX_ENTRY_CTRL, 4, 1); // mask while rewriting (6.8.3.5)
    this.wr(t, base + MSIX_ENTRY_ADDR_LO, 4, address >>> 0);
    this.wr(t, base + MSIX_ENTRY_ADDR_HI, 4, Math.floor(address / 2 ** 32));
    this.wr(t, base + MSIX_ENTRY_DATA, 4, data);
    this.wr(t, base + MSIX_ENTRY_CTRL, 4, 0);
  }

  /** Masks or unmasks table entry `vector`. */
  maskMsixEntry(vector: number, masked: boolean): void {
    this.wr(this.msixTable!, vector * MSIX_ENTRY_SIZE + MSIX_ENTRY_CTRL, 4, masked ? 1 : 0);
  }

  /** Enables (or disables) MSI-X in its capability. */
  enableMsix(on = true): void {
    const c = configRead(this.io, this.probe.slot, this.msixCap + MSIX_CAP_CONTROL, 2, this.via);
    configWrite(this.io, this.probe.slot, this.msixCap + MSIX_CAP_CONTROL, 2, on ? c | MSIX_CONTROL_ENABLE : c & ~MSIX_CONTROL_ENABLE, this.via);
  }

  msixEnabled(): boolean {
    return this.msixCap !== 0 && (configRead(this.io, this.probe.slot, this.msixCap + MSIX_CAP_CONTROL, 2, this.via) & MSIX_CONTROL_ENABLE) !== 0;
  }

  /** Sets or clears bus mastering (clearing it stops the device: QEMU clears DRIVER_OK). */
  setBusMaster(on: boolean): void {
    const c = configRead(this.io, this.probe.slot, PCI_COMMAND, 2, this.via);
    configWrite(this.io, this.probe.slot, PCI_COMMAND, 2, on ? c | PCI_COMMAND_MASTER : c & ~PCI_COMMAND_MASTER, this.via);
  }
}
