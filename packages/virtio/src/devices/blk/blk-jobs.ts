/**
 * The thread-pool job of the raw-file backend (QEMU block/file-posix.c's
 * handle_aiocb_rw / handle_aiocb_flush, run by util/thread-pool.c workers):
 * the transfer of blk-io.ts, straight between the image file and guest
 * memory, for a request described by a row of the I/O request table.
 *
 * Loaded by ThreadPool workers from built JavaScript; every export is a job.
 * The request's parameters are a row of the I/O request table (layout.ts),
 * whose index is the job's argument; the table and guest memory arrive once
 * per worker as the pool's workerData. Returns the bytes transferred, or a
 * negative errno — never throws for an I/O error.
 */
import { GuestMemory, type GuestMemoryHandle } from '../../queue/guest-memory.js';
import { blkTransfer } from './blk-io.js';
import { IO_ROW_COUNT, IO_ROW_FD, IO_ROW_OFFSET, IO_ROW_OP, IO_ROW_SEGMENTS } from './layout.js';

/** The pool's workerData for blk jobs. */
export interface BlkJobData {
  readonly memory: GuestMemoryHandle;
  /** The I/O request table: rows of float64 (layout.ts). */
  readonly table: SharedArrayBuffer;
  readonly rowLength: number;
}

/**
 * Guest memory and the table, opened once per job data: a pool worker sees
 * one (its workerData); tests may call blkIo with several.
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
/** Segments read from a table row (reused: no allocation per request). */
const scratch: { addr: number; len: number }[] = [];

/** Runs row `row` of the request table (blk-io.ts blkTransfer); returns bytes done or -errno. */
export function blkIo(row: number, wd: BlkJobData): number {
  const { memory, table: t } = open(wd);
  const base = row * wd.rowLength;
  const n = t[base + IO_ROW_COUNT]!;
  for (let i = 0; i < n; i++) {
    const s = (scratch[i] ??= { addr: 0, len: 0 });
    s.addr = t[base + IO_ROW_SEGMENTS + 2 * i]!;
    s.len = t[base + IO_ROW_SEGMENTS + 2 * i + 1]!;
  }
  return blkTransfer(memory, t[base + IO_ROW_OP]!, t[base + IO_ROW_FD]!, t[base + IO_ROW_OFFSET]!, scratch, n);
}
