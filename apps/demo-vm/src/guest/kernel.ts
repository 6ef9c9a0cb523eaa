/**
 * The synthetic guest: a tiny kernel written in TypeScript that runs on a
 * vCPU and reaches its hardware only through the Cpu (MMIO, port I/O,
 * guest RAM, HLT, interrupt vectors).
 *
 * Boot: vCPU 0 plays firmware and enumerates PCI (sizes and programs every
 * BAR, enables decoding and bus mastering), then publishes the boot
 * generation; the others wait for it and probe read-only. Each vCPU drives
 * the virtio-blk disks d with d mod vcpus = its index: the virtio init
 * sequence (reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queues,
 * MSI-X vectors aimed at itself, DRIVER_OK), then the fio-like workload on
 * every queue. A configuration interrupt whose status shows NEEDS_RESET
 * makes it reset and re-initialise that disk and resubmit what was in
 * flight.
 *
 * The run loop, per iteration: check the monitor's requests; fill every
 * queue to the queue depth and kick where the device asks for it; reap
 * completions; when nothing moved, re-enable interrupts (re-checking the
 * used rings: the store-buffering race) and HLT until an interrupt or the
 * guest timer.
 */
import { blkRegs, NotifierInterruptRouter, PCI_ECAM_BASE, pciRegs, type GuestMemory, type Segment } from '@vmloop/virtio';
import { GuestHeap, VirtioBlkDriver, VirtioPciDriver, configRead, enumeratePci, type BlkCompletion, type ConfigMechanism, type PciProbe } from '@vmloop/virtio/testing';
import type { RwMode } from '../options.js';
import { Histogram } from '../histogram.js';
import type { Cpu, ControlRequest } from './cpu.js';
import {
  DEBUG_EXIT_PORT,
  GUEST_BOOTING,
  GUEST_DONE,
  GUEST_DRAINING,
  GUEST_FAILED,
  GUEST_IDLE,
  GUEST_RUNNING,
  HEAP_BASE,
  INFO_BOOT_GENERATION,
  INFO_PCI_READY_GEN,
  INFO_SHUTDOWN,
  VCPU_COMPLETED,
  VCPU_ERRORS,
  VCPU_IN_FLIGHT,
  VCPU_RESETS,
  VCPU_SECTORS,
  VCPU_STATE,
  vcpuWord,
} from './info-page.js';
import { DiskVerifyState, checkBlock, stampBlock } from './verify.js';

/** The workload and machine shape the guest is told at boot (its "kernel command line"). */
export interface GuestConfig {
  readonly rw: RwMode;
  readonly rwmixread: number;
  readonly bs: number;
  readonly qd: number;
  /** Completions a halting guest waits for before its interrupt (1: every one). */
  readonly irqBatch: number;
  readonly queues: number;
  readonly queueSize: number;
  readonly verify: boolean;
  readonly flushEvery: number;
  readonly injectFaultAfter: number;
  readonly seed: number;
  /** Disks whose images were created empty for this run (unwritten blocks read as zeroes). */
  readonly freshDisks: boolean;
  readonly memoryBytes: number;
}

/** What survives a system reset (the verifier's knowledge, totals). */
export class GuestPersistent {
  readonly verify = new Map<number, DiskVerifyState>();
  readonly latency = new Histogram();
  readonly totals = { ops: 0, reads: 0, writes: 0, flushes: 0, bytesRead: 0, bytesWritten: 0, errors: 0, kicks: 0, interrupts: 0, halts: 0, resets: 0, reboots: 0, faultsInjected: 0 };
  seq = 0;
  verifyFailure: string | undefined;
  journal: ((line: string) => void) | undefined;
}

/** Configuration space through ECAM: one MMIO access per register, so vCPUs need no lock around it. */
const ECAM: ConfigMechanism = { kind: 'ecam', base: PCI_ECAM_BASE };

const OP_READ = 0;
const OP_WRITE = 1;
const OP_FLUSH = 2;

