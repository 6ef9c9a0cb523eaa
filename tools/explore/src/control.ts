/**
 * The explorer's own shared memory: one Int32Array over a private
 * SharedArrayBuffer that every worker of a run holds. It is *not* a vmloop
 * layout and is accessed with `Atomics` directly, so none of it is
 * instrumented: it is the scheduler's state, not the program's.
 *
 * Exactly one thread holds the baton at any time (see runtime.ts). Command
 * words pass the baton with `Atomics.store` + `Atomics.notify` and are taken
 * with `Atomics.load`/`Atomics.wait`; everything else here is read and
 * written only by the baton holder, with plain accesses ordered by those
 * command-word atomics (a seq-cst store read by a seq-cst load synchronises
 * the two threads).
 */

/** Most threads a harness may have. */
export const MAX_THREADS = 4;
/** Longest schedule, in steps (atomic operations); longer runs fail with "step limit". */
export const MAX_STEPS = 8192;

// Commands (the word CMD + thread).
export const CMD_NONE = 0;
/** Run: execute the current step (or start the body). */
export const CMD_RUN = 1;
/** To thread 0: the schedule is over (ctl[STATUS] says why). */
export const CMD_END = 3;
/** Unwind the body (the schedule is over) and acknowledge. */
export const CMD_ABORT = 4;
/** To thread 0: done what it asked. */
export const CMD_ACK = 5;
/** Leave the worker loop. */
export const CMD_QUIT = 6;
/** Post this thread's cell names to thread 0, then acknowledge. */
export const CMD_NAMES = 7;

// Logical thread states (ctl[TSTATE + t]).
/** Body not started; enabled. */
export const T_NEW = 0;
/** Holds the baton. */
export const T_RUNNING = 1;
/** Preempted at a scheduling point; enabled. */
export const T_READY = 2;
/** In a futex wait; enabled only by a notify (or a timeout when nothing else can run). */
export const T_BLOCKED = 3;
/** Woken from a futex wait; enabled. */
export const T_WOKEN = 4;
/** Spinning on words nobody writes; enabled once any thread writes. */
export const T_SPINNING = 5;
/** Body returned (or failed). */
export const T_FINISHED = 6;

// Schedule statuses (ctl[STATUS]).
export const S_RUNNING = 0;
export const S_DONE = 1;
export const S_DEADLOCK = 2;
export const S_FAILED = 3;
export const S_STEP_LIMIT = 4;
export const S_LIVELOCK = 5;
export const S_DIVERGED = 6;
export const S_CHECK_FAILED = 7;

export const STATUS_NAMES: readonly string[] = ['running', 'done', 'deadlock', 'failed', 'step limit', 'livelock', 'diverged', 'check failed'];

// Operations in the trace: the atomics codes 0..7 (OP_LOAD … OP_OR), then:
/** A futex wait that returned 'not-equal' at once. */
export const OP_WAIT = 8;
/** A futex wait that went to sleep. */
export const OP_SLEEP = 9;
/** A futex notify. */
export const OP_NOTIFY = 10;

// Wake results (ctl[TWRESULT + t]).
export const W_OK = 1;
export const W_TIMED_OUT = 2;

/** Bit in a step's enabled mask: the choice was which blocked thread times out. */
export const TIMEOUT_CHOICE = 1 << 8;

// Word offsets.
export const CMD = 0;
export const STEP = 8;
export const STATUS = 9;
export const NTHREADS = 10;
export const NEXT_SAB = 11;
export const WAITSEQ = 12;
export const WRITES = 13;
export const FAIL_THREAD = 14;
export const FAIL_STEP = 15;
export const ERR_LEN = 16;
export const LIMIT_STEPS = 17;
export const SPIN_LIMIT = 18;
/** Spin yields in this schedule (sleep sets are off for a schedule with any). */
export const SPUN = 19;
export const TSTATE = 32;
export const TWKEY = 40;
export const TWSEQ = 48;
export const TTIMEOUT = 56;
export const TWRESULT = 64;
export const TSPIN = 72;
export const TPOP = 80;
export const TPKEY = 88;
export const TFINISH = 96;
/** Per thread: 1 while it sleeps on its command word (give notifies only then). */
export const SLEEPING = 104;
export const SCHED = 128;
export const TR_THREAD = SCHED + MAX_STEPS;
export const TR_OP = TR_THREAD + MAX_STEPS;
export const TR_KEY = TR_OP + MAX_STEPS;
export const TR_VAL = TR_KEY + MAX_STEPS;
export const TR_ENABLED = TR_VAL + MAX_STEPS;
export const TR_CUR = TR_ENABLED + MAX_STEPS;
export const ERR = TR_CUR + MAX_STEPS;
/** Bytes of error text kept (UTF-8). */
export const ERR_BYTES = 16384;
export const WORDS = ERR + ERR_BYTES / 4;

/** A fresh control block. */
export function createControl(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(WORDS * 4));
}

/**
 * Hands the baton to `t` with `cmd`. Notifies only if `t` sleeps: the
 * store of the command then the load of its sleep flag, against its store
 * of the flag then its load of the command (store-buffering, seq-cst), so
 * either it sees the command or we see it asleep. A notify costs a
 * syscall; most hand-offs find the other thread still spinning.
 */
export function give(ctl: Int32Array, t: number, cmd: number): void {
  Atomics.store(ctl, CMD + t, cmd);
  if (Atomics.load(ctl, SLEEPING + t) !== 0) Atomics.notify(ctl, CMD + t, 1);
}

/**
 * Waits for a command to `me` and takes it. Spins `spins` loads first: most
 * hand-offs come straight back (a preemption returns to the preempted
 * thread), and a futex wake costs 10–50 µs here. Only the thread that just
 * handed off spins, so at most two threads are busy at once on two cores.
 */
export function take(ctl: Int32Array, me: number, spins: number): number {
  const w = CMD + me;
  for (let i = 0; i < spins; i++) {
    const c = Atomics.load(ctl, w);
    if (c !== CMD_NONE) {
      Atomics.store(ctl, w, CMD_NONE);
      return c;
    }
  }
  for (;;) {
    Atomics.store(ctl, SLEEPING + me, 1);
    const c = Atomics.load(ctl, w);
    if (c !== CMD_NONE) {
      Atomics.store(ctl, SLEEPING + me, 0);
      Atomics.store(ctl, w, CMD_NONE);
      return c;
    }
    Atomics.wait(ctl, w, CMD_NONE);
    Atomics.store(ctl, SLEEPING + me, 0);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Keeps `text` (truncated) as the schedule's error text. */
export function writeError(ctl: Int32Array, text: string): void {
  const bytes = new Uint8Array(ctl.buffer, ERR * 4, ERR_BYTES);
  const { written } = encoder.encodeInto(text, bytes);
  ctl[ERR_LEN] = written;
}

/** The schedule's error text. */
export function readError(ctl: Int32Array): string {
  return decoder.decode(new Uint8Array(ctl.buffer, ERR * 4, ctl[ERR_LEN]!).slice());
}
