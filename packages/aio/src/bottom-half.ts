import { AioError } from './errors.js';
import { BH_DELETED, BH_IDLE, BH_SCHEDULED } from './layout.js';
import type { SharedContext } from './shared-context.js';

/** Options of {@link AioContext.bh}. */
export interface BottomHalfOptions {
  /** Shows in traces, stats and leak errors (QEMU: the BH's name). Default `"bh"`. */
  readonly name?: string;
}

/** The structured-cloneable form of a bottom half, for another thread (`RemoteBottomHalf.open`). */
export interface BottomHalfHandle {
  readonly kind: 'vmloop.aio-bh';
  readonly version: 1;
  /** The context's buffer and notifier. */
  readonly context: import('./remote.js').AioContextHandle;
  readonly slot: number;
  readonly generation: number;
  readonly name: string;
}

/** @internal What the context keeps per BH slot and BottomHalf needs back. */
export interface BottomHalfOwner {
  readonly shared: SharedContext;
  /** Slots scheduled by the home thread, in order: [0, localCount) (home thread only). */
  localQueue: number[];
  localCount: number;
  contextHandle(): import('./remote.js').AioContextHandle;
  checkLive(): void;
  enqueueLocal(slot: number, flags: number): void;
}

/**
 * A bottom half: a callback the home thread runs on its next `poll()` after
 * `schedule()` (QEMU QEMUBH, util/async.c). Scheduling is safe from any
 * thread through `handle` + `RemoteBottomHalf.open`; the callback always
 * runs on the context's home thread.
 *
 * A BH that reschedules itself from its own callback runs again on the next
 * poll, not in the same one. Scheduling a scheduled BH does nothing more.
 * @thread home (the object); see RemoteBottomHalf for other threads
 */
export class BottomHalf {
  /** @internal */ deleted = false;

  /** @internal Use `ctx.bh(cb)`. */
  constructor(
    private readonly owner: BottomHalfOwner,
    /** @internal */ readonly slot: number,
    /** @internal */ readonly generation: number,
    readonly name: string,
    /** @internal */ readonly callback: () => void,
  ) {}

  /** Runs the callback on the next poll (`qemu_bh_schedule`). */
  schedule(): void {
    this.check();
    this.owner.enqueueLocal(this.slot, BH_SCHEDULED);
  }

  /**
   * Runs the callback when the loop is idle, at the latest ~10 ms later; an
   * idle BH does not count as progress (`qemu_bh_schedule_idle`).
   */
  scheduleIdle(): void {
    this.check();
    this.owner.enqueueLocal(this.slot, BH_SCHEDULED | BH_IDLE);
  }

  /** Un-schedules it if it has not run yet (`qemu_bh_cancel`). */
  cancel(): void {
    this.check();
    this.owner.shared.bhFlags.and(this.slot, ~BH_SCHEDULED);
  }

  /**
   * Deletes it: it will not run, and its slot is freed on the next poll
   * (`qemu_bh_delete`). Handles to it then fail with ERR_BH_DELETED.
   */
  delete(): void {
    this.check();
    this.deleted = true;
    this.owner.enqueueLocal(this.slot, BH_DELETED);
  }

  /** Whether it is scheduled and not yet run. */
  get isScheduled(): boolean {
    return !this.deleted && (this.owner.shared.bhFlags.load(this.slot) & (BH_SCHEDULED | BH_DELETED)) === BH_SCHEDULED;
  }

  /** Whether `delete()` was called. */
  get isDeleted(): boolean {
    return this.deleted;
  }

  /** Exports it: another thread opens the handle with `RemoteBottomHalf.open` to schedule it. */
  get handle(): BottomHalfHandle {
    this.check();
    return {
      kind: 'vmloop.aio-bh',
      version: 1,
      context: this.owner.contextHandle(),
      slot: this.slot,
      generation: this.generation,
      name: this.name,
    };
  }

  private check(): void {
    this.owner.checkLive();
    if (this.deleted) throw new AioError('ERR_BH_DELETED', `bottom half "${this.name}" was deleted`);
  }
}
