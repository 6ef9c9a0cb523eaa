/**
 * Where a device's interrupts go: irqfd. A device never calls into a vCPU;
 * it sets an EventNotifier that the vCPU watches (KVM_IRQFD binds an eventfd
 * to an MSI route or a GSI). The router turns an MSI message (address,
 * data) or the INTx line into the notifier to set.
 */
import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';
import { VirtioError } from '../errors.js';

/** What a transport needs to deliver an interrupt. */
export interface InterruptRouter {
  /** Delivers an MSI message (QEMU msi_send_message); false if it goes nowhere. */
  msi(addressLo: number, addressHi: number, data: number): boolean;
  /** Raises the device's INTx line (level-triggered: the guest clears it by reading ISR); false if not wired. */
  intx(): boolean;
}

/** The structured-cloneable description of a {@link NotifierInterruptRouter}. */
export interface InterruptRoutesHandle {
  readonly kind: 'vmloop.irq-routes';
  readonly version: 1;
  /** `msi[d][v]`: the notifier of vector v on the vCPU with APIC id d. */
  readonly msi: readonly (readonly EventNotifierHandle[])[];
  /** The INTx line's notifier, if the device's pin is wired. */
  readonly intx?: EventNotifierHandle;
}

/** x86 MSI address window (Intel SDM 10.11.1): 0xFEE0_0000 | destination APIC id << 12. */
export const MSI_ADDRESS_BASE = 0xfee00000;
const MSI_ADDRESS_MASK = 0xfff00000;

/**
 * An x86-style router: the MSI address names a destination vCPU (APIC id,
 * bits 12–19) and the data's low byte the vector; each (vCPU, vector) is
 * one notifier that the vCPU's interrupt controller watches.
 * @thread any (open it on every thread that raises interrupts)
 */
export class NotifierInterruptRouter implements InterruptRouter {
  private readonly routes: EventNotifier[][];
  private readonly line: EventNotifier | undefined;

  private constructor(h: InterruptRoutesHandle) {
    this.routes = h.msi.map((vectors) => vectors.map((n) => EventNotifier.open(n)));
    this.line = h.intx === undefined ? undefined : EventNotifier.open(h.intx);
  }

  static open(handle: unknown): NotifierInterruptRouter {
    const h = handle as Partial<InterruptRoutesHandle> | null;
    if (typeof h !== 'object' || h === null || h.kind !== 'vmloop.irq-routes' || h.version !== 1 || !Array.isArray(h.msi)) {
      throw new VirtioError('ERR_BAD_HANDLE', 'not an interrupt-routes handle');
    }
    return new NotifierInterruptRouter(h as InterruptRoutesHandle);
  }

  /** The MSI address that targets the vCPU with APIC id `dest`. */
  static msiAddress(dest: number): number {
    return (MSI_ADDRESS_BASE | ((dest & 0xff) << 12)) >>> 0;
  }

  msi(addressLo: number, addressHi: number, data: number): boolean {
    if (addressHi !== 0 || ((addressLo >>> 0) & MSI_ADDRESS_MASK) >>> 0 !== MSI_ADDRESS_BASE) return false;
    const n = this.routes[(addressLo >>> 12) & 0xff]?.[data & 0xff];
    if (n === undefined) return false;
    n.set();
    return true;
  }

  intx(): boolean {
    if (this.line === undefined) return false;
    this.line.set();
    return true;
  }
}
