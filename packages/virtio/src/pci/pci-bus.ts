/**
 * The owner-side bus: serves the vCPUs' synchronous exits (exit-channel.ts)
 * by decoding them to PCI configuration space (configuration mechanism #1 at
 * ports 0xCF8/0xCFC, and PCIe ECAM: memory-mapped configuration space at
 * `ecamBase`, one MMIO access per register), to the BAR of a PCI function that contains the
 * address, or to a plain region the machine registered (QEMU's
 * address_space_rw over the system memory and I/O address spaces).
 *
 * Exits are handled one at a time, like QEMU under the BQL: an access whose
 * handling is asynchronous (a status write that starts or stops a device on
 * its I/O thread) holds back the accesses that follow it, from any vCPU,
 * until it settles. An access nobody claims reads all ones and a write to
 * it is dropped (PCI master abort), never an error.
 */
import { VirtioError } from '../errors.js';
import type { IoAccess } from './exit-channel.js';
import { PCI_NUM_BARS } from './layout.js';
import type { PciConfigSpace } from './pci-config-space.js';

/** A PCI function on the bus (a VirtioPciDevice is one). */
export interface PciFunction {
  readonly config: PciConfigSpace;
  configRead(offset: number, size: number): number;
  configWrite(offset: number, size: number, value: number): void | Promise<void>;
  barRead(bar: number, offset: number, size: number): number;
  barWrite(bar: number, offset: number, size: number, value: number): void | Promise<void>;
}

/** A region outside PCI (a machine's own ports or MMIO). */
export interface IoRegion {
  readonly space: 'mmio' | 'pio';
  readonly base: number;
  readonly size: number;
  readonly name: string;
  read(offset: number, size: number, vcpu: number): number;
  write(offset: number, size: number, value: number, vcpu: number): void | Promise<void>;
}

/** Configuration mechanism #1 ports. */
export const PCI_CONFIG_ADDRESS = 0xcf8;
export const PCI_CONFIG_DATA = 0xcfc;
const CONFIG_ENABLE = 0x80000000;
/** Where QEMU's q35 puts ECAM (MCFG base); bus 0 takes the first MiB. */
export const PCI_ECAM_BASE = 0xb0000000;
/** ECAM bytes for bus 0: 32 devices × 8 functions × 4 KiB. */
export const PCI_ECAM_BUS_SIZE = 1 << 20;

/** Options of a {@link PciBus}. */
export interface PciBusOptions {
  /**
   * MMIO base of ECAM for bus 0 (default PCI_ECAM_BASE; null: none).
   * Configuration mechanism #1 has one address latch (0xCF8) for all
   * vCPUs, as on real chipsets, so guests that use it from several vCPUs
   * must serialise (Linux: pci_config_lock); ECAM needs no lock.
   */
  readonly ecamBase?: number | null;
}

/** Counters of a bus. */
export interface PciBusStats {
  readonly accesses: number;
  readonly configAccesses: number;
  readonly barAccesses: number;
  readonly regionAccesses: number;
  readonly unassigned: number;
  /** Accesses that waited for an earlier asynchronous one. */
  readonly serialised: number;
}

/** @thread home: the owner thread that serves exits */
export class PciBus {
  private readonly ecam: number | undefined;
  private readonly slots: (PciFunction | undefined)[] = new Array(32).fill(undefined);
  private readonly regions: IoRegion[] = [];
  private configAddress = 0;
  private pending: Promise<unknown> | undefined;
  private readonly counts = { accesses: 0, configAccesses: 0, barAccesses: 0, regionAccesses: 0, unassigned: 0, serialised: 0 };

  constructor(options: PciBusOptions = {}) {
    const e = options.ecamBase === undefined ? PCI_ECAM_BASE : options.ecamBase;
    if (e !== null && (!Number.isSafeInteger(e) || e < 0 || e % PCI_ECAM_BUS_SIZE !== 0)) throw new VirtioError('ERR_INVALID_ARGUMENT', 'ecamBase must be a 1 MiB-aligned address');
    this.ecam = e ?? undefined;
  }

  /** Plugs `fn` into slot `slot` (device number 0 … 31 on bus 0, function 0). */
  plug(slot: number, fn: PciFunction): void {
    if (!Number.isInteger(slot) || slot < 0 || slot > 31) throw new VirtioError('ERR_INVALID_ARGUMENT', 'slot must be in [0, 31]');
    if (this.slots[slot] !== undefined) throw new VirtioError('ERR_INVALID_ARGUMENT', `slot ${slot} is taken`);
    this.slots[slot] = fn;
  }

