/**
 * Synchronous vCPU exits: a vCPU that performs an MMIO or port I/O access
 * that no ioeventfd claims stops, posts the access to the device owner's
 * thread, and waits for the result (QEMU's KVM_EXIT_MMIO / KVM_EXIT_IO,
 * handled under the BQL while the vCPU thread is out of KVM_RUN).
 *
 *   vCPU (VcpuExitPort.access)              owner (ExitServer, home thread of ctx)
 *   --------------------------              ---------------------------------------
 *   kind, address, size, data (stores)
 *   state = REQUEST                  (X1)   doorbell handler: state == REQUEST? (X2)
 *   doorbell.set()                           read the request; dispatch (maybe async)
 *   spin on state; then                      result (store)
 *   sleeping = 1; while state == REQUEST     state = DONE                       (X3)
 *     futex-wait(state, REQUEST)             if sleeping: notify(state)          (X4)
 *   sleeping = 0; read result; state = IDLE
 *
 * (X1) publishes the request words; the owner's load in (X2) that sees
 * REQUEST reads them. (X3) publishes the result the same way. The sleeping
 * flag against (X3)/(X4) is store-buffering with all four accesses seq-cst:
 * either the vCPU's re-check sees DONE, or the owner sees `sleeping` and
 * notifies; a notify that lands before the futex wait starts is caught by
 * the wait's own compare (state is no longer REQUEST).
 */
import type { Int32CellArray } from '@vmloop/atomics';
import type { AioContext } from '@vmloop/aio';
import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';
import { VirtioError } from '../errors.js';
import {
  EXIT_ADDR_HI,
  EXIT_ADDR_LO,
  EXIT_DATA,
  EXIT_DONE,
  EXIT_IDLE,
  EXIT_KIND,
  EXIT_MMIO_READ,
  EXIT_MMIO_WRITE,
  EXIT_PIO_READ,
  EXIT_PIO_WRITE,
  EXIT_REQUEST,
  EXIT_RESULT,
  EXIT_SERVED,
  EXIT_SIZE,
  EXIT_SLEEPING,
  EXIT_STATE,
  EXIT_STRIDE,
  type ExitMemory,
  MAX_VCPUS,
  exitLayout,
} from './layout.js';

/** An access a vCPU performed: the argument of an {@link ExitHandler}. */
export interface IoAccess {
  /** Index of the vCPU that performed it. */
  readonly vcpu: number;
  readonly space: 'mmio' | 'pio';
  readonly write: boolean;
  readonly address: number;
  /** 1, 2 or 4 bytes. */
  readonly size: number;
  /** The value written (writes), 0 for reads. */
  readonly value: number;
}

/** Handles one exit on the owner thread; returns the value read (ignored for writes). */
export type ExitHandler = (access: IoAccess) => number | Promise<number>;

/** The structured-cloneable description of an exit server, for vCPU workers. */
export interface ExitServerHandle {
  readonly kind: 'vmloop.exit-server';
  readonly version: 1;
  readonly vcpus: number;
  readonly memory: { readonly buffer: SharedArrayBuffer; readonly byteOffset: number };
  readonly doorbell: EventNotifierHandle;
}

const TWO_32 = 2 ** 32;

/** Options of an {@link ExitServer}. */
export interface ExitServerOptions {
  /** Number of vCPUs (channels), 1 … 255. */
  readonly vcpus: number;
  /** Called when a handler throws (a host-program bug); the access reads all ones. Default: rethrown from a microtask. */
  readonly onError?: (error: unknown, access: IoAccess) => void;
}

/**
 * The owner side of the exit channels: serves every vCPU's synchronous
 * exits from `ctx`'s home thread (QEMU: the vCPU thread's
 * `kvm_cpu_exec` → `address_space_rw` under the BQL; here the device
 * model lives on the owner thread, and the vCPU waits for it).
 * @thread home: the context's home thread
 */
export class ExitServer {
  private readonly mem: ExitMemory;
  private readonly channels: Int32CellArray;
  private readonly doorbell: EventNotifier;
  private readonly busy: boolean[];
  private closed = false;
  /** Exits served, by vCPU. */
  readonly served: number[];

