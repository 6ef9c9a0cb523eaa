import { thrownCode } from '@vmloop/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { AioContext, AioContextRemote, AioError, RemoteBottomHalf } from '@vmloop/aio';

const codeOf = (f: () => unknown): string | undefined => thrownCode(f, AioError.isInstance);

const contexts: AioContext[] = [];
function make(options?: Parameters<typeof AioContext.create>[0]): AioContext {
  const ctx = AioContext.create(options);
  contexts.push(ctx);
  return ctx;
}
afterEach(() => {
  contexts.length = 0;
});


describe('aio / bh', () => {
  it('schedule: runs once on the next poll; poll reports progress only then', () => {
    const ctx = make();
    let runs = 0;
    const bh = ctx.bh(() => runs++, { name: 'one' });
    expect(ctx.poll(false)).toBe(false);
    bh.schedule();
    bh.schedule();
    expect(bh.isScheduled).toBe(true);
    expect(ctx.poll(false)).toBe(true);
    expect(runs).toBe(1);
    expect(bh.isScheduled).toBe(false);
    expect(ctx.poll(false)).toBe(false);
    expect(runs).toBe(1);
    bh.delete();
    ctx.poll(false);
    ctx.destroy();
  });

  it('a BH that reschedules itself runs again only on the next poll', () => {
    const ctx = make();
    let runs = 0;
    const bh = ctx.bh(() => {
      runs++;
      bh.schedule();
    });
    bh.schedule();
    for (let i = 1; i <= 5; i++) {
      expect(ctx.poll(false)).toBe(true);
      expect(runs).toBe(i);
    }
    bh.delete();
    expect(ctx.poll(false)).toBe(false);
    expect(runs).toBe(5);
  });

  it('cancel: a cancelled BH does not run and is not progress', () => {
    const ctx = make();
    let runs = 0;
    const bh = ctx.bh(() => runs++);
    bh.schedule();
    bh.cancel();
    expect(ctx.poll(false)).toBe(false);
    expect(runs).toBe(0);
    bh.schedule();
    expect(ctx.poll(false)).toBe(true);
    expect(runs).toBe(1);
  });

  it('delete: a deleted BH never runs, its slot is reused, stale handles fail', () => {
    const ctx = make({ maxBottomHalves: 2 }); // one slot is the kick BH
    let runs = 0;
    const bh = ctx.bh(() => runs++, { name: 'gone' });
    const handle = bh.handle;
    bh.schedule();
    bh.delete();
    expect(ctx.poll(false)).toBe(false);
    expect(runs).toBe(0);
    expect(codeOf(() => bh.schedule())).toBe('ERR_BH_DELETED');
    const again = ctx.bh(() => runs++, { name: 'new' });
    expect(ctx.stats.bhsLive).toBe(2);
    expect(codeOf(() => RemoteBottomHalf.open(handle).schedule())).toBe('ERR_BH_DELETED');
    RemoteBottomHalf.open(handle).cancel(); // stale cancel is a no-op
    again.schedule();
    expect(ctx.poll(false)).toBe(true);
    expect(runs).toBe(1);
  });

  it('a remote schedule racing with delete never re-pushes the deleted BH', () => {
    const ctx = make();
    const bh = ctx.bh(() => {}, { name: 'racy' });
    const remote = RemoteBottomHalf.open(bh.handle);
    bh.delete(); // DELETED|PENDING set, not yet dequeued
    expect(codeOf(() => remote.schedule())).toBe('ERR_BH_DELETED');
    ctx.poll(false);
    expect(ctx.stats.bhsLive).toBe(1);
  });

  it('scheduleOneshot runs once and frees its slot', () => {
    const ctx = make();
    let runs = 0;
    ctx.scheduleOneshot(() => runs++, { name: 'once' });
    expect(ctx.stats.bhsLive).toBe(2);
    expect(ctx.poll(false)).toBe(true);
    expect(ctx.poll(false)).toBe(false);
    expect(runs).toBe(1);
    expect(ctx.stats.bhsLive).toBe(1);
    ctx.destroy();
  });

  it('scheduleIdle on a scheduled BH makes it idle, as in QEMU (flags are or-ed)', () => {
    const ctx = make();
    let runs = 0;
    const bh = ctx.bh(() => runs++);
    bh.schedule();
    bh.scheduleIdle();
    expect(ctx.poll(false)).toBe(false);
    expect(runs).toBe(1);
  });

  it('idle BHs run but are not progress', () => {
    const ctx = make();
    let runs = 0;
    const bh = ctx.bh(() => runs++);
    bh.scheduleIdle();
    expect(ctx.poll(false)).toBe(false);
    expect(runs).toBe(1);
  });

  it('runs BHs in the order they were scheduled within a slice', () => {
    const ctx = make();
    const order: string[] = [];
    const bhs = ['a', 'b', 'c', 'd'].map((n) => ctx.bh(() => order.push(n), { name: n }));
    for (const i of [2, 0, 3, 1]) bhs[i]!.schedule();
    ctx.poll(false);
    expect(order).toEqual(['c', 'a', 'd', 'b']);
  });

  it('a nested poll from a callback completes the slice the outer poll took', () => {
    const ctx = make();
    const order: string[] = [];
    const b = ctx.bh(() => order.push('b'), { name: 'b' });
    const c = ctx.bh(() => order.push('c'), { name: 'c' });
    const a = ctx.bh(
      () => {
        order.push('a');
        expect(ctx.poll(false)).toBe(true); // runs b and c, taken by the outer poll
        order.push('a-end');
      },
      { name: 'a' },
    );
    a.schedule();
    b.schedule();
    c.schedule();
    expect(ctx.poll(false)).toBe(true);
    expect(order).toEqual(['a', 'b', 'c', 'a-end']);
    expect(ctx.poll(false)).toBe(false);
  });

  it('a callback that throws surfaces the error and leaves the context consistent', () => {
    const ctx = make();
    const ran: string[] = [];
    const boom = ctx.bh(
      () => {
        ran.push('boom');
        throw new Error('callback failed');
      },
      { name: 'boom' },
    );
    const after = ctx.bh(() => ran.push('after'), { name: 'after' });
    boom.schedule();
    after.schedule();
    expect(() => ctx.poll(false)).toThrow('callback failed');
    expect(boom.isScheduled).toBe(false);
    // The rest of the slice runs on the next poll; the thrower can be rescheduled.
    expect(ctx.poll(false)).toBe(true);
    expect(ran).toEqual(['boom', 'after']);
    boom.schedule();
    expect(() => ctx.poll(false)).toThrow('callback failed');
    boom.delete();
    after.delete();
    ctx.poll(false);
    ctx.destroy();
  });

  it('a oneshot that throws still frees its slot', () => {
    const ctx = make();
    ctx.scheduleOneshot(() => {
      throw new Error('x');
    });
    expect(() => ctx.poll(false)).toThrow('x');
    expect(ctx.stats.bhsLive).toBe(1);
  });
});