  /** Registers a non-PCI region; it must not overlap another region or the config ports. */
  addRegion(region: IoRegion): void {
    const overlaps = (b: number, s: number): boolean => region.base < b + s && b < region.base + region.size;
    if (!Number.isSafeInteger(region.base) || region.base < 0 || !Number.isSafeInteger(region.size) || region.size <= 0) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `region ${region.name}: bad base or size`);
    }
    if (region.space === 'pio' && (overlaps(PCI_CONFIG_ADDRESS, 4) || overlaps(PCI_CONFIG_DATA, 4))) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `region ${region.name} overlaps the PCI configuration ports`);
    }
    for (const r of this.regions) {
      if (r.space === region.space && overlaps(r.base, r.size)) throw new VirtioError('ERR_INVALID_ARGUMENT', `region ${region.name} overlaps ${r.name}`);
    }
    this.regions.push(region);
  }

  get stats(): PciBusStats {
    return { ...this.counts };
  }

  /** The {@link ExitHandler} of an ExitServer: `new ExitServer(ctx, (a) => bus.dispatch(a), …)`. */
  dispatch(access: IoAccess): number | Promise<number> {
    this.counts.accesses++;
    if (this.pending !== undefined) {
      this.counts.serialised++;
      const run = this.pending.then(() => this.handle(access));
      this.track(run);
      return run;
    }
    const r = this.handle(access);
    if (typeof r !== 'number') this.track(r);
    return r;
  }

  private track(p: Promise<number>): void {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.pending = settled;
    void settled.then(() => {
      if (this.pending === settled) this.pending = undefined;
    });
  }

  private handle(a: IoAccess): number | Promise<number> {
    const { size } = a;
    if (a.space === 'pio') {
      if (a.address === PCI_CONFIG_ADDRESS && size === 4) {
        this.counts.configAccesses++;
        if (!a.write) return this.configAddress >>> 0;
        this.configAddress = a.value >>> 0;
        return 0;
      }
      if (a.address >= PCI_CONFIG_DATA && a.address + size <= PCI_CONFIG_DATA + 4) {
        this.counts.configAccesses++;
        return this.config(a, a.address - PCI_CONFIG_DATA);
      }
    }
    if (a.space === 'mmio' && this.ecam !== undefined && a.address >= this.ecam && a.address + size <= this.ecam + PCI_ECAM_BUS_SIZE) {
      this.counts.configAccesses++;
      const rel = a.address - this.ecam;
      const fn = (rel >>> 12) & 0x7;
      const dev = fn === 0 ? this.slots[rel >>> 15] : undefined;
      const offset = rel & 0xfff;
      // Extended configuration space (≥ 256) is not implemented: reads all ones.
      if (dev === undefined || offset + size > 256) return a.write ? 0 : ones(size);
      if (!a.write) return dev.configRead(offset, size);
      return settle(dev.configWrite(offset, size, a.value));
    }
    for (const r of this.regions) {
      if (r.space === a.space && a.address >= r.base && a.address + size <= r.base + r.size) {
        this.counts.regionAccesses++;
        if (!a.write) return r.read(a.address - r.base, size, a.vcpu);
        return settle(r.write(a.address - r.base, size, a.value, a.vcpu));
      }
    }
    for (const fn of this.slots) {
      if (fn === undefined) continue;
      for (let bar = 0; bar < PCI_NUM_BARS; bar++) {
        const def = fn.config.bar(bar);
        if (def === undefined || (def.kind === 'io') !== (a.space === 'pio')) continue;
        const base = fn.config.barAddress(bar);
        if (base === undefined || a.address < base || a.address + size > base + def.size) continue;
        this.counts.barAccesses++;
        if (!a.write) return fn.barRead(bar, a.address - base, size);
        return settle(fn.barWrite(bar, a.address - base, size, a.value));
      }
    }
    this.counts.unassigned++;
    return a.write ? 0 : ones(size);
  }

  /** Configuration mechanism #1: bus 0, function 0 only; everything else reads all ones. */
  private config(a: IoAccess, byte: number): number | Promise<number> {
    const addr = this.configAddress;
    const bus = (addr >>> 16) & 0xff;
    const dev = (addr >>> 11) & 0x1f;
    const func = (addr >>> 8) & 0x7;
    const fn = (addr & CONFIG_ENABLE) !== 0 && bus === 0 && func === 0 ? this.slots[dev] : undefined;
    const offset = (addr & 0xfc) + byte;
    if (fn === undefined) return a.write ? 0 : ones(a.size);
    if (!a.write) return fn.configRead(offset, a.size);
    return settle(fn.configWrite(offset, a.size, a.value));
  }
}

function settle(r: void | Promise<void>): number | Promise<number> {
  return r === undefined ? 0 : r.then(() => 0);
}

function ones(size: number): number {
  return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
}
