/** Worker side of the aio benchmarks: BH ping-pong sides, a producer and a consumer. */
import { parentPort, workerData } from 'node:worker_threads';
import { AioContext, type BottomHalfHandle, RemoteBottomHalf } from '@vmloop/aio';
import { BenchState } from './shared.js';

export type AioBenchJob =
  | { op: 'pong'; side: 0 | 1; rounds: number; pollMaxNs: number; state: unknown }
  | { op: 'consumer'; runs: number; notifyAlways: boolean; state: unknown }
  | { op: 'producer'; bhs: BottomHalfHandle[]; runs: number; state: unknown };

const job = workerData as AioBenchJob;
const port = parentPort!;
const st = BenchState.open(job.state);
const receive = <T>(): Promise<T> => new Promise((r) => port.once('message', r));

function meet(): void {
  st.ready.add(1);
  while (st.ready.load() < 2) {
    /* both sides are starting */
  }
}

async function main(): Promise<void> {
  switch (job.op) {
    case 'pong': {
      const ctx = AioContext.create({ poll: { maxNs: job.pollMaxNs } });
      let peer: RemoteBottomHalf | undefined;
      let runs = 0;
      const bh = ctx.bh(() => {
        runs++;
        if (job.side === 1 || runs < job.rounds) peer!.schedule();
      });
      port.postMessage({ bh: bh.handle });
      peer = RemoteBottomHalf.open(await receive<BottomHalfHandle>());
      meet();
      const t0 = process.hrtime.bigint();
      if (job.side === 0) peer.schedule();
      ctx.waitWhile(() => runs < job.rounds);
      const ns = Number(process.hrtime.bigint() - t0);
      port.postMessage({ ns, window: ctx.stats.pollWindowNs });
      bh.delete();
      ctx.poll(false);
      ctx.destroy();
      break;
    }
    case 'consumer': {
      const ctx = AioContext.create({ notifyAlways: job.notifyAlways });
      let runs = 0;
      const bhs = Array.from({ length: 64 }, (_, j) =>
        ctx.bh(() => {
          st.inflight.store(j, 0);
          runs++;
        }),
      );
      port.postMessage({ bhs: bhs.map((b) => b.handle) });
      meet();
      const t0 = process.hrtime.bigint();
      ctx.waitWhile(() => runs < job.runs);
      const ns = Number(process.hrtime.bigint() - t0);
      st.runs.store(runs);
      const stats = ctx.stats;
      for (const b of bhs) b.delete();
      ctx.poll(false);
      ctx.destroy();
      port.postMessage({ ns, stats });
      break;
    }
    case 'producer': {
      // Keeps every one of the 64 BHs scheduled: reuses BH j as soon as it ran.
      const bhs = job.bhs.map((h) => RemoteBottomHalf.open(h));
      meet();
      let sent = 0;
      let j = 0;
      while (sent < job.runs) {
        if (st.inflight.compareExchange(j, 0, 1) === 0) {
          bhs[j]!.schedule();
          sent++;
        }
        j = (j + 1) & 63;
      }
      port.postMessage({ sent });
      break;
    }
  }
}

main().catch((e: unknown) => {
  throw e;
});
