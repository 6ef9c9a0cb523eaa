import type { TransferListItem } from 'node:worker_threads';

/** Where a request is (QEMU ThreadState). */
export type RequestState = 'queued' | 'active' | 'done';

/** Completion callback of `submitCallback`: (error, undefined) or (null, result). */
export type PoolCallback<T> = (error: Error | null, result?: T) => void;

/**
 * One submitted job (QEMU ThreadPoolElement, returned by
 * `thread_pool_submit_aio`). It completes exactly once: with the job's
 * result or error, with ECANCELED if cancelled while queued, or with
 * ERR_WORKER_DIED if its worker died running it.
 * @thread the pool's home thread
 */
export class PoolRequest<T = unknown> {
  /** @internal */ slot = -1;
  /** @internal The worker a message-path request was posted to, or -1. */
  mailedTo = -1;
  /** @internal */ completed = false;
  /** @internal */ cancelled = false;

  /** @internal */
  constructor(
    private readonly owner: { cancel(req: PoolRequest<T>): boolean; stateOf(req: PoolRequest<T>): RequestState },
    /** The job's name. */
    readonly job: string,
    /** @internal */ readonly jobIndex: number,
    /** @internal */ readonly arg: unknown,
    /** @internal */ readonly transferList: readonly TransferListItem[] | undefined,
    /** @internal submitCallback's callback; undefined for submit(), which sets resolve and reject. */
    readonly callback: PoolCallback<T> | undefined,
  ) {}

  /** @internal submit()'s promise. */
  resolve: ((value: T) => void) | undefined = undefined;
  /** @internal */
  reject: ((error: Error) => void) | undefined = undefined;

  /** queued → active → done. */
  get state(): RequestState {
    return this.owner.stateOf(this);
  }

  /**
   * Cancels the request if it has not started (`thread_pool_cancel_aio`):
   * it completes with an error whose `code` is `ECANCELED`, and later
   * requests are not held up. A running request finishes normally.
   * Returns whether it was cancelled.
   */
  cancel(): boolean {
    return this.owner.cancel(this);
  }
}