describe('aio / notify', () => {
  it('a wake-up caused only by notify() is not progress', () => {
    const ctx = make();
    ctx.notify();
    expect(ctx.poll(false)).toBe(false);
  });

  it('notify with nobody polling skips the notifier set; `notified` is accepted by poll', () => {
    const ctx = make();
    const before = ctx.stats;
    ctx.notify();
    expect(ctx.stats.notifiesSkipped).toBe(before.notifiesSkipped + 1);
    expect(ctx.stats.notifierSets).toBe(before.notifierSets);
    ctx.poll(false);
  });

  it('remote notify and BH schedule go through the handle', () => {
    const ctx = make();
    let runs = 0;
    const bh = ctx.bh(() => runs++, { name: 'exported' });
    const remote = AioContext.open(structuredClone(ctx.handle));
    expect(remote).toBeInstanceOf(AioContextRemote);
    remote.notify();
    const rbh = RemoteBottomHalf.open(structuredClone(bh.handle));
    rbh.schedule();
    expect(ctx.poll(false)).toBe(true);
    expect(runs).toBe(1);
    rbh.scheduleIdle();
    expect(ctx.poll(false)).toBe(false); // ran, but idle BHs are not progress
    expect(runs).toBe(2);
    rbh.schedule();
    rbh.cancel();
    expect(ctx.poll(false)).toBe(false);
    expect(runs).toBe(2);
    expect(rbh.stats.bhSchedules).toBe(3);
  });
});

