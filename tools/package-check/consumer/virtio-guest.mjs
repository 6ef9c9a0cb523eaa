// The consumer's guest: a vCPU worker that reaches the virtio-blk device only
// through MMIO/PIO, writes a block, reads it back and checks it.
import { parentPort, workerData } from 'node:worker_threads';
import { EventNotifier } from '@vmloop/event-notifier';
import { GuestMemory, NotifierInterruptRouter, VcpuAddressSpace, blkRegs } from '@vmloop/virtio';
import { GuestHeap, VirtioBlkDriver, VirtioPciDriver, enumeratePci } from '@vmloop/virtio/testing';

const { space, memory: mh, irq } = workerData;
const io = VcpuAddressSpace.open(space, 0);
const memory = GuestMemory.open(mh);
const vectors = irq.map((h) => EventNotifier.open(h));
const probe = enumeratePci(io).find((p) => p.vendorId === 0x1af4);
const blk = new VirtioBlkDriver(new VirtioPciDriver(io, probe), memory, new GuestHeap(0x100000, memory.regions[0].end));
if (!blk.init({ msi: (v) => ({ address: NotifierInterruptRouter.msiAddress(0), data: v }) })) throw new Error('FEATURES_OK refused');
const buf = blk.heap.alloc(4096, 4096);
const run = (type, token) => {
  blk.submit(0, { type, sector: 8, data: [{ addr: buf, len: 4096 }], token });
  blk.kick(0);
  for (;;) {
    const done = blk.reap(0);
    if (done.length > 0) return done[0].status;
    if (blk.queues[0].enableInterrupts()) continue;
    if (!vectors[1].wait(10_000)) throw new Error('no interrupt within 10 s');
    vectors[1].testAndClear();
  }
};
memory.slice(buf, 4096).fill(0x5a);
const w = run(blkRegs.VIRTIO_BLK_T_OUT, 1);
memory.slice(buf, 4096).fill(0);
const r = run(blkRegs.VIRTIO_BLK_T_IN, 2);
parentPort.postMessage({ w, r, ok: memory.slice(buf, 4096).every((b) => b === 0x5a) });
