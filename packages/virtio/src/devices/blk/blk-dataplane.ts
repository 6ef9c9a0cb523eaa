/**
 * The queues of one virtio-blk device that one AioContext serves (QEMU
 * hw/block/dataplane/virtio-blk.c + virtio_blk_handle_vq): host notifier
 * handlers with poll callbacks, request parsing, I/O on the context's
 * thread pool straight into guest memory (or on the context's thread,
 * `inline`), used-ring completion, and interrupts batched to one decision
 * per queue per poll — with inline I/O, one per batch of USED_BATCH
 * completions published together, and at the end of each drain.
 *
 * It runs on the context's home thread — an IOThread, or the owner's main
 * loop when there are no I/O threads — and is callback-based throughout: an
 * IOThread's loop never returns to its event loop, so promises would never
 * settle there.
 *
 * The standard device loop, per queue (QEMU virtio_blk_handle_vq):
 *
 *   do {
 *     if notifications are on: disable them            (skip while polling)
 *     while budget and (chain = vq.pop()): submit it
 *     if notifications were on: re-enable them
 *   } while (the ring is not empty)                     (re-check: SB race)
 *
 * A queue that keeps the budget busy (a kick storm) yields to the rest of
 * the loop and continues from a bottom half.
 *
 * With inline I/O the pop loop reads in batches of up to USED_BATCH
 * requests (see drainInline): parse them, run their preads back to back,
 * then complete them in ring order.
 */
import type { AioContext, BottomHalf } from '@vmloop/aio';
import type { EventNotifier, EventNotifierHandle } from '@vmloop/event-notifier';
import type { ThreadPool } from '@vmloop/thread-pool';
import { blkTransfer, preadRegion } from './blk-io.js';
import type { DescriptorChain, Segment } from '../../queue/descriptor-chain.js';
import { queueFeatures } from '../../queue/features.js';
import type { GuestMemory } from '../../queue/guest-memory.js';
import { VirtQueue } from '../../queue/virt-queue.js';
import { TransportLink } from '../../pci/transport-link.js';
import type { DeviceStartConfig } from '../../pci/virtio-device.js';
import { parseBlkRequest, type BlkRequest, type ParsedRequest } from './blk-request.js';
import type { IoRequestTable } from './io-request-table.js';
import {
  IO_FLUSH,
  IO_READ,
  IO_WRITE,
  IO_WRITE_ZEROES,
  SECTOR_SHIFT,
  SECTOR_SIZE,
  VIRTIO_BLK_ID_BYTES,
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_T_DISCARD,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
} from './layout.js';

/** The disk as the dataplane sees it. */
export interface BlkDisk {
  /** An open file descriptor of the image (process-wide: usable on every thread). */
  readonly fd: number;
  readonly capacitySectors: number;
  readonly readOnly: boolean;
  /** GET_ID answer (at most 20 bytes). */
  readonly serial: string;
}

/** Trace points of a dataplane (zero cost when no tracer is set). */
export type BlkTracePoint = 'kick' | 'submit' | 'complete' | 'irq' | 'irq-suppressed';
export type BlkTracer = (point: BlkTracePoint, queue: number, value: number) => void;

/** Options of a {@link BlkDataplane}. */
export interface BlkDataplaneOptions {
  readonly ctx: AioContext;
  readonly memory: GuestMemory;
  /** A pool on `ctx` whose jobs module is the blk job module (blk-jobs.js) and whose workerData holds `table`. */
  readonly pool: ThreadPool;
  /**
   * Run reads, writes and flushes on this context's own thread, one at a
   * time (`aio: 'inline'`, see BlkHostOptions.aio), with the transfer of
   * blk-io.ts on `memory`. False or absent: through the pool (QEMU
   * aio=threads).
   */
  readonly inline?: boolean;
  readonly table: IoRequestTable;
  readonly disk: BlkDisk;
  /** The device's queue indices this context serves. */
  readonly queues: readonly number[];
  readonly queueMaxSize: number;
  /** Most segments per chain (seg_max + header + status). */
  readonly maxSegments: number;
  readonly tracer?: BlkTracer;
}

/** Counters of a dataplane. */
export interface BlkDataplaneStats {
  readonly requests: number;
  readonly reads: number;
  readonly writes: number;
  readonly flushes: number;
  readonly errors: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly kicks: number;
  readonly interrupts: number;
  readonly interruptsSuppressed: number;
  readonly inFlight: number;
  /** Requests that waited for a free I/O table row. */
  readonly waitedForRow: number;
  /** Drains cut short by the per-handler budget (kick storms). */
  readonly budgetYields: number;
}

