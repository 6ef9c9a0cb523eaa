import { type TransferListItem, Worker } from 'node:worker_threads';
import { workerExecArgv } from '@vmloop/atomics';
import type { BottomHalfHandle } from './bottom-half.js';
import { AioError } from './errors.js';
import { IOTHREAD_POLL_MAX_NS, type PollParams } from './poll-params.js';
import { AioContextRemote, RemoteBottomHalf, type AioContextHandle } from './remote.js';
import type { AioStats } from './stats.js';
import type { ClocksHandle } from '@vmloop/timers';

/** Options of {@link IOThread.start}. */
export interface IOThreadOptions {
  /** The thread's name (QEMU: the iothread object id). */
  readonly name?: string;
  /** Adaptive polling of its context (default QEMU's: maxNs 32768, grow 0, shrink 0). */
  readonly poll?: Partial<PollParams>;
  /**
   * A module the thread loads before its loop starts. Its default export is
   * called as `setup(ctx, data)` on the IOThread; what it returns (or
   * resolves to), structured-cloned, becomes `iothread.exports` — e.g. BH
   * handles for other threads. An optional `teardown(ctx)` export runs
   * when the thread stops, before its context is destroyed.
   */
  readonly module?: string | URL;
  /** Passed to the module's setup. Must be structured-cloneable, except for what `transferList` moves. */
  readonly data?: unknown;
  /** Objects inside `data` to move rather than clone: MessagePorts (a channel to the module), ArrayBuffers. */
  readonly transferList?: readonly TransferListItem[];
  /** Bottom-half slots of its context. */
  readonly maxBottomHalves?: number;
  /** Notifier slots of its context. */
  readonly maxNotifiers?: number;
  /** Clocks to share with the thread (`clocks.handle`), e.g. the VM's, so its VIRTUAL timers follow the VM. */
  readonly clocks?: ClocksHandle;
}

/** What `query()` returns (QEMU query-iothreads). */
export interface IOThreadInfo {
  readonly name: string;
  /** Node's id of the worker (`worker.threadId`). */
  readonly threadId: number;
  /** The kernel's id of the thread (Linux TID; QEMU's `thread-id`, for `taskset -p`), or null where unknown (`osThreadId` of @vmloop/atomics). */
  readonly osThreadId: number | null;
  readonly poll: PollParams;
  readonly stats: AioStats;
}

/** @internal Messages from the IOThread worker. */
export type IOThreadMessage =
  | { type: 'ready'; ctx: AioContextHandle; stop: BottomHalfHandle; query: BottomHalfHandle; exports: unknown; osThreadId: number | null }
  | { type: 'query'; info: IOThreadInfo }
  | { type: 'stopped'; stats: AioStats }
  | { type: 'failed'; error: { name: string; message: string; stack?: string; code?: string } };

const entry = new URL('./iothread-worker.js', import.meta.url);

function revive(e: { name: string; message: string; stack?: string; code?: string }): AioError {
  const cause = Object.assign(new Error(e.message), { name: e.name, stack: e.stack, code: e.code });
  return new AioError('ERR_IOTHREAD', `iothread failed: ${e.name}: ${e.message}`, { cause });
}

/**
 * A worker thread whose loop runs an AioContext (QEMU's IOThread object,
 * iothread.c): `while (running) aio_poll(ctx, true)`. Devices are handed to
 * it with a user module; other threads reach its context through
 * `context` (notify, kick) and the BH handles the module exports.
 *
 * ```ts
 * const io = await IOThread.start({ name: 'io0', module: new URL('./device.js', import.meta.url) });
 * RemoteBottomHalf.open(io.exports.kickBh).schedule();
 * console.log(await io.query());
 * await io.stop();
 * ```
 * @thread the thread that started it (the object); the loop runs in its worker
 */
