/**
 * Shared memory of a thread pool (QEMU util/thread-pool.c, ThreadPoolElement
 * and its queue, over SharedArrayBuffer).
 *
 *   home thread (submit)                   worker
 *   --------------------                   ------
 *   payload[s] = encoded argument (plain)
 *   argMeta[s] (tag, job, length)          h = submitHead; slot = ring[h]
 *   state[s] = QUEUED                (S1)  CAS submitHead h → h+1       (W1)
 *   ring[tail] = s; submitTail = …   (S3)  CAS state QUEUED → ACTIVE    (W2)
 *   no spinner and sleepers? wake    (S2)  run the job
 *                                          payload[s] = result (plain)
 *                                          resMeta[s] (tag, length)
 *                                          state[s] = DONE              (W3)
 *                                          t = doneTail.add(1); doneRing[t] = entry
 *   completion BH: drain doneRing,  (C1) ◄─ homePolling == 0? schedule   (W4)
 *   read state, then resMeta/payload          the completion BH
 *   (or the poll handler's drain)     (C2)
 *
 * (S1) before the ring publishes the slot: a worker that takes it sees the
 * argument. (S3) The shared `submitTail` is stored per request only while
 * few are outstanding; under load, ring entries are published together, by
 * the completion BH (scheduled by the first entry held back) or once a
 * batch is pending, so the tail's line, which the spinner reads, moves
 * once per burst. (W3) "write ret before state" pairs with (C1) "read state
 * before ret" (QEMU's comments on `elem->state`); every store is seq-cst,
 * so plain payload bytes written before it are visible after it is read.
 * Waiting for work (pool-worker.ts; verification/models/pool-wakeup.pml
 * checks it, mutants included). At most one worker holds the spinner role
 * in `spinning` (W0): it takes it when it is the only worker awake and the
 * ring is empty — after publishing a completion, before the home thread
 * can see it, or on starting to wait — spins on the ring, and gives the
 * role up when it has taken a request or before it sleeps, each time
 * followed by a look at the ring. Others sleep with the counter-doorbell
 * shape: read `workSeq`, count themselves in `sleepers`, check the ring
 * once more, futex-wait on the value read. The submitter, after its tail
 * store (S2), loads `spinning`: while the role is held its holder is bound
 * to see the tail (store-buffering against the holder's store of 0 then
 * its look), so no wake is needed; otherwise it loads `sleepers` and, if
 * any, bumps `workSeq` and notifies (S4: not again while the word is as it
 * was at the last notify and either no more requests are queued than the
 * workers it woke, who take one each, or that notify woke fewer than it
 * asked for, so every sleeper counted was out of the futex and looks at the
 * ring anyway). The holder, giving the role up with more
 * queued than it takes, wakes one sleeper itself (W0'), so a burst still
 * reaches every worker while a request at a time costs no futex wake.
 *
 * (S5) Both wakes keep to `maxAwake` (default: cores − 1, since the home
 * thread needs a core too): they wake at most maxAwake − (live − sleeping)
 * sleepers, the awake workers coming back to the ring for the rest after
 * their jobs. A submitter that holds a wake back for the cap, or skips it
 * for the spinner role while the cap can bind, arms a 1 ms timer on its
 * context with the head it saw (strandCheck). When it fires with requests
 * queued and a worker asleep, it re-arms if the head moved; if it did not,
 * the awake workers are stuck in their jobs, and it wakes sleepers for
 * every queued request without the cap. The model checks this with the
 * cap binding (-DCAP=1), and that without the timer, or without arming it
 * on the spinner skip, the requests strand.
 *
 * (C2) QEMU's io_poll for the done ring (as linux-aio's qemu_laio_poll_cb
 * polls its completion ring), with virtqueue-style notification
 * suppression: the pool registers a poll handler on its context. While the
 * context is in poll mode (an iothread's adaptive polling, or the Node-loop
 * attachment's spin), onPollBegin has stored 1 to `homePolling`, onPoll
 * watches the done ring's next entry and onPollReady drains it as the
 * completion BH does; a worker that sees 1 after writing its entry skips
 * the BH's cross-thread schedule (its flag word, the BH list head,
 * `notified`: three lines the home thread would otherwise take back).
 * Leaving poll mode, onPollEnd stores 0 and the context calls onPoll once
 * more before it may sleep: store-buffering against the worker's entry
 * store then its load (verification/models/pool-poll.pml, two mutants).
 *
 * Counters: `submitHead`, `submitTail`, `doneTail` and the home thread's
 * copies are int32 and wrap after 2^31 requests; the rings have
 * ringEntries(slots) entries (a power of two), indexed `counter & (entries
 * - 1)`, and distances are `(a - b) | 0`. Done-ring entries carry the lap
 * of their index (doneEntry), so the home thread only reads that ring.
 *
 * A cancelled slot (state CANCELLED) stays reserved until a worker passes
 * its ring entry, then travels back on the done ring to be freed: freeing it
 * earlier could put the slot in the ring twice and overflow it.
 */