interface Pending {
  op: number;
  block: number;
  seq: number;
  start: number;
}

/** A slot's BlkDriverRequest, rewritten for each of its I/Os. */
interface MutableRequest {
  type: number;
  sector: number;
  readonly data: readonly Segment[];
  readonly token: number;
}

/** Deterministic xorshift32. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed | 0) === 0 ? 0x9e3779b9 : seed | 0;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x;
    return x >>> 0;
  }
}

/** One virtqueue's share of the workload: qd slots, each with its data buffer. */
class Stream {
  readonly bufs: number[];
  readonly views: Uint32Array[];
  readonly free: number[] = [];
  readonly pending: (Pending | undefined)[];
  /**
   * Per slot, allocated once: the data segment, the request handed to
   * submit (which copies it into descriptors at once) and the pending
   * record. Allocated per I/O they were ~4 objects a request on the vCPU
   * thread: a young-generation collection every ~12 ms at 300 k IOPS,
   * whose helper threads take a core from the spinning vCPU or iothread.
   * Recovery after NEEDS_RESET resubmits through the same objects.
   */
  readonly requests: MutableRequest[];
  readonly records: Pending[];
  /** The records fill() added since its last publish, to stamp with one clock read (its first `unstamped`). */
  readonly toStamp: Pending[];
  unstamped = 0;
  inFlight = 0;
  seqBlock: number;
  writesSinceFlush = 0;
  flushInFlight = false;
  /**
   * --inject-fault-after corrupted this queue: submit nothing more until the
   * device's NEEDS_RESET. The next submission would write a good entry over
   * the bogus one at the same avail index — undoing the fault if the device
   * had not read it yet.
   */
  faulted = false;
  constructor(
    readonly disk: DiskDriver,
    readonly q: number,
    heap: GuestHeap,
    memory: GuestMemory,
    readonly qd: number,
    bs: number,
    start: number,
  ) {
    this.bufs = Array.from({ length: qd }, () => heap.alloc(bs, 4096));
    this.views = this.bufs.map((b) => {
      const s = memory.slice(b, bs)!;
      return new Uint32Array(s.buffer, s.byteOffset, bs / 4);
    });
    for (let i = qd - 1; i >= 0; i--) this.free.push(i);
    this.pending = new Array(qd + 1).fill(undefined);
    this.requests = this.bufs.map((addr, token) => ({ type: 0, sector: 0, data: [{ addr, len: bs }], token }));
    this.records = this.bufs.map(() => ({ op: 0, block: 0, seq: 0, start: 0 }));
    this.toStamp = this.records.slice();
    this.seqBlock = start;
  }
}

/** One disk this vCPU drives. */
class DiskDriver {
  blk!: VirtioBlkDriver;
  pci!: VirtioPciDriver;
  streams: Stream[] = [];
  blocks = 0;
  busy!: Uint8Array;
  constructor(
    readonly index: number,
    readonly probe: PciProbe,
    /** First interrupt vector (configuration changes); queue q uses vectorBase + 1 + q. */
    readonly vectorBase: number,
    readonly ringHeap: { base: number; end: number },
  ) {}
}

export type GuestExit = 'shutdown' | 'reboot' | 'quit' | 'failed';

export class GuestKernel {
  private readonly mem: GuestMemory;
  private readonly rng: Rng;
  private disks: DiskDriver[] = [];
  private draining = false;

  constructor(
    private readonly cpu: Cpu,
    private readonly cfg: GuestConfig,
    private readonly p: GuestPersistent,
  ) {
    this.mem = cpu.memory;
    this.rng = new Rng(cfg.seed * 2654435761 + cpu.index * 40503 + p.totals.reboots * 977);
  }

  private setState(s: number): void {
    this.mem.store32(vcpuWord(this.cpu.index, VCPU_STATE), s);
  }