  constructor(
    private readonly ctx: AioContext,
    private readonly handler: ExitHandler,
    private readonly options: ExitServerOptions,
  ) {
    const n = options.vcpus;
    if (!Number.isInteger(n) || n < 1 || n > MAX_VCPUS) throw new VirtioError('ERR_INVALID_ARGUMENT', `vcpus must be an integer in [1, ${MAX_VCPUS}]`);
    this.mem = exitLayout(n).create();
    this.channels = this.mem.channels;
    this.busy = new Array<boolean>(n).fill(false);
    this.served = new Array<number>(n).fill(0);
    this.doorbell = ctx.createNotifier();
    ctx.setNotifierHandler(this.doorbell, { onRead: (d) => this.onDoorbell(d), onPoll: () => this.doorbell.isSet(), onPollReady: (d) => this.onDoorbell(d) });
  }

  /** Post this to every vCPU worker; open it there with `VcpuExitPort.open(handle, index)`. */
  get handle(): ExitServerHandle {
    return {
      kind: 'vmloop.exit-server',
      version: 1,
      vcpus: this.options.vcpus,
      memory: { buffer: this.mem.buffer, byteOffset: this.mem.byteOffset },
      doorbell: this.doorbell.handle,
    };
  }

  /** Stops serving: removes the doorbell handler. Exits still pending are answered first. */
  close(): void {
    if (this.closed) return;
    this.scan();
    this.closed = true;
    this.ctx.setNotifierHandler(this.doorbell, null);
  }

  private onDoorbell(d: EventNotifier): void {
    // Clear before scanning: a request posted after the scan sets it again.
    d.testAndClear();
    this.scan();
  }

  /** (X2) Serves every channel that holds a request not yet being served. */
  private scan(): void {
    const ch = this.channels;
    for (let v = 0; v < this.busy.length; v++) {
      const base = v * EXIT_STRIDE;
      if (this.busy[v] || ch.load(base + EXIT_STATE) !== EXIT_REQUEST) continue;
      const kind = ch.load(base + EXIT_KIND);
      const access: IoAccess = {
        vcpu: v,
        space: kind === EXIT_PIO_READ || kind === EXIT_PIO_WRITE ? 'pio' : 'mmio',
        write: kind === EXIT_MMIO_WRITE || kind === EXIT_PIO_WRITE,
        address: (ch.load(base + EXIT_ADDR_HI) >>> 0) * TWO_32 + (ch.load(base + EXIT_ADDR_LO) >>> 0),
        size: ch.load(base + EXIT_SIZE),
        value: ch.load(base + EXIT_DATA) >>> 0,
      };
      let result: number | Promise<number>;
      try {
        result = this.handler(access);
      } catch (e) {
        this.fail(e, access);
        continue;
      }
      if (typeof result === 'number') {
        this.complete(v, result);
      } else {
        this.busy[v] = true;
        result.then(
          (r) => {
            this.busy[v] = false;
            this.complete(v, r);
          },
          (e: unknown) => {
            this.busy[v] = false;
            this.fail(e, access);
          },
        );
      }
    }
  }

  private fail(e: unknown, access: IoAccess): void {
    this.complete(access.vcpu, 0xffffffff);
    if (this.options.onError !== undefined) this.options.onError(e, access);
    else queueMicrotask(() => {
      throw e;
    });
  }

  private complete(v: number, result: number): void {
    const ch = this.channels;
    const base = v * EXIT_STRIDE;
    ch.store(base + EXIT_RESULT, result | 0);
    // (X3) The result before the state; pairs with the vCPU's load of DONE.
    ch.store(base + EXIT_STATE, EXIT_DONE);
    ch.add(base + EXIT_SERVED, 1);
    this.served[v]!++;
    // (X4) Pairs with the vCPU's `sleeping` store before its last check.
    if (ch.load(base + EXIT_SLEEPING) !== 0) ch.notify(base + EXIT_STATE);
  }
}

/**
 * The vCPU side of one exit channel: performs an access as a synchronous
 * exit to the owner thread and returns the value read.
 * @thread worker: the vCPU's own thread (it blocks)
 */
