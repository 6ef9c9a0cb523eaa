/**
 * A guest for the virtio-blk integration tests: runs on a vCPU worker and
 * reaches the device only through MMIO/PIO (VcpuAddressSpace). Enumerates
 * PCI, initialises the device, writes stamped blocks, reads them back and
 * checks every byte, flushes, asks for the id. Interrupts arrive on
 * EventNotifiers (irqfd), one per MSI-X vector.
 *
 * `scenario` picks what it does after enumeration (default 'verified', the
 * workload above); the others play the hostile-driver items of
 * test/blk-device.test.ts, building malformed chains with DriverQueue, and
 * talk to the test through checkpoints (../guest-sync.ts).
 */
import { parentPort } from 'node:worker_threads';
import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';
import { workerMain } from '@vmloop/test-kit/worker';
import { type AddressSpaceHandle, GuestMemory, type GuestMemoryHandle, NotifierInterruptRouter, VcpuAddressSpace, blkRegs, pciRegs } from '@vmloop/virtio';
import { type BlkCompletion, GuestHeap, VirtioBlkDriver, VirtioPciDriver, enumeratePci } from '@vmloop/virtio/testing';
import { ACKED, COMPLETED, type CheckpointMessage, GuestSync } from '../guest-sync.js';

export type GuestScenario = 'verified' | 'statuses' | 'read-only' | 'broken' | 'reset-in-flight' | 'ordering';

export interface GuestData {
  readonly space: AddressSpaceHandle;
  readonly memory: GuestMemoryHandle;
  /** irq[v]: the notifier of MSI-X vector v (delivered as vector v to APIC 0). */
  readonly irq: readonly EventNotifierHandle[];
  readonly legacy: boolean;
  readonly blocks: number;
  readonly queueDepth: number;
  readonly indirect?: boolean;
  readonly seed: number;
  readonly scenario?: GuestScenario;
  /** Checkpoint cells (GuestSync.handle); needed by every scenario but 'verified'. */
  readonly sync?: unknown;
  /** Doorbell writes rung after each kick, whether the device asked for them or not (a kick storm). */
  readonly stormKicks?: number;
  /** 'verified': a checkpoint (answered) once the first requests are in flight. */
  readonly checkpointInFlight?: boolean;
  /** 'reset-in-flight': rounds. */
  readonly rounds?: number;
  /**
   * Every `restartEvery` kicks, stop the device without a reset and start it
   * again, with requests in flight: by a status write without DRIVER_OK
   * ('status'), or by clearing bus mastering (QEMU then clears DRIVER_OK)
   * and setting it again ('bus-master'); then DRIVER_OK again.
   */
  readonly restartEvery?: number;
  readonly restartVia?: 'status' | 'bus-master';
}

export interface GuestResult {
  readonly capacity: number;
  readonly id: string;
  readonly requests: number;
  readonly kicks: number;
  readonly interrupts: number;
  readonly exits: number;
  readonly ioeventfdWrites: number;
  readonly features: string;
  readonly indirectRequests: number;
  /** Scenario results: status bytes by case, observations by name. */
  readonly statuses?: Record<string, number>;
  readonly observed?: Record<string, unknown>;
}

const BS = 4096;
const { VIRTIO_BLK_T_IN: IN, VIRTIO_BLK_T_OUT: OUT, VIRTIO_BLK_T_FLUSH: FLUSH, VIRTIO_BLK_T_GET_ID: GET_ID, VIRTIO_BLK_T_DISCARD: DISCARD, VIRTIO_BLK_T_WRITE_ZEROES: WRITE_ZEROES } = blkRegs;

interface Req {
  readonly type: number;
  readonly sector: number;
  readonly buf: number;
  readonly len: number;
  /** Data as one segment (default: two when len ≥ 1024). */
  readonly oneSegment?: boolean;
}