  /** Boots and runs the workload until shutdown, a reboot request, or a failure. */
  run(): GuestExit {
    this.setState(GUEST_BOOTING);
    const boot = this.boot();
    if (boot !== 'continue') return boot;
    if (this.disks.length === 0) return this.idle();
    this.setState(GUEST_RUNNING);
    const r = this.loop();
    if (r === 'shutdown') this.setState(GUEST_DONE);
    else if (r === 'failed') this.setState(GUEST_FAILED);
    return r;
  }

  // ---------------------------------------------------------------- boot

  private boot(): ControlRequest {
    const { cpu, mem } = this;
    const gen = mem.load32(INFO_BOOT_GENERATION);
    let probes: PciProbe[];
    if (cpu.index === 0) {
      probes = enumeratePci(cpu.io, { via: ECAM });
      mem.store32(INFO_PCI_READY_GEN, gen);
    } else {
      while (mem.load32(INFO_PCI_READY_GEN) !== gen) {
        const c = cpu.checkControl();
        if (c !== 'continue') return c;
        cpu.halt(cpu.virtualNow() + 1e6);
      }
      probes = probePci(cpu);
    }
    const blks = probes.filter((p) => p.vendorId === pciRegs.VIRTIO_PCI_VENDOR && p.subsystemId === blkRegs.VIRTIO_ID_BLOCK);
    const mine = blks.map((p, i) => [p, i] as const).filter(([, i]) => i % cpu.vcpus === cpu.index);
    // This vCPU's heap: an equal share of RAM above 1 MiB; rings at its end, re-made on every device reset.
    const share = Math.floor((this.cfg.memoryBytes - HEAP_BASE) / cpu.vcpus / 4096) * 4096;
    const base = HEAP_BASE + cpu.index * share;
    const ringBytes = mine.length * (this.cfg.queues * (this.cfg.queueSize * 64 + 16384) + 65536);
    const heap = new GuestHeap(base, base + share - ringBytes);
    let vector = 1;
    let ringBase = base + share - ringBytes;
    for (const [probe, i] of mine) {
      const per = this.cfg.queues * (this.cfg.queueSize * 64 + 16384) + 65536;
      const d = new DiskDriver(i, probe, vector, { base: ringBase, end: ringBase + per });
      ringBase += per;
      vector += 1 + this.cfg.queues;
      if (!this.initDisk(d)) return 'quit';
      const bs = this.cfg.bs;
      d.blocks = Math.floor((d.blk.capacity * 512) / bs);
      d.busy = new Uint8Array(d.blocks);
      if (!this.p.verify.has(i)) this.p.verify.set(i, new DiskVerifyState(i, d.blocks, this.cfg.freshDisks));
      d.streams = Array.from({ length: d.blk.queues.length }, (_, q) => new Stream(d, q, heap, mem, this.cfg.qd, bs, Math.floor((d.blocks / d.blk.queues.length) * q)));
      this.disks.push(d);
    }
    return 'continue';
  }

  /** The virtio initialisation sequence for one disk (3.1.1), MSI-X aimed at this vCPU. */
  private initDisk(d: DiskDriver): boolean {
    const { cpu, mem } = this;
    d.pci = new VirtioPciDriver(cpu.io, d.probe, false, ECAM);
    d.blk = new VirtioBlkDriver(d.pci, mem, new GuestHeap(d.ringHeap.base, d.ringHeap.end));
    const apic = NotifierInterruptRouter.msiAddress(cpu.index);
    const ok = d.blk.init({ queues: this.cfg.queues, queueSize: this.cfg.queueSize, msi: (v) => ({ address: apic, data: d.vectorBase + v }) });
    if (!ok) {
      this.fail(`disk ${d.index}: the device refused FEATURES_OK`);
      return false;
    }
    for (const q of d.blk.queues) q.disableInterrupts();
    cpu.trace('disk-init', 'i', { disk: d.index, queues: d.blk.queues.length });
    return true;
  }