interface Waiting {
  readonly local: number;
  readonly vq: VirtQueue;
  readonly chain: DescriptorChain;
  readonly req: BlkRequest;
}

const encoder = new TextEncoder();
/**
 * Inline completions a queue publishes with one used.idx store (QEMU
 * virtqueue_fill ×n, virtqueue_flush(n)); the rest of a drain is
 * published when it ends. Measured (4 KiB random reads, queue depth 32,
 * the demo's blk-iops command, alternating runs): 567–576 k IOPS with a
 * store per completion, 607–623 k with 4, 631–664 k with 16. A completion
 * waits at most 15 later reads (~15 µs here) to be seen.
 */
const USED_BATCH = 16;
const NO_SEGMENTS: readonly Segment[] = [];
/** Fields per slot of BlkDataplane.batchIo, and its two length markers. */
const IO_FIELDS = 4;
const PLAN_GENERAL = -1;
const PLAN_NONE = -2;

/** A read that passed validation: drainInline batches these. */
const isBatchedRead = (r: ParsedRequest): r is BlkRequest => r.kind === 'io' && r.type === VIRTIO_BLK_T_IN;

/** @thread home: the context's home thread */
export class BlkDataplane {
  private readonly ctx: AioContext;
  private readonly notifiers: EventNotifier[];
  private readonly vqs: (VirtQueue | undefined)[];
  private readonly polling: boolean[];
  private readonly dirty: boolean[];
  private readonly continueBh: BottomHalf;
  private readonly irqBh: BottomHalf;
  private readonly yielded: boolean[];
  private readonly waiting: Waiting[] = [];
  private readonly drainWaiters: (() => void)[] = [];
  /** drainInline's batch: the chains, their parsed requests and transfer results (slots cleared after use). */
  private readonly batchChains: (DescriptorChain | undefined)[] = [];
  private readonly batchReqs: (ParsedRequest | undefined)[] = [];
  private readonly batchResults: number[] = [];
  /**
   * drainInline's preads, worked out while popping: per batch slot
   * [file position, offset in the region, length, region index], or a
   * length of PLAN_GENERAL (a read of several segments: blkTransfer) or
   * PLAN_NONE (not a read).
   */
  private readonly batchIo = new Float64Array(USED_BATCH * IO_FIELDS);
  /** The guest RAM regions' bytes, by region index (fixed for a GuestMemory). */
  private readonly regionBytes: readonly Uint8Array[];
  /** parseBlkRequest's `own` objects of each queue, by head (new at each start). */
  private readonly ownRequests: (BlkRequest | undefined)[][] = [];
  private readonly idBytes: Uint8Array;
  private link: TransportLink | undefined;
  /**
   * Where each queue stood when the dataplane last stopped (QEMU keeps
   * last_avail_idx / used_idx in the VirtQueue across a dataplane stop and
   * start; only a device reset clears them). A stop without a reset (VM
   * stop, status without DRIVER_OK, bus mastering off) resumes from here.
   */
  private readonly saved: ({ nextAvail: number; nextUsed: number } | undefined)[];
  private running = false;
  private inFlight = 0;
  private generation = 0;
  private readonly c = { requests: 0, reads: 0, writes: 0, flushes: 0, errors: 0, bytesRead: 0, bytesWritten: 0, kicks: 0, interrupts: 0, interruptsSuppressed: 0, waitedForRow: 0, budgetYields: 0 };

  constructor(private readonly o: BlkDataplaneOptions) {
    this.ctx = o.ctx;
    const n = o.queues.length;
    this.notifiers = o.queues.map(() => o.ctx.createNotifier());
    this.vqs = new Array<VirtQueue | undefined>(n).fill(undefined);
    this.polling = new Array<boolean>(n).fill(false);
    this.dirty = new Array<boolean>(n).fill(false);
    this.yielded = new Array<boolean>(n).fill(false);
    this.saved = new Array<{ nextAvail: number; nextUsed: number } | undefined>(n).fill(undefined);
    this.continueBh = o.ctx.bh(() => this.continueYielded(), { name: 'virtio-blk-continue' });
    this.irqBh = o.ctx.bh(() => this.flushInterrupts(), { name: 'virtio-blk-irq' });
    this.idBytes = encoder.encode(o.disk.serial).subarray(0, VIRTIO_BLK_ID_BYTES);
    this.regionBytes = o.memory.regions.map((r) => r.bytes);
  }

