/**
 * What the guest sees of its vCPU: port and memory-mapped I/O (every
 * access an exit or an ioeventfd), guest RAM, a clock, HLT, interrupt
 * vectors and the run-control requests the monitor makes. The vCPU worker
 * implements it; the guest never reaches the device model any other way.
 */
import type { GuestMemory } from '@vmloop/virtio';
import type { GuestIo } from '@vmloop/virtio/testing';

/** Why the guest's run loop must stop. */
export type ControlRequest = 'continue' | 'reboot' | 'quit';

export interface Cpu {
  readonly index: number;
  readonly vcpus: number;
  readonly io: GuestIo;
  readonly memory: GuestMemory;
  /** Host time in ns (the guest's TSC), for latencies. */
  now(): number;
  /** The VIRTUAL clock in ns: it stops while the VM is paused. */
  virtualNow(): number;
  /**
   * HLT: sleeps until an interrupt arrives, the VIRTUAL clock reaches
   * `deadlineNs` (the guest's timer), or the monitor asks for something.
   * Checking for a pending interrupt or an expired timer and going to sleep
   * is one atomic step (the interrupt controller's counter doorbell; the
   * timer is the sleep's timeout), so neither can be lost in between.
   * Returns the bitmask of vectors that fired (vector v → bit v).
   */
  halt(deadlineNs: number): bigint;
  /** Vectors that fired without halting (one doorbell load when none did). */
  pendingVectors(): bigint;
  /** Handles a pause from the monitor (blocks until resumed); says whether the guest must reboot or quit. */
  checkControl(): ControlRequest;
  /** Records a trace point (free when tracing is off). */
  trace(name: string, ph: 'B' | 'E' | 'i', args?: Record<string, number | string>): void;
}