import { CACHE_LINE, type Instance, type Int32CellArray, bytes, int32, int32Array, layoutFamily } from '@vmloop/atomics';

/** Slot states (QEMU ThreadState, plus FREE and CANCELLED). */
export const FREE = 0;
export const QUEUED = 1;
export const ACTIVE = 2;
export const DONE = 3;
export const CANCELLED = 4;

/** Values of a worker's `retired` word. */
export const WORKER_STARTED = 0;
/** Retired on its own (idle timeout or close): not a death. */
export const WORKER_RETIRED = 1;
/** Finished a request: if it dies now, its job killed it, not its startup. */
export const WORKER_PROVEN = 2;

/** The `sleepers` word: bits counting workers in the futex wait; a sleep entry adds SLEEP_ENTER. */
export const SLEEPING_BITS = 10;
export const SLEEP_ENTER = (1 << SLEEPING_BITS) + 1;
export const sleepingOf = (word: number): number => word & ((1 << SLEEPING_BITS) - 1);

/** Job-name table: entries of JOB_NAME_BYTES UTF-8 bytes. */
export const MAX_JOBS = 256;
export const JOB_NAME_BYTES = 64;
/** Most workers a pool may have at once (worker ids are 0 … MAX_WORKERS-1). */
export const MAX_WORKERS = 256;

export interface PoolShape {
  readonly slots: number;
  readonly payload: number;
}