  /** A vCPU with no disk of its own idles in HLT until shutdown. */
  private idle(): GuestExit {
    this.setState(GUEST_IDLE);
    for (;;) {
      const c = this.cpu.checkControl();
      if (c !== 'continue') return c;
      if (this.mem.load32(INFO_SHUTDOWN) !== 0) {
        this.setState(GUEST_DONE);
        return 'shutdown';
      }
      this.cpu.halt(this.cpu.virtualNow() + 50e6);
    }
  }

  private fail(why: string): void {
    this.p.verifyFailure ??= why;
    this.setState(GUEST_FAILED);
  }

  // ---------------------------------------------------------------- the run loop

  private loop(): GuestExit {
    const { cpu, mem } = this;
    const completions: BlkCompletion[] = [];
    let flushedAtEnd = false;
    for (;;) {
      const c = cpu.checkControl();
      if (c !== 'continue') {
        this.abandon();
        return c;
      }
      if (!this.draining && mem.load32(INFO_SHUTDOWN) !== 0) {
        this.draining = true;
        this.setState(GUEST_DRAINING);
      }
      let moved = false;
      let inFlight = 0;
      // Index loops in this loop: a for-of iterator is an object per loop
      // round wherever V8 does not optimise it away.
      const disks = this.disks;
      for (let i = 0; i < disks.length; i++) {
        const d = disks[i]!;
        for (let j = 0; j < d.streams.length; j++) {
          const s = d.streams[j]!;
          if (!this.draining && this.fill(s)) moved = true;
          // Refilled in place (no object per completion); complete() reads them at once.
          const got = d.blk.reapInto(s.q, completions);
          if (got > 0) {
            moved = true;
            if (!this.complete(s, completions, got)) return 'failed';
          }
          inFlight += s.inFlight;
        }
      }
      this.publishCounters(inFlight);
      if (this.p.verifyFailure !== undefined) return 'failed';
      const vectors = cpu.pendingVectors();
      if (vectors !== 0n && !this.handleVectors(vectors)) return 'failed';
      if (this.draining && inFlight === 0) {
        if (!flushedAtEnd) {
          flushedAtEnd = true;
          let any = false;
          for (const d of this.disks) {
            const s = d.streams[0]!;
            if (this.cfg.rw !== 'randread' && this.cfg.rw !== 'seqread' && this.submitFlush(s)) any = true;
          }
          if (any) continue;
        }
        return 'shutdown';
      }
      if (moved) continue;
      // Nothing moved: ask for interrupts, re-check (a completion may have
      // raced in before used_event was written), then HLT. With requests in
      // flight the interrupt comes after a batch of them completed
      // (virtqueue_enable_cb_delayed): fewer wake-ups, and the device keeps
      // the rest of the queue busy meanwhile.
      let raced = false;
      for (let i = 0; i < disks.length; i++) {
        const d = disks[i]!;
        for (let j = 0; j < d.streams.length; j++) {
          const s = d.streams[j]!;
          const batch = Math.max(1, Math.min(s.inFlight, this.cfg.irqBatch));
          if (d.blk.queues[s.q]!.enableInterruptsDelayed(batch)) raced = true;
        }
      }
      if (!raced) {
        this.p.totals.halts++;
        const v = cpu.halt(cpu.virtualNow() + 100e6);
        if (v !== 0n) {
          this.p.totals.interrupts++;
          if (!this.handleVectors(v)) return 'failed';
        }
      }
      for (let i = 0; i < disks.length; i++) {
        const queues = disks[i]!.blk.queues;
        for (let j = 0; j < queues.length; j++) queues[j]!.disableInterrupts();
      }
    }
  }

  private published = -1;
  private publishedInFlight = -1;

