/**
 * The run's results: one object (printed as JSON with --json) and the table
 * a person reads. Figures come from the guest (requests, latencies, kicks,
 * interrupts taken, exits), the devices (interrupts sent and suppressed),
 * the loops (wake-ups, blocking waits) and every thread's CPU time.
 */
import Table from 'cli-table3';
import { Histogram } from './histogram.js';
import type { Machine } from './machine.js';
import type { VmOptions } from './options.js';
import type { VcpuReport } from './vcpu-worker.js';

export interface RunResult {
  readonly config: {
    readonly vcpus: number;
    readonly disks: number;
    readonly queuesPerDisk: number;
    readonly iothreads: number;
    readonly ioeventfd: boolean;
    readonly rw: string;
    readonly bs: number;
    readonly qd: number;
    readonly pollMaxNs: number;
    readonly aio: 'threads' | 'inline';
    /** `--pin` as given: 'off', 'auto' or the CPU list. */
    readonly pin: string;
    readonly verify: boolean;
  };
  readonly seconds: number;
  readonly requests: number;
  readonly iops: number;
  /** Requests per second past the first quarter of the run (at most its first second): boot, page faults and JIT left out. */
  readonly steadyIops: number | null;
  readonly mbPerSecond: number;
  readonly reads: number;
  readonly writes: number;
  readonly flushes: number;
  readonly errors: number;
  readonly latencyUs: { readonly p50: number; readonly p99: number; readonly p999: number; readonly max: number };
  readonly kicks: number;
  readonly kicksPerRequest: number;
  readonly interruptsSent: number;
  readonly interruptsSuppressed: number;
  readonly interruptsPerRequest: number;
  readonly notificationsPerRequest: number;
  readonly syncExits: number;
  readonly ioeventfdWrites: number;
  readonly wakeups: { readonly mainLoop: number; readonly iothreads: number; readonly vcpuHaltSleeps: number };
  readonly blockingWaits: { readonly iothreads: number; readonly vcpuHalts: number };
  /** What each vCPU's guest wrote to the debug-exit port (0 shutdown, 2 failed, 1 quit; null: nothing). */
  readonly guestExitCodes: readonly (number | null)[];
  readonly deviceResets: number;
  readonly reboots: number;
  readonly verify: 'passed' | 'failed' | 'off';
  readonly failure: string | undefined;
  /** CPU time per thread; `pinnedCpu`: the CPU --pin put it on (null: the scheduler's choice). */
  readonly threads: readonly { readonly name: string; readonly cpuMs: number | null; readonly pinnedCpu: number | null }[];
  readonly devices: readonly { readonly disk: number; readonly path: string; readonly ioeventfd: string; readonly fallback: number; readonly broken: string | null; readonly requests: number; readonly hosts: readonly string[] }[];
}

export async function collect(m: Machine, o: VmOptions, reports: readonly VcpuReport[], seconds: number, steadyIops?: number): Promise<RunResult> {
  const hist = new Histogram();
  const t = { ops: 0, reads: 0, writes: 0, flushes: 0, bytesRead: 0, bytesWritten: 0, errors: 0, kicks: 0, interrupts: 0, halts: 0, resets: 0, reboots: 0 };
  let exits = 0;
  let ioeventfdWrites = 0;
  let haltSleeps = 0;
  let failure: string | undefined;
  for (const r of reports) {
    hist.merge(Object.assign(new Histogram(r.latency), { max: r.latencyMax }));
    for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += (r.totals as Record<string, number>)[k] ?? 0;
    exits += r.exits;
    ioeventfdWrites += r.ioeventfdWrites;
    haltSleeps += r.haltSleeps;
    failure ??= r.failure;
  }
  const dev = await m.deviceStats();
  const io = await m.queryIothreads();
  const sent = dev.reduce((a, d) => a + d.interrupts.msix + d.interrupts.intx, 0);
  const suppressed = dev.reduce((a, d) => a + d.blk.interruptsSuppressed, 0);
  const pinnedCpu = (name: string): number | null => m.pinned.find((p) => p.name === name)?.cpu ?? null;
  const threads: { name: string; cpuMs: number | null; pinnedCpu: number | null }[] = [{ name: 'main (main loop, exits, monitor)', cpuMs: ms(m.mainCpuNs()), pinnedCpu: null }];
  for (const r of reports) threads.push({ name: `vcpu${r.index}`, cpuMs: ms(r.cpuNs), pinnedCpu: pinnedCpu(`vcpu${r.index}`) });
  for (const th of m.iothreads) threads.push({ name: th.name, cpuMs: ms(await th.cpuTimeNs()), pinnedCpu: pinnedCpu(th.name) });
  const known = threads.reduce((a, x) => a + (x.cpuMs ?? 0), 0);
  const usage = process.cpuUsage();
  threads.push({ name: 'thread-pool workers and the rest', cpuMs: Math.max(0, Math.round((usage.user + usage.system) / 1000 - known)), pinnedCpu: null });
  const perReq = (n: number): number => (t.ops === 0 ? 0 : round(n / t.ops, 4));
  return {
    config: { vcpus: o.vcpus, disks: o.disks, queuesPerDisk: o.queues, iothreads: o.iothreads, ioeventfd: m.ioeventfd, rw: o.rw, bs: o.bs, qd: o.qd, pollMaxNs: o.pollMaxNs, aio: o.aio, pin: typeof o.pin === 'string' ? o.pin : o.pin.join(','), verify: o.verify },
    seconds: round(seconds, 3),
    requests: t.ops,
    iops: Math.round(t.ops / seconds),
    steadyIops: steadyIops === undefined ? null : Math.round(steadyIops),
    mbPerSecond: round((t.bytesRead + t.bytesWritten) / seconds / 1e6, 1),
    reads: t.reads,
    writes: t.writes,
    flushes: t.flushes,
    errors: t.errors,
    latencyUs: { p50: us(hist.quantile(0.5)), p99: us(hist.quantile(0.99)), p999: us(hist.quantile(0.999)), max: us(hist.max) },
    kicks: t.kicks,
    kicksPerRequest: perReq(t.kicks),
    interruptsSent: sent,
    interruptsSuppressed: suppressed,
    interruptsPerRequest: perReq(sent),
    notificationsPerRequest: perReq(t.kicks + sent),
    syncExits: exits,
    ioeventfdWrites,
    wakeups: { mainLoop: m.mainLoopStats.wakeups, iothreads: io.reduce((a, x) => a + x.stats.wakeups, 0), vcpuHaltSleeps: haltSleeps },
    blockingWaits: { iothreads: io.reduce((a, x) => a + x.stats.blockingWaits, 0), vcpuHalts: t.halts },
    guestExitCodes: m.exitCodes.map((c) => c ?? null),
    deviceResets: t.resets,
    reboots: t.reboots,
    verify: !o.verify ? 'off' : failure === undefined ? 'passed' : 'failed',
    failure,
    threads,
    devices: dev.map((d) => ({
      disk: d.disk,
      path: m.disks[d.disk]!.created ? `(fresh ${o.diskSizeMiB} MiB image)` : m.disks[d.disk]!.path,
      ioeventfd: d.state.ioeventfd,
      fallback: d.state.fallback.length,
      broken: d.state.brokenReason ?? null,
      requests: d.blk.requests,
      hosts: d.blk.hosts,
    })),
  };
}

