/**
 * Register maps of the virtio-pci transport and the shared memory it uses
 * across threads. Every offset the transport touches is named here.
 *
 * ## PCI configuration space (type-0 header, 256 bytes)
 *
 *   0x00 vendor 0x1af4        0x02 device id           0x04 command   0x06 status
 *   0x08 revision  0x09 class code (3 bytes)           0x0e header type
 *   0x10 BAR0 (legacy I/O, transitional only)          0x14 BAR1 (MSI-X table + PBA)
 *   0x20 BAR4 + 0x24 BAR5 (modern MMIO, 64-bit)        0x2c subsystem vendor / id
 *   0x34 capability pointer   0x3c interrupt line      0x3d interrupt pin (INTA)
 *   0x40 virtio common cap    0x50 ISR cap    0x60 device cap    0x70 notify cap (20)
 *   0x84 MSI-X cap (12)
 *
 * ## BAR4, the modern MMIO region (16 KiB; QEMU's virtio-pci layout)
 *
 *   0x0000 common configuration (virtio 1.x 4.1.4.3)   0x1000 ISR (4.1.4.5)
 *   0x2000 device configuration (4.1.4.6)              0x3000 notify: queue q at q × 4
 *
 * ## BAR1, MSI-X (PCI 3.0 6.8.2): table at 0x000 (16 bytes per vector), PBA at 0x800.
 *
 * ## BAR0, the legacy I/O layout (virtio 0.9.5, 4.1.4.8 "Legacy Interfaces")
 *
 *   0 host features  4 guest features  8 queue PFN (addr >> 12)  12 queue num
 *   14 queue select  16 queue notify   18 status (u8)  19 ISR (u8, read clears)
 *   20 MSI-X config vector, 22 MSI-X queue vector (only while MSI-X is enabled)
 *   device configuration at 20, or at 24 while MSI-X is enabled
 */
import { CACHE_LINE, type Instance, bytes, int32, int32Array, layoutFamily } from '@vmloop/atomics';

// ---------------------------------------------------------------- PCI header

export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CLASS_DEVICE = 0x0a;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BASE_ADDRESS_0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;
export const PCI_CONFIG_SPACE_SIZE = 256;

export const PCI_COMMAND_IO = 0x1;
export const PCI_COMMAND_MEMORY = 0x2;
export const PCI_COMMAND_MASTER = 0x4;
export const PCI_COMMAND_INTX_DISABLE = 0x400;
export const PCI_STATUS_INTERRUPT = 0x8;
export const PCI_STATUS_CAP_LIST = 0x10;

export const PCI_BAR_SPACE_IO = 0x1;
export const PCI_BAR_MEM_TYPE_64 = 0x4;
export const PCI_BAR_MEM_PREFETCH = 0x8;
export const PCI_NUM_BARS = 6;

export const PCI_CAP_ID_MSIX = 0x11;
export const PCI_CAP_ID_VNDR = 0x09;

/** PCI_VENDOR_ID_REDHAT_QUMRANET. */
export const VIRTIO_PCI_VENDOR = 0x1af4;
/** Modern device id: 0x1040 + virtio device type (virtio 1.x 4.1.2.1). */
export const VIRTIO_PCI_DEVICE_ID_MODERN_BASE = 0x1040;
/** Transitional device ids by device type (4.1.2.1): net 0x1000, blk 0x1001, … */
export const VIRTIO_PCI_TRANSITIONAL_IDS: Readonly<Record<number, number>> = { 1: 0x1000, 2: 0x1001, 3: 0x1003, 4: 0x1005, 5: 0x1002, 8: 0x1004, 9: 0x1009 };

// ---------------------------------------------------------------- capabilities

/** Offsets of our capabilities in configuration space. */
export const CAP_COMMON = 0x40;
export const CAP_ISR = 0x50;
export const CAP_DEVICE = 0x60;
export const CAP_NOTIFY = 0x70;
export const CAP_MSIX = 0x84;

/** struct virtio_pci_cap (4.1.4): vndr, next, len, cfg_type, bar, id, pad, offset, length. */
export const VIRTIO_CAP_CFG_TYPE = 3;
export const VIRTIO_CAP_BAR = 4;
export const VIRTIO_CAP_OFFSET = 8;
export const VIRTIO_CAP_LENGTH = 12;
export const VIRTIO_CAP_NOTIFY_MULTIPLIER = 16;
export const VIRTIO_PCI_CAP_COMMON_CFG = 1;
export const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
export const VIRTIO_PCI_CAP_ISR_CFG = 3;
export const VIRTIO_PCI_CAP_DEVICE_CFG = 4;

