/**
 * Preemption-bounded depth-first search over schedules (CHESS's iterative
 * context bounding, Musuvathi & Qadeer, PLDI 2007), with optional sleep
 * sets (Godefroid's partial-order reduction).
 *
 * A schedule is the thread chosen at each step. A step's choice is a
 * *preemption* when the thread that ran the previous step could go on
 * (it is at a scheduling point, not blocked or finished) and another thread
 * is chosen; choosing among threads when the current one blocked or
 * finished is free. The search runs a schedule, records for every step who
 * was enabled and who was running, and then backtracks to the deepest step
 * with an untried choice whose preemption count stays within the bound;
 * the schedule that replays the choices up to that step and takes the new
 * one there, continuing with the default (keep the running thread; else the
 * lowest-numbered enabled one), is the next. When no step has an untried
 * choice left, every schedule with at most `bound` preemptions was run.
 *
 * Sleep sets (`por: true`): once the subtree of choice c at a step has been
 * explored, a later choice u at that step puts c to sleep if c's and u's
 * operations there are independent (different cells, or both loads); c
 * stays asleep while only operations independent of its own run, and a
 * sleeping thread is never a choice: every schedule it would start is a
 * reordering of independent steps of one already explored. Without a
 * bound this loses no state; with one it may (the reordered twin can need
 * another preemption — Musuvathi & Qadeer, MSR-TR-2007-12), so "exhaustive"
 * under sleep sets means exhaustive up to that reordering, and the plain
 * search stays the reference.
 */

/** What a run reports per step: the chosen thread, the enabled mask, the running thread (-1 if none could go on). */
export interface StepRecord {
  readonly thread: number;
  readonly enabled: number;
  readonly cur: number;
}

/** A step's operation and the next operation of every thread at it (for sleep sets). */
export interface StepOps {
  /** Operation code and cell key of the step. */
  readonly op: number;
  readonly key: number;
  /** Per thread: [op, key] of its next operation from this step on (op -1: unknown). */
  readonly pending: readonly (readonly [number, number])[];
}

/** The default choice of a step: keep the running thread, else the lowest enabled one. */
export function defaultChoice(enabled: number, cur: number): number {
  if (cur >= 0) return cur;
  return 31 - Math.clz32(enabled & -enabled);
}

/** Whether a step's choice was a preemption. */
export function isPreemption(s: StepRecord): boolean {
  return s.cur >= 0 && s.thread !== s.cur;
}

const THREAD_BITS = 0xff;
const LOAD = 0;

/** Two operations commute: different cells, or both plain loads. Unknown (-1) commutes with nothing. */
export function independent(a: readonly [number, number], b: readonly [number, number]): boolean {
  if (a[0] < 0 || b[0] < 0) return false;
  return a[1] !== b[1] || (a[0] === LOAD && b[0] === LOAD);
}

export class BoundedDfs {
  private readonly chosen: number[] = [];
  private readonly enabled: number[] = [];
  private readonly cur: number[] = [];
  /** Preemptions before the step. */
  private readonly pre: number[] = [];
  /** Choices not yet tried (bit per thread) within the bound. */
  private readonly todo: number[] = [];
  /** Choices tried (the first run's, then each backtrack). */
  private readonly done: number[] = [];
  /** Sleeping threads at the step. */
  private readonly sleep: number[] = [];
  /** Pending operations of every thread at the step (sleep sets only). */
  private readonly pending: (readonly (readonly [number, number])[])[] = [];
  private started = false;
  private prefixLength = 0;
  /** Sleep set of the state after the backtracked step, for the next record. */
  private carried = 0;
  /** Choices cut by sleep sets. */
  pruned = 0;

  constructor(
    readonly bound: number,
    readonly por = false,
  ) {}

