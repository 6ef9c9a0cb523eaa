import { type BigInt64Cell, CACHE_LINE, Seqlock, type SeqlockHandle, bigInt64, defineLayout, int32 } from '@vmloop/atomics';
import { type ClockType, CLOCK_TYPES } from './clock-type.js';
import { TimerError, checkNs } from './errors.js';

const SOURCE_SYSTEM = 0;
const SOURCE_MANUAL = 1;

const State = defineLayout('timers.clocks', {
  // SOURCE_SYSTEM or SOURCE_MANUAL. Written once by Clocks.create before the
  // buffer is shared; read by Clocks.open.
  source: int32(),
  // process.hrtime.bigint() at creation: the origin of every clock's ns.
  // Written once by create; read by open() in every thread, which derives
  // its own offset from performance.now() to this shared origin.
  originMono: bigInt64({ align: CACHE_LINE }),
  // Date.now() at creation (ms since the epoch): HOST reads are ns since it.
  // Written once by create; read by open() and hostEpochNs().
  originHostMs: bigInt64(),
  // The manual source's current time in ns. Written by advance()/step()
  // (add/store, any thread); read by every clock read (load). One 64-bit
  // atomic, so a read never sees half an update.
  manualNs: bigInt64({ align: CACHE_LINE }),
});

/** Words of the virtual clock's seqlock (QEMU timers_state under vm_clock_seqlock). */
const V_ENABLED = 0;
const V_OFF_HI = 1;
const V_OFF_LO = 2;
const TWO32 = 0x1_0000_0000;

/** Options of {@link Clocks.create}. */
export interface ClocksOptions {
  /**
   * `'system'` (default): REALTIME is the process's monotonic clock, HOST the
   * wall clock. `'manual'`: every clock stands still until `advance`/`step`
   * moves it — deterministic tests, or programs that drive time themselves
   * (QEMU qtest's clock_step).
   */
  readonly source?: 'system' | 'manual';
  /** The VIRTUAL clock starts enabled (default false: it starts when the VM runs). */
  readonly virtualEnabled?: boolean;
  /** System source: the wall clock in ms since the epoch (default Date.now), injectable for tests. */
  readonly wallClock?: () => number;
  /** A HOST read more than this far ahead of the last one is a jump (default 60 s, QEMU's). */
  readonly maxHostJumpNs?: number;
}

/** The structured-cloneable form of a Clocks, for another thread. */
export interface ClocksHandle {
  readonly kind: 'vmloop.clocks';
  readonly state: { readonly buffer: SharedArrayBuffer; readonly byteOffset: number };
  readonly virtual: SeqlockHandle;
}

/** Called with the HOST time before and after a jump, in ns since the clocks' origin. */
export type HostJumpListener = (beforeNs: number, afterNs: number) => void;

/**
 * The clocks of a VM (QEMU's qemu_clock_get_ns and timers_state), shared by
 * every thread that opens the handle: a vCPU worker, an IOThread and the
 * main thread read the same VIRTUAL time and see it stop and start together.
 *
 * Times are integer nanoseconds in a JavaScript number, counted from the
 * moment the Clocks were created (HOST: from the wall-clock time then).
 * That is exact — every value a safe integer — for 2^53 ns ≈ 104 days of
 * clock time, and costs one float multiply per read instead of a BigInt
 * allocation. `hostEpochNs(t)` converts a HOST time to ns since the Unix
 * epoch as a bigint.
 * @thread any (one object per thread; share it by `handle`)
 */
export class Clocks {
  /** `'system'` or `'manual'`. */
  readonly source: 'system' | 'manual';
  private readonly state: ReturnType<typeof State.create>;
  private readonly virtual: Seqlock;
  private readonly manualNs: BigInt64Cell;
  /** This thread's performance.now() (ns) minus the shared monotonic origin. */
  private readonly monoOffsetNs: number;
  private readonly wallClock: () => number;
  private readonly originHostMs: number;
  private readonly maxHostJumpNs: number;
  private lastHostNs: number | undefined;
  private readonly hostListeners = new Set<HostJumpListener>();
  private readonly changeListeners = new Set<(type: ClockType) => void>();

