import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';
import type { BottomHalfHandle } from './bottom-half.js';
import { AioError } from './errors.js';
import { BH_GEN_MASK, BH_IDLE, BH_SCHEDULED, ContextHeader, MAX_BHS, contextLayout } from './layout.js';
import { SharedContext } from './shared-context.js';

/** The structured-cloneable form of an AioContext, for other threads. */
export interface AioContextHandle {
  readonly kind: 'vmloop.aio-context';
  readonly version: 1;
  readonly name: string;
  /** The context's shared memory (notifyMe, notified, BH table). */
  readonly buffer: SharedArrayBuffer;
  /** The context's own notifier. */
  readonly notifier: EventNotifierHandle;
  /** The BH that kick() schedules. */
  readonly kick: { readonly slot: number; readonly generation: number };
}

function badHandle(what: string): AioError {
  return new AioError('ERR_BAD_HANDLE', `not a live ${what} handle (use ctx.handle / bh.handle)`);
}

function openShared(handle: unknown): { shared: SharedContext; h: AioContextHandle } {
  const h = handle as Partial<AioContextHandle> | null;
  if (typeof h !== 'object' || h === null || h.kind !== 'vmloop.aio-context' || h.version !== 1) throw badHandle('AioContext');
  const { buffer, kick } = h;
  if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < ContextHeader.byteLength) throw badHandle('AioContext');
  const capacity = ContextHeader.at(buffer, 0).capacity.load();
  if (!(capacity >= 1 && capacity <= MAX_BHS) || buffer.byteLength < contextLayout(capacity).byteLength) throw badHandle('AioContext');
  if (typeof kick !== 'object' || kick === null || !(kick.slot >>> 0 === kick.slot && kick.slot < capacity)) throw badHandle('AioContext');
  let notifier: EventNotifier;
  try {
    notifier = EventNotifier.open(h.notifier);
  } catch (e) {
    throw new AioError('ERR_BAD_HANDLE', 'the AioContext handle has no valid notifier', { cause: e });
  }
  return { shared: new SharedContext(contextLayout(capacity).at(buffer, 0), notifier), h: h as AioContextHandle };
}

/**
 * Another thread's view of an AioContext: it can wake the home thread and
 * kick its waitWhile, but never poll or run callbacks (tokio's
 * Driver/Handle split). Open exported bottom halves with
 * `RemoteBottomHalf.open`.
 * @thread any
 */
export class AioContextRemote {
  /** @internal */ readonly shared: SharedContext;
  readonly name: string;
  private readonly kickSlot: number;
  private readonly kickGeneration: number;

  private constructor(shared: SharedContext, h: AioContextHandle) {
    this.shared = shared;
    this.name = h.name;
    this.kickSlot = h.kick.slot;
    this.kickGeneration = h.kick.generation & BH_GEN_MASK;
  }

  /** Opens `ctx.handle` received from the context's home thread. */
  static open(handle: unknown): AioContextRemote {
    const { shared, h } = openShared(handle);
    return new AioContextRemote(shared, h);
  }

  /** `aio_notify` from this thread. */
  notify(): void {
    this.shared.checkLive();
    this.shared.notify();
  }

  /** `aio_wait_kick`: wakes the context's waitWhile, if any, to re-check its condition. */
  kick(): void {
    this.shared.checkLive();
    this.shared.kick(this.kickSlot, this.kickGeneration);
  }

  /** Counters of this thread's operations on the context. */
  get stats(): Readonly<SharedContext['counters']> {
    return { ...this.shared.counters };
  }
}

/**
 * A bottom half exported by its home thread (`bh.handle`), opened on another
 * thread to schedule it there: the lock-free push plus aio_notify of
 * QEMU's `qemu_bh_schedule` from any thread. Its callback runs on the home
 * thread. Throws ERR_BH_DELETED once the home thread deleted it.
 * @thread any
 */
export class RemoteBottomHalf {
  private constructor(
    private readonly shared: SharedContext,
    private readonly slot: number,
    private readonly generation: number,
    readonly name: string,
  ) {}

  /** Opens a `bh.handle` received from the context's home thread. */
  static open(handle: unknown): RemoteBottomHalf {
    const h = handle as Partial<BottomHalfHandle> | null;
    if (typeof h !== 'object' || h === null || h.kind !== 'vmloop.aio-bh' || h.version !== 1) throw badHandle('bottom half');
    const { shared } = openShared(h.context);
    const { slot, generation, name } = h;
    if (typeof slot !== 'number' || !(slot >>> 0 === slot && slot < shared.bhFlags.length)) throw badHandle('bottom half');
    if (typeof generation !== 'number' || !(generation >>> 0 === generation && generation <= BH_GEN_MASK)) throw badHandle('bottom half');
    return new RemoteBottomHalf(shared, slot, generation, typeof name === 'string' ? name : 'bh');
  }

  /** `qemu_bh_schedule` from this thread. */
  schedule(): void {
    this.shared.enqueueRemote(this.slot, this.generation, BH_SCHEDULED, this.name);
  }

  /** `qemu_bh_schedule_idle` from this thread. */
  scheduleIdle(): void {
    this.shared.enqueueRemote(this.slot, this.generation, BH_SCHEDULED | BH_IDLE, this.name);
  }

  /** `qemu_bh_cancel` from this thread (a no-op on a stale handle). */
  cancel(): void {
    this.shared.clearRemote(this.slot, this.generation, BH_SCHEDULED);
  }

  /** Counters of this thread's operations on the context. */
  get stats(): Readonly<SharedContext['counters']> {
    return { ...this.shared.counters };
  }
}
