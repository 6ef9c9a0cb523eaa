/**
 * The raw-file backend's transfer (QEMU block/file-posix.c
 * handle_aiocb_rw / handle_aiocb_flush): reads and writes go straight
 * between the image file and guest memory — `fs.readSync` into the guest
 * RAM region for one segment, `fs.readvSync` / `fs.writevSync` on views of
 * it for several, no copies — and FLUSH is `fdatasync`. Run by the pool's
 * job (blk-jobs.ts, from a row of the I/O request table) and, for
 * `aio: 'inline'`, by the dataplane itself with the request's segments.
 * Returns the bytes transferred, or a negative errno — never throws for an
 * I/O error.
 * @thread any (the caller's; guest memory and the fd are process-wide)
 */
import { fdatasyncSync, readSync, readvSync, writeSync, writevSync } from 'node:fs';
import type { Segment } from '../../queue/descriptor-chain.js';
import type { GuestMemory } from '../../queue/guest-memory.js';
import { IO_FLUSH, IO_READ, IO_WRITE, IO_WRITE_ZEROES } from './layout.js';

const EIO = 5;
const EFAULT = 14;
const ZEROES = new Uint8Array(1 << 16);

function errno(e: unknown): number {
  const n = (e as { errno?: unknown }).errno;
  return -(typeof n === 'number' ? Math.abs(n) : EIO);
}

/**
 * Runs one request: `op` (IO_READ, IO_WRITE, IO_FLUSH, IO_WRITE_ZEROES) on
 * `fd` at byte `position`, with the first `n` of `segs` as its data
 * (WRITE_ZEROES: `segs[0].len` is the byte count). Returns bytes done or
 * -errno.
 */
export function blkTransfer(memory: GuestMemory, op: number, fd: number, position: number, segs: readonly Segment[], n: number): number {
  try {
    if (op === IO_FLUSH) {
      fdatasyncSync(fd);
      return 0;
    }
    if (op === IO_WRITE_ZEROES) {
      let left = segs[0]!.len;
      let at = position;
      while (left > 0) {
        const chunk = Math.min(left, ZEROES.length);
        const w = writevSync(fd, [ZEROES.subarray(0, chunk)], at);
        at += w;
        left -= w;
      }
      return 0;
    }
    if (op !== IO_READ && op !== IO_WRITE) return -EIO;
    // One data segment, the common case: pread(2)/pwrite(2) straight into
    // the guest RAM region, no view or iovec array per request; several go
    // through views and readv/writev.
    if (n === 1) {
      const addr = segs[0]!.addr;
      const len = segs[0]!.len;
      const r = memory.regionIndex(addr, len);
      if (r < 0) return -EFAULT; // the dataplane checked it: a bug, not a guest error
      const region = memory.regions[r]!;
      return op === IO_READ ? preadRegion(fd, region.bytes, addr - region.gpa, len, position) : pwriteRegion(fd, region.bytes, addr - region.gpa, len, position);
    }
    const views: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < n; i++) {
      const v = memory.slice(segs[i]!.addr, segs[i]!.len);
      if (v === undefined) return -EFAULT; // the dataplane checked it: a bug, not a guest error
      views.push(v);
      total += v.length;
    }
    let done = 0;
    while (done < total) {
      const k = op === IO_READ ? readvSync(fd, pending(views, done), position + done) : writevSync(fd, pending(views, done), position + done);
      if (k === 0) {
        // End of file on a read: the rest reads as zeroes (a sparse tail).
        if (op !== IO_READ) return -EIO;
        for (const v of pending(views, done)) v.fill(0);
        break;
      }
      done += k;
    }
    return total;
  } catch (e) {
    return errno(e);
  }
}

/**
 * pread(2) of `len` bytes at file byte `position` into `bytes[at, at +
 * len)` — a guest RAM region's bytes — until done (QEMU
 * handle_aiocb_rw_linear). End of file reads as zeroes (a sparse tail).
 * Returns `len`, or -errno; never throws. The inline dataplane calls it
 * for each one-segment read of a batch, with the arguments it worked out
 * while popping, so nothing but this runs between two preads.
 */
export function preadRegion(fd: number, bytes: Uint8Array, at: number, len: number, position: number): number {
  try {
    let done = 0;
    while (done < len) {
      const k = readSync(fd, bytes, at + done, len - done, position + done);
      if (k === 0) {
        bytes.fill(0, at + done, at + len);
        break;
      }
      done += k;
    }
    return len;
  } catch (e) {
    return errno(e);
  }
}

/** pwrite(2) of `bytes[at, at + len)` at file byte `position` until done; -EIO if the file takes nothing, -errno on error. Never throws. */
function pwriteRegion(fd: number, bytes: Uint8Array, at: number, len: number, position: number): number {
  try {
    let done = 0;
    while (done < len) {
      const k = writeSync(fd, bytes, at + done, len - done, position + done);
      if (k === 0) return -EIO;
      done += k;
    }
    return len;
  } catch (e) {
    return errno(e);
  }
}

/** The views from byte `done` on (after a short transfer). */
function pending(views: Uint8Array[], done: number): Uint8Array[] {
  if (done === 0) return views;
  const out: Uint8Array[] = [];
  let skip = done;
  for (const v of views) {
    if (skip >= v.length) {
      skip -= v.length;
      continue;
    }
    out.push(skip === 0 ? v : v.subarray(skip));
    skip = 0;
  }
  return out;
}
