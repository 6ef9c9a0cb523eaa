/**
 * The scheduler inside each explorer worker: the AtomicsScheduler that the
 * instrumented @vmloop/atomics calls at every operation, the worker loop of
 * the remote threads, and (in thread 0) the driver that runs schedule after
 * schedule for the search.
 *
 * One logical thread per worker, and one baton: only the holder runs. At a
 * scheduling point (before an atomic operation) the holder decides who
 * executes the current step. If the schedule says "keep going" — most steps,
 * under a preemption bound — it performs the operation and goes on with no
 * hand-off at all. Otherwise it parks at the point (its pending operation
 * noted in the control block) and hands the baton over; the chosen thread
 * executes the step and carries on. Futex waits are modelled: a wait whose
 * word still holds the expected value blocks the logical thread (the worker
 * parks on its own control word, never on the program's), a notify makes
 * waiters enabled again in FIFO order, and a timeout fires only when no
 * thread can run. A state where no thread can run and none has a timeout is
 * a deadlock: a lost wake-up.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { type AtomicsScheduler, OP_COMPARE_EXCHANGE, OP_LOAD, type AtomicOp, type SharedView } from '@vmloop/atomics/testing';
import {
  CMD_ABORT,
  CMD_ACK,
  CMD_END,
  CMD_NAMES,
  CMD_QUIT,
  CMD_RUN,
  ERR_LEN,
  FAIL_STEP,
  FAIL_THREAD,
  LIMIT_STEPS,
  MAX_STEPS,
  NEXT_SAB,
  NTHREADS,
  OP_NOTIFY,
  OP_SLEEP,
  OP_WAIT,
  SCHED,
  SPIN_LIMIT,
  SPUN,
  STATUS,
  STEP,
  S_CHECK_FAILED,
  S_DEADLOCK,
  S_DIVERGED,
  S_DONE,
  S_FAILED,
  S_LIVELOCK,
  S_RUNNING,
  S_STEP_LIMIT,
  TFINISH,
  TIMEOUT_CHOICE,
  TPKEY,
  TPOP,
  TR_CUR,
  TR_ENABLED,
  TR_KEY,
  TR_OP,
  TR_THREAD,
  TR_VAL,
  TSPIN,
  TSTATE,
  TTIMEOUT,
  TWKEY,
  TWRESULT,
  TWSEQ,
  T_BLOCKED,
  T_FINISHED,
  T_NEW,
  T_READY,
  T_RUNNING,
  T_SPINNING,
  T_WOKEN,
  WAITSEQ,
  WRITES,
  W_OK,
  W_TIMED_OUT,
  give,
  take,
  writeError,
} from './control.js';
import type { AnyHarness } from './harness.js';
import { type NameRange, Registry } from './registry.js';

/**
 * Thrown out of a scheduling point to unwind a body when its schedule is
 * over (deadlock found, another thread failed, step limit). Harness code
 * must let it through; while it unwinds, every operation throws it again.
 */
export class ExploreAbort extends Error {
  override name = 'ExploreAbort';
}
const ABORT = new ExploreAbort('explore: schedule over');

type AnyAtomics = Record<string, (view: SharedView, index: number, a?: number | bigint, b?: number | bigint) => number | bigint>;
const A = Atomics as unknown as AnyAtomics;

function perform(op: AtomicOp, view: SharedView, index: number, a: number | bigint, b: number | bigint): number | bigint {
  switch (op) {
    case 0:
      return A.load!(view, index);
    case 1:
      return A.store!(view, index, a);
    case 2:
      return A.exchange!(view, index, a);
    case 3:
      return A.compareExchange!(view, index, a, b);
    case 4:
      return A.add!(view, index, a);
    case 5:
      return A.sub!(view, index, a);
    case 6:
      return A.and!(view, index, a);
    case 7:
      return A.or!(view, index, a);
  }
}

const toInt = (v: number | bigint): number => (typeof v === 'bigint' ? Number(BigInt.asIntN(32, v)) : v | 0);

/** Options every worker of a run gets. */
export interface RuntimeOptions {
  /** Loads of its command word a thread spins before sleeping on it. */
  readonly handoffSpins: number;
}

/** One logical thread's scheduler. */
export class ThreadRuntime implements AtomicsScheduler {
  readonly registry: Registry;
  /** Inside a body (operations are scheduling points); false in setup, open and check. */
  private active = false;
  /** Chosen for the current step while not at a scheduling point (a start, a wake): the next operation executes it. */
  private chosen = false;
  /** Unwinding after the schedule ended: every operation throws. */
  private aborting = false;
  /** Loads in a row that saw no write by anyone. */
  private idle = 0;
  private lastWrites = -1;

