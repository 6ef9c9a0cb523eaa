/**
 * Entry of every explorer worker (one per logical thread of the harness),
 * started with `--conditions=vmloop-explore` so @vmloop/atomics loads its
 * instrumented cells. Thread 0 also drives the search.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { isInstrumented, setAtomicsScheduler } from '@vmloop/atomics/testing';
import { STEP, S_DIVERGED, S_DONE, readError } from './control.js';
import { BoundedDfs, parseReplay, replayString } from './dfs.js';
import { finishSteps, formatThreads, formatTrace, readChoices, readOps, readTrace, statusText } from './format.js';
import { type AnyHarness, threadNames } from './harness.js';
import { NameBook, nameLayouts } from './registry.js';
import { ThreadRuntime, collectNames, quitAll, runSchedule } from './runtime.js';
import type { ExploreReport, RunSettings } from './types.js';

interface Init {
  readonly ctl: SharedArrayBuffer;
  readonly me: number;
  readonly module: string;
  readonly harness: string;
  /** Thread 0: one port per other thread; others: their port to thread 0. */
  readonly ports: readonly MessagePort[];
  readonly settings: RunSettings;
}

const init = workerData as Init;
const port = parentPort!;

async function main(): Promise<void> {
  if (!isInstrumented()) throw new Error('explore: @vmloop/atomics is not the instrumented build (start the worker with --conditions=vmloop-explore)');
  const mod = (await import(init.module)) as { harnesses?: readonly AnyHarness[] };
  const harness = mod.harnesses?.find((h) => h.name === init.harness);
  if (harness === undefined) throw new Error(`explore: no harness "${init.harness}" in ${init.module}`);
  const ctl = new Int32Array(init.ctl);
  const rt = new ThreadRuntime(ctl, init.me, { handoffSpins: init.settings.handoffSpins });
  setAtomicsScheduler(rt);
  nameLayouts(rt.registry);
  if (init.me !== 0) {
    rt.remoteLoop(harness, init.ports[0]!);
    return;
  }
  port.postMessage({ type: 'report', report: drive(rt, harness) });
}

/** Thread 0: the search (or one replay), then the report. */
function drive(rt: ThreadRuntime, harness: AnyHarness): ExploreReport {
  const s = init.settings;
  const ctl = rt.ctl;
  const threads = threadNames(harness);
  const start = performance.now();
  let lastProgress = start;
  let schedules = 0;
  let maxSteps = 0;
  let exhaustive = false;
  let stoppedBy: ExploreReport['stoppedBy'] = 'max-schedules';
  let failure: ExploreReport['failure'];
  let replayTrace: string | undefined;
  const dfs = new BoundedDfs(s.bound, s.por);
  try {
    for (;;) {
      let prefix: number[] | undefined;
      if (s.replay !== undefined) prefix = schedules === 0 ? parseReplay(s.replay) : undefined;
      else prefix = dfs.next();
      if (prefix === undefined) {
        exhaustive = s.replay === undefined;
        stoppedBy = s.replay === undefined ? 'exhaustive' : 'replay';
        break;
      }
      const out = runSchedule(rt, harness, init.ports, prefix, s.maxSteps, s.spinLimit);
      schedules++;
      if (out.steps > maxSteps) maxSteps = out.steps;
      let status = out.status;
      let diverged = -1;
      if (status === S_DONE && s.replay === undefined) diverged = dfs.record(readChoices(ctl, out.steps), s.por ? readOps(ctl, out.steps, threads.length) : undefined);
      if (diverged >= 0) status = S_DIVERGED;
      if (status !== S_DONE || s.replay !== undefined) {
        const names = new NameBook();
        names.add(collectNames(rt, init.ports));
        const trace = readTrace(ctl, ctl[STEP]!);
        const text = formatTrace(trace, names, threads, finishSteps(ctl));
        if (status === S_DONE) {
          replayTrace = text;
        } else {
          failure = {
            status,
            kind: statusText(status),
            thread: threads[out.failThread] ?? '?',
            step: diverged >= 0 ? diverged : out.failStep,
            schedule: schedules,
            error: readError(ctl),
            threads: formatThreads(ctl, names, threads),
            trace: text,
            replay: replayString(trace),
          };
          stoppedBy = 'failure';
          break;
        }
      }
      if (s.replay !== undefined) continue;
      if (schedules >= s.maxSchedules) {
        stoppedBy = 'max-schedules';
        break;
      }
      const now = performance.now();
      if (now - start >= s.timeBudgetMs) {
        stoppedBy = 'time';
        break;
      }
      if (now - lastProgress >= s.progressMs) {
        lastProgress = now;
        port.postMessage({ type: 'progress', schedules, elapsedMs: now - start });
      }
    }
  } finally {
    quitAll(ctl);
  }
  return {
    harness: harness.name,
    description: harness.description,
    expect: harness.expect,
    threads,
    bound: s.bound,
    por: s.por,
    pruned: dfs.pruned,
    schedules,
    exhaustive,
    stoppedBy,
    maxSteps,
    elapsedMs: performance.now() - start,
    ...(failure !== undefined ? { failure } : {}),
    ...(replayTrace !== undefined ? { trace: replayTrace } : {}),
  };
}

main().catch((e: unknown) => {
  port.postMessage({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
});
