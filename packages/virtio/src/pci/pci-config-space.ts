/**
 * A PCI type-0 configuration space (QEMU hw/pci/pci.c: pci_default_read_config,
 * pci_default_write_config, pci_register_bar, pci_add_capability), owned by
 * the device's owner thread. Plain memory: only that thread touches it; what
 * other threads need (command bits, MSI-X control) the transport mirrors into
 * its shared arena.
 *
 * Writes go through a write mask, so read-only fields stay read-only
 * whatever the guest writes. BARs answer the sizing protocol: after writing
 * all ones, the guest reads back `~(size - 1) | type bits`.
 */
import { VirtioError } from '../errors.js';
import {
  PCI_BASE_ADDRESS_0,
  PCI_BAR_MEM_PREFETCH,
  PCI_BAR_MEM_TYPE_64,
  PCI_BAR_SPACE_IO,
  PCI_CAPABILITY_LIST,
  PCI_CLASS_PROG,
  PCI_COMMAND,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_IO,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_MEMORY,
  PCI_CONFIG_SPACE_SIZE,
  PCI_DEVICE_ID,
  PCI_HEADER_TYPE,
  PCI_INTERRUPT_LINE,
  PCI_INTERRUPT_PIN,
  PCI_NUM_BARS,
  PCI_REVISION_ID,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
  PCI_SUBSYSTEM_ID,
  PCI_SUBSYSTEM_VENDOR_ID,
  PCI_VENDOR_ID,
} from './layout.js';

/** Identity of a PCI function. */
export interface PciIdentity {
  readonly vendorId: number;
  readonly deviceId: number;
  readonly revision: number;
  /** Class code: class << 16 | subclass << 8 | prog-if. */
  readonly classCode: number;
  readonly subsystemVendorId: number;
  readonly subsystemId: number;
  /** 0 none, 1 INTA … 4 INTD. */
  readonly interruptPin: number;
}

/** A base address register. */
export interface BarDefinition {
  readonly index: number;
  readonly kind: 'io' | 'mem32' | 'mem64';
  /** Bytes, a power of two (≥ 4 for I/O, ≥ 16 for memory). */
  readonly size: number;
  readonly prefetchable?: boolean;
}

const TWO_32 = 2 ** 32;

export class PciConfigSpace {
  /** The register bytes, little-endian. @thread home */
  readonly bytes = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  private readonly wmask = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
  private readonly view = new DataView(this.bytes.buffer);
  private readonly bars: (BarDefinition | undefined)[] = new Array(PCI_NUM_BARS).fill(undefined);
  private capTail = -1;
  private capFree = 0x40;

