/**
 * The vCPU side of the machine's address spaces (QEMU kvm_cpu_exec's
 * KVM_EXIT_MMIO / KVM_EXIT_IO, with KVM's in-kernel ioeventfd matching in
 * front): a write that matches an ioeventfd registration sets its notifier
 * on the vCPU thread and returns at once; every other access is a
 * synchronous exit served by the device owner's thread while the vCPU waits.
 */
import type { ExitServerHandle } from './exit-channel.js';
import { VcpuExitPort } from './exit-channel.js';
import { type IoEventFdTableHandle, IoEventFdMatcher } from './ioeventfd.js';
import { EXIT_MMIO_READ, EXIT_MMIO_WRITE, EXIT_PIO_READ, EXIT_PIO_WRITE } from './layout.js';

/** What a vCPU worker receives to reach the devices. */
export interface AddressSpaceHandle {
  readonly exits: ExitServerHandle;
  /** Omit to turn ioeventfd matching off (every doorbell is an exit). */
  readonly ioeventfds?: IoEventFdTableHandle;
}

/** Counters of one vCPU's accesses. */
export interface AddressSpaceStats {
  /** Synchronous exits. */
  readonly exits: number;
  /** Exits that outlasted the spin and slept. */
  readonly exitSleeps: number;
  /** Writes that an ioeventfd took (no exit). */
  readonly ioeventfdWrites: number;
}

/** @thread worker: the vCPU's own thread */
export class VcpuAddressSpace {
  private constructor(
    private readonly port: VcpuExitPort,
    private readonly matcher: IoEventFdMatcher | undefined,
  ) {}

  /** Opens the address space for vCPU `vcpu`; `spins` loads before an exit sleeps (default 2000). */
  static open(handle: AddressSpaceHandle, vcpu: number, options?: { spins?: number }): VcpuAddressSpace {
    const port = VcpuExitPort.open(handle.exits, vcpu, options);
    const matcher = handle.ioeventfds === undefined ? undefined : IoEventFdMatcher.open(handle.ioeventfds, vcpu);
    return new VcpuAddressSpace(port, matcher);
  }

  mmioRead(address: number, size: number): number {
    return this.port.access(EXIT_MMIO_READ, address, size, 0);
  }

  mmioWrite(address: number, size: number, value: number): void {
    if (this.matcher?.write('mmio', address, size, value)) return;
    this.port.access(EXIT_MMIO_WRITE, address, size, value);
  }

  pioRead(port: number, size: number): number {
    return this.port.access(EXIT_PIO_READ, port, size, 0);
  }

  pioWrite(port: number, size: number, value: number): void {
    if (this.matcher?.write('pio', port, size, value)) return;
    this.port.access(EXIT_PIO_WRITE, port, size, value);
  }

  get stats(): AddressSpaceStats {
    return { exits: this.port.exits, exitSleeps: this.port.sleeps, ioeventfdWrites: this.matcher?.hits ?? 0 };
  }
}
