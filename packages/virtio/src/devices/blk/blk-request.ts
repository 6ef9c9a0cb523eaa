/**
 * Turning a descriptor chain into a virtio-blk request (QEMU
 * virtio_blk_handle_request): the header is gathered from the device-readable
 * segments (it may be split across them, VIRTIO_F_ANY_LAYOUT), the status
 * byte is the last device-writable byte, and the data is what lies between.
 *
 * Malformed framing — a header shorter than 16 bytes, no device-writable byte
 * for the status — breaks the device, as in QEMU ("virtio-blk missing
 * headers", "outhdr too short"). A well-framed request that cannot be served
 * (bad length, sectors beyond the capacity, an unknown type, a write to a
 * read-only disk) completes with an error status instead.
 */
import type { DescriptorChain, Segment } from '../../queue/descriptor-chain.js';
import type { GuestMemory } from '../../queue/guest-memory.js';
import {
  BLK_HEADER_SIZE,
  DWZ_SEGMENT_SIZE,
  MAX_DWZ_SECTORS,
  SECTOR_SHIFT,
  SECTOR_SIZE,
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_DISCARD,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VIRTIO_BLK_T_WRITE_ZEROES,
  VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
} from './layout.js';

/** A request ready to run. */
export interface BlkRequest {
  readonly kind: 'io';
  readonly type: number;
  /** First sector (IN/OUT), or of the one DISCARD/WRITE_ZEROES range. */
  readonly sector: number;
  /** Sectors a DISCARD/WRITE_ZEROES range covers; IN/OUT: data bytes / 512. */
  readonly sectors: number;
  /** Data segments (device-writable for IN and GET_ID, device-readable for OUT). */
  readonly data: readonly Segment[];
  readonly dataBytes: number;
  /** Guest address of the status byte. */
  readonly status: number;
}

/** A request that completes at once with a status (nothing to run). */
export interface BlkImmediate {
  readonly kind: 'status';
  readonly statusCode: number;
  readonly status: number;
  readonly why: string;
}

/** Framing the device cannot accept: the device breaks. */
export interface BlkMalformed {
  readonly kind: 'malformed';
  readonly reason: string;
}

export type ParsedRequest = BlkRequest | BlkImmediate | BlkMalformed;

/** What the parser needs to know about the disk. */
export interface BlkLimits {
  readonly capacitySectors: number;
  readonly readOnly: boolean;
}

const header = new Uint8Array(BLK_HEADER_SIZE);
const headerView = new DataView(header.buffer);
const dwz = new Uint8Array(DWZ_SEGMENT_SIZE);
const dwzView = new DataView(dwz.buffer);

/** Copies the first `dst.length` bytes of `segs` into `dst` (from guest memory, once). */
function gather(memory: GuestMemory, segs: readonly Segment[], skip: number, dst: Uint8Array): boolean {
  let off = 0;
  let toSkip = skip;
  for (const s of segs) {
    if (off === dst.length) break;
    if (toSkip >= s.len) {
      toSkip -= s.len;
      continue;
    }
    const n = Math.min(s.len - toSkip, dst.length - off);
    const view = memory.slice(s.addr + toSkip, n);
    if (view === undefined) return false;
    dst.set(view, off);
    off += n;
    toSkip = 0;
  }
  return off === dst.length;
}

/**
 * The segments of `segs` from byte `from` for `len` bytes. A segment taken
 * whole is the chain's own object (it lives as long as the chain, also
 * with reuseChains): the usual read, data then a 1-byte status, allocates
 * only the array.
 */
function cut(segs: readonly Segment[], from: number, len: number): Segment[] {
  const out: Segment[] = [];
  let skip = from;
  let left = len;
  for (const s of segs) {
    if (left === 0) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const n = Math.min(s.len - skip, left);
    out.push(skip === 0 && n === s.len ? s : { addr: s.addr + skip, len: n });
    left -= n;
    skip = 0;
  }
  return out;
}

/** u64 from two u32 halves; anything ≥ 2^53 becomes Infinity (beyond every disk). */
function u64(view: DataView, at: number): number {
  const lo = view.getUint32(at, true);
  const hi = view.getUint32(at + 4, true);
  return hi >= 0x200000 ? Number.POSITIVE_INFINITY : hi * 2 ** 32 + lo;
}

const immediateAt = (status: number, statusCode: number, why: string): BlkImmediate => ({ kind: 'status', statusCode, status, why });

/** A BlkRequest parseBlkRequest refills in place (its `own` argument). */
type OwnRequest = { -readonly [K in keyof BlkRequest]: BlkRequest[K] };

/**
 * Parses `chain` (QEMU virtio_blk_handle_request's checks, in its order).
 *
 * `own`: the caller's request objects by head, for chains from a queue
 * with `reuseChains`. A read or write then refills the head's object
 * rather than allocating one (and keeps its one-segment data array when
 * the chain's segments are the same objects); it lives as long as the
 * chain, until the head is made available again. Other results are new
 * objects.
 */