  /** The host notifiers, one per served queue, in `queues` order (for the ioeventfd table and sync doorbells). */
  get notifierHandles(): EventNotifierHandle[] {
    return this.notifiers.map((n) => n.handle);
  }

  get stats(): BlkDataplaneStats {
    return { ...this.c, inFlight: this.inFlight };
  }

  /**
   * DRIVER_OK (QEMU virtio_blk_data_plane_start): build the queues from the
   * driver's configuration, attach the notifier handlers, and kick each
   * queue once to pick up requests already in the ring. With `resume`
   * (no device reset since the last stop) each queue continues from the
   * ring indices it stopped at; otherwise it starts from 0, as after a reset.
   */
  start(config: DeviceStartConfig, resume = false): void {
    if (this.running) return;
    if (!resume) this.saved.fill(undefined);
    const link = TransportLink.open(config.link);
    this.link = link;
    this.generation++;
    const features = queueFeatures(config.features);
    this.o.queues.forEach((q, local) => {
      const qc = config.queues[q];
      if (qc === undefined || !qc.enabled) return;
      // The queue's own chains and our own request objects, by head: a
      // request allocates nothing on the way in. Both sets are new for
      // each start, so a request still finishing from before is not
      // overwritten by a new one on the same head.
      const vq = new VirtQueue(this.o.memory, {
        maxSize: this.o.queueMaxSize,
        maxSegments: this.o.maxSegments,
        onBroken: (reason) => link.setBroken(`virtio-blk queue ${q}: ${reason}`),
        reuseChains: true,
      });
      this.ownRequests[local] = [];
      vq.size = qc.size;
      vq.descTable = qc.descTable;
      vq.availRing = qc.availRing;
      vq.usedRing = qc.usedRing;
      vq.ready = true;
      vq.setFeatures(features);
      // A fresh VirtQueue starts at index 0. After a stop without a reset the
      // driver's rings have moved on: starting from 0 would pop old entries
      // again (stale heads: the device broke on them after a VM stop/resume).
      const at = this.saved[local];
      if (at !== undefined) {
        vq.nextAvail = at.nextAvail;
        vq.nextUsed = at.nextUsed;
      }
      if (!vq.activate()) return; // broken: onBroken told the transport
      this.vqs[local] = vq;
      this.polling[local] = false;
      const n = this.notifiers[local]!;
      this.ctx.setNotifierHandler(n, {
        onRead: (nn) => {
          nn.testAndClear();
          this.handle(local);
        },
        // QEMU virtio_queue_host_notifier_aio_poll*: poll the ring itself.
        onPoll: () => vq.hasAvailable(),
        onPollReady: () => this.handle(local),
        onPollBegin: () => {
          this.polling[local] = true;
          vq.disableNotification();
        },
        onPollEnd: () => {
          this.polling[local] = false;
          // The context polls once more after this; what raced in is seen then.
          vq.enableNotification();
        },
      });
      n.set(); // "kick right away to begin processing requests already in vring"
    });
    this.running = true;
  }

  /**
   * Stop (QEMU virtio_blk_data_plane_stop): the transport has unbound the
   * ioeventfds and waited out the vCPUs, so test-and-clear each host
   * notifier and handle what it held, detach, then call `done` once every
   * request in flight has completed (QEMU blk_drain).
   */
  stop(done: () => void): void {
    if (!this.running) {
      this.whenDrained(done);
      return;
    }
    this.vqs.forEach((vq, local) => {
      if (vq === undefined) return;
      // One more look at the ring if a kick was pending; what is left (the
      // budget, or requests still arriving) stays in the ring for the next
      // start, whose first kick picks it up.
      const kicked = this.notifiers[local]!.testAndClear();
      if (kicked || this.yielded[local]) this.handle(local);
      this.yielded[local] = false;
    });
    for (let local = 0; local < this.notifiers.length; local++) {
      if (this.vqs[local] !== undefined) this.ctx.setNotifierHandler(this.notifiers[local]!, null);
    }
    this.running = false;
    this.whenDrained(() => {
      this.flushInterrupts();
      // Everything popped has completed: remember where each ring stands for a resume.
      this.vqs.forEach((vq, local) => {
        this.saved[local] = vq === undefined ? undefined : { nextAvail: vq.nextAvail, nextUsed: vq.nextUsed };
      });
      this.vqs.fill(undefined);
      done();
    });
  }

