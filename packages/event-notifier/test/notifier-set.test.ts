import { thrownCode } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import { EventNotifier, NotifierError, NotifierSet } from '@vmloop/event-notifier';

const codeOf = (f: () => unknown): string | undefined => thrownCode(f, NotifierError.isInstance);


describe('event-notifier / set', () => {
  it('poll reports only watched, set notifiers', () => {
    const s = NotifierSet.create({ capacity: 100 });
    const ns = Array.from({ length: 100 }, () => s.createNotifier());
    for (const n of ns) s.add(n);
    expect(s.size).toBe(100);
    expect(s.poll()).toEqual([]);
    ns[3]!.set();
    ns[97]!.set();
    ns[40]!.set();
    s.remove(ns[40]!);
    expect(s.poll().map((n) => n.slot).sort((a, b) => a - b)).toEqual([3, 97]);
    expect(s.has(ns[40]!)).toBe(false);
  });

  it('is level-triggered: a set notifier is reported until it is cleared', () => {
    const s = NotifierSet.create({ capacity: 4 });
    const n = s.createNotifier();
    s.add(n);
    n.set();
    expect(s.poll()).toEqual([n]);
    expect(s.poll()).toEqual([n]);
    n.testAndClear();
    expect(s.poll()).toEqual([]);
    n.set();
    expect(s.poll()).toEqual([n]);
  });

  it('pollInto fills the caller\'s array from 0 and returns the count: the same answers as poll, level-triggered, the array reused', () => {
    const s = NotifierSet.create({ capacity: 64 });
    const ns = Array.from({ length: 64 }, () => s.createNotifier());
    for (const n of ns) s.add(n);
    const out: EventNotifier[] = [];
    expect(s.pollInto(out)).toBe(0);
    ns[5]!.set();
    ns[40]!.set();
    ns[63]!.set();
    expect(s.pollInto(out)).toBe(3);
    expect(out.map((n) => n.slot).sort((a, b) => a - b)).toEqual([5, 40, 63]);
    // Still set: reported again (each once), into the same array.
    const again = s.pollInto(out);
    expect(out.slice(0, again).map((n) => n.slot).sort((a, b) => a - b)).toEqual([5, 40, 63]);
    ns[40]!.testAndClear();
    ns[63]!.testAndClear();
    expect(s.pollInto(out)).toBe(1);
    expect(out[0]).toBe(ns[5]);
    expect(out.length).toBe(3); // never shortened: out[1], out[2] are stale
    ns[5]!.testAndClear();
    expect(s.pollInto(out)).toBe(0);
    // poll() still returns its own array, not the one pollInto filled.
    ns[9]!.set();
    const mine = s.poll();
    expect(mine).toEqual([ns[9]]);
    expect(s.pollInto(out)).toBe(1);
    expect(mine).toEqual([ns[9]]);
    s.close();
    expect(codeOf(() => s.pollInto(out))).toBe('ERR_SET_CLOSED');
  });

  it('add() of an already-set notifier reports it; a set through another object is seen', () => {
    const s = NotifierSet.create({ capacity: 4 });
    const n = s.createNotifier({ active: true });
    expect(s.poll()).toEqual([]);
    s.add(n);
    expect(s.poll()).toEqual([n]);
    n.testAndClear();
    EventNotifier.open(n.handle).set();
    expect(s.poll()).toEqual([n]);
  });

  it('scans above one summary word (capacity 32768)', () => {
    const s = NotifierSet.create({ capacity: 32768 });
    const ns = Array.from({ length: 32768 }, () => s.createNotifier());
    for (const n of ns) s.add(n);
    for (const i of [0, 31, 32, 1023, 1024, 32767]) ns[i]!.set();
    expect(s.poll().map((n) => n.slot).sort((a, b) => a - b)).toEqual([0, 31, 32, 1023, 1024, 32767]);
  });

  it('waitAsync on the main thread wakes once for a burst of sets', async () => {
    const s = NotifierSet.create({ capacity: 8 });
    const ns = Array.from({ length: 8 }, () => s.createNotifier());
    for (const n of ns) s.add(n);
    const p = s.waitAsync(60_000);
    await new Promise((r) => setTimeout(r, 2));
    for (const n of ns) n.set();
    expect((await p).length).toBe(8);
    // Only the first set found the owner asleep.
    expect(ns.reduce((k, n) => k + n.stats.wakeups, 0)).toBe(1);
    expect(s.stats.waits).toBe(1);
  });

  it('waitAsync times out with []', async () => {
    const s = NotifierSet.create({ capacity: 1 });
    s.add(s.createNotifier());
    expect(await s.waitAsync(3)).toEqual([]);
  });

  it('errors: full, foreign notifier, closed set', async () => {
    const s = NotifierSet.create({ capacity: 1 });
    s.createNotifier();
    expect(codeOf(() => s.createNotifier())).toBe('ERR_SET_FULL');
    expect(codeOf(() => s.add(EventNotifier.create()))).toBe('ERR_FOREIGN_NOTIFIER');
    expect(codeOf(() => s.add(NotifierSet.create().createNotifier()))).toBe('ERR_FOREIGN_NOTIFIER');
    const p = s.waitAsync();
    s.close();
    await expect(p).rejects.toMatchObject({ code: 'ERR_SET_CLOSED' });
    expect(codeOf(() => s.poll())).toBe('ERR_SET_CLOSED');
    expect(codeOf(() => s.createNotifier())).toBe('ERR_SET_CLOSED');
  });
});
