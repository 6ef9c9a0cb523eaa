/**
 * Readable schedules: one line per step, thread switches marked, cells by
 * layout name, and the threads' states at the end.
 */
import { OP_NAMES } from '@vmloop/atomics/testing';
import {
  NTHREADS,
  SPUN,
  OP_NOTIFY,
  OP_SLEEP,
  OP_WAIT,
  STATUS_NAMES,
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
  TSTATE,
  TWKEY,
  T_BLOCKED,
  T_FINISHED,
  T_NEW,
  T_READY,
  T_SPINNING,
  T_WOKEN,
} from './control.js';
import type { StepOps, StepRecord } from './dfs.js';
import type { NameBook } from './registry.js';

/** One executed step, as the trace holds it. */
export interface TraceStep extends StepRecord {
  readonly op: number;
  readonly key: number;
  readonly value: number;
}

/** The steps of the schedule that just ran. */
export function readTrace(ctl: Int32Array, steps: number): TraceStep[] {
  const out: TraceStep[] = [];
  for (let k = 0; k < steps; k++) {
    out.push({
      thread: ctl[TR_THREAD + k]!,
      enabled: ctl[TR_ENABLED + k]!,
      cur: ctl[TR_CUR + k]!,
      op: ctl[TR_OP + k]!,
      key: ctl[TR_KEY + k]!,
      value: ctl[TR_VAL + k]!,
    });
  }
  return out;
}

/**
 * What sleep sets need per step: its operation and every thread's next
 * operation from that step on (a thread's next operation is fixed once it
 * parks: what it does before its next atomic is thread-local). Undefined
 * when the schedule spun or timed out: enabledness then depends on more
 * than the operations, and the search does not prune there.
 */
export function readOps(ctl: Int32Array, steps: number, threads: number): StepOps[] | undefined {
  if (ctl[SPUN] !== 0) return undefined;
  const out: StepOps[] = new Array(steps);
  const next: [number, number][] = [];
  for (let t = 0; t < threads; t++) {
    const st = ctl[TSTATE + t]!;
    next.push(st === T_READY ? [ctl[TPOP + t]!, ctl[TPKEY + t]!] : [-1, 0]);
  }
  for (let k = steps - 1; k >= 0; k--) {
    if ((ctl[TR_ENABLED + k]! & TIMEOUT_CHOICE) !== 0) return undefined;
    const t = ctl[TR_THREAD + k]!;
    const op = ctl[TR_OP + k]!;
    const key = ctl[TR_KEY + k]!;
    next[t] = [op, key];
    out[k] = { op, key, pending: next.map((x) => x) };
  }
  return out;
}

/** Only what the search needs (cheaper than readTrace). */
export function readChoices(ctl: Int32Array, steps: number): StepRecord[] {
  const out: StepRecord[] = new Array(steps);
  for (let k = 0; k < steps; k++) out[k] = { thread: ctl[TR_THREAD + k]!, enabled: ctl[TR_ENABLED + k]!, cur: ctl[TR_CUR + k]! };
  return out;
}

function opName(op: number): string {
  if (op === OP_WAIT || op === OP_SLEEP) return 'wait';
  if (op === OP_NOTIFY) return 'notify';
  return OP_NAMES[op] ?? `op${op}`;
}

function describe(s: TraceStep): string {
  switch (s.op) {
    case OP_WAIT:
      return `not-equal (word = ${s.value})`;
    case OP_SLEEP:
      return `sleeps (word = ${s.value})`;
    case OP_NOTIFY:
      return `woke ${s.value}`;
    case 0:
      return `= ${s.value}`;
    case 1:
      return `:= ${s.value}`;
    default:
      return `old ${s.value}`;
  }
}

/** Longest schedule printed in full; longer ones keep their start and their end. */
const FULL = 400;
const HEAD = 300;
const TAIL = 60;

/** The schedule as text, one step per line (a very long one with its middle elided). */
export function formatTrace(trace: readonly TraceStep[], names: NameBook, threads: readonly string[], finishes: readonly number[]): string {
  const lines = traceLines(trace, names, threads, finishes);
  if (lines.length <= FULL) return lines.join('\n');
  return [...lines.slice(0, HEAD), `       … ${lines.length - HEAD - TAIL} lines elided …`, ...lines.slice(-TAIL)].join('\n');
}

function traceLines(trace: readonly TraceStep[], names: NameBook, threads: readonly string[], finishes: readonly number[]): string[] {
  const w = Math.max(...threads.map((t) => t.length));
  const lines: string[] = [];
  let last = -1;
  trace.forEach((s, k) => {
    for (let t = 0; t < threads.length; t++) if (finishes[t] === k && t !== s.thread) lines.push(`       ${threads[t]!.padEnd(w)}  (finished)`);
    let mark = '  ';
    if (last >= 0 && s.thread !== last) mark = s.cur >= 0 ? '» ' : '~ ';
    if ((s.enabled & TIMEOUT_CHOICE) !== 0) mark = 't ';
    last = s.thread;
    lines.push(`${mark}${String(k).padStart(4)} ${threads[s.thread]!.padEnd(w)}  ${opName(s.op).padEnd(15)} ${names.name(s.key).padEnd(48)} ${describe(s)}`);
  });
  for (let t = 0; t < threads.length; t++) if (finishes[t] === trace.length) lines.push(`       ${threads[t]!.padEnd(w)}  (finished)`);
  return lines;
}

/** Where each thread is at the end of a schedule. */
export function formatThreads(ctl: Int32Array, names: NameBook, threads: readonly string[]): string {
  const lines: string[] = [];
  for (let t = 0; t < ctl[NTHREADS]!; t++) {
    const s = ctl[TSTATE + t]!;
    let what: string;
    switch (s) {
      case T_BLOCKED:
        what = `blocked in a futex wait on ${names.name(ctl[TWKEY + t]!)}`;
        break;
      case T_FINISHED:
        what = 'finished';
        break;
      case T_NEW:
        what = 'not started';
        break;
      case T_SPINNING:
        what = `spinning (loads, nobody writes), next ${opName(ctl[TPOP + t]!)} ${names.name(ctl[TPKEY + t]!)}`;
        break;
      case T_READY:
        what = `preempted before ${opName(ctl[TPOP + t]!)} ${names.name(ctl[TPKEY + t]!)}`;
        break;
      case T_WOKEN:
        what = 'woken, not yet run';
        break;
      default:
        what = 'running';
    }
    lines.push(`  ${threads[t]!.padEnd(12)} ${what}`);
  }
  return lines.join('\n');
}

/** The finish step of every thread (-1 if it did not finish). */
export function finishSteps(ctl: Int32Array): number[] {
  const out: number[] = [];
  for (let t = 0; t < ctl[NTHREADS]!; t++) out.push(ctl[TFINISH + t]!);
  return out;
}

/** What a failing status means. */
export function statusText(status: number): string {
  switch (status) {
    case 2:
      return 'deadlock: every live thread sleeps in a futex wait with no timeout (a lost wake-up)';
    case 3:
      return 'a thread threw';
    case 4:
      return 'step limit: the schedule did not end (a livelock, or raise --max-steps)';
    case 5:
      return 'livelock: the threads that can still run only load words that no thread that can run will write';
    case 6:
      return 'the harness is not deterministic: a replayed schedule took another path';
    case 7:
      return 'the final check failed';
    default:
      return STATUS_NAMES[status] ?? `status ${status}`;
  }
}
