/**
 * The owner's side of an IOThread that hosts virtio-blk dataplanes: starts
 * the IOThread with the blk module and a command channel, and sends it
 * commands (create a dataplane, start, stop, stats, trace), each answered
 * on the channel.
 * @thread the owner thread (it needs an event loop: the Node main thread)
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { IOThread, RemoteBottomHalf, type BottomHalfHandle, type PollParams } from '@vmloop/aio';
import type { ClocksHandle } from '@vmloop/timers';
import { VirtioError } from '../../errors.js';
import type { GuestMemoryHandle } from '../../queue/guest-memory.js';
import type { BlkCommand, BlkReply, TraceRecord } from './blk-iothread.js';

/** The IOThread module of virtio-blk. */
export const BLK_IOTHREAD_MODULE = new URL('./blk-iothread.js', import.meta.url);

/** Options of {@link BlkIothread.start}. */
export interface BlkIothreadOptions {
  readonly name: string;
  /** Adaptive polling of the thread's context (QEMU's IOThread poll-max-ns, poll-grow, poll-shrink). */
  readonly poll?: Partial<PollParams>;
  readonly memory: GuestMemoryHandle;
  /** Thread-pool workers of this context (default 2). */
  readonly poolMax?: number;
  /** Pool worker spin budget. */
  readonly poolSpins?: number;
  /** Completions a pool worker hands back together (ThreadPoolOptions.completionBatch). */
  readonly completionBatch?: number;
  /** Where this thread's I/O runs (BlkHostOptions.aio; default 'threads'). */
  readonly aio?: 'threads' | 'inline';
  /** Record trace points (polls, BHs, kicks, completions, interrupts) for `trace()`. */
  readonly trace?: boolean;
  readonly clocks?: ClocksHandle;
}

type Omit1<T, K extends string> = T extends unknown ? Omit<T, K> : never;

export class BlkIothread {
  private nextId = 0;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(
    /** The IOThread (query it, stop it through {@link stop}). */
    readonly iothread: IOThread,
    private readonly port: MessagePort,
    private readonly mailbox: RemoteBottomHalf,
  ) {
    port.on('message', (r: BlkReply) => {
      const c = this.calls.get(r.id);
      if (c === undefined) return;
      this.calls.delete(r.id);
      if (this.calls.size === 0) port.unref();
      if (r.ok) c.resolve(r.value);
      else c.reject(Object.assign(new VirtioError('ERR_BACKEND', `iothread ${iothread.name}: ${r.error.name}: ${r.error.message}`), r.error.code === undefined ? {} : { cause: r.error }));
    });
    port.unref();
  }

  static async start(options: BlkIothreadOptions): Promise<BlkIothread> {
    const { port1, port2 } = new MessageChannel();
    const io = await IOThread.start({
      name: options.name,
      module: BLK_IOTHREAD_MODULE,
      data: { port: port2 },
      transferList: [port2],
      ...(options.poll === undefined ? {} : { poll: options.poll }),
      ...(options.clocks === undefined ? {} : { clocks: options.clocks }),
    });
    const t = new BlkIothread(io, port1, RemoteBottomHalf.open((io.exports as { mailbox: BottomHalfHandle }).mailbox));
    await t.call({
      op: 'init',
      options: {
        memory: options.memory,
        ...(options.poolMax === undefined ? {} : { poolMax: options.poolMax }),
        ...(options.poolSpins === undefined ? {} : { poolSpins: options.poolSpins }),
        ...(options.completionBatch === undefined ? {} : { completionBatch: options.completionBatch }),
        ...(options.aio === undefined ? {} : { aio: options.aio }),
      },
      trace: options.trace === true,
    });
    return t;
  }

  get name(): string {
    return this.iothread.name;
  }

  /** @internal Sends a command and resolves with its answer. */
  call(cmd: Omit1<BlkCommand, 'id'>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      if (this.calls.size === 0) this.port.ref();
      this.calls.set(id, { resolve, reject });
      this.port.postMessage({ ...cmd, id });
      this.mailbox.schedule();
    });
  }

  /** The trace records since the last call (empty unless started with `trace`). */
  async trace(): Promise<TraceRecord[]> {
    return (await this.call({ op: 'trace' })) as TraceRecord[];
  }

  /** CPU time the thread has used, in ns (Linux), or undefined. */
  async cpuTimeNs(): Promise<number | undefined> {
    return ((await this.call({ op: 'cpu' })) as number | null) ?? undefined;
  }

  /** Stops and joins the thread; its teardown drains and frees the dataplanes. */
  async stop(): Promise<void> {
    await this.iothread.stop();
    this.port.close();
  }
}
