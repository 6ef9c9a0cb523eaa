/**
 * notifier.roundtrip, notifier.roundtrip-sleep and notifier.vs-postmessage
 * (shared/BENCH.md): a ping-pong between two workers, measured by side 'a'.
 */
import { MessageChannel, type TransferListItem, Worker } from 'node:worker_threads';
import { DEFAULT_SPINS } from '@vmloop/atomics';
import { defineBenches, type SampleContext } from '@vmloop/bench';
import { EventNotifier } from '@vmloop/event-notifier';
import type { PingPongJob } from './workers/pingpong.js';
import { Start } from './workers/start.js';

const entry = new URL('./workers/pingpong.js', import.meta.url);

type Kind = 'notifier' | 'raw' | 'port';

/** Runs one ping-pong of `rounds` round trips; returns round trips per second. */
async function pingPong(kind: Kind, rounds: number, spins = DEFAULT_SPINS): Promise<number> {
  const start = Start.handle(Start.create());
  const jobs: Array<{ job: PingPongJob; transfer: TransferListItem[] }> = [];
  if (kind === 'notifier') {
    const ping = EventNotifier.create().handle;
    const pong = EventNotifier.create().handle;
    for (const side of ['a', 'b'] as const) jobs.push({ job: { kind, side, rounds, spins, ping, pong, start }, transfer: [] });
  } else if (kind === 'raw') {
    const words = new SharedArrayBuffer(8);
    for (const side of ['a', 'b'] as const) jobs.push({ job: { kind, side, rounds, words, start }, transfer: [] });
  } else {
    const { port1, port2 } = new MessageChannel();
    jobs.push({ job: { kind, side: 'a', rounds, port: port1, start }, transfer: [port1] });
    jobs.push({ job: { kind, side: 'b', rounds, port: port2, start }, transfer: [port2] });
  }
  const workers = jobs.map(({ job, transfer }) => new Worker(entry, { workerData: job, transferList: transfer }));
  try {
    const [elapsedNs] = await Promise.all(
      workers.map(
        (w) =>
          new Promise<number>((resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    );
    return rounds / ((elapsedNs as number) / 1e9);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

const size = (ctx: SampleContext, n: number): number => (ctx.quick ? Math.max(100, n / 20) : n);

export default defineBenches([
  {
    id: 'notifier.roundtrip',
    metric: 'round trips per second',
    unit: '1/s',
    better: 'higher',
    peer: `raw Atomics.wait/notify (node ${process.version})`,
    note: `2 workers; ours: EventNotifier set/wait/testAndClear with the default spin budget (${DEFAULT_SPINS} loads) before sleeping; peer: store+notify, wait while zero`,
    ours: (ctx) => pingPong('notifier', size(ctx, 100_000)),
    peerSample: (ctx) => pingPong('raw', size(ctx, 10_000)),
  },
  {
    id: 'notifier.roundtrip-sleep',
    metric: 'round trips per second',
    unit: '1/s',
    better: 'higher',
    peer: `raw Atomics.wait/notify (node ${process.version})`,
    note: '2 workers; ours with spins: 0 (sleeps at once, like the peer): the overhead of the notifier protocol itself',
    ours: (ctx) => pingPong('notifier', size(ctx, 10_000), 0),
    peerSample: (ctx) => pingPong('raw', size(ctx, 10_000)),
  },
  {
    id: 'notifier.vs-postmessage',
    metric: 'round trips per second',
    unit: '1/s',
    better: 'higher',
    peer: `MessagePort ping-pong (node ${process.version})`,
    note: `2 workers; ours: EventNotifier with the default spin budget (${DEFAULT_SPINS} loads); peer: a MessageChannel between the two workers`,
    ours: (ctx) => pingPong('notifier', size(ctx, 100_000)),
    peerSample: (ctx) => pingPong('port', size(ctx, 10_000)),
  },
]);
