/**
 * Everything virtio-blk keeps on one AioContext: the context's thread pool
 * (QEMU: one thread pool per AioContext), the I/O request table its workers
 * read, and the dataplanes of every device whose queues this context serves.
 * @thread home: the context's home thread
 */
import type { AioContext } from '@vmloop/aio';
import { canBlock } from '@vmloop/atomics';
import { ThreadPool } from '@vmloop/thread-pool';
import { VirtioError } from '../../errors.js';
import { GuestMemory, type GuestMemoryHandle } from '../../queue/guest-memory.js';
import { BlkDataplane, type BlkDisk, type BlkTracer } from './blk-dataplane.js';
import type { BlkJobData } from './blk-jobs.js';
import { IoRequestTable } from './io-request-table.js';

/** The blk job module, for the pool. */
export const BLK_JOBS_MODULE = new URL('./blk-jobs.js', import.meta.url);

/** Options of a host. */
export interface BlkHostOptions {
  /** Guest memory (all devices of a machine share it). */
  readonly memory: GuestMemoryHandle;
  /** Pool workers (default 2: these machines have two cores). */
  readonly poolMax?: number;
  /** I/O request table rows: requests in flight on this context at once (default 1024; more wait). */
  readonly rows?: number;
  /** Most segments per request (default 258: seg_max 254 of a 256-entry queue, plus header and status). */
  readonly maxSegments?: number;
  /** Worker spin budget before they sleep (default the pool's). */
  readonly poolSpins?: number;
  /** Completions a pool worker hands back together while more are queued (ThreadPoolOptions.completionBatch; default 1). */
  readonly completionBatch?: number;
  /**
   * Where reads, writes and flushes run: `'threads'` (default; QEMU
   * aio=threads) on the context's thread pool, so the context's thread
   * never blocks on the disk; `'inline'` on the context's thread itself,
   * one at a time — no hand-off to a worker and back, the fastest for an
   * image in the page cache, but a slow disk (or a FLUSH) stalls every
   * queue of the context meanwhile. QEMU's aio=native and io_uring avoid
   * the pool asynchronously; Node has no asynchronous file I/O that writes
   * into a SharedArrayBuffer, so this is the synchronous form.
   */
  readonly aio?: 'threads' | 'inline';
  readonly tracer?: BlkTracer;
}

/** What creating a dataplane needs (structured-cloneable: it crosses to I/O threads). */
export interface BlkDataplaneSpec {
  readonly disk: BlkDisk;
  readonly queues: readonly number[];
  readonly queueMaxSize: number;
}

export class BlkHost {
  readonly memory: GuestMemory;
  readonly pool: ThreadPool;
  readonly table: IoRequestTable;
  private readonly dataplanes = new Map<number, BlkDataplane>();
  /** I/O runs on the context's thread (aio 'inline'). */
  private readonly inline: boolean;
  private nextId = 0;

  constructor(
    readonly ctx: AioContext,
    private readonly options: BlkHostOptions,
  ) {
    this.memory = GuestMemory.open(options.memory);
    this.table = new IoRequestTable(options.rows ?? 1024, options.maxSegments ?? 258);
    const workerData: BlkJobData = { memory: options.memory, table: this.table.buffer, rowLength: this.table.rowLength };
    const aio = options.aio ?? 'threads';
    if (aio !== 'threads' && aio !== 'inline') throw new VirtioError('ERR_INVALID_ARGUMENT', `aio must be 'threads' or 'inline', got ${String(aio)}`);
    this.inline = aio === 'inline';
    this.pool = new ThreadPool(ctx, {
      jobs: BLK_JOBS_MODULE,
      min: 0,
      max: options.poolMax ?? 2,
      workerData,
      ...(options.poolSpins === undefined ? {} : { spins: options.poolSpins }),
      ...(options.completionBatch === undefined ? {} : { completionBatch: options.completionBatch }),
    });
  }

  /** A new dataplane; returns its id. */
  create(spec: BlkDataplaneSpec): number {
    const id = this.nextId++;
    this.dataplanes.set(
      id,
      new BlkDataplane({
        ctx: this.ctx,
        memory: this.memory,
        pool: this.pool,
        inline: this.inline,
        table: this.table,
        disk: spec.disk,
        queues: spec.queues,
        queueMaxSize: spec.queueMaxSize,
        maxSegments: this.table.maxSegments,
        ...(this.options.tracer === undefined ? {} : { tracer: this.options.tracer }),
      }),
    );
    return id;
  }

  get(id: number): BlkDataplane {
    const dp = this.dataplanes.get(id);
    if (dp === undefined) throw new VirtioError('ERR_INVALID_ARGUMENT', `no blk dataplane ${id} on this context`);
    return dp;
  }

  /**
   * Stops every dataplane (letting requests in flight complete), frees
   * them, and closes the pool. On a thread that may block (an IOThread's
   * teardown, after its loop ended) it polls the context itself until the
   * requests drained; on the main thread the context's Node-loop
   * attachment does.
   */
  async close(): Promise<void> {
    let pending = this.dataplanes.size;
    const drained = new Promise<void>((resolve) => {
      if (pending === 0) resolve();
      for (const dp of this.dataplanes.values()) dp.stop(() => --pending === 0 && resolve());
    });
    if (canBlock()) while (pending > 0) this.ctx.poll(true);
    await drained;
    for (const dp of this.dataplanes.values()) dp.destroy();
    this.dataplanes.clear();
    await this.pool.close();
  }
}
