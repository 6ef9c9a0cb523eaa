/**
 * A driver and a device over the same rings, for the queue tests: guest
 * RAM in two regions (data low, rings above 4 GiB), a DriverQueue that
 * initialised the rings, and a VirtQueue programmed with the same
 * addresses and activated, recording every onBroken call.
 */
import { thrownCode } from '@vmloop/test-kit';
import { GuestMemory, VirtioError, VirtQueue } from '@vmloop/virtio';
import { DriverQueue, type RawDescriptor, RawRing } from '@vmloop/virtio/testing';

/** Low region: request and reply buffers, indirect tables. */
export const DATA = 0;
export const DATA_SIZE = 1 << 20;
/** High region, above the 4 GiB hole: the rings. */
export const RINGS = 0x1_0000_0000;
export const RINGS_SIZE = 1 << 20;

export interface PairOptions {
  readonly size?: number;
  readonly maxSize?: number;
  readonly maxSegments?: number;
  /** Features the driver uses and, unless overridden below, the device negotiated. */
  readonly eventIdx?: boolean;
  readonly indirect?: boolean;
  readonly deviceEventIdx?: boolean;
  readonly deviceIndirect?: boolean;
  readonly startIndex?: number;
  readonly memory?: GuestMemory;
  /** Guest address of the rings (default RINGS). */
  readonly ringBase?: number;
  /** VirtQueueOptions.reuseChains. */
  readonly reuseChains?: boolean;
}

export interface Pair {
  readonly memory: GuestMemory;
  readonly driver: DriverQueue;
  readonly queue: VirtQueue;
  readonly raw: RawRing;
  /** Every reason onBroken was called with. */
  readonly broken: string[];
}

export function newMemory(): GuestMemory {
  return GuestMemory.create([
    { gpa: DATA, size: DATA_SIZE },
    { gpa: RINGS, size: RINGS_SIZE },
  ]);
}

export function makePair(o: PairOptions = {}): Pair {
  const size = o.size ?? 16;
  const memory = o.memory ?? newMemory();
  const base = o.ringBase ?? RINGS;
  const l = DriverQueue.layout(size);
  const at = { descTable: base + l.descTable.offset, availRing: base + l.availRing.offset, usedRing: base + l.usedRing.offset };
  const eventIdx = o.eventIdx ?? false;
  const indirect = o.indirect ?? false;
  const startIndex = o.startIndex ?? 0;
  const driver = new DriverQueue(memory, { size, ...at, eventIdx, indirect, startIndex });
  const broken: string[] = [];
  const queue = new VirtQueue(memory, {
    maxSize: o.maxSize ?? Math.max(size, 16),
    ...(o.maxSegments === undefined ? {} : { maxSegments: o.maxSegments }),
    onBroken: (r) => broken.push(r),
    ...(o.reuseChains === undefined ? {} : { reuseChains: o.reuseChains }),
  });
  queue.size = size;
  queue.descTable = at.descTable;
  queue.availRing = at.availRing;
  queue.usedRing = at.usedRing;
  queue.setFeatures({ eventIdx: o.deviceEventIdx ?? eventIdx, indirect: o.deviceIndirect ?? indirect });
  queue.nextAvail = startIndex;
  queue.nextUsed = startIndex;
  queue.ready = true;
  if (!queue.activate()) throw new Error(`test setup: activate failed: ${queue.brokenReason}`);
  return { memory, driver, queue, raw: new RawRing(memory, { size, ...at }), broken };
}

/**
 * Plays a hostile driver: writes `descs` into the table from index 0,
 * puts `heads` in the avail ring from the current index and publishes
 * them (avail.idx += heads.length).
 */
export function publishRaw(p: Pair, descs: readonly RawDescriptor[], heads: readonly number[]): void {
  descs.forEach((d, i) => {
    p.raw.writeDescriptor(i, d);
  });
  const idx = p.raw.availIdx();
  heads.forEach((h, i) => {
    p.raw.setAvailEntry((idx + i) % p.raw.size, h);
  });
  p.raw.setAvailIdx(idx + heads.length);
}

/** The code of the VirtioError `fn` throws, or undefined if it returns. */
export const codeOf = (fn: () => unknown): string | undefined => thrownCode(fn, VirtioError.isInstance);

/** A buffer in the data region: `n`-th 4 KiB slot. */
export const buf = (n: number, len = 64): { addr: number; len: number } => ({ addr: DATA + 0x1000 * n, len });