  /** Frees the BHs (after stop). */
  destroy(): void {
    this.continueBh.delete();
    this.irqBh.delete();
    for (const n of this.notifiers) n.close();
  }

  private whenDrained(f: () => void): void {
    if (this.inFlight === 0 && this.waiting.length === 0) f();
    else this.drainWaiters.push(f);
  }

  // ---------------------------------------------------------------- requests

  /** Drains queue `local` (the standard device loop in the module comment). */
  private handle(local: number): void {
    const vq = this.vqs[local];
    if (vq === undefined || vq.broken) return;
    this.c.kicks++;
    this.o.tracer?.('kick', this.o.queues[local]!, vq.inFlight);
    const toggle = !this.polling[local];
    let budget = vq.size;
    do {
      if (toggle) vq.disableNotification();
      if (this.o.inline === true) budget = this.drainInline(local, vq, budget);
      else {
        for (let chain = budget > 0 ? vq.pop() : null; chain !== null; chain = budget > 0 ? vq.pop() : null) {
          budget--;
          this.submit(local, vq, chain);
        }
      }
      if (vq.broken) return;
      // The drain ends: publish what inline completions filled, before
      // notifications go back on and before the context can sleep.
      if (vq.unflushedUsed !== 0) this.publish(local, vq);
      if (budget === 0) {
        // Leave notifications off; the continuation re-enables them.
        this.c.budgetYields++;
        this.yielded[local] = true;
        this.continueBh.schedule();
        return;
      }
    } while (toggle && vq.enableNotification());
  }

  private continueYielded(): void {
    for (let local = 0; local < this.yielded.length; local++) {
      if (!this.yielded[local]) continue;
      this.yielded[local] = false;
      this.handle(local);
    }
  }

  /**
   * The inline pop loop, in batches (QEMU virtio_blk_handle_vq's
   * MultiReqBuffer between blk_io_plug and blk_io_unplug): pop and parse
   * up to USED_BATCH reads, run their preads back to back, then complete
   * them in ring order. Each pread costs more than its copy: on these
   * hosts (page-table isolation, no PCID) a syscall flushes the TLB, and
   * the copy evicts cache, so whatever runs after it starts cold. One at a
   * time, that is the ring, the parser, the completion and the poll loop
   * for every request; batched, once per batch, and between two preads
   * only the transfer runs: 234–242 k → 255–274 k IOPS, and 253–262 k →
   * 276–287 k on another day (the blk-iops command, alternating runs;
   * batches of 8 the same, 32 worse: a batch's first completion waits for
   * all its reads).
   *
   * Any other request (a write, flush, GET_ID, discard, write zeroes, a
   * status error, malformed framing) ends its batch and runs after the
   * batch's reads, in its turn, as one at a time: nothing after it starts
   * before it, so execution keeps the ring's order. Returns the budget left.
   */
  private drainInline(local: number, vq: VirtQueue, budget: number): number {
    const memory = this.o.memory;
    const disk = this.o.disk;
    const fd = disk.fd;
    const chains = this.batchChains;
    const reqs = this.batchReqs;
    const results = this.batchResults;
    const io = this.batchIo;
    const bytes = this.regionBytes;
    const own = this.ownRequests[local];
    let left = budget;
    for (;;) {
      let n = 0;
      while (n < USED_BATCH && left > 0) {
        const chain = vq.pop();
        if (chain === null) break;
        left--;
        const r = parseBlkRequest(chain, memory, disk, own);
        chains[n] = chain;
        reqs[n] = r;
        const read = isBatchedRead(r);
        this.planRead(n++, read ? r : undefined);
        if (!read) break;
      }
      if (n === 0) return left;
      // Between two preads only this loop runs, on this one Float64Array
      // and the region's bytes: after a pread (page-table isolation
      // without PCID flushes the TLB on every syscall) each other object
      // touched here — the request, its segment array, the segment, the
      // memory's region list — was one more TLB miss and one more cache
      // miss before the next pread (planned while popping: 281–295 k →
      // 300–308 k IOPS, the demo's blk-iops command, alternating runs).
      for (let i = 0; i < n; i++) {
        const at = i * IO_FIELDS;
        const len = io[at + 2]!;
        if (len >= 0) results[i] = preadRegion(fd, bytes[io[at + 3]!]!, io[at + 1]!, len, io[at]!);
        else if (len === PLAN_GENERAL) {
          const r = reqs[i] as BlkRequest;
          results[i] = blkTransfer(memory, IO_READ, fd, r.sector * SECTOR_SIZE, r.data, r.data.length);
        }
      }
      for (let i = 0; i < n; i++) {
        const chain = chains[i]!;
        const r = reqs[i]!;
        chains[i] = undefined;
        reqs[i] = undefined;
        if (isBatchedRead(r)) {
          this.c.requests++;
          this.inFlight++;
          this.o.tracer?.('submit', this.o.queues[local]!, r.type);
          this.ioDone(local, vq, chain, r, IO_READ, -1, this.generation, null, results[i]);
        } else this.run(local, vq, chain, r);
      }
      if (vq.broken) return left;
    }
  }

