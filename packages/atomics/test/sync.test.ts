import { runWorkers, withWatchdog, thrownCode } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import { AtomicsError, Condition, Event, Mutex, Semaphore, Seqlock } from '@vmloop/atomics';
import { Shared } from './workers/sync-shared.js';

const codeOf = (f: () => unknown): string | undefined => thrownCode(f, AtomicsError.isInstance);

const worker = new URL('../build/test/workers/sync-worker.js', import.meta.url);


describe('atomics / sync primitives (one thread)', () => {
  it('Event: auto-reset is consumed by one take; manual-reset stays set', async () => {
    const auto = Event.create();
    expect(auto.manualReset).toBe(false);
    auto.set();
    auto.set();
    expect(await auto.waitAsync(0)).toBe(true);
    expect(await auto.waitAsync(0)).toBe(false);
    const manual = Event.create({ manualReset: true, initiallySet: true });
    expect(await manual.waitAsync(0)).toBe(true);
    expect(await manual.waitAsync(0)).toBe(true);
    manual.reset();
    expect(manual.isSet()).toBe(false);
    expect(await manual.waitAsync(5)).toBe(false);
  });

  it('Semaphore: counts permits, tryAcquire, times out, rejects overflow', async () => {
    const s = Semaphore.create(2);
    expect(s.tryAcquire()).toBe(true);
    expect(await s.acquireAsync(0)).toBe(true);
    expect(s.tryAcquire()).toBe(false);
    expect(await s.acquireAsync(5)).toBe(false);
    s.release(2);
    expect(s.value).toBe(2);
    expect(codeOf(() => s.release(0x7fffffff))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => Semaphore.create(-1))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => s.release(1.5))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('Mutex: tryLock, lockAsync, ERR_NOT_OWNER for unlocking a free mutex', async () => {
    const m = Mutex.create();
    expect(m.tryLock()).toBe(true);
    expect(m.tryLock()).toBe(false);
    m.unlock();
    await m.lockAsync();
    expect(m.isLocked).toBe(true);
    m.unlock();
    expect(codeOf(() => m.unlock())).toBe('ERR_NOT_OWNER');
  });

  it('async variants wait without blocking the event loop', async () => {
    const e = Event.create();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const p = e.waitAsync(10_000);
    while (ticks < 5) await new Promise((r) => setTimeout(r, 1));
    e.set();
    expect(await p).toBe(true);
    const m = Mutex.create();
    const c = Condition.create();
    await m.lockAsync();
    const waiting = c.waitAsync(m, 10_000);
    while (ticks < 10) await new Promise((r) => setTimeout(r, 1));
    c.notifyAll();
    expect(await waiting).toBe(true);
    expect(m.isLocked).toBe(true);
    m.unlock();
    clearInterval(timer);
  });

  it('blocking calls on the main thread are ERR_CANNOT_BLOCK and name the async variant', () => {
    const m = Mutex.create();
    m.tryLock();
    expect(codeOf(() => Event.create().wait(0))).toBe('ERR_CANNOT_BLOCK');
    expect(codeOf(() => Semaphore.create().acquire(0))).toBe('ERR_CANNOT_BLOCK');
    expect(() => Mutex.open(m.handle).lock()).toThrow(/lockAsync/);
    expect(codeOf(() => Condition.create().wait(m, 0))).toBe('ERR_CANNOT_BLOCK');
  });

  it('Seqlock: read returns what write wrote; handles carry the size', () => {
    const l = Seqlock.create(4);
    l.write((w) => {
      for (let i = 0; i < 4; i++) w.set(i, 10 + i);
    });
    expect(l.read((r) => [r.get(0), r.get(3)])).toEqual([10, 13]);
    expect(l.sequence).toBe(2);
    const again = Seqlock.open(structuredClone(l.handle));
    expect(again.words).toBe(4);
    expect(again.read((r) => r.get(2))).toBe(12);
    expect(codeOf(() => Seqlock.create(0))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('handles: round-trip through structuredClone; malformed ones are ERR_BAD_HANDLE', () => {
    const e = Event.create();
    Event.open(structuredClone(e.handle)).set();
    expect(e.isSet()).toBe(true);
    expect(codeOf(() => Event.open(Mutex.create().handle))).toBe('ERR_BAD_HANDLE');
    expect(codeOf(() => Mutex.open({ kind: 'vmloop.mutex', buffer: new SharedArrayBuffer(4), byteOffset: 0 }))).toBe('ERR_BAD_HANDLE');
    expect(codeOf(() => Semaphore.open(null))).toBe('ERR_BAD_HANDLE');
    expect(codeOf(() => Condition.open({ kind: 'vmloop.condition' }))).toBe('ERR_BAD_HANDLE');
    expect(codeOf(() => Seqlock.open({ kind: 'vmloop.seqlock', words: 4, buffer: new SharedArrayBuffer(8), byteOffset: 0 }))).toBe('ERR_BAD_HANDLE');
  });

  it('NaN and negative timeouts are ERR_INVALID_ARGUMENT', async () => {
    await expect(Event.create().waitAsync(Number.NaN)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(Semaphore.create().acquireAsync(-1)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('atomics / sync primitives (real workers)', () => {
  it('Mutex: 4 workers × 20,000 unsynchronised read-then-write increments under the lock lose none', async () => {
    const m = Mutex.create();
    const s = Shared.create();
    const n = 20_000;
    await runWorkers(worker, Array.from({ length: 4 }, () => ({ op: 'mutex', mutex: m.handle, shared: Shared.handle(s), iterations: n })), {
      what: () => `mutex test stalled at counter ${s.counter.load()} of ${4 * n} (lost wake-up in unlock?)`,
    });
    expect(s.counter.load()).toBe(4 * n);
    expect(m.isLocked).toBe(false);
  });

  it('Event (auto-reset): each set releases exactly one of 4 waiters', async () => {
    const e = Event.create();
    const s = Shared.create();
    const sets = 300;
    const run = runWorkers<number>(worker, Array.from({ length: 4 }, () => ({ op: 'event-waiter', event: e.handle, shared: Shared.handle(s) })), {
      what: () => `event waiters stalled: ${s.counter.load()} releases for ${sets} sets`,
    });
    for (let k = 1; k <= sets; k++) {
      e.set();
      await withWatchdog(
        (async () => {
          while (s.counter.load() < k) await s.counter.waitAsync(s.counter.load(), 100);
        })(),
        20_000,
        () => `set ${k} released nobody (lost wake-up); releases ${s.counter.load()}`,
      );
    }
    s.stop.store(1);
    const perWorker = await run;
    expect(s.counter.load()).toBe(sets);
    expect(perWorker.reduce((a, b) => a + b, 0)).toBe(sets);
  });

  it('Semaphore(2): 4 workers never hold more than 2 permits', async () => {
    const sem = Semaphore.create(2);
    const s = Shared.create();
    await runWorkers(worker, Array.from({ length: 4 }, () => ({ op: 'semaphore', sem: sem.handle, shared: Shared.handle(s), iterations: 20_000 })), {
      what: () => `semaphore workers stalled (lost release?), ${s.inside.load()} inside`,
    });
    expect(s.maxInside.load()).toBeLessThanOrEqual(2);
    expect(s.maxInside.load()).toBeGreaterThanOrEqual(1);
    expect(sem.value).toBe(2);
  });

  it('Condition: 2 producers and 2 consumers through a 16-slot queue account for every item', async () => {
    const m = Mutex.create();
    const notEmpty = Condition.create();
    const notFull = Condition.create();
    const s = Shared.create();
    const items = 10_000;
    const common = { mutex: m.handle, notEmpty: notEmpty.handle, notFull: notFull.handle, shared: Shared.handle(s) };
    const results = await runWorkers<string | { sum: number; n: number }>(
      worker,
      [
        { ...common, op: 'producer', items, base: 0 },
        { ...common, op: 'producer', items, base: items },
        { ...common, op: 'consumer', total: 2 * items },
        { ...common, op: 'consumer', total: 2 * items },
      ],
      { what: () => `condition queue stalled: taken ${s.taken.load()} of ${2 * items}, head ${s.head.load()}, tail ${s.tail.load()}` },
    );
    const consumed = results.slice(2) as { sum: number; n: number }[];
    expect(consumed.reduce((a, r) => a + r.n, 0)).toBe(2 * items);
    const all = 2 * items;
    expect(consumed.reduce((a, r) => a + r.sum, 0)).toBe((all * (all - 1)) / 2);
  });

  it('Seqlock: readers on 2 workers never accept a torn 8-word tuple while a writer writes', async () => {
    const l = Seqlock.create(8);
    const s = Shared.create();
    const [, ...readers] = await runWorkers<string | { reads: number; torn: number }>(
      worker,
      [
        { op: 'seq-writer', lock: l.handle, shared: Shared.handle(s), writes: 200_000 },
        { op: 'seq-reader', lock: l.handle, shared: Shared.handle(s) },
        { op: 'seq-reader', lock: l.handle, shared: Shared.handle(s) },
      ],
      { what: () => `seqlock stalled at sequence ${l.sequence}` },
    );
    for (const r of readers as { reads: number; torn: number }[]) {
      expect(r.torn).toBe(0);
      expect(r.reads).toBeGreaterThan(0);
    }
    expect(l.read((r) => r.get(7))).toBe(200_000);
  });

  it('every primitive works from another worker through its handle', async () => {
    const e = Event.create();
    const sem = Semaphore.create();
    const m = Mutex.create();
    const cond = Condition.create();
    const lock = Seqlock.create(2);
    lock.write((w) => w.set(1, 42));
    const [r] = await runWorkers<number>(worker, [{ op: 'handles', event: e.handle, sem: sem.handle, mutex: m.handle, cond: cond.handle, lock: lock.handle }]);
    expect(r).toBe(42);
    expect(e.isSet()).toBe(true);
    expect(sem.value).toBe(3);
  });
});
