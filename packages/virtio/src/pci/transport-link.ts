/**
 * What a device's I/O thread holds of its transport: interrupt delivery and
 * the broken flag (QEMU virtio_notify / virtio_notify_config / virtio_error),
 * over the transport arena in shared memory. The owner thread keeps the
 * registers (MSI-X table, vectors, command) up to date in that arena; any
 * thread may raise interrupts through a link.
 */
import type { Int32Cell, Int32CellArray } from '@vmloop/atomics';
import { VirtioError } from '../errors.js';
import { type InterruptRouter, NotifierInterruptRouter, type InterruptRoutesHandle } from './interrupt-router.js';
import {
  BROKEN,
  BROKEN_CLAIMED,
  IRQ_DROPPED,
  IRQ_INTX,
  IRQ_PENDING,
  IRQ_SENT,
  ISR_CONFIG,
  ISR_QUEUE,
  MSIX_CONTROL_ENABLE,
  MSIX_CONTROL_MASKALL,
  MSIX_ENTRY_CTRL_MASKED,
  NO_VECTOR,
  PCI_COMMAND_INTX_DISABLE,
  REASON_BYTES,
  type TransportMemory,
  transportLayout,
} from './layout.js';

/** The structured-cloneable description of a transport link. */
export interface TransportLinkHandle {
  readonly kind: 'vmloop.virtio-pci-link';
  readonly version: 1;
  readonly queues: number;
  readonly vectors: number;
  readonly memory: { readonly buffer: SharedArrayBuffer; readonly byteOffset: number };
  readonly routes: InterruptRoutesHandle;
}

/** Interrupt counters of a transport (shared by every thread that raises them). */
export interface InterruptStats {
  /** MSI-X messages sent. */
  readonly msix: number;
  /** INTx raises. */
  readonly intx: number;
  /** Interrupts held in the PBA because their vector was masked. */
  readonly pending: number;
  /** Interrupts that went nowhere (no vector assigned, or no route). */
  readonly dropped: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Raises a device's interrupts and reports it broken.
 * @thread any (one per thread: open the handle where it is used)
 */
export class TransportLink {
  private readonly isr: Int32Cell;
  private readonly msixControl: Int32Cell;
  private readonly command: Int32Cell;
  private readonly configVector: Int32Cell;
  private readonly queueVector: Int32CellArray;
  private readonly table: Int32CellArray;
  private readonly pba: Int32CellArray;
  private readonly counts: Int32CellArray;
  private readonly broken: Int32Cell;

  /** @internal */
  constructor(
    readonly memory: TransportMemory,
    readonly queues: number,
    readonly vectors: number,
    private readonly router: InterruptRouter,
  ) {
    this.isr = memory.isr;
    this.msixControl = memory.msixControl;
    this.command = memory.command;
    this.configVector = memory.configVector;
    this.queueVector = memory.queueVector;
    this.table = memory.msixTable;
    this.pba = memory.msixPba;
    this.counts = memory.irqCounts;
    this.broken = memory.broken;
  }

  static open(handle: unknown): TransportLink {
    const h = handle as Partial<TransportLinkHandle> | null;
    if (typeof h !== 'object' || h === null || h.kind !== 'vmloop.virtio-pci-link' || h.version !== 1 || typeof h.queues !== 'number' || typeof h.vectors !== 'number' || h.memory === undefined) {
      throw new VirtioError('ERR_BAD_HANDLE', 'not a virtio-pci link handle');
    }
    const mem = transportLayout({ queues: h.queues, vectors: h.vectors }).open(h.memory);
    return new TransportLink(mem, h.queues, h.vectors, NotifierInterruptRouter.open(h.routes));
  }

  /** Signals used buffers on queue `q` (QEMU virtio_notify → virtio_pci_notify). */
  notifyQueue(q: number): void {
    if (!(q >>> 0 === q && q < this.queues)) throw new VirtioError('ERR_INVALID_ARGUMENT', `no queue ${String(q)}`);
    this.deliver(this.queueVector.load(q), ISR_QUEUE);
  }

