/**
 * (e) Demo VM I/O: the built demo CLI in a child process, run after run
 * until the soak's time is up (by default one run as long as the soak).
 * Each run must exit 0 with verify passed. Live progress comes from the
 * demo's QMP monitor (`x-vmloop-stats`, the guest's completed requests),
 * polled every second, so a stalled VM trips the soak's watchdog within
 * seconds; the demo's own watchdog (`--watchdog 10`, exit status 3) names
 * what was in flight. The child's RSS is sampled for the memory check.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Activity, check, failure, fmtCount, fmtRate, type SummaryRow } from './activity.js';

export const DEMO_CLI = fileURLToPath(import.meta.resolve('@vmloop/demo-vm/dist/cli.js'));
export const DEMO_ARGS = ['--verify', '--flush-every', '128', '--json'] as const;

/** RSS of a process in bytes (Linux /proc), or undefined. */
export function rssOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** A minimal QMP client: negotiates, then answers `x-vmloop-stats` with the guest's completed requests. */
class Qmp {
  private buf = '';
  private waiting = new Map<string, (r: Record<string, unknown>) => void>();
  private id = 0;
  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (line === '') continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        const cb = typeof msg.id === 'string' ? this.waiting.get(msg.id) : undefined;
        if (cb !== undefined) {
          this.waiting.delete(msg.id as string);
          cb(msg);
        }
      }
    });
  }
  static async open(path: string): Promise<Qmp> {
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    sock.on('error', () => {});
    const q = new Qmp(sock);
    await q.cmd('qmp_capabilities');
    return q;
  }
  cmd(execute: string): Promise<Record<string, unknown>> {
    const id = `soak-${++this.id}`;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.sock.write(`${JSON.stringify({ execute, id })}\n`);
    });
  }
  close(): void {
    this.sock.destroy();
  }
}

interface RunResult {
  readonly requests: number;
  readonly iops: number;
  readonly verify: string;
  readonly flushes: number;
  readonly errors: number;
  readonly deviceResets: number;
}

export function startDemo(o: { endAt: number; runSeconds: number | undefined; stallMs: number }): Activity & { pid(): number | undefined; rss(): number | undefined } {
  const f = failure();
  const runs: RunResult[] = [];
  let child: ChildProcess | undefined;
  let liveOps = 0;
  let started = 0;
  let stopping = false;
  let current: Promise<void> | undefined;
  let lastStderr = '';

  const runOnce = async (seconds: number): Promise<void> => {
    const sock = join(tmpdir(), `vmloop-soak-${process.pid}-${started}.sock`);
    const args = [...DEMO_ARGS, '--duration', String(seconds), '--qmp', sock, '--watchdog', String(Math.round(o.stallMs / 1000))];
    started++;
    liveOps = 0;
    const c = spawn(process.execPath, [DEMO_CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let stdout = '';
    let stderr = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-16384)));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => c.on('exit', (code, signal) => resolve({ code, signal })));
    let qmp: Qmp | undefined;
    let polling = false;
    const poller = setInterval(() => {
      if (polling) return;
      polling = true;
      void (async () => {
        try {
          qmp ??= await Qmp.open(sock);
          const r = await qmp.cmd('x-vmloop-stats');
          const ops = (r.return as { progress?: { ops?: number } } | undefined)?.progress?.ops;
          if (typeof ops === 'number') liveOps = ops;
        } catch {
          // Not listening yet, or shutting down: the watchdog judges progress.
        } finally {
          polling = false;
        }
      })();
    }, 1000);
    const { code, signal } = await exited;
    clearInterval(poller);
    qmp?.close();
    rmSync(sock, { force: true });
    child = undefined;
    lastStderr = stderr;
    const cmd = `node ${DEMO_CLI} ${args.join(' ')}`;
    if (code !== 0) throw new Error(`demo: ${cmd} exited with ${signal ?? `status ${code}`}\nstderr (tail):\n${stderr}`);
    let j: RunResult;
    try {
      j = JSON.parse(stdout.trim().split('\n').pop() ?? '') as RunResult;
    } catch {
      throw new Error(`demo: ${cmd} printed no JSON result:\n${stdout}\nstderr (tail):\n${stderr}`);
    }
    if (j.verify !== 'passed' || !(j.requests > 0) || j.errors !== 0 || j.deviceResets !== 0) {
      throw new Error(`demo: ${cmd}: verify ${j.verify}, ${j.requests} requests, ${j.errors} I/O errors, ${j.deviceResets} device resets\nstderr (tail):\n${stderr}`);
    }
    runs.push(j);
    liveOps = 0;
  };

  const loop = async (): Promise<void> => {
    for (;;) {
      const left = Math.floor((o.endAt - performance.now()) / 1000);
      if (stopping || (runs.length > 0 && left < 3)) return;
      await runOnce(Math.max(1, Math.min(left, o.runSeconds ?? left)));
    }
  };
  current = loop();
  current.catch((e: unknown) => f.reject(e));

  const completed = (): number => runs.reduce((a, r) => a + r.requests, 0);
  return {
    name: 'demo',
    failed: f.promise,
    // Requests the guests completed, and run starts (a boot is progress).
    progress: () => completed() + liveOps + started,
    describe: () => `run ${started} (${runs.length} finished, ${fmtCount(completed())} requests), the current run's guest completed ${liveOps} requests; child pid ${child?.pid ?? 'none'}; last stderr:\n${lastStderr.slice(-2000)}`,
    pid: () => child?.pid,
    rss: () => rssOf(child?.pid),
    async stop() {
      stopping = true;
      await current;
      check(runs.length > 0, () => 'demo: no run finished');
    },
    summary(seconds: number): SummaryRow {
      const req = completed();
      const flushes = runs.reduce((a, r) => a + (r.flushes ?? 0), 0);
      return {
        activity: `demo VM (${DEMO_ARGS.join(' ')})`,
        unit: 'guest I/O requests, verified',
        count: req,
        detail: `${fmtRate(req, seconds)}; ${runs.length} run(s), each status 0 and verify passed; ${fmtCount(flushes)} flushes; IOPS per run ${runs.map((r) => fmtCount(r.iops)).join(', ')}`,
      };
    },
  };
}