  constructor(id: PciIdentity) {
    const v = this.view;
    v.setUint16(PCI_VENDOR_ID, id.vendorId, true);
    v.setUint16(PCI_DEVICE_ID, id.deviceId, true);
    v.setUint8(PCI_REVISION_ID, id.revision);
    v.setUint8(PCI_CLASS_PROG, id.classCode & 0xff);
    v.setUint16(PCI_CLASS_PROG + 1, (id.classCode >>> 8) & 0xffff, true);
    v.setUint8(PCI_HEADER_TYPE, 0);
    v.setUint16(PCI_SUBSYSTEM_VENDOR_ID, id.subsystemVendorId, true);
    v.setUint16(PCI_SUBSYSTEM_ID, id.subsystemId, true);
    v.setUint8(PCI_INTERRUPT_PIN, id.interruptPin);
    // Writable: command (I/O, memory, bus master, INTx disable), interrupt line.
    this.setMask(PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
    this.setMask(PCI_INTERRUPT_LINE, 1, 0xff);
  }

  /** Declares a BAR (QEMU pci_register_bar). A 64-bit BAR takes `index` and `index + 1`. */
  defineBar(def: BarDefinition): void {
    const { index, kind, size } = def;
    const last = kind === 'mem64' ? index + 1 : index;
    if (!Number.isInteger(index) || index < 0 || last >= PCI_NUM_BARS || this.bars[index] !== undefined || (kind === 'mem64' && this.bars[index + 1] !== undefined)) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `BAR ${String(index)} is taken or out of range`);
    }
    const min = kind === 'io' ? 4 : 16;
    if (!Number.isSafeInteger(size) || size < min || (size & (size - 1)) !== 0 || size > 2 ** 31) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `BAR size must be a power of two ≥ ${min}`);
    }
    this.bars[index] = def;
    const off = PCI_BASE_ADDRESS_0 + index * 4;
    const type = kind === 'io' ? PCI_BAR_SPACE_IO : (kind === 'mem64' ? PCI_BAR_MEM_TYPE_64 : 0) | (def.prefetchable ? PCI_BAR_MEM_PREFETCH : 0);
    this.view.setUint32(off, type, true);
    this.setMask(off, 4, ~(size - 1) >>> 0);
    if (kind === 'mem64') this.setMask(off + 4, 4, 0xffffffff);
  }

  /**
   * Appends a capability of `length` bytes with id `capId` to the list
   * (QEMU pci_add_capability) and returns its offset; the caller fills its
   * body with `setField` and marks writable bits with `setWritable`.
   */
  addCapability(capId: number, length: number): number {
    const off = (this.capFree + 3) & ~3;
    if (off + length > PCI_CONFIG_SPACE_SIZE) throw new VirtioError('ERR_INVALID_ARGUMENT', 'configuration space is full');
    this.bytes[off] = capId;
    this.bytes[off + 1] = 0;
    if (this.capTail < 0) {
      this.bytes[PCI_CAPABILITY_LIST] = off;
      this.view.setUint16(PCI_STATUS, this.view.getUint16(PCI_STATUS, true) | PCI_STATUS_CAP_LIST, true);
    } else {
      this.bytes[this.capTail + 1] = off;
    }
    this.capTail = off;
    this.capFree = off + length;
    return off;
  }

  /** Writes a read-only field (host side, e.g. capability bodies). */
  setField(offset: number, size: 1 | 2 | 4, value: number): void {
    if (size === 1) this.view.setUint8(offset, value);
    else if (size === 2) this.view.setUint16(offset, value, true);
    else this.view.setUint32(offset, value >>> 0, true);
  }

  /** Marks bits of a field writable by the guest. */
  setWritable(offset: number, size: 1 | 2 | 4, mask: number): void {
    this.setMask(offset, size, mask);
  }

  /** A field's current value (host side). */
  field(offset: number, size: 1 | 2 | 4): number {
    if (size === 1) return this.view.getUint8(offset);
    if (size === 2) return this.view.getUint16(offset, true);
    return this.view.getUint32(offset, true);
  }

  /** Guest read (QEMU pci_default_read_config); outside the space: all ones. */
  read(offset: number, size: number): number {
    if (!validAccess(offset, size)) return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.bytes[offset + i]!;
    return v;
  }

  /** Guest write through the write mask (QEMU pci_default_write_config); outside the space: ignored. */
  write(offset: number, size: number, value: number): void {
    if (!validAccess(offset, size)) return;
    for (let i = 0; i < size; i++) {
      const m = this.wmask[offset + i]!;
      const b = (value >>> (8 * i)) & 0xff;
      this.bytes[offset + i] = (this.bytes[offset + i]! & ~m) | (b & m);
    }
  }

  /** The command register. */
  get command(): number {
    return this.view.getUint16(PCI_COMMAND, true);
  }

  /** BAR `index`'s definition, if declared. */
  bar(index: number): BarDefinition | undefined {
    return this.bars[index];
  }

  /**
   * The guest-programmed address of BAR `index`, or undefined while it does
   * not decode (its space disabled in the command register, address 0, or
   * the sizing pattern still in it) — QEMU pci_bar_address.
   */
  barAddress(index: number): number | undefined {
    const def = this.bars[index];
    if (def === undefined) return undefined;
    const cmd = this.command;
    if ((cmd & (def.kind === 'io' ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)) === 0) return undefined;
    const off = PCI_BASE_ADDRESS_0 + index * 4;
    const lo = this.view.getUint32(off, true) & (def.kind === 'io' ? ~0x3 : ~0xf);
    let addr = lo >>> 0;
    if (def.kind === 'mem64') addr += this.view.getUint32(off + 4, true) * TWO_32;
    const sizing = def.kind === 'mem64' ? 2 ** 64 - def.size : (~(def.size - 1) >>> 0) & (def.kind === 'io' ? ~0x3 : ~0xf);
    if (addr === 0 || addr === sizing || addr + def.size > (def.kind === 'io' ? 0x10000 : def.kind === 'mem32' ? TWO_32 : 2 ** 53)) return undefined;
    return addr;
  }

  private setMask(offset: number, size: number, mask: number): void {
    for (let i = 0; i < size; i++) this.wmask[offset + i] = (mask >>> (8 * i)) & 0xff;
  }
}

function validAccess(offset: number, size: number): boolean {
  return (size === 1 || size === 2 || size === 4) && Number.isInteger(offset) && offset >= 0 && offset + size <= PCI_CONFIG_SPACE_SIZE && offset % size === 0;
}