/** MSI-X capability (PCI 3.0 6.8.2.3): message control at +2, table at +4, PBA at +8. */
export const MSIX_CAP_CONTROL = 2;
export const MSIX_CAP_TABLE = 4;
export const MSIX_CAP_PBA = 8;
export const MSIX_CONTROL_ENABLE = 0x8000;
export const MSIX_CONTROL_MASKALL = 0x4000;
export const MSIX_ENTRY_SIZE = 16;
export const MSIX_ENTRY_ADDR_LO = 0;
export const MSIX_ENTRY_ADDR_HI = 4;
export const MSIX_ENTRY_DATA = 8;
export const MSIX_ENTRY_CTRL = 12;
export const MSIX_ENTRY_CTRL_MASKED = 0x1;
export const MSIX_PBA_OFFSET = 0x800;
/** Most MSI-X vectors a device may have (the table and PBA must fit BAR1). */
export const MSIX_MAX_VECTORS = 128;

// ---------------------------------------------------------------- BARs

export const BAR_LEGACY = 0;
export const BAR_MSIX = 1;
export const BAR_MODERN = 4;
export const BAR_MSIX_SIZE = 0x1000;
export const BAR_MODERN_SIZE = 0x4000;

export const MODERN_COMMON_OFFSET = 0x0000;
export const MODERN_COMMON_SIZE = 0x1000;
export const MODERN_ISR_OFFSET = 0x1000;
export const MODERN_ISR_SIZE = 0x1000;
export const MODERN_DEVICE_OFFSET = 0x2000;
export const MODERN_DEVICE_SIZE = 0x1000;
export const MODERN_NOTIFY_OFFSET = 0x3000;
export const MODERN_NOTIFY_SIZE = 0x1000;
/** notify_off_multiplier: queue q's doorbell is at MODERN_NOTIFY_OFFSET + q × 4. */
export const NOTIFY_OFF_MULTIPLIER = 4;

// ---------------------------------------------------------------- common cfg (4.1.4.3)

export const COMMON_DFSELECT = 0x00;
export const COMMON_DF = 0x04;
export const COMMON_GFSELECT = 0x08;
export const COMMON_GF = 0x0c;
export const COMMON_MSIX = 0x10;
export const COMMON_NUMQ = 0x12;
export const COMMON_STATUS = 0x14;
export const COMMON_CFGGENERATION = 0x15;
export const COMMON_Q_SELECT = 0x16;
export const COMMON_Q_SIZE = 0x18;
export const COMMON_Q_MSIX = 0x1a;
export const COMMON_Q_ENABLE = 0x1c;
export const COMMON_Q_NOFF = 0x1e;
export const COMMON_Q_DESCLO = 0x20;
export const COMMON_Q_DESCHI = 0x24;
export const COMMON_Q_AVAILLO = 0x28;
export const COMMON_Q_AVAILHI = 0x2c;
export const COMMON_Q_USEDLO = 0x30;
export const COMMON_Q_USEDHI = 0x34;
export const COMMON_SIZE = 0x38;

// ---------------------------------------------------------------- legacy I/O

export const LEGACY_HOST_FEATURES = 0;
export const LEGACY_GUEST_FEATURES = 4;
export const LEGACY_QUEUE_PFN = 8;
export const LEGACY_QUEUE_NUM = 12;
export const LEGACY_QUEUE_SEL = 14;
export const LEGACY_QUEUE_NOTIFY = 16;
export const LEGACY_STATUS = 18;
export const LEGACY_ISR = 19;
export const LEGACY_MSIX_CONFIG_VECTOR = 20;
export const LEGACY_MSIX_QUEUE_VECTOR = 22;
export const LEGACY_CONFIG = 20;
export const LEGACY_CONFIG_MSIX = 24;
/** Legacy rings: descriptors at PFN << 12, avail right after, used at the next 4096 boundary. */
export const LEGACY_PFN_SHIFT = 12;
export const LEGACY_VRING_ALIGN = 4096;

// ---------------------------------------------------------------- virtio status and ISR

export const STATUS_ACKNOWLEDGE = 1;
export const STATUS_DRIVER = 2;
export const STATUS_DRIVER_OK = 4;
export const STATUS_FEATURES_OK = 8;
export const STATUS_NEEDS_RESET = 0x40;
export const STATUS_FAILED = 0x80;

