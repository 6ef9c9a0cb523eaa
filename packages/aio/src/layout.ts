/**
 * Shared memory of an AioContext: the notify protocol words and the
 * bottom-half table with its lock-free list.
 *
 * Byte map (capacity C bottom halves; every header word on its own cache line
 * where two threads write it):
 *
 *   0x000  notifyMe    0x040  notified    0x080  bhHead    0x0c0  waiters
 *   0x100  capacity, state
 *   0x140  bhFlags[C]  (then bhNext[C], cache-line aligned)
 *
 * ## The notify protocol (QEMU util/async.c, aio_notify / aio_poll)
 *
 *   notifier (any thread)                  home thread, blocking poll
 *   ---------------------                  --------------------------
 *   publish work (BH list push: CAS)       notifyMe.add(2)                  (P1)
 *   notified.store(1)                (N1)  if notified.load(): timeout = 0  (P2)
 *   if notifyMe.load() != 0:         (N2)  NotifierSet wait(timeout)
 *       ctx notifier.set()                 notifyMe.sub(2)
 *                                          notified.store(0)  (notifyAccept)(P3)
 *                                          run BHs (bhHead.exchange)        (P4)
 *
 * (N1)/(N2) against (P1)/(P2) is store-buffering with all four accesses
 * seq-cst: either the poller sees `notified` and does not sleep, or the
 * notifier sees `notifyMe` and sets the notifier, which ends the sleep.
 * The notifier is set whenever notifyMe is non-zero, *even if notified was
 * already true*: skipping it there is the lost wake-up of QEMU's seed bug.
 * (P3) clears `notified` before (P4) reads the work, so work published
 * after (P4) comes with a new notify. A non-blocking poll never raises
 * notifyMe: everything is re-checked before its next blocking wait.
 * Bit 0 of notifyMe belongs to the Node-loop attachment (QEMU's GSource
 * prepare/check), which sets it before sleeping in Atomics.waitAsync.
 *
 * ## Bottom halves (QEMU aio_bh_enqueue / aio_bh_dequeue / aio_bh_poll)
 *
 *   schedule (any thread)                  home thread, aio_bh_poll
 *   ---------------------                  ------------------------
 *   old = flags |= PENDING|SCHEDULED (F1)  head = bhHead.exchange(-1)       (D1)
 *   if !(old & PENDING):                   walk bhNext from head, all of it (D2)
 *       bhNext[i] = head; CAS bhHead (F2)  per BH: old = flags &= ~(PENDING|
 *   aio_notify                                    SCHEDULED|IDLE)           (D3)
 *                                          run it if SCHEDULED && !DELETED
 *
 * (F1) makes exactly one scheduler push a BH that is not on the list; (D2)
 * reads every `next` of the slice before (D3) clears PENDING, so a BH that
 * is re-pushed by another thread the moment PENDING clears cannot corrupt
 * the slice being walked (QEMU: "removal finishes before BH_PENDING is
 * reset"). The list is only ever popped whole (D1), so the CAS push has no
 * ABA problem. The flag word also carries the slot's generation (bits
 * 8…31): remote schedulers compare-exchange against their handle's
 * generation, so a handle to a deleted BH whose slot was reused fails
 * instead of scheduling a stranger.
 */
import { CACHE_LINE, type Instance, int32, int32Array, layoutFamily } from '@vmloop/atomics';

/** BH flag: on the list, waiting for aio_bh_poll (QEMU BH_PENDING). */
export const BH_PENDING = 1 << 0;
/** BH flag: invoke the callback (QEMU BH_SCHEDULED). */
export const BH_SCHEDULED = 1 << 1;
/** BH flag: delete without invoking (QEMU BH_DELETED). */
export const BH_DELETED = 1 << 2;
/** BH flag: delete after invoking (QEMU BH_ONESHOT). */
export const BH_ONESHOT = 1 << 3;
/** BH flag: scheduled while idle; not progress (QEMU BH_IDLE). */
export const BH_IDLE = 1 << 4;
/** Bits of the flag word that are flags; the rest is the slot generation. */
export const BH_FLAGS_MASK = 0xff;
/** Shift of the generation in the flag word. */
export const BH_GEN_SHIFT = 8;
/** Generations wrap at 2^24. */
export const BH_GEN_MASK = 0xffffff;
/** End of the BH list. */
export const LIST_END = -1;

/** Context state word values. */
export const STATE_LIVE = 0;
export const STATE_DESTROYED = 1;

/** Largest BH table. */
export const MAX_BHS = 1 << 20;

function contextFields(capacity: number) {
  return {
    // QEMU ctx->notify_me. Written by the home thread only: add(2)/sub(2)
    // around a blocking wait (P1), or(1)/and(~1) around the Node-loop sleep.
    // Read by notifiers (load, N2) after their `notified` store. Atomic
    // because of that cross-thread read, not for mutual exclusion.
    notifyMe: int32({ align: CACHE_LINE }),
    // QEMU ctx->notified. Written by notifiers (store 1, N1) and by the home
    // thread (store 0 in notifyAccept, P3). Read by the home thread (load,
    // P2, and by the context notifier's poll callback).
    notified: int32({ align: CACHE_LINE }),
    // Head slot of the atomic BH list (QEMU ctx->bh_list), LIST_END if empty.
    // Written by schedulers (compareExchange push, F2) and the home thread
    // (exchange to LIST_END, D1). Read by the home thread's timeout
    // computation (load, then walk bhNext).
    bhHead: int32({ align: CACHE_LINE }),
    // Threads inside waitWhile (QEMU global_aio_wait.num_waiters). Written by
    // the home thread (add/sub around its loop); read by kick() from any
    // thread (load after the condition write; store-buffering pair).
    waiters: int32({ align: CACHE_LINE }),
    // Number of BH slots. Written once by the creator before the buffer is
    // shared; read by open() to validate handles.
    capacity: int32({ align: CACHE_LINE }),
    // STATE_LIVE / STATE_DESTROYED. Written by the home thread (store in
    // destroy); read by remote handles (load) to fail fast.
    state: int32(),
    // 1: aio_notify always sets the notifier, ignoring notifyMe (QEMU before
    // the notify_me optimisation; a measurement reference only). Written
    // once by the creator before sharing; read by every notifier.
    notifyAlways: int32(),
    // Per BH slot: flags (bits 0-7) | generation << 8. Written by schedulers
    // (or / compareExchange, F1) and the home thread (and in dequeue D3;
    // store when a slot is (re)allocated or freed). Read by remote
    // schedulers (load before their compareExchange) and the home thread's
    // timeout computation.
    bhFlags: int32Array(capacity, { align: CACHE_LINE }),
    // Per BH slot: the next slot on the atomic list. Written by the one
    // scheduler that pushes the slot (store before its CAS on bhHead, F2);
    // read by the home thread after it took the list (load, D2). The CAS
    // that publishes the slot orders the store before any reader's walk.
    bhNext: int32Array(capacity, { align: CACHE_LINE }),
  };
}

/** Fields of a context arena. */
export type ContextFields = ReturnType<typeof contextFields>;
/** A context arena placed in its buffer. */
export type ContextMemory = Instance<ContextFields>;

/** The (memoised) layout of a context with `capacity` BH slots. */
export const contextLayout = layoutFamily('aio.context', contextFields);

/** The header alone (fixed size), to read `capacity` before knowing the layout. */
export const ContextHeader = contextLayout(1);
