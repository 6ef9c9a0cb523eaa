/**
 * The main thread's handle on one vCPU worker: start it, hand it the address
 * space, and stop, resume, reboot or quit it (QEMU pause_all_vcpus /
 * resume_all_vcpus / qemu_cpu_kick), waiting for its acknowledgement.
 */
import { Worker } from 'node:worker_threads';
import { type Int32Cell, workerExecArgv } from '@vmloop/atomics';
import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';
import type { AddressSpaceHandle } from '@vmloop/virtio';
import { PAUSE, QUIT, REBOOT, RUN, VcpuControl } from './layout.js';
import type { VcpuData, VcpuMessage, VcpuReport } from './vcpu-worker.js';

const entry = new URL('./vcpu-worker.js', import.meta.url);

export class Vcpu {
  readonly report: Promise<VcpuReport>;
  private readonly request: Int32Cell;
  private readonly ack: Int32Cell;
  private readonly kick: EventNotifier;
  private failure: Error | undefined;

  private constructor(
    readonly index: number,
    private readonly worker: Worker,
    control: ReturnType<typeof VcpuControl.create>,
    /** The notifiers of its interrupt vectors (MSI routes point at them). */
    readonly vectors: readonly EventNotifierHandle[],
    kick: EventNotifierHandle,
    /** The worker's kernel thread id (QEMU query-cpus-fast `thread-id`), or null where unknown. */
    readonly osThreadId: number | null,
    onJournal: ((text: string) => void) | undefined,
  ) {
    this.request = control.request;
    this.ack = control.ack;
    this.kick = EventNotifier.open(kick);
    this.report = new Promise<VcpuReport>((resolve, reject) => {
      worker.on('message', (m: VcpuMessage) => {
        if (m.type === 'report') resolve(m.report);
        else if (m.type === 'journal') onJournal?.(m.text);
      });
      worker.once('error', (e) => {
        this.failure = e;
        reject(e);
      });
      worker.once('exit', (code) => reject(new Error(`vCPU ${index} exited (code ${code}) without a report`)));
    });
    this.report.catch(() => {});
  }

  /** Starts the worker; resolves once its interrupt controller exists. */
  static start(data: Omit<VcpuData, 'control'>, onJournal?: (text: string) => void): Promise<Vcpu> {
    const control = VcpuControl.create();
    const worker = new Worker(entry, { name: `vcpu${data.index}`, execArgv: workerExecArgv(), workerData: { ...data, control: VcpuControl.handle(control) } satisfies VcpuData });
    return new Promise((resolve, reject) => {
      worker.once('message', (m: VcpuMessage) => {
        if (m.type === 'ready') resolve(new Vcpu(data.index, worker, control, m.vectors, m.kick, m.osThreadId, onJournal));
      });
      worker.once('error', reject);
    });
  }

  /** Lets the guest run on `space`. */
  run(space: AddressSpaceHandle): void {
    this.worker.postMessage({ space });
  }

  get threadId(): number {
    return this.worker.threadId;
  }

  /** (R1) + kick, then (R4): resolves when the vCPU acknowledged `state`. */
  private async ask(state: number): Promise<void> {
    this.request.store(state);
    this.request.notify();
    this.kick.set();
    for (;;) {
      if (this.failure) throw this.failure;
      const a = this.ack.load();
      if (a === state) return;
      await this.ack.waitAsync(a, 200);
    }
  }

  /** Stops the vCPU between two guest steps (it stops touching devices). */
  pause(): Promise<void> {
    return this.ask(PAUSE);
  }

  /** Resumes a paused vCPU (or one parked after a reboot). */
  async resume(): Promise<void> {
    await this.ask(RUN);
  }

  /** Makes the guest abandon its kernel; resolves once it is parked, ready to boot again on `resume()`. */
  reboot(): Promise<void> {
    return this.ask(REBOOT);
  }

  /** Stops the guest for good; resolves with its report. */
  async quit(): Promise<VcpuReport> {
    this.request.store(QUIT);
    this.request.notify();
    this.kick.set();
    return this.report;
  }

  /** Kills the worker (after its report, or when it hangs). */
  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  /** Resolves when the guest finished on its own (shutdown) and reported. */
  finished(): Promise<VcpuReport> {
    return this.report;
  }
}