  /** The info page's counters for the host's progress display and watchdog, when they changed. */
  private publishCounters(inFlight: number): void {
    const t = this.p.totals;
    if (t.ops === this.published && inFlight === this.publishedInFlight) return;
    this.published = t.ops;
    this.publishedInFlight = inFlight;
    const i = this.cpu.index;
    const m = this.mem;
    m.store32(vcpuWord(i, VCPU_COMPLETED), t.ops >>> 0);
    m.store32(vcpuWord(i, VCPU_SECTORS), ((t.bytesRead + t.bytesWritten) / 512) >>> 0);
    m.store32(vcpuWord(i, VCPU_ERRORS), t.errors);
    m.store32(vcpuWord(i, VCPU_RESETS), t.resets);
    m.store32(vcpuWord(i, VCPU_IN_FLIGHT), inFlight);
  }

  /** Fills a stream to the queue depth; kicks if the device wants it. Returns whether it added anything. */
  private fill(s: Stream): boolean {
    if (s.faulted) return false;
    const d = s.disk;
    const blk = d.blk;
    const cfg = this.cfg;
    let added = 0;
    while (s.free.length > 0) {
      if (cfg.flushEvery > 0 && s.writesSinceFlush >= cfg.flushEvery && !s.flushInFlight) {
        if (!this.submitFlush(s)) break;
        added++;
        continue;
      }
      const write = cfg.rw === 'randwrite' || cfg.rw === 'seqwrite' || (cfg.rw === 'randrw' && this.rng.next() % 100 >= cfg.rwmixread);
      const block = this.pickBlock(s);
      if (block < 0) break;
      const slot = s.free.pop()!;
      const sector = block * (cfg.bs / 512);
      let seq = 0;
      if (write) {
        this.p.seq = (this.p.seq + 1) >>> 0 || 1;
        seq = this.p.seq;
        if (cfg.verify) stampBlock(s.views[slot]!, d.index, sector, seq);
      } else if (cfg.verify) {
        s.views[slot]!.fill(0xdeadbeef);
      }
      const req = s.requests[slot]!;
      req.type = write ? blkRegs.VIRTIO_BLK_T_OUT : blkRegs.VIRTIO_BLK_T_IN;
      req.sector = sector;
      if (!blk.submit(s.q, req)) {
        s.free.push(slot);
        break;
      }
      d.busy[block] = 1;
      const rec = s.records[slot]!;
      rec.op = write ? OP_WRITE : OP_READ;
      rec.block = block;
      rec.seq = seq;
      s.toStamp[s.unstamped++] = rec;
      s.pending[slot] = rec;
      s.inFlight++;
      added++;
      if (cfg.injectFaultAfter > 0 && this.p.totals.faultsInjected === 0 && this.cpu.index === 0 && d === this.disks[0] && s.q === 0 && this.p.totals.ops + s.inFlight >= cfg.injectFaultAfter) {
        this.stamp(s);
        this.injectFault(s);
        return true;
      }
    }
    if (added > 0) {
      this.stamp(s);
      if (blk.kick(s.q)) this.p.totals.kicks++;
      this.cpu.trace('submit', 'i', { disk: d.index, q: s.q, n: added });
    }
    return added > 0;
  }

  /**
   * The submission time of the requests fill() just added: one clock read
   * for all of them, as they are published (the device sees none of them
   * before the kick's avail.idx store). A clock read is a heap number
   * (performance.now, like Date.now, allocates one per call in Node 20):
   * one per request was most of what the vCPU thread still allocated.
   */
  private stamp(s: Stream): void {
    if (s.unstamped === 0) return;
    const now = this.cpu.now();
    for (let i = 0; i < s.unstamped; i++) s.toStamp[i]!.start = now;
    s.unstamped = 0;
  }

  private submitFlush(s: Stream): boolean {
    const token = this.cfg.qd;
    if (s.pending[token] !== undefined) return false;
    if (!s.disk.blk.submit(s.q, { type: blkRegs.VIRTIO_BLK_T_FLUSH, sector: 0, data: [], token })) return false;
    s.pending[token] = { op: OP_FLUSH, block: -1, seq: this.p.seq, start: this.cpu.now() };
    // Journal: the writes acknowledged before this line are the ones this FLUSH makes durable.
    this.p.journal?.(`S ${s.disk.index} ${this.p.seq}\n`);
    s.flushInFlight = true;
    s.writesSinceFlush = 0;
    s.inFlight++;
    if (s.disk.blk.kick(s.q)) this.p.totals.kicks++;
    return true;
  }

