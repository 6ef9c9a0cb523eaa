/**
 * The device side against the driver side, one rule per test, named after
 * the virtio 1.2 section it checks (or QEMU's function for rules that are
 * QEMU's, not the spec's).
 */
import { describe, expect, it } from 'vitest';
import {
  GuestMemory,
  QUEUE_FEATURES,
  VIRTIO_F_VERSION_1,
  VIRTIO_RING_F_EVENT_IDX,
  VIRTIO_RING_F_INDIRECT_DESC,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_USED_F_NO_NOTIFY,
  VirtQueue,
  availRingSize,
  descTableSize,
  featureBit,
  queueFeatures,
  usedRingSize,
  vringNeedEvent,
} from '@vmloop/virtio';
import { DriverQueue, writeDescriptor } from '@vmloop/virtio/testing';
import { DATA, RINGS, buf, codeOf, makePair, newMemory, publishRaw } from './queue-pair.js';

describe('virtqueue / layout and features', () => {
  it('2.7 area sizes: 16·n, 6 + 2·n, 6 + 8·n', () => {
    expect([descTableSize(256), availRingSize(256), usedRingSize(256)]).toEqual([4096, 518, 2054]);
    const l = DriverQueue.layout(256);
    expect(l.descTable).toEqual({ offset: 0, size: 4096 });
    expect(l.availRing).toEqual({ offset: 4096, size: 518 });
    expect(l.usedRing.offset % 4).toBe(0);
    expect(l.usedRing.offset).toBeGreaterThanOrEqual(4096 + 518);
    expect(l.size).toBe(l.usedRing.offset + 2054);
    expect(codeOf(() => DriverQueue.layout(3))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('6 feature bits: VERSION_1 32, INDIRECT_DESC 28, EVENT_IDX 29', () => {
    expect(featureBit(VIRTIO_F_VERSION_1)).toBe(1n << 32n);
    expect(QUEUE_FEATURES).toBe((1n << 32n) | (1n << 28n) | (1n << 29n));
    expect(queueFeatures(featureBit(VIRTIO_RING_F_EVENT_IDX))).toEqual({ eventIdx: true, indirect: false });
    expect(queueFeatures(featureBit(VIRTIO_RING_F_INDIRECT_DESC))).toEqual({ eventIdx: false, indirect: true });
  });

  it('vring_need_event: notify when the index passed event, modulo 2^16', () => {
    expect(vringNeedEvent(5, 6, 5)).toBe(true);
    expect(vringNeedEvent(5, 5, 5)).toBe(false);
    expect(vringNeedEvent(9, 6, 5)).toBe(false);
    expect(vringNeedEvent(4, 6, 5)).toBe(false); // passed before old: already notified
    expect(vringNeedEvent(0xffff, 1, 0xfffe)).toBe(true);
    expect(vringNeedEvent(0, 1, 0xfffe)).toBe(true);
    expect(vringNeedEvent(1, 1, 0xfffe)).toBe(false);
  });
});

describe('virtqueue / 2.7.13 supplying buffers', () => {
  it('pop returns the chain with its segments, device-readable then device-writable', () => {
    const p = makePair();
    const head = p.driver.add([buf(1, 16), buf(2, 32)], [buf(3, 100)])!;
    p.driver.needsKick();
    expect(p.queue.hasAvailable()).toBe(true);
    expect(p.queue.pop()).toEqual({
      head,
      readable: [buf(1, 16), buf(2, 32)],
      writable: [buf(3, 100)],
      readableBytes: 48,
      writableBytes: 100,
    });
    expect(p.queue.inFlight).toBe(1);
    expect(p.queue.pop()).toBeNull();
    expect(p.queue.hasAvailable()).toBe(false);
    expect(p.broken).toEqual([]);
  });

  it('reuseChains: a head pops into its own object, refilled when the driver makes that head available again', () => {
    const p = makePair({ reuseChains: true });
    const round = (readable: ReturnType<typeof buf>[], writable: ReturnType<typeof buf>[]) => {
      const head = p.driver.add(readable, writable)!;
      p.driver.needsKick();
      const c = p.queue.pop()!;
      expect(c).toEqual({ head, readable, writable, readableBytes: readable.reduce((a, x) => a + x.len, 0), writableBytes: writable.reduce((a, x) => a + x.len, 0) });
      p.queue.pushUsed(c.head, 0);
      expect(p.driver.getUsed()).toEqual({ head, len: 0 });
      return c;
    };
    /** Rounds of a same-shaped chain until the driver reuses `head`. */
    const untilHead = (head: number, readable: ReturnType<typeof buf>[], writable: ReturnType<typeof buf>[]) => {
      for (let i = 0; i < 64; i++) {
        const c = round(readable, writable);
        if (c.head === head) return c;
      }
      throw new Error(`head ${head} never came back`);
    };
    const first = round([buf(1, 16)], [buf(2, 4096), buf(3, 1)]);
    const firstSeg = first.writable[0];
    const again = untilHead(first.head, [buf(7, 16)], [buf(8, 1024), buf(9, 1)]);
    expect(again).toBe(first); // the same object, refilled
    expect(again.writable[0]).toBe(firstSeg);
    expect(first.writable[0]).toEqual(buf(8, 1024));
    // Another shape: new segment arrays, with the right contents.
    const other = untilHead(first.head, [buf(10, 16), buf(11, 16)], [buf(12, 1)]);
    expect(other.readable).toEqual([buf(10, 16), buf(11, 16)]);
    expect(other.writable).toEqual([buf(12, 1)]);
    expect(p.broken).toEqual([]);
    // Without the option every pop is a new object that never changes.
    const q = makePair();
    const h = q.driver.add([buf(1, 16)], [buf(2, 8)])!;
    q.driver.needsKick();
    const c1 = q.queue.pop()!;
    q.queue.pushUsed(h, 0);
    q.driver.getUsed();
    for (let i = 0; i < 32; i++) {
      q.driver.add([buf(3, 16)], [buf(4, 8)]);
      q.driver.needsKick();
      const c = q.queue.pop()!;
      expect(c).not.toBe(c1);
      q.queue.pushUsed(c.head, 0);
      q.driver.getUsed();
    }
    expect(c1).toEqual({ head: h, readable: [buf(1, 16)], writable: [buf(2, 8)], readableBytes: 16, writableBytes: 8 });
  });

  it('2.7.13.3 updating idx: an entry is not available until avail.idx publishes it', () => {
    const p = makePair();
    p.driver.add([buf(1)], []);
    expect(p.queue.pop()).toBeNull();
    expect(p.queue.hasAvailable()).toBe(false);
    p.driver.needsKick();
    expect(p.queue.pop()?.readable).toEqual([buf(1)]);
  });

  it('2.7.8 used ring: pushUsed writes { id, len }, then publishes used.idx; the driver reclaims it', () => {
    const p = makePair();
    const head = p.driver.add([buf(1)], [buf(2, 512)])!;
    p.driver.needsKick();
    const c = p.queue.pop()!;
    expect(p.driver.getUsed()).toBeUndefined();
    p.queue.pushUsed(c.head, 300);
    expect(p.raw.usedIdx()).toBe(1);
    expect(p.raw.usedElem(0)).toEqual({ id: head, len: 300 });
    expect(p.driver.getUsed()).toEqual({ head, len: 300 });
    expect(p.driver.numFree).toBe(16);
    expect(p.queue.inFlight).toBe(0);
    expect(p.queue.stats).toMatchObject({ popped: 1, pushed: 1, broken: 0, descriptorsRead: 2 });
  });

  it('fillUsed writes elements the driver cannot see until flushUsed publishes them with one used.idx store (QEMU virtqueue_fill / virtqueue_flush)', () => {
    const p = makePair({ size: 8, startIndex: 0xfffe, eventIdx: true });
    const heads = [0, 1, 2].map((i) => p.driver.add([buf(i)], [buf(10 + i)])!);
    p.driver.needsKick();
    const chains = [p.queue.pop()!, p.queue.pop()!, p.queue.pop()!];
    expect(p.queue.needsNotification()).toBe(true); // the first call after activation always is
    p.queue.fillUsed(chains[1]!.head, 1);
    p.queue.fillUsed(chains[0]!.head, 0);
    expect(p.queue.unflushedUsed).toBe(2);
    expect(p.queue.inFlight).toBe(1);
    expect(p.raw.usedIdx()).toBe(0xfffe);
    expect(p.driver.getUsed()).toBeUndefined();
    expect(p.queue.needsNotification()).toBe(false); // only published elements count: none yet
    // The driver wants an interrupt after the first element (used_event 0xfffe).
    p.raw.setUsedEvent(0xfffe);
    p.queue.flushUsed();
    expect(p.queue.unflushedUsed).toBe(0);
    expect(p.raw.usedIdx()).toBe(0); // 0xfffe + 2, across the wrap
    expect(p.queue.nextUsed).toBe(0);
    expect(p.queue.needsNotification()).toBe(true); // the batch passed used_event
    p.queue.flushUsed(); // nothing pending: no store, no change
    expect(p.raw.usedIdx()).toBe(0);
    // pushUsed publishes elements filled before it, in order.
    p.driver.add([buf(3)], [buf(13)]);
    p.driver.needsKick();
    const d = p.queue.pop()!;
    p.queue.fillUsed(chains[2]!.head, 2);
    p.queue.pushUsed(d.head, 3);
    expect(p.raw.usedIdx()).toBe(2);
    expect([p.driver.getUsed(), p.driver.getUsed(), p.driver.getUsed(), p.driver.getUsed()]).toEqual([
      { head: heads[1], len: 1 },
      { head: heads[0], len: 0 },
      { head: heads[2], len: 2 },
      { head: d.head, len: 3 },
    ]);
    expect(codeOf(() => p.queue.fillUsed(d.head, 0))).toBe('ERR_INVALID_ARGUMENT'); // not in flight any more
    expect(p.queue.stats).toMatchObject({ popped: 4, pushed: 4 });
  });

  it('getUsedHead: the head, its len in usedLen, -1 when nothing is published; a head not in flight is ERR_INVALID_STATE', () => {
    const p = makePair();
    const heads = [0, 1].map((i) => p.driver.add([buf(i)], [buf(10 + i, 512)])!);
    p.driver.needsKick();
    expect(p.driver.usedLen).toBe(0);
    expect(p.driver.getUsedHead()).toBe(-1);
    const chains = [p.queue.pop()!, p.queue.pop()!];
    p.queue.pushUsed(chains[1]!.head, 200);
    p.queue.pushUsed(chains[0]!.head, 512);
    expect(p.driver.getUsedHead()).toBe(heads[1]);
    expect(p.driver.usedLen).toBe(200);
    expect(p.driver.getUsedHead()).toBe(heads[0]);
    expect(p.driver.usedLen).toBe(512);
    expect(p.driver.getUsedHead()).toBe(-1);
    expect(p.driver.usedLen).toBe(512); // the last one returned
    expect(p.driver.numFree).toBe(16);
    expect(p.driver.stats.reclaimed).toBe(2);
    // A device that publishes a head twice: the driver's own check.
    p.raw.setUsedElem(2, { id: heads[0]!, len: 1 });
    p.raw.setUsedIdx(3);
    expect(codeOf(() => p.driver.getUsedHead())).toBe('ERR_INVALID_STATE');
  });

  it('chains complete in any order', () => {
    const p = makePair();
    const heads = [0, 1, 2].map((i) => p.driver.add([buf(i)], [buf(10 + i)])!);
    p.driver.needsKick();
    const chains = [p.queue.pop()!, p.queue.pop()!, p.queue.pop()!];
    expect(chains.map((c) => c.head)).toEqual(heads);
    for (const i of [2, 0, 1]) p.queue.pushUsed(chains[i]!.head, i);
    expect([p.driver.getUsed(), p.driver.getUsed(), p.driver.getUsed()]).toEqual([
      { head: heads[2], len: 2 },
      { head: heads[0], len: 0 },
      { head: heads[1], len: 1 },
    ]);
  });

  it('indices wrap at 2^16', () => {
    const p = makePair({ size: 4, startIndex: 0xfffe });
    for (let i = 0; i < 10; i++) {
      p.driver.add([buf(i)], [buf(20 + i)]);
      p.driver.needsKick();
      const c = p.queue.pop()!;
      expect(c.readable).toEqual([buf(i)]);
      p.queue.pushUsed(c.head, 1);
      expect(p.driver.getUsed()?.head).toBe(c.head);
    }
    expect(p.queue.nextAvail).toBe((0xfffe + 10) & 0xffff);
    expect(p.queue.nextUsed).toBe(8);
    expect(p.raw.availIdx()).toBe(8);
  });

  it('the largest queue, 32768 entries, fills and drains', () => {
    const memory = GuestMemory.create([
      { gpa: DATA, size: 1 << 20 },
      { gpa: RINGS, size: 1 << 20 },
    ]);
    const p = makePair({ size: 32768, maxSize: 32768, memory });
    for (let i = 0; i < 32768; i++) expect(p.driver.add([buf(i % 200, 8)], [])).toBe(i);
    expect(p.driver.add([buf(0)], [])).toBeUndefined();
    p.driver.needsKick();
    for (let i = 0; i < 32768; i++) p.queue.pushUsed(p.queue.pop()!.head, 0);
    expect(p.queue.pop()).toBeNull();
    let n = 0;
    while (p.driver.getUsed()) n++;
    expect(n).toBe(32768);
    expect(p.broken).toEqual([]);
  });

  it('addresses above 4 GiB: rings and buffers there work', () => {
    const p = makePair();
    const hi = { addr: RINGS + 0x8_0000, len: 64 };
    p.driver.add([hi], [{ addr: RINGS + 0x9_0000, len: 8 }]);
    p.driver.needsKick();
    expect(p.queue.pop()?.readable).toEqual([hi]);
  });

  it('a buffer crossing into an adjacent region comes out as one segment per region (QEMU virtqueue_map_desc)', () => {
    const memory = GuestMemory.create([
      { gpa: 0, size: 0x1000 },
      { gpa: 0x1000, size: 0x1000 },
      { gpa: RINGS, size: 1 << 16 },
    ]);
    const p = makePair({ memory });
    p.driver.add([{ addr: 0xf00, len: 0x200 }], []);
    p.driver.needsKick();
    const c = p.queue.pop()!;
    expect(c.readable).toEqual([
      { addr: 0xf00, len: 0x100 },
      { addr: 0x1000, len: 0x100 },
    ]);
    expect(c.readableBytes).toBe(0x200);
    for (const s of c.readable) expect(memory.slice(s.addr, s.len)).toBeDefined();
  });
});

describe('virtqueue / 2.7.5.3 indirect descriptors', () => {
  it('a chain in an indirect table pops with its segments and costs one ring descriptor', () => {
    const p = makePair({ indirect: true });
    const head = p.driver.add([buf(1, 10), buf(2, 20)], [buf(3, 30)], { indirectTable: DATA + 0x8_0000 })!;
    expect(p.driver.numFree).toBe(15);
    p.driver.needsKick();
    expect(p.queue.pop()).toEqual({ head, readable: [buf(1, 10), buf(2, 20)], writable: [buf(3, 30)], readableBytes: 30, writableBytes: 30 });
    expect(p.queue.stats.descriptorsRead).toBe(4);
  });

  it('2.7.5.3.2 zero or more chained descriptors followed by an indirect one', () => {
    const p = makePair({ indirect: true });
    const table = DATA + 0x8_0000;
    writeDescriptor(p.memory, table, { ...buf(5), flags: VIRTQ_DESC_F_WRITE, next: 0 });
    publishRaw(
      p,
      [
        { ...buf(4), flags: VIRTQ_DESC_F_NEXT, next: 1 },
        { addr: table, len: 16, flags: VIRTQ_DESC_F_INDIRECT, next: 0 },
      ],
      [0],
    );
    const c = p.queue.pop()!;
    expect(c.readable).toEqual([buf(4)]);
    expect(c.writable).toEqual([buf(5)]);
  });

  it('2.7.5.3.2 the WRITE flag of the descriptor naming a table is ignored', () => {
    const p = makePair({ indirect: true });
    const table = DATA + 0x8_0000;
    writeDescriptor(p.memory, table, { ...buf(5), flags: 0, next: 0 });
    publishRaw(p, [{ addr: table, len: 16, flags: VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, next: 0 }], [0]);
    expect(p.queue.pop()?.readable).toEqual([buf(5)]);
  });
});

describe('virtqueue / 2.7.10 available buffer notification suppression', () => {
  it('without EVENT_IDX: disableNotification sets NO_NOTIFY and the driver does not kick; enableNotification clears it', () => {
    const p = makePair();
    p.driver.add([buf(1)], []);
    expect(p.driver.needsKick()).toBe(true);
    p.queue.disableNotification();
    expect(p.raw.usedFlags()).toBe(VRING_USED_F_NO_NOTIFY);
    p.driver.add([buf(2)], []);
    expect(p.driver.needsKick()).toBe(false);
    expect(p.queue.enableNotification()).toBe(true); // two entries wait
    expect(p.raw.usedFlags()).toBe(0);
    p.queue.pop();
    p.queue.pop();
    expect(p.queue.enableNotification()).toBe(false);
    p.driver.add([buf(3)], []);
    expect(p.driver.needsKick()).toBe(true);
  });

  it('with EVENT_IDX: enableNotification writes avail_event = nextAvail; the driver kicks only when avail.idx passes it', () => {
    const p = makePair({ eventIdx: true });
    p.driver.add([buf(1)], []);
    expect(p.driver.needsKick()).toBe(true); // avail_event 0, idx 0 → 1
    p.queue.disableNotification();
    expect(p.raw.usedFlags()).toBe(0); // 2.7.10.2: flags stay 0 with EVENT_IDX
    p.queue.pop();
    expect(p.raw.availEvent()).toBe(0); // disabled: pop leaves it
    p.driver.add([buf(2)], []);
    expect(p.driver.needsKick()).toBe(false); // idx 1 → 2 does not pass 0
    expect(p.queue.enableNotification()).toBe(true); // entry 1 raced in
    expect(p.raw.availEvent()).toBe(1);
    p.queue.pop();
    expect(p.raw.availEvent()).toBe(2); // enabled: pop moves it (QEMU virtqueue_split_pop)
    expect(p.queue.enableNotification()).toBe(false);
    p.driver.add([buf(3)], []);
    p.driver.add([buf(4)], []);
    expect(p.driver.needsKick()).toBe(true); // 2 → 4 passes 2
    expect(p.driver.stats).toMatchObject({ kicks: 2, kicksSuppressed: 1 });
  });

  it('enableNotification re-checks avail.idx after its store: work published just before it is reported (the store-buffering race)', () => {
    for (const eventIdx of [false, true]) {
      const p = makePair({ eventIdx });
      p.queue.disableNotification();
      p.driver.add([buf(1)], []);
      const kicked = p.driver.needsKick(); // publishes while the device has notifications off
      const raced = p.queue.enableNotification();
      // Either the driver kicked or the device sees the entry: never neither.
      expect(kicked || raced).toBe(true);
      expect(raced).toBe(true);
    }
  });
});

describe('virtqueue / 2.7.7 used buffer notification suppression', () => {
  it('without EVENT_IDX: VRING_AVAIL_F_NO_INTERRUPT suppresses needsNotification', () => {
    const p = makePair();
    for (let i = 0; i < 3; i++) p.driver.add([buf(i)], []);
    p.driver.needsKick();
    p.queue.pushUsed(p.queue.pop()!.head, 0);
    expect(p.queue.needsNotification()).toBe(true);
    expect(p.queue.needsNotification()).toBe(false); // nothing new since
    p.driver.disableInterrupts();
    expect(p.raw.availFlags()).toBe(VRING_AVAIL_F_NO_INTERRUPT);
    p.queue.pushUsed(p.queue.pop()!.head, 0);
    expect(p.queue.needsNotification()).toBe(false);
    expect(p.driver.enableInterrupts()).toBe(true); // the used element raced in
    expect(p.raw.availFlags()).toBe(0);
    p.queue.pushUsed(p.queue.pop()!.head, 0);
    expect(p.queue.needsNotification()).toBe(true);
    expect(p.queue.stats).toMatchObject({ notificationsNeeded: 2, notificationsSuppressed: 1 });
  });

  it('with EVENT_IDX: needsNotification is vring_need_event(used_event, new, signalled) and records the signalled index', () => {
    const p = makePair({ eventIdx: true });
    for (let i = 0; i < 6; i++) p.driver.add([buf(i)], []);
    p.driver.needsKick();
    const push = () => p.queue.pushUsed(p.queue.pop()!.head, 0);
    push();
    expect(p.queue.needsNotification()).toBe(true); // first call after activation
    p.driver.disableInterrupts(); // writes nothing: used_event stays 0
    push();
    expect(p.queue.needsNotification()).toBe(false); // 1 → 2 does not pass 0
    expect(p.driver.getUsed()).toBeDefined();
    expect(p.driver.getUsed()).toBeDefined();
    expect(p.raw.usedEvent()).toBe(0); // interrupts off: getUsed leaves it
    expect(p.driver.enableInterrupts()).toBe(false);
    expect(p.raw.usedEvent()).toBe(2);
    push();
    push();
    expect(p.queue.needsNotification()).toBe(true); // 2 → 4 passes 2
    p.raw.setUsedEvent(10);
    push();
    expect(p.queue.needsNotification()).toBe(false);
  });

  it('2.7.7.2 with EVENT_IDX the device ignores NO_INTERRUPT', () => {
    const p = makePair({ eventIdx: true });
    p.driver.add([buf(1)], []);
    p.driver.needsKick();
    p.raw.setAvailFlags(VRING_AVAIL_F_NO_INTERRUPT);
    p.queue.pushUsed(p.queue.pop()!.head, 0);
    expect(p.queue.needsNotification()).toBe(true);
  });

  it('with EVENT_IDX and interrupts enabled, getUsed moves used_event (Linux virtqueue_get_buf)', () => {
    const p = makePair({ eventIdx: true });
    p.driver.add([buf(1)], []);
    p.driver.needsKick();
    p.queue.pushUsed(p.queue.pop()!.head, 0);
    p.driver.getUsed();
    expect(p.raw.usedEvent()).toBe(1);
  });
});

describe('virtqueue / configuration and host contract', () => {
  it('pushUsed of a head that is not in flight, twice, or with len beyond the writable bytes throws ERR_INVALID_ARGUMENT', () => {
    const p = makePair();
    p.driver.add([buf(1)], [buf(2, 100)]);
    p.driver.needsKick();
    const c = p.queue.pop()!;
    expect(codeOf(() => p.queue.pushUsed(c.head + 1, 0))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => p.queue.pushUsed(99, 0))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => p.queue.pushUsed(c.head, 101))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => p.queue.pushUsed(c.head, -1))).toBe('ERR_INVALID_ARGUMENT');
    p.queue.pushUsed(c.head, 100);
    expect(codeOf(() => p.queue.pushUsed(c.head, 0))).toBe('ERR_INVALID_ARGUMENT');
    expect(p.queue.broken).toBe(false);
  });

  it('configuration is fixed while active; activate needs ready and happens once', () => {
    const p = makePair();
    expect(codeOf(() => (p.queue.size = 8))).toBe('ERR_INVALID_STATE');
    expect(codeOf(() => (p.queue.descTable = 0))).toBe('ERR_INVALID_STATE');
    expect(codeOf(() => p.queue.setFeatures({ eventIdx: true, indirect: true }))).toBe('ERR_INVALID_STATE');
    expect(codeOf(() => (p.queue.nextAvail = 3))).toBe('ERR_INVALID_STATE');
    expect(codeOf(() => p.queue.activate())).toBe('ERR_INVALID_STATE');
    const q = new VirtQueue(newMemory(), { maxSize: 16 });
    expect(codeOf(() => q.activate())).toBe('ERR_INVALID_STATE');
    expect(codeOf(() => (q.size = 70000))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => (q.usedRing = Number.NaN))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new VirtQueue(newMemory(), { maxSize: 24 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new VirtQueue(newMemory(), { maxSize: 65536 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new VirtQueue(newMemory(), { maxSize: 16, maxSegments: 0 }))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('an inactive queue pops nothing and its other operations do nothing', () => {
    const q = new VirtQueue(newMemory(), { maxSize: 16 });
    expect(q.size).toBe(16);
    expect(q.pop()).toBeNull();
    expect(q.hasAvailable()).toBe(false);
    expect(q.needsNotification()).toBe(false);
    expect(q.enableNotification()).toBe(false);
    q.disableNotification();
    q.pushUsed(0, 0);
    expect(q.active).toBe(false);
  });

  it('reset() returns to the power-on state and the queue can run again', () => {
    const p = makePair();
    p.driver.add([buf(1)], []);
    p.driver.needsKick();
    p.queue.pop();
    p.queue.markBroken('device-level: test');
    p.queue.reset();
    expect([p.queue.active, p.queue.broken, p.queue.brokenReason, p.queue.inFlight, p.queue.size, p.queue.ready]).toEqual([
      false,
      false,
      undefined,
      0,
      16,
      false,
    ]);
    expect([p.queue.descTable, p.queue.availRing, p.queue.usedRing, p.queue.nextAvail, p.queue.nextUsed]).toEqual([0, 0, 0, 0, 0]);
    expect(p.queue.eventIdx || p.queue.indirect).toBe(false);
    // The driver re-initialises its rings after a reset and programs the queue again.
    const l = DriverQueue.layout(8);
    const at = { descTable: RINGS + 0x4_0000, availRing: RINGS + 0x4_0000 + l.availRing.offset, usedRing: RINGS + 0x4_0000 + l.usedRing.offset };
    const driver = new DriverQueue(p.memory, { size: 8, ...at, eventIdx: true, indirect: false });
    Object.assign(p.queue, { size: 8, ...at, ready: true });
    p.queue.setFeatures({ eventIdx: true, indirect: false });
    expect(p.queue.activate()).toBe(true);
    driver.add([buf(2)], []);
    expect(driver.needsKick()).toBe(true);
    expect(p.queue.pop()?.readable).toEqual([buf(2)]);
    expect(p.queue.stats.broken).toBe(1); // stats survive reset
  });

  it('markBroken: the first reason sticks, onBroken is called once, everything else becomes a no-op', () => {
    const p = makePair({ eventIdx: true });
    p.driver.add([buf(1)], []);
    p.driver.add([buf(2)], []);
    p.driver.needsKick();
    const c = p.queue.pop()!;
    p.queue.markBroken('blk: request header too short');
    p.queue.markBroken('second');
    expect(p.broken).toEqual(['blk: request header too short']);
    expect(p.queue.brokenReason).toBe('blk: request header too short');
    const before = { idx: p.raw.usedIdx(), event: p.raw.availEvent(), flags: p.raw.usedFlags() };
    expect(p.queue.pop()).toBeNull();
    expect(p.queue.hasAvailable()).toBe(false);
    p.queue.pushUsed(c.head, 0);
    p.queue.pushUsed(12345, 0); // no throw either: the queue is stopped
    expect(p.queue.needsNotification()).toBe(false);
    p.queue.disableNotification();
    expect(p.queue.enableNotification()).toBe(false);
    expect({ idx: p.raw.usedIdx(), event: p.raw.availEvent(), flags: p.raw.usedFlags() }).toEqual(before);
    expect(p.queue.stats).toMatchObject({ popped: 1, pushed: 0, broken: 1 });
  });
});

describe('virtqueue / driver side', () => {
  it('add() takes one descriptor per segment, or one with an indirect table, and returns undefined when out of descriptors', () => {
    const p = makePair({ size: 4, indirect: true });
    expect(p.driver.add([buf(1), buf(2)], [buf(3)])).toBeDefined();
    expect(p.driver.numFree).toBe(1);
    expect(p.driver.add([buf(1)], [buf(2)])).toBeUndefined();
    expect(p.driver.add([buf(1)], [buf(2)], { indirectTable: DATA + 0x8000 })).toBeDefined();
    expect(p.driver.numFree).toBe(0);
    expect(p.driver.inFlight).toBe(2);
    expect(p.driver.add([buf(1)], [], { indirectTable: DATA + 0x9000 })).toBeUndefined();
  });

  it('add() refuses no segments, bad fields, and indirect tables without the feature', () => {
    const p = makePair();
    expect(codeOf(() => p.driver.add([], []))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => p.driver.add([{ addr: -1, len: 1 }], []))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => p.driver.add([{ addr: 0, len: 2 ** 32 }], []))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => p.driver.add([buf(1)], [], { indirectTable: DATA }))).toBe('ERR_INVALID_STATE');
    expect(p.driver.numFree).toBe(16);
  });

  it('getUsed() of a head the driver never added throws ERR_INVALID_STATE (a device bug)', () => {
    const p = makePair();
    p.raw.setUsedElem(0, { id: 7, len: 0 });
    p.raw.setUsedIdx(1);
    expect(codeOf(() => p.driver.getUsed())).toBe('ERR_INVALID_STATE');
  });
});
