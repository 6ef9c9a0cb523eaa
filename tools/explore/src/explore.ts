/**
 * The coordinator: starts one worker per logical thread of a harness (with
 * the instrumented atomics), lets thread 0 run the search, and returns its
 * report. Runs on any thread; never blocks it.
 */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { EXPLORE_CONDITION } from '@vmloop/atomics/testing';
import { MAX_STEPS, MAX_THREADS, NTHREADS, createControl } from './control.js';
import type { AnyHarness } from './harness.js';
import { findHarness } from './harnesses/index.js';
import type { ExploreReport, RunSettings } from './types.js';

/** Options of {@link explore}. */
export interface ExploreOptions {
  /** A harness name (`aio-notify`, `aio-notify:seed-001`, …; see `listHarnesses`). */
  readonly harness: string;
  /** Preemption bound (default: the harness's, else 2). */
  readonly bound?: number;
  /** Sleep sets (partial-order reduction; default false: the plain bounded search). */
  readonly por?: boolean;
  /** Stop after this many schedules (default: the harness's, else unlimited). */
  readonly maxSchedules?: number;
  /** Stop after this long (default unlimited). */
  readonly timeBudgetMs?: number;
  /** Run exactly this schedule (a failure's `replay` string). */
  readonly replay?: string;
  /** Longest schedule in steps (default 8192). */
  readonly maxSteps?: number;
  /** Loads in a row, with no write by any thread, that count as a spin (default 1000). */
  readonly spinLimit?: number;
  /** Loads a thread spins on its command word before sleeping (default 0: on two busy cores a spinner only slows the thread it waits for). */
  readonly handoffSpins?: number;
  /** Called every `progressMs` (default 2000) with the schedules so far. */
  readonly onProgress?: (schedules: number, elapsedMs: number) => void;
  readonly progressMs?: number;
  /** Fail if no report arrives within this long (default: time budget + 60 s, or 30 min). */
  readonly watchdogMs?: number;
}

const workerUrl = new URL('./worker.js', import.meta.url);

/** Explores one harness; resolves with the report (a found bug is a report with `failure`, not a rejection). */
export async function explore(options: ExploreOptions): Promise<ExploreReport> {
  const { harness, module } = await findHarness(options.harness);
  const n = 1 + harness.remotes.length;
  if (n > MAX_THREADS) throw new Error(`explore: ${harness.name} has ${n} threads; at most ${MAX_THREADS}`);
  const settings: RunSettings = {
    bound: options.bound ?? harness.bound ?? 2,
    por: options.por ?? false,
    maxSchedules: options.maxSchedules ?? harness.maxSchedules ?? Number.POSITIVE_INFINITY,
    timeBudgetMs: options.timeBudgetMs ?? Number.POSITIVE_INFINITY,
    maxSteps: Math.min(options.maxSteps ?? MAX_STEPS, MAX_STEPS),
    spinLimit: options.spinLimit ?? 1000,
    handoffSpins: options.handoffSpins ?? 0,
    progressMs: options.progressMs ?? 2000,
    ...(options.replay !== undefined ? { replay: options.replay } : {}),
  };
  const ctl = createControl();
  ctl[NTHREADS] = n;
  const channels = Array.from({ length: n - 1 }, () => new MessageChannel());
  const workers: Worker[] = [];
  for (let t = 0; t < n; t++) {
    const ports: MessagePort[] = t === 0 ? channels.map((c) => c.port1) : [channels[t - 1]!.port2];
    workers.push(
      new Worker(workerUrl, {
        workerData: { ctl: ctl.buffer, me: t, module, harness: harness.name, ports, settings },
        transferList: ports,
        execArgv: [`--conditions=${EXPLORE_CONDITION}`],
      }),
    );
  }
  const watchdogMs = options.watchdogMs ?? (Number.isFinite(settings.timeBudgetMs) ? settings.timeBudgetMs + 60_000 : 30 * 60_000);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await new Promise<ExploreReport>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`explore: ${harness.name}: no report after ${watchdogMs} ms (a worker hangs outside the scheduler?)`)), watchdogMs);
      workers.forEach((w, t) => {
        w.on('error', (e) => reject(new Error(`explore: ${harness.name}: worker ${t} died: ${e.stack ?? e.message}`)));
        w.on('message', (m: { type: string; report?: ExploreReport; message?: string; schedules?: number; elapsedMs?: number }) => {
          if (m.type === 'report') resolve(m.report!);
          else if (m.type === 'error') reject(new Error(`explore: ${harness.name}: worker ${t}: ${m.message}`));
          else if (m.type === 'progress') options.onProgress?.(m.schedules!, m.elapsedMs!);
        });
        w.on('exit', (code) => {
          if (code !== 0) reject(new Error(`explore: ${harness.name}: worker ${t} exited with code ${code}`));
        });
      });
    });
  } finally {
    clearTimeout(timer);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Whether a report is what the harness expects: a pass for a protocol, a failure for a mutant. */
export function asExpected(report: ExploreReport): boolean {
  return report.expect === 'pass' ? report.failure === undefined : report.failure !== undefined;
}

export type { AnyHarness };
