/**
 * The demo machine (QEMU's machine + softmmu/vl.c in miniature): guest RAM in
 * one SharedArrayBuffer, the main loop (an AioContext attached to Node's
 * loop on the main thread, which also serves every synchronous vCPU exit),
 * IOThreads, virtio-blk disks on a PCI bus, the ioeventfd table, vCPU
 * workers, the shared clocks, and the monitor operations QMP exposes
 * (stop, cont, system_reset, quit).
 */
import { appendFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AioContext, type AioStats, type NodeLoopAttachment } from '@vmloop/aio';
import { threadCpuTimeNs } from '@vmloop/atomics';
import { Clocks } from '@vmloop/timers';
import {
  BlkIothread,
  ExitServer,
  GuestMemory,
  IoEventFdTable,
  LocalBlkHost,
  PciBus,
  VirtioBlk,
  VirtioPciDevice,
  type BlkQueueHost,
  type InterruptRoutesHandle,
  type InterruptStats,
  type VirtioPciState,
  type TransportEvent,
  type TraceRecord,
  type VirtioBlkStats,
} from '@vmloop/virtio';
import { DEBUG_EXIT_PORT, INFO_BOOT_GENERATION, INFO_SHUTDOWN, VCPU_COMPLETED, VCPU_IN_FLIGHT, VCPU_SECTORS, VCPU_STATE, vcpuWord } from './guest/info-page.js';
import type { GuestConfig } from './guest/kernel.js';
import type { VmOptions } from './options.js';
import { type Pinned, type PinTarget, pinThreads } from './pinning.js';
import { Vcpu } from './vcpu.js';
import type { VcpuReport } from './vcpu-worker.js';

export type RunState = 'prelaunch' | 'running' | 'paused' | 'shutdown';

/** Monitor events (QMP STOP, RESUME, RESET, SHUTDOWN). */
export type MachineEvent = { readonly event: 'STOP' | 'RESUME' } | { readonly event: 'RESET'; readonly reason: string } | { readonly event: 'SHUTDOWN'; readonly reason: string };

/** A live progress snapshot (read from the guest's counters in RAM). */
export interface Progress {
  readonly ops: number;
  readonly sectors: number;
  readonly inFlight: number;
  readonly states: readonly number[];
}

export interface DiskInfo {
  readonly path: string;
  readonly created: boolean;
  readonly device: VirtioPciDevice;
  readonly blk: VirtioBlk;
}

/** A main-thread trace record: µs since the epoch, name, args. */
export interface MainTraceRecord {
  readonly ts: number;
  readonly name: string;
  readonly args: Record<string, string | number | boolean>;
}

const originUs = performance.timeOrigin * 1e3;

export class Machine {
  state: RunState = 'prelaunch';
  readonly disks: DiskInfo[] = [];
  readonly iothreads: BlkIothread[] = [];
  readonly vcpus: Vcpu[] = [];
  private pinnedThreads: readonly Pinned[] = [];
  readonly mainTrace: MainTraceRecord[] = [];
  /** Guest exit codes written to the debug-exit port, by vCPU (undefined: none yet). */
  readonly exitCodes: (number | undefined)[];
  private readonly listeners: ((e: MachineEvent) => void)[] = [];
  private readonly att: NodeLoopAttachment;
  private exits!: ExitServer;
  private table!: IoEventFdTable;
  private hosts: BlkQueueHost[] = [];
  private tmp: string | undefined;
  private resetting: Promise<void> | undefined;
  readonly ioeventfd: boolean;

  private constructor(
    readonly options: VmOptions,
    readonly memory: GuestMemory,
    readonly clocks: Clocks,
    readonly ctx: AioContext,
  ) {
    this.att = ctx.attachToNodeLoop({ onError: (e) => this.internalError(e) });
    this.exitCodes = new Array(options.vcpus).fill(undefined);
    // QEMU: without an iothread, ioeventfd brings nothing (seed 002): the devices run on the thread the exits go to anyway.
    this.ioeventfd = options.ioeventfd && options.iothreads > 0;
  }

  on(listener: (e: MachineEvent) => void): void {
    this.listeners.push(listener);
  }