function ms(ns: number | undefined): number | null {
  return ns === undefined ? null : Math.round(ns / 1e6);
}
function us(ns: number): number {
  return round(ns / 1000, 1);
}
function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The table a person reads. */
export function renderTable(r: RunResult): string {
  const c = r.config;
  const head = `${c.vcpus} vCPU${c.vcpus > 1 ? 's' : ''}, ${c.disks} disk${c.disks > 1 ? 's' : ''} × ${c.queuesPerDisk} queue${c.queuesPerDisk > 1 ? 's' : ''}, ${c.iothreads === 0 ? 'no iothread (main loop)' : `${c.iothreads} iothread${c.iothreads > 1 ? 's' : ''}`}, ioeventfd ${c.ioeventfd ? 'on' : 'off'}, ${c.rw} bs=${c.bs >= 1024 ? `${c.bs / 1024}k` : c.bs} qd=${c.qd}${c.aio === 'inline' ? ', aio=inline' : ''}${c.pin === 'off' ? '' : `, pinned (${c.pin})`}${c.verify ? ', verify' : ''}`;
  const t = new Table({ style: { head: [], border: [] } });
  const fmt = (n: number): string => n.toLocaleString('en-US');
  t.push(
    ['workload', head],
    ['time', `${r.seconds} s`],
    ['IOPS', `${fmt(r.iops)}${r.steadyIops === null ? '' : `, ${fmt(r.steadyIops)} after start-up`}  (${fmt(r.requests)} requests: ${fmt(r.reads)} reads, ${fmt(r.writes)} writes, ${fmt(r.flushes)} flushes, ${r.errors} errors)`],
    ['throughput', `${r.mbPerSecond} MB/s`],
    ['latency p50 / p99 / p99.9 / max', `${r.latencyUs.p50} / ${r.latencyUs.p99} / ${r.latencyUs.p999} / ${r.latencyUs.max} µs`],
    ['kicks per request', `${r.kicksPerRequest}  (${fmt(r.kicks)} doorbells, ${fmt(r.ioeventfdWrites)} through ioeventfd)`],
    ['interrupts per request', `${r.interruptsPerRequest}  (${fmt(r.interruptsSent)} sent, ${fmt(r.interruptsSuppressed)} suppressed by EVENT_IDX)`],
    ['kicks + interrupts per request', `${r.notificationsPerRequest}  (2 without suppression)`],
    ['synchronous exits', `${fmt(r.syncExits)}  (PCI config, MMIO and PIO the main thread served)`],
    ['wake-ups', `main loop ${fmt(r.wakeups.mainLoop)}, iothreads ${fmt(r.wakeups.iothreads)}, halted vCPUs ${fmt(r.wakeups.vcpuHaltSleeps)}`],
    ['blocking waits', `iothreads ${fmt(r.blockingWaits.iothreads)}, vCPU HLTs ${fmt(r.blockingWaits.vcpuHalts)}`],
    ['device resets / reboots', `${r.deviceResets} / ${r.reboots}`],
    ['verify', r.verify === 'failed' ? `FAILED: ${r.failure}` : r.verify],
    ['CPU time per thread', r.threads.map((x) => `${x.name}: ${x.cpuMs === null ? '?' : `${fmt(x.cpuMs)} ms`}${x.pinnedCpu === null ? '' : ` (on CPU ${x.pinnedCpu})`}`).join('\n')],
  );
  for (const d of r.devices) {
    t.push([`disk ${d.disk}`, `${d.path}: ${fmt(d.requests)} requests on ${d.hosts.join(', ')}; ioeventfd ${d.ioeventfd}${d.fallback > 0 ? ` (${d.fallback} queues fell back to synchronous doorbells)` : ''}${d.broken ? `; broken: ${d.broken}` : ''}`]);
  }
  return t.toString();
}