export class IOThread {
  private readonly waiters: Array<(info: IOThreadInfo) => void> = [];
  private failure: AioError | undefined;
  private readonly exited: Promise<number>;
  private stopping: Promise<AioStats> | undefined;
  private stoppedStats: ((s: AioStats) => void) | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly name: string,
    /** The thread's context, as seen from here. */
    readonly context: AioContextRemote,
    private readonly stopBh: RemoteBottomHalf,
    private readonly queryBh: RemoteBottomHalf,
    /** What the module's setup returned. */
    readonly exports: unknown,
    /** The kernel's id of the thread (as in {@link IOThreadInfo.osThreadId}), known from its start: no query needed to pin it. */
    readonly osThreadId: number | null,
  ) {
    this.exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.on('message', (m: IOThreadMessage) => {
      if (m.type === 'query') for (const w of this.waiters.splice(0)) w(m.info);
      else if (m.type === 'stopped') this.stoppedStats?.(m.stats);
      else if (m.type === 'failed') this.failure = revive(m.error);
    });
    worker.on('error', (e) => {
      this.failure = new AioError('ERR_IOTHREAD', `iothread "${name}" crashed: ${e.message}`, { cause: e });
    });
  }

  /**
   * Starts the thread, loads the module, and resolves once its loop runs.
   * Rejects with ERR_IOTHREAD if the worker or the module's setup fails.
   * @thread any
   */
  static async start(options: IOThreadOptions = {}): Promise<IOThread> {
    const name = options.name ?? 'iothread';
    const poll = { maxNs: IOTHREAD_POLL_MAX_NS, grow: 0, shrink: 0, ...options.poll };
    const worker = new Worker(entry, {
      name,
      execArgv: workerExecArgv(),
      workerData: {
        name,
        poll,
        module: options.module === undefined ? undefined : String(options.module),
        data: options.data,
        maxBottomHalves: options.maxBottomHalves,
        maxNotifiers: options.maxNotifiers,
        clocks: options.clocks,
      },
      ...(options.transferList === undefined ? {} : { transferList: [...options.transferList] }),
    });
    const ready = await new Promise<Extract<IOThreadMessage, { type: 'ready' }>>((resolve, reject) => {
      const onMessage = (m: IOThreadMessage): void => {
        if (m.type === 'ready') resolve(m);
        else if (m.type === 'failed') reject(revive(m.error));
      };
      worker.on('message', onMessage);
      worker.once('error', (e) => reject(new AioError('ERR_IOTHREAD', `iothread "${name}" failed to start: ${e.message}`, { cause: e })));
      worker.once('exit', (code) => reject(new AioError('ERR_IOTHREAD', `iothread "${name}" exited with code ${code} while starting`)));
    }).catch(async (e: unknown) => {
      await worker.terminate();
      throw e;
    });
    worker.removeAllListeners('message');
    worker.removeAllListeners('error');
    worker.removeAllListeners('exit');
    return new IOThread(
      worker,
      name,
      AioContextRemote.open(ready.ctx),
      RemoteBottomHalf.open(ready.stop),
      RemoteBottomHalf.open(ready.query),
      ready.exports,
      ready.osThreadId,
    );
  }

  /** The worker's thread id. */
  get threadId(): number {
    return this.worker.threadId;
  }

  /**
   * Parameters and counters of the thread's context, read on the thread
   * between two polls (QEMU query-iothreads).
   */
  query(): Promise<IOThreadInfo> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.stopping) return Promise.reject(new AioError('ERR_IOTHREAD', `iothread "${this.name}" is stopping`));
    const p = new Promise<IOThreadInfo>((resolve, reject) => {
      this.waiters.push(resolve);
      this.exited.then(() => reject(this.failure ?? new AioError('ERR_IOTHREAD', `iothread "${this.name}" exited`)));
    });
    this.queryBh.schedule();
    return p;
  }

  /**
   * Stops the loop and joins the thread (QEMU iothread_stop + join): the
   * module's teardown runs, the context is destroyed, the worker exits.
   * Resolves with the final counters; rejects with ERR_IOTHREAD if the
   * thread failed or its teardown leaked bottom halves. Idempotent.
   */
  stop(): Promise<AioStats> {
    this.stopping ??= (async () => {
      if (this.failure) {
        await this.worker.terminate();
        throw this.failure;
      }
      let final: AioStats | undefined;
      this.stoppedStats = (stats) => {
        final = stats;
      };
      this.stopBh.schedule();
      // Messages a worker posted are delivered before its 'exit' event.
      await this.exited;
      if (this.failure) throw this.failure;
      if (final === undefined) throw new AioError('ERR_IOTHREAD', `iothread "${this.name}" exited without stopping`);
      return final;
    })();
    return this.stopping;
  }
}