  private emit(e: MachineEvent): void {
    for (const l of this.listeners) l(e);
  }

  private traceMain(name: string, args: Record<string, string | number | boolean> = {}): void {
    if (this.options.trace !== undefined && this.mainTrace.length < 200_000) this.mainTrace.push({ ts: originUs + performance.now() * 1e3, name, args });
  }

  /** Builds everything; the vCPUs wait for `start()`. */
  static async create(o: VmOptions): Promise<Machine> {
    const memory = GuestMemory.create([{ gpa: 0, size: o.memoryMiB * 1024 * 1024 }]);
    const clocks = Clocks.create();
    const ctx = AioContext.create({ name: 'main-loop', clocks, poll: { maxNs: 0 } });
    const m = new Machine(o, memory, clocks, ctx);
    try {
      await m.build();
    } catch (e) {
      await m.destroy().catch(() => {});
      throw e;
    }
    return m;
  }

  private async build(): Promise<void> {
    const o = this.options;
    const trace = o.trace !== undefined;
    const guest: GuestConfig = {
      rw: o.rw,
      rwmixread: o.rwmixread,
      bs: o.bs,
      qd: o.qd,
      irqBatch: o.irqBatch === 0 ? Math.max(1, Math.floor(o.qd / 4)) : o.irqBatch,
      queues: o.queues,
      queueSize: o.queueSize,
      verify: o.verify,
      flushEvery: o.flushEvery,
      injectFaultAfter: o.injectFaultAfter,
      seed: o.seed,
      freshDisks: o.diskPaths.length === 0,
      memoryBytes: o.memoryMiB * 1024 * 1024,
    };
    const journal = o.journal;
    if (journal !== undefined) writeFileSync(journal, '');
    for (let i = 0; i < o.vcpus; i++) {
      this.vcpus.push(
        await Vcpu.start(
          { index: i, vcpus: o.vcpus, memory: this.memory.handle, clocks: this.clocks.handle, guest, haltPollNs: o.haltPollNs, trace, journal: journal !== undefined },
          journal === undefined ? undefined : (text) => appendFileSync(journal, text),
        ),
      );
    }
    const poll = { maxNs: o.pollMaxNs, grow: o.pollGrow, shrink: o.pollShrink };
    for (let i = 0; i < o.iothreads; i++) {
      this.iothreads.push(await BlkIothread.start({ name: `iothread${i}`, poll, memory: this.memory.handle, poolMax: o.poolMax, poolSpins: o.poolSpins, completionBatch: o.poolBatch, aio: o.aio, clocks: this.clocks.handle, trace }));
    }
    if (o.pin !== 'off') {
      const vcpus: PinTarget[] = this.vcpus.map((v) => ({ name: `vcpu${v.index}`, tid: v.osThreadId }));
      const iothreads: PinTarget[] = [];
      for (const t of this.iothreads) iothreads.push({ name: t.name, tid: t.iothread.osThreadId });
      this.pinnedThreads = pinThreads(o.pin, vcpus, iothreads);
    }
    this.hosts = o.iothreads === 0 ? [new LocalBlkHost(this.ctx, { memory: this.memory.handle, poolMax: o.poolMax, poolSpins: o.poolSpins, completionBatch: o.poolBatch, aio: o.aio })] : this.iothreads;
    // Every doorbell notifier must be in the table before the vCPUs get its handle.
    const queues = o.disks * o.queues;
    this.table = IoEventFdTable.create({ entries: Math.max(1, 2 * queues), vcpus: o.vcpus });
    const paths = o.diskPaths.length > 0 ? [...o.diskPaths] : this.freshImages(o.disks, o.diskSizeMiB);
    const routes: InterruptRoutesHandle = { kind: 'vmloop.irq-routes', version: 1, msi: this.vcpus.map((v) => v.vectors) };
    const bus = new PciBus();
    let k = 0;
    for (let d = 0; d < paths.length; d++) {
      // iothread-vq-mapping: the disks' queues round-robin over the iothreads.
      const mapping = Array.from({ length: o.queues }, () => k++ % this.hosts.length);
      const blk = await VirtioBlk.create({ path: paths[d]!, readOnly: o.readOnly, queues: o.queues, queueSize: o.queueSize, hosts: this.hosts, mapping, ...(this.ioeventfd ? { ioeventfds: this.table } : {}) });
      const device = new VirtioPciDevice({ model: blk, routes, ioeventfd: this.ioeventfd, ioeventfds: this.table, onEvent: (e) => this.onDeviceEvent(d, e) });
      bus.plug(1 + d, device);
      this.disks.push({ path: paths[d]!, created: o.diskPaths.length === 0, device, blk });
    }
    bus.addRegion({
      space: 'pio',
      base: DEBUG_EXIT_PORT,
      size: 1,
      name: 'debug-exit',
      read: () => 0,
      write: (_off, _size, value, vcpu) => {
        this.exitCodes[vcpu] = value;
        this.traceMain('guest-exit', { vcpu, code: value });
      },
    });
    this.exits = new ExitServer(this.ctx, (a) => bus.dispatch(a), { vcpus: o.vcpus, onError: (e) => this.internalError(e) });
  }