function poolFields(key: number) {
  const slots = key >>> 16;
  const payload = (key & 0xffff) * 8;
  return {
    // Next ring index workers take. Written by workers (compareExchange h →
    // h+1, W1); read by workers and the sleeping check.
    submitHead: int32({ align: CACHE_LINE }),
    // Ring index the home thread writes next. Written by the home thread
    // (store after the ring entry); read by workers (load) to see work.
    submitTail: int32({ align: CACHE_LINE }),
    // Counter doorbell of idle workers. Written by the submitter (add 1 after
    // the tail, S2) and by notifyAll paths; read by workers before their
    // ring check and as the futex word.
    workSeq: int32({ align: CACHE_LINE }),
    // Workers inside the futex wait, and how many times one entered it:
    // the low SLEEPING_BITS count the sleepers, the bits above count sleep
    // entries (wrapping). Written by workers (add SLEEP_ENTER before the
    // last ring check, sub 1 after the wait); read by the submitter (load
    // after its tail store, S2) to skip the notify when nobody sleeps, and
    // to skip it again while the word is exactly as it was at its last
    // notify (nobody went to sleep or woke up since) and either no more
    // requests are queued than the workers it woke, who take one each, or
    // that notify woke fewer than it asked for (every sleeper counted was
    // leaving the wait, or entering it with the old `workSeq`, and looks at
    // the ring anyway) (S4; a 22-bit entry counter cannot wrap within S4's
    // 1 ms window).
    sleepers: int32(),
    // Workers asleep waiting for work (QEMU idle_threads; with the holder
    // of the spinner role, the idle ones). Written by workers (add before
    // the sleep, sub after it, never per job); read by the home thread to
    // decide whether to spawn.
    idle: int32(),
    // The spinner role: 0, or the id + 1 of the one worker that is bound to
    // look at the ring again (spinning before it sleeps, or between a
    // completion and its next take). Written by that worker
    // (compareExchange 0 → id + 1, W0; store 0 when it gives the role up,
    // before its next look at the ring) and by the home thread when the
    // holder died (compareExchange id + 1 → 0); read by the submitter
    // (load after its tail store, S2): while the role is held, no futex
    // wake is needed.
    spinning: int32(),
    // Completion ring tail. Written by workers (add 1 to reserve an entry,
    // the only access): the home thread tells written entries by their lap
    // (doneSlotAt) and never touches this word.
    doneTail: int32({ align: CACHE_LINE }),
    // 1 while the home thread busy-polls the done ring (C2): its context is
    // in poll mode, and the pool's poll handler watches the ring's next
    // entry. In doneTail's line: the worker that has just reserved an entry
    // owns the line, so its load costs nothing; the home thread writes the
    // line only when poll mode begins or ends. Written by the
    // home thread only (store 1 in onPollBegin, store 0 in onPollEnd, then
    // its handler's last look at the ring); read by workers (load after
    // their doneRing store, W4) to skip the completion BH's schedule while
    // it is 1. Store-buffering pair: the home thread's store of 0 then its
    // load of doneRing[doneHead], against the worker's doneRing store then
    // its load of this word: either the home thread sees the entry, or the
    // worker sees 0 and schedules the BH.
    homePolling: int32(),
    // Live workers and the floor they may retire to. `live` is written by
    // workers (compareExchange down when retiring) and the home thread (add
    // on spawn, sub when one dies); `minWorkers` by the home thread only.
    // `live` is also loaded by both wakes for the maxAwake room (S5), with
    // nothing to pair with: a stale value only moves a wake between now
    // and the stranding check.
    live: int32({ align: CACHE_LINE }),
    minWorkers: int32(),
    // Registered job names (count, then UTF-8 names). Written by the home
    // thread (bytes, then store count) before any slot uses the new index;
    // read by workers that meet an index they do not know.
    jobCount: int32({ align: CACHE_LINE }),
    jobNames: bytes(MAX_JOBS * JOB_NAME_BYTES),
    // Per worker: requests posted to its port (the message path). Written by
    // the home thread (add 1 after posting, then a workSeq bump); read by the
    // worker, which drains its port with receiveMessageOnPort when it moved.
    mail: int32Array(MAX_WORKERS, { align: CACHE_LINE }),
    // Per worker, its life so far (WORKER_STARTED, WORKER_PROVEN, WORKER_RETIRED).
    // Written by the home thread (STARTED, before the worker exists) and by
    // the worker (PROVEN once, after its first request; RETIRED before it
    // exits on its own); read by the home thread in the worker's 'exit'
    // handler (the thread's exit orders it): anything but RETIRED is a death,
    // and only a death before PROVEN counts toward "workers keep dying at
    // startup".
    retired: int32Array(MAX_WORKERS),
    // 1 while back-pressure is on (requests held by maxQueue, or drain()
    // waiters): a worker that takes a request then schedules the completion
    // BH, so the home thread learns at once that the queue has room.
    // Written by the home thread (store); read by workers (load after W2).
    signalTake: int32(),
    // 1 once close() began: idle workers retire regardless of `minWorkers`.
    // Written by the home thread (store, then workSeq bump + notify all);
    // read by workers before sleeping.
    closing: int32(),
    // Slot ids in submission order (producer: home; consumers: workers),
    // at index & (ringEntries(slots) - 1) of the wrapping counters.
    ring: int32Array(ringEntries(slots), { align: CACHE_LINE }),
    // Completed slots as doneEntry(t, …) words (slot + 1 and the lap of
    // the index; 0 = never written). Written by workers (store after
    // reserving t with doneTail.add); read by the home thread (doneSlotAt),
    // which never writes it.
    doneRing: int32Array(ringEntries(slots), { align: CACHE_LINE }),
    // The slots, one after another, each `slotStride(payload)` bytes: four
    // words, then the slot's payload, so that a request's words and a small
    // argument or result share one cache line (each line the home thread
    // and a worker both write costs a transfer per request). The words, at
    // SLOT_* indices, through SlotWord:
    //  - state: FREE/QUEUED/ACTIVE/DONE/CANCELLED (S1, W2, W3, C1).
    //  - argMeta: the argument's meta word (tag | job index << 4 | length
    //    << 12, see packMeta), written by the home thread before the QUEUED
    //    store that publishes it (S1), read by the worker after its CAS to
    //    ACTIVE.
    //  - resMeta: the result's meta word (tag | length << 12), written by
    //    the worker before its DONE store (W3), read by the home thread
    //    after (C1).
    //  - worker: the id of the worker holding the slot: -1 from the home
    //    thread before S1, then the taker's id, stored after W1 and before
    //    W2 (so an ACTIVE slot always names the worker that activated it);
    //    read by the home thread after C1 (whose port a result came on) and
    //    when a worker died.
    // The payload bytes (argument, then result) use plain access, published
    // by the state word like QEMU's `elem->ret`.
    slotArea: int32Array((slots * slotStride(payload)) / 4, { align: CACHE_LINE }),
  };
}

/**
 * Entries of the submit and done rings: `slots` rounded up to a power of
 * two. The ring counters (`submitHead`, `submitTail`, `doneTail` and the
 * home thread's copies) are int32 and wrap after 2^31 requests; with a
 * power-of-two ring, `index & (entries - 1)` stays continuous across the
 * wrap (2^32 is a multiple of it) and distances are `(a - b) | 0`. At most
 * `slots` requests are in a ring at once, so the extra entries stay unused.
 */
export function ringEntries(slots: number): number {
  let n = 1;
  while (n < slots) n *= 2;
  return n;
}

/**
 * A done-ring entry for counter value `t`: the slot + 1 in the low 16 bits,
 * and above them the lap of `t` (t >>> shift, where 2^shift = ringEntries,
 * modulo 2^15). The home thread never clears entries: an entry is ready
 * when it carries the lap of the index the drain expects (doneSlotAt),
 * and the one it replaces is always from the lap before, so the worker's
 * store is the only write to the line.
 */