  constructor(
    readonly ctl: Int32Array,
    readonly me: number,
    readonly options: RuntimeOptions,
  ) {
    this.registry = new Registry(ctl);
  }

  // ------------------------------------------------------ AtomicsScheduler

  access(op: AtomicOp, view: SharedView, index: number, value: number | bigint, replacement: number | bigint): number | bigint {
    if (!this.active) return perform(op, view, index, value, replacement);
    if (this.aborting) throw ABORT;
    const key = this.registry.keyOf(view, index);
    this.point(op, key);
    const r = perform(op, view, index, value, replacement);
    const ctl = this.ctl;
    const k = ctl[STEP]!;
    ctl[TR_OP + k] = op;
    ctl[TR_KEY + k] = key;
    ctl[TR_VAL + k] = toInt(r);
    ctl[STEP] = k + 1;
    this.counted(op !== OP_LOAD && !(op === OP_COMPARE_EXCHANGE && r !== value));
    return r;
  }

  wait(view: Int32Array, index: number, expected: number, timeoutMs: number): 'ok' | 'not-equal' | 'timed-out' {
    if (!this.active) {
      if (Atomics.load(view, index) !== expected) return 'not-equal';
      throw new Error('explore: a futex wait would block outside a schedule (in setup, open or check)');
    }
    if (this.aborting) throw ABORT;
    const key = this.registry.keyOf(view, index);
    this.point(OP_WAIT, key);
    const ctl = this.ctl;
    const me = this.me;
    const v = Atomics.load(view, index);
    const k = ctl[STEP]!;
    ctl[TR_KEY + k] = key;
    ctl[TR_VAL + k] = v;
    ctl[STEP] = k + 1;
    if (v !== expected) {
      ctl[TR_OP + k] = OP_WAIT;
      this.counted(false);
      return 'not-equal';
    }
    ctl[TR_OP + k] = OP_SLEEP;
    ctl[TSTATE + me] = T_BLOCKED;
    ctl[TWKEY + me] = key;
    const seq = ctl[WAITSEQ]! + 1;
    ctl[WAITSEQ] = seq;
    ctl[TWSEQ + me] = seq;
    ctl[TTIMEOUT + me] = timeoutMs === Number.POSITIVE_INFINITY ? 0 : 1;
    this.idle = 0;
    this.switchAway();
    // Chosen for the current step: the wait returns and the next operation executes it.
    this.chosen = true;
    return ctl[TWRESULT + me] === W_OK ? 'ok' : 'timed-out';
  }

  notify(view: Int32Array, index: number, count: number): number {
    if (!this.active) return Atomics.notify(view, index, count);
    if (this.aborting) throw ABORT;
    const key = this.registry.keyOf(view, index);
    this.point(OP_NOTIFY, key);
    const ctl = this.ctl;
    const n = ctl[NTHREADS]!;
    let woken = 0;
    while (woken < count) {
      let best = -1;
      for (let t = 0; t < n; t++) {
        if (ctl[TSTATE + t] === T_BLOCKED && ctl[TWKEY + t] === key && (best < 0 || ctl[TWSEQ + t]! < ctl[TWSEQ + best]!)) best = t;
      }
      if (best < 0) break;
      ctl[TSTATE + best] = T_WOKEN;
      ctl[TWRESULT + best] = W_OK;
      woken++;
    }
    const k = ctl[STEP]!;
    ctl[TR_OP + k] = OP_NOTIFY;
    ctl[TR_KEY + k] = key;
    ctl[TR_VAL + k] = woken;
    ctl[STEP] = k + 1;
    this.counted(woken > 0);
    return woken;
  }

  // ------------------------------------------------------ scheduling

  /** Spin detection: a write (or a wake) anywhere resets every thread's count of idle loads. */
  private counted(wrote: boolean): void {
    const ctl = this.ctl;
    if (wrote) {
      ctl[WRITES] = ctl[WRITES]! + 1;
      this.idle = 0;
    } else if (ctl[WRITES] !== this.lastWrites) {
      this.idle = 1;
    } else {
      this.idle++;
    }
    this.lastWrites = ctl[WRITES]!;
  }