export const ISR_QUEUE = 1;
export const ISR_CONFIG = 2;
/** VIRTIO_MSI_NO_VECTOR */
export const NO_VECTOR = 0xffff;

// ---------------------------------------------------------------- shared: transport state

/** Bytes of the broken-reason text in shared memory. */
export const REASON_BYTES = 256;

/** Shape key of a transport arena: queues and MSI-X vectors. */
export interface TransportShape {
  readonly queues: number;
  readonly vectors: number;
}

function transportFields(key: number) {
  const queues = key >>> 8;
  const vectors = key & 0xff;
  return {
    // Interrupt status (QEMU vdev->isr). Written by whoever raises INTx (or
    // ISR_QUEUE/ISR_CONFIG, usually the device's I/O thread) and by the owner
    // (exchange to 0 when the guest reads ISR: read-to-clear). Read by the
    // owner. The `or` before the INTx line is raised pairs with the
    // guest's ISR read (an exit handled by the owner) that clears it.
    isr: int32({ align: CACHE_LINE }),
    // MSI-X message control (enable | function mask), PCI command register
    // INTx-disable and bus-master bits, mirrored from configuration space.
    // Written by the owner (store, on the guest's config writes); read by
    // interrupt senders on any thread (load, per interrupt).
    msixControl: int32(),
    command: int32(),
    // MSI-X vector of the configuration-change interrupt and of each queue
    // (NO_VECTOR = none). Written by the owner (store, on guest writes);
    // read by interrupt senders (load).
    configVector: int32(),
    queueVector: int32Array(Math.max(queues, 1)),
    // Non-zero once the device is broken (QEMU vdev->broken): a queue met
    // malformed guest input. Written by the thread that found it
    // (compareExchange 0 → BROKEN_CLAIMED, then the reason, then store
    // BROKEN) and by the owner (store 0 on reset). Read by the owner (load
    // when the guest reads status: NEEDS_RESET) and by reporters (load, to
    // keep the first reason). The BROKEN store publishes `reason`.
    broken: int32({ align: CACHE_LINE }),
    reasonLength: int32(),
    reason: bytes(REASON_BYTES),
    // MSI-X table, 4 words per vector (address lo, address hi, data,
    // vector control). Written by the owner (store, on guest MMIO writes to
    // BAR1); read by interrupt senders (load). A guest masks an entry
    // while it rewrites it (PCI 3.0 6.8.3.5), so the words need no lock.
    msixTable: int32Array(Math.max(vectors, 1) * 4, { align: CACHE_LINE }),
    // MSI-X pending bits. Written by interrupt senders (or, when the vector
    // is masked) and by the owner (and, when it delivers on unmask); read
    // by the owner (guest PBA reads, unmask).
    msixPba: int32Array(Math.max(1, Math.ceil(vectors / 32))),
    // Interrupts by outcome, written by senders (add), read by anyone.
    // [0] MSI-X sent, [1] INTx raised, [2] held pending (masked),
    // [3] dropped (no vector, or the route goes nowhere).
    irqCounts: int32Array(4, { align: CACHE_LINE }),
  };
}

/** The (memoised) layout of a transport arena for `queues` queues and `vectors` MSI-X vectors. */
export function transportLayout(shape: TransportShape) {
  return transportLayoutFamily((shape.queues << 8) | shape.vectors);
}
const transportLayoutFamily = layoutFamily('virtio-pci.transport', transportFields);
export type TransportMemory = Instance<ReturnType<typeof transportFields>>;

export const BROKEN_CLAIMED = 2;
export const BROKEN = 1;

export const IRQ_SENT = 0;
export const IRQ_INTX = 1;
export const IRQ_PENDING = 2;
export const IRQ_DROPPED = 3;

// ---------------------------------------------------------------- shared: ioeventfd table

export const IOEVENTFD_FREE = 0;
export const IOEVENTFD_ASSIGNED = 1;
export const SPACE_MMIO = 0;
export const SPACE_PIO = 1;
export const IOEVENTFD_DATAMATCH = 1;

