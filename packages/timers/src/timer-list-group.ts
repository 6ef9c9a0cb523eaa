import { CLOCK_TYPES, type ClockType } from './clock-type.js';
import type { Clocks } from './clocks.js';
import { TimerError } from './errors.js';
import type { TimerStats } from './stats.js';
import type { Timer } from './timer.js';
import { TimerList } from './timer-list.js';

/**
 * One timer list per clock, as every AioContext has (QEMU
 * QEMUTimerListGroup). `notify(type)` runs when the earliest expiry of a
 * list moved earlier, or a clock of this thread's Clocks object was enabled
 * or disabled: the owner recomputes its poll timeout (an AioContext calls
 * aio_notify).
 * @thread home
 */
export class TimerListGroup {
  private readonly lists: Record<ClockType, TimerList>;
  /** The same lists in CLOCK_TYPES order, for the hot loops. */
  private readonly all: readonly TimerList[];
  private readonly unsubscribe: () => void;
  private destroyed = false;
  private extraNotifies = 0;

  /** `timerlistgroup_init(tlg, cb, opaque)`. */
  constructor(
    readonly clocks: Clocks,
    notify: (type: ClockType) => void = () => {},
  ) {
    const lists = {} as Record<ClockType, TimerList>;
    for (const type of CLOCK_TYPES) lists[type] = new TimerList(clocks, type, notify);
    this.lists = lists;
    this.all = CLOCK_TYPES.map((t) => lists[t]);
    // QEMU qemu_clock_enable → qemu_clock_notify: lists of a clock that
    // starts or stops recompute their deadline.
    this.unsubscribe = clocks.onChange((type) => {
      for (const t of CLOCK_TYPES) {
        if ((t === type || (type === 'virtual' && t === 'virtual-rt')) && lists[t].armed > 0) {
          this.extraNotifies++;
          notify(t);
        }
      }
    });
  }

  /** The list of one clock. */
  list(type: ClockType): TimerList {
    this.checkLive();
    const l = this.lists[type];
    if (l === undefined) throw new TimerError('ERR_INVALID_ARGUMENT', `unknown clock ${String(type)} (one of ${CLOCK_TYPES.join(', ')})`);
    return l;
  }

  /** A timer on `type`'s list (`aio_timer_new` / `timer_new_tl`). */
  createTimer(type: ClockType, scale: number, callback: () => void): Timer {
    return this.list(type).createTimer(scale, callback);
  }

  /**
   * ns until the soonest timer over the enabled clocks: -1 if none can
   * fire, 0 if one is due (`timerlistgroup_deadline_ns`).
   */
  deadlineNs(): number {
    this.checkLive();
    let deadline = -1;
    const all = this.all;
    for (let i = 0; i < all.length; i++) {
      const list = all[i]!;
      if (list.armed === 0) continue;
      const d = list.deadlineNs();
      if (d >= 0 && (deadline < 0 || d < deadline)) deadline = d;
      if (deadline === 0) return 0;
    }
    return deadline;
  }

  /** Runs due timers of every clock (`timerlistgroup_run_timers`); whether any ran. */
  run(): boolean {
    this.checkLive();
    let progress = false;
    const all = this.all;
    for (let i = 0; i < all.length; i++) if (all[i]!.armed !== 0) progress = all[i]!.run() || progress;
    return progress;
  }

  /** Timers pending over all clocks. */
  armed(): number {
    let n = 0;
    for (let i = 0; i < this.all.length; i++) n += this.all[i]!.armed;
    return n;
  }

  /** Counters summed over the lists. */
  get stats(): TimerStats {
    const s = { armed: 0, fired: 0, mods: 0, dels: 0, notifies: this.extraNotifies };
    for (const type of CLOCK_TYPES) {
      const l = this.lists[type].stats;
      s.armed += l.armed;
      s.fired += l.fired;
      s.mods += l.mods;
      s.dels += l.dels;
      s.notifies += l.notifies;
    }
    return s;
  }

  /**
   * Destroys the group (`timerlistgroup_deinit`): armed timers are dropped,
   * and every later use of the group, its lists or its timers throws
   * ERR_DESTROYED. Idempotent.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.unsubscribe();
    for (const type of CLOCK_TYPES) this.lists[type].destroy();
  }

  private checkLive(): void {
    if (this.destroyed) throw new TimerError('ERR_DESTROYED', 'the timer list group was destroyed');
  }
}