export class VcpuExitPort {
  private readonly channels: Int32CellArray;
  private readonly base: number;
  private readonly doorbell: EventNotifier;
  /** Synchronous exits this port performed. */
  exits = 0;
  /** Exits whose answer did not come while spinning: the vCPU slept. */
  sleeps = 0;

  private constructor(
    mem: ExitMemory,
    readonly vcpu: number,
    doorbell: EventNotifier,
    private readonly spins: number,
  ) {
    this.channels = mem.channels;
    this.base = vcpu * EXIT_STRIDE;
    this.doorbell = doorbell;
  }

  /** Opens channel `vcpu` of an exit server; `spins` loads are spent before sleeping (default 2000). */
  static open(handle: unknown, vcpu: number, options?: { spins?: number }): VcpuExitPort {
    const h = handle as Partial<ExitServerHandle> | null;
    if (typeof h !== 'object' || h === null || h.kind !== 'vmloop.exit-server' || h.version !== 1 || typeof h.vcpus !== 'number') {
      throw new VirtioError('ERR_BAD_HANDLE', 'not an exit-server handle');
    }
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= h.vcpus) throw new VirtioError('ERR_INVALID_ARGUMENT', `vcpu must be in [0, ${h.vcpus})`);
    const spins = options?.spins ?? 2000;
    if (!Number.isInteger(spins) || spins < 0) throw new VirtioError('ERR_INVALID_ARGUMENT', 'spins must be an integer ≥ 0');
    return new VcpuExitPort(exitLayout(h.vcpus).open(h.memory), vcpu, EventNotifier.open(h.doorbell), spins);
  }

  /** MMIO read of `size` (1, 2, 4) bytes. */
  mmioRead(address: number, size: number): number {
    return this.access(EXIT_MMIO_READ, address, size, 0);
  }
  /** MMIO write. */
  mmioWrite(address: number, size: number, value: number): void {
    this.access(EXIT_MMIO_WRITE, address, size, value);
  }
  /** Port I/O read. */
  pioRead(port: number, size: number): number {
    return this.access(EXIT_PIO_READ, port, size, 0);
  }
  /** Port I/O write. */
  pioWrite(port: number, size: number, value: number): void {
    this.access(EXIT_PIO_WRITE, port, size, value);
  }

  /** One synchronous exit; returns the owner's result (unsigned, masked to `size`). */
  access(kind: number, address: number, size: number, value: number): number {
    if (size !== 1 && size !== 2 && size !== 4) throw new VirtioError('ERR_INVALID_ARGUMENT', `access size must be 1, 2 or 4, got ${String(size)}`);
    if (!Number.isSafeInteger(address) || address < 0) throw new VirtioError('ERR_INVALID_ARGUMENT', `bad address ${String(address)}`);
    const ch = this.channels;
    const b = this.base;
    ch.store(b + EXIT_KIND, kind);
    ch.store(b + EXIT_ADDR_LO, address >>> 0);
    ch.store(b + EXIT_ADDR_HI, Math.floor(address / TWO_32));
    ch.store(b + EXIT_SIZE, size);
    ch.store(b + EXIT_DATA, value | 0);
    // (X1) The request words before the state.
    ch.store(b + EXIT_STATE, EXIT_REQUEST);
    this.doorbell.set();
    this.exits++;
    let state = ch.load(b + EXIT_STATE);
    for (let i = 0; i < this.spins && state === EXIT_REQUEST; i++) state = ch.load(b + EXIT_STATE);
    if (state === EXIT_REQUEST) {
      this.sleeps++;
      // Pairs with (X3)/(X4): the flag before the re-check.
      ch.store(b + EXIT_SLEEPING, 1);
      while (ch.load(b + EXIT_STATE) === EXIT_REQUEST) ch.wait(b + EXIT_STATE, EXIT_REQUEST);
      ch.store(b + EXIT_SLEEPING, 0);
    }
    const r = ch.load(b + EXIT_RESULT) >>> 0;
    ch.store(b + EXIT_STATE, EXIT_IDLE);
    return size === 4 ? r : r & ((1 << (size * 8)) - 1);
  }
}