  /** The forced choices of the next schedule, or undefined when the search is complete. */
  next(): number[] | undefined {
    if (!this.started) {
      this.started = true;
      this.prefixLength = 0;
      this.carried = 0;
      return [];
    }
    for (let k = this.todo.length - 1; k >= 0; k--) {
      const t = this.todo[k]!;
      if (t === 0) continue;
      const u = 31 - Math.clz32(t & -t);
      this.todo[k] = t & ~(1 << u);
      if (this.por) {
        // Threads asleep here or already explored here sleep on if their
        // operation commutes with u's.
        const pend = this.pending[k]!;
        let z = 0;
        // (No pending operations recorded at this step: nobody sleeps.)
        const candidates = (this.sleep[k]! | this.done[k]!) & ~(1 << u);
        if (pend.length > u) for (let v = 0; v < pend.length; v++) if (((candidates >>> v) & 1) !== 0 && independent(pend[v]!, pend[u]!)) z |= 1 << v;
        this.carried = z;
      }
      this.done[k] = this.done[k]! | (1 << u);
      this.chosen[k] = u;
      this.truncate(k + 1);
      this.prefixLength = k + 1;
      return this.chosen.slice(0, k + 1);
    }
    return undefined;
  }

  /**
   * Records the steps of the schedule that `next()` returned last (`ops`
   * with sleep sets). Returns the first step at which it did not replay the
   * forced prefix (a harness that is not deterministic), or -1.
   */
  record(steps: readonly StepRecord[], ops?: readonly StepOps[]): number {
    const L = this.prefixLength;
    for (let k = 0; k < Math.min(L, steps.length); k++) {
      const s = steps[k]!;
      if (s.thread !== this.chosen[k] || (s.enabled & THREAD_BITS) !== (this.enabled[k]! & THREAD_BITS) || s.cur !== this.cur[k]) return k;
    }
    if (steps.length < L) return steps.length;
    this.truncate(L);
    const por = this.por && ops !== undefined;
    // The sleep set of the state before step L: carried from the backtrack
    // (or, at the root, empty).
    let z = por ? this.carried : 0;
    for (let k = L; k < steps.length; k++) {
      const s = steps[k]!;
      const pre = k === 0 ? 0 : this.pre[k - 1]! + (isPreemption({ thread: this.chosen[k - 1]!, enabled: 0, cur: this.cur[k - 1]! }) ? 1 : 0);
      if (por) {
        // The chosen thread is awake when it runs; the others sleep on only
        // past operations that commute with theirs.
        z &= ~(1 << s.thread);
      }
      let todo = 0;
      const mask = s.enabled & THREAD_BITS;
      for (let u = 0; u < 8; u++) {
        if (((mask >>> u) & 1) === 0 || u === s.thread) continue;
        const cost = pre + (s.cur >= 0 && u !== s.cur ? 1 : 0);
        if (cost > this.bound) continue;
        if (((z >>> u) & 1) !== 0) {
          this.pruned++;
          continue;
        }
        todo |= 1 << u;
      }
      this.chosen.push(s.thread);
      this.enabled.push(s.enabled);
      this.cur.push(s.cur);
      this.pre.push(pre);
      this.todo.push(todo);
      this.done.push(1 << s.thread);
      this.sleep.push(z);
      this.pending.push(por ? ops![k]!.pending : []);
      if (por) {
        const o = ops![k]!;
        const mine: readonly [number, number] = [o.op, o.key];
        let next = 0;
        for (let v = 0; v < o.pending.length; v++) if (((z >>> v) & 1) !== 0 && independent(o.pending[v]!, mine)) next |= 1 << v;
        z = next;
      }
    }
    return -1;
  }

  private truncate(n: number): void {
    this.chosen.length = n;
    this.enabled.length = n;
    this.cur.length = n;
    this.pre.length = n;
    this.todo.length = n;
    this.done.length = n;
    this.sleep.length = n;
    this.pending.length = n;
  }
}

/**
 * The replay string of a schedule: the steps whose choice differs from the
 * default, as `step.thread` pairs (`12.1,40.0`). Running with exactly those
 * choices forced reproduces the schedule.
 */
export function replayString(steps: readonly StepRecord[]): string {
  const out: string[] = [];
  steps.forEach((s, k) => {
    if (s.thread !== defaultChoice(s.enabled & THREAD_BITS, s.cur)) out.push(`${k}.${s.thread}`);
  });
  return out.join(',');
}

/** The forced choices of a replay string, as a sparse prefix (-1: default). */
export function parseReplay(text: string): number[] {
  const prefix: number[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const m = /^(\d+)\.(\d+)$/.exec(part);
    if (m === null) throw new Error(`explore: bad replay step "${part}" (expected step.thread, e.g. 12.1)`);
    const k = Number(m[1]);
    while (prefix.length < k) prefix.push(-1);
    prefix[k] = Number(m[2]);
  }
  return prefix;
}
