/**
 * The virtio-pci transport on the owner thread (src/pci/virtio-pci.ts;
 * virtio 1.x 4.1, QEMU hw/virtio/virtio-pci.c and virtio-bus.c), driven by
 * calling VirtioPciDevice and PciBus directly, as the exit server would,
 * with a fake device model that records what the transport asks of it.
 * Status writes return promises (a start or stop); every test awaits them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AioContext } from '@vmloop/aio';
import { EventNotifier } from '@vmloop/event-notifier';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type DeviceStartConfig,
  GuestMemory,
  type InterruptRoutesHandle,
  IoEventFdMatcher,
  type IoEventFdRegistration,
  IoEventFdTable,
  LocalBlkHost,
  NotifierInterruptRouter,
  PciBus,
  type TransportEvent,
  TransportLink,
  VIRTIO_F_VERSION_1,
  VIRTIO_RING_F_EVENT_IDX,
  VIRTIO_RING_F_INDIRECT_DESC,
  VirtioBlk,
  type VirtioDeviceModel,
  VirtioPciDevice,
  featureBit,
  pciRegs as R,
} from '@vmloop/virtio';

// ---------------------------------------------------------------- a fake model and a test bench

const F_DEVICE = featureBit(9); // a device feature (virtio-blk FLUSH's bit)
const VERSION_1 = featureBit(VIRTIO_F_VERSION_1);
const CONFIG_SIZE = 16;

/** Records every call the transport makes (QEMU VirtioDeviceClass). */
class FakeModel implements VirtioDeviceModel {
  readonly deviceType: number;
  readonly numQueues: number;
  readonly queueMaxSize = 256;
  readonly features = F_DEVICE;
  readonly configSize = CONFIG_SIZE;
  readonly log: string[] = [];
  readonly starts: DeviceStartConfig[] = [];
  readonly configWrites: [number, number, number][] = [];
  notifierIndex: (number | undefined)[] = [];
  onStart: ((c: DeviceStartConfig) => void | Promise<void>) | undefined;
  onStop: (() => void | Promise<void>) | undefined;

  constructor(numQueues = 2, deviceType = 2) {
    this.numQueues = numQueues;
    this.deviceType = deviceType;
  }
  /** Byte i of the configuration is 0x10 + i. */
  readConfig(offset: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + 0x10 + offset + i;
    return v;
  }
  writeConfig(offset: number, size: number, value: number): void {
    this.configWrites.push([offset, size, value]);
  }
  hostNotifier(q: number): number | undefined {
    return this.notifierIndex[q];
  }
  start(c: DeviceStartConfig): void | Promise<void> {
    this.log.push('start');
    this.starts.push(c);
    return this.onStart?.(c);
  }
  stop(): void | Promise<void> {
    this.log.push('stop');
    return this.onStop?.();
  }
  notify(q: number): void {
    this.log.push(`notify ${q}`);
  }
  reset(): void {
    this.log.push('reset');
  }
}

// Where the test's "firmware" puts the BARs.
const IO_BASE = 0xc000;
const MSIX_BASE = 0xfebf_0000;
const MODERN_BASE = 0x80_0000_0000; // above 4 GiB: BAR4 is 64-bit
const NOTIFY = MODERN_BASE + R.MODERN_NOTIFY_OFFSET;

interface Bench {
  readonly dev: VirtioPciDevice;
  readonly model: FakeModel;
  readonly events: TransportEvent[];
  /** irq[v]: MSI-X vector v to APIC 0. */
  readonly irq: EventNotifier[];
  readonly intx: EventNotifier;
  readonly table: IoEventFdTable;
  /** The queues' host notifiers (index q in the table's list). */
  readonly hostNotifiers: EventNotifier[];
  /** Registrations as they were assigned, with whether the notifier was already set. */
  readonly assigned: { reg: IoEventFdRegistration; notifierWasSet: boolean }[];
  matcher(): IoEventFdMatcher;
}

interface BenchOptions {
  readonly transitional?: boolean;
  readonly ioeventfd?: boolean;
  readonly entries?: number;
  readonly queues?: number;
  /** Queues that get a host notifier (default all). */
  readonly withNotifier?: readonly number[];
  readonly program?: boolean;
}

function routesOf(irq: EventNotifier[], intx: EventNotifier): InterruptRoutesHandle {
  return { kind: 'vmloop.irq-routes', version: 1, msi: [irq.map((n) => n.handle)], intx: intx.handle };
}

function bench(o: BenchOptions = {}): Bench {
  const model = new FakeModel(o.queues ?? 2);
  const irq = Array.from({ length: 4 }, () => EventNotifier.create());
  const intx = EventNotifier.create();
  const table = IoEventFdTable.create({ entries: o.entries ?? 16, vcpus: 1 });
  const hostNotifiers = Array.from({ length: model.numQueues }, () => EventNotifier.create());
  const want = o.withNotifier ?? hostNotifiers.map((_, q) => q);
  model.notifierIndex = hostNotifiers.map((n, q) => (want.includes(q) ? table.addNotifier(n.handle) : undefined));
  const assigned: Bench['assigned'] = [];
  const assign = table.assign.bind(table);
  table.assign = (reg) => {
    assigned.push({ reg, notifierWasSet: table.notifier(reg.notifier).isSet() });
    return assign(reg);
  };
  const events: TransportEvent[] = [];
  const dev = new VirtioPciDevice({
    model,
    routes: routesOf(irq, intx),
    transitional: o.transitional ?? true,
    ioeventfd: o.ioeventfd ?? true,
    ioeventfds: table,
    onEvent: (e) => events.push(e),
  });
  if (o.program ?? true) programBars(dev);
  let m: IoEventFdMatcher | undefined;
  return { dev, model, events, irq, intx, table, hostNotifiers, assigned, matcher: () => (m ??= IoEventFdMatcher.open(table.handle, 0)) };
}

