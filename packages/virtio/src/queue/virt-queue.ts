/**
 * The device side of a split virtqueue (QEMU `VirtQueue` in
 * hw/virtio/virtio.c, rust-vmm `virtio_queue::Queue`).
 *
 * Pure ring logic over guest memory: it knows nothing of notifiers,
 * workers or PCI. The transport programs it (size, ring addresses, ready,
 * features) and activates it; the device pops chains, pushes used
 * elements and asks whether to interrupt; the transport acts on the
 * answers. The standard device loop:
 *
 * ```ts
 * // on a kick (the transport's ioeventfd handler):
 * do {
 *   queue.disableNotification();
 *   for (let c = queue.pop(); c !== null; c = queue.pop()) queue.pushUsed(c.head, serve(c));
 *   if (queue.needsNotification()) interrupt.set();
 * } while (queue.enableNotification());   // true: work raced in after the drain
 * ```
 *
 * The driver is untrusted. Whatever it writes into the rings, `pop` never
 * throws, never loops more than the chain budget, never returns a segment
 * outside guest RAM; a violation marks the queue broken with a reason
 * (QEMU `virtio_error`, Linux `BAD_RING`), calls `onBroken` once (the
 * transport sets DEVICE_NEEDS_RESET and raises a config interrupt), and
 * every later call is a no-op until `reset()`. Host-program mistakes
 * (pushing a head that is not in flight) throw a VirtioError.
 *
 * Shared words it touches, all in guest RAM (byte map in ./layout.ts):
 * - `avail.idx`: written by the driver (atomic store after the entries),
 *   read here (atomic load before the entries) — pop, hasAvailable,
 *   enableNotification.
 * - `avail.flags` / `used_event`: written by the driver, read here (atomic
 *   load after storing used.idx) — needsNotification.
 * - `used.idx`: written here (atomic store after the element, or after the
 *   elements of a batch), read by the driver (atomic load before the
 *   element) — pushUsed, flushUsed.
 * - `used.flags` / `avail_event`: written here (atomic store, then a load
 *   of avail.idx), read by the driver after it stores avail.idx —
 *   enableNotification, disableNotification, pop.
 * @thread device (one thread owns a VirtQueue: its device's home thread)
 */
import type { SharedWords } from '@vmloop/atomics';
import { VirtioError } from '../errors.js';
import type { DescriptorChain, Segment } from './descriptor-chain.js';
import type { QueueFeatures } from './features.js';
import { hex, hex64 } from './format.js';
import type { GuestMemory } from './guest-memory.js';
import {
  AVAIL_FLAGS,
  AVAIL_IDX,
  DESC_ADDR,
  DESC_FLAGS,
  DESC_LEN,
  DESC_NEXT,
  DESC_SIZE,
  MAX_QUEUE_SIZE,
  USED_ELEM_ID,
  USED_ELEM_LEN,
  USED_FLAGS,
  USED_IDX,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_USED_F_NO_NOTIFY,
  availEntryOffset,
  availEventOffset,
  availRingSize,
  descTableSize,
  isQueueSize,
  ringAreas,
  usedElemOffset,
  usedEventOffset,
  usedRingSize,
} from './layout.js';
import { vringNeedEvent } from './need-event.js';

/** Options of {@link VirtQueue}. */
export interface VirtQueueOptions {
  /** The largest size the driver may choose (QueueNumMax): a power of two ≤ 32768. */
  readonly maxSize: number;
  /**
   * Most segments one chain may have (QEMU's iovec limit); default
   * `maxSize`. Bounds the walk of an indirect table, whose entry count the
   * driver chooses.
   */
  readonly maxSegments?: number;
  /** Called once when the queue breaks, with the reason (set NEEDS_RESET, raise a config interrupt). */
  readonly onBroken?: (reason: string) => void;
  /**
   * pop() returns the queue's own chain object for the head, refilled in
   * place, instead of a new one: a device that pops hundreds of thousands
   * of chains a second then allocates nothing per chain. The chain and its
   * segments stay as popped until the head is made available again, which
   * the driver may do only after the device used it (pushUsed/fillUsed);
   * `reset()` starts a new set. QEMU frees its VirtQueueElement at push;
   * this is the same lifetime. Default false: a fresh, immutable chain per pop.
   */
  readonly reuseChains?: boolean;
}

