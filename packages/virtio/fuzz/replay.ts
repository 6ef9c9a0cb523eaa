/**
 * Replays a FuzzCase against the device side (VirtQueue) and checks what
 * must hold for any input:
 * - no exception escapes the device (activate, pop, pushUsed of a held
 *   chain, needsNotification, enable / disable);
 * - every pop terminates within its budget: at most `size` descriptors of
 *   the ring plus one indirect table's entries, never more than
 *   `maxSegments + 1` of them (counted by the queue's descriptorsRead; a
 *   walk that never ends is caught by the watchdog of ./run.ts or
 *   test/fuzz.test.ts, which reports the case);
 * - nothing it returns points outside guest RAM: every segment is
 *   non-empty, inside one region, and the chain's sums and shape are right;
 * - the input either completes or breaks the queue with a reason, through
 *   exactly one onBroken call; a broken queue pops nothing more;
 * - a well-formed case (no mutation) is served exactly, without breaking;
 * - with `reuseChains`, a head's chain is the same object on every pop,
 *   and a chain still in flight is never changed by a later pop (of
 *   another head, or a failed one): it reads at push as it did at pop.
 * A violation throws a FuzzFailure naming the check.
 */
import { DESC_SIZE, GuestMemory, type DescriptorChain, type Segment, VIRTQ_DESC_F_INDIRECT, VirtQueue, availRingSize, descTableSize, usedRingSize } from '@vmloop/virtio';
import { RawRing, writeDescriptor } from '@vmloop/virtio/testing';
import { type FuzzCase, type FuzzDescriptor, LAYOUTS } from './ring-case.js';

/** An invariant the device broke. */
export class FuzzFailure extends Error {
  override name = 'FuzzFailure';
}

/** How a case ended. */
export type Outcome = { readonly kind: 'completed' } | { readonly kind: 'refused' | 'broken'; readonly reason: string };

/** One GuestMemory per layout, zeroed before each case (allocating per case would dominate the run). */
export class MemoryPool {
  private readonly memories = LAYOUTS.map((l) => GuestMemory.create(l.regions));
  get(layout: number): GuestMemory {
    const m = this.memories[layout];
    if (m === undefined) throw new FuzzFailure(`no memory layout ${layout}`);
    for (const r of m.regions) r.bytes.fill(0);
    return m;
  }
}

function fail(what: string, cause?: unknown): never {
  throw new FuzzFailure(what, cause === undefined ? undefined : { cause });
}

