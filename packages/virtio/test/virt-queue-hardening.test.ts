/**
 * The hostile-driver checklist (shared/REFERENCE.md, "Virtqueue"): one test
 * per item. Each plays a malicious driver through RawRing and checks that
 * pop() does not throw, returns null, marks the queue broken with a reason
 * naming the rule, calls onBroken exactly once, steps past the bad entry,
 * and that the stopped queue stays stopped.
 */
import { describe, expect, it } from 'vitest';
import { DESC_SIZE, GuestMemory, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VirtQueue } from '@vmloop/virtio';
import { type RawDescriptor, writeDescriptor } from '@vmloop/virtio/testing';
import { DATA, DATA_SIZE, RINGS, RINGS_SIZE, buf, makePair, newMemory, type Pair, type PairOptions, publishRaw } from './queue-pair.js';

const NEXT = VIRTQ_DESC_F_NEXT;
const WRITE = VIRTQ_DESC_F_WRITE;
const INDIRECT = VIRTQ_DESC_F_INDIRECT;
const TABLE = DATA + 0x8_0000; // an indirect table in the data region

const d = (addr: number | bigint, len: number, flags = 0, next = 0): RawDescriptor => ({ addr, len, flags, next });

/** Asserts the queue broke once with a reason matching `re`, and stays stopped. */
function expectBroken(p: Pair, re: RegExp): void {
  expect(p.queue.broken).toBe(true);
  expect(p.broken).toHaveLength(1);
  expect(p.broken[0]).toMatch(re);
  expect(p.queue.brokenReason).toBe(p.broken[0]);
  expect(p.queue.stats.broken).toBe(1);
  expect(p.queue.pop()).toBeNull();
  expect(p.queue.hasAvailable()).toBe(false);
  expect(p.broken).toHaveLength(1);
}

/** Publishes `descs` with head 0 and pops: the malformed chain must break the queue and be stepped over. */
function popMalformed(descs: readonly RawDescriptor[], re: RegExp, o: PairOptions = {}, head = 0): Pair {
  const p = makePair(o);
  publishRaw(p, descs, [head]);
  const before = p.queue.nextAvail;
  expect(p.queue.pop()).toBeNull();
  expect(p.queue.nextAvail).toBe((before + 1) & 0xffff); // advanced past it
  expect(p.queue.inFlight).toBe(0);
  expectBroken(p, re);
  return p;
}

/** A queue whose configuration `activate()` must refuse. */
function activateBad(configure: (q: VirtQueue) => void, re: RegExp, memory: GuestMemory = newMemory()): void {
  const reasons: string[] = [];
  const q = new VirtQueue(memory, { maxSize: 256, onBroken: (r) => reasons.push(r) });
  q.size = 16;
  q.descTable = RINGS;
  q.availRing = RINGS + 0x1000;
  q.usedRing = RINGS + 0x2000;
  configure(q);
  q.ready = true;
  const why = q.validate();
  expect(why).toMatch(re);
  expect(q.activate()).toBe(false);
  expect(q.active).toBe(false);
  expect(q.broken).toBe(true);
  expect(reasons).toEqual([why]);
  expect(q.pop()).toBeNull();
}