workerMain((d: GuestData): GuestResult => {
  const io = VcpuAddressSpace.open(d.space, 0);
  const memory = GuestMemory.open(d.memory);
  const irq = d.irq.map((h) => EventNotifier.open(h));
  const sync = d.sync === undefined ? undefined : GuestSync.open(d.sync).cells;
  const probe = enumeratePci(io).find((p) => p.vendorId === 0x1af4);
  if (probe === undefined) throw new Error('no virtio device on bus 0');
  const pci = new VirtioPciDriver(io, probe, d.legacy);
  const heap = new GuestHeap(0x10_0000, memory.regions[0]!.end);
  const blk = new VirtioBlkDriver(pci, memory, heap);
  const q = 0;
  let interrupts = 0;
  let requests = 0;
  let completed = 0;
  let seq = 0;
  let batches = 0;
  let restarts = 0;

  /** Posts a checkpoint; with `wait`, blocks until the test answered it. */
  const checkpoint = (name: string, detail?: Record<string, unknown>, wait = true): void => {
    if (sync === undefined || parentPort === null) throw new Error(`checkpoint ${name} needs the sync cells`);
    const s = ++seq;
    parentPort.postMessage({ checkpoint: name, seq: s, wait, ...(detail === undefined ? {} : { detail }) } satisfies CheckpointMessage);
    if (!wait) return;
    for (let v = sync.load(ACKED); v < s; v = sync.load(ACKED)) {
      if (sync.wait(ACKED, v, 30_000) === 'timed-out') throw new Error(`the test did not answer checkpoint ${name} within 30 s`);
    }
  };

  const init = (): void => {
    const ok = blk.init({
      queues: 1,
      indirect: d.indirect ?? false,
      ...(d.legacy ? {} : { msi: (v: number) => ({ address: NotifierInterruptRouter.msiAddress(0), data: v }) }),
    });
    if (!ok) throw new Error('the device refused FEATURES_OK');
  };

  const wait = (what: string): void => {
    // INTx (legacy): vector 0 carries every interrupt; read ISR to clear it.
    const n = d.legacy ? irq[0]! : irq[q + 1]!;
    if (!n.wait(10_000)) {
      const status = pci.status;
      const broken = (status & pciRegs.STATUS_NEEDS_RESET) !== 0 ? ', the device is broken (NEEDS_RESET)' : '';
      throw new Error(`lost interrupt: no completion for 10 s while waiting for ${what} (${blk.inFlight(q)} in flight; status 0x${status.toString(16)}${broken})`);
    }
    n.testAndClear();
    if (d.legacy) pci.readIsr();
    interrupts++;
  };

  /** Stops the device without a reset while requests are in flight, then sets DRIVER_OK again. */
  const restart = (): void => {
    const running = pci.status;
    if (d.restartVia === 'bus-master') {
      pci.setBusMaster(false);
      if ((pci.status & pciRegs.STATUS_DRIVER_OK) !== 0) throw new Error('clearing bus mastering left DRIVER_OK set');
      pci.setBusMaster(true);
    } else {
      pci.status = running & ~pciRegs.STATUS_DRIVER_OK;
    }
    pci.status = running;
    restarts++;
  };

  const segmentsOf = (r: Req): { addr: number; len: number }[] =>
    r.len === 0 ? [] : r.len >= 1024 && r.oneSegment !== true ? [{ addr: r.buf, len: r.len / 2 }, { addr: r.buf + r.len / 2, len: r.len / 2 }] : [{ addr: r.buf, len: r.len }];

  /** Runs `reqs` with at most queueDepth in flight; returns completions by token. */
  const run = (reqs: readonly Req[], what: string, onInFlight?: () => void): Map<number, BlkCompletion> => {
    const dq = blk.queues[q]!;
    const done = new Map<number, BlkCompletion>();
    let next = 0;
    while (done.size < reqs.length) {
      let added = false;
      while (next < reqs.length && blk.inFlight(q) < d.queueDepth) {
        const r = reqs[next]!;
        // Data in two segments (two descriptors, or one indirect table): header + 2 + status.
        if (!blk.submit(q, { type: r.type, sector: r.sector, data: segmentsOf(r), token: next })) break;
        next++;
        added = true;
        requests++;
      }
      if (added) {
        blk.kick(q);
        for (let i = 0; i < (d.stormKicks ?? 0); i++) pci.kick(q);
        if (d.restartEvery !== undefined && ++batches % d.restartEvery === 0) restart();
        if (onInFlight !== undefined) {
          onInFlight();
          onInFlight = undefined;
        }
      }
      const got = blk.reap(q);
      for (const c of got) done.set(c.token, c);
      completed += got.length;
      sync?.store(COMPLETED, completed);
      if (got.length > 0 || done.size === reqs.length) continue;
      if (dq.enableInterrupts()) continue; // completions raced in
      wait(what);
    }
    return done;
  };
  const one = (r: Req, what: string): number => run([r], what).get(0)!.status;

  // Blocks stamped with their LBA and a seed.
  const stamp = (buf: number, lba: number): void => {
    const v = memory.slice(buf, BS)!;
    const dv = new DataView(v.buffer, v.byteOffset, BS);
    for (let i = 0; i < BS; i += 8) {
      dv.setUint32(i, lba, true);
      dv.setUint32(i + 4, (d.seed * 31 + i) >>> 0, true);
    }
  };
  const checkStamp = (buf: number, sector: number): void => {
    const v = memory.slice(buf, BS)!;
    const dv = new DataView(v.buffer, v.byteOffset, BS);
    for (let o = 0; o < BS; o += 8) {
      if (dv.getUint32(o, true) !== sector || dv.getUint32(o + 4, true) !== ((d.seed * 31 + o) >>> 0)) {
        throw new Error(`data mismatch: sector ${sector} byte ${o}: lba ${dv.getUint32(o, true)} stamp ${dv.getUint32(o + 4, true)}`);
      }
    }
  };

  let bufs: number[] | undefined;
  /** Writes `blocks` stamped blocks at scattered sectors, flushes, reads every one back and checks every byte. */
  const verified = (blocks: number, onInFlight?: () => void): void => {
    bufs ??= Array.from({ length: d.queueDepth }, () => heap.alloc(BS, BS));
    const b = bufs;
    const sectors = Array.from({ length: blocks }, (_, i) => ((i * 7919 + d.seed) % blocks) * (BS / 512));
    // Writes: each buffer of the window is restamped before its request goes in.
    for (let base = 0; base < blocks; base += d.queueDepth) {
      const batch = sectors.slice(base, base + d.queueDepth).map((sector, i) => {
        stamp(b[i]!, sector);
        return { type: OUT, sector, buf: b[i]!, len: BS };
      });
      for (const [t, c] of run(batch, 'writes', base === 0 ? onInFlight : undefined)) if (c.status !== 0) throw new Error(`write ${base + t} failed with status ${c.status}`);
    }
    for (const [, c] of run([{ type: FLUSH, sector: 0, buf: 0, len: 0 }], 'flush')) if (c.status !== 0) throw new Error(`flush failed: ${c.status}`);
    for (let base = 0; base < blocks; base += d.queueDepth) {
      const chunk = sectors.slice(base, base + d.queueDepth);
      for (let i = 0; i < chunk.length; i++) memory.slice(b[i]!, BS)!.fill(0xee);
      const done = run(chunk.map((sector, i) => ({ type: IN, sector, buf: b[i]!, len: BS })), 'reads');
      chunk.forEach((sector, i) => {
        if (done.get(i)!.status !== 0) throw new Error(`read of sector ${sector} failed with status ${done.get(i)!.status}`);
        checkStamp(b[i]!, sector);
      });
    }
  };

  const idBuf = heap.alloc(20, 16);
  let idStatus = -1;
  const getId = (): string => {
    memory.slice(idBuf, 20)!.fill(0);
    idStatus = one({ type: GET_ID, sector: 0, buf: idBuf, len: 20 }, 'get-id');
    return new TextDecoder().decode(memory.slice(idBuf, 20)!.filter((b) => b !== 0));
  };

  const statuses: Record<string, number> = {};
  const observed: Record<string, unknown> = {};
  init();
  let id = '';
  switch (d.scenario ?? 'verified') {
    case 'verified': {
      verified(d.blocks, d.checkpointInFlight === true ? () => checkpoint('in-flight', { inFlight: blk.inFlight(q) }) : undefined);
      id = getId();
      break;
    }
    case 'statuses': {
      // Well-framed requests the device cannot serve complete with a status; the device stays up.
      const buf = heap.alloc(BS, BS);
      const range = heap.alloc(blkRegs.DWZ_SEGMENT_SIZE, 16);
      const setRange = (sector: number, sectors: number, flags: number): void => {
        memory.writeU32(range, sector >>> 0);
        memory.writeU32(range + 4, Math.floor(sector / 2 ** 32));
        memory.writeU32(range + 8, sectors);
        memory.writeU32(range + 12, flags);
      };
      const cap = blk.capacity;
      statuses['in-at-capacity'] = one({ type: IN, sector: cap, buf, len: BS }, 'read beyond capacity');
      statuses['in-straddling-capacity'] = one({ type: IN, sector: cap - 4, buf, len: BS }, 'read across the end');
      statuses['out-beyond-capacity'] = one({ type: OUT, sector: 2 ** 40, buf, len: BS }, 'write far beyond capacity');
      statuses['in-last-block'] = one({ type: IN, sector: cap - 8, buf, len: BS }, 'read of the last block');
      statuses['in-100-bytes'] = one({ type: IN, sector: 0, buf, len: 100 }, 'a 100-byte read');
      statuses['out-1000-bytes'] = one({ type: OUT, sector: 0, buf, len: 1000, oneSegment: true }, 'a 1000-byte write');
      statuses['type-99'] = one({ type: 99, sector: 0, buf, len: 512 }, 'an unknown type');
      statuses.flush = one({ type: FLUSH, sector: 0, buf: 0, len: 0 }, 'flush');
      id = getId();
      statuses['get-id'] = idStatus;
      // WRITE_ZEROES over a stamped block, read back as zeroes; DISCARD is advisory.
      stamp(buf, 64);
      statuses['out-stamp'] = one({ type: OUT, sector: 64, buf, len: BS }, 'stamp');
      setRange(64, 8, 0);
      statuses['write-zeroes'] = one({ type: WRITE_ZEROES, sector: 0, buf: range, len: 16 }, 'write zeroes');
      memory.slice(buf, BS)!.fill(0xee);
      statuses['in-zeroed'] = one({ type: IN, sector: 64, buf, len: BS }, 'read of the zeroed block');
      observed.zeroed = memory.slice(buf, BS)!.every((b) => b === 0);
      setRange(128, 8, blkRegs.VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
      statuses['write-zeroes-unmap'] = one({ type: WRITE_ZEROES, sector: 0, buf: range, len: 16 }, 'write zeroes (unmap)');
      setRange(cap - 4, 8, 0);
      statuses['write-zeroes-beyond-capacity'] = one({ type: WRITE_ZEROES, sector: 0, buf: range, len: 16 }, 'write zeroes beyond capacity');
      setRange(0, 8, 0);
      statuses.discard = one({ type: DISCARD, sector: 0, buf: range, len: 16 }, 'discard');
      setRange(0, 8, blkRegs.VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
      statuses['discard-unmap-flag'] = one({ type: DISCARD, sector: 0, buf: range, len: 16 }, 'discard with a flag only write-zeroes knows');
      observed.status = pci.status;
      verified(16); // still serving
      break;
    }
    case 'read-only': {
      const buf = heap.alloc(BS, BS);
      const range = heap.alloc(blkRegs.DWZ_SEGMENT_SIZE, 16);
      memory.write(range, new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0]));
      observed.readOnlyFeature = blk.has(blkRegs.VIRTIO_BLK_F_RO);
      stamp(buf, 0);
      statuses.out = one({ type: OUT, sector: 0, buf, len: BS }, 'a write to a read-only disk');
      statuses['write-zeroes'] = one({ type: WRITE_ZEROES, sector: 0, buf: range, len: 16 }, 'write zeroes on a read-only disk');
      statuses.discard = one({ type: DISCARD, sector: 0, buf: range, len: 16 }, 'discard on a read-only disk');
      statuses.in = one({ type: IN, sector: 0, buf, len: BS }, 'a read');
      observed.readBack = Array.from(memory.slice(buf, 8)!);
      statuses.flush = one({ type: FLUSH, sector: 0, buf: 0, len: 0 }, 'flush');
      observed.status = pci.status;
      id = getId();
      break;
    }
    case 'ordering': {
      // One publication of mixed requests on one block (a single avail.idx
      // store, so the device finds them all at once): read, read, write,
      // read, flush, read. Inline I/O runs them in ring order, batching
      // reads (BlkDataplane.drainInline), so the reads before the write
      // see the old data and those after it the new, whatever the batches.
      const sector = 64;
      const [old, before, before2, data, after, afterFlush] = Array.from({ length: 6 }, () => heap.alloc(BS, BS));
      stamp(old!, sector);
      if (one({ type: OUT, sector, buf: old!, len: BS }, 'the old data') !== 0) throw new Error('write of the old data failed');
      for (const b of [before!, before2!, after!, afterFlush!]) memory.slice(b, BS)!.fill(0xee);
      memory.slice(data!, BS)!.fill(0x5a);
      const done = run(
        [
          { type: IN, sector, buf: before!, len: BS, oneSegment: true },
          { type: IN, sector, buf: before2!, len: BS },
          { type: OUT, sector, buf: data!, len: BS, oneSegment: true },
          { type: IN, sector, buf: after!, len: BS, oneSegment: true },
          { type: FLUSH, sector: 0, buf: 0, len: 0 },
          { type: IN, sector, buf: afterFlush!, len: BS, oneSegment: true },
        ],
        'the mixed publication',
      );
      const equal = (buf: number, to: number): boolean => {
        const want = memory.slice(to, BS)!;
        return memory.slice(buf, BS)!.every((b, i) => b === want[i]);
      };
      observed.statuses = [0, 1, 2, 3, 4, 5].map((t) => done.get(t)!.status);
      observed.readsBeforeWrite = [equal(before!, old!), equal(before2!, old!)];
      observed.readsAfterWrite = [equal(after!, data!), equal(afterFlush!, data!)];
      id = getId();
      break;
    }
    case 'broken': {
      // Each malformed framing breaks the device; the guest sees the
      // configuration interrupt and NEEDS_RESET, the test reads the reason,
      // then the guest resets, initialises again and does verified I/O.
      const hdr = heap.alloc(16, 16);
      const st = heap.alloc(1, 1);
      const data = heap.alloc(512, 512);
      memory.writeU32(hdr, IN);
      const cases: Record<string, () => void> = {
        'short-header': () => blk.queues[q]!.add([{ addr: hdr, len: 8 }], [{ addr: data, len: 512 }, { addr: st, len: 1 }]),
        'missing-header': () => blk.queues[q]!.add([], [{ addr: data, len: 512 }, { addr: st, len: 1 }]),
        'missing-status': () => blk.queues[q]!.add([{ addr: hdr, len: 16 }, { addr: data, len: 512 }], []),
      };
      for (const [name, add] of Object.entries(cases)) {
        irq[0]!.testAndClear();
        add();
        if (blk.queues[q]!.needsKick()) pci.kick(q);
        if (!irq[0]!.wait(10_000)) throw new Error(`${name}: no configuration interrupt within 10 s`);
        irq[0]!.testAndClear();
        const status = pci.status;
        checkpoint('broken', { name, status });
        init(); // reset, and the whole initialisation again
        verified(16);
        observed[`${name}:after-reset-status`] = pci.status;
      }
      id = getId();
      break;
    }
    case 'reset-in-flight': {
      // Reads of 64 KiB in flight, then a reset: the reset returns (the exit
      // completes) only after the device stopped, so nothing may complete
      // into the old rings or buffers after it.
      const n = Math.min(d.queueDepth, 32);
      const big = 64 << 10;
      const bigBufs = Array.from({ length: n }, () => heap.alloc(big, BS));
      const rounds: { submitted: number; usedBefore: number; usedAfter: number; statusesWritten: number }[] = [];
      for (let r = 0; r < (d.rounds ?? 8); r++) {
        if (r > 0) init();
        const dq = blk.queues[q]!;
        for (const b of bigBufs) memory.slice(b, big)!.fill(0xee);
        const heads: number[] = [];
        const statusAddrs: number[] = [];
        for (let i = 0; i < n; i++) {
          const s = heap.alloc(1, 1);
          const h = heap.alloc(16, 16);
          memory.writeU32(h, IN);
          memory.writeU32(h + 8, (i * 128) % (blk.capacity - 128));
          memory.writeU8(s, 0xff);
          const head = dq.add([{ addr: h, len: 16 }], [{ addr: bigBufs[i]!, len: big }, { addr: s, len: 1 }]);
          if (head === undefined) throw new Error('ring full');
          heads.push(head);
          statusAddrs.push(s);
        }
        if (dq.needsKick()) pci.kick(q);
        const usedBefore = dq.raw.usedIdx();
        pci.status = 0; // the reset: this exit returns once the device has stopped
        const usedAfter = dq.raw.usedIdx();
        const sum = (b: number): number => {
          const v = memory.slice(b, big)!;
          const w = new Int32Array(v.buffer, v.byteOffset, big / 4);
          let h = 0;
          for (let i = 0; i < w.length; i++) h = (Math.imul(h, 31) + w[i]!) | 0;
          return h;
        };
        const snap = (): string => [dq.raw.usedIdx(), ...statusAddrs.map((a) => memory.readU8(a)), ...bigBufs.map(sum)].join(',');
        const before = snap();
        const statusesWritten = statusAddrs.filter((a) => memory.readU8(a) !== 0xff).length;
        // Give a late completion every chance to land: many exits (each a round trip through the owner).
        let reads = 0;
        for (let i = 0; i < 300; i++) reads += pci.status;
        if (reads !== 0) throw new Error(`round ${r}: status read ${reads / 300} after the reset, not 0`);
        const after = snap();
        if (after !== before) throw new Error(`round ${r}: guest memory changed after the reset had completed (used.idx ${usedAfter} → ${dq.raw.usedIdx()})`);
        rounds.push({ submitted: n, usedBefore, usedAfter, statusesWritten });
      }
      observed.rounds = rounds;
      init();
      verified(16);
      id = getId();
      break;
    }
  }
  const st = io.stats;
  return {
    capacity: blk.capacity,
    id,
    requests,
    kicks: pci.kicks,
    interrupts,
    exits: st.exits,
    ioeventfdWrites: st.ioeventfdWrites,
    features: `0x${blk.features.toString(16)}`,
    indirectRequests: blk.indirectRequests,
    statuses,
    observed: { ...observed, restarts },
  };
});
