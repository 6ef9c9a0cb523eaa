/**
 * Shared memory of the notifiers.
 *
 * Every notifier lives in a slot of an *arena*: one SharedArrayBuffer holding
 * a header, a two-level ready bitmap and `capacity` slots. A NotifierSet owns
 * an arena of many slots; a standalone `EventNotifier.create()` gets an arena
 * of one. A setter holds the whole arena buffer, which is how it can ring the
 * set's doorbell without knowing the set (JavaScript has no pointers between
 * SharedArrayBuffers, so a notifier can be watched only by the set whose
 * memory it lives in — see the README, "Differences from QEMU").
 *
 * Byte map of an arena with capacity C (W = ceil(C/32) bitmap words,
 * S = ceil(W/32) summary words), every part cache-line aligned:
 *
 *   0x000  header   doorbell, sleepSeq | capacity          (128 bytes)
 *   0x080  summary  int32[S]   bit w set ⇔ bitmap word w may be non-zero
 *   ....   bitmap   int32[W]   bit i set ⇔ slot i was set while watched
 *   ....   slots    Slot[C]    64 bytes each: value, waiters, flags
 *
 * The protocol (every access is a seq-cst atomic):
 *
 *   setter (any thread)                      set owner (NotifierSet.wait)
 *   -------------------                      ----------------------------
 *   value: 0 → non-zero (exchange/add)       S = doorbell.load()            (A)
 *   flags.load(): watched?                   scan summary/bitmap (exchange)
 *   bitmap.or(bit); summary.or(bit)          nothing ready?
 *   old = doorbell.add(1)              (B)   sleepSeq.store(S)              (C)
 *   sleepSeq.load() === old: notify    (D)   futex-wait(doorbell, S)
 *
 * (A) before the scan is the counter doorbell: a set whose bits the scan
 * missed bumps the doorbell afterwards (B), so the futex wait sees a value
 * other than S and returns at once. If the owner does sleep, the doorbell
 * still read S at its futex check, which therefore precedes the next bump;
 * that bump's `add` returns exactly S and its `sleepSeq.load()` (D) comes
 * after (C), so that one setter notifies. Every other setter of the burst
 * gets another `old` and skips `Atomics.notify` (a process-wide mutex in
 * V8): a burst of sets costs the owner one wake and the setters one RMW
 * each. A setter delayed between (B) and (D) holds an old value that can
 * no longer match a later sleep, so it cannot steal that sleep's wake (a
 * "sleeping" flag taken with exchange would lose wake-ups exactly there).
 *
 * A single notifier uses the store-buffering shape with a count, since
 * many threads may wait on it: `waiters.add(1)` then futex-wait on `value`,
 * against the setter's RMW on `value` then `waiters.load()`.
 */
import { CACHE_LINE, defineLayout, type Instance, int32, int32Array, layoutFamily, struct } from '@vmloop/atomics';

/** Slot flag: the owning set watches this notifier (NotifierSet.add). */
export const FLAG_WATCHED = 1;
/** Slot flag: counter mode (eventfd without EFD_SEMAPHORE); fixed at creation. */
export const FLAG_COUNTER = 2;

/** Largest arena: 32768 slots (2 MiB of slots, 32 summary words). */
export const MAX_CAPACITY = 32768;

/** One notifier. */
export const Slot = defineLayout('event-notifier.slot', {
  // The eventfd counter; 0 means clear. Written by setters (exchange in
  // flag mode, add in counter mode) and by consumers (exchange to 0 in
  // testAndClear/read, after a plain load shows it non-zero). Read by
  // waiters as the futex word. Setter's RMW pairs with the waiter's futex
  // check after `waiters.add` (store-buffering, all seq-cst).
  value: int32({ align: CACHE_LINE }),
  // Threads inside EventNotifier.wait/waitAsync on this slot. Written by
  // waiters (add before the futex wait, sub after); read by setters (load
  // after their RMW on `value`) to skip Atomics.notify when zero.
  waiters: int32(),
  // FLAG_WATCHED | FLAG_COUNTER. FLAG_COUNTER is written once by the creator
  // before the buffer is shared. FLAG_WATCHED is written by the set owner
  // (or/and in add/remove) and read by setters after their RMW on `value`;
  // the owner re-reads `value` after setting it (store-buffering: a set
  // racing with add() is seen by one side or the other).
  flags: int32(),
});

/** Fixed header at offset 0 of every arena. */
export const Header = defineLayout('event-notifier.header', {
  // Sequence counter of the set's doorbell. Written by setters of watched
  // notifiers (add 1, after marking the bitmap); read by the set owner
  // (load before scanning, then futex wait on the value it read).
  doorbell: int32({ align: CACHE_LINE }),
  // The doorbell value the owner last went to sleep on (initially -1, which
  // no setter's `add` returns before 2^32 - 1 bumps). Written only by the
  // owner (store S before its futex wait on S, (C)); read by setters (load
  // after their `doorbell.add` returned `old`, (D)): the setter with
  // old === sleepSeq is the one that moved the doorbell off the value the
  // owner sleeps on, and the only one that notifies.
  sleepSeq: int32(),
  // Number of slots. Written once by the creator before the buffer is
  // shared; read by EventNotifier.open to validate handles.
  capacity: int32({ align: CACHE_LINE }),
});

/** The arena for `capacity` slots. */
export type ArenaFields = ReturnType<typeof arenaFields>;
/** An arena placed in its buffer. */
export type Arena = Instance<ArenaFields>;

function arenaFields(capacity: number) {
  const words = Math.ceil(capacity / 32);
  return {
    header: struct(Header, 1),
    // Bit w: bitmap word w may have bits set. Written by setters (or, after
    // the bitmap word) and by the owner (exchange to 0 before scanning the
    // words it names). A stale set bit only costs one extra word load.
    summary: int32Array(Math.ceil(words / 32), { align: CACHE_LINE }),
    // Bit i: slot i was set while watched since the owner's last scan.
    // Written by setters (or) and by the owner (exchange to 0).
    bitmap: int32Array(words, { align: CACHE_LINE }),
    slots: struct(Slot, capacity, { align: CACHE_LINE }),
  };
}

/** The (memoised) layout of an arena with `capacity` slots. */
export const arenaLayout = layoutFamily('event-notifier.arena', arenaFields);