  private constructor(state: ReturnType<typeof State.create>, virtual: Seqlock, options: ClocksOptions) {
    this.state = state;
    this.virtual = virtual;
    this.manualNs = state.manualNs;
    this.source = state.source.load() === SOURCE_MANUAL ? 'manual' : 'system';
    this.monoOffsetNs = Number(process.hrtime.bigint() - state.originMono.load()) - performance.now() * 1e6;
    this.wallClock = options.wallClock ?? Date.now;
    this.originHostMs = Number(state.originHostMs.load());
    this.maxHostJumpNs = options.maxHostJumpNs ?? 60_000_000_000;
  }

  /** New clocks (`init_clocks`). @thread any */
  static create(options: ClocksOptions = {}): Clocks {
    if (options.source !== undefined && options.source !== 'system' && options.source !== 'manual') {
      throw new TimerError('ERR_INVALID_ARGUMENT', `source must be 'system' or 'manual', got ${String(options.source)}`);
    }
    if (options.maxHostJumpNs !== undefined) checkNs('maxHostJumpNs', options.maxHostJumpNs);
    const state = State.create();
    state.source.store(options.source === 'manual' ? SOURCE_MANUAL : SOURCE_SYSTEM);
    state.originMono.store(process.hrtime.bigint());
    state.originHostMs.store(BigInt(Math.floor((options.wallClock ?? Date.now)())));
    const virtual = Seqlock.create(3);
    const clocks = new Clocks(state, virtual, options);
    if (options.virtualEnabled === true) clocks.setVirtualEnabled(true);
    return clocks;
  }

  /** Opens clocks created on another thread. `options.wallClock`/`maxHostJumpNs` apply to this thread's object. */
  static open(handle: unknown, options: Pick<ClocksOptions, 'wallClock' | 'maxHostJumpNs'> = {}): Clocks {
    const h = handle as Partial<ClocksHandle> | null;
    if (typeof h !== 'object' || h === null || h.kind !== 'vmloop.clocks') throw new TimerError('ERR_BAD_HANDLE', 'not a Clocks handle (use clocks.handle)');
    try {
      return new Clocks(State.open(h.state), Seqlock.open(h.virtual), options);
    } catch (e) {
      throw new TimerError('ERR_BAD_HANDLE', `malformed Clocks handle: ${(e as Error).message}`);
    }
  }

  /** The handle to post to another thread. */
  get handle(): ClocksHandle {
    return { kind: 'vmloop.clocks', state: State.handle(this.state), virtual: this.virtual.handle };
  }

  /** The current time of `type` in ns (`qemu_clock_get_ns`). @thread any */
  now(type: ClockType): number {
    switch (type) {
      case 'realtime':
        return this.realtime();
      case 'virtual':
      case 'virtual-rt':
        return this.virtualNow();
      case 'host':
        return this.host();
      default:
        throw new TimerError('ERR_INVALID_ARGUMENT', `unknown clock ${String(type)} (one of ${CLOCK_TYPES.join(', ')})`);
    }
  }

  private realtime(): number {
    if (this.source === 'manual') return Number(this.manualNs.load());
    return Math.round(performance.now() * 1e6 + this.monoOffsetNs);
  }

  /** QEMU cpu_get_clock: offset + realtime while enabled, the frozen offset while not. */
  private virtualNow(): number {
    const [enabled, offset] = this.virtual.read((r) => [r.get(V_ENABLED), r.get(V_OFF_HI) * TWO32 + (r.get(V_OFF_LO) >>> 0)] as const);
    return enabled === 1 ? offset + this.realtime() : offset;
  }

  private host(): number {
    const now = this.source === 'manual' ? Number(this.manualNs.load()) : (this.wallClock() - this.originHostMs) * 1e6;
    const last = this.lastHostNs;
    this.lastHostNs = now;
    // QEMU qemu_clock_get_ns(QEMU_CLOCK_HOST): backwards, or further ahead
    // than a timer period could explain, is a jump; tell the listeners.
    if (last !== undefined && (now < last || now > last + this.maxHostJumpNs)) {
      for (const l of this.hostListeners) l(last, now);
    }
    return now;
  }