  /** A block for the next request: sequential or random, never one with a request in flight. */
  private pickBlock(s: Stream): number {
    const d = s.disk;
    const seq = this.cfg.rw === 'seqread' || this.cfg.rw === 'seqwrite';
    for (let tries = 0; tries < 16; tries++) {
      let b: number;
      if (seq) {
        b = s.seqBlock;
        s.seqBlock = (s.seqBlock + 1) % d.blocks;
      } else {
        b = this.rng.next() % d.blocks;
      }
      if (d.busy[b] === 0) return b;
    }
    return -1;
  }

  /** The first `n` of `done` completed. */
  private complete(s: Stream, done: readonly BlkCompletion[], n: number): boolean {
    const t = this.p.totals;
    const cfg = this.cfg;
    const now = this.cpu.now();
    const d = s.disk;
    const ver = this.p.verify.get(d.index)!;
    for (let i = 0; i < n; i++) {
      const c = done[i]!;
      const r = s.pending[c.token];
      if (r === undefined) continue;
      s.pending[c.token] = undefined;
      s.inFlight--;
      this.p.latency.record(now - r.start);
      t.ops++;
      if (c.status !== blkRegs.VIRTIO_BLK_S_OK) t.errors++;
      if (r.op === OP_FLUSH) {
        s.flushInFlight = false;
        t.flushes++;
        if (c.status === 0) this.p.journal?.(`F ${d.index} ${r.seq}\n`);
        continue;
      }
      d.busy[r.block] = 0;
      s.free.push(c.token);
      const sector = r.block * (cfg.bs / 512);
      if (r.op === OP_WRITE) {
        t.writes++;
        t.bytesWritten += cfg.bs;
        s.writesSinceFlush++;
        if (c.status === 0) {
          ver.seq[r.block] = r.seq;
          ver.maybe.delete(r.block);
          this.p.journal?.(`W ${d.index} ${r.block} ${r.seq}\n`);
        }
      } else {
        t.reads++;
        t.bytesRead += cfg.bs;
        if (cfg.verify && c.status === 0) {
          const alt = ver.maybe.get(r.block);
          const res = checkBlock(s.views[c.token]!, d.index, sector, ver.seq[r.block]!, alt, ver.fresh);
          if (!res.ok) {
            this.fail(`verify mismatch: ${res.why}`);
            return false;
          }
          if (alt !== undefined) {
            // The read settled which version the block holds.
            ver.maybe.delete(r.block);
            ver.seq[r.block] = res.seq;
          }
        }
      }
    }
    return true;
  }

  // ---------------------------------------------------------------- interrupts and recovery

  /** Configuration interrupts: a disk whose status shows NEEDS_RESET is reset and re-initialised. */
  private handleVectors(v: bigint): boolean {
    for (const d of this.disks) {
      if ((v & (1n << BigInt(d.vectorBase))) === 0n) continue;
      const status = d.pci.status;
      this.cpu.trace('config-irq', 'i', { disk: d.index, status });
      if ((status & pciRegs.STATUS_NEEDS_RESET) !== 0 && !this.recover(d)) return false;
    }
    return true;
  }

