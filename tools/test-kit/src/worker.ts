/**
 * Worker side of runWorkers: `workerMain(job)` runs `job(workerData)` and
 * posts its result (or its error, with name, message, code and stack).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { WorkerOutcome } from './workers.js';

/** Runs `job` with this worker's workerData and reports the outcome to the parent. */
export function workerMain<D, R>(job: (data: D) => R | Promise<R>): void {
  const port = parentPort;
  if (port === null) throw new Error('workerMain must run inside a worker thread');
  Promise.resolve()
    .then(() => job(workerData as D))
    .then(
      (result) => port.postMessage({ ok: true, result } satisfies WorkerOutcome<R>),
      (e: unknown) => {
        const err = e instanceof Error ? e : new Error(String(e));
        const code = (err as { code?: unknown }).code;
        port.postMessage({
          ok: false,
          error: { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}), ...(err.stack ? { stack: err.stack } : {}) },
        } satisfies WorkerOutcome<R>);
      },
    );
}
