#!/usr/bin/env node
/**
 * vmloop-demo: builds the machine, runs the workload for --duration seconds
 * (or until Ctrl-C, SIGTERM or QMP `quit`), shows live IOPS on stderr, and
 * prints the results. Exit status: 0 done; 1 bad flags; 2 verify mismatch;
 * 3 watchdog (no request completed for --watchdog seconds: a lost wake-up);
 * 4 a device broke or the guest failed; 5 internal error.
 */
import cliProgress from 'cli-progress';
import { GUEST_FAILED } from './guest/info-page.js';
import { Machine } from './machine.js';
import { UsageError, parseOptions, type VmOptions } from './options.js';
import { PinError } from './pinning.js';
import { QmpServer } from './qmp.js';
import { collect, renderTable, type RunResult } from './report.js';
import { writeTrace } from './trace.js';
import type { VcpuReport } from './vcpu-worker.js';

export const EXIT_OK = 0;
export const EXIT_USAGE = 1;
export const EXIT_VERIFY = 2;
export const EXIT_WATCHDOG = 3;
export const EXIT_DEVICE = 4;
export const EXIT_INTERNAL = 5;

function log(o: VmOptions, line: string): void {
  if (!o.json || process.stderr.isTTY) process.stderr.write(`${line}\n`);
}

