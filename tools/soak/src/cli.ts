#!/usr/bin/env node
/**
 * vmloop-soak --minutes N (or --seconds N)
 *
 * Runs, at once and continuously for the whole time: (a) bottom halves
 * scheduled across worker threads into each other's AioContexts, (b)
 * EventNotifier / NotifierSet sets from several workers with consumers
 * that account for every one, (c) timers armed, re-armed and deleted on an
 * AioContext, (d) thread-pool jobs with every result matched, cancellations
 * and worker deaths included, (e) the demo VM with verify. A watchdog per
 * activity fails the run if one makes no progress for 10 s (a lost wake-up
 * or completion), naming it and its counters; the process's memory is
 * sampled and must stay flat after a warm-up. At the end every count must
 * be exact. Exit status 0 only if all of that held.
 */
import { Control } from './layout.js';
import type { Activity, SummaryRow } from './activity.js';
import { fmtCount } from './activity.js';
import { startBhMesh } from './bh-mesh.js';
import { startDemo } from './demo.js';
import { BASE_WINDOW_S, DEMO_WARMUP_S, exposeGc, HEAP_SLACK, MemoryWatch, MiB, RATIO, RSS_SLACK } from './memory.js';
import { startNotifiers } from './notifiers.js';
import { startPool } from './pool.js';
import { startTimers } from './timers.js';

interface Options {
  seconds: number;
  bhWorkers: number;
  window: number;
  setters: number;
  timers: number;
  poolWorkers: number;
  demo: boolean;
  demoRunSeconds: number | undefined;
  stallSeconds: number;
}

const USAGE = `usage: vmloop-soak (--minutes N | --seconds N) [options]
  --bh-workers N        workers in the BH mesh (2-4, default 4)
  --window N            unacknowledged BH messages per peer (default 16)
  --setters N           notifier setter workers (default 3)
  --timers N            timers on the timer context (default 64)
  --pool-workers N      thread-pool workers (default 2)
  --demo-run-seconds S  length of each demo run (default: one run for the whole soak)
  --no-demo             leave the demo VM out
  --stall-seconds S     watchdog: no progress for this long fails the run (default 10)`;

function usage(problem?: string): never {
  if (problem) process.stderr.write(`vmloop-soak: ${problem}\n`);
  process.stderr.write(`${USAGE}\n`);
  process.exit(problem ? 2 : 0);
}

function parse(argv: readonly string[]): Options {
  const o: Options = { seconds: Number.NaN, bhWorkers: 4, window: 16, setters: 3, timers: 64, poolWorkers: 2, demo: true, demoRunSeconds: undefined, stallSeconds: 10 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    const value = (): number => {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      const n = Number(v);
      if (v === undefined || v === '' || !Number.isFinite(n) || n < 0) usage(`${name} needs a non-negative number, got ${v}`);
      return n;
    };
    switch (name) {
      case '--minutes':
        o.seconds = value() * 60;
        break;
      case '--seconds':
        o.seconds = value();
        break;
      case '--bh-workers':
        o.bhWorkers = value();
        break;
      case '--window':
        o.window = value();
        break;
      case '--setters':
        o.setters = value();
        break;
      case '--timers':
        o.timers = value();
        break;
      case '--pool-workers':
        o.poolWorkers = value();
        break;
      case '--demo-run-seconds':
        o.demoRunSeconds = value();
        break;
      case '--stall-seconds':
        o.stallSeconds = value();
        break;
      case '--no-demo':
        o.demo = false;
        break;
      case '--help':
      case '-h':
        usage();
        break;
      default:
        usage(`unknown argument ${a}`);
    }
  }
  if (!(o.seconds > 0)) usage('give --minutes N or --seconds N');
  return o;
}

const o = parse(process.argv.slice(2));
const durationMs = o.seconds * 1000;
const stallMs = o.stallSeconds * 1000;
// Warm-up: a quarter of the run, at least 10 s, at most a minute.
const warmupS = Math.min(60, Math.max(10, o.seconds / 4));
const sampleMs = o.seconds > 300 ? 5000 : 2000;
const memory = new MemoryWatch(exposeGc(), warmupS);
const err = (s: string): boolean => process.stderr.write(`${s}\n`);

const control = Control.create();
const controlHandle = Control.handle(control);
// Backup limit for the worker runs; the per-activity watchdog fires long before.
const timeoutMs = durationMs + 600_000;
const t0 = performance.now();
const since = (): number => (performance.now() - t0) / 1000;

