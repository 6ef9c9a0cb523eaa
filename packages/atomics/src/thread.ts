/**
 * Which threads may block.
 *
 * `Atomics.wait` freezes the calling thread. In a worker that is the point;
 * on the Node main thread it freezes the event loop, timers and I/O with it,
 * so vmloop forbids it there unless the program opts in with
 * {@link setMainThreadBlocking}. The answer comes from a dedicated probe,
 * computed once, never from catching the TypeError a browser main thread
 * throws.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { Worker, isMainThread } from 'node:worker_threads';
import { AtomicsError } from './errors.js';

/** Where this code runs, as far as blocking is concerned. */
export type ThreadKind = 'node-main' | 'node-worker' | 'browser-main' | 'browser-worker';

function probeThreadKind(): ThreadKind {
  const g = globalThis as { process?: { versions?: { node?: string } }; document?: unknown };
  if (g.process?.versions?.node !== undefined) return isMainThread ? 'node-main' : 'node-worker';
  return g.document !== undefined ? 'browser-main' : 'browser-worker';
}

const kind: ThreadKind = probeThreadKind();
let mainThreadBlocking = false;

/** The probe's answer for the current thread. @thread any */
export function threadKind(): ThreadKind {
  return kind;
}

/**
 * Allows (or forbids again) blocking waits on the Node main thread, for
 * command-line programs that have no event loop work to starve.
 * Has no effect on browser main threads, which can never block.
 * @thread node-main
 */
export function setMainThreadBlocking(allow: boolean): void {
  mainThreadBlocking = allow;
}

/** Whether a blocking wait is allowed on this thread right now. @thread any */
export function canBlock(): boolean {
  switch (kind) {
    case 'node-worker':
    case 'browser-worker':
      return true;
    case 'node-main':
      return mainThreadBlocking;
    case 'browser-main':
      return false;
  }
}

/**
 * Throws ERR_CANNOT_BLOCK when the current thread may not block.
 * `what` names the blocking call; `asyncAlternative` the call to use instead.
 */
export function assertCanBlock(what: string, asyncAlternative: string): void {
  if (!canBlock()) {
    throw new AtomicsError(
      'ERR_CANNOT_BLOCK',
      `${what} would block the ${kind} thread; use ${asyncAlternative} here, ` +
        'call it from a worker, or opt in with setMainThreadBlocking(true)',
    );
  }
}

const EVAL_FLAGS = new Set(['-e', '--eval', '-p', '--print']);
/** Node's ERR_WORKER_INVALID_EXEC_ARGV message names the flags after this. */
const INVALID_FLAGS = /invalid execArgv flags: (.*)$/;

let execArgvCache: string[] | undefined | null = null;

/**
 * `execArgv` for a new Worker: undefined (Node's default: inherit the
 * parent's options, every kind of flag accepted) unless the parent runs
 * evaluated code; then `process.execArgv` without the flags that would make
 * the worker run the parent's code instead of its own entry file
 * (`-e`/`--eval`/`-p`/`--print` with their code, `--input-type`), and
 * without the flags Node refuses in a Worker's explicit `execArgv` (V8 and
 * per-process options such as `--expose-gc`, found once with a throw-away
 * worker). Memory limits, conditions and the like are kept.
 * @thread any
 */
export function workerExecArgv(): string[] | undefined {
  if (execArgvCache !== null) return execArgvCache;
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (EVAL_FLAGS.has(a)) {
      i++; // its code
      continue;
    }
    if (a.startsWith('--eval=') || a.startsWith('--print=') || a.startsWith('--input-type')) {
      if (a === '--input-type') i++;
      continue;
    }
    out.push(a);
  }
  execArgvCache = out.length === argv.length ? undefined : acceptedByWorkers(out);
  return execArgvCache;
}

/** `flags` without those a Worker's explicit execArgv refuses (ERR_WORKER_INVALID_EXEC_ARGV). */
function acceptedByWorkers(flags: string[]): string[] {
  let list = flags;
  for (let attempt = 0; attempt <= flags.length; attempt++) {
    try {
      const probe = new Worker('', { eval: true, execArgv: list, stdout: true, stderr: true });
      probe.unref();
      void probe.terminate();
      return list;
    } catch (e) {
      const m = (e as { code?: string; message?: string }).code === 'ERR_WORKER_INVALID_EXEC_ARGV' ? INVALID_FLAGS.exec((e as Error).message) : null;
      if (m === null) throw e;
      const refused = new Set(m[1]!.split(', '));
      list = list.filter((a) => !refused.has(a) && !refused.has(a.split('=')[0]!));
    }
  }
  return list;
}

/**
 * CPU time the calling thread has used, in ns, or undefined where the
 * platform does not say (Linux: /proc/thread-self/schedstat, the
 * scheduler's own account; Node 20 has no per-thread cpuUsage). For stats
 * like QEMU's per-thread CPU figures in `top -H`.
 * @thread any
 */
export function threadCpuTimeNs(): number | undefined {
  try {
    const first = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0];
    const ns = Number(first);
    return Number.isFinite(ns) ? ns : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The kernel's id of the calling thread, or undefined where the platform
 * does not say (Linux: its TID, from /proc/thread-self, a link to
 * /proc/<pid>/task/<tid>). It is what QEMU's query-iothreads and
 * query-cpus-fast report as `thread-id` and what `taskset -p` and
 * `chrt -p` take, so a user can pin a worker the way QEMU users pin vCPU
 * and iothread threads; Node's `threadId` numbers workers inside one
 * process and means nothing to the kernel.
 * @thread any
 */
export function osThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isSafeInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}
