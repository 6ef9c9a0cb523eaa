import { runWorkers, withWatchdog } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import { AtomicsError, canBlock, defineLayout, int32, setMainThreadBlocking, threadKind } from '@vmloop/atomics';

const W = defineLayout('test.futex', { word: int32(), started: int32() });
const worker = new URL('../build/test/workers/futex-worker.js', import.meta.url);

describe('atomics / futex', () => {
  it('the probe says the test runs on the Node main thread, which may not block', () => {
    expect(threadKind()).toBe('node-main');
    expect(canBlock()).toBe(false);
    const m = W.create();
    let err: unknown;
    try {
      m.word.wait(0, 0);
    } catch (e) {
      err = e;
    }
    expect(AtomicsError.isInstance(err)).toBe(true);
    expect((err as AtomicsError).code).toBe('ERR_CANNOT_BLOCK');
    expect((err as AtomicsError).message).toMatch(/waitAsync/);
    expect(() => m.word.spinWait(0, { spins: 1, timeoutMs: 0 })).toThrow(/waitAsync/);
  });

  it('setMainThreadBlocking(true) opts the main thread in', () => {
    setMainThreadBlocking(true);
    try {
      const m = W.create();
      expect(m.word.wait(1, 0)).toBe('not-equal');
      expect(m.word.wait(0, 1)).toBe('timed-out');
      expect(m.word.spinWait(0, { spins: 10, timeoutMs: 0 })).toBe('timed-out');
    } finally {
      setMainThreadBlocking(false);
    }
  });

  it('rejects NaN and negative timeouts', () => {
    const m = W.create();
    expect(() => m.word.waitAsync(0, Number.NaN)).toThrow(AtomicsError);
    expect(() => m.word.waitAsync(0, -1)).toThrow(/timeoutMs/);
  });

  it('waitAsync resolves not-equal synchronously-decided, timed-out, and ok on notify from a worker', async () => {
    const m = W.create();
    expect(await m.word.waitAsync(1)).toBe('not-equal');
    expect(await m.word.waitAsync(0, 5)).toBe('timed-out');
    const woken = m.word.waitAsync(0, 20_000);
    const results = runWorkers<number>(worker, [{ handle: W.handle(m), op: 'store-notify' }], { what: 'waitAsync was not woken by store+notify' });
    expect(await withWatchdog(woken, 20_000, 'main-thread waitAsync never woke')).toBe('ok');
    await results;
  });

  it('a worker sleeping in wait() is woken by notify and sees the stored value', async () => {
    const m = W.create();
    const done = runWorkers<string>(worker, [{ handle: W.handle(m), op: 'wait' }], {
      what: () => `worker never returned from wait (word=${m.word.load()}, started=${m.started.load()})`,
    });
    while (m.started.load() === 0) await new Promise((r) => setTimeout(r, 1));
    m.word.store(1);
    m.word.notify();
    expect(await done).toEqual(['1']);
  });
});
