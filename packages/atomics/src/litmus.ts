import { arch } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AtomicsError, checkInt, checkTimeout } from './errors.js';
import { litmusLayout, plainView } from './litmus-layout.js';
import { workerExecArgv } from './thread.js';
import { FORBIDDEN, type LitmusMode, type LitmusShape, outcomeOf } from './litmus-shapes.js';

export type { LitmusMode, LitmusShape } from './litmus-shapes.js';

/** Options of {@link runLitmus}. */
export interface LitmusOptions {
  readonly shape: LitmusShape;
  readonly mode: LitmusMode;
  /** Iterations, 1 … 10 000 000 (each uses fresh locations). */
  readonly iterations: number;
  /** Terminate the threads and fail with ERR_LITMUS_TIMEOUT after this long (default 120 000 ms). */
  readonly timeoutMs?: number;
}

/** The outcome histogram of one run. */
export interface LitmusResult {
  readonly shape: LitmusShape;
  readonly mode: LitmusMode;
  readonly iterations: number;
  /** Outcome (`"r0=0 r1=1"`) → how many iterations ended so. */
  readonly histogram: Readonly<Record<string, number>>;
  /** The outcome sequential consistency forbids for this shape. */
  readonly forbidden: string;
  /** How often it was seen. */
  readonly forbiddenCount: number;
  /** `os.arch()` of the machine that ran it. */
  readonly arch: string;
  readonly elapsedMs: number;
}

const entry = new URL('./litmus-worker.js', import.meta.url);
const SHAPES: readonly LitmusShape[] = ['SB', 'MP', 'LB'];
const MODES: readonly LitmusMode[] = ['atomic', 'plain'];

/**
 * Runs a litmus shape across two real worker threads and returns the
 * outcome histogram. With `mode: 'atomic'` the forbidden outcome must never
 * appear (ECMAScript's seq-cst atomics); with `mode: 'plain'` it may —
 * on x86-64, store buffering (SB) shows it thousands of times per million,
 * which proves the harness can observe reordering at all.
 * @thread any (it starts two workers)
 */
export async function runLitmus(options: LitmusOptions): Promise<LitmusResult> {
  if (typeof options !== 'object' || options === null) throw new AtomicsError('ERR_INVALID_ARGUMENT', 'runLitmus needs options');
  const { shape, mode } = options;
  if (!SHAPES.includes(shape)) throw new AtomicsError('ERR_INVALID_ARGUMENT', `shape must be one of ${SHAPES.join(', ')}, got ${String(shape)}`);
  if (!MODES.includes(mode)) throw new AtomicsError('ERR_INVALID_ARGUMENT', `mode must be one of ${MODES.join(', ')}, got ${String(mode)}`);
  const n = checkInt('iterations', options.iterations, 1, 10_000_000);
  const timeoutMs = checkTimeout('timeoutMs', options.timeoutMs ?? 120_000);
  const layout = litmusLayout(n);
  const run = layout.create();
  const t0 = performance.now();
  const workers = ([0, 1] as const).map(
    (thread) =>
      new Worker(entry, { execArgv: workerExecArgv(), workerData: { buffer: run.buffer, byteOffset: run.byteOffset, n, shape, mode, thread } }),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const finished = Promise.all(
      workers.map(
        (w, i) =>
          new Promise<void>((resolve, reject) => {
            w.once('message', () => resolve());
            w.once('error', reject);
            w.once('exit', (code) => reject(new AtomicsError('ERR_LITMUS_TIMEOUT', `litmus thread ${i} exited with code ${code} before finishing`)));
          }),
      ),
    );
    const watchdog = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new AtomicsError(
            'ERR_LITMUS_TIMEOUT',
            `${shape}/${mode} made no progress within ${timeoutMs} ms (thread 0 at iteration ${run.progress.load()} of ${n}, rendezvous count ${run.arrive.load()})`,
          ),
        );
      }, timeoutMs);
    });
    await Promise.race([finished, watchdog]);
  } finally {
    clearTimeout(timer);
    await Promise.all(workers.map((w) => w.terminate()));
  }
  const elapsedMs = performance.now() - t0;
  // Pairs with each thread's done.add(1): their plain result writes are visible.
  if (run.done.load() !== 2) throw new AtomicsError('ERR_LITMUS_TIMEOUT', 'litmus threads did not both finish');
  const r0 = plainView(run.buffer, run.byteOffset, layout, 'r0', n);
  const r1 = plainView(run.buffer, run.byteOffset, layout, 'r1', 2 * n);
  const histogram: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const k = outcomeOf(shape, n, i, r0, r1);
    histogram[k] = (histogram[k] ?? 0) + 1;
  }
  const forbidden = FORBIDDEN[shape];
  return { shape, mode, iterations: n, histogram, forbidden, forbiddenCount: histogram[forbidden] ?? 0, arch: arch(), elapsedMs };
}
