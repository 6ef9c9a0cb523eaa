import { existsSync } from 'node:fs';
import { MessageChannel } from 'node:worker_threads';
import { withWatchdog } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import { AioError, IOThread, RemoteBottomHalf, type BottomHalfHandle } from '@vmloop/aio';
import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';
import { DeviceState } from './workers/device-module.js';

const device = new URL('../build/test/workers/device-module.js', import.meta.url);

async function until(cell: { load(): number; waitAsync(v: number, t?: number): Promise<string> }, value: number, what: string): Promise<void> {
  await withWatchdog(
    (async () => {
      for (let v = cell.load(); v < value; v = cell.load()) await cell.waitAsync(v, 1000);
    })(),
    20_000,
    what,
  );
}

describe('aio / iothread', () => {
  it('moves MessagePorts in data with transferList; a BH drains the port on the iothread', async () => {
    const st = DeviceState.create();
    const { port1, port2 } = new MessageChannel();
    const io = await IOThread.start({ module: device, data: { state: DeviceState.handle(st), port: port2 }, transferList: [port2] });
    const mailbox = RemoteBottomHalf.open((io.exports as { mailbox: BottomHalfHandle }).mailbox);
    const echoes: unknown[] = [];
    const got = new Promise<void>((resolve) =>
      port1.on('message', (m: unknown) => {
        echoes.push(m);
        if (echoes.length === 3) resolve();
      }),
    );
    for (const x of ['a', { b: 2 }, [3]]) port1.postMessage(x);
    mailbox.schedule();
    await withWatchdog(got, 20_000, () => `the iothread echoed ${echoes.length} of 3 messages`);
    expect(echoes).toEqual([{ echo: 'a' }, { echo: { b: 2 } }, { echo: [3] }]);
    port1.close();
    await io.stop();
  });

  it('starts, loads a module, runs its handlers and BHs, answers query, stops and joins', async () => {
    const st = DeviceState.create();
    const io = await IOThread.start({ name: 'io0', module: device, data: { state: DeviceState.handle(st) } });
    const ex = io.exports as { doorbell: EventNotifierHandle; bh: BottomHalfHandle };
    const info = await io.query();
    expect(info.name).toBe('io0');
    expect(info.threadId).toBe(io.threadId);
    // The kernel's TID of the worker: a task of this process, not the main thread's.
    expect(info.osThreadId).not.toBeNull();
    expect(info.osThreadId).not.toBe(process.pid);
    expect(existsSync(`/proc/${process.pid}/task/${info.osThreadId}`)).toBe(true);
    expect(io.osThreadId).toBe(info.osThreadId); // known from the start, without a query
    expect(info.poll).toEqual({ maxNs: 32768, grow: 0, shrink: 0 });
    const doorbell = EventNotifier.open(ex.doorbell);
    for (let i = 1; i <= 100; i++) {
      doorbell.set();
      await until(st.reads, i, `doorbell ${i} was never handled on the iothread`);
    }
    const bh = RemoteBottomHalf.open(ex.bh);
    for (let i = 1; i <= 100; i++) {
      bh.schedule();
      await until(st.bhRuns, i, `device-bh run ${i} never happened on the iothread`);
    }
    const after = await io.query();
    expect(after.stats.bhsRun).toBeGreaterThanOrEqual(100);
    expect(after.stats.handlersDispatched).toBeGreaterThanOrEqual(100);
    const final = await io.stop();
    expect(final.polls).toBeGreaterThan(0);
    expect(await io.stop()).toBe(final); // idempotent
    expect(() => bh.schedule()).toThrow(AioError); // the context is gone
  });

  it('poll parameters are passed to the thread', async () => {
    const st = DeviceState.create();
    const io = await IOThread.start({ name: 'io1', poll: { maxNs: 0 }, module: device, data: { state: DeviceState.handle(st) } });
    expect((await io.query()).poll).toEqual({ maxNs: 0, grow: 0, shrink: 0 });
    await io.stop();
  });

  it('a module whose setup throws: start rejects with ERR_IOTHREAD', async () => {
    const st = DeviceState.create();
    await expect(IOThread.start({ module: device, data: { state: DeviceState.handle(st), fail: true } })).rejects.toMatchObject({
      code: 'ERR_IOTHREAD',
      message: expect.stringContaining('device setup failed'),
    });
  });

  it('a module that leaks a BH: stop rejects with ERR_IOTHREAD naming it', async () => {
    const st = DeviceState.create();
    const io = await IOThread.start({ module: device, data: { state: DeviceState.handle(st), leak: true } });
    await expect(io.stop()).rejects.toMatchObject({ code: 'ERR_IOTHREAD', message: expect.stringContaining('"device-bh"') });
  });

  it('a thread without a module just runs its loop', async () => {
    const io = await IOThread.start();
    expect((await io.query()).name).toBe('iothread');
    io.context.notify();
    await io.stop();
  });
});
