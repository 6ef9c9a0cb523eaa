/**
 * The driver side of virtio-blk, as a guest does it (Linux
 * drivers/block/virtio_blk.c): set up the device's queues over a
 * {@link VirtioPciDriver}, build requests in guest memory (header, data,
 * status byte), kick when the device asks for it, reap completions.
 * Exported from `@vmloop/virtio/testing` for tests and the demo VM's guest.
 */
import { VirtioError } from '../../errors.js';
import type { Segment } from '../../queue/descriptor-chain.js';
import { VIRTIO_F_VERSION_1, VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC, featureBit } from '../../queue/features.js';
import type { GuestMemory } from '../../queue/guest-memory.js';
import { type AddOptions, DriverQueue } from '../../queue/driver-queue.js';
import { legacyRingLayout, type VirtioPciDriver } from '../../pci/virtio-pci-driver.js';
import {
  BLK_CFG_CAPACITY,
  BLK_CFG_NUM_QUEUES,
  BLK_CFG_SEG_MAX,
  BLK_HEADER_SIZE,
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_DISCARD,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_MQ,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_WRITE_ZEROES,
} from './layout.js';

/** A bump allocator over a range of guest memory (the guest's own heap). */
export class GuestHeap {
  private next: number;
  constructor(
    readonly base: number,
    readonly end: number,
  ) {
    this.next = base;
  }
  /** `size` bytes aligned to `align`; throws ERR_INVALID_ARGUMENT when the heap is exhausted. */
  alloc(size: number, align = 16): number {
    const at = Math.ceil(this.next / align) * align;
    if (at + size > this.end) throw new VirtioError('ERR_INVALID_ARGUMENT', `guest heap [0x${this.base.toString(16)}, 0x${this.end.toString(16)}) exhausted`);
    this.next = at + size;
    return at;
  }
  /** Bytes left. */
  get free(): number {
    return this.end - this.next;
  }
}

/** Options of {@link VirtioBlkDriver.init}. */
export interface BlkDriverOptions {
  /** Queues to use (default all the device offers, at most its num_queues). */
  readonly queues?: number;
  /** Queue size (default the device's maximum). */
  readonly queueSize?: number;
  /** Negotiate EVENT_IDX (default true) and INDIRECT_DESC (default false). */
  readonly eventIdx?: boolean;
  readonly indirect?: boolean;
  /** MSI-X: the message of queue q's vector (vector q + 1; vector 0 is configuration changes). Omit for INTx. */
  readonly msi?: (vector: number) => { readonly address: number; readonly data: number };
}

/** One request handed to {@link VirtioBlkDriver.submit}. */
export interface BlkDriverRequest {
  readonly type: number;
  readonly sector: number;
  /** Data buffers in guest memory (device-writable for IN and GET_ID, readable otherwise). */
  readonly data: readonly Segment[];
  /** Returned with the completion. */
  readonly token: number;
}

/** A completed request. */
export interface BlkCompletion {
  readonly token: number;
  readonly status: number;
  /** Bytes the device reported written (data + status). */
  readonly len: number;
}

/**
 * One chain head's guest buffers, allocated once and reused: a request
 * costs the driver no allocation beyond its own.
 */
interface Spare {
  readonly header: number;
  readonly status: number;
  /** An indirect table for this request (when INDIRECT_DESC was negotiated). */
  readonly table: number;
  /** The header and status byte as segments, and the add() options for the table. */
  readonly hdr: Segment;
  readonly st: Segment;
  readonly viaTable: AddOptions;
  /** The request's token while it is in flight. */
  token: number;
}

/** Most descriptors one indirect request uses (header, data segments, status). */
export const BLK_DRIVER_INDIRECT_MAX = 18;

export class VirtioBlkDriver {
  readonly queues: DriverQueue[] = [];
  private slots: (Spare | undefined)[][] = [];
  /** Scratch arrays for a chain's device-readable and device-writable segments (add() copies them into descriptors). */
  private readonly out: Segment[] = [];
  private readonly in: Segment[] = [];
  private spare: Spare[][] = [];
  private useIndirect = false;
  /** Requests submitted through an indirect table. */
  indirectRequests = 0;
  features = 0n;
  capacity = 0;
  segMax = 0;