async function run(o: VmOptions): Promise<number> {
  const m = await Machine.create(o);
  let ended: (reason: string) => void = () => {};
  const end = new Promise<string>((r) => {
    ended = r;
  });
  let qmp: QmpServer | undefined;
  if (o.qmp !== undefined) {
    qmp = await QmpServer.listen({
      path: o.qmp,
      machine: m,
      onQuit: () => ended('host-qmp-quit'),
      stats: async () => JSON.parse(JSON.stringify({ progress: m.progress(), devices: await m.deviceStats(), iothreads: await m.queryIothreads(), mainLoop: m.mainLoopStats }, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))),
    });
    log(o, `QMP monitor on ${o.qmp} (socat - UNIX-CONNECT:${o.qmp})`);
  }
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signals > 1) process.exit(130);
    log(o, `\n${sig}: finishing in-flight requests, flushing, reporting (again to abort)`);
    ended('host-signal');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (!m.ioeventfd && o.ioeventfd) log(o, 'note: no iothread, so ioeventfd is off (as in QEMU: the devices run on the thread the exits go to)');

  // Paused time does not count as workload time.
  let pausedMs = 0;
  let pausedAt: number | undefined;
  m.on((e) => {
    if (e.event === 'STOP') pausedAt = performance.now();
    if (e.event === 'RESUME' && pausedAt !== undefined) {
      pausedMs += performance.now() - pausedAt;
      pausedAt = undefined;
    }
  });

  m.start();
  const t0 = performance.now();
  const durationTimer = setTimeout(() => ended('duration'), o.durationS * 1000);
  const bar = o.progress && process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'vmloop-demo [{bar}] {percentage}% | {iops} IOPS | {mbps} MB/s | in flight {inflight} | {state}', hideCursor: true, clearOnComplete: true, stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(o.durationS, 0, { iops: 0, mbps: '0.0', inflight: 0, state: 'booting' });
  let last = { ops: 0, sectors: 0, t: t0 };
  // Progress samples (time, requests) for the steady-state rate: past the
  // first quarter of the run (boot, page faults, JIT) to the last one.
  const samples: { t: number; ops: number }[] = [];
  let stuckSince = performance.now();
  let lastLine = 0;
  let watchdog: string | undefined;
  const tick = setInterval(() => {
    const p = m.progress();
    const now = performance.now();
    const dt = (now - last.t) / 1000;
    const iops = Math.round((p.ops - last.ops) / dt);
    const mbps = (((p.sectors - last.sectors) * 512) / dt / 1e6).toFixed(1);
    const elapsed = (now - t0 - pausedMs - (pausedAt === undefined ? 0 : now - pausedAt)) / 1000;
    if (bar !== undefined) bar.update(Math.min(o.durationS, elapsed), { iops: iops.toLocaleString('en-US'), mbps, inflight: p.inFlight, state: m.state });
    else if (o.progress && now - lastLine > 2000) {
      lastLine = now;
      log(o, `vmloop-demo: ${elapsed.toFixed(1)}/${o.durationS} s, ${iops.toLocaleString('en-US')} IOPS, ${mbps} MB/s, ${p.inFlight} in flight, ${m.state}`);
    }
    if (p.ops !== last.ops || m.state !== 'running' || p.inFlight === 0) stuckSince = now;
    else if (now - stuckSince > o.watchdogS * 1000) {
      watchdog = `lost wake-up: no request completed for ${o.watchdogS} s with ${p.inFlight} in flight (guest states ${p.states.join(',')})`;
      ended('watchdog');
    }
    if (p.states.some((s) => s === GUEST_FAILED)) ended('guest-failed');
    if (m.state === 'running') samples.push({ t: elapsed, ops: p.ops });
    last = { ops: p.ops, sectors: p.sectors, t: now };
  }, 250);

  const reason = await end;
  clearTimeout(durationTimer);
  clearInterval(tick);
  bar?.stop();
  if (watchdog !== undefined) {
    process.stderr.write(`vmloop-demo: ${watchdog}\n`);
    for (const d of await m.deviceStats()) process.stderr.write(`  disk ${d.disk}: ${JSON.stringify(d.state, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}\n`);
    await m.destroy();
    return EXIT_WATCHDOG;
  }
  let reports: VcpuReport[];
  const drainLimit = setTimeout(() => {
    process.stderr.write(`vmloop-demo: lost wake-up: the guest did not finish draining within ${o.watchdogS} s of the ${reason} request\n`);
    process.exit(EXIT_WATCHDOG);
  }, o.watchdogS * 1000);
  try {
    reports = await m.shutdown(reason === 'host-qmp-quit' ? 'host-qmp-quit' : reason === 'host-signal' ? 'host-signal' : 'guest-shutdown');
  } finally {
    clearTimeout(drainLimit);
  }
  const seconds = Math.max(0.001, (performance.now() - t0 - pausedMs) / 1000);
  const from = samples.find((x) => x.t >= Math.min(1, o.durationS / 4));
  const to = samples[samples.length - 1];
  const steady = from !== undefined && to !== undefined && to.t > from.t ? (to.ops - from.ops) / (to.t - from.t) : undefined;
  const result: RunResult = await collect(m, o, reports, seconds, steady);
  if (o.trace !== undefined) {
    const { events } = writeTrace(o.trace, m.mainTrace, reports, await m.iothreadTraces());
    log(o, `trace: ${events.toLocaleString('en-US')} events in ${o.trace} (open it in https://ui.perfetto.dev)`);
  }
  qmp?.close();
  await m.destroy();
  if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else process.stdout.write(`${renderTable(result)}\n`);
  if (result.verify === 'failed') {
    process.stderr.write(`vmloop-demo: ${result.failure}\n`);
    return EXIT_VERIFY;
  }
  const failed = reports.find((r) => r.exit === 'failed');
  if (failed !== undefined) {
    process.stderr.write(`vmloop-demo: the guest on vcpu${failed.index} failed: ${failed.failure ?? 'see the table'}\n`);
    return EXIT_DEVICE;
  }
  const broken = result.devices.find((d) => d.broken !== null && result.deviceResets === 0);
  if (broken !== undefined) {
    process.stderr.write(`vmloop-demo: disk ${broken.disk} is broken: ${broken.broken}\n`);
    return EXIT_DEVICE;
  }
  return EXIT_OK;
}

async function main(): Promise<void> {
  let o: VmOptions;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') process.exit(0);
    process.stderr.write(`vmloop-demo: ${(e as Error).message}\n(see --help)\n`);
    process.exit(e instanceof UsageError ? EXIT_USAGE : EXIT_INTERNAL);
  }
  try {
    process.exitCode = await run(o);
  } catch (e) {
    // A pinning the host cannot do is the user's request, not our bug: no stack.
    if (e instanceof PinError) {
      process.stderr.write(`vmloop-demo: ${e.message}\n`);
      process.exitCode = EXIT_USAGE;
    } else {
      process.stderr.write(`vmloop-demo: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = EXIT_INTERNAL;
    }
  }
  // Workers and sockets are gone; leave even if something still holds the loop.
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
}

void main();