describe('virtqueue / hostile driver', () => {
  it('avail.idx moved more than the queue size ahead (QEMU virtqueue_num_heads)', () => {
    const p = makePair({ size: 8 });
    p.raw.setAvailIdx(9);
    expect(p.queue.hasAvailable()).toBe(true);
    expect(p.queue.pop()).toBeNull();
    expectBroken(p, /avail\.idx moved from 0 to 9, more than the queue size 8/);
  });

  it('avail.idx exactly the queue size ahead is allowed', () => {
    const p = makePair({ size: 8 });
    for (let i = 0; i < 8; i++) p.driver.add([buf(i)], []);
    p.driver.needsKick();
    for (let i = 0; i < 8; i++) expect(p.queue.pop()).not.toBeNull();
    expect(p.broken).toEqual([]);
  });

  it('2.7.6 head ≥ queue size', () => {
    popMalformed([d(DATA, 8)], /names head 16, not below the queue size 16/, {}, 16);
  });

  it('2.7.6 a head made available again while in flight', () => {
    const p = makePair();
    publishRaw(p, [d(DATA, 8)], [0, 0]);
    expect(p.queue.pop()?.head).toBe(0);
    expect(p.queue.pop()).toBeNull();
    expectBroken(p, /head 0 was made available again while still in flight/);
  });

  it('2.7.5 next ≥ queue size', () => {
    popMalformed([d(DATA, 8, NEXT, 16)], /next 16 is not below the queue size 16/);
  });

  it('2.7.5.3 next ≥ the indirect table size', () => {
    const p = makePair({ indirect: true });
    writeDescriptor(p.memory, TABLE, d(DATA, 8, NEXT, 2));
    publishRaw(p, [d(TABLE, 32, INDIRECT)], [0]);
    expect(p.queue.pop()).toBeNull();
    expectBroken(p, /next 2 is not below the indirect table size 2/);
  });

  it('2.7.5.2 descriptor loop: a chain longer than the queue size', () => {
    const p = popMalformed([d(DATA, 8, NEXT, 1), d(DATA, 8, NEXT, 0)], /longer than the queue size 16: a loop/);
    expect(p.queue.stats.descriptorsRead).toBe(16); // the budget, not one more
  });

  it('2.7.5.2 a self-loop', () => {
    popMalformed([d(DATA, 8, NEXT, 0)], /a loop/);
  });

  it('2.7.5.2 a loop inside an indirect table is bounded by its entry count', () => {
    const p = makePair({ indirect: true });
    for (let i = 0; i < 4; i++) writeDescriptor(p.memory, TABLE + DESC_SIZE * i, d(DATA, 8, NEXT, (i + 1) % 4));
    publishRaw(p, [d(TABLE, 64, INDIRECT)], [0]);
    expect(p.queue.pop()).toBeNull();
    expectBroken(p, /indirect table's 4 descriptors loop/);
    expect(p.queue.stats.descriptorsRead).toBe(1 + 4);
  });

  it('zero-length buffer (QEMU virtqueue_map_desc)', () => {
    popMalformed([d(DATA, 8, NEXT, 1), d(DATA, 0)], /zero-length buffer/);
  });

  it('addr + len overflows 64 bits', () => {
    popMalformed([d(2n ** 64n - 8n, 16)], /buffer \[0xfffffffffffffff8, \+16\) is outside guest memory/);
  });

  it('addr at or above 2^53 (not representable as a number)', () => {
    popMalformed([d(2n ** 53n, 8)], /buffer \[0x20000000000000, \+8\) is outside guest memory/);
  });

  it('buffer outside guest memory: in the hole, and running past the end of a region', () => {
    popMalformed([d(DATA_SIZE + 0x1000, 8)], /is outside guest memory/);
    popMalformed([d(RINGS + RINGS_SIZE - 8, 16)], /is outside guest memory/);
  });

  it('2.7.5.2 total chain length ≥ 2^32', () => {
    popMalformed([d(DATA, 16, NEXT, 1), d(DATA, 2 ** 32 - 16, WRITE)], /total length reaches 2\^32/);
  });

  it('2.7.4.2 a device-readable buffer after a device-writable one', () => {
    popMalformed([d(DATA, 8, WRITE | NEXT, 1), d(DATA, 8)], /device-readable buffer after a device-writable one/);
  });

  it('2.7.4.2 … also across the step into an indirect table', () => {
    const p = makePair({ indirect: true });
    writeDescriptor(p.memory, TABLE, d(DATA, 8));
    publishRaw(p, [d(DATA, 8, WRITE | NEXT, 1), d(TABLE, 16, INDIRECT)], [0]);
    expect(p.queue.pop()).toBeNull();
    expectBroken(p, /device-readable buffer after a device-writable one/);
  });

  it('2.7.5.3.1 INDIRECT without VIRTIO_RING_F_INDIRECT_DESC', () => {
    popMalformed([d(TABLE, 16, INDIRECT)], /INDIRECT without VIRTIO_RING_F_INDIRECT_DESC/);
    // The driver believes it negotiated it; the device did not.
    const p = makePair({ indirect: true, deviceIndirect: false });
    p.driver.add([buf(1)], [], { indirectTable: TABLE });
    p.driver.needsKick();
    expect(p.queue.pop()).toBeNull();
    expectBroken(p, /INDIRECT without/);
  });

  it('2.7.5.3.1 nested indirect breaks the queue', () => {
    const p = makePair({ indirect: true });
    writeDescriptor(p.memory, TABLE, d(TABLE + 0x100, 16, INDIRECT));
    publishRaw(p, [d(TABLE, 16, INDIRECT)], [0]);
    expect(p.queue.pop()).toBeNull();
    expectBroken(p, /indirect descriptor inside an indirect table/);
  });

  it('2.7.5.3.1 INDIRECT together with NEXT', () => {
    popMalformed([d(TABLE, 16, INDIRECT | NEXT, 1), d(DATA, 8)], /INDIRECT together with NEXT/, { indirect: true });
  });

  it('2.7.5.3 indirect table length 0 or not a multiple of 16', () => {
    popMalformed([d(TABLE, 0, INDIRECT)], /indirect table length 0 is not a positive multiple of 16/, { indirect: true });
    popMalformed([d(TABLE, 24, INDIRECT)], /indirect table length 24/, { indirect: true });
  });

  it('indirect table outside guest memory', () => {
    popMalformed([d(DATA_SIZE - 16, 32, INDIRECT)], /indirect table \[0xffff0, \+32\) is outside guest memory/, { indirect: true });
  });

  it('too many segments (an indirect table longer than maxSegments)', () => {
    const p = makePair({ indirect: true, maxSegments: 4 });
    for (let i = 0; i < 6; i++) writeDescriptor(p.memory, TABLE + DESC_SIZE * i, d(DATA + 64 * i, 8, i < 5 ? NEXT : 0, i + 1));
    publishRaw(p, [d(TABLE, 96, INDIRECT)], [0]);
    expect(p.queue.pop()).toBeNull();
    expectBroken(p, /more than 4 segments/);
    expect(p.queue.stats.descriptorsRead).toBe(1 + 5);
  });

  it('2.7 queue size 0, not a power of two, above the maximum', () => {
    activateBad((q) => (q.size = 0), /queue size 0/);
    activateBad((q) => (q.size = 12), /queue size 12 is not a power of two/);
    activateBad((q) => (q.size = 512), /queue size 512 is above the device's maximum 256/);
    activateBad((q) => (q.size = 65535), /not a power of two/);
  });

  it('2.7 unaligned rings: descriptors 16, avail 2, used 4', () => {
    activateBad((q) => (q.descTable = RINGS + 8), /descriptor table at 0x100000008 is not 16-byte aligned/);
    activateBad((q) => (q.availRing = RINGS + 0x1001), /available ring at 0x100001001 is not 2-byte aligned/);
    activateBad((q) => (q.usedRing = RINGS + 0x2002), /used ring at 0x100002002 is not 4-byte aligned/);
  });

  it('rings outside guest memory: past a region end, in the hole, beyond 2^53', () => {
    activateBad((q) => (q.descTable = RINGS + RINGS_SIZE - 128), /descriptor table \[0x1000fff80, \+256\) is outside guest memory/);
    activateBad((q) => (q.availRing = DATA_SIZE + 0x1000), /available ring .* is outside guest memory/);
    activateBad((q) => (q.usedRing = 2 ** 60), /used ring .* is outside guest memory/);
    // used_event / avail_event are part of the areas: a ring that fits only without them is refused.
    activateBad((q) => (q.usedRing = RINGS + RINGS_SIZE - 4 - 8 * 16), /used ring .* is outside guest memory/);
  });

  it('after a malformed chain, later well-formed requests are not served until reset', () => {
    const p = popMalformed([d(DATA, 0)], /zero-length/);
    p.driver.add([buf(1)], []);
    p.driver.needsKick();
    expect(p.queue.pop()).toBeNull();
    p.queue.reset();
    expect(p.queue.broken).toBe(false);
  });

  it('a descriptor rewritten after its chain was popped changes nothing returned; the next chain is judged on what it holds then', () => {
    const p = makePair();
    publishRaw(p, [d(DATA, 8)], [0, 1]);
    p.raw.writeDescriptor(1, d(DATA, 8));
    const c = p.queue.pop()!;
    p.raw.writeDescriptor(1, d(2n ** 64n - 1n, 0xffffffff, NEXT, 0xffff));
    expect(c.readable).toEqual([{ addr: DATA, len: 8 }]);
    expect(p.queue.pop()).toBeNull();
    expectBroken(p, /zero-length|outside guest memory/);
  });
});

describe('virtqueue / hostile driver / memory never leaves guest RAM', () => {
  it('every segment of every popped chain is inside guest memory', () => {
    const memory = GuestMemory.create([
      { gpa: DATA, size: 0x1000 },
      { gpa: RINGS, size: 1 << 16 },
    ]);
    const p = makePair({ memory });
    p.driver.add([{ addr: 0xff0, len: 16 }], [{ addr: RINGS + 0xfff0, len: 16 }]);
    p.driver.needsKick();
    const c = p.queue.pop()!;
    for (const s of [...c.readable, ...c.writable]) expect(memory.contains(s.addr, s.len)).toBe(true);
  });
});
