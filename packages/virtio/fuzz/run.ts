/**
 * npm run fuzz -w @vmloop/virtio -- [--cases N] [--seed S]
 *
 * Fuzzes the device side of the split ring (./replay.ts says what is
 * checked) in a worker thread. Prints cases run, cases/s and the outcomes
 * by kind. Exits 1 with the shrunk counterexample (JSON) when a check
 * fails, or with the case itself when one does not finish within 30 s.
 */
import { Worker } from 'node:worker_threads';
import type { WorkerOutcome } from '@vmloop/test-kit';
import { CHUNK, DONE, type FuzzJob, FuzzProgress, INDEX } from './progress.js';
import { type FuzzRunResult, formatTally, stuckCase } from './targets.js';

const STALL_MS = 30_000;

function arg(name: string): string | undefined {
  const argv = process.argv.slice(2);
  const i = argv.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i < 0) return undefined;
  const a = argv[i]!;
  return a.includes('=') ? a.slice(name.length + 1) : argv[i + 1];
}

function int(name: string, fallback: number): number {
  const v = arg(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`fuzz: ${name} needs a non-negative integer, got ${v}\n`);
    process.exit(2);
  }
  return n;
}

const cases = int('--cases', 100_000);
const seed = int('--seed', Date.now() % 0x7fff_ffff);
const progress = FuzzProgress.create();
const { cells } = progress;
const job: FuzzJob = { cases, seed, progress: FuzzProgress.handle(progress) };
const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: job });
const t0 = performance.now();

let last = { chunk: -1, index: -1, at: performance.now(), done: 0 };
const watch = setInterval(() => {
  const chunk = cells.load(CHUNK);
  const index = cells.load(INDEX);
  const done = cells.load(DONE);
  const now = performance.now();
  if (done !== last.done) process.stderr.write(`fuzz: ${done} cases, ${Math.round(done / ((now - t0) / 1e3))} cases/s\n`);
  if (chunk !== last.chunk || index !== last.index) last = { chunk, index, at: now, done };
  else if (now - last.at > STALL_MS) {
    clearInterval(watch);
    void worker.terminate();
    console.log(`FAILED: a case did not finish within ${STALL_MS / 1000} s (seed ${seed}, chunk ${chunk}, case ${index}): a pop that never returns?`);
    console.log(JSON.stringify(stuckCase(seed, chunk, index), null, 2));
    process.exit(1);
  }
  last.done = done;
}, 1000);

worker.once('error', (e) => {
  clearInterval(watch);
  console.log(`FAILED: the fuzzing worker died: ${e.stack ?? String(e)}`);
  process.exit(1);
});
worker.once('message', (m: WorkerOutcome<FuzzRunResult>) => {
  clearInterval(watch);
  void worker.terminate();
  if (!m.ok) {
    console.log(`FAILED: ${m.error.name}: ${m.error.message}\n${m.error.stack ?? ''}`);
    process.exit(1);
  }
  const r = m.result;
  console.log(`virtio queue fuzz: ${r.cases} cases in ${r.seconds.toFixed(1)} s (${Math.round(r.cases / r.seconds)} cases/s), seed ${r.seed}`);
  for (const line of formatTally(r.tally, r.cases)) console.log(line);
  if (r.failure !== undefined) {
    console.log(`\nFAILED (chunk seed ${r.failure.seed}, path ${r.failure.path}): ${r.failure.error}`);
    console.log('shrunk counterexample:');
    console.log(JSON.stringify(r.failure.counterexample, null, 2));
    process.exit(1);
  }
});
