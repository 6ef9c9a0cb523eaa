/**
 * The demo VM's command line: every flag, its default, and validation.
 * Bad flags are a typed error with a stable code (exit status 1).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { type PinMode, parseCpuList } from './pinning.js';

export type RwMode = 'randread' | 'randwrite' | 'randrw' | 'seqread' | 'seqwrite';

export interface VmOptions {
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly disks: number;
  readonly diskPaths: readonly string[];
  readonly diskSizeMiB: number;
  readonly readOnly: boolean;
  readonly queues: number;
  readonly queueSize: number;
  readonly iothreads: number;
  readonly pollMaxNs: number;
  readonly pollGrow: number;
  readonly pollShrink: number;
  readonly ioeventfd: boolean;
  readonly haltPollNs: number;
  readonly pin: PinMode;
  readonly poolMax: number;
  readonly poolSpins: number;
  readonly poolBatch: number;
  readonly aio: 'threads' | 'inline';
  readonly rw: RwMode;
  readonly rwmixread: number;
  readonly bs: number;
  readonly qd: number;
  readonly irqBatch: number;
  readonly durationS: number;
  readonly verify: boolean;
  readonly flushEvery: number;
  readonly json: boolean;
  readonly progress: boolean;
  readonly trace: string | undefined;
  readonly qmp: string | undefined;
  readonly watchdogS: number;
  readonly injectFaultAfter: number;
  readonly seed: number;
  readonly journal: string | undefined;
}

/** A command-line error (exit status 1). */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly code = 'ERR_USAGE';
}