/** Calls a device operation; anything it throws is a failure. */
function device<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    return fail(`${what} threw: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, e);
  }
}

function put(memory: GuestMemory, gpa: number, d: FuzzDescriptor): void {
  if (memory.contains(gpa, DESC_SIZE)) writeDescriptor(memory, gpa, { addr: BigInt(d.addr), len: d.len >>> 0, flags: d.flags & 0xffff, next: d.next & 0xffff });
}

/** Merges touching segments, so a buffer split at a region boundary compares equal to the buffer. */
function merged(segs: readonly Segment[]): Segment[] {
  const out: Segment[] = [];
  for (const s of segs) {
    const last = out[out.length - 1];
    if (last !== undefined && last.addr + last.len === s.addr) out[out.length - 1] = { addr: last.addr, len: last.len + s.len };
    else out.push(s);
  }
  return out;
}

function checkChain(c: DescriptorChain, q: VirtQueue, memory: GuestMemory): void {
  if (!(Number.isInteger(c.head) && c.head >= 0 && c.head < q.size)) fail(`pop returned head ${c.head}, outside the queue size ${q.size}`);
  const n = c.readable.length + c.writable.length;
  if (n === 0) fail(`pop returned chain ${c.head} with no segments`);
  if (n > q.maxSegments) fail(`pop returned ${n} segments, more than maxSegments ${q.maxSegments}`);
  let r = 0;
  let w = 0;
  for (const s of c.readable) {
    if (!(s.len > 0 && memory.contains(s.addr, s.len))) fail(`readable segment { addr ${s.addr}, len ${s.len} } is empty or outside guest RAM`);
    r += s.len;
  }
  for (const s of c.writable) {
    if (!(s.len > 0 && memory.contains(s.addr, s.len))) fail(`writable segment { addr ${s.addr}, len ${s.len} } is empty or outside guest RAM`);
    w += s.len;
  }
  if (r !== c.readableBytes || w !== c.writableBytes) fail(`chain ${c.head}: byte counts ${c.readableBytes}/${c.writableBytes} but segments sum to ${r}/${w}`);
  if (r + w >= 2 ** 32) fail(`chain ${c.head}: total length ${r + w} ≥ 2^32`);
}

/**
 * The most descriptors one indirect table may cost a pop: its entry count
 * (the largest INDIRECT descriptor of the ring, as memory holds it now),
 * and never more than maxSegments + 1 (each entry read makes a segment or
 * stops the walk). Pop does not write the table, so reading it after the
 * pop sees what the pop saw.
 */
function indirectBudget(raw: RawRing, c: FuzzCase): number {
  let entries = 0;
  for (let i = 0; i < c.size; i++) {
    const d = raw.readDescriptor(i);
    if ((d.flags & VIRTQ_DESC_F_INDIRECT) !== 0) entries = Math.max(entries, Math.floor(d.len / DESC_SIZE));
  }
  return Math.min(entries, c.maxSegments + 1);
}

/** What a chain held when it was popped (a reused chain object is refilled later). */
interface ChainCopy {
  readonly head: number;
  readonly readable: readonly Segment[];
  readonly writable: readonly Segment[];
  readonly readableBytes: number;
  readonly writableBytes: number;
}

function copyOf(c: DescriptorChain): ChainCopy {
  const seg = (s: Segment): Segment => ({ addr: s.addr, len: s.len });
  return { head: c.head, readable: c.readable.map(seg), writable: c.writable.map(seg), readableBytes: c.readableBytes, writableBytes: c.writableBytes };
}

function sameChain(c: DescriptorChain, k: ChainCopy): boolean {
  const same = (a: readonly Segment[], b: readonly Segment[]): boolean => a.length === b.length && a.every((s, i) => s.addr === b[i]!.addr && s.len === b[i]!.len);
  return c.head === k.head && c.readableBytes === k.readableBytes && c.writableBytes === k.writableBytes && same(c.readable, k.readable) && same(c.writable, k.writable);
}

/** Replays `c` and returns how it ended; throws FuzzFailure when the device misbehaved. */
export function replay(c: FuzzCase, pool: MemoryPool): Outcome {
  const memory = pool.get(c.layout);
  c.table.forEach((d, i) => {
    put(memory, c.descTable + DESC_SIZE * i, d);
  });
  for (const t of c.tables) {
    t.descs.forEach((d, i) => {
      put(memory, t.gpa + DESC_SIZE * i, d);
    });
  }
  const reasons: string[] = [];
  const q = new VirtQueue(memory, { maxSize: c.maxSize, maxSegments: c.maxSegments, onBroken: (r) => reasons.push(r), reuseChains: c.reuseChains });
  const ringsOk = (): boolean => c.availRing % 2 === 0 && c.usedRing % 4 === 0 && memory.contains(c.availRing, 4) && memory.contains(c.usedRing, 4);
  const raw = new RawRing(memory, c);
  if (ringsOk()) {
    raw.setAvailIdx(c.start);
    raw.setUsedIdx(c.start);
  }
  q.size = c.size;
  q.descTable = c.descTable;
  q.availRing = c.availRing;
  q.usedRing = c.usedRing;
  q.setFeatures({ eventIdx: c.eventIdx, indirect: c.indirect });
  q.nextAvail = c.start;
  q.nextUsed = c.start;
  q.ready = true;
  const why = device('validate', () => q.validate());
  const active = device('activate', () => q.activate());
  if (!active) {
    if (why === undefined || !q.broken || q.brokenReason !== why || reasons.length !== 1 || reasons[0] !== why) {
      fail(`activate refused without recording the reason once (validate: ${why}, reasons: ${JSON.stringify(reasons)})`);
    }
    if (c.expected !== undefined) fail(`a well-formed ring was refused: ${why}`);
    if (device('pop', () => q.pop()) !== null) fail('a refused queue popped a chain');
    return { kind: 'refused', reason: why };
  }
  if (why !== undefined) fail(`activate accepted a configuration validate refused: ${why}`);
  // Independently of validate: the rings the device will touch are inside guest RAM.
  const inside =
    memory.contains(c.descTable, descTableSize(c.size)) && memory.contains(c.availRing, availRingSize(c.size)) && memory.contains(c.usedRing, usedRingSize(c.size));
  if (!inside || c.descTable % 16 !== 0 || !ringsOk()) fail('activate accepted rings outside guest RAM or unaligned');

  // Each chain with a copy taken at pop: the copy is what the exact-service
  // check compares, and (reuseChains) what the live object must still read
  // as at push.
  const held: { chain: DescriptorChain; copy: ChainCopy }[] = [];
  const popped: ChainCopy[] = [];
  const objectOf = new Map<number, DescriptorChain>();
  let usedIdx = c.start;
  for (const o of c.ops) {
    switch (o.op) {
      case 'avail':
        raw.setAvailEntry(o.slot % c.size, o.head);
        break;
      case 'publish':
        raw.setAvailIdx(o.idx);
        break;
      case 'desc':
        put(memory, c.descTable + DESC_SIZE * (o.index % c.size), o.desc);
        break;
      case 'availFlags':
        raw.setAvailFlags(o.value);
        break;
      case 'usedEvent':
        raw.setUsedEvent(o.value);
        break;
      case 'pop':
        for (let i = 0; i < o.n; i++) {
          const before = q.stats.descriptorsRead;
          const wasBroken = q.broken;
          const chain = device('pop', () => q.pop());
          const visits = q.stats.descriptorsRead - before;
          if (visits > c.size && visits > c.size + indirectBudget(raw, c)) {
            fail(`pop read ${visits} descriptors, more than its budget: ${c.size} of the ring and at most ${indirectBudget(raw, c)} of one indirect table`);
          }
          if (chain === null) {
            if (wasBroken && visits !== 0) fail('a broken queue read descriptors');
            break;
          }
          if (wasBroken) fail('a broken queue popped a chain');
          for (const h of held) {
            if (h.chain === chain) fail(`pop of head ${chain.head} returned the object of head ${h.copy.head}, still in flight`);
            if (!sameChain(h.chain, h.copy)) fail(`pop of head ${chain.head} changed chain ${h.copy.head}, still in flight`);
          }
          if (held.some((h) => h.copy.head === chain.head)) fail(`pop returned head ${chain.head}, which is still in flight`);
          checkChain(chain, q, memory);
          if (c.reuseChains) {
            const before = objectOf.get(chain.head);
            if (before !== undefined && before !== chain) fail(`reuseChains: head ${chain.head} came back as a new object`);
            objectOf.set(chain.head, chain);
          }
          const copy = copyOf(chain);
          held.push({ chain, copy });
          popped.push(copy);
        }
        break;
      case 'push': {
        if (held.length === 0) break;
        const [h] = held.splice(o.pick % held.length, 1);
        const chain = h!.chain;
        if (!sameChain(chain, h!.copy)) fail(`chain ${h!.copy.head} changed between its pop and its push`);
        const len = Math.floor(o.fill * chain.writableBytes);
        const wasBroken = q.broken;
        device('pushUsed', () => q.pushUsed(chain.head, len));
        if (!wasBroken) {
          const e = raw.usedElem(usedIdx & (c.size - 1));
          usedIdx = (usedIdx + 1) & 0xffff;
          if (e.id !== chain.head || e.len !== len || raw.usedIdx() !== usedIdx) fail(`pushUsed(${chain.head}, ${len}) wrote { ${e.id}, ${e.len} } / used.idx`);
        }
        break;
      }
      case 'notify':
        device('needsNotification', () => q.needsNotification());
        break;
      case 'disable':
        device('disableNotification', () => q.disableNotification());
        break;
      case 'enable':
        device('enableNotification', () => q.enableNotification());
        break;
    }
  }

  // Chains never pushed must still read as they did at pop, whatever came after.
  for (const h of held) if (!sameChain(h.chain, h.copy)) fail(`chain ${h.copy.head}, still in flight at the end, changed after its pop`);
  if (q.broken) {
    const reason = q.brokenReason;
    if (typeof reason !== 'string' || reason === '' || reasons.length !== 1 || reasons[0] !== reason) {
      fail(`broken without exactly one onBroken call carrying the reason (${JSON.stringify(reasons)}, ${String(reason)})`);
    }
    if (c.expected !== undefined) fail(`a well-formed ring broke the queue: ${reason}`);
    return { kind: 'broken', reason };
  }
  if (reasons.length !== 0) fail(`onBroken called on a queue that is not broken: ${JSON.stringify(reasons)}`);
  if (c.expected !== undefined) {
    const got = popped.map((p) => ({ head: p.head, readable: merged(p.readable), writable: merged(p.writable) }));
    const want = c.expected.map((e) => ({ head: e.head, readable: merged(e.readable), writable: merged(e.writable) }));
    if (JSON.stringify(got) !== JSON.stringify(want)) fail(`a well-formed ring was served wrongly: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
  return { kind: 'completed' };
}