  /** A scheduling point before an operation: returns when this thread executes the current step. */
  private point(op: number, key: number): void {
    if (this.chosen) {
      this.chosen = false;
      return;
    }
    const ctl = this.ctl;
    const me = this.me;
    const k = ctl[STEP]!;
    if (k >= ctl[LIMIT_STEPS]!) this.end(S_STEP_LIMIT);
    ctl[TPOP + me] = op;
    ctl[TPKEY + me] = key;
    if (this.idle >= ctl[SPIN_LIMIT]! && !this.othersCanRun()) {
      // Nobody else can run, so nobody can change what it reads: four
      // limits' worth of such loads is a loop that will never end (a walk
      // around a corrupted list, a spin on a word no live thread writes).
      if (this.idle >= 4 * ctl[SPIN_LIMIT]!) this.end(S_LIVELOCK);
    } else if (this.idle >= ctl[SPIN_LIMIT]!) {
      // Loads of words nobody writes: a spin. Step aside until someone
      // writes (a free switch, not a preemption), so a busy loop neither
      // blows up the search nor needs a preemption to let others run. (With
      // nobody else able to run it spins on, into the step limit.)
      ctl[TSTATE + me] = T_SPINNING;
      ctl[TSPIN + me] = ctl[WRITES]!;
      ctl[SPUN] = ctl[SPUN]! + 1;
      this.idle = 0;
      this.switchAway();
      return;
    }
    const c = this.decide(k);
    if (c === me) return;
    if (c < 0) this.end(-c);
    ctl[TSTATE + me] = T_READY;
    give(ctl, c, CMD_RUN);
    this.waitTurn();
  }

  /** Whether a thread other than this one is enabled. */
  private othersCanRun(): boolean {
    const ctl = this.ctl;
    for (let t = 0; t < ctl[NTHREADS]!; t++) {
      if (t === this.me) continue;
      const s = ctl[TSTATE + t]!;
      if (s === T_NEW || s === T_READY || s === T_WOKEN || (s === T_SPINNING && ctl[TSPIN + t] !== ctl[WRITES])) return true;
    }
    return false;
  }

  /** This thread cannot run (blocked, spinning): pass the step on; returns when it runs again. */
  private switchAway(): void {
    const ctl = this.ctl;
    const c = this.decide(ctl[STEP]!);
    if (c < 0) this.end(-c);
    if (c === this.me) {
      ctl[TSTATE + this.me] = T_RUNNING;
      return;
    }
    give(ctl, c, CMD_RUN);
    this.waitTurn();
  }

  /** Parks until the baton comes back: RUN continues, anything else unwinds the body. */
  private waitTurn(): void {
    const cmd = take(this.ctl, this.me, this.options.handoffSpins);
    if (cmd === CMD_RUN) {
      this.ctl[TSTATE + this.me] = T_RUNNING;
      return;
    }
    this.aborting = true;
    throw ABORT;
  }

  /**
   * Who executes step `k`, decided by the baton holder: the forced choice
   * of the schedule if there is one, else the default (the running thread,
   * else the lowest enabled). Records the decision in the trace. Returns a
   * negated status when nobody can run.
   */
  /** @internal */
  decide(k: number): number {
    const ctl = this.ctl;
    if (k >= ctl[LIMIT_STEPS]!) return -S_STEP_LIMIT;
    const n = ctl[NTHREADS]!;
    const writes = ctl[WRITES]!;
    let mask = 0;
    let live = 0;
    let timed = 0;
    let spinning = 0;
    for (let t = 0; t < n; t++) {
      const s = ctl[TSTATE + t]!;
      if (s !== T_FINISHED) live++;
      if (s === T_NEW || s === T_RUNNING || s === T_READY || s === T_WOKEN) mask |= 1 << t;
      else if (s === T_SPINNING) {
        if (ctl[TSPIN + t] !== writes) mask |= 1 << t;
        else spinning++;
      } else if (s === T_BLOCKED && ctl[TTIMEOUT + t] === 1) timed |= 1 << t;
    }
    const cur = ctl[TSTATE + this.me] === T_RUNNING ? this.me : -1;
    let flags = 0;
    if (mask === 0) {
      if (live === 0) return -S_DONE;
      if (timed === 0) return spinning > 0 ? -S_LIVELOCK : -S_DEADLOCK;
      mask = timed;
      flags = TIMEOUT_CHOICE;
    }
    const forced = k < MAX_STEPS ? ctl[SCHED + k]! : -1;
    let c: number;
    if (forced >= 0) {
      if (((mask >>> forced) & 1) === 0) return -S_DIVERGED;
      c = forced;
    } else {
      c = cur >= 0 ? cur : 31 - Math.clz32(mask & -mask);
    }
    ctl[TR_ENABLED + k] = mask | flags;
    ctl[TR_CUR + k] = cur;
    ctl[TR_THREAD + k] = c;
    if (flags !== 0) {
      ctl[TSTATE + c] = T_WOKEN;
      ctl[TWRESULT + c] = W_TIMED_OUT;
    }
    return c;
  }

