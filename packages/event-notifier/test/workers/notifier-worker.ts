/**
 * Worker side of the multi-worker notifier tests. Each op reports progress
 * in shared memory (`progress` cells) so a watchdog can say what was lost.
 */
import { parentPort } from 'node:worker_threads';
import { EventNotifier, NotifierSet, type EventNotifierHandle } from '@vmloop/event-notifier';
import { workerMain } from '@vmloop/test-kit/worker';

import { Progress } from './progress.js';

export type Job =
  | { op: 'ping'; ping: EventNotifierHandle; pong: EventNotifierHandle; rounds: number; spins: number; progress: unknown; id: number }
  | { op: 'pong'; ping: EventNotifierHandle; pong: EventNotifierHandle; rounds: number; spins: number; progress: unknown; id: number }
  | { op: 'produce'; target: EventNotifierHandle; sets: number; progress: unknown; id: number }
  | { op: 'consume-counter'; target: EventNotifierHandle; total: number; progress: unknown; id: number }
  | { op: 'set-owner'; count: number; total: number; progress: unknown; id: number }
  | { op: 'setter'; targets: EventNotifierHandle[]; setsEach: number; seed: number; progress: unknown; id: number }
  | { op: 'timeout'; target: EventNotifierHandle; timeoutMs: number }
  | { op: 'main-thread-wait'; target: EventNotifierHandle };

workerMain(async (job: Job) => {
  switch (job.op) {
    case 'ping':
    case 'pong': {
      const ping = EventNotifier.open(job.ping);
      const pong = EventNotifier.open(job.pong);
      const p = Progress.open(job.progress).progress;
      const [mine, theirs] = job.op === 'ping' ? [pong, ping] : [ping, pong];
      for (let i = 0; i < job.rounds; i++) {
        if (job.op === 'ping') theirs.set();
        while (!mine.testAndClear()) mine.wait(undefined, { spins: job.spins });
        if (job.op === 'pong') theirs.set();
        p.store(job.id, i + 1);
      }
      return { stats: job.op === 'ping' ? ping.stats : pong.stats };
    }
    case 'produce': {
      const n = EventNotifier.open(job.target);
      const p = Progress.open(job.progress).progress;
      for (let i = 0; i < job.sets; i++) {
        n.set();
        if ((i & 1023) === 0) p.store(job.id, i);
      }
      p.store(job.id, job.sets);
      return n.stats;
    }
    case 'consume-counter': {
      const n = EventNotifier.open(job.target);
      const p = Progress.open(job.progress).progress;
      let sum = 0;
      let reads = 0;
      while (sum < job.total) {
        n.wait(undefined, { spins: 0 });
        sum += n.read();
        reads++;
        p.store(job.id, sum);
      }
      return { sum, reads, stats: n.stats };
    }
    case 'set-owner': {
      // Owns a NotifierSet of counter notifiers; hands out their handles,
      // then accounts for every set until `total` arrived.
      const set = NotifierSet.create({ capacity: job.count });
      const ns = Array.from({ length: job.count }, () => set.createNotifier({ counter: true }));
      for (const n of ns) set.add(n);
      const p = Progress.open(job.progress).progress;
      parentPort?.postMessage({ handles: ns.map((n) => n.handle) });
      const perNotifier = new Array<number>(job.count).fill(0);
      let sum = 0;
      let wakeRounds = 0;
      while (sum < job.total) {
        const ready = set.wait(undefined, { spins: 0 });
        wakeRounds++;
        for (const n of ready) {
          const k = n.read();
          perNotifier[n.slot] = (perNotifier[n.slot] ?? 0) + k;
          sum += k;
        }
        p.store(job.id, sum);
      }
      return { sum, perNotifier, wakeRounds, stats: set.stats };
    }
    case 'setter': {
      const ns = job.targets.map((h) => EventNotifier.open(h));
      const p = Progress.open(job.progress).progress;
      // Deterministic shuffle per worker: sets land on all notifiers interleaved.
      let x = job.seed >>> 0 || 1;
      let done = 0;
      const left = new Array<number>(ns.length).fill(job.setsEach);
      let live = ns.length;
      while (live > 0) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        const i = (x >>> 0) % ns.length;
        if (left[i] === 0) {
          // Walk to the next notifier with sets left, so the loop ends.
          let j = i;
          while (left[j] === 0) j = (j + 1) % ns.length;
          ns[j]!.set();
          if (--left[j]! === 0) live--;
        } else {
          ns[i]!.set();
          if (--left[i]! === 0) live--;
        }
        if ((++done & 255) === 0) p.store(job.id, done);
      }
      p.store(job.id, done);
      return done;
    }
    case 'timeout': {
      const n = EventNotifier.open(job.target);
      const t0 = performance.now();
      const r = n.wait(job.timeoutMs, { spins: 0 });
      return { result: r, elapsedMs: performance.now() - t0 };
    }
    case 'main-thread-wait': {
      // Not a main thread, but exercises the same API on a worker for contrast.
      return EventNotifier.open(job.target).wait(0);
    }
  }
});
