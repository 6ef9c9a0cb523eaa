import { thrownCode } from '@vmloop/test-kit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventNotifier, NotifierError, NotifierSet } from '@vmloop/event-notifier';

const codeOf = (f: () => unknown): string | undefined => thrownCode(f, NotifierError.isInstance);


const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

describe('event-notifier / basics', () => {
  afterEach(() => vi.restoreAllMocks());

  it('set / testAndClear follow eventfd flag semantics', () => {
    const n = EventNotifier.create();
    expect(n.testAndClear()).toBe(false);
    n.set();
    n.set();
    expect(n.isSet()).toBe(true);
    expect(n.testAndClear()).toBe(true);
    expect(n.testAndClear()).toBe(false);
    expect(n.stats).toMatchObject({ sets: 2, coalesced: 1, skippedWakes: 2, wakeups: 0 });
  });

  it('init(active) starts set', () => {
    expect(EventNotifier.create({ active: true }).testAndClear()).toBe(true);
  });

  it('counter mode accumulates and read() returns the sum once', () => {
    const n = EventNotifier.create({ counter: true });
    expect(n.counter).toBe(true);
    for (let i = 0; i < 5; i++) n.set();
    expect(n.read()).toBe(5);
    expect(n.read()).toBe(0);
    n.set();
    expect(n.testAndClear()).toBe(true);
    expect(n.read()).toBe(0);
  });

  it('fast path: testAndClear on a clear notifier is one load, no read-modify-write', () => {
    const n = EventNotifier.create();
    const load = vi.spyOn(Atomics, 'load');
    const rmw = [vi.spyOn(Atomics, 'exchange'), vi.spyOn(Atomics, 'compareExchange'), vi.spyOn(Atomics, 'add'), vi.spyOn(Atomics, 'store')];
    expect(n.testAndClear()).toBe(false);
    expect(load).toHaveBeenCalledTimes(1);
    for (const s of rmw) expect(s).not.toHaveBeenCalled();
  });

  it('fast path: set() on a set notifier is one load; set() with nobody waiting never calls Atomics.notify', () => {
    const n = EventNotifier.create();
    const notify = vi.spyOn(Atomics, 'notify');
    n.set(); // nobody waits: transition, but no notify
    expect(notify).not.toHaveBeenCalled();
    const load = vi.spyOn(Atomics, 'load');
    const exchange = vi.spyOn(Atomics, 'exchange');
    n.set();
    expect(load).toHaveBeenCalledTimes(1);
    expect(exchange).not.toHaveBeenCalled();
    expect(notify).not.toHaveBeenCalled();
  });

  it('handle round-trips through structuredClone and sees the same memory', () => {
    const a = EventNotifier.create({ counter: true });
    const b = EventNotifier.open(structuredClone(a.handle));
    expect(b.counter).toBe(true);
    b.set();
    b.set();
    expect(a.read()).toBe(2);
  });

  it('waitAsync on the main thread does not block the event loop', async () => {
    const n = EventNotifier.create();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    let resolved = false;
    const p = n.waitAsync(60_000).then((v) => {
      resolved = true;
      return v;
    });
    while (ticks < 5) await tick();
    expect(resolved).toBe(false);
    n.set();
    expect(await p).toBe(true);
    clearInterval(timer);
    expect(n.stats.wakeups).toBe(1);
  });

  it('waitAsync times out with false; an already-set notifier resolves true at once', async () => {
    const n = EventNotifier.create();
    expect(await n.waitAsync(5)).toBe(false);
    expect(await n.waitAsync(0)).toBe(false);
    n.set();
    expect(await n.waitAsync(0)).toBe(true);
  });

  it('close() rejects a pending waitAsync with ERR_NOTIFIER_CLOSED and later calls throw it', async () => {
    const n = EventNotifier.create();
    const p = n.waitAsync();
    n.close();
    await expect(p).rejects.toMatchObject({ code: 'ERR_NOTIFIER_CLOSED' });
    expect(n.isClosed).toBe(true);
    expect(codeOf(() => n.set())).toBe('ERR_NOTIFIER_CLOSED');
    expect(codeOf(() => n.testAndClear())).toBe('ERR_NOTIFIER_CLOSED');
    expect(codeOf(() => n.read())).toBe('ERR_NOTIFIER_CLOSED');
    expect(codeOf(() => n.handle)).toBe('ERR_NOTIFIER_CLOSED');
    await expect(n.waitAsync()).rejects.toMatchObject({ code: 'ERR_NOTIFIER_CLOSED' });
  });

  it('an AbortSignal abandons waitAsync', async () => {
    const n = EventNotifier.create();
    const ac = new AbortController();
    const p = n.waitAsync(undefined, { signal: ac.signal });
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    n.set();
    expect(await n.waitAsync()).toBe(true);
  });
});

describe('event-notifier / errors', () => {
  it('blocking wait on the Node main thread is ERR_CANNOT_BLOCK and names waitAsync', () => {
    const n = EventNotifier.create();
    let err: unknown;
    try {
      n.wait(0);
    } catch (e) {
      err = e;
    }
    expect((err as NotifierError).code).toBe('ERR_CANNOT_BLOCK');
    expect((err as NotifierError).message).toMatch(/EventNotifier\.waitAsync/);
    expect(codeOf(() => NotifierSet.create().wait(0))).toBe('ERR_CANNOT_BLOCK');
  });

  it('malformed handles are ERR_BAD_HANDLE', () => {
    const good = EventNotifier.create().handle;
    const bad: unknown[] = [
      null,
      42,
      {},
      { ...good, kind: 'other' },
      { ...good, version: 2 },
      { ...good, buffer: new ArrayBuffer(256) },
      { ...good, buffer: new SharedArrayBuffer(8) },
      { ...good, buffer: new SharedArrayBuffer(4096) }, // capacity word 0
      { ...good, slot: 1 },
      { ...good, slot: -1 },
      { ...good, slot: 0.5 },
      { ...good, slot: '0' },
    ];
    for (const h of bad) expect(codeOf(() => EventNotifier.open(h))).toBe('ERR_BAD_HANDLE');
  });

  it('bad timeouts and spin budgets are ERR_INVALID_ARGUMENT', async () => {
    const n = EventNotifier.create();
    await expect(n.waitAsync(Number.NaN)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(n.waitAsync(-1)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    const s = NotifierSet.create({ capacity: 2 });
    await expect(s.waitAsync(Number.NaN)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(codeOf(() => NotifierSet.create({ capacity: 0 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => NotifierSet.create({ capacity: 32769 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => NotifierSet.create({ capacity: 1.5 }))).toBe('ERR_INVALID_ARGUMENT');
  });
});