  /** Ends the schedule from inside a body with `status`: never returns. */
  private end(status: number): never {
    const ctl = this.ctl;
    ctl[STATUS] = status;
    ctl[FAIL_THREAD] = this.me;
    ctl[FAIL_STEP] = ctl[STEP]!;
    if (this.me !== 0) {
      give(ctl, 0, CMD_END);
      // Wait for the driver's ABORT, so only one thread runs at a time.
      take(ctl, this.me, this.options.handoffSpins);
    }
    this.aborting = true;
    throw ABORT;
  }

  /**
   * The body returned: pass the step on (true; the baton is gone, so the
   * caller must not touch the control block again until it gets a
   * command), or end the schedule if nobody can run (false).
   */
  private finish(): boolean {
    const ctl = this.ctl;
    ctl[TSTATE + this.me] = T_FINISHED;
    ctl[TFINISH + this.me] = ctl[STEP]!;
    const c = this.decide(ctl[STEP]!);
    if (c < 0) {
      ctl[STATUS] = -c;
      ctl[FAIL_THREAD] = this.me;
      ctl[FAIL_STEP] = ctl[STEP]!;
      if (this.me !== 0) give(ctl, 0, CMD_END);
      return false;
    }
    give(ctl, c, CMD_RUN);
    return true;
  }

  /** The body threw something other than the abort: the schedule failed. */
  /** @internal */
  failed(e: unknown): void {
    const ctl = this.ctl;
    ctl[TSTATE + this.me] = T_FINISHED;
    if (ctl[STATUS] === S_RUNNING) {
      ctl[STATUS] = S_FAILED;
      ctl[FAIL_THREAD] = this.me;
      ctl[FAIL_STEP] = ctl[STEP]!;
      writeError(ctl, e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e));
    }
  }

  /**
   * Runs a body under the scheduler: chosen for the current step, as a
   * started thread is. Returns when the body is done with: it returned and
   * passed the step on ('passed': another thread holds the baton now), it
   * returned and nobody could run ('ended'), it threw ('failed'), or it was
   * unwound by an abort ('aborted').
   */
  runBody(body: () => void): 'passed' | 'ended' | 'failed' | 'aborted' {
    this.active = true;
    this.chosen = true;
    this.idle = 0;
    this.lastWrites = -1;
    this.ctl[TSTATE + this.me] = T_RUNNING;
    try {
      body();
      this.chosen = false;
      return this.finish() ? 'passed' : 'ended';
    } catch (e) {
      if (this.aborting || e instanceof ExploreAbort) return 'aborted';
      this.failed(e);
      return 'failed';
    } finally {
      this.active = false;
      this.aborting = false;
      this.chosen = false;
    }
  }

  // ------------------------------------------------------ remote threads

  /**
   * The loop of threads 1…n-1, until QUIT. A thread opens its schedule's
   * handles (posted by thread 0 before the schedule began) when it is first
   * chosen to run, so starting a schedule costs no hand-off; a thread that
   * never ran takes its handles off the port when the schedule is aborted.
   */
  remoteLoop(harness: AnyHarness, port: MessagePort): void {
    const ctl = this.ctl;
    const me = this.me;
    const spins = this.options.handoffSpins;
    const handles = (): unknown => {
      const m = receiveMessageOnPort(port);
      if (m === undefined) throw new Error('explore: no handles arrived for this schedule');
      return m.message;
    };
    for (;;) {
      const cmd = take(ctl, me, spins);
      switch (cmd) {
        case CMD_RUN: {
          const remote = harness.remotes[me - 1]!;
          this.registry.reset();
          const m = handles() as { handles: unknown; ids: number[] };
          const how = this.runBody(() => {
            // Opening is not part of the schedule: no scheduling points.
            this.active = false;
            this.registry.adopt(m.handles, m.ids);
            const state = harness.open(m.handles, me);
            this.active = true;
            remote.run(state);
          });
          // Aborted: the driver asked (ABORT) and waits for the ack. Failed:
          // tell the driver the schedule is over. Passed or ended: finish()
          // handed the baton on (or the END to the driver) already.
          if (how === 'aborted') give(ctl, 0, CMD_ACK);
          else if (how === 'failed') give(ctl, 0, CMD_END);
          break;
        }
        case CMD_ABORT:
          // Aborted before it ever ran in this schedule.
          this.registry.reset();
          handles();
          give(ctl, 0, CMD_ACK);
          break;
        case CMD_NAMES:
          port.postMessage(this.registry.exportNames());
          give(ctl, 0, CMD_ACK);
          break;
        case CMD_QUIT:
          return;
        default:
          throw new Error(`explore: thread ${me} got command ${cmd}`);
      }
    }
  }
}

