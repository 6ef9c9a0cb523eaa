/** Options of {@link AioContext.attachToNodeLoop}. */
export interface NodeLoopOptions {
  /** Receives errors thrown by callbacks; default: rethrown as an uncaught exception. */
  readonly onError?: (error: unknown) => void;
  /** Start unref'd: never keep the process alive (default false). */
  readonly unref?: boolean;
}

/** @internal What the attachment needs from its context. */
export interface AttachedContext {
  /** One non-blocking aio_poll (dispatch: BHs, handlers, timers). */
  pollOnce(): boolean;
  /** QEMU aio_ctx_prepare: raise bit 0 of notifyMe, return the timeout in ns (-1 = none). */
  prepare(): number;
  /** QEMU aio_ctx_check: lower bit 0 of notifyMe. */
  finish(): void;
  /** Wait asynchronously until the context's set has a ready notifier or timeout. */
  sleep(timeoutNs: number, ref: boolean, signal: AbortSignal): Promise<void>;
  /** Something can still run later: a live handler or an armed timer. */
  hasLiveWork(): boolean;
  live(): boolean;
  /**
   * Adaptive polling before sleeping: busy-poll up to the context's current
   * window for work to appear; true if it did. Returns false at once when
   * polling is off.
   */
  spin(): boolean;
  /** Feeds the time spent spinning and sleeping to the adaptive window. */
  blocked(ns: number): void;
}

const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * A context running inside Node's event loop (QEMU: the AioContext as a
 * GSource of the glib main loop). Each turn: dispatch with a non-blocking
 * poll; prepare (notifyMe |= 1, compute the timeout); if nothing is due,
 * sleep in `Atomics.waitAsync` on the context's notifier set; lower the bit.
 *
 * Keeping the process alive: a pending waitAsync does not hold Node 20's
 * loop, so the sleep is ref'd exactly while something can still run
 * (a live handler, an armed timer; a scheduled BH never sleeps at all),
 * unless `unref()` was called. Anything that changes that — a new handler,
 * a timer armed from other Node code — notifies the context, which wakes
 * the sleep and re-evaluates.
 * @thread home
 */
export class NodeLoopAttachment {
  private active = true;
  private refd: boolean;
  private readonly abort = new AbortController();
  /** Resolves when the loop has stopped (after `detach()` or `destroy()`). */
  readonly stopped: Promise<void>;

  /** @internal */
  constructor(
    private readonly ctx: AttachedContext,
    private readonly options: NodeLoopOptions = {},
  ) {
    this.refd = options.unref !== true;
    this.stopped = this.run();
  }

  /** Whether the loop still runs. */
  get attached(): boolean {
    return this.active;
  }

  /** Let the process exit even while the context has live work (like `timer.unref()`). */
  unref(): this {
    this.refd = false;
    return this;
  }

  /** Keep the process alive while the context has live work (the default). */
  ref(): this {
    this.refd = true;
    return this;
  }

  /** Stops running the context in Node's loop. Idempotent. */
  detach(): void {
    if (!this.active) return;
    this.active = false;
    this.abort.abort();
  }

  private report(e: unknown): void {
    if (this.options.onError) this.options.onError(e);
    else
      queueMicrotask(() => {
        throw e;
      });
  }

  private async run(): Promise<void> {
    // Start on a later turn: attach() returns before anything runs.
    await yieldToLoop();
    const ctx = this.ctx;
    let turnStart = performance.now();
    while (this.active && ctx.live()) {
      try {
        ctx.pollOnce();
      } catch (e) {
        this.report(e);
      }
      if (!this.active || !ctx.live()) break;
      // Let promise continuations of what just ran go first: they often
      // submit the next piece of work (a microtask, not a loop turn).
      await Promise.resolve();
      const blockStart = performance.now();
      // Adaptive polling (QEMU try_poll_mode): spin before going to sleep,
      // but give Node's loop (I/O, timers) a full turn at least every 1 ms.
      if (ctx.spin()) {
        ctx.blocked((performance.now() - blockStart) * 1e6);
        if (performance.now() - turnStart > 1) {
          await yieldToLoop();
          turnStart = performance.now();
        }
        continue;
      }
      const timeout = ctx.prepare();
      if (timeout === 0) {
        ctx.finish();
        await yieldToLoop();
        turnStart = performance.now();
        continue;
      }
      try {
        await ctx.sleep(timeout, this.refd && ctx.hasLiveWork(), this.abort.signal);
      } catch (e) {
        if (!this.abort.signal.aborted) this.report(e);
      } finally {
        if (ctx.live()) {
          ctx.finish();
          ctx.blocked((performance.now() - blockStart) * 1e6);
        }
      }
      turnStart = performance.now();
    }
    this.active = false;
  }
}
