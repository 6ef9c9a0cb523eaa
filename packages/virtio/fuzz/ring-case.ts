/**
 * A fuzz case for the device side of the split ring: a serialisable union
 * of ring operations plus a descriptor table (the rust-vmm fuzz/common
 * shape). Plain data only, so a failing case prints as JSON and replays
 * as it is.
 */
import type { Segment } from '@vmloop/virtio';

/** A descriptor as the (hostile) driver writes it; `addr` is an integer below 2^64 (exact as a double). */
export interface FuzzDescriptor {
  readonly addr: number;
  readonly len: number;
  readonly flags: number;
  readonly next: number;
}

/** One step of the replay: the driver writes rings, the device runs. */
export type RingOp =
  /** avail.ring[slot] = head (plain write). */
  | { readonly op: 'avail'; readonly slot: number; readonly head: number }
  /** avail.idx = idx (atomic store): publishes, or jumps anywhere. */
  | { readonly op: 'publish'; readonly idx: number }
  /** Rewrites descriptor `index` of the table while the device runs. */
  | { readonly op: 'desc'; readonly index: number; readonly desc: FuzzDescriptor }
  /** avail.flags = value (atomic store). */
  | { readonly op: 'availFlags'; readonly value: number }
  /** used_event = value (atomic store). */
  | { readonly op: 'usedEvent'; readonly value: number }
  /** The device pops up to n chains. */
  | { readonly op: 'pop'; readonly n: number }
  /** The device completes one chain it holds (the `pick`-th, modulo), writing `fill` of its writable bytes. */
  | { readonly op: 'push'; readonly pick: number; readonly fill: number }
  | { readonly op: 'notify' }
  | { readonly op: 'disable' }
  | { readonly op: 'enable' };

/** A chain the driver made well-formed, as it must come out of pop (buffers before any region split). */
export interface ExpectedChain {
  readonly head: number;
  readonly readable: readonly Segment[];
  readonly writable: readonly Segment[];
}

export interface FuzzCase {
  /** Index into LAYOUTS. */
  readonly layout: number;
  /** Queue size the driver programs (any u16). */
  readonly size: number;
  /** The device's maximum (a power of two). */
  readonly maxSize: number;
  readonly maxSegments: number;
  /** Ring features the device negotiated. */
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  /** The device pops into each head's own chain object (VirtQueueOptions.reuseChains). */
  readonly reuseChains: boolean;
  readonly descTable: number;
  readonly availRing: number;
  readonly usedRing: number;
  /** avail.idx, used.idx, nextAvail and nextUsed start here. */
  readonly start: number;
  /** Written at descTable + 16·i (entries outside guest memory are skipped). */
  readonly table: readonly FuzzDescriptor[];
  /** Indirect tables, written at their gpa. */
  readonly tables: readonly { readonly gpa: number; readonly descs: readonly FuzzDescriptor[] }[];
  readonly ops: readonly RingOp[];
  /** Present when no mutation was applied: the queue must serve exactly these, in order, and not break. */
  readonly expected?: readonly ExpectedChain[];
}

/** A guest-memory shape and where a well-formed driver puts things in it. */
export interface MemoryLayout {
  readonly name: string;
  readonly regions: readonly { readonly gpa: number; readonly size: number }[];
  /** [start, end): rings (inside one region). */
  readonly rings: readonly [number, number];
  /** [start, end): buffers (may cross between adjacent regions). */
  readonly data: readonly [number, number];
  /** [start, end): indirect tables (inside one region). */
  readonly tables: readonly [number, number];
}

const G4 = 2 ** 32;
const TOP = 2 ** 53 - 0x1_0000;

export const LAYOUTS: readonly MemoryLayout[] = [
  { name: 'one region', regions: [{ gpa: 0, size: 0x1_0000 }], rings: [0x8000, 0x1_0000], data: [0, 0x7000], tables: [0x7000, 0x8000] },
  {
    name: 'low and above 4 GiB',
    regions: [
      { gpa: 0, size: 0x8000 },
      { gpa: G4, size: 0x8000 },
    ],
    rings: [G4, G4 + 0x8000],
    data: [0, 0x7000],
    tables: [0x7000, 0x8000],
  },
  {
    name: 'two adjacent regions',
    regions: [
      { gpa: 0, size: 0x4000 },
      { gpa: 0x4000, size: 0x4000 },
    ],
    rings: [0x6000, 0x8000],
    data: [0, 0x5000],
    tables: [0x5000, 0x6000],
  },
  { name: 'top of the address space', regions: [{ gpa: TOP, size: 0x1_0000 }], rings: [TOP + 0x8000, TOP + 0x1_0000], data: [TOP, TOP + 0x7000], tables: [TOP + 0x7000, TOP + 0x8000] },
];

/** Addresses a hostile driver likes: region edges, the hole, 4 GiB, 2^53, near 2^64. */
export const INTERESTING_ADDRESSES: readonly number[] = [
  ...new Set(
    LAYOUTS.flatMap((l) => l.regions.flatMap((r) => [r.gpa, r.gpa + 1, r.gpa + r.size - 16, r.gpa + r.size - 1, r.gpa + r.size, r.gpa + r.size + 16])).concat([
      G4 - 16,
      G4,
      2 ** 53 - 16,
      2 ** 53,
      2 ** 63,
      2 ** 64 - 2048,
    ]),
  ),
];

/** Lengths a hostile driver likes. */
export const INTERESTING_LENGTHS: readonly number[] = [0, 1, 15, 16, 17, 24, 0x1000, 2 ** 31, 2 ** 32 - 16, 2 ** 32 - 1];

/** A broken-queue reason with its numbers replaced by `#`, for counting outcomes by kind (the spec citation is kept). */
export function reasonKind(reason: string): string {
  const cite = reason.search(/ \((§|QEMU)/);
  const body = cite < 0 ? reason : reason.slice(0, cite);
  const tail = cite < 0 ? '' : reason.slice(cite);
  return body.replace(/\[[^\]]*\)/g, '[#)').replace(/(?<!\^)\b(0x[0-9a-f]+|\d+)\b(?!\^)/g, '#') + tail;
}
