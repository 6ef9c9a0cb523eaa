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
import type { GuestMemory, GuestRegion } from '../../queue/guest-memory.js';
import { IO_FLUSH, IO_READ, IO_WRITE, IO_WRITE_ZEROES } from './layout.js';

const EIO = 5;
const EFAULT = 14;
const ZEROES = new Uint8Array(1 << 16);
/** The (never filled) view list of a one-segment request. */
const NO_VIEWS: Uint8Array[] = [];

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
    // One data segment, the common case: pread(2)/pwrite(2) straight into
    // the guest RAM region, no view or iovec array per request; several go
    // through views and readv/writev.
    let region: GuestRegion | undefined;
    let at = 0;
    const views: Uint8Array[] = n === 1 ? NO_VIEWS : [];
    let total = 0;
    if (n === 1) {
      const addr = segs[0]!.addr;
      total = segs[0]!.len;
      const r = memory.regionIndex(addr, total);
      if (r < 0) return -EFAULT; // the dataplane checked it: a bug, not a guest error
      region = memory.regions[r]!;
      at = addr - region.gpa;
    } else {
      for (let i = 0; i < n; i++) {
        const v = memory.slice(segs[i]!.addr, segs[i]!.len);
        if (v === undefined) return -EFAULT; // the dataplane checked it: a bug, not a guest error
        views.push(v);
        total += v.length;
      }
    }
    let done = 0;
    while (done < total) {
      let k: number;
      if (op !== IO_READ && op !== IO_WRITE) k = -1;
      else if (region !== undefined) k = op === IO_READ ? readSync(fd, region.bytes, at + done, total - done, position + done) : writeSync(fd, region.bytes, at + done, total - done, position + done);
      else k = op === IO_READ ? readvSync(fd, pending(views, done), position + done) : writevSync(fd, pending(views, done), position + done);
      if (k < 0) return -EIO;
      if (k === 0) {
        // End of file on a read: the rest reads as zeroes (a sparse tail).
        if (op !== IO_READ) return -EIO;
        if (region !== undefined) region.bytes.fill(0, at + done, at + total);
        else for (const v of pending(views, done)) v.fill(0);
        break;
      }
      done += k;
    }
    return total;
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
