/**
 * One side of a two-worker split-ring harness (Linux tools/virtio/ringtest
 * style): the `driver` keeps `inFlight` requests on the ring and kicks a
 * doorbell EventNotifier; the `device` serves them and sets an interrupt
 * EventNotifier. Both use the standard loops (device: disable, drain,
 * enable, re-check; driver: the same with interrupts). With `suppress`
 * they notify only when needsKick / needsNotification say so; without,
 * after every request (the "no suppression" peer of virtio.notify-per-req).
 *
 * Every request carries a sequence number; the device answers with a
 * function of the request and the driver checks each reply, so a lost,
 * duplicated or misrouted completion fails the run. Progress goes to
 * shared cells so the test's watchdog can say what was lost.
 *
 * Used by test/virt-queue-multithread.test.ts and bench/virtqueue.bench.ts.
 */
import { EventNotifier } from '@vmloop/event-notifier';
import { workerMain } from '@vmloop/test-kit/worker';
import { GuestMemory, VirtQueue } from '@vmloop/virtio';
import { DriverQueue } from '@vmloop/virtio/testing';
import { COMPLETED, type DeviceResult, type DriverResult, INTERRUPTS, KICKS, RingProgress, type RingJob, SERVED } from '../ring-harness.js';

const REQ = 16;
const SLOT = 64;
const REPLY = 32; // reply buffer offset in a slot

/** The reply word i for request word w (what the device computes, what the driver checks). */
const answer = (w: number, i: number): number => (Math.imul(w ^ 0xa5a5a5a5, 0x9e3779b1) + i) >>> 0;

function runDriver(job: RingJob, mem: GuestMemory, kick: EventNotifier, irq: EventNotifier, cells: ReturnType<typeof RingProgress.open>['cells']): DriverResult {
  const d = new DriverQueue(mem, { ...job.ring, eventIdx: job.eventIdx, indirect: job.indirect });
  const freeSlots = Array.from({ length: job.inFlight }, (_, i) => job.inFlight - 1 - i);
  const slotOf = new Int32Array(job.ring.size).fill(-1);
  const seqOf = new Int32Array(job.inFlight);
  let issued = 0;
  let completed = 0;
  let kicks = 0;

  const fill = (): void => {
    while (issued < job.requests && freeSlots.length > 0) {
      const slot = freeSlots[freeSlots.length - 1]!;
      const at = job.data + SLOT * slot;
      const seq = issued;
      for (let i = 0; i < 4; i++) mem.writeU32(at + 4 * i, (seq * 4 + i) >>> 0);
      const head = d.add([{ addr: at, len: REQ }], [{ addr: at + REPLY, len: REQ }], job.indirect ? { indirectTable: job.tables + 32 * slot } : undefined);
      if (head === undefined) break; // out of descriptors: wait for completions
      freeSlots.pop();
      slotOf[head] = slot;
      seqOf[slot] = seq;
      issued++;
      if (!job.suppress) {
        d.needsKick(); // publishes; the peer kicks whatever it says
        kick.set();
        cells.store(KICKS, ++kicks);
      }
    }
    if (job.suppress && d.needsKick()) {
      kick.set();
      cells.store(KICKS, ++kicks);
    }
  };

  const t0 = process.hrtime.bigint();
  fill();
  while (completed < job.requests) {
    irq.wait();
    if (!irq.testAndClear()) continue;
    do {
      d.disableInterrupts();
      for (let u = d.getUsed(); u !== undefined; u = d.getUsed()) {
        const slot = slotOf[u.head]!;
        if (slot < 0) throw new Error(`completion for head ${u.head}, which has no request`);
        slotOf[u.head] = -1;
        const seq = seqOf[slot]!;
        if (u.len !== REQ) throw new Error(`request ${seq}: used len ${u.len}, expected ${REQ}`);
        const at = job.data + SLOT * slot + REPLY;
        for (let i = 0; i < 4; i++) {
          const got = mem.readU32(at + 4 * i);
          const want = answer((seq * 4 + i) >>> 0, i);
          if (got !== want) throw new Error(`request ${seq}: reply word ${i} is ${got}, expected ${want}`);
        }
        freeSlots.push(slot);
        completed++;
      }
      cells.store(COMPLETED, completed);
      fill();
    } while (d.enableInterrupts());
  }
  return { role: 'driver', completed, kicks, stats: d.stats, elapsedNs: Number(process.hrtime.bigint() - t0) };
}

function runDevice(job: RingJob, mem: GuestMemory, kick: EventNotifier, irq: EventNotifier, cells: ReturnType<typeof RingProgress.open>['cells']): DeviceResult {
  const q = new VirtQueue(mem, { maxSize: job.ring.size });
  q.size = job.ring.size;
  q.descTable = job.ring.descTable;
  q.availRing = job.ring.availRing;
  q.usedRing = job.ring.usedRing;
  q.setFeatures({ eventIdx: job.eventIdx, indirect: job.indirect });
  q.ready = true;
  if (!q.activate()) throw new Error(`activate: ${q.brokenReason}`);
  let served = 0;
  let interrupts = 0;
  const interrupt = (): void => {
    irq.set();
    cells.store(INTERRUPTS, ++interrupts);
  };
  while (served < job.requests) {
    kick.wait();
    if (!kick.testAndClear()) continue;
    do {
      q.disableNotification();
      for (let c = q.pop(); c !== null; c = q.pop()) {
        const r = c.readable[0];
        const w = c.writable[0];
        if (c.readable.length !== 1 || c.writable.length !== 1 || r!.len !== REQ || w!.len !== REQ) {
          q.markBroken(`test device: request ${c.head} is not one ${REQ}-byte readable and one ${REQ}-byte writable segment`);
          break;
        }
        for (let i = 0; i < 4; i++) mem.writeU32(w!.addr + 4 * i, answer(mem.readU32(r!.addr + 4 * i), i));
        q.pushUsed(c.head, REQ);
        served++;
        if (!job.suppress) interrupt();
      }
      if (job.suppress && q.needsNotification()) interrupt();
      cells.store(SERVED, served);
      if (q.broken) throw new Error(`queue broke: ${q.brokenReason}`);
    } while (q.enableNotification());
  }
  return { role: 'device', served, interrupts, stats: q.stats };
}

workerMain((job: RingJob): DriverResult | DeviceResult => {
  const mem = GuestMemory.open(job.memory);
  const kick = EventNotifier.open(job.kick);
  const irq = EventNotifier.open(job.interrupt);
  const { cells } = RingProgress.open(job.progress);
  return job.role === 'driver' ? runDriver(job, mem, kick, irq, cells) : runDevice(job, mem, kick, irq, cells);
});