  constructor(
    readonly pci: VirtioPciDriver,
    readonly memory: GuestMemory,
    readonly heap: GuestHeap,
  ) {}

  /**
   * The initialisation sequence (3.1.1): negotiate, set up the queues and
   * their vectors, DRIVER_OK. Returns false if the device refused the
   * features (FEATURES_OK did not stick).
   */
  init(options: BlkDriverOptions = {}): boolean {
    const pci = this.pci;
    const legacy = pci.legacy;
    const wanted =
      (legacy ? 0n : featureBit(VIRTIO_F_VERSION_1)) |
      ((options.eventIdx ?? true) ? featureBit(VIRTIO_RING_F_EVENT_IDX) : 0n) |
      ((options.indirect ?? false) ? featureBit(VIRTIO_RING_F_INDIRECT_DESC) : 0n) |
      featureBit(VIRTIO_BLK_F_SEG_MAX) |
      featureBit(VIRTIO_BLK_F_BLK_SIZE) |
      featureBit(VIRTIO_BLK_F_FLUSH) |
      featureBit(VIRTIO_BLK_F_MQ) |
      featureBit(VIRTIO_BLK_F_RO) |
      featureBit(VIRTIO_BLK_F_DISCARD) |
      featureBit(VIRTIO_BLK_F_WRITE_ZEROES);
    const features = pci.negotiate(wanted);
    if (features === undefined) return false;
    this.features = features;
    this.capacity = pci.readConfig(BLK_CFG_CAPACITY, 4) + pci.readConfig(BLK_CFG_CAPACITY + 4, 4) * 2 ** 32;
    this.segMax = pci.readConfig(BLK_CFG_SEG_MAX, 4);
    const offered = (features & featureBit(VIRTIO_BLK_F_MQ)) !== 0n ? pci.readConfig(BLK_CFG_NUM_QUEUES, 2) : 1;
    const n = Math.min(options.queues ?? offered, offered);
    if (options.msi !== undefined) {
      pci.enableMsix();
      for (let v = 0; v <= n; v++) {
        const m = options.msi(v);
        pci.setMsixEntry(v, m.address, m.data);
      }
      pci.setConfigVector(0);
    }
    const eventIdx = (features & featureBit(VIRTIO_RING_F_EVENT_IDX)) !== 0n;
    const indirect = (features & featureBit(VIRTIO_RING_F_INDIRECT_DESC)) !== 0n;
    this.useIndirect = indirect;
    this.queues.length = 0;
    this.slots = [];
    this.spare = [];
    for (let q = 0; q < n; q++) {
      const max = pci.queueMaxSize(q);
      if (max === 0) throw new VirtioError('ERR_INVALID_STATE', `the device has no queue ${q}`);
      const size = legacy ? max : Math.min(options.queueSize ?? max, max);
      let rings: { descTable: number; availRing: number; usedRing: number };
      if (legacy) {
        const l = legacyRingLayout(0, size);
        rings = legacyRingLayout(this.heap.alloc(l.bytes, 4096), size);
      } else {
        const l = DriverQueue.layout(size);
        const base = this.heap.alloc(l.size, l.align);
        rings = { descTable: base + l.descTable.offset, availRing: base + l.availRing.offset, usedRing: base + l.usedRing.offset };
      }
      this.memory.write(rings.descTable, new Uint8Array(rings.usedRing + 6 + 8 * size - rings.descTable));
      const dq = new DriverQueue(this.memory, { size, ...rings, eventIdx, indirect });
      this.queues.push(dq);
      pci.setupQueue(q, { size, ...rings, ...(options.msi === undefined ? {} : { vector: q + 1 }) });
      // Header and status byte per descriptor chain head, allocated once.
      this.spare.push(
        Array.from({ length: size }, () => {
          const header = this.heap.alloc(BLK_HEADER_SIZE, 16);
          const status = this.heap.alloc(1, 1);
          const table = indirect ? this.heap.alloc(16 * BLK_DRIVER_INDIRECT_MAX, 16) : 0;
          return { header, status, table, hdr: { addr: header, len: BLK_HEADER_SIZE }, st: { addr: status, len: 1 }, viaTable: { indirectTable: table }, token: 0 };
        }),
      );
      this.slots.push(new Array(size).fill(undefined));
    }
    pci.driverOk();
    return true;
  }