/** A chain the queue refills in place (VirtQueueOptions.reuseChains). */
interface OwnChain {
  head: number;
  readonly readable: { addr: number; len: number }[];
  readonly writable: { addr: number; len: number }[];
  readableBytes: number;
  writableBytes: number;
}

/** Counters of a queue since it was created (reset() keeps them). */
export interface VirtQueueStats {
  /** Chains returned by pop. */
  readonly popped: number;
  /** Used elements published by pushUsed. */
  readonly pushed: number;
  /** needsNotification answers of true (interrupts the device should send). */
  readonly notificationsNeeded: number;
  /** needsNotification answers of false after new used elements (interrupts the driver did not want). */
  readonly notificationsSuppressed: number;
  /** Times the queue broke. */
  readonly broken: number;
  /** Descriptors read by pop (direct and indirect): the work the guest made us do. */
  readonly descriptorsRead: number;
}

const U32_LIMIT = 2 ** 32;
// A descriptor's 64-bit address is hi·2^32 + lo; hi ≥ 2^21 means ≥ 2^53: outside any region.
const HI_LIMIT = 2 ** 21;

/** The device side of a split virtqueue. See the module comment. */
export class VirtQueue {
  /** QueueNumMax. */
  readonly maxSize: number;
  /** Most segments per chain. */
  readonly maxSegments: number;
  private readonly onBroken: ((reason: string) => void) | undefined;

  // Driver-programmed configuration (written by the transport while inactive).
  private _size: number;
  private _descTable = 0;
  private _availRing = 0;
  private _usedRing = 0;
  private _ready = false;
  private _eventIdx = false;
  private _indirect = false;

  // Device state. Indices are u16 and wrap.
  private _active = false;
  private _broken = false;
  private _brokenReason: string | undefined;
  private _nextAvail = 0;
  private _nextUsed = 0;
  // avail.idx as pop last loaded it; entries in [nextAvail, shadowAvail) are published.
  private shadowAvail = 0;
  // QEMU signalled_used / signalled_used_valid: used.idx at the last needsNotification.
  private signalledUsed = 0;
  /** Elements fillUsed wrote after used.idx (QEMU virtqueue_fill's idx), published by flushUsed. */
  private filledUsed = 0;
  private signalledValid = false;
  // Between disableNotification and enableNotification: pop leaves avail_event alone.
  private notificationEnabled = true;
  private readonly inflight: Uint8Array;
  private readonly writableOf: Uint32Array;
  private inFlightCount = 0;
  // walk's working arrays: the segments of the chain being walked, as
  // numbers (no object per segment until the chain is built), readable
  // ones first (walk enforces the order); grown by doubling up to
  // maxSegments.
  private segAddr = new Float64Array(8);
  private segLen = new Uint32Array(8);
  private readonly reuseChains: boolean;
  /** reuseChains: the chain object of each head, made on its first pop. */
  private ownChains: (OwnChain | undefined)[] = [];

  // Resolved at activate(): each ring lies inside one region (validate checked it).
  private mask = 0;
  private descView!: DataView;
  private descBase = 0;
  private availView!: DataView;
  private availWords!: SharedWords;
  private availBase = 0;
  private usedView!: DataView;
  private usedWords!: SharedWords;
  private usedBase = 0;

  private popped = 0;
  private pushed = 0;
  private needed = 0;
  private suppressed = 0;
  private breaks = 0;
  private descriptorsRead = 0;

