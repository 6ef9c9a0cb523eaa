/**
 * Spawning real worker threads for tests, with a watchdog that terminates
 * them (Worker.terminate interrupts Atomics.wait) and reports what was lost.
 */
import { Worker } from 'node:worker_threads';
import { WatchdogError } from './watchdog.js';

/** What a test worker posts when its job finishes (see workerMain). */
export type WorkerOutcome<R> = { readonly ok: true; readonly result: R } | { readonly ok: false; readonly error: SerializedError };

/** An error as it crosses from a worker. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly stack?: string;
}

/** Options for {@link runWorkers}. */
export interface RunWorkersOptions {
  /** Milliseconds before the watchdog terminates every worker (default 30 000). */
  readonly timeoutMs?: number;
  /** Names what was lost if the watchdog fires; called only then. */
  readonly what?: string | (() => string);
  /** Called once every worker is online, e.g. to start the main thread's own part. */
  readonly onOnline?: (workers: readonly Worker[]) => void;
  /** Receives messages a worker posts before its outcome (anything without a boolean `ok`). */
  readonly onMessage?: (index: number, message: unknown) => void;
}

/**
 * Starts one worker per entry of `data` running the built module at `url`
 * (which calls workerMain), and resolves with their results in order.
 * Rejects on the first worker error, or with a WatchdogError naming `what`
 * after `timeoutMs`; either way every worker is terminated.
 */
export async function runWorkers<R>(url: URL, data: readonly unknown[], options: RunWorkersOptions = {}): Promise<R[]> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const workers = data.map((d) => new Worker(url, { workerData: d }));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const results = workers.map(
      (w, i) =>
        new Promise<R>((resolve, reject) => {
          let settled = false;
          w.on('message', (raw: unknown) => {
            if (typeof raw !== 'object' || raw === null || typeof (raw as { ok?: unknown }).ok !== 'boolean') {
              options.onMessage?.(i, raw);
              return;
            }
            const m = raw as WorkerOutcome<R>;
            settled = true;
            if (m.ok) resolve(m.result);
            else reject(Object.assign(new Error(`worker ${i}: ${m.error.name}: ${m.error.message}`), { code: m.error.code, workerStack: m.error.stack }));
          });
          w.once('error', (e) => {
            settled = true;
            reject(e);
          });
          w.once('exit', (code) => {
            if (!settled) reject(new Error(`worker ${i} exited with code ${code} before reporting`));
          });
        }),
    );
    if (options.onOnline) {
      await Promise.all(workers.map((w) => new Promise((r) => w.once('online', r))));
      options.onOnline(workers);
    }
    const watchdog = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const what = options.what;
        const detail = typeof what === 'function' ? what() : (what ?? 'workers did not finish');
        reject(new WatchdogError(`watchdog: no result from ${data.length} worker(s) after ${timeoutMs} ms: ${detail}`));
      }, timeoutMs);
    });
    return await Promise.race([Promise.all(results), watchdog]);
  } finally {
    clearTimeout(timer);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
