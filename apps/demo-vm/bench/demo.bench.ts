/**
 * virtio.blk-iops and virtio.ioeventfd (shared/BENCH.md): the demo VM
 * itself, as a user runs it (the built CLI, --json), against raw
 * `fs.readSync` at random offsets on the same number of I/O threads, and
 * with ioeventfd on against off.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type BenchCase, defineBenches, type SampleContext } from '@vmloop/bench';
// The app's own CPU list (/proc/self/status), from its build: the bench runs from build/bench.
const { allowedCpus } = (await import(new URL('../../dist/pinning.js', import.meta.url).href)) as typeof import('../src/pinning.js');

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const RAW = new URL('./workers/raw-read.js', import.meta.url);
const IMAGE_MIB = 64;

let dir: string | undefined;
let image = '';

/** A 64 MiB image full of data (not sparse), so both sides read the page cache, not holes. */
function makeImage(): void {
  dir = mkdtempSync(join(tmpdir(), 'vmloop-bench-'));
  image = join(dir, 'bench.img');
  const fd = openSync(image, 'w');
  const chunk = new Uint8Array(1 << 20).map((_, i) => (i * 131) & 0xff);
  for (let i = 0; i < IMAGE_MIB; i++) writeSync(fd, chunk);
  closeSync(fd);
}
function removeImage(): void {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
}

/** One VM run; returns its IOPS. */
function vm(ctx: SampleContext, args: readonly string[]): number {
  const out = execFileSync(process.execPath, [CLI, '--json', '--no-progress', '--duration', ctx.quick ? '1' : '3', '--disk', image, ...args], { encoding: 'utf8', timeout: 60_000 });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { iops: number; steadyIops: number | null };
  // Steady state: boot, page faults and JIT warm-up are not what is compared.
  return r.steadyIops ?? r.iops;
}

/** Raw fs.readSync of 4 KiB at random offsets on `threads` worker threads for the same time, thread i on `cpus[i]` if given; returns IOPS. */
async function raw(ctx: SampleContext, threads: number, cpus: readonly number[] = []): Promise<number> {
  const ms = ctx.quick ? 1000 : 3000;
  const counts = await Promise.all(
    Array.from({ length: threads }, (_, i) => {
      const w = new Worker(RAW, { workerData: { path: image, bs: 4096, ms, seed: i + 1, cpu: cpus[i] } });
      return new Promise<number>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
    }),
  );
  return counts.reduce((a, b) => a + b, 0) / (ms / 1000);
}

/**
 * The I/O path tuned for two cores (measured in the README): the iothread
 * reads itself (`--aio inline`, no hand-off to a pool worker and back), so
 * the vCPU and the iothread have a core each and both poll (1 ms) rather
 * than sleep; the guest asks for an interrupt every 16 completions; each
 * of the two is pinned to a CPU of its own (PIN below: two pollers the
 * scheduler puts on one core take turns spinning).
 */
const TUNED = ['--aio', 'inline', '--halt-poll-ns', '1000000', '--poll-max-ns', '1000000', '--irq-batch', '16'];
/**
 * The CPU of the threads doing the reads — the VM's iothread, the peer's
 * one thread — and the vCPU's: two CPUs of one machine can differ by a
 * third in speed at times (measured here: the same peer 256–264 k IOPS on
 * CPU 1 against 377–400 k on CPU 0, minutes apart), so the two sides read
 * on the same CPU, and the VM's vCPU polls on another.
 */
const CPUS = allowedCpus();
const IO_CPU = CPUS[0]!;
/** Pinning needs Linux thread ids and util-linux `taskset`; without them both sides run where the scheduler puts them. */
const CAN_PIN = existsSync('/proc/thread-self') && spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
const PINNED = CAN_PIN && CPUS.length > 1;
const PIN = PINNED ? ['--pin', `${CPUS[1]},${IO_CPU}`] : [];
const VM_RANDREAD = ['--rw', 'randread', '--bs', '4k', '--qd', '32', '--vcpus', '1', '--iothreads', '1', ...TUNED, ...PIN];

const cases: BenchCase[] = [
  {
    id: 'virtio.blk-iops',
    metric: '4 KiB random reads per second',
    unit: '1/s',
    better: 'higher',
    peer: `fs.readSync at random offsets (node ${process.version})`,
    note: `demo VM: 1 vCPU, 1 virtio-blk disk (64 MiB image in the page cache), 1 iothread doing the reads (--aio inline), queue depth 32, EVENT_IDX, ioeventfd on, --halt-poll-ns 1000000 --poll-max-ns 1000000 --irq-batch 16 ${PINNED ? `${PIN.join(' ')} (the iothread on CPU ${IO_CPU}); peer: 1 worker thread calling fs.readSync on the same image, pinned to CPU ${IO_CPU}` : 'unpinned (no taskset, or one CPU); peer: 1 worker thread calling fs.readSync on the same image, unpinned'}`,
    samples: 5,
    warmup: 1,
    setup: makeImage,
    teardown: removeImage,
    ours: (ctx) => vm(ctx, VM_RANDREAD),
    peerSample: (ctx) => raw(ctx, 1, PINNED ? [IO_CPU] : []),
  },
  {
    id: 'virtio.ioeventfd',
    metric: '4 KiB random reads per second',
    unit: '1/s',
    better: 'higher',
    peer: 'the same VM with --ioeventfd off (every doorbell a synchronous exit to the main thread)',
    note: 'demo VM: 2 vCPUs, 2 disks, 2 iothreads, 1 pool worker each, queue depth 1 per queue (each request kicks), 4 KiB random reads',
    samples: 5,
    warmup: 1,
    setup: makeImage,
    teardown: removeImage,
    ours: (ctx) => vm(ctx, ['--rw', 'randread', '--qd', '1', '--vcpus', '2', '--iothreads', '2', '--disk', image, '--ioeventfd', 'on']),
    peerSample: (ctx) => vm(ctx, ['--rw', 'randread', '--qd', '1', '--vcpus', '2', '--iothreads', '2', '--disk', image, '--ioeventfd', 'off']),
  },
];

export default defineBenches(cases);