  /** Signals a configuration change (QEMU virtio_notify_config). */
  notifyConfig(): void {
    this.deliver(this.configVector.load(), ISR_CONFIG);
  }

  /**
   * Marks the device broken (QEMU virtio_error): records the first reason,
   * and raises the configuration interrupt the guest sees NEEDS_RESET by.
   * Returns false if it was already broken (the first reason is kept).
   */
  setBroken(reason: string): boolean {
    if (this.broken.load() !== 0) return false;
    // Claim (0 → BROKEN_CLAIMED), write the reason, then publish it (store
    // BROKEN): the owner's load that sees BROKEN reads the whole text. Only
    // the winner of the claim writes, so the first reason is kept.
    if (this.broken.compareExchange(0, BROKEN_CLAIMED) !== 0) return false;
    const bytes = encoder.encode(reason).subarray(0, REASON_BYTES);
    this.memory.reason.set(bytes);
    this.memory.reasonLength.store(bytes.length);
    this.broken.store(BROKEN);
    this.notifyConfig();
    return true;
  }

  /** Whether the device was reported broken, and why (the owner reads this when the guest reads status). */
  brokenReason(): string | undefined {
    const b = this.broken.load();
    if (b === 0) return undefined;
    if (b === BROKEN_CLAIMED) return '(reason being recorded)';
    const n = this.memory.reasonLength.load();
    return decoder.decode(this.memory.reason.slice(0, n));
  }

  /** The interrupt counters of this device, from every thread. */
  get stats(): InterruptStats {
    const c = this.counts;
    return { msix: c.load(IRQ_SENT), intx: c.load(IRQ_INTX), pending: c.load(IRQ_PENDING), dropped: c.load(IRQ_DROPPED) };
  }

  /** Sends `vector` if it is unmasked and pending; used by the owner when the guest unmasks it. */
  deliverPending(vector: number): void {
    if (vector >= this.vectors) return;
    const bit = 1 << (vector & 31);
    if ((this.pba.load(vector >>> 5) & bit) === 0 || this.masked(vector)) return;
    if ((this.pba.and(vector >>> 5, ~bit) & bit) !== 0) this.send(vector);
  }

  /** Whether MSI-X is enabled (its capability's enable bit). */
  msixEnabled(): boolean {
    return (this.msixControl.load() & MSIX_CONTROL_ENABLE) !== 0;
  }

  private masked(vector: number): boolean {
    return (this.msixControl.load() & MSIX_CONTROL_MASKALL) !== 0 || (this.table.load(vector * 4 + 3) & MSIX_ENTRY_CTRL_MASKED) !== 0;
  }

  private deliver(vector: number, isrBit: number): void {
    if (this.msixEnabled()) {
      // QEMU virtio_pci_notify: with MSI-X on, a queue without a vector gets no interrupt.
      if (vector === NO_VECTOR || vector >= this.vectors) {
        this.counts.add(IRQ_DROPPED, 1);
        return;
      }
      if (this.masked(vector)) {
        // PCI 3.0 6.8.3.5: a masked vector's message is held pending in the PBA.
        this.pba.or(vector >>> 5, 1 << (vector & 31));
        this.counts.add(IRQ_PENDING, 1);
        return;
      }
      this.send(vector);
      return;
    }
    // INTx: set the ISR bit before raising the line; the guest's ISR read
    // (an exit served by the owner) returns and clears it.
    this.isr.or(isrBit);
    if ((this.command.load() & PCI_COMMAND_INTX_DISABLE) === 0 && this.router.intx()) this.counts.add(IRQ_INTX, 1);
    else this.counts.add(IRQ_DROPPED, 1);
  }

  private send(vector: number): void {
    const t = this.table;
    const b = vector * 4;
    if (this.router.msi(t.load(b) >>> 0, t.load(b + 1) >>> 0, t.load(b + 2) >>> 0)) this.counts.add(IRQ_SENT, 1);
    else this.counts.add(IRQ_DROPPED, 1);
  }
}
