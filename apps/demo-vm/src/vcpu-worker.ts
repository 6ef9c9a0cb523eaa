/**
 * A vCPU worker (QEMU's vCPU thread, kvm_vcpu_thread_fn): its interrupt
 * controller and HLT (interrupt-controller.ts), the guest timer, run
 * control, and the guest kernel it runs.
 *
 * Start-up: the worker makes its interrupt controller and posts the vector
 * notifiers' handles (the machine needs them to build MSI routes), then
 * waits for the `start` message with the address space; from then on its
 * event loop is blocked by the guest, and everything reaches it through
 * shared memory and its kick notifier.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type Int32Cell, osThreadId, threadCpuTimeNs } from '@vmloop/atomics';
import type { EventNotifierHandle } from '@vmloop/event-notifier';
import { Clocks, type ClocksHandle } from '@vmloop/timers';
import { type AddressSpaceHandle, type AddressSpaceStats, GuestMemory, type GuestMemoryHandle, VcpuAddressSpace } from '@vmloop/virtio';
import type { GuestIo } from '@vmloop/virtio/testing';
import type { ControlRequest, Cpu } from './guest/cpu.js';
import { InterruptController } from './interrupt-controller.js';
import { GuestKernel, GuestPersistent, type GuestConfig } from './guest/kernel.js';
import { PAUSE, QUIT, REBOOT, RUN, VcpuControl } from './layout.js';

/** Interrupt vectors per vCPU. */
export const VECTORS = 64;

export interface VcpuData {
  readonly index: number;
  readonly vcpus: number;
  readonly control: { readonly buffer: SharedArrayBuffer; readonly byteOffset: number };
  readonly memory: GuestMemoryHandle;
  readonly clocks: ClocksHandle;
  readonly guest: GuestConfig;
  readonly haltPollNs: number;
  readonly trace: boolean;
  readonly journal: boolean;
}

/** vCPU → main. */
export type VcpuMessage =
  | { readonly type: 'ready'; readonly vectors: readonly EventNotifierHandle[]; readonly kick: EventNotifierHandle; readonly osThreadId: number | null }
  | { readonly type: 'journal'; readonly text: string }
  | { readonly type: 'report'; readonly report: VcpuReport };

/** What a vCPU reports when it stops. */
export interface VcpuReport {
  readonly index: number;
  readonly exit: string;
  readonly totals: GuestPersistent['totals'];
  readonly latency: Float64Array;
  readonly latencyMax: number;
  readonly failure: string | undefined;
  readonly exits: number;
  readonly exitSleeps: number;
  readonly ioeventfdWrites: number;
  readonly haltSleeps: number;
  readonly haltPolls: number;
  readonly cpuNs: number | undefined;
  readonly trace: readonly TraceEvent[];
}

/** A Chrome Trace Event, as the vCPU records it (ts in µs since the epoch). */
export interface TraceEvent {
  readonly name: string;
  readonly ph: 'B' | 'E' | 'i' | 'X';
  readonly ts: number;
  readonly dur?: number;
  readonly args?: Record<string, number | string>;
}

const TRACE_LIMIT = 200_000;
const originUs = performance.timeOrigin * 1e3;

class VcpuRuntime implements Cpu {
  readonly index: number;
  readonly vcpus: number;
  readonly memory: GuestMemory;
  io!: GuestIo;
  private space!: VcpuAddressSpace;
  private readonly clocks: Clocks;
  private readonly irq = new InterruptController(VECTORS);
  private readonly request: Int32Cell;
  private readonly ack: Int32Cell;
  private readonly events: TraceEvent[] | undefined;

  constructor(private readonly d: VcpuData) {
    this.index = d.index;
    this.vcpus = d.vcpus;
    this.memory = GuestMemory.open(d.memory);
    this.clocks = Clocks.open(d.clocks);
    const ctl = VcpuControl.open(d.control);
    this.request = ctl.request;
    this.ack = ctl.ack;
    this.events = d.trace ? [] : undefined;
  }

  get handles(): { vectors: EventNotifierHandle[]; kick: EventNotifierHandle } {
    return this.irq.handles;
  }

  get haltSleeps(): number {
    return this.irq.haltSleeps;
  }

  get haltPolls(): number {
    return this.irq.haltPolls;
  }

  attach(space: AddressSpaceHandle): void {
    this.space = VcpuAddressSpace.open(space, this.index);
    this.io = this.events === undefined ? this.space : tracedIo(this.space, (e) => this.push(e));
  }

  get spaceStats(): AddressSpaceStats {
    return this.space.stats;
  }

  now(): number {
    return performance.now() * 1e6;
  }

  virtualNow(): number {
    return this.clocks.now('virtual');
  }

  /** The current halt's guest-timer deadline, for haltSleepMs. */
  private haltDeadlineNs = 0;
  /** How long a halt may sleep: 0 unless running, else until the guest timer (at most 1 s). */
  private readonly haltSleepMs = (): number => {
    if (this.request.load() !== RUN) return 0;
    return Math.min(Math.max(0, (this.haltDeadlineNs - this.virtualNow()) / 1e6), 1000);
  };

  pendingVectors(): bigint {
    return this.irq.pending();
  }

