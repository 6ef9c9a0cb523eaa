/** (a) The BH mesh, main-thread side: starts the workers, hands them each other's handles, checks the exact counts. */
import type { Worker } from 'node:worker_threads';
import { runWorkers } from '@vmloop/test-kit';
import { type Activity, check, failure, fmtCount, fmtRate, type SummaryRow } from './activity.js';
import { BhMesh, MAX_MESH } from './layout.js';
import type { BhMeshHandles, BhMeshJob, BhMeshResult } from './workers/bh-mesh-worker.js';

const worker = new URL('./workers/bh-mesh-worker.js', import.meta.url);

export function startBhMesh(controlHandle: unknown, o: { workers: number; window: number; timeoutMs: number }): Activity {
  const n = o.workers;
  if (n < 2 || n > MAX_MESH) throw new Error(`--bh-workers must be 2…${MAX_MESH}`);
  const m = BhMesh.create();
  const handles: BhMeshHandles[] = [];
  let started: Worker[] = [];
  const f = failure();
  const pair = (r: number, s: number): number => r * MAX_MESH + s;
  const describe = (): string => {
    const parts: string[] = [];
    for (let r = 0; r < n; r++) {
      for (let s = 0; s < n; s++) {
        if (r === s) continue;
        parts.push(`${s}→${r} sent ${m.sent.load(pair(r, s))} received ${m.received.load(pair(r, s))} pending ${m.pending.load(pair(r, s))}`);
      }
    }
    const acks = Array.from({ length: n }, (_, s) => `ack-${s} sent ${m.acksSent.load(s)} taken ${m.acksTaken.load(s)} pending ${m.ackPending.load(s)}`);
    return `${parts.join('; ')}; ${acks.join('; ')}; done ${m.done.load()}/${n}, quiesced ${m.quiesced.load()}/${n}`;
  };
  const jobs: BhMeshJob[] = Array.from({ length: n }, (_, id) => ({
    id,
    workers: n,
    window: o.window,
    // Half the contexts poll adaptively before sleeping, half sleep at once.
    pollMaxNs: id % 2 === 1 ? 32768 : 0,
    mesh: BhMesh.handle(m),
    control: controlHandle,
  }));
  const run = runWorkers<BhMeshResult>(worker, jobs, {
    timeoutMs: o.timeoutMs,
    what: describe,
    onOnline: (ws) => {
      started = [...ws];
    },
    onMessage: (i, msg) => {
      handles[i] = msg as BhMeshHandles;
      if (handles.filter(Boolean).length === n) for (const w of started) w.postMessage(handles);
    },
  });
  run.catch((e: unknown) => f.reject(new Error(`bh-mesh: ${(e as Error).message}`, { cause: e })));
  let results: BhMeshResult[] = [];
  return {
    name: 'bh-mesh',
    failed: f.promise,
    progress: () => {
      let sum = 0;
      for (let r = 0; r < n; r++) for (let s = 0; s < n; s++) sum += m.received.load(pair(r, s));
      return sum;
    },
    describe,
    async stop() {
      results = await run;
      for (let r = 0; r < n; r++) {
        for (let s = 0; s < n; s++) {
          if (r === s) continue;
          const [sent, got, pend] = [m.sent.load(pair(r, s)), m.received.load(pair(r, s)), m.pending.load(pair(r, s))];
          check(sent === got && pend === 0, () => `bh-mesh: worker ${s} sent ${sent} messages to worker ${r}, which took ${got} (${pend} pending): lost`);
        }
        check(m.acksSent.load(r) === m.acksTaken.load(r) && m.ackPending.load(r) === 0, () => `bh-mesh: ${m.acksSent.load(r)} acks scheduled to worker ${r}, it took ${m.acksTaken.load(r)}`);
      }
      const sent = results.reduce((a, r) => a + r.sent, 0);
      const received = results.reduce((a, r) => a + r.received, 0);
      check(sent === received, () => `bh-mesh: the workers sent ${sent} messages and received ${received}`);
    },
    summary(seconds: number): SummaryRow {
      const sent = results.reduce((a, r) => a + r.sent, 0);
      const acks = results.reduce((a, r) => a + r.acks, 0);
      const waits = results.reduce((a, r) => a + r.stats.blockingWaits, 0);
      const bhs = results.reduce((a, r) => a + r.stats.bhsRun, 0);
      const drains = results.reduce((a, r) => a + r.drains, 0);
      return {
        activity: `bh-mesh (${n} workers)`,
        unit: 'cross-thread BH messages',
        count: sent,
        detail: `${fmtRate(sent, seconds)}; ${fmtCount(acks)} acks; ${fmtCount(bhs)} BH runs; ${fmtCount(waits)} blocking waits; ${fmtCount(drains)} full drains; sent = received per pair`,
      };
    },
  };
}
