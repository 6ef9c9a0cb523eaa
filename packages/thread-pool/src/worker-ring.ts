/**
 * A pool worker's side of the request and completion rings (QEMU
 * worker_thread's queue handling), as a callable object so that model
 * checkers (tools/explore) run exactly this code. layout.ts names the steps.
 * @thread worker
 */
import { ACTIVE, DONE, type PoolMemory, QUEUED, doneEntry, packMeta } from './layout.js';

/** What a worker schedules when it completes a request (the pool's completion BH). */
export interface CompletionSignal {
  schedule(): void;
}

export class WorkerRing {
  constructor(
    private readonly mem: PoolMemory,
    private readonly completion: CompletionSignal,
    /**
     * This worker's id, stored in the slot's `worker` word between W1 and
     * W2 (the pool worker always passes it; a model checker's harness that
     * never kills a worker may leave it out).
     */
    private readonly workerId?: number,
    /**
     * Completions a worker may hand back together while more requests are
     * queued (ThreadPoolOptions.completionBatch; 1: signal each one, as
     * QEMU's worker_thread does).
     */
    private readonly batch = 1,
  ) {}

  /** Completions on the done ring whose BH schedule was held back (batch > 1). */
  private unsignalled = 0;

  /** Takes the next request from the shared ring (W1, W2), or -1 if it is empty. */
  take(): number {
    const mem = this.mem;
    for (;;) {
      const h = mem.submitHead.load();
      if (h === mem.submitTail.load()) return -1;
      const slot = mem.ring.load(h & mem.ringMask);
      if (mem.submitHead.compareExchange(h, (h + 1) | 0) !== h) continue; // (W1) another worker took it
      // Ours from W1 on: say so before W2, so that if a worker dies, the
      // home thread's reclaim() attributes ACTIVE slots (and ones taken but
      // not yet activated) to the worker that really holds them, never to
      // one that ran the slot before (dispatch resets the word to -1).
      if (this.workerId !== undefined) mem.worker.store(slot, this.workerId);
      // (W2) Cancelled while queued: hand the slot back to be freed.
      if (mem.state.compareExchange(slot, QUEUED, ACTIVE) === QUEUED) return slot;
      this.complete(slot);
    }
  }

  /**
   * Puts `slot` on the completion ring and schedules the completion BH (W4).
   * With a batch above 1, the schedule waits while more requests are queued
   * and fewer than `batch` completions are held: one wake-up of the home
   * thread for several completions. {@link flush} (before the worker waits
   * for work) signals what is held, so nothing stays unsignalled once the
   * ring is empty.
   */
  complete(slot: number): void {
    const t = this.mem.doneTail.add(1);
    this.mem.doneRing.store(t & this.mem.ringMask, doneEntry(t, this.mem.ringShift, slot));
    // (C2) The home thread busy-polls the done ring: it sees this entry,
    // or it stopped polling first, and then we see 0 here (homePolling in
    // layout.ts). Nothing held by batching stays unsignalled either: the
    // home thread's drain takes every entry written before it.
    if (this.mem.homePolling.load() !== 0) {
      this.unsignalled = 0;
      return;
    }
    if (this.batch > 1 && ++this.unsignalled < this.batch && this.mem.submitHead.load() !== this.mem.submitTail.load()) return;
    this.unsignalled = 0;
    this.completion.schedule();
  }

  /** Signals the completions held back by batching (W4 for all of them). */
  flush(): void {
    if (this.unsignalled === 0) return;
    this.unsignalled = 0;
    this.completion.schedule();
  }

  /** The result's tag and length (its payload bytes already written), then DONE (W3), then W4. */
  publish(slot: number, tag: number, length: number): void {
    this.mem.resMeta.store(slot, packMeta(tag, 0, length));
    // (W3) Write the result before the state; pairs with (C1) in the completion BH.
    this.mem.state.store(slot, DONE);
    this.complete(slot);
  }
}