describe('aio / handlers', () => {
  it('onRead runs when the notifier is set, is progress, and may remove itself', () => {
    const ctx = make();
    const n = ctx.createNotifier();
    let reads = 0;
    ctx.setNotifierHandler(n, {
      onRead: (x) => {
        x.testAndClear();
        reads++;
        if (reads === 2) ctx.setNotifierHandler(n, null);
      },
    });
    expect(ctx.poll(false)).toBe(false);
    n.set();
    expect(ctx.poll(false)).toBe(true);
    n.set();
    expect(ctx.poll(false)).toBe(true);
    n.set();
    expect(ctx.poll(false)).toBe(false);
    expect(reads).toBe(2);
  });

  it('a handler added from inside a callback runs from the next poll on', () => {
    const ctx = make();
    const n = ctx.createNotifier({ active: true });
    let reads = 0;
    const bh = ctx.bh(() =>
      ctx.setNotifierHandler(n, {
        onRead: (x) => {
          x.testAndClear();
          reads++;
        },
      }),
    );
    bh.schedule();
    ctx.poll(false);
    ctx.poll(false);
    expect(reads).toBe(1);
  });

  it('a handler removed by an earlier callback in the same poll is not called', () => {
    const ctx = make();
    const a = ctx.createNotifier({ active: true });
    const b = ctx.createNotifier({ active: true });
    const calls: string[] = [];
    ctx.setNotifierHandler(a, {
      onRead: (x) => {
        x.testAndClear();
        calls.push('a');
        ctx.setNotifierHandler(b, null);
      },
    });
    ctx.setNotifierHandler(b, { onRead: () => calls.push('b') });
    ctx.poll(false);
    expect(calls).toEqual(['a']);
  });

  it('errors: foreign notifier, poll(true) on the main thread, use after destroy, leaks, capacity, bad handles', () => {
    const ctx = make({ maxBottomHalves: 3 });
    const other = AioContext.create();
    expect(codeOf(() => ctx.setNotifierHandler(other.createNotifier(), { onRead: () => {} }))).toBe('ERR_FOREIGN_NOTIFIER');
    expect(codeOf(() => ctx.poll(true))).toBe('ERR_CANNOT_BLOCK');
    expect(codeOf(() => ctx.waitWhile(() => true))).toBe('ERR_CANNOT_BLOCK');
    const kept = ctx.bh(() => {}, { name: 'kept-bh' });
    ctx.bh(() => {}, { name: 'other-bh' });
    expect(codeOf(() => ctx.bh(() => {}, { name: 'third' }))).toBe('ERR_TOO_MANY_BHS');
    let err: unknown;
    try {
      ctx.destroy();
    } catch (e) {
      err = e;
    }
    expect((err as AioError).code).toBe('ERR_BH_LEAKED');
    expect((err as AioError).message).toContain('"kept-bh"');
    expect((err as AioError).message).toContain('"other-bh"');
    expect(ctx.isDestroyed).toBe(false);
    const handle = kept.handle;
    const ctxHandle = ctx.handle;
    kept.delete();
    expect(codeOf(() => ctx.destroy())).toBe('ERR_BH_LEAKED'); // "other-bh" is still alive
    expect(codeOf(() => AioContext.open({ kind: 'vmloop.aio-context' }))).toBe('ERR_BAD_HANDLE');
    expect(codeOf(() => AioContext.open({ ...ctxHandle, buffer: new SharedArrayBuffer(8) }))).toBe('ERR_BAD_HANDLE');
    expect(codeOf(() => RemoteBottomHalf.open({ ...handle, slot: 99 }))).toBe('ERR_BAD_HANDLE');
    expect(codeOf(() => RemoteBottomHalf.open(null))).toBe('ERR_BAD_HANDLE');
    expect(codeOf(() => AioContext.create({ maxBottomHalves: 0 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => AioContext.create({ poll: { maxNs: -1 } }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => ctx.bh(undefined as unknown as () => void))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('destroy: after every BH is deleted it succeeds; then everything fails with ERR_CONTEXT_DESTROYED', () => {
    const ctx = make();
    const bh = ctx.bh(() => {});
    const remote = AioContext.open(ctx.handle);
    const rbh = RemoteBottomHalf.open(bh.handle);
    bh.delete();
    ctx.destroy();
    expect(ctx.isDestroyed).toBe(true);
    expect(codeOf(() => ctx.poll(false))).toBe('ERR_CONTEXT_DESTROYED');
    expect(codeOf(() => ctx.notify())).toBe('ERR_CONTEXT_DESTROYED');
    expect(codeOf(() => ctx.bh(() => {}))).toBe('ERR_CONTEXT_DESTROYED');
    expect(codeOf(() => remote.notify())).toBe('ERR_CONTEXT_DESTROYED');
    expect(codeOf(() => remote.kick())).toBe('ERR_CONTEXT_DESTROYED');
    expect(codeOf(() => rbh.schedule())).toBe('ERR_CONTEXT_DESTROYED');
    ctx.destroy(); // idempotent
  });

  it('trace points fire when a tracer is installed and cost nothing otherwise', () => {
    const ctx = make();
    const seen: string[] = [];
    const bh = ctx.bh(() => {}, { name: 'traced' });
    ctx.setTracer((point, _t, detail) => seen.push(detail === undefined ? point : `${point}:${String(detail)}`));
    bh.schedule();
    ctx.poll(false);
    ctx.setTracer(undefined);
    bh.schedule();
    ctx.poll(false);
    expect(seen).toEqual(['poll-begin:false', 'bh-run:traced', 'poll-end:true']);
  });
});