  /** A queue over `memory`, inactive, with `size` = `maxSize`. Throws ERR_INVALID_ARGUMENT on bad options. */
  constructor(
    readonly memory: GuestMemory,
    options: VirtQueueOptions,
  ) {
    const { maxSize, maxSegments = maxSize, onBroken } = options;
    if (!isQueueSize(maxSize)) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `maxSize ${String(maxSize)} must be a power of two in [1, ${MAX_QUEUE_SIZE}]`);
    }
    if (!Number.isSafeInteger(maxSegments) || maxSegments < 1) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `maxSegments ${String(maxSegments)} must be a positive integer`);
    }
    if (onBroken !== undefined && typeof onBroken !== 'function') throw new VirtioError('ERR_INVALID_ARGUMENT', 'onBroken must be a function');
    this.maxSize = maxSize;
    this.maxSegments = maxSegments;
    this.onBroken = onBroken;
    this.reuseChains = options.reuseChains === true;
    this._size = maxSize;
    this.inflight = new Uint8Array(maxSize);
    this.writableOf = new Uint32Array(maxSize);
  }

  // ---- configuration (the transport, on the driver's register writes) ----

  /** Queue size the driver chose (queue_size register; any u16, checked by validate). */
  get size(): number {
    return this._size;
  }
  set size(v: number) {
    this.configure('size');
    this._size = u16(v, 'size');
  }
  /** Guest-physical address of the descriptor table (queue_desc). */
  get descTable(): number {
    return this._descTable;
  }
  set descTable(v: number) {
    this._descTable = this.address('descTable', v);
  }
  /** Guest-physical address of the available ring (queue_driver / queue_avail). */
  get availRing(): number {
    return this._availRing;
  }
  set availRing(v: number) {
    this._availRing = this.address('availRing', v);
  }
  /** Guest-physical address of the used ring (queue_device / queue_used). */
  get usedRing(): number {
    return this._usedRing;
  }
  set usedRing(v: number) {
    this._usedRing = this.address('usedRing', v);
  }
  /** The driver enabled the queue (queue_enable). */
  get ready(): boolean {
    return this._ready;
  }
  set ready(v: boolean) {
    this.configure('ready');
    this._ready = v === true;
  }
  /** The negotiated ring features (§6: VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC); see `queueFeatures()`. */
  setFeatures(features: QueueFeatures): void {
    this.configure('features');
    this._eventIdx = features.eventIdx === true;
    this._indirect = features.indirect === true;
  }
  /** VIRTIO_RING_F_EVENT_IDX is in use. */
  get eventIdx(): boolean {
    return this._eventIdx;
  }
  /** VIRTIO_RING_F_INDIRECT_DESC is in use. */
  get indirect(): boolean {
    return this._indirect;
  }

  /**
   * Index of the next available-ring entry to pop (QEMU last_avail_idx).
   * Settable while inactive, to restore a saved queue (migration) or to
   * start the rings at another index.
   */
  get nextAvail(): number {
    return this._nextAvail;
  }
  set nextAvail(v: number) {
    this.configure('nextAvail');
    this._nextAvail = this.shadowAvail = u16(v, 'nextAvail');
  }
  /** Index of the next used-ring element to write (QEMU used_idx). Settable while inactive. */
  get nextUsed(): number {
    return this._nextUsed;
  }
  set nextUsed(v: number) {
    this.configure('nextUsed');
    this._nextUsed = u16(v, 'nextUsed');
    this.filledUsed = 0;
  }
  /** Used elements written by fillUsed and not yet published by flushUsed. */
  get unflushedUsed(): number {
    return this.filledUsed;
  }

  /**
   * Why the configuration cannot run, or undefined when it can: size
   * non-zero, a power of two and ≤ maxSize (§2.7); the areas aligned
   * (descriptors 16, avail 2, used 4: §2.7's table) and each inside one
   * guest-memory region, event words included.
   */
  validate(): string | undefined {
    const size = this._size;
    if (size === 0) return 'queue size 0 (§2.7)';
    if (!isQueueSize(size)) return `queue size ${size} is not a power of two (§2.7)`;
    if (size > this.maxSize) return `queue size ${size} is above the device's maximum ${this.maxSize}`;
    const areas = ringAreas(size, { descTable: this._descTable, availRing: this._availRing, usedRing: this._usedRing });
    for (const { what, gpa, align } of areas) {
      if (gpa % align !== 0) return `${what} at ${hex(gpa)} is not ${align}-byte aligned (§2.7)`;
    }
    for (const { what, gpa, bytes } of areas) {
      if (!this.memory.contains(gpa, bytes)) return `${what} [${hex(gpa)}, +${bytes}) is outside guest memory`;
    }
    return undefined;
  }

  /**
   * Starts the queue (the transport, on DRIVER_OK, for each queue the
   * driver enabled). Returns true when running; false when the
   * configuration is bad, after marking the queue broken with the reason
   * from `validate()` (or when it was already broken). Throws
   * ERR_INVALID_STATE when the queue is not ready or already active.
   */
  activate(): boolean {
    if (this._active) throw new VirtioError('ERR_INVALID_STATE', 'activate(): the queue is already active (reset() it first)');
    if (!this._ready) throw new VirtioError('ERR_INVALID_STATE', 'activate(): the driver has not enabled this queue (ready is false)');
    if (this._broken) return false;
    const reason = this.validate();
    if (reason !== undefined) {
      this.markBroken(reason);
      return false;
    }
    const mem = this.memory;
    const size = this._size;
    const desc = mem.regions[mem.regionIndex(this._descTable, descTableSize(size))]!;
    const avail = mem.regions[mem.regionIndex(this._availRing, availRingSize(size))]!;
    const used = mem.regions[mem.regionIndex(this._usedRing, usedRingSize(size))]!;
    this.mask = size - 1;
    this.descView = desc.view;
    this.descBase = this._descTable - desc.gpa;
    this.availView = avail.view;
    this.availWords = avail.words;
    this.availBase = this._availRing - avail.gpa;
    this.usedView = used.view;
    this.usedWords = used.words;
    this.usedBase = this._usedRing - used.gpa;
    this.signalledValid = false;
    this.notificationEnabled = true;
    this._active = true;
    return true;
  }

  /** Back to the power-on state (device reset): inactive, not broken, size maxSize, addresses 0, nothing in flight. Stats are kept. */
  reset(): void {
    this._active = false;
    this._broken = false;
    this._brokenReason = undefined;
    this._size = this.maxSize;
    this._descTable = 0;
    this._availRing = 0;
    this._usedRing = 0;
    this._ready = false;
    this._eventIdx = false;
    this._indirect = false;
    this._nextAvail = this.shadowAvail = 0;
    this._nextUsed = 0;
    this.filledUsed = 0;
    this.signalledUsed = 0;
    this.signalledValid = false;
    this.notificationEnabled = true;
    this.inflight.fill(0);
    this.inFlightCount = 0;
    // Chains popped before the reset may still be held (a request the
    // device is finishing): new heads get new objects.
    if (this.ownChains.length !== 0) this.ownChains = [];
  }

  // ---- state ----

  /** Activated and not reset since. */
  get active(): boolean {
    return this._active;
  }
  /** A driver (or device-level) violation stopped the queue; see `brokenReason`. */
  get broken(): boolean {
    return this._broken;
  }
  /** Why the queue broke (the first reason), or undefined. */
  get brokenReason(): string | undefined {
    return this._brokenReason;
  }
  /** Chains popped and not yet pushed. */
  get inFlight(): number {
    return this.inFlightCount;
  }
  /** A snapshot of the counters. */
  get stats(): VirtQueueStats {
    return {
      popped: this.popped,
      pushed: this.pushed,
      notificationsNeeded: this.needed,
      notificationsSuppressed: this.suppressed,
      broken: this.breaks,
      descriptorsRead: this.descriptorsRead,
    };
  }

  /**
   * Stops the queue with `reason` (QEMU `virtio_error`): later pops return
   * null, pushes and notification calls do nothing, until `reset()`. The
   * first call records the reason and calls `onBroken` once; later calls
   * are ignored. Devices call it for device-level errors (a request too
   * short for its header, …).
   */
  markBroken(reason: string): void {
    if (this._broken) return;
    this._broken = true;
    this._brokenReason = reason;
    this.breaks++;
    this.onBroken?.(reason);
  }

  // ---- the device's operations ----

  /** Whether the driver has published entries not yet popped (one atomic load). False when inactive or broken. */
  hasAvailable(): boolean {
    if (!this._active || this._broken) return false;
    return this.shadowAvail !== this._nextAvail || this.availWords.load16(this.availBase + AVAIL_IDX) !== this._nextAvail;
  }

  /**
   * The next available chain, or null when there is none or the queue is
   * inactive or broken (virtqueue_pop). A malformed chain breaks the queue
   * (the reason says which rule, with its spec section), is stepped over,
   * and gives null. Never throws for any ring contents. With
   * `reuseChains` the chain is the head's own object, valid until the
   * head is made available again (see VirtQueueOptions.reuseChains).
   */
  pop(): DescriptorChain | null {
    if (!this._active || this._broken) return null;
    const from = this._nextAvail;
    if (this.shadowAvail === from) {
      // §2.7.13.3: avail.idx first, with an atomic load that pairs with the
      // driver's atomic store of it (DriverQueue.needsKick); the ring
      // entries and descriptors it publishes are then read with plain
      // loads. Entries below an index already loaded need no new load
      // (QEMU shadow_avail_idx).
      const availIdx = this.availWords.load16(this.availBase + AVAIL_IDX);
      const pending = (availIdx - from) & 0xffff;
      if (pending === 0) return null;
      if (pending > this._size) {
        return this.fail(`avail.idx moved from ${from} to ${availIdx}, more than the queue size ${this._size} ahead (§2.7.6, §2.7.13.3)`);
      }
      this.shadowAvail = availIdx;
    }
    const head = this.availView.getUint16(this.availBase + availEntryOffset(from & this.mask), true);
    // Step past the entry before judging it, so a bad chain is not met again.
    this._nextAvail = (from + 1) & 0xffff;
    if (head >= this._size) return this.fail(`avail.ring[${from & this.mask}] names head ${head}, not below the queue size ${this._size} (§2.7.6)`);
    if (this.inflight[head] !== 0) return this.fail(`head ${head} was made available again while still in flight (§2.7.6)`);
    const chain = this.walk(head);
    if (chain === null) return null;
    this.inflight[head] = 1;
    this.writableOf[head] = chain.writableBytes;
    this.inFlightCount++;
    this.popped++;
    // QEMU virtqueue_split_pop: with EVENT_IDX and notifications on, ask for
    // a kick when the driver passes what we have consumed. Atomic store,
    // read by DriverQueue.needsKick after its store of avail.idx; our next
    // load of avail.idx comes after it (the store-buffering pair).
    if (this._eventIdx && this.notificationEnabled) this.usedWords.store16(this.usedBase + availEventOffset(this._size), this._nextAvail);
    return chain;
  }

  /**
   * Walks the chain at `head`: at most `size` descriptors of the table,
   * then at most one indirect table's entry count, so the work is bounded
   * whatever the guest wrote. Each descriptor's fields are read once into
   * locals: the guest may rewrite them while we walk.
   */
  private walk(head: number): DescriptorChain | null {
    const mem = this.memory;
    const regions = mem.regions;
    let view = this.descView;
    let base = this.descBase;
    let entries = this._size; // descriptors in the current table: `next` must be below
    let budget = entries; // descriptors we may still read from it
    let inIndirect = false;
    let index = head;
    let sawWritable = false;
    let readables = 0;
    let readableBytes = 0;
    let writableBytes = 0;
    let segments = 0;
    for (;;) {
      if (budget === 0) {
        return this.fail(
          inIndirect
            ? `chain ${head}: the indirect table's ${entries} descriptors loop (§2.7.5.2)`
            : `chain ${head} is longer than the queue size ${entries}: a loop (§2.7.5.2, §2.7.5.3.1)`,
        );
      }
      budget--;
      this.descriptorsRead++;
      const at = base + DESC_SIZE * index;
      const lo = view.getUint32(at + DESC_ADDR, true);
      const hi = view.getUint32(at + DESC_ADDR + 4, true);
      const len = view.getUint32(at + DESC_LEN, true);
      const flags = view.getUint16(at + DESC_FLAGS, true);
      const next = view.getUint16(at + DESC_NEXT, true);
      const addr = hi < HI_LIMIT ? hi * U32_LIMIT + lo : -1;

      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        // §2.7.5.3.2: the WRITE flag of a descriptor naming a table is ignored.
        if (!this._indirect) return this.fail(`chain ${head}: INDIRECT without VIRTIO_RING_F_INDIRECT_DESC (§2.7.5.3.1)`);
        if (inIndirect) return this.fail(`chain ${head}: an indirect descriptor inside an indirect table (§2.7.5.3.1)`);
        if ((flags & VIRTQ_DESC_F_NEXT) !== 0) return this.fail(`chain ${head}: INDIRECT together with NEXT (§2.7.5.3.1)`);
        if (len === 0 || len % DESC_SIZE !== 0) {
          return this.fail(`chain ${head}: indirect table length ${len} is not a positive multiple of ${DESC_SIZE} (§2.7.5.3)`);
        }
        const r = mem.regionIndex(addr, len); // -1 also for addr -1 (≥ 2^53)
        if (r < 0) return this.fail(`chain ${head}: indirect table [${hex64(lo, hi)}, +${len}) is outside guest memory`);
        const region = regions[r]!;
        view = region.view;
        base = addr - region.gpa;
        entries = budget = len / DESC_SIZE;
        index = 0;
        inIndirect = true;
        continue;
      }

      const isWrite = (flags & VIRTQ_DESC_F_WRITE) !== 0;
      if (len === 0) return this.fail(`chain ${head}: a zero-length buffer (QEMU virtqueue_map_desc)`);
      if (isWrite) {
        sawWritable = true;
        writableBytes += len;
      } else {
        if (sawWritable) return this.fail(`chain ${head}: a device-readable buffer after a device-writable one (§2.7.4.2)`);
        readableBytes += len;
      }
      if (readableBytes + writableBytes >= U32_LIMIT) return this.fail(`chain ${head}: total length reaches 2^32 bytes (§2.7.5.2)`);
      // Map the buffer; one that crosses into an adjacent region becomes one segment per region.
      let a = addr;
      let left = len;
      for (;;) {
        const r = mem.regionIndex(a, 1);
        if (r < 0) return this.fail(`chain ${head}: buffer [${hex64(lo, hi)}, +${len}) is outside guest memory`);
        if (++segments > this.maxSegments) return this.fail(`chain ${head}: more than ${this.maxSegments} segments`);
        const n = Math.min(left, regions[r]!.end - a);
        if (segments > this.segLen.length) this.growScratch();
        this.segAddr[segments - 1] = a;
        this.segLen[segments - 1] = n;
        if (!isWrite) readables++;
        left -= n;
        if (left === 0) break;
        a += n;
      }

      if ((flags & VIRTQ_DESC_F_NEXT) === 0) break;
      if (next >= entries) {
        return this.fail(`chain ${head}: next ${next} is not below the ${inIndirect ? 'indirect table size' : 'queue size'} ${entries} (§2.7.5)`);
      }
      index = next;
    }
    return this.reuseChains ? this.refill(head, segments, readables, readableBytes, writableBytes) : this.build(head, segments, readables, readableBytes, writableBytes);
  }

  private growScratch(): void {
    const n = Math.min(this.segLen.length * 2, Math.max(this.maxSegments, 8));
    const addr = new Float64Array(n);
    const len = new Uint32Array(n);
    addr.set(this.segAddr);
    len.set(this.segLen);
    this.segAddr = addr;
    this.segLen = len;
  }

  /** A new chain from walk's scratch (readable segments come first: walk checked the order). */
  private build(head: number, segments: number, readables: number, readableBytes: number, writableBytes: number): DescriptorChain {
    const readable: Segment[] = new Array<Segment>(readables);
    const writable: Segment[] = new Array<Segment>(segments - readables);
    for (let i = 0; i < segments; i++) {
      const seg = { addr: this.segAddr[i]!, len: this.segLen[i]! };
      if (i < readables) readable[i] = seg;
      else writable[i - readables] = seg;
    }
    return { head, readable, writable, readableBytes, writableBytes };
  }

  /** reuseChains: the head's own chain, refilled from walk's scratch; new segment objects only when the shape changed. */
  private refill(head: number, segments: number, readables: number, readableBytes: number, writableBytes: number): DescriptorChain {
    let c = this.ownChains[head];
    if (c === undefined || c.readable.length !== readables || c.writable.length !== segments - readables) {
      c = { head, readable: [], writable: [], readableBytes: 0, writableBytes: 0 };
      for (let i = 0; i < segments; i++) (i < readables ? c.readable : c.writable).push({ addr: 0, len: 0 });
      this.ownChains[head] = c;
    }
    for (let i = 0; i < segments; i++) {
      const seg = i < readables ? c.readable[i]! : c.writable[i - readables]!;
      seg.addr = this.segAddr[i]!;
      seg.len = this.segLen[i]!;
    }
    c.readableBytes = readableBytes;
    c.writableBytes = writableBytes;
    return c;
  }

  /**
   * Publishes a used element for a popped chain: `len` bytes were written
   * into its device-writable segments (virtqueue_push). The element is
   * written first, then used.idx with an atomic store (§2.7.8.2), which
   * also publishes any elements fillUsed wrote before it; that store pairs
   * with the driver's atomic load in DriverQueue.getUsedHead.
   * No-op when inactive or broken. Throws ERR_INVALID_ARGUMENT when `head`
   * is not in flight or `len` exceeds the chain's writable bytes: host bugs.
   */
  pushUsed(head: number, len: number): void {
    if (!this.writeUsed('pushUsed', head, len)) return;
    this.flushUsed();
  }

  /**
   * Writes the used element for a popped chain without publishing it
   * (QEMU virtqueue_fill): the driver sees it, with every element filled
   * before it, at the next {@link flushUsed}. Same checks as pushUsed.
   * A device that completes several chains in a row publishes them with
   * one used.idx store (QEMU virtqueue_flush(vq, count)): one cache-line
   * transfer to the driver instead of one per element.
   */
  fillUsed(head: number, len: number): void {
    this.writeUsed('fillUsed', head, len);
  }

  /**
   * Publishes the elements written by fillUsed (QEMU virtqueue_flush):
   * one atomic store of used.idx after them, pairing with the driver's
   * atomic load in DriverQueue.getUsedHead. needsNotification covers only
   * published elements, so ask it after this. No-op when none are
   * pending, or when inactive or broken.
   */
  flushUsed(): void {
    if (this.filledUsed === 0 || !this._active || this._broken) return;
    this._nextUsed = (this._nextUsed + this.filledUsed) & 0xffff;
    this.filledUsed = 0;
    this.usedWords.store16(this.usedBase + USED_IDX, this._nextUsed);
  }

  /** The element for `head` at used.idx + the elements filled so far; false when inactive or broken. */
  private writeUsed(what: string, head: number, len: number): boolean {
    if (!this._active || this._broken) return false;
    if (!(Number.isInteger(head) && head >= 0 && head < this._size && this.inflight[head] === 1)) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `${what}(${String(head)}): that head is not in flight (pop did not return it, or it was pushed already)`);
    }
    const room = this.writableOf[head]!;
    if (!(Number.isInteger(len) && len >= 0 && len <= room)) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `${what}(${head}, ${String(len)}): len must be an integer in [0, ${room}], the chain's writable bytes (§2.7.8.2)`);
    }
    const at = this.usedBase + usedElemOffset((this._nextUsed + this.filledUsed) & this.mask);
    this.usedView.setUint32(at + USED_ELEM_ID, head, true);
    this.usedView.setUint32(at + USED_ELEM_LEN, len, true);
    this.filledUsed++;
    this.inflight[head] = 0;
    this.inFlightCount--;
    this.pushed++;
    return true;
  }

  /**
   * Whether to interrupt the driver for the used elements pushed since the
   * last call (virtio_should_notify / rust-vmm needs_notification).
   *
   * Side effect: it records the current used index as signalled, so call
   * it once per batch and send the interrupt when it says true; a false
   * answer is final for those elements (the driver re-checks the ring when
   * it re-enables interrupts). With EVENT_IDX: true when used.idx passed
   * `used_event` since the last call, or on the first call after
   * activation (§2.7.7.2); without: true unless the driver set
   * VRING_AVAIL_F_NO_INTERRUPT. False when nothing was pushed since the
   * last call, and when inactive or broken.
   *
   * The load of used_event / avail.flags comes after pushUsed's atomic
   * store of used.idx: the device half of the store-buffering pair whose
   * driver half is DriverQueue.enableInterrupts (store used_event, then
   * load used.idx).
   */
  needsNotification(): boolean {
    if (!this._active || this._broken) return false;
    const newIdx = this._nextUsed;
    const oldIdx = this.signalledUsed;
    const valid = this.signalledValid;
    this.signalledUsed = newIdx;
    this.signalledValid = true;
    if (valid && newIdx === oldIdx) return false;
    const need = this._eventIdx
      ? !valid || vringNeedEvent(this.availWords.load16(this.availBase + usedEventOffset(this._size)), newIdx, oldIdx)
      : (this.availWords.load16(this.availBase + AVAIL_FLAGS) & VRING_AVAIL_F_NO_INTERRUPT) === 0;
    if (need) this.needed++;
    else this.suppressed++;
    return need;
  }

  /**
   * Asks the driver not to kick while the device drains the ring
   * (virtio_queue_set_notification(vq, 0)). Without EVENT_IDX it sets
   * VRING_USED_F_NO_NOTIFY (atomic store; the driver reads it in
   * needsKick). With EVENT_IDX it writes nothing, as rust-vmm and vhost:
   * `avail_event` stays where the last enable or pop put it, which the
   * driver has already passed, and pop stops moving it. No-op when
   * inactive or broken.
   */
  disableNotification(): void {
    if (!this._active || this._broken) return;
    this.notificationEnabled = false;
    if (!this._eventIdx) this.usedWords.store16(this.usedBase + USED_FLAGS, VRING_USED_F_NO_NOTIFY);
  }

  /**
   * Asks the driver to kick again, then re-checks the ring; true means
   * entries were published meanwhile and the device must drain again
   * before it waits (§2.7.10). With EVENT_IDX it stores `avail_event` =
   * nextAvail, otherwise clears VRING_USED_F_NO_NOTIFY; then it loads
   * avail.idx. Store then load, both atomic: the device half of the
   * store-buffering pair whose driver half is DriverQueue.needsKick
   * (store avail.idx, then load avail_event / used.flags), so either the
   * driver sees the request and kicks, or this returns true. False when
   * inactive or broken.
   */
  enableNotification(): boolean {
    if (!this._active || this._broken) return false;
    this.notificationEnabled = true;
    if (this._eventIdx) this.usedWords.store16(this.usedBase + availEventOffset(this._size), this._nextAvail);
    else this.usedWords.store16(this.usedBase + USED_FLAGS, 0);
    return this.availWords.load16(this.availBase + AVAIL_IDX) !== this._nextAvail;
  }

  private fail(reason: string): null {
    this.markBroken(reason);
    return null;
  }

  private configure(what: string): void {
    if (this._active) throw new VirtioError('ERR_INVALID_STATE', `cannot set ${what} of an active queue (reset() it first)`);
  }

  private address(what: string, v: number): number {
    this.configure(what);
    if (!(Number.isInteger(v) && v >= 0)) throw new VirtioError('ERR_INVALID_ARGUMENT', `${what} ${String(v)} is not a guest-physical address`);
    return v;
  }
}

function u16(v: number, what: string): number {
  if (!(Number.isInteger(v) && v >= 0 && v <= 0xffff)) throw new VirtioError('ERR_INVALID_ARGUMENT', `${what} ${String(v)} is not a u16`);
  return v;
}