/** What one schedule did, as thread 0 reads it from the control block. */
export interface ScheduleOutcome {
  readonly status: number;
  readonly steps: number;
  readonly failThread: number;
  readonly failStep: number;
}

/**
 * Thread 0: runs one schedule with the forced choices `prefix` (-1 entries
 * take the default): setup, hand the handles over, run its own body and let
 * the others run theirs, unwind whoever is left, check.
 */
export function runSchedule(rt: ThreadRuntime, harness: AnyHarness, ports: readonly MessagePort[], prefix: readonly number[], maxSteps: number, spinLimit: number): ScheduleOutcome {
  const ctl = rt.ctl;
  const n = ctl[NTHREADS]!;
  const spins = rt.options.handoffSpins;
  ctl[STEP] = 0;
  ctl[STATUS] = S_RUNNING;
  ctl[NEXT_SAB] = 1;
  ctl[WAITSEQ] = 0;
  ctl[WRITES] = 0;
  ctl[SPUN] = 0;
  ctl[ERR_LEN] = 0;
  ctl[FAIL_THREAD] = -1;
  ctl[FAIL_STEP] = -1;
  ctl[LIMIT_STEPS] = Math.min(maxSteps, MAX_STEPS);
  ctl[SPIN_LIMIT] = spinLimit;
  for (let t = 0; t < n; t++) {
    ctl[TSTATE + t] = T_NEW;
    ctl[TFINISH + t] = -1;
    ctl[TPOP + t] = -1;
  }
  ctl.fill(-1, SCHED, SCHED + MAX_STEPS);
  for (let k = 0; k < prefix.length && k < MAX_STEPS; k++) ctl[SCHED + k] = prefix[k]!;

  rt.registry.reset();
  let home: unknown;
  let posted = 0;
  try {
    const s = harness.setup();
    home = s.home;
    const ids = rt.registry.export(s.handles);
    for (; posted < n - 1; posted++) ports[posted]!.postMessage({ handles: s.handles, ids });
  } catch (e) {
    rt.failed(e);
    // A thread whose handles were not posted must not take any off its port.
    for (let t = posted + 1; t < n; t++) ctl[TSTATE + t] = T_FINISHED;
  }

  if (ctl[STATUS] === S_RUNNING) {
    // Step 0 is a free choice among the new threads.
    const first = rt.decide(0);
    let start = first === 0;
    if (!start) {
      give(ctl, first, CMD_RUN);
      start = take(ctl, 0, spins) === CMD_RUN;
    }
    if (start) {
      // Finished and passed the baton: the others run on; wait for the end
      // (and do not look at the control block before it).
      if (rt.runBody(() => harness.home.run(home)) === 'passed') take(ctl, 0, spins);
    }
  }

  for (let t = 1; t < n; t++) {
    if (ctl[TSTATE + t] === T_FINISHED) continue;
    give(ctl, t, CMD_ABORT);
    take(ctl, 0, spins);
  }

  if (ctl[STATUS] === S_DONE && harness.check !== undefined) {
    try {
      harness.check(home);
    } catch (e) {
      ctl[STATUS] = S_CHECK_FAILED;
      ctl[FAIL_THREAD] = 0;
      ctl[FAIL_STEP] = ctl[STEP]!;
      writeError(ctl, e instanceof Error ? (e.stack ?? e.message) : String(e));
    }
  }
  return { status: ctl[STATUS]!, steps: ctl[STEP]!, failThread: ctl[FAIL_THREAD]!, failStep: ctl[FAIL_STEP]! };
}

/** Every thread's cell names (thread 0 asks the others). */
export function collectNames(rt: ThreadRuntime, ports: readonly MessagePort[]): [number, NameRange[]][] {
  const ctl = rt.ctl;
  const spins = rt.options.handoffSpins;
  const all = rt.registry.exportNames();
  for (let t = 1; t < ctl[NTHREADS]!; t++) {
    give(ctl, t, CMD_NAMES);
    take(ctl, 0, spins);
    const m = receiveMessageOnPort(ports[t - 1]!);
    if (m !== undefined) all.push(...(m.message as [number, NameRange[]][]));
  }
  return all;
}

/** Tells the other threads to leave their loops. */
export function quitAll(ctl: Int32Array): void {
  for (let t = 1; t < ctl[NTHREADS]!; t++) give(ctl, t, CMD_QUIT);
}
