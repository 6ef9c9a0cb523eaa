/**
 * Thread pinning: each vCPU and iothread worker on a CPU of its own, what
 * QEMU users do with `taskset -p` on the thread ids query-cpus-fast and
 * query-iothreads report (libvirt: vcpupin, iothreadpin). QEMU pins
 * nothing by default and neither do we (`--pin off`).
 *
 * Why it matters here: the vCPU and the iothread each poll (halt polling,
 * adaptive polling) on a core. The scheduler now and then wakes one onto
 * the other's core; two pollers on one core take turns, each spinning out
 * its window while the other, which would end the wait, cannot run, and
 * the load balancer leaves "cache-hot" threads where they are for a while.
 * In the blk-iops run the two busy threads shared a core in 2% of samples,
 * and the iothread went to sleep ~100 times a second; pinned, a third of
 * that (README, Benchmarks).
 *
 * Node has no thread-affinity call: the main thread runs util-linux's
 * `taskset -p -c CPU TID` (sched_setaffinity) on each worker's kernel
 * thread id (osThreadId). Pool workers (--aio threads) are left to the
 * scheduler.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** `--pin`: off, auto (round-robin over the CPUs this process may use), or an explicit CPU list (threads in order: vCPUs, then iothreads). */
export type PinMode = 'off' | 'auto' | readonly number[];

/** A thread to pin: its name in the report and its kernel id. */
export interface PinTarget {
  readonly name: string;
  readonly tid: number | null;
}

/** A thread as pinned. */
export interface Pinned {
  readonly name: string;
  readonly tid: number;
  readonly cpu: number;
}

/** A CPU list as Linux writes it ("0-3,8,10-11"); undefined when malformed. */
export function parseCpuList(text: string): number[] | undefined {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m === null) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi - lo > 4096) return undefined;
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return out.length === 0 ? undefined : [...new Set(out)].sort((a, b) => a - b);
}

/** The CPUs this process may run on (Linux: Cpus_allowed_list), else 0 … availableParallelism − 1. */
export function allowedCpus(): number[] {
  try {
    const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    const list = m === null ? undefined : parseCpuList(m[1]!);
    if (list !== undefined) return list;
  } catch {
    // not Linux
  }
  return Array.from({ length: availableParallelism() }, (_, i) => i);
}

/**
 * Which CPU each thread gets, vCPUs first, then iothreads. A list: thread
 * k gets its k-th entry (round-robin). Auto: round-robin over `cpus`, but
 * iothread j never on the CPU of vCPU j when there is another — vCPU j and
 * iothread j poll for each other (disk d is driven by vCPU d mod vcpus
 * and served by iothread d mod iothreads), and two pollers on one core
 * take turns.
 */
export function pinPlan(mode: 'auto' | readonly number[], vcpus: number, iothreads: number, cpus: readonly number[]): number[] {
  if (mode !== 'auto') return Array.from({ length: vcpus + iothreads }, (_, k) => mode[k % mode.length]!);
  const n = cpus.length;
  const plan = Array.from({ length: vcpus }, (_, i) => cpus[i % n]!);
  for (let j = 0; j < iothreads; j++) {
    let c = (vcpus + j) % n;
    if (n > 1 && j < vcpus && cpus[c] === plan[j]) c = (c + 1) % n;
    plan.push(cpus[c]!);
  }
  return plan;
}

/** A pinning that could not be done (exit status 1, like a bad flag). */
export class PinError extends Error {
  override name = 'PinError';
  readonly code = 'ERR_PIN';
}

/**
 * Pins each vCPU and iothread to its CPU of the plan (sched_setaffinity
 * through taskset). Throws PinError when a thread id is unknown (not Linux) or
 * taskset fails (not installed, not permitted).
 */
export function pinThreads(mode: 'auto' | readonly number[], vcpus: readonly PinTarget[], iothreads: readonly PinTarget[]): Pinned[] {
  const cpus = allowedCpus();
  if (mode !== 'auto') {
    const bad = mode.filter((c) => !cpus.includes(c));
    if (bad.length > 0) throw new PinError(`--pin: CPU ${bad.join(', ')} is not one this process may use (${cpus.join(',')})`);
  }
  const plan = pinPlan(mode, vcpus.length, iothreads.length, cpus);
  const targets = [...vcpus, ...iothreads];
  return targets.map((t, k) => pinThread(t, plan[k]!));
}

/** Pins one thread to `cpu` (taskset -p -c); throws PinError when its id is unknown or taskset fails. */
export function pinThread(t: PinTarget, cpu: number): Pinned {
  if (t.tid === null) throw new PinError(`--pin: the kernel thread id of ${t.name} is unknown (pinning needs Linux /proc)`);
  try {
    execFileSync('taskset', ['-p', '-c', String(cpu), String(t.tid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer };
    const why = err.code === 'ENOENT' ? 'taskset (util-linux) is not installed' : (err.stderr?.toString().trim() || String(e));
    throw new PinError(`--pin: could not pin ${t.name} (thread ${t.tid}) to CPU ${cpu}: ${why}`);
  }
  return { name: t.name, tid: t.tid, cpu };
}