/** What firmware does: program each BAR, enable I/O, memory and bus mastering. */
function programBars(dev: VirtioPciDevice, modern = MODERN_BASE): void {
  if (dev.transitional) dev.configWrite(R.PCI_BASE_ADDRESS_0, 4, IO_BASE);
  dev.configWrite(R.PCI_BASE_ADDRESS_0 + 4 * R.BAR_MSIX, 4, MSIX_BASE);
  dev.configWrite(R.PCI_BASE_ADDRESS_0 + 4 * R.BAR_MODERN, 4, modern >>> 0);
  dev.configWrite(R.PCI_BASE_ADDRESS_0 + 4 * R.BAR_MODERN + 4, 4, Math.floor(modern / 2 ** 32));
  dev.configWrite(R.PCI_COMMAND, 2, R.PCI_COMMAND_IO | R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
}

// Modern common configuration (BAR4 + 0).
const rd = (dev: VirtioPciDevice, off: number, size = 4): number => dev.barRead(R.BAR_MODERN, R.MODERN_COMMON_OFFSET + off, size);
const wr = (dev: VirtioPciDevice, off: number, size: number, v: number): void | Promise<void> => dev.barWrite(R.BAR_MODERN, R.MODERN_COMMON_OFFSET + off, size, v);
const setStatus = async (dev: VirtioPciDevice, v: number): Promise<void> => {
  await wr(dev, R.COMMON_STATUS, 1, v);
};
const status = (dev: VirtioPciDevice): number => rd(dev, R.COMMON_STATUS, 1);
// Legacy I/O (BAR0).
const lrd = (dev: VirtioPciDevice, off: number, size: number): number => dev.barRead(R.BAR_LEGACY, off, size);
const lwr = async (dev: VirtioPciDevice, off: number, size: number, v: number): Promise<void> => {
  await dev.barWrite(R.BAR_LEGACY, off, size, v);
};

const ACK_DRIVER = R.STATUS_ACKNOWLEDGE | R.STATUS_DRIVER;
const FEATURES_OK = ACK_DRIVER | R.STATUS_FEATURES_OK;
const DRIVER_OK = FEATURES_OK | R.STATUS_DRIVER_OK;

function writeFeatures(dev: VirtioPciDevice, f: bigint): void {
  wr(dev, R.COMMON_GFSELECT, 4, 0);
  wr(dev, R.COMMON_GF, 4, Number(f & 0xffffffffn));
  wr(dev, R.COMMON_GFSELECT, 4, 1);
  wr(dev, R.COMMON_GF, 4, Number(f >> 32n));
}
function deviceFeatures(dev: VirtioPciDevice): bigint {
  wr(dev, R.COMMON_DFSELECT, 4, 0);
  const lo = rd(dev, R.COMMON_DF);
  wr(dev, R.COMMON_DFSELECT, 4, 1);
  return (BigInt(rd(dev, R.COMMON_DF)) << 32n) | BigInt(lo);
}

interface QueueSetup {
  readonly size?: number;
  readonly desc?: number;
  readonly avail?: number;
  readonly used?: number;
  readonly vector?: number;
  readonly enable?: boolean;
}
/** 4.1.5.1.3: select, size, vector, the three addresses, enable. */
function setupQueue(dev: VirtioPciDevice, q: number, s: QueueSetup = {}): void {
  const base = 0x10_0000 + q * 0x1_0000;
  wr(dev, R.COMMON_Q_SELECT, 2, q);
  wr(dev, R.COMMON_Q_SIZE, 2, s.size ?? 16);
  if (s.vector !== undefined) wr(dev, R.COMMON_Q_MSIX, 2, s.vector);
  for (const [lo, a] of [
    [R.COMMON_Q_DESCLO, s.desc ?? base],
    [R.COMMON_Q_AVAILLO, s.avail ?? base + 0x1000],
    [R.COMMON_Q_USEDLO, s.used ?? base + 0x2000],
  ] as const) {
    wr(dev, lo, 4, a >>> 0);
    wr(dev, lo + 4, 4, Math.floor(a / 2 ** 32));
  }
  if (s.enable ?? true) wr(dev, R.COMMON_Q_ENABLE, 2, 1);
}

/** The modern initialisation sequence of 3.1.1 up to DRIVER_OK. */
async function initModern(dev: VirtioPciDevice, o: { features?: bigint; queues?: readonly number[]; queue?: QueueSetup } = {}): Promise<void> {
  await setStatus(dev, 0);
  await setStatus(dev, R.STATUS_ACKNOWLEDGE);
  await setStatus(dev, ACK_DRIVER);
  writeFeatures(dev, o.features ?? VERSION_1);
  await setStatus(dev, FEATURES_OK);
  for (const q of o.queues ?? [0, 1]) setupQueue(dev, q, o.queue);
  await setStatus(dev, DRIVER_OK);
}

/** MSI-X on, entry v → irq[v] unmasked, config vector 0 and queue q → vector q + 1. */
function enableMsix(dev: VirtioPciDevice): void {
  dev.configWrite(R.CAP_MSIX + R.MSIX_CAP_CONTROL, 2, R.MSIX_CONTROL_ENABLE);
  for (let v = 0; v < dev.vectors; v++) {
    dev.barWrite(R.BAR_MSIX, v * R.MSIX_ENTRY_SIZE + R.MSIX_ENTRY_ADDR_LO, 4, NotifierInterruptRouter.msiAddress(0));
    dev.barWrite(R.BAR_MSIX, v * R.MSIX_ENTRY_SIZE + R.MSIX_ENTRY_ADDR_HI, 4, 0);
    dev.barWrite(R.BAR_MSIX, v * R.MSIX_ENTRY_SIZE + R.MSIX_ENTRY_DATA, 4, v);
    dev.barWrite(R.BAR_MSIX, v * R.MSIX_ENTRY_SIZE + R.MSIX_ENTRY_CTRL, 4, 0);
  }
}

const cfg = (dev: VirtioPciDevice, off: number, size: number): number => dev.configRead(off, size);

// ---------------------------------------------------------------- configuration space

describe('virtio-pci / configuration space (4.1.2, PCI 3.0 6.1)', () => {
  it('identity: vendor 0x1af4, transitional id 0x1001 rev 0 vs modern 0x1042 rev 1, subsystem, class, header, pin', () => {
    const t = bench({ transitional: true, program: false }).dev;
    expect(cfg(t, R.PCI_VENDOR_ID, 2)).toBe(0x1af4);
    expect(cfg(t, R.PCI_DEVICE_ID, 2)).toBe(0x1001);
    expect(cfg(t, R.PCI_REVISION_ID, 1)).toBe(0);
    const m = bench({ transitional: false, program: false }).dev;
    expect(cfg(m, R.PCI_DEVICE_ID, 2)).toBe(0x1042);
    expect(cfg(m, R.PCI_REVISION_ID, 1)).toBe(1);
    for (const d of [t, m]) {
      expect(cfg(d, R.PCI_SUBSYSTEM_VENDOR_ID, 2)).toBe(0x1af4);
      expect(cfg(d, R.PCI_SUBSYSTEM_ID, 2)).toBe(2); // the virtio device type
      expect(cfg(d, R.PCI_CLASS_PROG, 1)).toBe(0);
      expect(cfg(d, R.PCI_CLASS_DEVICE, 2)).toBe(0x0100); // mass storage, SCSI-class subclass 0 (QEMU: PCI_CLASS_STORAGE_SCSI)
      expect(cfg(d, R.PCI_HEADER_TYPE, 1)).toBe(0);
      expect(cfg(d, R.PCI_INTERRUPT_PIN, 1)).toBe(1); // INTA
      expect(cfg(d, R.PCI_STATUS, 2) & R.PCI_STATUS_CAP_LIST).not.toBe(0);
    }
  });

  it('identity fields are read-only (the write mask)', () => {
    const { dev } = bench({ program: false });
    dev.configWrite(R.PCI_VENDOR_ID, 4, 0x12345678);
    dev.configWrite(R.PCI_CLASS_PROG, 1, 0x55);
    expect(cfg(dev, R.PCI_VENDOR_ID, 2)).toBe(0x1af4);
    expect(cfg(dev, R.PCI_DEVICE_ID, 2)).toBe(0x1001);
    expect(cfg(dev, R.PCI_CLASS_PROG, 1)).toBe(0);
  });

  it('capability chain: common, ISR, device, notify (with its multiplier), MSI-X (4.1.4)', () => {
    const { dev } = bench({ program: false });
    const caps: { at: number; id: number; type?: number; bar?: number; offset?: number; length?: number; len?: number }[] = [];
    for (let at = cfg(dev, R.PCI_CAPABILITY_LIST, 1), guard = 0; at !== 0 && guard < 16; at = cfg(dev, at + 1, 1), guard++) {
      const id = cfg(dev, at, 1);
      caps.push(
        id === R.PCI_CAP_ID_VNDR
          ? { at, id, len: cfg(dev, at + 2, 1), type: cfg(dev, at + R.VIRTIO_CAP_CFG_TYPE, 1), bar: cfg(dev, at + R.VIRTIO_CAP_BAR, 1), offset: cfg(dev, at + R.VIRTIO_CAP_OFFSET, 4), length: cfg(dev, at + R.VIRTIO_CAP_LENGTH, 4) }
          : { at, id },
      );
    }
    expect(caps).toEqual([
      { at: R.CAP_COMMON, id: 9, len: 16, type: R.VIRTIO_PCI_CAP_COMMON_CFG, bar: 4, offset: R.MODERN_COMMON_OFFSET, length: R.MODERN_COMMON_SIZE },
      { at: R.CAP_ISR, id: 9, len: 16, type: R.VIRTIO_PCI_CAP_ISR_CFG, bar: 4, offset: R.MODERN_ISR_OFFSET, length: R.MODERN_ISR_SIZE },
      { at: R.CAP_DEVICE, id: 9, len: 16, type: R.VIRTIO_PCI_CAP_DEVICE_CFG, bar: 4, offset: R.MODERN_DEVICE_OFFSET, length: R.MODERN_DEVICE_SIZE },
      { at: R.CAP_NOTIFY, id: 9, len: 20, type: R.VIRTIO_PCI_CAP_NOTIFY_CFG, bar: 4, offset: R.MODERN_NOTIFY_OFFSET, length: R.MODERN_NOTIFY_SIZE },
      { at: R.CAP_MSIX, id: R.PCI_CAP_ID_MSIX },
    ]);
    expect(cfg(dev, R.CAP_NOTIFY + R.VIRTIO_CAP_NOTIFY_MULTIPLIER, 4)).toBe(R.NOTIFY_OFF_MULTIPLIER);
    // MSI-X: table size N-1 (3 vectors for 2 queues), table in BAR1 at 0, PBA in BAR1 at 0x800.
    expect(cfg(dev, R.CAP_MSIX + R.MSIX_CAP_CONTROL, 2)).toBe(dev.vectors - 1);
    expect(dev.vectors).toBe(3);
    expect(cfg(dev, R.CAP_MSIX + R.MSIX_CAP_TABLE, 4)).toBe(R.BAR_MSIX);
    expect(cfg(dev, R.CAP_MSIX + R.MSIX_CAP_PBA, 4)).toBe(R.MSIX_PBA_OFFSET | R.BAR_MSIX);
  });

  it('BAR sizing protocol: all ones written, ~(size - 1) | type bits read back; 64-bit BAR4 spans BAR5', () => {
    const { dev } = bench({ program: false });
    const size = (i: number): number => {
      const off = R.PCI_BASE_ADDRESS_0 + 4 * i;
      dev.configWrite(off, 4, 0xffffffff);
      return cfg(dev, off, 4);
    };
    expect(size(0)).toBe(0xffffffc1); // I/O, 64 bytes: 24 bytes of registers + 16 of device configuration, to a power of two
    expect(size(1)).toBe(0xfffff000); // 32-bit memory, 4 KiB
    expect(size(2)).toBe(0); // unimplemented
    expect(size(3)).toBe(0);
    expect(size(4)).toBe((0xffffc000 | R.PCI_BAR_MEM_TYPE_64 | R.PCI_BAR_MEM_PREFETCH) >>> 0); // 16 KiB, 64-bit, prefetchable
    expect(size(5)).toBe(0xffffffff); // the upper half of BAR4
    expect(dev.config.barAddress(4)).toBeUndefined(); // the sizing pattern does not decode
    programBars(dev);
    expect(cfg(dev, R.PCI_BASE_ADDRESS_0 + 16, 4)).toBe(((MODERN_BASE >>> 0) | 0xc) >>> 0);
    expect(cfg(dev, R.PCI_BASE_ADDRESS_0 + 20, 4)).toBe(0x80);
    expect(dev.config.barAddress(4)).toBe(MODERN_BASE);
    expect(dev.config.barAddress(0)).toBe(IO_BASE);
  });

  it('a modern-only device has no legacy I/O BAR', () => {
    const { dev } = bench({ transitional: false, program: false });
    dev.configWrite(R.PCI_BASE_ADDRESS_0, 4, 0xffffffff);
    expect(cfg(dev, R.PCI_BASE_ADDRESS_0, 4)).toBe(0);
    expect(dev.barRead(R.BAR_LEGACY, R.LEGACY_HOST_FEATURES, 4)).toBe(0xffffffff);
  });

  it('configuration accesses outside the 256 bytes, misaligned or of a bad size read all ones and write nothing', () => {
    const { dev } = bench({ program: false });
    expect(cfg(dev, 256, 4)).toBe(0xffffffff);
    expect(cfg(dev, 254, 4)).toBe(0xffffffff);
    expect(cfg(dev, 1, 2)).toBe(0xffff);
    expect(cfg(dev, 0, 3)).toBe(0xffffff);
    dev.configWrite(R.PCI_COMMAND - 1, 2, 0xffff);
    expect(cfg(dev, R.PCI_COMMAND, 2)).toBe(0);
  });
});

// ---------------------------------------------------------------- features

describe('virtio-pci / feature negotiation (2.2, 3.1.1)', () => {
  it('the device offers its own bits plus VERSION_1, EVENT_IDX and INDIRECT_DESC', () => {
    const { dev } = bench();
    const f = deviceFeatures(dev);
    expect(f).toBe(F_DEVICE | VERSION_1 | featureBit(VIRTIO_RING_F_EVENT_IDX) | featureBit(VIRTIO_RING_F_INDIRECT_DESC));
    wr(dev, R.COMMON_DFSELECT, 4, 2);
    expect(rd(dev, R.COMMON_DF)).toBe(0); // beyond 64 bits: nothing
  });

  it('FEATURES_OK is refused for bits the device did not offer (it reads back clear)', async () => {
    const { dev, events } = bench();
    await setStatus(dev, ACK_DRIVER);
    writeFeatures(dev, VERSION_1 | featureBit(3)); // bit 3 is not offered
    await setStatus(dev, FEATURES_OK);
    expect(status(dev) & R.STATUS_FEATURES_OK).toBe(0);
    expect(events).toContainEqual({ type: 'features-refused', driver: VERSION_1 | featureBit(3), device: dev.state.deviceFeatures });
    writeFeatures(dev, VERSION_1); // the driver may try again with a subset
    await setStatus(dev, FEATURES_OK);
    expect(status(dev) & R.STATUS_FEATURES_OK).not.toBe(0);
  });

  it('FEATURES_OK is refused by a modern-only device without VERSION_1, accepted by a transitional one', async () => {
    const m = bench({ transitional: false }).dev;
    await setStatus(m, ACK_DRIVER);
    writeFeatures(m, F_DEVICE);
    await setStatus(m, FEATURES_OK);
    expect(status(m) & R.STATUS_FEATURES_OK).toBe(0);
    const t = bench({ transitional: true }).dev;
    await setStatus(t, ACK_DRIVER);
    writeFeatures(t, F_DEVICE);
    await setStatus(t, FEATURES_OK);
    expect(status(t) & R.STATUS_FEATURES_OK).not.toBe(0);
  });

  it('hostile: driver feature writes after FEATURES_OK are ignored (QEMU virtio_set_features -EINVAL)', async () => {
    const { dev } = bench();
    await setStatus(dev, ACK_DRIVER);
    writeFeatures(dev, VERSION_1);
    await setStatus(dev, FEATURES_OK);
    writeFeatures(dev, VERSION_1 | F_DEVICE | featureBit(VIRTIO_RING_F_EVENT_IDX));
    expect(dev.state.driverFeatures).toBe(VERSION_1);
    wr(dev, R.COMMON_GFSELECT, 4, 0);
    expect(rd(dev, R.COMMON_GF)).toBe(0);
    wr(dev, R.COMMON_GFSELECT, 4, 1);
    expect(rd(dev, R.COMMON_GF)).toBe(1);
  });

  it('hostile: features not offered — a legacy driver\'s unoffered bits are dropped, a modern one\'s make FEATURES_OK fail', async () => {
    const { dev } = bench();
    await lwr(dev, R.LEGACY_GUEST_FEATURES, 4, 0xffffffff);
    expect(lrd(dev, R.LEGACY_GUEST_FEATURES, 4)).toBe(Number(dev.state.deviceFeatures & 0xffffffffn));
    await setStatus(dev, 0);
    await setStatus(dev, ACK_DRIVER);
    writeFeatures(dev, 0xffffffffffffffffn);
    await setStatus(dev, DRIVER_OK); // FEATURES_OK refused, and DRIVER_OK without it breaks a VERSION_1 driver's device
    expect(status(dev) & R.STATUS_FEATURES_OK).toBe(0);
    expect(dev.state.running).toBe(false);
  });
});

// ---------------------------------------------------------------- status

describe('virtio-pci / device status (2.1, 3.1.1)', () => {
  it('DRIVER_OK starts the model with the negotiated features and each queue\'s configuration', async () => {
    const { dev, model } = bench();
    await initModern(dev, { features: VERSION_1 | F_DEVICE, queues: [0] });
    expect(model.log).toEqual(['reset', 'start']);
    expect(dev.state.running).toBe(true);
    const c = model.starts[0]!;
    expect(c.features).toBe(VERSION_1 | F_DEVICE);
    expect(c.queues[0]).toEqual({ index: 0, enabled: true, size: 16, descTable: 0x10_0000, availRing: 0x10_1000, usedRing: 0x10_2000 });
    expect(c.queues[1]).toMatchObject({ index: 1, enabled: false, size: 256 });
    expect(TransportLink.open(c.link).queues).toBe(2);
  });

  it('a status write without DRIVER_OK stops the model; DRIVER_OK again restarts it', async () => {
    const { dev, model } = bench();
    await initModern(dev);
    await setStatus(dev, FEATURES_OK);
    expect(model.log).toEqual(['reset', 'start', 'stop']);
    expect(dev.state.running).toBe(false);
    await setStatus(dev, DRIVER_OK);
    expect(model.log).toEqual(['reset', 'start', 'stop', 'start']);
  });

  it('writing 0 resets: stop, the model\'s reset, features, queues and vectors back to their power-on values', async () => {
    const { dev, model, events } = bench();
    await initModern(dev, { features: VERSION_1 | F_DEVICE, queue: { vector: 1 } });
    const generation = rd(dev, R.COMMON_CFGGENERATION, 1);
    await setStatus(dev, 0);
    expect(model.log.slice(-2)).toEqual(['stop', 'reset']);
    expect(status(dev)).toBe(0);
    expect(dev.state.driverFeatures).toBe(0n);
    expect(rd(dev, R.COMMON_CFGGENERATION, 1)).toBe((generation + 1) & 0xff);
    wr(dev, R.COMMON_Q_SELECT, 2, 0);
    expect(rd(dev, R.COMMON_Q_SIZE, 2)).toBe(256);
    expect(rd(dev, R.COMMON_Q_ENABLE, 2)).toBe(0);
    expect(rd(dev, R.COMMON_Q_DESCLO)).toBe(0);
    expect(rd(dev, R.COMMON_Q_MSIX, 2)).toBe(R.NO_VECTOR);
    expect(events.at(-1)).toEqual({ type: 'reset' });
  });

  it('FAILED stops the model', async () => {
    const { dev, model } = bench();
    await initModern(dev);
    await setStatus(dev, DRIVER_OK | R.STATUS_FAILED);
    expect(model.log.at(-1)).toBe('stop');
    expect(dev.state.running).toBe(false);
  });

  it('the driver cannot set NEEDS_RESET itself', async () => {
    const { dev } = bench();
    await setStatus(dev, ACK_DRIVER | R.STATUS_NEEDS_RESET);
    expect(status(dev)).toBe(ACK_DRIVER);
  });

  it('NEEDS_RESET appears with a configuration interrupt when the device reports itself broken (QEMU virtio_error)', async () => {
    const b = bench();
    const { dev } = b;
    enableMsix(b.dev);
    await initModern(dev);
    wr(dev, R.COMMON_MSIX, 2, 0);
    // The queue thread's own link, as a dataplane opens it.
    const link = TransportLink.open(b.model.starts[0]!.link);
    expect(link.setBroken('queue 0: avail idx moved by 300')).toBe(true);
    expect(link.setBroken('a second reason')).toBe(false); // the first is kept
    expect(status(dev) & R.STATUS_NEEDS_RESET).not.toBe(0);
    expect(b.irq[0]!.testAndClear()).toBe(true);
    expect(dev.state.brokenReason).toBe('queue 0: avail idx moved by 300');
    await setStatus(dev, 0);
    expect(status(dev)).toBe(0);
    expect(dev.state.brokenReason).toBeUndefined();
  });

  it('NEEDS_RESET is shown only to a VERSION_1 driver (a legacy driver sees its status unchanged)', async () => {
    const { dev, model } = bench();
    await lwr(dev, R.LEGACY_STATUS, 1, ACK_DRIVER);
    await lwr(dev, R.LEGACY_GUEST_FEATURES, 4, 0);
    await lwr(dev, R.LEGACY_QUEUE_SEL, 2, 0);
    await lwr(dev, R.LEGACY_QUEUE_PFN, 4, 0x100);
    await lwr(dev, R.LEGACY_STATUS, 1, ACK_DRIVER | R.STATUS_DRIVER_OK);
    TransportLink.open(model.starts[0]!.link).setBroken('legacy queue broke');
    expect(lrd(dev, R.LEGACY_STATUS, 1)).toBe(ACK_DRIVER | R.STATUS_DRIVER_OK);
    expect(lrd(dev, R.LEGACY_ISR, 1) & R.ISR_CONFIG).not.toBe(0); // the config interrupt still came (INTx)
  });

  it('DRIVER_OK without FEATURES_OK from a VERSION_1 driver breaks the device instead of starting it', async () => {
    const { dev, model, events } = bench();
    await setStatus(dev, ACK_DRIVER);
    writeFeatures(dev, VERSION_1);
    setupQueue(dev, 0);
    await setStatus(dev, ACK_DRIVER | R.STATUS_DRIVER_OK);
    expect(model.log).not.toContain('start');
    expect(status(dev) & R.STATUS_NEEDS_RESET).not.toBe(0);
    expect(dev.state.brokenReason).toMatch(/DRIVER_OK without FEATURES_OK/);
    expect(events).toContainEqual({ type: 'broken', reason: 'driver set DRIVER_OK without FEATURES_OK' });
    // Broken until reset: DRIVER_OK again does not start it either.
    await setStatus(dev, DRIVER_OK);
    expect(model.log).not.toContain('start');
  });
});

// ---------------------------------------------------------------- interrupts

describe('virtio-pci / MSI-X (4.1.4.3, 4.1.5.1.2, PCI 3.0 6.8)', () => {
  it('a vector in the table is accepted; one beyond it reads back as NO_VECTOR (refused)', async () => {
    const { dev } = bench();
    wr(dev, R.COMMON_MSIX, 2, 2);
    expect(rd(dev, R.COMMON_MSIX, 2)).toBe(2);
    wr(dev, R.COMMON_MSIX, 2, 3); // 3 vectors: 0 … 2
    expect(rd(dev, R.COMMON_MSIX, 2)).toBe(R.NO_VECTOR);
    wr(dev, R.COMMON_Q_SELECT, 2, 1);
    wr(dev, R.COMMON_Q_MSIX, 2, 1);
    expect(rd(dev, R.COMMON_Q_MSIX, 2)).toBe(1);
    wr(dev, R.COMMON_Q_MSIX, 2, 0x7fff);
    expect(rd(dev, R.COMMON_Q_MSIX, 2)).toBe(R.NO_VECTOR);
  });

  it('a masked vector holds its message in the PBA (counted pending); unmasking delivers it', async () => {
    const b = bench();
    enableMsix(b.dev);
    await initModern(b.dev, { queue: { vector: 1 } });
    const link = TransportLink.open(b.model.starts[0]!.link);
    b.dev.barWrite(R.BAR_MSIX, 1 * R.MSIX_ENTRY_SIZE + R.MSIX_ENTRY_CTRL, 4, R.MSIX_ENTRY_CTRL_MASKED);
    link.notifyQueue(0);
    expect(b.irq[1]!.isSet()).toBe(false);
    expect(b.dev.barRead(R.BAR_MSIX, R.MSIX_PBA_OFFSET, 4)).toBe(1 << 1);
    expect(link.stats).toMatchObject({ pending: 1, msix: 0 });
    b.dev.barWrite(R.BAR_MSIX, 1 * R.MSIX_ENTRY_SIZE + R.MSIX_ENTRY_CTRL, 4, 0);
    expect(b.irq[1]!.testAndClear()).toBe(true);
    expect(b.dev.barRead(R.BAR_MSIX, R.MSIX_PBA_OFFSET, 4)).toBe(0);
    expect(link.stats).toMatchObject({ pending: 1, msix: 1 });
  });

  it('the function mask holds every vector; clearing it delivers what is pending', async () => {
    const b = bench();
    enableMsix(b.dev);
    await initModern(b.dev, { queue: { vector: 2 } });
    const link = TransportLink.open(b.model.starts[0]!.link);
    b.dev.configWrite(R.CAP_MSIX + R.MSIX_CAP_CONTROL, 2, R.MSIX_CONTROL_ENABLE | R.MSIX_CONTROL_MASKALL);
    link.notifyQueue(1);
    expect(b.irq[2]!.isSet()).toBe(false);
    expect(b.dev.barRead(R.BAR_MSIX, R.MSIX_PBA_OFFSET, 4)).toBe(1 << 2);
    b.dev.configWrite(R.CAP_MSIX + R.MSIX_CAP_CONTROL, 2, R.MSIX_CONTROL_ENABLE);
    expect(b.irq[2]!.testAndClear()).toBe(true);
    expect(link.stats).toMatchObject({ pending: 1, msix: 1 });
  });

  it('with MSI-X on, a queue without a vector (NO_VECTOR) gets no interrupt: dropped, no INTx either', async () => {
    const b = bench();
    enableMsix(b.dev);
    await initModern(b.dev);
    const link = TransportLink.open(b.model.starts[0]!.link);
    link.notifyQueue(0);
    expect(link.stats).toMatchObject({ dropped: 1, msix: 0, intx: 0 });
    expect(b.intx.isSet()).toBe(false);
    expect(b.irq.some((n) => n.isSet())).toBe(false);
  });

  it('the MSI-X table and PBA: only aligned 4-byte accesses; the PBA is read-only', () => {
    const { dev } = bench();
    dev.barWrite(R.BAR_MSIX, R.MSIX_ENTRY_DATA, 4, 0x1234);
    expect(dev.barRead(R.BAR_MSIX, R.MSIX_ENTRY_DATA, 4)).toBe(0x1234);
    expect(dev.barRead(R.BAR_MSIX, R.MSIX_ENTRY_DATA, 2)).toBe(0);
    dev.barWrite(R.BAR_MSIX, R.MSIX_PBA_OFFSET, 4, 0xffffffff);
    expect(dev.barRead(R.BAR_MSIX, R.MSIX_PBA_OFFSET, 4)).toBe(0);
  });
});

describe('virtio-pci / INTx and ISR (4.1.4.5)', () => {
  it('with MSI-X off: queue and config interrupts raise INTx, ISR bits 0 and 1, reading ISR returns and clears them', async () => {
    const b = bench();
    await initModern(b.dev);
    const link = TransportLink.open(b.model.starts[0]!.link);
    link.notifyQueue(0);
    expect(b.intx.testAndClear()).toBe(true);
    link.notifyConfig();
    expect(b.dev.barRead(R.BAR_MODERN, R.MODERN_ISR_OFFSET, 1)).toBe(R.ISR_QUEUE | R.ISR_CONFIG);
    expect(b.dev.barRead(R.BAR_MODERN, R.MODERN_ISR_OFFSET, 1)).toBe(0);
    expect(link.stats).toMatchObject({ intx: 2 });
  });

  it('INTx disabled in the command register: the ISR bit is set, the line is not raised (dropped)', async () => {
    const b = bench();
    await initModern(b.dev);
    b.dev.configWrite(R.PCI_COMMAND, 2, R.PCI_COMMAND_IO | R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER | R.PCI_COMMAND_INTX_DISABLE);
    const link = TransportLink.open(b.model.starts[0]!.link);
    link.notifyQueue(0);
    expect(b.intx.isSet()).toBe(false);
    expect(link.stats.dropped).toBe(1);
    expect(lrd(b.dev, R.LEGACY_ISR, 1)).toBe(R.ISR_QUEUE);
  });
});

// ---------------------------------------------------------------- legacy

describe('virtio-pci / legacy I/O BAR0 (4.1.4.8, virtio 0.9.5)', () => {
  it('layout: host features 0, guest features 4, PFN 8 (rings the legacy way), num 12, select 14, notify 16, status 18, ISR 19', async () => {
    const b = bench();
    const { dev, model } = b;
    expect(lrd(dev, R.LEGACY_HOST_FEATURES, 4)).toBe(Number(dev.state.deviceFeatures & 0xffffffffn)); // no VERSION_1: it is bit 32
    await lwr(dev, R.LEGACY_STATUS, 1, ACK_DRIVER);
    await lwr(dev, R.LEGACY_GUEST_FEATURES, 4, Number(F_DEVICE));
    expect(lrd(dev, R.LEGACY_GUEST_FEATURES, 4)).toBe(Number(F_DEVICE));
    await lwr(dev, R.LEGACY_QUEUE_SEL, 2, 1);
    expect(lrd(dev, R.LEGACY_QUEUE_SEL, 2)).toBe(1);
    expect(lrd(dev, R.LEGACY_QUEUE_NUM, 2)).toBe(256);
    await lwr(dev, R.LEGACY_QUEUE_PFN, 4, 0x123);
    expect(lrd(dev, R.LEGACY_QUEUE_PFN, 4)).toBe(0x123);
    await lwr(dev, R.LEGACY_STATUS, 1, ACK_DRIVER | R.STATUS_DRIVER_OK);
    expect(lrd(dev, R.LEGACY_STATUS, 1)).toBe(ACK_DRIVER | R.STATUS_DRIVER_OK);
    const q1 = model.starts[0]!.queues[1]!;
    // 0.9.5 2.3: descriptors at PFN << 12, avail right after, used at the next 4096.
    const desc = 0x123 * 4096;
    expect(q1).toEqual({ index: 1, enabled: true, size: 256, descTable: desc, availRing: desc + 16 * 256, usedRing: Math.ceil((desc + 16 * 256 + 6 + 2 * 256) / 4096) * 4096 });
    expect(model.starts[0]!.queues[0]!.enabled).toBe(false);
    // Notify at 16 (ioeventfd off here would be synchronous; with it on the vCPU matches first).
    await lwr(dev, R.LEGACY_QUEUE_NOTIFY, 2, 1);
    expect(model.log.at(-1)).toBe('notify 1');
    TransportLink.open(model.starts[0]!.link).notifyQueue(1);
    expect(lrd(dev, R.LEGACY_ISR, 1)).toBe(R.ISR_QUEUE);
    expect(lrd(dev, R.LEGACY_ISR, 1)).toBe(0);
  });

  it('MSI-X vectors at 20/22 and the device configuration at 24 only while MSI-X is enabled, else the configuration at 20', async () => {
    const b = bench();
    const { dev } = b;
    expect(lrd(dev, R.LEGACY_CONFIG, 4)).toBe(b.model.readConfig(0, 4));
    expect(lrd(dev, R.LEGACY_CONFIG + 4, 2)).toBe(b.model.readConfig(4, 2));
    await lwr(dev, R.LEGACY_MSIX_CONFIG_VECTOR, 2, 0); // lands in the device configuration
    expect(b.model.configWrites).toEqual([[0, 2, 0]]);
    enableMsix(b.dev);
    expect(lrd(dev, R.LEGACY_CONFIG_MSIX, 4)).toBe(b.model.readConfig(0, 4));
    expect(lrd(dev, R.LEGACY_MSIX_CONFIG_VECTOR, 2)).toBe(R.NO_VECTOR);
    await lwr(dev, R.LEGACY_MSIX_CONFIG_VECTOR, 2, 0);
    expect(lrd(dev, R.LEGACY_MSIX_CONFIG_VECTOR, 2)).toBe(0);
    await lwr(dev, R.LEGACY_QUEUE_SEL, 2, 1);
    await lwr(dev, R.LEGACY_MSIX_QUEUE_VECTOR, 2, 2);
    expect(lrd(dev, R.LEGACY_MSIX_QUEUE_VECTOR, 2)).toBe(2);
    await lwr(dev, R.LEGACY_MSIX_QUEUE_VECTOR, 2, 9); // beyond the table: refused
    expect(lrd(dev, R.LEGACY_MSIX_QUEUE_VECTOR, 2)).toBe(R.NO_VECTOR);
    expect(b.model.configWrites).toHaveLength(1);
  });

  it('a zero PFN resets the device (QEMU virtio_ioport_write)', async () => {
    const { dev, model } = bench();
    await lwr(dev, R.LEGACY_STATUS, 1, ACK_DRIVER);
    await lwr(dev, R.LEGACY_QUEUE_PFN, 4, 0x100);
    await lwr(dev, R.LEGACY_STATUS, 1, ACK_DRIVER | R.STATUS_DRIVER_OK);
    await lwr(dev, R.LEGACY_QUEUE_PFN, 4, 0);
    expect(model.log.slice(-2)).toEqual(['stop', 'reset']);
    expect(lrd(dev, R.LEGACY_STATUS, 1)).toBe(0);
  });
});

// ---------------------------------------------------------------- ioeventfd lifecycle

const bound = (e: TransportEvent): boolean => e.type === 'ioeventfd' && e.bound;
const unbound = (e: TransportEvent): boolean => e.type === 'ioeventfd' && !e.bound;

describe('virtio-pci / ioeventfd lifecycle (QEMU virtio_pci_start_ioeventfd / stop_ioeventfd)', () => {
  it('starts when the driver sets DRIVER_OK: each enabled queue\'s notifier set, then bound to its doorbells, then the model starts', async () => {
    const b = bench();
    await initModern(b.dev);
    expect(b.dev.state.ioeventfd).toBe('bound');
    // Two queues × (modern notify capability + legacy port 16).
    expect(b.assigned.map((a) => a.reg)).toEqual([
      { space: 'mmio', address: NOTIFY + 0 * R.NOTIFY_OFF_MULTIPLIER, size: 0, notifier: 0 },
      { space: 'pio', address: IO_BASE + R.LEGACY_QUEUE_NOTIFY, size: 2, data: 0, notifier: 0 },
      { space: 'mmio', address: NOTIFY + 1 * R.NOTIFY_OFF_MULTIPLIER, size: 0, notifier: 1 },
      { space: 'pio', address: IO_BASE + R.LEGACY_QUEUE_NOTIFY, size: 2, data: 1, notifier: 1 },
    ]);
    // "Assign each queue's notifier already set": set before its binding existed.
    expect(b.assigned.every((a) => a.notifierWasSet)).toBe(true);
    expect(b.table.stats).toMatchObject({ assigned: 4, unbound: 0, assignFailed: 0 });
    const types = b.events.map((e) => e.type);
    expect(types.indexOf('ioeventfd')).toBeLessThan(types.indexOf('start'));
    expect(b.events.find(bound)).toEqual({ type: 'ioeventfd', bound: true, registrations: 4 });
    // The model's first look at each queue finds its notifier set: the one kick per queue.
    expect(b.hostNotifiers.map((n) => n.testAndClear())).toEqual([true, true]);
    // The doorbells now set the notifiers on the vCPU, without an exit.
    const m = b.matcher();
    expect(m.write('mmio', NOTIFY + 1 * R.NOTIFY_OFF_MULTIPLIER, 2, 1)).toBe(true);
    expect(m.write('pio', IO_BASE + R.LEGACY_QUEUE_NOTIFY, 2, 0)).toBe(true);
    expect(m.write('pio', IO_BASE + R.LEGACY_QUEUE_NOTIFY, 2, 5)).toBe(false); // no such queue: an exit
    expect(b.hostNotifiers.map((n) => n.testAndClear())).toEqual([true, true]);
    expect(b.model.log).not.toContain('notify 0');
  });

  it('only enabled queues are bound', async () => {
    const b = bench();
    await initModern(b.dev, { queues: [1] });
    expect(b.assigned.map((a) => a.reg.notifier)).toEqual([1, 1]);
    expect(b.hostNotifiers[0]!.isSet()).toBe(false);
  });

  it('stops on a status write without DRIVER_OK: unbound first, then the model stops and test-and-clears what raced in', async () => {
    const b = bench();
    await initModern(b.dev);
    for (const n of b.hostNotifiers) n.testAndClear();
    const m = b.matcher();
    expect(m.write('mmio', NOTIFY, 2, 0)).toBe(true); // a kick the model has not looked at yet
    let atStop: { doorbellMatches: boolean; kickHandled: boolean } | undefined;
    b.model.onStop = () => {
      // QEMU virtio_bus_cleanup_host_notifier: the vCPUs can no longer set it; test-and-clear, handle.
      atStop = { doorbellMatches: m.write('mmio', NOTIFY + 4, 2, 1), kickHandled: b.hostNotifiers[0]!.testAndClear() };
    };
    await setStatus(b.dev, FEATURES_OK);
    expect(atStop).toEqual({ doorbellMatches: false, kickHandled: true });
    expect(b.hostNotifiers[1]!.isSet()).toBe(false); // the unbound doorbell write became an exit, not a set
    expect(b.dev.state.ioeventfd).toBe('unbound');
    expect(b.table.stats).toMatchObject({ assigned: 4, unbound: 4 });
    const types = b.events.map((e) => (e.type === 'ioeventfd' ? `ioeventfd ${e.bound}` : e.type));
    expect(types.slice(-2)).toEqual(['ioeventfd false', 'stop']);
    expect(m.write('mmio', NOTIFY, 2, 0)).toBe(false);
  });

  it('stops on reset (status 0)', async () => {
    const b = bench();
    await initModern(b.dev);
    await setStatus(b.dev, 0);
    expect(b.dev.state.ioeventfd).toBe('unbound');
    expect(b.table.stats.unbound).toBe(4);
    expect(b.events.some(unbound)).toBe(true);
    expect(b.matcher().write('mmio', NOTIFY, 2, 0)).toBe(false);
  });

  it('stops when bus mastering is cleared (QEMU clears DRIVER_OK)', async () => {
    const b = bench();
    await initModern(b.dev);
    await b.dev.configWrite(R.PCI_COMMAND, 2, R.PCI_COMMAND_IO | R.PCI_COMMAND_MEMORY);
    expect(status(b.dev) & R.STATUS_DRIVER_OK).toBe(0);
    expect(b.model.log.at(-1)).toBe('stop');
    expect(b.dev.state.ioeventfd).toBe('unbound');
    expect(b.table.stats.unbound).toBe(4);
  });

  it('stops when the VM stops and rebinds when it resumes (QEMU virtio_vmstate_change)', async () => {
    const b = bench();
    await initModern(b.dev);
    await b.dev.vmStop();
    expect(b.dev.state).toMatchObject({ vmRunning: false, running: false, ioeventfd: 'unbound' });
    expect(b.model.log.at(-1)).toBe('stop');
    expect(status(b.dev) & R.STATUS_DRIVER_OK).not.toBe(0); // the guest's status is untouched
    // A doorbell while stopped is an exit the stopped device ignores (the request stays in the ring).
    expect(b.matcher().write('mmio', NOTIFY, 2, 0)).toBe(false);
    await b.dev.barWrite(R.BAR_MODERN, R.MODERN_NOTIFY_OFFSET, 2, 0);
    expect(b.dev.state.ignoredNotifies).toBe(1);
    for (const n of b.hostNotifiers) n.testAndClear();
    await b.dev.vmResume();
    expect(b.dev.state).toMatchObject({ vmRunning: true, running: true, ioeventfd: 'bound' });
    expect(b.model.log.slice(-2)).toEqual(['stop', 'start']);
    // Rebinding sets the notifiers again: the restarted model looks at every queue once.
    expect(b.hostNotifiers.map((n) => n.isSet())).toEqual([true, true]);
    expect(b.table.stats).toMatchObject({ assigned: 8, unbound: 4 });
  });

  it('DRIVER_OK while the VM is stopped starts nothing until it resumes', async () => {
    const b = bench();
    await b.dev.vmStop();
    await initModern(b.dev);
    expect(b.model.log).not.toContain('start');
    expect(b.dev.state.ioeventfd).toBe('unbound');
    await b.dev.vmResume();
    expect(b.model.log.at(-1)).toBe('start');
    expect(b.dev.state.ioeventfd).toBe('bound');
  });

  it('start and stop are idempotent: a second DRIVER_OK, stop, vmStop or vmResume changes nothing', async () => {
    const b = bench();
    await initModern(b.dev);
    await setStatus(b.dev, DRIVER_OK);
    expect(b.model.log.filter((l) => l === 'start')).toHaveLength(1);
    expect(b.table.stats.assigned).toBe(4);
    await Promise.all([b.dev.vmStop(), b.dev.vmStop()]);
    expect(b.model.log.filter((l) => l === 'stop')).toHaveLength(1);
    expect(b.table.stats.unbound).toBe(4);
    await setStatus(b.dev, FEATURES_OK); // already stopped
    expect(b.model.log.filter((l) => l === 'stop')).toHaveLength(1);
    await Promise.all([b.dev.vmResume(), b.dev.vmResume()]);
    expect(b.model.log.filter((l) => l === 'start')).toHaveLength(1); // FEATURES_OK only now: nothing to resume
    await setStatus(b.dev, DRIVER_OK);
    await b.dev.vmResume();
    expect(b.model.log.filter((l) => l === 'start')).toHaveLength(2);
    expect(b.table.stats.assigned).toBe(8);
    expect(b.events.filter(bound)).toHaveLength(2);
    expect(b.events.filter(unbound)).toHaveLength(1);
  });

  it('a start and a stop in flight at once are serialised (the stop waits for the start)', async () => {
    const b = bench();
    let release!: () => void;
    b.model.onStart = () => new Promise<void>((r) => (release = r));
    await setStatus(b.dev, ACK_DRIVER);
    writeFeatures(b.dev, VERSION_1);
    await setStatus(b.dev, FEATURES_OK);
    setupQueue(b.dev, 0);
    const starting = setStatus(b.dev, DRIVER_OK);
    await new Promise((r) => setImmediate(r));
    const stopping = setStatus(b.dev, FEATURES_OK);
    await new Promise((r) => setImmediate(r));
    expect(b.model.log).toEqual(['start']); // the stop has not overtaken the start
    release();
    await starting;
    await stopping;
    expect(b.model.log).toEqual(['start', 'stop']);
  });

  it('table full: the doorbell falls back to a synchronous exit and the fallback is recorded', async () => {
    const b = bench({ entries: 3 });
    await initModern(b.dev);
    expect(b.table.stats).toMatchObject({ assigned: 3, assignFailed: 1 });
    expect(b.dev.state.fallback).toEqual([{ queue: 1, reason: 'ioeventfd table full: doorbell handled synchronously (slower)' }]);
    expect(b.events).toContainEqual({ type: 'ioeventfd-fallback', queue: 1, reason: 'ioeventfd table full: doorbell handled synchronously (slower)' });
    expect(b.dev.state.ioeventfd).toBe('bound');
    // Queue 1's legacy doorbell is not bound: the vCPU exits, and the transport notifies the model.
    expect(b.matcher().write('pio', IO_BASE + R.LEGACY_QUEUE_NOTIFY, 2, 1)).toBe(false);
    await lwr(b.dev, R.LEGACY_QUEUE_NOTIFY, 2, 1);
    expect(b.model.log.at(-1)).toBe('notify 1');
    expect(b.dev.state.syncNotifies).toBe(1);
    // A reset forgets the fallback; the next start records it again.
    await setStatus(b.dev, 0);
    expect(b.dev.state.fallback).toEqual([]);
  });

  it('a queue without a host notifier is handled synchronously, and recorded', async () => {
    const b = bench({ withNotifier: [0] });
    await initModern(b.dev);
    expect(b.dev.state.fallback).toEqual([{ queue: 1, reason: 'the device has no host notifier for this queue' }]);
    expect(b.table.stats.assigned).toBe(2);
    await b.dev.barWrite(R.BAR_MODERN, R.MODERN_NOTIFY_OFFSET + 1 * R.NOTIFY_OFF_MULTIPLIER, 2, 1);
    expect(b.model.log.at(-1)).toBe('notify 1');
  });

  it('ioeventfd: false (no iothread: the machine turns it off): every doorbell is a synchronous exit', async () => {
    const b = bench({ ioeventfd: false });
    await initModern(b.dev);
    expect(b.dev.state.ioeventfd).toBe('disabled');
    expect(b.table.stats.assigned).toBe(0);
    expect(b.events.some((e) => e.type === 'ioeventfd')).toBe(false);
    await b.dev.barWrite(R.BAR_MODERN, R.MODERN_NOTIFY_OFFSET, 2, 0);
    await lwr(b.dev, R.LEGACY_QUEUE_NOTIFY, 2, 1);
    expect(b.model.log.slice(-2)).toEqual(['notify 0', 'notify 1']);
    expect(b.dev.state.syncNotifies).toBe(2);
  });

  it('the ioeventfd property defaults to on (and then needs the machine\'s table)', () => {
    const model = new FakeModel();
    const routes = routesOf([EventNotifier.create()], EventNotifier.create());
    expect(() => new VirtioPciDevice({ model, routes })).toThrow(/ioeventfd needs the machine ioeventfd table/);
    const dev = new VirtioPciDevice({ model, routes, ioeventfds: IoEventFdTable.create({ entries: 4, vcpus: 1 }) });
    expect(dev.state.ioeventfd).toBe('unbound');
  });

  it('BAR4 moved while running: the modern doorbells are rebound at the new address', async () => {
    const b = bench();
    await initModern(b.dev);
    const m = b.matcher();
    const moved = 0x90_0000_0000;
    await b.dev.configWrite(R.PCI_BASE_ADDRESS_0 + 4 * R.BAR_MODERN + 4, 4, Math.floor(moved / 2 ** 32));
    expect(b.dev.state.ioeventfd).toBe('bound');
    expect(b.table.stats).toMatchObject({ unbound: 4, assigned: 8 });
    expect(m.write('mmio', NOTIFY, 2, 0)).toBe(false);
    expect(m.write('mmio', moved + R.MODERN_NOTIFY_OFFSET, 2, 0)).toBe(true);
    expect(m.write('pio', IO_BASE + R.LEGACY_QUEUE_NOTIFY, 2, 1)).toBe(true);
    expect(b.model.log).toEqual(['reset', 'start']); // the device kept running
  });

  it('memory decoding turned off while running unbinds the modern doorbells; turned on again, they are bound again', async () => {
    const b = bench();
    await initModern(b.dev);
    await b.dev.configWrite(R.PCI_COMMAND, 2, R.PCI_COMMAND_IO | R.PCI_COMMAND_MASTER);
    expect(b.matcher().write('mmio', NOTIFY, 2, 0)).toBe(false);
    expect(b.matcher().write('pio', IO_BASE + R.LEGACY_QUEUE_NOTIFY, 2, 0)).toBe(true);
    await b.dev.configWrite(R.PCI_COMMAND, 2, R.PCI_COMMAND_IO | R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
    expect(b.matcher().write('mmio', NOTIFY, 2, 0)).toBe(true);
    expect(b.model.log).toEqual(['reset', 'start']);
  });
});

// ---------------------------------------------------------------- hostile register access

describe('virtio-pci / hostile driver: registers', () => {
  it('queue select out of range: size reads 0, the queue registers read as nothing, writes are ignored', async () => {
    const { dev, model } = bench();
    await setStatus(dev, ACK_DRIVER);
    writeFeatures(dev, VERSION_1);
    await setStatus(dev, FEATURES_OK);
    wr(dev, R.COMMON_Q_SELECT, 2, 2); // queues 0 and 1 exist
    expect(rd(dev, R.COMMON_Q_SIZE, 2)).toBe(0);
    expect(rd(dev, R.COMMON_Q_MSIX, 2)).toBe(R.NO_VECTOR);
    expect(rd(dev, R.COMMON_Q_NOFF, 2)).toBe(0);
    for (const [off, size] of [
      [R.COMMON_Q_SIZE, 2],
      [R.COMMON_Q_MSIX, 2],
      [R.COMMON_Q_DESCLO, 4],
      [R.COMMON_Q_AVAILLO, 4],
      [R.COMMON_Q_USEDLO, 4],
      [R.COMMON_Q_ENABLE, 2],
    ] as const) {
      wr(dev, off, size, 1);
      expect(rd(dev, off, size)).toBe(off === R.COMMON_Q_MSIX ? R.NO_VECTOR : 0);
    }
    await lwr(dev, R.LEGACY_QUEUE_SEL, 2, 0xffff);
    expect(lrd(dev, R.LEGACY_QUEUE_NUM, 2)).toBe(0);
    await lwr(dev, R.LEGACY_QUEUE_PFN, 4, 0x100);
    expect(lrd(dev, R.LEGACY_QUEUE_PFN, 4)).toBe(0);
    setupQueue(dev, 0);
    await setStatus(dev, DRIVER_OK);
    expect(model.starts[0]!.queues).toHaveLength(2);
    expect(model.starts[0]!.queues[1]).toMatchObject({ enabled: false, size: 256, descTable: 0 });
  });

  it('notify of an out-of-range queue is ignored (counted), and so is a doorbell off the multiplier grid', async () => {
    const { dev, model } = bench({ ioeventfd: false });
    await initModern(dev);
    await dev.barWrite(R.BAR_MODERN, R.MODERN_NOTIFY_OFFSET + 7 * R.NOTIFY_OFF_MULTIPLIER, 2, 7);
    await dev.barWrite(R.BAR_MODERN, R.MODERN_NOTIFY_OFFSET + 2, 2, 0);
    await lwr(dev, R.LEGACY_QUEUE_NOTIFY, 2, 9);
    expect(dev.state.ignoredNotifies).toBe(3);
    expect(dev.state.syncNotifies).toBe(0);
    expect(model.log.some((l) => l.startsWith('notify'))).toBe(false);
  });

  it('device configuration access out of range reads all ones, and writes are ignored', () => {
    const { dev, model } = bench();
    const devcfg = (off: number, size: number): number => dev.barRead(R.BAR_MODERN, R.MODERN_DEVICE_OFFSET + off, size);
    expect(devcfg(0, 4)).toBe(0x13121110);
    expect(devcfg(CONFIG_SIZE - 4, 4)).toBe(model.readConfig(CONFIG_SIZE - 4, 4));
    expect(devcfg(CONFIG_SIZE - 2, 4)).toBe(0xffffffff);
    expect(devcfg(CONFIG_SIZE, 1)).toBe(0xff);
    expect(devcfg(0x800, 2)).toBe(0xffff);
    expect(devcfg(0, 3)).toBe(0xffffff);
    dev.barWrite(R.BAR_MODERN, R.MODERN_DEVICE_OFFSET + CONFIG_SIZE - 1, 2, 0);
    dev.barWrite(R.BAR_MODERN, R.MODERN_DEVICE_OFFSET + 0x100, 4, 0);
    expect(model.configWrites).toEqual([]);
    dev.barWrite(R.BAR_MODERN, R.MODERN_DEVICE_OFFSET + 4, 4, 7);
    expect(model.configWrites).toEqual([[4, 4, 7]]);
    expect(lrd(dev, R.LEGACY_CONFIG + CONFIG_SIZE, 1)).toBe(0xff); // legacy view too
  });

  it('queue configuration writes after the queue is enabled, or after DRIVER_OK, are ignored (4.1.4.3.2)', async () => {
    const { dev, model } = bench();
    await setStatus(dev, ACK_DRIVER);
    writeFeatures(dev, VERSION_1);
    await setStatus(dev, FEATURES_OK);
    setupQueue(dev, 0, { size: 16, desc: 0x10_0000 });
    wr(dev, R.COMMON_Q_SIZE, 2, 64);
    wr(dev, R.COMMON_Q_DESCLO, 4, 0x20_0000);
    wr(dev, R.COMMON_Q_USEDHI, 4, 1);
    expect(rd(dev, R.COMMON_Q_SIZE, 2)).toBe(16);
    expect(rd(dev, R.COMMON_Q_DESCLO)).toBe(0x10_0000);
    await setStatus(dev, DRIVER_OK);
    wr(dev, R.COMMON_Q_SELECT, 2, 1); // not enabled, but the device runs
    wr(dev, R.COMMON_Q_SIZE, 2, 8);
    wr(dev, R.COMMON_Q_ENABLE, 2, 1);
    expect(rd(dev, R.COMMON_Q_SIZE, 2)).toBe(256);
    expect(rd(dev, R.COMMON_Q_ENABLE, 2)).toBe(0);
    await lwr(dev, R.LEGACY_QUEUE_PFN, 4, 0x300); // legacy: ignored while DRIVER_OK
    expect(lrd(dev, R.LEGACY_QUEUE_PFN, 4)).toBe(0);
    expect(model.starts[0]!.queues[0]).toMatchObject({ size: 16, descTable: 0x10_0000, usedRing: 0x10_2000 });
  });

  it('a ring address at or above 2^53 stays invalid (never rounds into guest memory)', () => {
    const { dev } = bench();
    wr(dev, R.COMMON_Q_SELECT, 2, 0);
    wr(dev, R.COMMON_Q_DESCLO, 4, 0x1000);
    wr(dev, R.COMMON_Q_DESCHI, 4, 0x20_0000);
    expect(rd(dev, R.COMMON_Q_DESCHI)).toBe(Math.floor(Number.MAX_SAFE_INTEGER / 2 ** 32) >>> 0);
  });

  it('unassigned MMIO and PIO, absent BARs and empty slots read all ones; writes are dropped (master abort)', async () => {
    const { dev } = bench();
    const bus = new PciBus();
    bus.plug(3, dev);
    const at = (space: 'mmio' | 'pio', address: number, size: number, write = false, value = 0) => bus.dispatch({ vcpu: 0, space, write, address, size, value });
    expect(at('mmio', 0x1234_0000, 4)).toBe(0xffffffff);
    expect(at('mmio', 0x1234_0000, 2)).toBe(0xffff);
    expect(at('pio', 0x80, 1)).toBe(0xff);
    expect(at('mmio', 0x1234_0000, 4, true, 5)).toBe(0);
    expect(bus.stats.unassigned).toBe(4);
    // Config mechanism #1: an empty slot, another bus, a disabled address.
    const cfgRead = (addr: number): number | Promise<number> => {
      at('pio', 0xcf8, 4, true, addr);
      return at('pio', 0xcfc, 4);
    };
    expect(cfgRead(0x8000_0000 | (5 << 11))).toBe(0xffffffff);
    expect(cfgRead(0x8001_0000 | (3 << 11))).toBe(0xffffffff);
    expect(cfgRead(3 << 11)).toBe(0xffffffff);
    expect(cfgRead(0x8000_0000 | (3 << 11))).toBe(0x10011af4);
    // A device's BAR reads and writes reach it only while its decoding is on.
    expect(at('mmio', MODERN_BASE + R.MODERN_COMMON_OFFSET + R.COMMON_NUMQ, 2)).toBe(2);
    dev.configWrite(R.PCI_COMMAND, 2, R.PCI_COMMAND_IO);
    expect(at('mmio', MODERN_BASE + R.MODERN_COMMON_OFFSET + R.COMMON_NUMQ, 2)).toBe(0xffff);
    expect(dev.barRead(2, 0, 4)).toBe(0xffffffff); // a BAR the device does not have
  });

  it('the bus holds back accesses behind an asynchronous one (a status write that starts the device)', async () => {
    const b = bench();
    const bus = new PciBus();
    bus.plug(3, b.dev);
    let release!: () => void;
    b.model.onStart = () => new Promise<void>((r) => (release = r));
    const st = MODERN_BASE + R.MODERN_COMMON_OFFSET + R.COMMON_STATUS;
    const access = (write: boolean, value = 0) => bus.dispatch({ vcpu: 0, space: 'mmio', write, address: st, size: 1, value });
    await access(true, ACK_DRIVER);
    writeFeatures(b.dev, VERSION_1);
    await access(true, FEATURES_OK);
    setupQueue(b.dev, 0);
    await new Promise((res) => setImmediate(res)); // the earlier accesses have settled
    const before = bus.stats.serialised;
    const w = access(true, DRIVER_OK);
    const r = access(false);
    expect(w).toBeInstanceOf(Promise);
    expect(r).toBeInstanceOf(Promise); // serialised behind the start
    await new Promise((res) => setImmediate(res));
    expect(b.model.log).toEqual(['start']);
    release();
    expect(await r).toBe(DRIVER_OK);
    expect(bus.stats.serialised - before).toBe(1);
  });
});

// ---------------------------------------------------------------- hostile queue configuration, through virtio-blk

describe('virtio-pci / hostile driver: queue configuration (2.7) breaks the device at DRIVER_OK (VirtQueue.activate via the blk dataplane)', () => {
  const open: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of open.splice(0)) await f();
  });

  /** A real VirtioBlk on the main loop (LocalBlkHost), 1 MiB of guest memory, MSI-X config vector → irq[0]. */
  async function blkBench(): Promise<{ dev: VirtioPciDevice; blk: VirtioBlk; events: TransportEvent[]; irq: EventNotifier[] }> {
    const dir = mkdtempSync(join(tmpdir(), 'vmloop-pci-'));
    writeFileSync(join(dir, 'disk.img'), new Uint8Array(64 << 10));
    const ctx = AioContext.create({ name: 'main' });
    const att = ctx.attachToNodeLoop();
    const memory = GuestMemory.create([{ gpa: 0, size: 1 << 20 }]);
    const host = new LocalBlkHost(ctx, { memory: memory.handle, poolMax: 1 });
    const blk = await VirtioBlk.create({ path: join(dir, 'disk.img'), hosts: [host], queueSize: 16 });
    const irq = Array.from({ length: 2 }, () => EventNotifier.create());
    const intx = EventNotifier.create();
    const events: TransportEvent[] = [];
    const dev = new VirtioPciDevice({ model: blk, routes: routesOf(irq, intx), ioeventfd: false, onEvent: (e) => events.push(e) });
    programBars(dev);
    open.push(async () => {
      await dev.reset();
      await host.stop();
      blk.close();
      att.detach();
      rmSync(dir, { recursive: true, force: true });
    });
    enableMsix(dev);
    wr(dev, R.COMMON_MSIX, 2, 0);
    return { dev, blk, events, irq };
  }

  for (const c of [
    { name: 'queue size 0', queue: { size: 0 }, reason: /queue size 0/ },
    { name: 'queue size not a power of two', queue: { size: 12 }, reason: /queue size 12 is not a power of two/ },
    { name: 'queue size above the maximum', queue: { size: 32 }, reason: /queue size 32 is above the device's maximum 16/ },
    { name: 'unaligned descriptor table', queue: { desc: 0x1_0008 }, reason: /descriptor table at 0x10008 is not 16-byte aligned/ },
    { name: 'unaligned used ring', queue: { used: 0x1_2002 }, reason: /used ring at 0x12002 is not 4-byte aligned/ },
    { name: 'rings outside guest memory', queue: { avail: 0xff_fff0 }, reason: /available ring .* is outside guest memory/ },
  ]) {
    it(`${c.name}: the device breaks (NEEDS_RESET, configuration interrupt) when started`, async () => {
      const b = await blkBench();
      // Re-program the config vector after the reset the sequence starts with.
      await setStatus(b.dev, ACK_DRIVER);
      wr(b.dev, R.COMMON_MSIX, 2, 0);
      writeFeatures(b.dev, VERSION_1);
      await setStatus(b.dev, FEATURES_OK);
      setupQueue(b.dev, 0, { desc: 0x1_0000, avail: 0x1_1000, used: 0x1_2000, ...c.queue });
      await setStatus(b.dev, DRIVER_OK);
      expect(status(b.dev) & R.STATUS_NEEDS_RESET).not.toBe(0);
      expect(b.irq[0]!.testAndClear()).toBe(true);
      expect(b.dev.state.brokenReason).toMatch(/^virtio-blk queue 0: /);
      expect(b.dev.state.brokenReason).toMatch(c.reason);
      // After a reset the driver can set it up properly.
      await setStatus(b.dev, 0);
      expect(b.dev.state.brokenReason).toBeUndefined();
      await setStatus(b.dev, ACK_DRIVER);
      writeFeatures(b.dev, VERSION_1);
      await setStatus(b.dev, FEATURES_OK);
      setupQueue(b.dev, 0, { desc: 0x1_0000, avail: 0x1_1000, used: 0x1_2000 });
      await setStatus(b.dev, DRIVER_OK);
      expect(status(b.dev)).toBe(DRIVER_OK);
      expect(b.dev.state.running).toBe(true);
    });
  }
});
