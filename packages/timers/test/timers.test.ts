import { thrownCode } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import { Clocks, SCALE_MS, SCALE_NS, SCALE_US, TimerError, TimerList, TimerListGroup } from '@vmloop/timers';

const codeOf = (f: () => unknown): string | undefined => thrownCode(f, TimerError.isInstance);


const manual = (virtualEnabled = true): Clocks => Clocks.create({ source: 'manual', virtualEnabled });

describe('timers / semantics', () => {
  it('scales: mod(expire) is in the timer scale, expireTime reads it back', () => {
    const g = new TimerListGroup(manual());
    const t = g.createTimer('realtime', SCALE_MS, () => {});
    t.mod(3);
    expect(t.expireTimeNs).toBe(3_000_000);
    expect(t.expireTime).toBe(3);
    const u = g.createTimer('realtime', SCALE_US, () => {});
    u.mod(7);
    expect(u.expireTimeNs).toBe(7000);
  });

  it('negative expiry clamps to 0; equal expiries fire in arm order; expiry is cleared before the callback', () => {
    const clocks = manual();
    const g = new TimerListGroup(clocks);
    const order: string[] = [];
    const a = g.createTimer('realtime', SCALE_NS, () => {
      expect(a.pending).toBe(false);
      order.push('a');
    });
    const b = g.createTimer('realtime', SCALE_NS, () => order.push('b'));
    const c = g.createTimer('realtime', SCALE_NS, () => order.push('c'));
    b.modNs(5);
    a.modNs(5);
    c.modNs(-100);
    expect(c.expireTimeNs).toBe(0);
    clocks.advance(5);
    expect(g.run()).toBe(true);
    expect(order).toEqual(['c', 'b', 'a']);
    expect(g.run()).toBe(false);
  });

  it('a callback may re-arm its own timer; re-armed into the past it fires on the next run, so a run ends', () => {
    const clocks = manual();
    const g = new TimerListGroup(clocks);
    let fired = 0;
    const t = g.createTimer('realtime', SCALE_NS, () => {
      fired++;
      t.modNs(0);
    });
    t.modNs(1);
    clocks.advance(1);
    expect(g.run()).toBe(true);
    expect(fired).toBe(1);
    expect(t.pending).toBe(true);
    expect(g.deadlineNs()).toBe(0);
    g.run();
    expect(fired).toBe(2);
    t.del();
  });

  it('a timer deleted by an earlier callback in the same run does not fire', () => {
    const clocks = manual();
    const g = new TimerListGroup(clocks);
    const fired: string[] = [];
    const second = g.createTimer('realtime', SCALE_NS, () => fired.push('second'));
    const first = g.createTimer('realtime', SCALE_NS, () => {
      fired.push('first');
      second.del();
    });
    first.modNs(1);
    second.modNs(2);
    clocks.advance(10);
    g.run();
    expect(fired).toEqual(['first']);
  });

  it('notify runs only when the earliest expiry moved earlier', () => {
    let notifies = 0;
    const g = new TimerListGroup(manual(), () => notifies++);
    const a = g.createTimer('realtime', SCALE_NS, () => {});
    const b = g.createTimer('realtime', SCALE_NS, () => {});
    a.modNs(100); // first timer: earlier than "none"
    expect(notifies).toBe(1);
    b.modNs(200); // later
    expect(notifies).toBe(1);
    a.modNs(150); // the head moved later
    expect(notifies).toBe(1);
    b.modNs(50); // earlier than 150
    expect(notifies).toBe(2);
    expect(g.stats).toMatchObject({ armed: 2, mods: 4, notifies: 2 });
  });

  it('modAnticipate only moves a timer earlier (or arms it)', () => {
    const g = new TimerListGroup(manual());
    const t = g.createTimer('realtime', SCALE_NS, () => {});
    t.modAnticipateNs(100);
    expect(t.expireTimeNs).toBe(100);
    t.modAnticipateNs(200);
    expect(t.expireTimeNs).toBe(100);
    t.modAnticipate(50);
    expect(t.expireTimeNs).toBe(50);
  });

  it('deadlines: -1 when empty, 0 when due, else ns until the soonest over enabled clocks', () => {
    const clocks = manual(false);
    const g = new TimerListGroup(clocks);
    expect(g.deadlineNs()).toBe(-1);
    const v = g.createTimer('virtual', SCALE_NS, () => {});
    v.modNs(10);
    expect(g.deadlineNs()).toBe(-1); // virtual is disabled
    const r = g.createTimer('realtime', SCALE_NS, () => {});
    r.modNs(500);
    expect(g.deadlineNs()).toBe(500);
    clocks.setVirtualEnabled(true);
    expect(g.deadlineNs()).toBe(10);
    clocks.advance(20);
    expect(g.deadlineNs()).toBe(0);
  });
});

