/**
 * Worker entry of the litmus harness (started by runLitmus from the built
 * package: `new URL('./litmus-worker.js', import.meta.url)`). Not exported.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { litmusLayout, plainView } from './litmus-layout.js';
import { type LitmusMode, type LitmusShape, bodies } from './litmus-shapes.js';

interface Job {
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly n: number;
  readonly shape: LitmusShape;
  readonly mode: LitmusMode;
  readonly thread: 0 | 1;
}

const job = workerData as Job;
const layout = litmusLayout(job.n);
const run = layout.at(job.buffer, job.byteOffset);
bodies[job.shape][job.mode][job.thread]({
  n: job.n,
  ax: run.x,
  ay: run.y,
  px: plainView(job.buffer, job.byteOffset, layout, 'x', job.n),
  py: plainView(job.buffer, job.byteOffset, layout, 'y', job.n),
  r: job.thread === 0 ? plainView(job.buffer, job.byteOffset, layout, 'r0', job.n) : plainView(job.buffer, job.byteOffset, layout, 'r1', 2 * job.n),
  arrive: run.arrive,
  progress: run.progress,
});
// Publishes this thread's result writes; pairs with done.load() in runLitmus.
run.done.add(1);
parentPort?.postMessage('done');