  /** Whether `type` runs: VIRTUAL and VIRTUAL_RT only while enabled. @thread any */
  isEnabled(type: ClockType): boolean {
    if (type === 'virtual' || type === 'virtual-rt') return this.virtual.read((r) => r.get(V_ENABLED)) === 1;
    if (type === 'realtime' || type === 'host') return true;
    throw new TimerError('ERR_INVALID_ARGUMENT', `unknown clock ${String(type)}`);
  }

  /**
   * Starts or stops the VIRTUAL clock (QEMU cpu_enable_ticks / cpu_disable_ticks
   * + qemu_clock_enable). Virtual time stays continuous: it resumes where it
   * stopped. Idempotent. Groups on this thread are notified so they
   * recompute their deadlines; contexts on other threads must be notified by
   * the caller (e.g. AioContextRemote.notify()).
   * @thread any
   */
  setVirtualEnabled(enabled: boolean): void {
    let changed = false;
    this.virtual.write((w) => {
      if ((w.get(V_ENABLED) === 1) === enabled) return;
      const current = w.get(V_OFF_HI) * TWO32 + (w.get(V_OFF_LO) >>> 0);
      // enable: offset -= realtime; disable: offset += realtime (the frozen time).
      const offset = enabled ? current - this.realtime() : current + this.realtime();
      const hi = Math.floor(offset / TWO32);
      w.set(V_OFF_HI, hi);
      w.set(V_OFF_LO, (offset - hi * TWO32) | 0);
      w.set(V_ENABLED, enabled ? 1 : 0);
      changed = true;
    });
    if (changed) for (const l of this.changeListeners) l('virtual');
  }

  /** Listens for HOST jumps detected by reads on this thread (QEMU reset notifiers); returns an unsubscribe. */
  onHostJump(listener: HostJumpListener): () => void {
    this.hostListeners.add(listener);
    return () => this.hostListeners.delete(listener);
  }

  /** @internal Groups on this thread listen for enable/disable. */
  onChange(listener: (type: ClockType) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** A HOST time (ns since the clocks' origin) as ns since the Unix epoch. */
  hostEpochNs(hostNs: number): bigint {
    return BigInt(this.originHostMs) * 1_000_000n + BigInt(checkNs('hostNs', hostNs));
  }

  /**
   * Manual source: moves every clock forward by `ns` (≥ 0) without running
   * timers; returns the new REALTIME. See `step` to run timers on the way.
   * @thread any
   */
  advance(ns: number): number {
    this.checkManual('advance');
    if (checkNs('ns', ns) < 0) throw new TimerError('ERR_INVALID_ARGUMENT', 'advance() cannot move time backwards');
    return Number(this.manualNs.add(BigInt(ns))) + ns;
  }

  /**
   * Manual source: moves time forward by `ns`, stopping at every deadline of
   * `groups` on the way to run their timers at exactly their expiry (QEMU
   * qtest clock_step / qemu_clock_advance_virtual_time). Returns the new
   * REALTIME. Timers re-armed inside the window fire too.
   * @thread the home thread of `groups`
   */
  step(ns: number, groups: readonly { deadlineNs(): number; run(): boolean }[]): number {
    this.checkManual('step');
    if (checkNs('ns', ns) < 0) throw new TimerError('ERR_INVALID_ARGUMENT', 'step() cannot move time backwards');
    const target = this.realtime() + ns;
    for (let rounds = 0; ; rounds++) {
      let ran = false;
      for (const g of groups) ran = g.run() || ran;
      let next = -1;
      for (const g of groups) {
        const d = g.deadlineNs();
        if (d >= 0 && (next < 0 || d < next)) next = d;
      }
      const now = this.realtime();
      if (next < 0 || now + next > target || (next === 0 && !ran)) break;
      if (rounds > 10_000_000) {
        throw new TimerError('ERR_INVALID_ARGUMENT', `step(): timers kept firing at ${now} ns (a timer re-arms itself at the current time)`);
      }
      if (next > 0) this.manualNs.store(BigInt(now + next));
    }
    this.manualNs.store(BigInt(target));
    for (const g of groups) g.run();
    return target;
  }

  private checkManual(what: string): void {
    if (this.source !== 'manual') throw new TimerError('ERR_WRONG_SOURCE', `${what}() needs clocks created with source 'manual'`);
  }
}
