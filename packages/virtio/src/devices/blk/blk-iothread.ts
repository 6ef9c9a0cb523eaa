/**
 * The IOThread module that hosts virtio-blk dataplanes (QEMU: devices given
 * `iothread=` / `iothread-vq-mapping`). Start an IOThread with it through
 * `BlkIothread.start()`, which also opens the command channel: a
 * MessagePort that a bottom half drains with `receiveMessageOnPort` (the
 * IOThread's loop never returns to its event loop), answering on the same
 * port. Not meant to be imported.
 */
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import type { AioContext, AioTracePoint, BottomHalf } from '@vmloop/aio';
import { threadCpuTimeNs } from '@vmloop/atomics';
import { BlkHost, type BlkDataplaneSpec, type BlkHostOptions } from './blk-host.js';
import type { BlkTracePoint } from './blk-dataplane.js';
import type { DeviceStartConfig } from '../../pci/virtio-device.js';

/** @internal One trace record: µs since the epoch, point, two numbers (or a detail). */
export type TraceRecord = readonly [ts: number, point: string, a: number | string | boolean | undefined, b?: number];

/** @internal Owner → IOThread. */
export type BlkCommand =
  | { readonly id: number; readonly op: 'init'; readonly options: Omit<BlkHostOptions, 'tracer'>; readonly trace: boolean }
  | { readonly id: number; readonly op: 'create'; readonly spec: BlkDataplaneSpec }
  | { readonly id: number; readonly op: 'start'; readonly dp: number; readonly config: DeviceStartConfig; readonly resume: boolean }
  | { readonly id: number; readonly op: 'stop'; readonly dp: number }
  | { readonly id: number; readonly op: 'stats'; readonly dp: number }
  | { readonly id: number; readonly op: 'trace' }
  | { readonly id: number; readonly op: 'cpu' };

/** @internal IOThread → owner. */
export type BlkReply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly error: { name: string; message: string; code?: string } };

let host: BlkHost | undefined;
let mailbox: BottomHalf | undefined;
let trace: TraceRecord[] | undefined;

const originUs = performance.timeOrigin * 1e3;
const nowUs = (): number => originUs + performance.now() * 1e3;

function serve(ctx: AioContext, port: MessagePort, m: BlkCommand): void {
  const reply = (value: unknown): void => port.postMessage({ id: m.id, ok: true, value } satisfies BlkReply);
  switch (m.op) {
    case 'init':
      if (m.trace) {
        trace = [];
        const t = trace;
        ctx.setTracer((point: AioTracePoint, timeNs: number, detail?: string | number | boolean) => t.push([originUs + timeNs / 1e3, point, detail]));
      }
      host = new BlkHost(ctx, {
        ...m.options,
        ...(trace === undefined ? {} : { tracer: (point: BlkTracePoint, queue: number, value: number) => trace!.push([nowUs(), point, queue, value]) }),
      });
      reply(null);
      return;
    case 'create': {
      const h = host!;
      const dp = h.create(m.spec);
      reply({ dp, notifiers: h.get(dp).notifierHandles });
      return;
    }
    case 'start':
      host!.get(m.dp).start(m.config, m.resume);
      reply(null);
      return;
    case 'stop':
      host!.get(m.dp).stop(() => reply(null));
      return;
    case 'stats':
      reply({ dataplane: host!.get(m.dp).stats, pool: host!.pool.stats });
      return;
    case 'trace':
      reply(trace?.splice(0) ?? []);
      return;
    case 'cpu':
      reply(threadCpuTimeNs() ?? null);
      return;
  }
}

/** IOThread setup: `data.port` is the command channel (moved with transferList). */
export default function setup(ctx: AioContext, data: { port: MessagePort }): unknown {
  const port = data.port;
  mailbox = ctx.bh(
    () => {
      for (let msg = receiveMessageOnPort(port); msg !== undefined; msg = receiveMessageOnPort(port)) {
        const m = msg.message as BlkCommand;
        try {
          serve(ctx, port, m);
        } catch (e) {
          const err = e as Error & { code?: unknown };
          port.postMessage({ id: m.id, ok: false, error: { name: err.name, message: err.message, ...(typeof err.code === 'string' ? { code: err.code } : {}) } } satisfies BlkReply);
        }
      }
    },
    { name: 'virtio-blk-mailbox' },
  );
  return { mailbox: mailbox.handle };
}

/** IOThread teardown: drain and free every dataplane, close the pool. */
export async function teardown(): Promise<void> {
  await host?.close();
  mailbox?.delete();
}