export function parseBlkRequest(chain: DescriptorChain, memory: GuestMemory, limits: BlkLimits, own?: (BlkRequest | undefined)[]): ParsedRequest {
  if (chain.writable.length === 0 || chain.readable.length === 0) return { kind: 'malformed', reason: 'virtio-blk missing headers (5.2.6: header readable, status writable)' };
  if (chain.readableBytes < BLK_HEADER_SIZE) {
    return { kind: 'malformed', reason: `virtio-blk request outhdr too short (${chain.readableBytes} device-readable bytes, need ${BLK_HEADER_SIZE})` };
  }
  // The header, read once: from its region's DataView when the first
  // segment holds all of it (the common layout), else gathered across
  // segments (VIRTIO_F_ANY_LAYOUT). Segments were checked at pop.
  let type: number;
  let sector: number;
  const seg0 = chain.readable[0]!;
  const r0 = seg0.len >= BLK_HEADER_SIZE ? memory.regionIndex(seg0.addr, BLK_HEADER_SIZE) : -1;
  if (r0 >= 0) {
    const region = memory.regions[r0]!;
    const at = seg0.addr - region.gpa;
    type = region.view.getUint32(at, true);
    sector = u64(region.view, at + 8);
  } else {
    if (!gather(memory, chain.readable, 0, header)) return { kind: 'malformed', reason: 'virtio-blk request header outside guest memory' };
    type = headerView.getUint32(0, true);
    sector = u64(headerView, 8);
  }
  const last = chain.writable[chain.writable.length - 1]!;
  const status = last.addr + last.len - 1;
  const prev = own?.[chain.head] as OwnRequest | undefined;
  // The usual read's data: the first of two writable segments, the second
  // the status byte; the same segment object as last time keeps the array.
  const w = chain.writable;
  const writableData = prev !== undefined && w.length === 2 && w[1]!.len === 1 && prev.data.length === 1 && prev.data[0] === w[0] ? prev.data : cut(w, 0, chain.writableBytes - 1);

  switch (type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: {
      const data = type === VIRTIO_BLK_T_IN ? writableData : cut(chain.readable, BLK_HEADER_SIZE, chain.readableBytes - BLK_HEADER_SIZE);
      const bytes = type === VIRTIO_BLK_T_IN ? chain.writableBytes - 1 : chain.readableBytes - BLK_HEADER_SIZE;
      if (type === VIRTIO_BLK_T_OUT && limits.readOnly) return immediateAt(status, VIRTIO_BLK_S_IOERR, 'write to a read-only disk');
      // QEMU virtio_blk_sect_range_ok: whole sectors, inside the disk.
      if (bytes % SECTOR_SIZE !== 0) return immediateAt(status, VIRTIO_BLK_S_IOERR, `data length ${bytes} is not a multiple of ${SECTOR_SIZE}`);
      const sectors = bytes >>> SECTOR_SHIFT;
      if (!(sector + sectors <= limits.capacitySectors)) return immediateAt(status, VIRTIO_BLK_S_IOERR, `sectors [${sector}, +${sectors}) beyond the capacity ${limits.capacitySectors}`);
      if (own === undefined) return { kind: 'io', type, sector, sectors, data, dataBytes: bytes, status };
      if (prev === undefined) {
        const fresh: BlkRequest = { kind: 'io', type, sector, sectors, data, dataBytes: bytes, status };
        own[chain.head] = fresh;
        return fresh;
      }
      prev.type = type;
      prev.sector = sector;
      prev.sectors = sectors;
      prev.data = data;
      prev.dataBytes = bytes;
      prev.status = status;
      return prev;
    }
    case VIRTIO_BLK_T_FLUSH:
      return { kind: 'io', type, sector: 0, sectors: 0, data: [], dataBytes: 0, status };
    case VIRTIO_BLK_T_GET_ID:
      return { kind: 'io', type, sector: 0, sectors: 0, data: writableData, dataBytes: chain.writableBytes - 1, status };
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES: {
      // 5.2.6.2: one struct virtio_blk_discard_write_zeroes (max_*_seg = 1).
      const bytes = chain.readableBytes - BLK_HEADER_SIZE;
      if (limits.readOnly) return immediateAt(status, VIRTIO_BLK_S_IOERR, 'discard or write-zeroes on a read-only disk');
      if (bytes !== DWZ_SEGMENT_SIZE) return immediateAt(status, VIRTIO_BLK_S_UNSUPP, `${bytes} bytes of ranges; exactly one 16-byte range is supported`);
      if (!gather(memory, chain.readable, BLK_HEADER_SIZE, dwz)) return immediateAt(status, VIRTIO_BLK_S_IOERR, 'range outside guest memory');
      const first = u64(dwzView, 0);
      const count = dwzView.getUint32(8, true);
      const flags = dwzView.getUint32(12, true);
      const allowed = type === VIRTIO_BLK_T_WRITE_ZEROES ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;
      if ((flags & ~allowed) !== 0) return immediateAt(status, VIRTIO_BLK_S_UNSUPP, `unknown range flags 0x${flags.toString(16)}`);
      if (count > MAX_DWZ_SECTORS) return immediateAt(status, VIRTIO_BLK_S_IOERR, `range of ${count} sectors exceeds the limit ${MAX_DWZ_SECTORS}`);
      if (!(first + count <= limits.capacitySectors)) return immediateAt(status, VIRTIO_BLK_S_IOERR, `sectors [${first}, +${count}) beyond the capacity ${limits.capacitySectors}`);
      return { kind: 'io', type, sector: first, sectors: count, data: [], dataBytes: 0, status };
    }
    default:
      return immediateAt(status, VIRTIO_BLK_S_UNSUPP, `request type ${type} is not supported`);
  }
}