  /** Slot `slot` of batchIo for `r`: a one-segment read's pread arguments, PLAN_GENERAL for a read of several segments, PLAN_NONE for no read. */
  private planRead(slot: number, r: BlkRequest | undefined): void {
    const io = this.batchIo;
    const at = slot * IO_FIELDS;
    if (r === undefined) {
      io[at + 2] = PLAN_NONE;
      return;
    }
    const seg = r.data.length === 1 ? r.data[0]! : undefined;
    // The parser checked every segment against guest memory at pop.
    const region = seg === undefined ? -1 : this.o.memory.regionIndex(seg.addr, seg.len);
    if (seg === undefined || region < 0) {
      io[at + 2] = PLAN_GENERAL;
      return;
    }
    io[at] = r.sector * SECTOR_SIZE;
    io[at + 1] = seg.addr - this.o.memory.regions[region]!.gpa;
    io[at + 2] = seg.len;
    io[at + 3] = region;
  }

  private submit(local: number, vq: VirtQueue, chain: DescriptorChain): void {
    this.run(local, vq, chain, parseBlkRequest(chain, this.o.memory, this.o.disk, this.ownRequests[local]));
  }

  /** Runs a parsed request: completes it at once, breaks the queue, or starts its I/O. */
  private run(local: number, vq: VirtQueue, chain: DescriptorChain, r: ParsedRequest): void {
    this.c.requests++;
    if (r.kind === 'malformed') {
      vq.markBroken(r.reason);
      return;
    }
    if (r.kind === 'status') {
      this.c.errors++;
      this.complete(local, vq, chain, r.status, r.statusCode, this.generation);
      return;
    }
    switch (r.type) {
      case VIRTIO_BLK_T_GET_ID: {
        let off = 0;
        for (const s of r.data) {
          if (off >= VIRTIO_BLK_ID_BYTES) break;
          const view = this.o.memory.slice(s.addr, Math.min(s.len, VIRTIO_BLK_ID_BYTES - off))!;
          view.fill(0);
          view.set(this.idBytes.subarray(off, off + view.length));
          off += view.length;
        }
        this.complete(local, vq, chain, r.status, VIRTIO_BLK_S_OK, this.generation);
        return;
      }
      case VIRTIO_BLK_T_DISCARD:
        // Advisory (5.2.6.2): a raw file cannot punch holes from Node; nothing to do.
        this.complete(local, vq, chain, r.status, VIRTIO_BLK_S_OK, this.generation);
        return;
      default:
        this.io(local, vq, chain, r);
    }
  }

  private io(local: number, vq: VirtQueue, chain: DescriptorChain, req: BlkRequest): void {
    const disk = this.o.disk;
    const op = req.type === VIRTIO_BLK_T_IN ? IO_READ : req.type === VIRTIO_BLK_T_OUT ? IO_WRITE : req.type === VIRTIO_BLK_T_FLUSH ? IO_FLUSH : IO_WRITE_ZEROES;
    const zero = op === IO_WRITE_ZEROES ? req.sectors * 2 ** SECTOR_SHIFT : 0;
    if (op === IO_WRITE_ZEROES && zero === 0) {
      this.complete(local, vq, chain, req.status, VIRTIO_BLK_S_OK, this.generation);
      return;
    }
    const position = req.sector * 2 ** SECTOR_SHIFT;
    // A table row only for the pool, whose worker reads the request from it.
    const inline = this.o.inline === true;
    const row = inline ? -1 : this.o.table.fill(op, disk.fd, position, op === IO_READ || op === IO_WRITE ? req.data : NO_SEGMENTS, zero);
    if (!inline && row < 0) {
      this.c.waitedForRow++;
      this.waiting.push({ local, vq, chain, req });
      return;
    }
    const gen = this.generation;
    this.inFlight++;
    this.o.tracer?.('submit', this.o.queues[local]!, req.type);
    if (inline) {
      // Inline: the transfer runs here, inside the queue's drain, with the
      // request's own segments, and completes like a request that fails
      // validation; blkTransfer never throws for I/O errors.
      const segs = op === IO_READ || op === IO_WRITE ? req.data : op === IO_WRITE_ZEROES ? [{ addr: 0, len: zero }] : NO_SEGMENTS;
      this.ioDone(local, vq, chain, req, op, -1, gen, null, blkTransfer(this.o.memory, op, disk.fd, position, segs, segs.length));
    } else {
      this.o.pool.submitCallback<number>('blkIo', row, (err, res) => this.ioDone(local, vq, chain, req, op, row, gen, err, res));
    }
  }

