/**
 * fast-check arbitraries for FuzzCase. A case starts as a well-formed ring
 * (chains of random shapes, direct and indirect, published and served in a
 * random schedule), then, usually, gets mutations: descriptor fields set to
 * hostile values, indirect tables bent, avail.idx jumps, bogus ring
 * entries, rewritten descriptors mid-run, wrong sizes, misplaced rings,
 * features the driver did not get. Generation draws raw numbers and
 * `build` turns them into a case, so fast-check shrinks the raw numbers.
 */
import fc from 'fast-check';
import { DESC_SIZE, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '@vmloop/virtio';
import { DriverQueue } from '@vmloop/virtio/testing';
import { type ExpectedChain, type FuzzCase, type FuzzDescriptor, INTERESTING_ADDRESSES, INTERESTING_LENGTHS, LAYOUTS, type RingOp } from './ring-case.js';

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });

const segmentRaw = fc.record({ at: fc.nat(), len: fc.integer({ min: 1, max: 512 }), write: fc.boolean(), nearEnd: fc.boolean() });
const chainRaw = fc.record({ segments: fc.array(segmentRaw, { minLength: 1, maxLength: 4 }), indirect: fc.boolean() });

type Step = { kind: 'publish' | 'pop' | 'push' | 'notify' | 'disable' | 'enable' | 'usedEvent' | 'availFlags'; n: number; value: number };
const step: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom('publish', 'publish', 'pop', 'pop', 'push', 'push', 'notify', 'disable', 'enable', 'usedEvent', 'availFlags'),
  n: fc.integer({ min: 1, max: 6 }),
  value: u16,
});

const address = fc.oneof(fc.constantFrom(...INTERESTING_ADDRESSES), fc.maxSafeNat(), u32, fc.nat(0x1_0000));
const length = fc.oneof(fc.constantFrom(...INTERESTING_LENGTHS), u32);
const flags = fc.oneof(fc.integer({ min: 0, max: 7 }), u16);
const hostileDesc: fc.Arbitrary<FuzzDescriptor> = fc.record({ addr: address, len: length, flags, next: fc.oneof(fc.nat(8), u16) });

/** A change that (usually) makes the ring malformed. */
export type Mutation =
  | { readonly kind: 'descField'; readonly index: number; readonly field: 'addr' | 'len' | 'flags' | 'next'; readonly value: number }
  | { readonly kind: 'desc'; readonly index: number; readonly desc: FuzzDescriptor }
  | { readonly kind: 'tableField'; readonly table: number; readonly index: number; readonly field: 'addr' | 'len' | 'flags' | 'next'; readonly value: number }
  | { readonly kind: 'tableLength'; readonly table: number; readonly value: number }
  | { readonly kind: 'op'; readonly at: number; readonly op: RingOp }
  | { readonly kind: 'size'; readonly value: number }
  | { readonly kind: 'maxSize'; readonly value: number }
  | { readonly kind: 'maxSegments'; readonly value: number }
  | { readonly kind: 'ring'; readonly which: 'descTable' | 'availRing' | 'usedRing'; readonly delta: number; readonly absolute: number | undefined }
  | { readonly kind: 'features'; readonly eventIdx: boolean; readonly indirect: boolean };

const field = fc.constantFrom('addr' as const, 'len' as const, 'flags' as const, 'next' as const);
const fieldValue = fc.oneof(address, length, flags, u16);
const hostileOp: fc.Arbitrary<RingOp> = fc.oneof(
  fc.record({ op: fc.constant('publish' as const), idx: u16 }),
  fc.record({ op: fc.constant('avail' as const), slot: u16, head: fc.oneof(fc.nat(8), u16) }),
  fc.record({ op: fc.constant('desc' as const), index: fc.nat(300), desc: hostileDesc }),
  fc.record({ op: fc.constant('pop' as const), n: fc.integer({ min: 1, max: 4 }) }),
);
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('descField' as const), index: fc.nat(300), field, value: fieldValue }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('desc' as const), index: fc.nat(300), desc: hostileDesc }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('tableField' as const), table: fc.nat(), index: fc.nat(8), field, value: fieldValue }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tableLength' as const), table: fc.nat(), value: length }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('op' as const), at: fc.nat(), op: hostileOp }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('size' as const), value: fc.oneof(fc.constantFrom(0, 1, 3, 12, 64, 512, 1024, 32768, 65535), u16) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('maxSize' as const), value: fc.constantFrom(1, 2, 8, 64, 512) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('maxSegments' as const), value: fc.integer({ min: 1, max: 3 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('ring' as const),
      which: fc.constantFrom('descTable' as const, 'availRing' as const, 'usedRing' as const),
      delta: fc.integer({ min: -64, max: 0x1_0000 }),
      absolute: fc.option(address, { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('features' as const), eventIdx: fc.boolean(), indirect: fc.boolean() }) },
);