  private freshImages(n: number, sizeMiB: number): string[] {
    this.tmp = mkdtempSync(join(tmpdir(), 'vmloop-demo-'));
    return Array.from({ length: n }, (_, i) => {
      const p = join(this.tmp!, `disk${i}.img`);
      // A sparse file of the right size: unwritten blocks read as zeroes.
      writeFileSync(p, '');
      truncateSync(p, sizeMiB * 1024 * 1024);
      return p;
    });
  }

  private onDeviceEvent(disk: number, e: TransportEvent): void {
    if (this.options.trace !== undefined) this.traceMain(`virtio-pci:${e.type}`, { disk, ...Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'type').map(([k, v]) => [k, typeof v === 'bigint' ? `0x${v.toString(16)}` : (v as string | number | boolean)])) });
  }

  private internalError(e: unknown): void {
    process.stderr.write(`vmloop-demo: internal error: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 5;
  }

  /** Powers on: the VIRTUAL clock runs and the vCPUs boot. */
  start(): void {
    if (this.state !== 'prelaunch') return;
    // Boot generation 1: vCPUs other than 0 wait until vCPU 0 published it (info-page.ts).
    this.memory.store32(INFO_BOOT_GENERATION, 1);
    this.clocks.setVirtualEnabled(true);
    const space = { exits: this.exits.handle, ...(this.ioeventfd ? { ioeventfds: this.table.handle } : {}) };
    for (const v of this.vcpus) v.run(space);
    this.state = 'running';
    this.traceMain('machine-start');
  }

  /** QMP `stop` (QEMU vm_stop): vCPUs paused, devices stopped (ioeventfd unbound, in-flight I/O drained), VIRTUAL clock stopped. */
  async stop(): Promise<void> {
    if (this.state !== 'running') return;
    this.traceMain('vm-stop');
    await Promise.all(this.vcpus.map((v) => v.pause()));
    for (const d of this.disks) await d.device.vmStop();
    this.clocks.setVirtualEnabled(false);
    this.state = 'paused';
    this.emit({ event: 'STOP' });
  }

  /** QMP `cont` (QEMU vm_start): the clock runs, devices restart (ioeventfd bound again), vCPUs resume. */
  async cont(): Promise<void> {
    if (this.state !== 'paused') return;
    this.traceMain('vm-cont');
    this.clocks.setVirtualEnabled(true);
    for (const d of this.disks) await d.device.vmResume();
    await Promise.all(this.vcpus.map((v) => v.resume()));
    this.state = 'running';
    this.emit({ event: 'RESUME' });
  }

  /**
   * QMP `system_reset` (QEMU qemu_system_reset): vCPUs stopped, every device
   * reset (its in-flight requests drained first), the guest rebooted: it
   * enumerates PCI again, re-initialises its disks and resumes its I/O.
   */
  systemReset(reason = 'host-qmp-system-reset'): Promise<void> {
    this.resetting ??= (async () => {
      this.traceMain('system-reset');
      const wasPaused = this.state === 'paused';
      if (!wasPaused) await Promise.all(this.vcpus.map((v) => v.pause()));
      for (const d of this.disks) await d.device.systemReset();
      this.memory.store32(INFO_BOOT_GENERATION, this.memory.load32(INFO_BOOT_GENERATION) + 1);
      await Promise.all(this.vcpus.map((v) => v.reboot()));
      this.emit({ event: 'RESET', reason });
      if (!wasPaused) await Promise.all(this.vcpus.map((v) => v.resume()));
    })().finally(() => {
      this.resetting = undefined;
    });
    return this.resetting;
  }

  /** Asks the guest to finish its workload (drain, flush, report) and waits for the vCPUs' reports. */
  async shutdown(reason: string): Promise<VcpuReport[]> {
    if (this.resetting !== undefined) await this.resetting;
    if (this.state === 'paused') await this.cont();
    this.traceMain('shutdown-request', { reason });
    // QEMU emits SHUTDOWN when it acts on the request, before the machine is torn down.
    this.emit({ event: 'SHUTDOWN', reason });
    this.memory.store32(INFO_SHUTDOWN, 1);
    for (const v of this.vcpus) v.resume().catch(() => {});
    const reports = await Promise.all(this.vcpus.map((v) => v.finished()));
    this.state = 'shutdown';
    return reports;
  }

  /** The guest's live counters. */
  progress(): Progress {
    let ops = 0;
    let sectors = 0;
    let inFlight = 0;
    const states: number[] = [];
    for (let v = 0; v < this.vcpus.length; v++) {
      ops += this.memory.load32(vcpuWord(v, VCPU_COMPLETED));
      sectors += this.memory.load32(vcpuWord(v, VCPU_SECTORS));
      inFlight += this.memory.load32(vcpuWord(v, VCPU_IN_FLIGHT));
      states.push(this.memory.load32(vcpuWord(v, VCPU_STATE)));
    }
    return { ops, sectors, inFlight, states };
  }

  /** `--pin`: where each vCPU and iothread worker was pinned (empty with --pin off). */
  get pinned(): readonly Pinned[] {
    return this.pinnedThreads;
  }

  /** QMP query-iothreads. */
  async queryIothreads(): Promise<{ id: string; threadId: number; osThreadId: number | null; pollMaxNs: number; pollGrow: number; pollShrink: number; stats: AioStats }[]> {
    return Promise.all(
      this.iothreads.map(async (t) => {
        const q = await t.iothread.query();
        return { id: t.name, threadId: q.threadId, osThreadId: q.osThreadId, pollMaxNs: q.poll.maxNs, pollGrow: q.poll.grow, pollShrink: q.poll.shrink, stats: q.stats };
      }),
    );
  }

  /** Device counters, per disk. */
  async deviceStats(): Promise<{ disk: number; blk: VirtioBlkStats; interrupts: InterruptStats; state: VirtioPciState }[]> {
    return Promise.all(this.disks.map(async (d, i) => ({ disk: i, blk: await d.blk.stats(), interrupts: d.device.link.stats, state: d.device.state })));
  }

  get mainLoopStats(): AioStats {
    return this.ctx.stats;
  }

  mainCpuNs(): number | undefined {
    return threadCpuTimeNs();
  }

  /** The trace records of every iothread. */
  async iothreadTraces(): Promise<{ name: string; threadId: number; records: TraceRecord[] }[]> {
    return Promise.all(this.iothreads.map(async (t) => ({ name: t.name, threadId: t.iothread.threadId, records: await t.trace() })));
  }

  /** Tears everything down: devices reset, hosts stopped, images of this run deleted. Idempotent. */
  async destroy(): Promise<void> {
    for (const v of this.vcpus) await v.terminate();
    for (const d of this.disks) await d.device.reset().catch(() => {});
    for (const h of this.hosts) await h.stop().catch(() => {});
    for (const d of this.disks) d.blk.close();
    this.exits?.close();
    this.att.detach();
    if (this.tmp !== undefined) rmSync(this.tmp, { recursive: true, force: true });
  }
}