describe('timers / clocks', () => {
  it('VIRTUAL is disabled at first: nothing fires and its time does not advance', () => {
    const clocks = manual(false);
    let notifies = 0;
    const g = new TimerListGroup(clocks, () => notifies++);
    let fired = 0;
    g.createTimer('virtual', SCALE_NS, () => fired++).modNs(5);
    const v0 = clocks.now('virtual');
    clocks.advance(1000);
    expect(clocks.now('virtual')).toBe(v0);
    expect(clocks.isEnabled('virtual')).toBe(false);
    expect(g.run()).toBe(false);
    expect(fired).toBe(0);
    const before = notifies;
    clocks.setVirtualEnabled(true);
    expect(notifies).toBe(before + 1); // lists with timers recompute their deadline
    clocks.advance(5);
    expect(g.run()).toBe(true);
    expect(fired).toBe(1);
  });

  it('stopping and starting VIRTUAL keeps it continuous (no jump over the stopped time)', () => {
    const clocks = manual(true);
    clocks.advance(100);
    expect(clocks.now('virtual')).toBe(100);
    clocks.setVirtualEnabled(false);
    clocks.advance(1_000_000);
    expect(clocks.now('virtual')).toBe(100);
    clocks.setVirtualEnabled(true);
    clocks.setVirtualEnabled(true); // idempotent
    expect(clocks.now('virtual')).toBe(100);
    clocks.advance(5);
    expect(clocks.now('virtual')).toBe(105);
    expect(clocks.now('virtual-rt')).toBe(105);
    expect(clocks.now('realtime')).toBe(1_000_105);
  });

  it('system clocks: REALTIME is monotonic, VIRTUAL continuous across a stop', async () => {
    const clocks = Clocks.create({ virtualEnabled: true });
    const a = clocks.now('realtime');
    await new Promise((r) => setTimeout(r, 2));
    const b = clocks.now('realtime');
    expect(b).toBeGreaterThan(a);
    clocks.setVirtualEnabled(false);
    const frozen = clocks.now('virtual');
    await new Promise((r) => setTimeout(r, 5));
    expect(clocks.now('virtual')).toBe(frozen);
    clocks.setVirtualEnabled(true);
    expect(clocks.now('virtual') - frozen).toBeGreaterThanOrEqual(0);
    expect(clocks.now('virtual') - frozen).toBeLessThan(5_000_000);
  });

  it('HOST jump listeners hear a backwards jump and a far forward one, not normal progress', () => {
    let wall = 1_700_000_000_000;
    const clocks = Clocks.create({ wallClock: () => wall });
    const jumps: [number, number][] = [];
    clocks.onHostJump((before, after) => jumps.push([before, after]));
    clocks.now('host');
    wall += 1000; // 1 s: normal
    clocks.now('host');
    wall -= 5000; // backwards
    clocks.now('host');
    wall += 3_600_000; // an hour ahead
    const t = clocks.now('host');
    expect(jumps).toEqual([
      [1_000_000_000, -4_000_000_000],
      [-4_000_000_000, 3_596_000_000_000],
    ]);
    expect(clocks.hostEpochNs(t)).toBe(BigInt(1_700_000_000_000 + 3_596_000) * 1_000_000n);
  });

  it('step() runs timers at their exact expiry on the way, including ones re-armed inside the window', () => {
    const clocks = manual();
    const g = new TimerListGroup(clocks);
    const seen: number[] = [];
    const t = g.createTimer('virtual', SCALE_NS, () => {
      seen.push(clocks.now('virtual'));
      if (seen.length < 3) t.modNs(clocks.now('virtual') + 10);
    });
    t.modNs(15);
    clocks.step(100, [g]);
    expect(seen).toEqual([15, 25, 35]);
    expect(clocks.now('realtime')).toBe(100);
  });
});

describe('timers / errors', () => {
  it('bad numbers, bad scales, bad clocks', () => {
    const g = new TimerListGroup(manual());
    const t = g.createTimer('realtime', SCALE_NS, () => {});
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5]) {
      expect(codeOf(() => t.modNs(bad))).toBe('ERR_INVALID_ARGUMENT');
      expect(codeOf(() => t.mod(bad))).toBe('ERR_INVALID_ARGUMENT');
      expect(codeOf(() => t.modAnticipateNs(bad))).toBe('ERR_INVALID_ARGUMENT');
    }
    const ms = g.createTimer('realtime', SCALE_MS, () => {});
    expect(codeOf(() => ms.mod(2 ** 50))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => g.createTimer('realtime', 7, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => g.createTimer('nope' as never, SCALE_NS, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => g.createTimer('realtime', SCALE_NS, undefined as never))).toBe('ERR_INVALID_ARGUMENT');
    const other = new TimerList(manual(), 'realtime');
    expect(codeOf(() => other.modNs(t, 5))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => manual().advance(-1))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => Clocks.create({ source: 'atomic' as never }))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('manual operations on system clocks are ERR_WRONG_SOURCE; bad handles ERR_BAD_HANDLE', () => {
    expect(codeOf(() => Clocks.create().advance(1))).toBe('ERR_WRONG_SOURCE');
    expect(codeOf(() => Clocks.create().step(1, []))).toBe('ERR_WRONG_SOURCE');
    expect(codeOf(() => Clocks.open({ kind: 'nope' }))).toBe('ERR_BAD_HANDLE');
    expect(codeOf(() => Clocks.open({ kind: 'vmloop.clocks', state: { buffer: new SharedArrayBuffer(8), byteOffset: 0 } }))).toBe('ERR_BAD_HANDLE');
  });

  it('using a timer or list after its group is destroyed is ERR_DESTROYED', () => {
    const g = new TimerListGroup(manual());
    const t = g.createTimer('realtime', SCALE_NS, () => {});
    t.modNs(5);
    g.destroy();
    g.destroy();
    expect(codeOf(() => t.modNs(1))).toBe('ERR_DESTROYED');
    expect(codeOf(() => t.del())).toBe('ERR_DESTROYED');
    expect(codeOf(() => t.pending)).toBe('ERR_DESTROYED');
    expect(codeOf(() => g.run())).toBe('ERR_DESTROYED');
    expect(codeOf(() => g.deadlineNs())).toBe('ERR_DESTROYED');
    expect(codeOf(() => g.createTimer('realtime', SCALE_NS, () => {}))).toBe('ERR_DESTROYED');
  });
});