  /** Whether `features` (negotiated) has blk feature `bit`. */
  has(bit: number): boolean {
    return (this.features & featureBit(bit)) !== 0n;
  }

  /**
   * Adds a request to queue `q` (header, data, status byte as one chain);
   * false when the ring is full. Does not kick: call {@link kick}.
   */
  submit(q: number, r: BlkDriverRequest): boolean {
    const dq = this.queues[q]!;
    const spare = this.spare[q]!.pop();
    if (spare === undefined) return false;
    const m = this.memory;
    m.writeU32(spare.header, r.type);
    m.writeU32(spare.header + 4, 0);
    m.writeU32(spare.header + 8, r.sector >>> 0);
    m.writeU32(spare.header + 12, Math.floor(r.sector / 2 ** 32));
    m.writeU8(spare.status, 0xff);
    const toDevice = r.type === 1 || r.type === 11 || r.type === 13; // OUT, DISCARD, WRITE_ZEROES
    // Like Linux virtio_ring: a request of several descriptors goes in one indirect table when negotiated.
    const viaTable = this.useIndirect && r.data.length + 2 <= BLK_DRIVER_INDIRECT_MAX;
    // Device-readable: the header (and the data of OUT-like requests);
    // device-writable: the data of IN-like requests, then the status byte.
    // Filled by index and cut to size: `length = 0` would drop the backing
    // stores and the pushes would allocate them again, per request.
    const readable = this.out;
    const writable = this.in;
    let nr = 0;
    let nw = 0;
    readable[nr++] = spare.hdr;
    for (let i = 0; i < r.data.length; i++) {
      if (toDevice) readable[nr++] = r.data[i]!;
      else writable[nw++] = r.data[i]!;
    }
    writable[nw++] = spare.st;
    if (readable.length !== nr) readable.length = nr;
    if (writable.length !== nw) writable.length = nw;
    const head = dq.add(readable, writable, viaTable ? spare.viaTable : undefined);
    if (head === undefined) {
      this.spare[q]!.push(spare);
      return false;
    }
    if (viaTable) this.indirectRequests++;
    spare.token = r.token;
    this.slots[q]![head] = spare;
    return true;
  }

  /** Publishes what was added and rings the doorbell if the device wants it; returns whether it kicked. */
  kick(q: number): boolean {
    if (!this.queues[q]!.needsKick()) return false;
    this.pci.kick(q);
    return true;
  }

  /** Reaps the completions of queue `q` (into `out` when given, appended). */
  reap(q: number, out: BlkCompletion[] = []): BlkCompletion[] {
    // From its end: every completion is a new element, nothing is refilled.
    this.reapInto(q, out, out.length);
    return out;
  }

  /**
   * Reaps the completions of queue `q` into `out` from index `at`,
   * refilling the completion objects already there (new ones only past
   * its end), and returns how many: a driver loop that passes the same
   * array every time allocates nothing per completion. `out` is never
   * shortened; entries past the count are stale.
   */
  reapInto(q: number, out: BlkCompletion[], at = 0): number {
    const dq = this.queues[q]!;
    let n = at;
    for (let head = dq.getUsedHead(); head >= 0; head = dq.getUsedHead()) {
      const s = this.slots[q]![head];
      if (s === undefined) throw new VirtioError('ERR_INVALID_STATE', `queue ${q}: the device completed head ${head}, which is not in flight`);
      this.slots[q]![head] = undefined;
      const status = this.memory.readU8(s.status);
      const c = out[n] as { token: number; status: number; len: number } | undefined;
      if (c === undefined) out[n] = { token: s.token, status, len: dq.usedLen };
      else {
        c.token = s.token;
        c.status = status;
        c.len = dq.usedLen;
      }
      n++;
      this.spare[q]!.push(s);
    }
    return n - at;
  }

  /** Requests in flight on queue `q`. */
  inFlight(q: number): number {
    return this.queues[q]!.inFlight;
  }
}