function ioeventfdFields(key: number) {
  const entries = key >>> 8;
  const vcpus = key & 0xff;
  return {
    // Bumped by the owner (add 1) after every assign and every unbind;
    // loaded by vCPUs at the start of each dispatch to see whether their
    // cached copy of the table is still good.
    generation: int32({ align: CACHE_LINE }),
    // Per entry: state (IOEVENTFD_FREE/ASSIGNED), space, address lo/hi,
    // size, flags, data, notifier index. The owner writes the fields, then
    // `state` (store ASSIGNED), then bumps `generation`; to unbind it stores
    // FREE, bumps `generation`, then waits out every vCPU's dispatch (below).
    // vCPUs load `generation`, then `state` and the fields.
    entries: int32Array(Math.max(entries, 1) * 8, { align: CACHE_LINE }),
    // Per vCPU dispatch sequence, odd while that vCPU is between reading the
    // table and setting the notifier it matched (an RCU read-side section).
    // Written by its vCPU (add 1 on entry, add 1 on exit); read by the owner
    // after an unbind (load; wait while odd and unchanged). With all
    // accesses seq-cst, a vCPU that entered after that load reads the new
    // generation and the FREE state; one that entered before is waited out,
    // and its notifier set lands before the owner's test-and-clear.
    dispatch: int32Array(Math.max(vcpus, 1), { align: CACHE_LINE }),
  };
}
export const IOEVENTFD_ENTRY_WORDS = 8;
export const IOEVENTFD_STATE = 0;
export const IOEVENTFD_SPACE = 1;
export const IOEVENTFD_ADDR_LO = 2;
export const IOEVENTFD_ADDR_HI = 3;
export const IOEVENTFD_SIZE = 4;
export const IOEVENTFD_FLAGS = 5;
export const IOEVENTFD_DATA = 6;
export const IOEVENTFD_NOTIFIER = 7;
/** Largest table: 4096 registrations (QEMU/KVM's limit is per bus; ours is per table). */
export const IOEVENTFD_MAX_ENTRIES = 4096;
export const MAX_VCPUS = 255;

const ioeventfdLayoutFamily = layoutFamily('virtio-pci.ioeventfd', ioeventfdFields);
/** The layout of an ioeventfd table with `entries` registrations for `vcpus` vCPUs. */
export function ioeventfdLayout(entries: number, vcpus: number) {
  return ioeventfdLayoutFamily((entries << 8) | vcpus);
}
export type IoEventFdMemory = Instance<ReturnType<typeof ioeventfdFields>>;

// ---------------------------------------------------------------- shared: vCPU exit channel

export const EXIT_IDLE = 0;
export const EXIT_REQUEST = 1;
export const EXIT_DONE = 2;

export const EXIT_MMIO_READ = 0;
export const EXIT_MMIO_WRITE = 1;
export const EXIT_PIO_READ = 2;
export const EXIT_PIO_WRITE = 3;

function exitFields(vcpus: number) {
  return {
    // Per vCPU, 16 words on their own cache line:
    //  [0] state: EXIT_IDLE → EXIT_REQUEST (vCPU store, after the request
    //      words) → EXIT_DONE (owner store, after the result words) →
    //      EXIT_IDLE (vCPU store, after reading the result). The vCPU
    //      spins, then futex-waits on it; the owner loads it in its scan.
    //  [1] sleeping: 1 while the vCPU is in the futex wait (vCPU store before
    //      its last check of state, store 0 after). Read by the owner after
    //      its EXIT_DONE store, to skip Atomics.notify when nobody sleeps
    //      (store-buffering: all four accesses seq-cst).
    //  [2] kind, [3] address lo, [4] address hi, [5] size (1, 2, 4), [6]
    //      data: written by the vCPU before state = REQUEST, read by the
    //      owner after it loads REQUEST.
    //  [8] result: written by the owner before state = DONE, read by the
    //      vCPU after it loads DONE.
    //  [10] exits served (owner add), for stats. The rest is padding.
    channels: int32Array(Math.max(vcpus, 1) * 16, { align: CACHE_LINE }),
  };
}
export const EXIT_STRIDE = 16;
export const EXIT_STATE = 0;
export const EXIT_SLEEPING = 1;
export const EXIT_KIND = 2;
export const EXIT_ADDR_LO = 3;
export const EXIT_ADDR_HI = 4;
export const EXIT_SIZE = 5;
export const EXIT_DATA = 6;
export const EXIT_RESULT = 8;
export const EXIT_SERVED = 10;

/** The (memoised) layout of the exit channels of `vcpus` vCPUs. */
export const exitLayout = layoutFamily('virtio-pci.exits', exitFields);
export type ExitMemory = Instance<ReturnType<typeof exitFields>>;
