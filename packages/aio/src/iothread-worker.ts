/**
 * The IOThread's worker entry (QEMU iothread_run): load the module, then
 * `while (running) aio_poll(ctx, true)`. Not exported; started by IOThread.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { AioContext } from './aio-context.js';
import { osThreadId } from '@vmloop/atomics';
import type { IOThreadMessage } from './iothread.js';
import type { PollParams } from './poll-params.js';
import { Clocks, type ClocksHandle } from '@vmloop/timers';

interface Data {
  name: string;
  poll: PollParams;
  module: string | undefined;
  data: unknown;
  maxBottomHalves: number | undefined;
  maxNotifiers: number | undefined;
  clocks: ClocksHandle | undefined;
}

interface UserModule {
  default?: (ctx: AioContext, data: unknown) => unknown;
  teardown?: (ctx: AioContext) => unknown;
}

const port = parentPort!;
const post = (m: IOThreadMessage): void => port.postMessage(m);

function fail(e: unknown): void {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = (err as { code?: unknown }).code;
  post({
    type: 'failed',
    error: { name: err.name, message: err.message, ...(err.stack ? { stack: err.stack } : {}), ...(typeof code === 'string' ? { code } : {}) },
  });
}

async function main(): Promise<void> {
  const d = workerData as Data;
  const ctx = AioContext.create({
    name: d.name,
    poll: d.poll,
    ...(d.maxBottomHalves === undefined ? {} : { maxBottomHalves: d.maxBottomHalves }),
    ...(d.maxNotifiers === undefined ? {} : { maxNotifiers: d.maxNotifiers }),
    ...(d.clocks === undefined ? {} : { clocks: Clocks.open(d.clocks) }),
  });
  let running = true;
  const stop = ctx.bh(() => {
    running = false;
  }, { name: 'iothread-stop' });
  const tid = osThreadId() ?? null;
  const query = ctx.bh(() => {
    post({ type: 'query', info: { name: d.name, threadId, osThreadId: tid, poll: ctx.pollParameters, stats: ctx.stats } });
  }, { name: 'iothread-query' });
  let mod: UserModule = {};
  let exports: unknown;
  if (d.module !== undefined) {
    mod = (await import(d.module)) as UserModule;
    exports = await mod.default?.(ctx, d.data);
  }
  post({ type: 'ready', ctx: ctx.handle, stop: stop.handle, query: query.handle, exports, osThreadId: tid });
  while (running) ctx.poll(true);
  await mod.teardown?.(ctx);
  stop.delete();
  query.delete();
  ctx.poll(false);
  const stats = ctx.stats;
  ctx.destroy();
  post({ type: 'stopped', stats });
}

main().catch(fail);