function int(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}]`);
    return n;
  };
}

function pinMode(v: string): PinMode {
  if (v === 'off' || v === 'auto') return v;
  // Part by part: the list in the order given (thread k gets the k-th), not sorted.
  const parts = v.split(',').map(parseCpuList);
  if (parts.some((p) => p === undefined)) throw new InvalidArgumentError('--pin must be off, auto or a CPU list such as 0,1 or 0-3');
  return parts.flat() as number[];
}

/** Sizes like 4k, 64K, 1m, 512 (bytes). */
export function parseSize(v: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(v.trim());
  if (m === null) throw new InvalidArgumentError(`not a size: ${v} (use e.g. 4k, 64k, 1m)`);
  const n = Number(m[1]) * (m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? 1024 : 1024 * 1024);
  if (n < 512 || n % 512 !== 0 || n > 1 << 20) throw new InvalidArgumentError('--bs must be a multiple of 512 between 512 and 1m');
  return n;
}

export function buildCommand(): Command {
  const c = new Command('vmloop-demo')
    .description(
      'A small VM on vmloop: vCPU workers run a TypeScript guest that drives virtio-blk disks through PCI config space, MMIO and MSI-X; ' +
        'the disks run on IOThreads with a thread pool; the guest runs an fio-like workload and prints what the stack did.',
    )
    .addOption(new Option('--memory <MiB>', 'guest RAM in MiB (one SharedArrayBuffer)').default(256).argParser(int('--memory', 16, 8192)))
    .addOption(new Option('--vcpus <n>', 'vCPU worker threads').default(2).argParser(int('--vcpus', 1, 16)))
    .addOption(new Option('--disks <n>', 'virtio-blk disks on fresh images in a temporary directory (ignored with --disk)').default(2).argParser(int('--disks', 1, 16)))
    .addOption(new Option('--disk <path>', 'use an existing raw image (repeat for several disks)').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]))
    .addOption(new Option('--disk-size <MiB>', 'size of each fresh image').default(64).argParser(int('--disk-size', 1, 1 << 20)))
    .addOption(new Option('--readonly', 'attach the disks read-only (writes complete with IOERR; use a read workload)').default(false))
    .addOption(new Option('--queues <n>', 'virtqueues per disk (num_queues; mapped round-robin to the iothreads)').default(1).argParser(int('--queues', 1, 16)))
    .addOption(new Option('--queue-size <n>', 'entries per virtqueue (a power of two)').default(256).argParser(int('--queue-size', 4, 32768)))
    .addOption(new Option('--iothreads <n>', 'IOThread workers; 0 runs the disks on the main loop (ioeventfd is then disabled, as in QEMU)').default(2).argParser(int('--iothreads', 0, 16)))
    .addOption(new Option('--poll-max-ns <ns>', 'adaptive polling window limit of each iothread (QEMU poll-max-ns)').default(32768).argParser(int('--poll-max-ns', 0, 1e9)))
    .addOption(new Option('--poll-grow <n>', 'poll window growth factor, 0 = double (QEMU poll-grow)').default(0).argParser(int('--poll-grow', 0, 1024)))
    .addOption(new Option('--poll-shrink <n>', 'poll window shrink divisor, 0 = reset to 0 (QEMU poll-shrink)').default(0).argParser(int('--poll-shrink', 0, 1024)))
    .addOption(new Option('--ioeventfd <on|off>', 'doorbells set a notifier from the vCPU (on) or take a synchronous exit to the main thread (off)').choices(['on', 'off']).default('on'))
    .addOption(new Option('--halt-poll-ns <ns>', 'a halted vCPU polls for interrupts this long before it sleeps (KVM halt_poll_ns, 200000 there; 0 here: on two cores a polling vCPU takes the core its iothread needs)').default(0).argParser(int('--halt-poll-ns', 0, 1e9)))
    .addOption(
      new Option('--pin <cpus>', 'pin each vCPU and iothread worker to a CPU (taskset -p on its thread id, as QEMU users pin vCPU and iothread threads): off, auto (round-robin over the CPUs this process may use, iothread j off vCPU j\'s CPU) or a list such as 0,1 (vCPUs first, then iothreads)')
        .default('off')
        .argParser(pinMode),
    )
    .addOption(new Option('--pool-max <n>', 'thread-pool workers per iothread (or main loop)').default(1).argParser(int('--pool-max', 1, 64)))
    .addOption(new Option('--pool-batch <n>', 'completions a thread-pool worker hands back with one wake-up of its iothread while more requests are queued (1: one each, as QEMU)').default(1).argParser(int('--pool-batch', 1, 1024)))
    .addOption(new Option('--aio <mode>', "where disk reads and writes run: on each iothread's thread pool (threads, QEMU aio=threads) or on the iothread itself, one at a time (inline: no hand-off, fastest for an image in the page cache; a slow disk stalls the iothread)").choices(['threads', 'inline']).default('threads'))
    .addOption(new Option('--pool-spins <n>', 'loads a thread-pool worker spins for its next request before it sleeps').default(20000).argParser(int('--pool-spins', 0, 1e9)))
    .addOption(new Option('--rw <mode>', 'workload').choices(['randread', 'randwrite', 'randrw', 'seqread', 'seqwrite']).default('randrw'))
    .addOption(new Option('--rwmixread <pct>', 'share of reads in randrw, percent').default(50).argParser(int('--rwmixread', 0, 100)))
    .addOption(new Option('--bs <size>', 'block size (512 … 1m)').default(4096, '4k').argParser(parseSize))
    .addOption(new Option('--qd <n>', 'requests in flight per queue').default(32).argParser(int('--qd', 1, 4096)))
    .addOption(new Option('--irq-batch <n>', 'a halting guest asks for its interrupt after n completions (EVENT_IDX used_event ahead, Linux virtqueue_enable_cb_delayed); 0: a quarter of --qd; 1: every completion').default(0).argParser(int('--irq-batch', 0, 4096)))
    .addOption(new Option('--duration <s>', 'seconds of workload').default(8).argParser(int('--duration', 1, 86400)))
    .addOption(new Option('--verify', 'stamp each written block with its LBA and a sequence number; check every read; a mismatch ends the run with status 2').default(false))
    .addOption(new Option('--flush-every <n>', 'send a FLUSH after every n writes (0: only at the end)').default(0).argParser(int('--flush-every', 0, 1e9)))
    .addOption(new Option('--json', 'print the results as one JSON object on stdout').default(false))
    .addOption(new Option('--no-progress', 'no progress bar on stderr'))
    .addOption(new Option('--trace <file>', 'write a Chrome Trace Event JSON file (open it in https://ui.perfetto.dev)'))
    .addOption(new Option('--qmp <path>', 'serve a QMP monitor on this Unix socket'))
    .addOption(new Option('--watchdog <s>', 'fail (status 3) if no request completes for this long while running').default(10).argParser(int('--watchdog', 1, 3600)))
    .addOption(new Option('--inject-fault-after <n>', 'the guest corrupts its first ring after n requests, to show NEEDS_RESET and recovery (0: never)').default(0).argParser(int('--inject-fault-after', 0, 1e9)))
    .addOption(new Option('--seed <n>', 'seed of the workload\'s random offsets').default(1).argParser(int('--seed', 0, 2 ** 31 - 1)))
    .addOption(new Option('--journal <file>', 'append "W disk block seq" for every acknowledged write, "S disk seq" when a FLUSH is sent and "F disk seq" when it completes (for crash-consistency checks)'))
    .showHelpAfterError()
    .exitOverride();
  return c;
}

/** Parses argv (without node and script) into options; throws UsageError. */
export function parseOptions(argv: readonly string[]): VmOptions {
  const c = buildCommand();
  c.configureOutput({ writeErr: () => {}, writeOut: (s) => process.stdout.write(s) });
  try {
    c.parse([...argv], { from: 'user' });
  } catch (e) {
    const err = e as { code?: string; message?: string; exitCode?: number };
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') throw e;
    throw new UsageError((err.message ?? String(e)).replace(/^error: /, ''));
  }
  const o = c.opts<Record<string, unknown>>();
  const diskPaths = (o.disk as string[] | undefined) ?? [];
  const opts: VmOptions = {
    memoryMiB: o.memory as number,
    vcpus: o.vcpus as number,
    disks: diskPaths.length > 0 ? diskPaths.length : (o.disks as number),
    diskPaths,
    diskSizeMiB: o.diskSize as number,
    readOnly: o.readonly as boolean,
    queues: o.queues as number,
    queueSize: o.queueSize as number,
    iothreads: o.iothreads as number,
    pollMaxNs: o.pollMaxNs as number,
    pollGrow: o.pollGrow as number,
    pollShrink: o.pollShrink as number,
    ioeventfd: o.ioeventfd === 'on',
    haltPollNs: o.haltPollNs as number,
    pin: o.pin as PinMode,
    poolMax: o.poolMax as number,
    poolSpins: o.poolSpins as number,
    poolBatch: o.poolBatch as number,
    aio: o.aio as 'threads' | 'inline',
    rw: o.rw as RwMode,
    rwmixread: o.rwmixread as number,
    bs: o.bs as number,
    qd: o.qd as number,
    irqBatch: o.irqBatch as number,
    durationS: o.duration as number,
    verify: o.verify as boolean,
    flushEvery: o.flushEvery as number,
    json: o.json as boolean,
    progress: (o.progress as boolean) && !(o.json as boolean),
    trace: o.trace as string | undefined,
    qmp: o.qmp as string | undefined,
    watchdogS: o.watchdog as number,
    injectFaultAfter: o.injectFaultAfter as number,
    seed: o.seed as number,
    journal: o.journal as string | undefined,
  };
  if ((opts.queueSize & (opts.queueSize - 1)) !== 0) throw new UsageError('--queue-size must be a power of two');
  if (opts.qd > opts.queueSize) throw new UsageError(`--qd ${opts.qd} exceeds --queue-size ${opts.queueSize}`);
  const perVcpuQueues = Math.ceil(opts.disks / opts.vcpus) * opts.queues;
  const need = perVcpuQueues * opts.qd * opts.bs + perVcpuQueues * opts.queueSize * 64 + (4 << 20);
  const have = ((opts.memoryMiB - 1) << 20) / opts.vcpus;
  if (need > have) throw new UsageError(`--memory ${opts.memoryMiB} MiB is too small: each vCPU needs ${Math.ceil(need / (1 << 20))} MiB for ${perVcpuQueues} queues × --qd ${opts.qd} × --bs ${opts.bs}`);
  if (opts.readOnly && opts.rw !== 'randread' && opts.rw !== 'seqread') throw new UsageError('--readonly needs a read workload (--rw randread or seqread)');
  return opts;
}
