/**
 * The thread-pool job of the raw-file backend (QEMU block/file-posix.c's
 * handle_aiocb_rw / handle_aiocb_flush, run by util/thread-pool.c workers):
 * reads and writes go straight between the image file and guest memory —
 * `fs.readvSync` / `fs.writevSync` on views of the guest RAM
 * SharedArrayBuffers, no copies — and FLUSH is `fdatasync`.
 *
 * Loaded by ThreadPool workers from built JavaScript; every export is a job.
 * The request's parameters are a row of the I/O request table (layout.ts),
 * whose index is the job's argument; the table and guest memory arrive once
 * per worker as the pool's workerData. Returns the bytes transferred, or a
 * negative errno — never throws for an I/O error.
 */
import { fdatasyncSync, readSync, readvSync, writeSync, writevSync } from 'node:fs';
import { GuestMemory, type GuestMemoryHandle, type GuestRegion } from '../../queue/guest-memory.js';
import {
  IO_FLUSH,
  IO_READ,
  IO_ROW_COUNT,
  IO_ROW_FD,
  IO_ROW_OFFSET,
  IO_ROW_OP,
  IO_ROW_SEGMENTS,
  IO_WRITE,
  IO_WRITE_ZEROES,
} from './layout.js';

/** The pool's workerData for blk jobs. */
export interface BlkJobData {
  readonly memory: GuestMemoryHandle;
  /** The I/O request table: rows of float64 (layout.ts). */
  readonly table: SharedArrayBuffer;
  readonly rowLength: number;
}

/**
 * Guest memory and the table, opened once per job data: a pool worker sees
 * one (its workerData), a context running I/O inline (aio 'inline') one
 * per host, and a process may have several hosts.
 */
const opened = new WeakMap<BlkJobData, { readonly memory: GuestMemory; readonly table: Float64Array }>();
/** The last job data opened and what it opened to: one comparison per request instead of a WeakMap lookup. */
let lastData: BlkJobData | undefined;
let lastOpened: { readonly memory: GuestMemory; readonly table: Float64Array } | undefined;
function open(wd: BlkJobData): { readonly memory: GuestMemory; readonly table: Float64Array } {
  if (wd === lastData) return lastOpened!;
  let o = opened.get(wd);
  if (o === undefined) {
    o = { memory: GuestMemory.open(wd.memory), table: new Float64Array(wd.table) };
    opened.set(wd, o);
  }
  lastData = wd;
  lastOpened = o;
  return o;
}
const EIO = 5;
const EFAULT = 14;
const ZEROES = new Uint8Array(1 << 16);
/** The (never filled) view list of a one-segment request. */
const NO_VIEWS: Uint8Array[] = [];

function errno(e: unknown): number {
  const n = (e as { errno?: unknown }).errno;
  return -(typeof n === 'number' ? Math.abs(n) : EIO);
}

/** Runs row `row` of the request table; returns bytes done or -errno. */
export function blkIo(row: number, wd: BlkJobData): number {
  const { memory, table: t } = open(wd);
  const base = row * wd.rowLength;
  const op = t[base + IO_ROW_OP];
  const fd = t[base + IO_ROW_FD]!;
  let position = t[base + IO_ROW_OFFSET]!;
  const n = t[base + IO_ROW_COUNT]!;
  try {
    if (op === IO_FLUSH) {
      fdatasyncSync(fd);
      return 0;
    }
    if (op === IO_WRITE_ZEROES) {
      let left = t[base + IO_ROW_SEGMENTS + 1]!;
      while (left > 0) {
        const chunk = Math.min(left, ZEROES.length);
        const w = writevSync(fd, [ZEROES.subarray(0, chunk)], position);
        position += w;
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
      const addr = t[base + IO_ROW_SEGMENTS]!;
      total = t[base + IO_ROW_SEGMENTS + 1]!;
      const r = memory.regionIndex(addr, total);
      if (r < 0) return -EFAULT; // the dataplane checked it: a bug, not a guest error
      region = memory.regions[r]!;
      at = addr - region.gpa;
    } else {
      for (let i = 0; i < n; i++) {
        const v = memory.slice(t[base + IO_ROW_SEGMENTS + 2 * i]!, t[base + IO_ROW_SEGMENTS + 2 * i + 1]!);
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