err(
  `soak: ${(o.seconds / 60).toFixed(2)} min; watchdog ${o.stallSeconds} s per activity; memory every ${sampleMs / 1000} s, flat after ${warmupS.toFixed(0)} s (≤ +${RATIO * 100}% + ${MiB(RSS_SLACK)} MiB RSS, + ${MiB(HEAP_SLACK)} MiB heap over the highest sample of the next ${BASE_WINDOW_S} s)${memory.gcExposed ? '' : ' — no gc(): heap not checked'}`,
);

const demo = o.demo ? startDemo({ endAt: t0 + durationMs, runSeconds: o.demoRunSeconds, stallMs }) : undefined;
const activities: Activity[] = [
  startBhMesh(controlHandle, { workers: o.bhWorkers, window: o.window, timeoutMs }),
  startNotifiers(controlHandle, { setters: o.setters, timeoutMs }),
  startTimers(control, controlHandle, { timers: o.timers, timeoutMs }),
  startPool({ workers: o.poolWorkers }),
  ...(demo ? [demo] : []),
];

function printMemory(): void {
  console.log(`memory (t: soak RSS / main heap after GC${demo ? ' / demo RSS' : ''}, MiB):`);
  for (const line of memory.format()) console.log(line);
}

let failed = false;
function fail(message: string): never {
  if (!failed) {
    failed = true;
    console.log(`\nFAILED after ${since().toFixed(1)} s: ${message}`);
    printMemory();
  }
  process.exit(1);
}

for (const a of activities) a.failed.catch((e: unknown) => fail((e as Error).stack ?? String(e)));

// The watchdog: every activity not yet finished must move within stallMs.
const finished = new Set<string>();
const last = new Map(activities.map((a) => [a.name, { value: a.progress(), at: performance.now() }]));
let lastReport = 0;
const watchdog = setInterval(() => {
  const now = performance.now();
  for (const a of activities) {
    if (finished.has(a.name)) continue;
    const l = last.get(a.name)!;
    const v = a.progress();
    if (v !== l.value) last.set(a.name, { value: v, at: now });
    else if (now - l.at > stallMs) fail(`watchdog: ${a.name} made no progress for ${o.stallSeconds} s (a lost wake-up or completion): ${a.describe()}`);
  }
  if (now - lastReport >= 10_000) {
    lastReport = now;
    err(`soak: ${since().toFixed(0)} s: ${activities.map((a) => `${a.name} ${fmtCount(a.progress())}`).join(', ')}`);
  }
}, 250);

const sampler = setInterval(() => {
  memory.sample(since(), { pid: demo?.pid(), rss: demo?.rss() });
  const bad = memory.check();
  if (bad !== undefined) fail(`memory not flat: ${bad}`);
}, sampleMs);

await new Promise((r) => setTimeout(r, durationMs));
memory.sample(since(), { pid: demo?.pid(), rss: demo?.rss() });
const stoppedAt = since();
err(`soak: time is up after ${stoppedAt.toFixed(1)} s; draining and checking the counts`);
clearInterval(sampler);
control.stop.store(1);
// Each stop() first stops feeding its activity, synchronously, in this order.
const stops = activities.map((a) =>
  a.stop().then(() => {
    finished.add(a.name);
  }),
);
try {
  await Promise.all(stops);
} catch (e) {
  fail((e as Error).stack ?? String(e));
}
clearInterval(watchdog);
const bad = memory.check();
if (bad !== undefined) fail(`memory not flat: ${bad}`);

const rows: SummaryRow[] = activities.map((a) => a.summary(stoppedAt));
console.log(`\nvmloop soak: ${(stoppedAt / 60).toFixed(2)} min of load (${since().toFixed(1)} s with start-up and drain), node ${process.version}`);
console.log('| activity | operations | count | figures | lost |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.activity} | ${r.unit} | ${fmtCount(r.count)} | ${r.detail} | 0 |`);
const rg = memory.ranges();
console.log(
  `\nmemory after the warm-up (${warmupS.toFixed(0)} s; demo ${Math.max(DEMO_WARMUP_S, warmupS).toFixed(0)} s): soak RSS ${MiB(rg.rss[0])}–${MiB(rg.rss[1])} MiB, main heap ${MiB(rg.heap[0])}–${MiB(rg.heap[1])} MiB${rg.demo ? `, demo RSS ${MiB(rg.demo[0])}–${MiB(rg.demo[1])} MiB` : ''}: flat (bound +${RATIO * 100}% + ${MiB(RSS_SLACK)} MiB)`,
);
printMemory();
console.log('\nsoak passed: 0 lost wake-ups, 0 lost completions, every count exact');
process.exit(0);