const caseRaw = fc.record({
  layout: fc.nat(LAYOUTS.length - 1),
  sizeLog: fc.nat(8),
  eventIdx: fc.boolean(),
  indirect: fc.boolean(),
  reuseChains: fc.boolean(),
  start: fc.oneof(fc.constant(0), fc.integer({ min: 0xfff0, max: 0xffff }), u16),
  ringSlot: fc.nat(),
  chains: fc.array(chainRaw, { maxLength: 12 }),
  steps: fc.array(step, { maxLength: 24 }),
  mutations: fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 4, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 4 }) }),
});

/** The raw draw a case is built from. */
export type CaseRaw = typeof caseRaw extends fc.Arbitrary<infer T> ? T : never;

const set = (d: FuzzDescriptor, f: 'addr' | 'len' | 'flags' | 'next', v: number): FuzzDescriptor => {
  const value = f === 'addr' ? v : f === 'len' ? v >>> 0 : v & 0xffff;
  return { ...d, [f]: value };
};

/** Turns a raw draw into a case: lay the well-formed ring out, schedule it, then apply the mutations. */
export function build(raw: CaseRaw): FuzzCase {
  const layout = LAYOUTS[raw.layout]!;
  const size = 1 << raw.sizeLog;
  const ringLayout = DriverQueue.layout(size);
  const slack = Math.floor((layout.rings[1] - layout.rings[0] - ringLayout.size) / DESC_SIZE);
  const base = layout.rings[0] + DESC_SIZE * (raw.ringSlot % (slack + 1));
  const [dataStart, dataEnd] = layout.data;
  const dataLen = dataEnd - dataStart;

  // The well-formed ring: one run of descriptors per chain, each chain's own.
  const table: FuzzDescriptor[] = [];
  const tables: Array<{ gpa: number; descs: FuzzDescriptor[] }> = [];
  const expected: ExpectedChain[] = [];
  let tableAt = layout.tables[0];
  for (const c of raw.chains) {
    const segs = [...c.segments].sort((a, b) => Number(a.write) - Number(b.write)); // §2.7.4.2: readable first
    const bufs = segs.map((s) => {
      const len = Math.min(s.len, dataLen);
      const addr = s.nearEnd ? dataEnd - len : dataStart + (s.at % (dataLen - len + 1));
      return { addr, len, write: s.write };
    });
    const indirect = c.indirect && raw.indirect && tableAt + DESC_SIZE * bufs.length <= layout.tables[1];
    const need = indirect ? 1 : bufs.length;
    if (table.length + need > size) break;
    const head = table.length;
    const linked = (i: number, next: number): FuzzDescriptor => ({
      addr: bufs[i]!.addr,
      len: bufs[i]!.len,
      flags: (bufs[i]!.write ? VIRTQ_DESC_F_WRITE : 0) | (i < bufs.length - 1 ? VIRTQ_DESC_F_NEXT : 0),
      next: i < bufs.length - 1 ? next : 0,
    });
    if (indirect) {
      tables.push({ gpa: tableAt, descs: bufs.map((_, i) => linked(i, i + 1)) });
      table.push({ addr: tableAt, len: DESC_SIZE * bufs.length, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
      tableAt += DESC_SIZE * bufs.length;
    } else {
      bufs.forEach((_, i) => {
        table.push(linked(i, head + i + 1));
      });
    }
    const seg = (b: { addr: number; len: number }) => ({ addr: b.addr, len: b.len });
    expected.push({ head, readable: bufs.filter((b) => !b.write).map(seg), writable: bufs.filter((b) => b.write).map(seg) });
  }

  // The schedule: publish chains in batches, the device pops, pushes and notifies in between.
  const ops: RingOp[] = [];
  let published = 0;
  let idx = raw.start;
  const publish = (n: number): void => {
    for (let k = 0; k < n && published < expected.length; k++) {
      ops.push({ op: 'avail', slot: idx & (size - 1), head: expected[published++]!.head });
      idx = (idx + 1) & 0xffff;
    }
    ops.push({ op: 'publish', idx });
  };
  for (const s of raw.steps) {
    switch (s.kind) {
      case 'publish':
        publish(s.n);
        break;
      case 'pop':
        ops.push({ op: 'pop', n: s.n });
        break;
      case 'push':
        ops.push({ op: 'push', pick: s.value, fill: (s.n - 1) / 5 });
        break;
      case 'usedEvent':
        ops.push({ op: 'usedEvent', value: s.value });
        break;
      case 'availFlags':
        ops.push({ op: 'availFlags', value: s.value & 1 });
        break;
      default:
        ops.push({ op: s.kind });
    }
  }
  publish(expected.length);
  ops.push({ op: 'pop', n: size + 1 });

  let c: {
    -readonly [K in keyof FuzzCase]: FuzzCase[K];
  } = {
    layout: raw.layout,
    size,
    maxSize: Math.max(size, 16),
    maxSegments: Math.max(size, 16),
    eventIdx: raw.eventIdx,
    indirect: raw.indirect,
    reuseChains: raw.reuseChains,
    descTable: base + ringLayout.descTable.offset,
    availRing: base + ringLayout.availRing.offset,
    usedRing: base + ringLayout.usedRing.offset,
    start: raw.start,
    table,
    tables,
    ops,
  };
  if (raw.mutations.length === 0) return { ...c, expected };
  for (const m of raw.mutations) c = mutate(c, m);
  return c;
}

function mutate(c: FuzzCase, m: Mutation): FuzzCase {
  switch (m.kind) {
    case 'descField': {
      const table = [...c.table];
      const i = m.index % Math.max(1, c.size);
      while (table.length <= i) table.push({ addr: 0, len: 0, flags: 0, next: 0 });
      table[i] = set(table[i]!, m.field, m.value);
      return { ...c, table };
    }
    case 'desc': {
      const table = [...c.table];
      const i = m.index % Math.max(1, c.size);
      while (table.length <= i) table.push({ addr: 0, len: 0, flags: 0, next: 0 });
      table[i] = m.desc;
      return { ...c, table };
    }
    case 'tableField': {
      if (c.tables.length === 0) return c;
      const t = m.table % c.tables.length;
      const tables = [...c.tables];
      const descs = [...tables[t]!.descs];
      const i = m.index % descs.length;
      descs[i] = set(descs[i]!, m.field, m.value);
      tables[t] = { gpa: tables[t]!.gpa, descs };
      return { ...c, tables };
    }
    case 'tableLength': {
      // Bend the INDIRECT descriptor that names a table.
      const heads = c.table.map((d, i) => [d, i] as const).filter(([d]) => (d.flags & VIRTQ_DESC_F_INDIRECT) !== 0);
      if (heads.length === 0) return c;
      const [d, i] = heads[m.table % heads.length]!;
      const table = [...c.table];
      table[i] = { ...d, len: m.value >>> 0 };
      return { ...c, table };
    }
    case 'op': {
      const ops = [...c.ops];
      ops.splice(m.at % (ops.length + 1), 0, m.op);
      return { ...c, ops };
    }
    case 'size':
      return { ...c, size: m.value };
    case 'maxSize':
      return { ...c, maxSize: m.value };
    case 'maxSegments':
      return { ...c, maxSegments: m.value };
    case 'ring': {
      const v = m.absolute ?? Math.max(0, c[m.which] + m.delta);
      return { ...c, [m.which]: v };
    }
    case 'features':
      return { ...c, eventIdx: m.eventIdx, indirect: m.indirect };
  }
}

/** A fuzz case: usually mutated, sometimes well-formed. */
export const fuzzCase: fc.Arbitrary<FuzzCase> = caseRaw.map(build);