export function doneEntry(t: number, shift: number, slot: number): number {
  return (slot + 1) | (((t >>> shift) & 0x7fff) << 16);
}

/** The slot in done-ring entry `v` read for counter value `h`, or -1 if it was not written in h's lap yet. */
export function doneSlotAt(v: number, h: number, shift: number): number {
  return v !== 0 && v >>> 16 === ((h >>> shift) & 0x7fff) ? (v & 0xffff) - 1 : -1;
}

/** Bytes of a slot's words before its payload. */
const SLOT_HEADER = 16;
const SLOT_STATE = 0;
const SLOT_ARG_META = 1;
const SLOT_RES_META = 2;
const SLOT_WORKER = 3;

/** Bytes one slot occupies: its words and `payload` bytes, rounded up to a cache line. */
export function slotStride(payload: number): number {
  return Math.ceil((SLOT_HEADER + payload) / CACHE_LINE) * CACHE_LINE;
}

/**
 * One word of every slot (the slot's state, meta or worker word): an
 * Int32CellArray read with a stride, so `state.load(slot)` reads the word
 * in slot `slot`'s line. Atomic and seq-cst, like the array.
 * @thread any
 */
export class SlotWord {
  /** @internal */
  constructor(
    private readonly area: Int32CellArray,
    private readonly strideWords: number,
    private readonly index: number,
  ) {}
  load(slot: number): number {
    return this.area.load(slot * this.strideWords + this.index);
  }
  store(slot: number, value: number): number {
    return this.area.store(slot * this.strideWords + this.index, value);
  }
  compareExchange(slot: number, expected: number, replacement: number): number {
    return this.area.compareExchange(slot * this.strideWords + this.index, expected, replacement);
  }
}

const family = layoutFamily('thread-pool', poolFields);

/** A pool's shared memory: the layout's fields, the slot words, and the payload bytes. */
export type PoolMemory = Instance<ReturnType<typeof poolFields>> & {
  readonly state: SlotWord;
  readonly argMeta: SlotWord;
  readonly resMeta: SlotWord;
  readonly worker: SlotWord;
  /** Every slot's bytes (plain access; a slot's payload starts at payloadBase(slot)). */
  readonly payload: Uint8Array;
  /** Byte offset of `slot`'s payload in `payload`. */
  payloadBase(slot: number): number;
  /** `ringEntries(slots) - 1`: ring index = counter & ringMask (the counters wrap as int32). */
  readonly ringMask: number;
  /** log2 of ringEntries(slots): done-ring entries carry the lap counter >>> ringShift (doneEntry). */
  readonly ringShift: number;
};

function withSlots(inst: Instance<ReturnType<typeof poolFields>>, shape: PoolShape, slotAreaOffset: number): PoolMemory {
  const stride = slotStride(shape.payload);
  const area = inst.slotArea;
  const words = stride / 4;
  return Object.assign(inst, {
    state: new SlotWord(area, words, SLOT_STATE),
    argMeta: new SlotWord(area, words, SLOT_ARG_META),
    resMeta: new SlotWord(area, words, SLOT_RES_META),
    worker: new SlotWord(area, words, SLOT_WORKER),
    payload: new Uint8Array(inst.buffer, inst.byteOffset + slotAreaOffset, shape.slots * stride),
    payloadBase: (slot: number): number => slot * stride + SLOT_HEADER,
    ringMask: ringEntries(shape.slots) - 1,
    ringShift: Math.log2(ringEntries(shape.slots)),
  });
}

const keyOf = (shape: PoolShape): number => (shape.slots << 16) | (shape.payload / 8);

/** The layout of a pool with `slots` slots of `payload` bytes (a multiple of 8). */
export function poolLayout(shape: PoolShape) {
  const layout = family(keyOf(shape));
  return {
    byteLength: layout.byteLength,
    /** A fresh pool memory in its own SharedArrayBuffer. */
    create: (): PoolMemory => withSlots(layout.create(), shape, layout.offsets.slotArea),
    /** A pool memory from a `{ buffer, byteOffset }` handle received from the home thread. */
    open: (handle: unknown): PoolMemory => withSlots(layout.open(handle), shape, layout.offsets.slotArea),
  };
}

/** One word for a value's tag (4 bits), job index (8 bits) and length (up to 2^19 bytes). */
export function packMeta(tag: number, job: number, length: number): number {
  return tag | (job << 4) | (length << 12);
}
export const metaTag = (m: number): number => m & 0xf;
export const metaJob = (m: number): number => (m >>> 4) & 0xff;
export const metaLength = (m: number): number => m >>> 12;
