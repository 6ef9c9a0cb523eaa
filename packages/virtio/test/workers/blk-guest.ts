/**
 * A guest for the virtio-blk integration tests: runs on a vCPU worker and
 * reaches the device only through MMIO/PIO (VcpuAddressSpace). Enumerates
 * PCI, initialises the device, writes stamped blocks, reads them back and
 * checks every byte, flushes, asks for the id. Interrupts arrive on
 * EventNotifiers (irqfd), one per MSI-X vector.
 */
import { workerMain } from '@vmloop/test-kit/worker';
import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';
import { GuestMemory, type GuestMemoryHandle, NotifierInterruptRouter, VcpuAddressSpace, type AddressSpaceHandle, blkRegs } from '@vmloop/virtio';
import { GuestHeap, VirtioBlkDriver, VirtioPciDriver, enumeratePci, type BlkCompletion } from '@vmloop/virtio/testing';

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
}

const BS = 4096;

workerMain((d: GuestData): GuestResult => {
  const io = VcpuAddressSpace.open(d.space, 0);
  const memory = GuestMemory.open(d.memory);
  const irq = d.irq.map((h) => EventNotifier.open(h));
  const probe = enumeratePci(io).find((p) => p.vendorId === 0x1af4);
  if (probe === undefined) throw new Error('no virtio device on bus 0');
  const pci = new VirtioPciDriver(io, probe, d.legacy);
  const heap = new GuestHeap(0x10_0000, memory.regions[0]!.end);
  const blk = new VirtioBlkDriver(pci, memory, heap);
  const ok = blk.init({
    queues: 1,
    indirect: d.indirect ?? false,
    ...(d.legacy ? {} : { msi: (v: number) => ({ address: NotifierInterruptRouter.msiAddress(0), data: v }) }),
  });
  if (!ok) throw new Error('the device refused FEATURES_OK');
  const q = 0;
  const dq = blk.queues[q]!;
  let interrupts = 0;
  let requests = 0;
  const wait = (what: string): void => {
    // INTx (legacy): vector 0 carries every interrupt; read ISR to clear it.
    const n = d.legacy ? irq[0]! : irq[q + 1]!;
    if (!n.wait(10_000)) throw new Error(`lost interrupt: no completion for 10 s while waiting for ${what} (${blk.inFlight(q)} in flight)`);
    n.testAndClear();
    if (d.legacy) pci.readIsr();
    interrupts++;
  };
  /** Runs `reqs` with at most queueDepth in flight; returns completions by token. */
  const run = (reqs: { type: number; sector: number; buf: number; len: number }[], what: string): Map<number, BlkCompletion> => {
    const done = new Map<number, BlkCompletion>();
    let next = 0;
    while (done.size < reqs.length) {
      let added = false;
      while (next < reqs.length && blk.inFlight(q) < d.queueDepth) {
        const r = reqs[next]!;
        // Data in two segments (two descriptors, or one indirect table): header + 2 + status.
        const data = r.len === 0 ? [] : r.len >= 1024 ? [{ addr: r.buf, len: r.len / 2 }, { addr: r.buf + r.len / 2, len: r.len / 2 }] : [{ addr: r.buf, len: r.len }];
        if (!blk.submit(q, { type: r.type, sector: r.sector, data, token: next })) break;
        next++;
        added = true;
        requests++;
      }
      if (added) blk.kick(q);
      const got = blk.reap(q);
      for (const c of got) done.set(c.token, c);
      if (got.length > 0 || done.size === reqs.length) continue;
      if (dq.enableInterrupts()) continue; // completions raced in
      wait(what);
    }
    return done;
  };

  // Blocks stamped with their LBA and a seed, at scattered sectors.
  const bufs = Array.from({ length: d.queueDepth }, () => heap.alloc(BS, BS));
  const sectors = Array.from({ length: d.blocks }, (_, i) => ((i * 7919 + d.seed) % d.blocks) * (BS / 512));
  const stamp = (buf: number, lba: number): void => {
    const v = memory.slice(buf, BS)!;
    for (let i = 0; i < BS; i += 8) {
      new DataView(v.buffer, v.byteOffset + i, 8).setUint32(0, lba, true);
      new DataView(v.buffer, v.byteOffset + i, 8).setUint32(4, (d.seed * 31 + i) >>> 0, true);
    }
  };
  // Writes: each buffer of the window is restamped before its request goes in.
  for (let base = 0; base < d.blocks; base += d.queueDepth) {
    const batch = sectors.slice(base, base + d.queueDepth).map((sector, i) => {
      stamp(bufs[i]!, sector);
      return { type: blkRegs.VIRTIO_BLK_T_OUT, sector, buf: bufs[i]!, len: BS };
    });
    for (const [t, c] of run(batch, 'writes')) if (c.status !== 0) throw new Error(`write ${base + t} failed with status ${c.status}`);
  }
  for (const [, c] of run([{ type: blkRegs.VIRTIO_BLK_T_FLUSH, sector: 0, buf: 0, len: 0 }], 'flush')) if (c.status !== 0) throw new Error(`flush failed: ${c.status}`);
  // Reads back, every byte checked.
  for (let base = 0; base < d.blocks; base += d.queueDepth) {
    const chunk = sectors.slice(base, base + d.queueDepth);
    for (let i = 0; i < chunk.length; i++) memory.slice(bufs[i]!, BS)!.fill(0xee);
    const done = run(chunk.map((sector, i) => ({ type: blkRegs.VIRTIO_BLK_T_IN, sector, buf: bufs[i]!, len: BS })), 'reads');
    chunk.forEach((sector, i) => {
      if (done.get(i)!.status !== 0) throw new Error(`read of sector ${sector} failed with status ${done.get(i)!.status}`);
      const v = memory.slice(bufs[i]!, BS)!;
      const dv = new DataView(v.buffer, v.byteOffset, BS);
      for (let o = 0; o < BS; o += 8) {
        if (dv.getUint32(o, true) !== sector || dv.getUint32(o + 4, true) !== ((d.seed * 31 + o) >>> 0)) {
          throw new Error(`data mismatch: sector ${sector} byte ${o}: lba ${dv.getUint32(o, true)} stamp ${dv.getUint32(o + 4, true)}`);
        }
      }
    });
  }
  const idBuf = heap.alloc(20, 16);
  run([{ type: blkRegs.VIRTIO_BLK_T_GET_ID, sector: 0, buf: idBuf, len: 20 }], 'get-id');
  const id = new TextDecoder().decode(memory.slice(idBuf, 20)!.filter((b) => b !== 0));
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
  };
});