  halt(deadlineNs: number): bigint {
    this.trace('hlt', 'B');
    try {
      // Halt polling (KVM halt_poll_ns): an interrupt that comes within the
      // window costs no sleep and no futex wake. The sleep's timeout is the
      // guest timer, computed before the sleep (InterruptController.halt).
      this.haltDeadlineNs = deadlineNs;
      return this.irq.halt(this.d.haltPollNs, this.haltSleepMs);
    } finally {
      this.trace('hlt', 'E');
    }
  }

  checkControl(): ControlRequest {
    const r = this.request.load();
    if (r === RUN) return 'continue';
    if (r === QUIT) return 'quit';
    if (r === REBOOT) return 'reboot';
    // PAUSE: acknowledge, then park until the monitor says otherwise.
    this.trace('paused', 'B');
    this.acknowledge(PAUSE);
    let now = this.request.load();
    while (now === PAUSE) {
      this.request.wait(PAUSE, 1000);
      now = this.request.load();
    }
    this.trace('paused', 'E');
    this.acknowledge(RUN);
    return now === RUN ? 'continue' : now === QUIT ? 'quit' : 'reboot';
  }

  /** (R3) in layout.ts. */
  acknowledge(state: number): void {
    this.ack.store(state);
    this.ack.notify();
  }

  /** After a reboot was acknowledged: wait for RUN (or QUIT). */
  parkUntilRun(): boolean {
    let r = this.request.load();
    while (r === REBOOT) {
      this.request.wait(REBOOT, 1000);
      r = this.request.load();
    }
    this.acknowledge(RUN);
    return r !== QUIT;
  }

  trace(name: string, ph: 'B' | 'E' | 'i', args?: Record<string, number | string>): void {
    if (this.events === undefined) return;
    this.push(args === undefined ? { name, ph, ts: originUs + performance.now() * 1e3 } : { name, ph, ts: originUs + performance.now() * 1e3, args });
  }

  private push(e: TraceEvent): void {
    if (this.events !== undefined && this.events.length < TRACE_LIMIT) this.events.push(e);
  }

  get traceEvents(): readonly TraceEvent[] {
    return this.events ?? [];
  }
}

/** GuestIo that records every exit as a complete ('X') event. */
function tracedIo(io: VcpuAddressSpace, push: (e: TraceEvent) => void): GuestIo {
  const span = <T>(name: string, addr: number, f: () => T): T => {
    const t0 = performance.now();
    const before = io.stats.exits;
    const r = f();
    const exited = io.stats.exits !== before;
    push({ name: exited ? `exit:${name}` : `ioeventfd:${name}`, ph: 'X', ts: originUs + t0 * 1e3, dur: (performance.now() - t0) * 1e3, args: { addr: `0x${addr.toString(16)}` } });
    return r;
  };
  return {
    mmioRead: (a, s) => span('mmio-read', a, () => io.mmioRead(a, s)),
    mmioWrite: (a, s, v) => span('mmio-write', a, () => io.mmioWrite(a, s, v)),
    pioRead: (a, s) => span('pio-read', a, () => io.pioRead(a, s)),
    pioWrite: (a, s, v) => span('pio-write', a, () => io.pioWrite(a, s, v)),
  };
}

function main(): void {
  const port = parentPort!;
  const d = workerData as VcpuData;
  const cpu = new VcpuRuntime(d);
  port.postMessage({ type: 'ready', ...cpu.handles, osThreadId: osThreadId() ?? null } satisfies VcpuMessage);
  port.once('message', (m: { space: AddressSpaceHandle }) => {
    cpu.attach(m.space);
    const persistent = new GuestPersistent();
    // --journal: acknowledged writes and completed FLUSHes, posted in batches
    // (the main thread appends them to the file as they arrive).
    let journal = '';
    const postJournal = (): void => {
      if (journal.length === 0) return;
      port.postMessage({ type: 'journal', text: journal } satisfies VcpuMessage);
      journal = '';
    };
    if (d.journal) {
      persistent.journal = (line) => {
        journal += line;
        // FLUSH lines go out at once; acknowledged writes in batches.
        if (journal.length > 4096 || line.charCodeAt(0) !== 87 /* W */) postJournal();
      };
    }
    let exit = 'quit';
    for (;;) {
      const kernel = new GuestKernel(cpu, d.guest, persistent);
      exit = kernel.run();
      if (exit !== 'reboot') {
        kernel.exitCode(exit === 'shutdown' ? 0 : exit === 'failed' ? 2 : 1);
        break;
      }
      persistent.totals.reboots++;
      cpu.acknowledge(REBOOT);
      if (!cpu.parkUntilRun()) break;
    }
    postJournal();
    const st = cpu.spaceStats;
    const report: VcpuReport = {
      index: d.index,
      exit,
      totals: persistent.totals,
      latency: persistent.latency.counts,
      latencyMax: persistent.latency.max,
      failure: persistent.verifyFailure,
      exits: st.exits,
      exitSleeps: st.exitSleeps,
      ioeventfdWrites: st.ioeventfdWrites,
      haltSleeps: cpu.haltSleeps,
      haltPolls: cpu.haltPolls,
      cpuNs: threadCpuTimeNs(),
      trace: cpu.traceEvents,
    };
    port.postMessage({ type: 'report', report } satisfies VcpuMessage);
    cpu.acknowledge(QUIT);
  });
}

main();