  /**
   * 2.1.2: the device needs a reset. Reset it, run the init sequence again,
   * and resubmit what was in flight (its completions will never come).
   */
  private recover(d: DiskDriver): boolean {
    this.p.totals.resets++;
    this.cpu.trace('needs-reset', 'i', { disk: d.index });
    const lost: { s: Stream; slot: number; r: Pending }[] = [];
    for (const s of d.streams) {
      s.pending.forEach((r, slot) => {
        if (r !== undefined) lost.push({ s, slot, r });
      });
      s.pending.fill(undefined);
      s.inFlight = 0;
      s.flushInFlight = false;
      s.faulted = false;
    }
    if (!this.initDisk(d)) return false;
    for (const { s, slot, r } of lost) {
      if (r.op === OP_FLUSH) {
        this.submitFlush(s);
        continue;
      }
      const req = s.requests[slot]!;
      req.type = r.op === OP_WRITE ? blkRegs.VIRTIO_BLK_T_OUT : blkRegs.VIRTIO_BLK_T_IN;
      req.sector = r.block * (this.cfg.bs / 512);
      if (!d.blk.submit(s.q, req)) {
        this.fail(`disk ${d.index}: could not resubmit after reset`);
        return false;
      }
      r.start = this.cpu.now();
      s.pending[slot] = r;
      s.inFlight++;
    }
    for (const s of d.streams) if (d.blk.kick(s.q)) this.p.totals.kicks++;
    return true;
  }

  /** --inject-fault-after: publish a head beyond the queue (a hostile driver) and kick. */
  private injectFault(s: Stream): void {
    const dq = s.disk.blk.queues[s.q]!;
    dq.needsKick();
    const raw = dq.raw;
    const idx = raw.availIdx();
    raw.setAvailEntry(idx & (dq.size - 1), dq.size + 7);
    raw.setAvailIdx((idx + 1) & 0xffff);
    s.disk.pci.kick(s.q);
    s.faulted = true;
    this.p.totals.faultsInjected++;
    this.cpu.trace('inject-fault', 'i', { disk: s.disk.index, q: s.q });
  }

  /** A reboot or quit leaves requests in flight: their writes may or may not reach the disk. */
  private abandon(): void {
    for (const d of this.disks) {
      const ver = this.p.verify.get(d.index)!;
      for (const s of d.streams) {
        for (const r of s.pending) {
          if (r === undefined || r.op !== OP_WRITE) continue;
          const m = ver.maybe.get(r.block);
          if (m === undefined) ver.maybe.set(r.block, [r.seq]);
          else m.push(r.seq);
        }
      }
    }
  }

  /** Reports the exit code through the debug-exit port (QEMU isa-debug-exit). */
  exitCode(code: number): void {
    this.cpu.io.pioWrite(DEBUG_EXIT_PORT, 1, code);
  }
}

/** Probes bus 0 read-only (the BARs vCPU 0 programmed): the other vCPUs' view. */
function probePci(cpu: Cpu): PciProbe[] {
  const io = cpu.io;
  const out: PciProbe[] = [];
  for (let slot = 0; slot < 32; slot++) {
    const vendorId = configRead(io, slot, pciRegs.PCI_VENDOR_ID, 2, ECAM);
    if (vendorId === 0xffff) continue;
    const bars: PciProbe['bars'][number][] = new Array(pciRegs.PCI_NUM_BARS).fill(undefined);
    for (let i = 0; i < pciRegs.PCI_NUM_BARS; i++) {
      const lo = configRead(io, slot, pciRegs.PCI_BASE_ADDRESS_0 + i * 4, 4, ECAM);
      if (lo === 0) continue;
      const isIo = (lo & pciRegs.PCI_BAR_SPACE_IO) !== 0;
      const is64 = !isIo && (lo & 0x6) === pciRegs.PCI_BAR_MEM_TYPE_64;
      const hi = is64 ? configRead(io, slot, pciRegs.PCI_BASE_ADDRESS_0 + (i + 1) * 4, 4, ECAM) : 0;
      bars[i] = { address: hi * 2 ** 32 + ((lo & (isIo ? ~0x3 : ~0xf)) >>> 0), size: 0, io: isIo };
      if (is64) i++;
    }
    out.push({ slot, vendorId, deviceId: configRead(io, slot, pciRegs.PCI_DEVICE_ID, 2, ECAM), subsystemId: configRead(io, slot, pciRegs.PCI_SUBSYSTEM_ID, 2, ECAM), bars });
  }
  return out;
}