  /** A read, write, flush or WRITE_ZEROES finished (inline, row -1, or the pool's completion): count it, complete it, start one that waited for a row. */
  private ioDone(local: number, vq: VirtQueue, chain: DescriptorChain, req: BlkRequest, op: number, row: number, gen: number, err: Error | null, res: number | undefined): void {
    if (row >= 0) this.o.table.release(row);
    this.inFlight--;
    const ok = err === null && res !== undefined && res >= 0;
    if (ok) {
      if (op === IO_READ) {
        this.c.reads++;
        this.c.bytesRead += req.dataBytes;
      } else if (op === IO_WRITE) {
        this.c.writes++;
        this.c.bytesWritten += req.dataBytes;
      } else if (op === IO_FLUSH) this.c.flushes++;
    } else this.c.errors++;
    this.complete(local, vq, chain, req.status, ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR, gen);
    if (this.waiting.length !== 0) {
      const next = this.waiting.shift()!;
      this.io(next.local, next.vq, next.chain, next.req);
    }
    // Inline I/O drains to 0 after every request: look before splicing (splice allocates).
    if (this.inFlight === 0 && this.waiting.length === 0 && this.drainWaiters.length !== 0) for (const f of this.drainWaiters.splice(0)) f();
  }

  /** Status byte, then the used element (QEMU virtio_blk_req_complete); the interrupt decision now (inline I/O with EVENT_IDX) or once for the batch. */
  private complete(local: number, vq: VirtQueue, chain: DescriptorChain, status: number, code: number, gen: number): void {
    this.o.memory.writeU8(status, code);
    // A request that outlived a reset belongs to a queue that no longer exists.
    if (gen !== this.generation || this.vqs[local] !== vq) return;
    if (this.o.inline === true && vq.eventIdx) {
      // Inline I/O completes inside the queue's drain, so a decision
      // deferred to the drain's end would hold every completion of it
      // back from a halted driver until the whole drain is read: the vCPU
      // and the iothread would take turns instead of overlapping. Publish
      // every USED_BATCH completions (and at the drain's end, in handle)
      // and decide then; with EVENT_IDX the driver says when it wants the
      // interrupt (used_event), and the decision covers the batch.
      vq.fillUsed(chain.head, chain.writableBytes);
      this.o.tracer?.('complete', this.o.queues[local]!, code);
      if (vq.unflushedUsed >= USED_BATCH) this.publish(local, vq);
      return;
    }
    vq.pushUsed(chain.head, chain.writableBytes);
    this.o.tracer?.('complete', this.o.queues[local]!, code);
    if (!this.dirty[local]) {
      this.dirty[local] = true;
      this.irqBh.schedule();
    }
  }

  /** Publishes the completions filled so far (QEMU virtqueue_flush), then decides the interrupt for them. */
  private publish(local: number, vq: VirtQueue): void {
    vq.flushUsed();
    this.decide(local);
  }

  /** One interrupt decision per queue per batch of completions (QEMU virtio_notify_irqfd, deferred). */
  private flushInterrupts(): void {
    for (let local = 0; local < this.dirty.length; local++) {
      if (!this.dirty[local]) continue;
      this.dirty[local] = false;
      this.decide(local);
    }
  }

  /** Interrupts the driver for queue `local` if it asked for it (virtio_should_notify), or counts the suppression. */
  private decide(local: number): void {
    const link = this.link;
    const vq = this.vqs[local];
    if (vq === undefined || link === undefined) return;
    const q = this.o.queues[local]!;
    if (vq.needsNotification()) {
      this.c.interrupts++;
      this.o.tracer?.('irq', q, 1);
      link.notifyQueue(q);
    } else {
      this.c.interruptsSuppressed++;
      this.o.tracer?.('irq-suppressed', q, 0);
    }
  }
}
