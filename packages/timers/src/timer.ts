import { TimerError, checkNs } from './errors.js';
import type { TimerList } from './timer-list.js';

/**
 * A timer on one clock's list (QEMU QEMUTimer). `mod(expire)` takes the
 * timer's scale (ns, µs or ms since the clock's origin); the `Ns` variants
 * take nanoseconds. The callback runs on the list's home thread from
 * `list.run()`/`group.run()`, after the timer was made not pending, so it
 * may re-arm itself.
 * @thread home (the thread of its group)
 */
export class Timer {
  /** @internal Expiry in ns, -1 when not pending. */
  expireNs = -1;
  /** @internal Arm sequence: equal expiries fire in arm order. */
  seq = 0;

  /** @internal Use `group.createTimer` or `list.createTimer`. */
  constructor(
    /** The list (and so the clock) the timer is on. */
    readonly list: TimerList,
    /** @internal Its slot in the list's heap. */
    readonly slot: number,
    /** ns per unit of `mod`/`expireTime`: SCALE_NS, SCALE_US or SCALE_MS. */
    readonly scale: number,
    /** @internal */ readonly callback: () => void,
  ) {}

  /** Arms it to expire at `expire` (in its scale); re-arms if pending (`timer_mod`). */
  mod(expire: number): void {
    this.list.modNs(this, this.scaled('expire', expire));
  }

  /** Arms it to expire at `ns` (`timer_mod_ns`). Negative times clamp to 0. */
  modNs(ns: number): void {
    this.list.modNs(this, checkNs('ns', ns));
  }

  /** Arms it only if that moves it earlier or it is not pending (`timer_mod_anticipate`). */
  modAnticipate(expire: number): void {
    this.modAnticipateNs(this.scaled('expire', expire));
  }

  /** `timer_mod_anticipate_ns`. */
  modAnticipateNs(ns: number): void {
    checkNs('ns', ns);
    this.list.checkLive();
    if (this.expireNs < 0 || this.expireNs > Math.max(ns, 0)) this.list.modNs(this, ns);
  }

  /** Disarms it (`timer_del`). */
  del(): void {
    this.list.del(this);
  }

  /** Whether it is armed (`timer_pending`). */
  get pending(): boolean {
    this.list.checkLive();
    return this.expireNs >= 0;
  }

  /** Expiry in ns, or -1 when not pending (`timer_expire_time_ns`). */
  get expireTimeNs(): number {
    this.list.checkLive();
    return this.expireNs;
  }

  /** Expiry in the timer's scale (rounded down), or -1 when not pending. */
  get expireTime(): number {
    const ns = this.expireTimeNs;
    return ns < 0 ? -1 : Math.floor(ns / this.scale);
  }

  /** Whether it is pending and due at `currentNs` (`timer_expired`). */
  expired(currentNs: number): boolean {
    return this.pending && this.expireNs <= checkNs('currentNs', currentNs);
  }

  private scaled(what: string, v: number): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      throw new TimerError('ERR_INVALID_ARGUMENT', `${what} must be a safe integer, got ${String(v)}`);
    }
    const ns = v * this.scale;
    if (!Number.isSafeInteger(ns)) throw new TimerError('ERR_INVALID_ARGUMENT', `${what} × scale ${this.scale} exceeds 2^53 ns`);
    return ns;
  }
}
