/**
 * The rows of the I/O request table (layout.ts) that one thread pool's
 * workers read: allocated and filled on the dataplane's thread, read by a
 * worker while the request runs, freed when its completion comes back.
 * @thread home: the dataplane's context thread (the rows themselves are read by pool workers)
 */
import { VirtioError } from '../../errors.js';
import { IO_ROW_COUNT, IO_ROW_FD, IO_ROW_OFFSET, IO_ROW_OP, IO_ROW_SEGMENTS, ioRowLength } from './layout.js';
import type { Segment } from '../../queue/descriptor-chain.js';

export class IoRequestTable {
  readonly buffer: SharedArrayBuffer;
  readonly rowLength: number;
  private readonly rows: Float64Array;
  private readonly free: number[] = [];

  constructor(
    readonly capacity: number,
    readonly maxSegments: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1 || !Number.isInteger(maxSegments) || maxSegments < 1) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', 'an I/O request table needs a positive capacity and segment limit');
    }
    this.rowLength = ioRowLength(maxSegments);
    this.buffer = new SharedArrayBuffer(capacity * this.rowLength * 8);
    this.rows = new Float64Array(this.buffer);
    for (let r = capacity - 1; r >= 0; r--) this.free.push(r);
  }

  /** Rows not in use. */
  get available(): number {
    return this.free.length;
  }

  /** Fills a free row with a request and returns its index, or -1 when every row is in flight. */
  fill(op: number, fd: number, offset: number, segments: readonly Segment[], zeroBytes = 0): number {
    if (segments.length > this.maxSegments) throw new VirtioError('ERR_INVALID_ARGUMENT', `${segments.length} segments exceed the table's ${this.maxSegments}`);
    const row = this.free.pop();
    if (row === undefined) return -1;
    const t = this.rows;
    const b = row * this.rowLength;
    t[b + IO_ROW_OP] = op;
    t[b + IO_ROW_FD] = fd;
    t[b + IO_ROW_OFFSET] = offset;
    if (zeroBytes > 0) {
      t[b + IO_ROW_COUNT] = 1;
      t[b + IO_ROW_SEGMENTS] = 0;
      t[b + IO_ROW_SEGMENTS + 1] = zeroBytes;
      return row;
    }
    t[b + IO_ROW_COUNT] = segments.length;
    for (let i = 0; i < segments.length; i++) {
      t[b + IO_ROW_SEGMENTS + 2 * i] = segments[i]!.addr;
      t[b + IO_ROW_SEGMENTS + 2 * i + 1] = segments[i]!.len;
    }
    return row;
  }

  /** Returns a row whose request completed. */
  release(row: number): void {
    this.free.push(row);
  }
}
