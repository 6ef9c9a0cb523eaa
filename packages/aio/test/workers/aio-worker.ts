import { parentPort } from 'node:worker_threads';
import { AioContext, type BottomHalfHandle, RemoteBottomHalf, type AioContextHandle } from '@vmloop/aio';
import { workerMain } from '@vmloop/test-kit/worker';
import { EventNotifier } from '@vmloop/event-notifier';
import { Kick, Mesh, Polled, Pong, Seed, Suppress } from './shared.js';

export type AioJob =
  | { op: 'mesh'; id: number; workers: number; perPeer: number; mesh: unknown }
  | { op: 'seed-home'; state: unknown; runs: number; nestEvery: number }
  | { op: 'seed-completer'; state: unknown; bhs: BottomHalfHandle[]; runs: number }
  | { op: 'seed-perturb'; state: unknown; ctx: AioContextHandle }
  | { op: 'kick-home'; state: unknown; rounds: number }
  | { op: 'kick-kicker'; state: unknown; ctx: AioContextHandle; rounds: number }
  | { op: 'polled'; state: unknown }
  | { op: 'suppressed-producer'; state: unknown; notifier: unknown; rounds: number; maxDelayUs: number }
  | { op: 'pong'; side: number; rounds: number; state: unknown; pollMaxNs: number };

/** Receives one message from the parent (handles of the peers). */
function receive<T>(): Promise<T> {
  return new Promise((resolve) => parentPort!.once('message', resolve));
}

workerMain(async (job: AioJob) => {
  switch (job.op) {
    case 'mesh': {
      // Every worker owns a context with one exported "inbox" BH, and sends
      // perPeer requests to every other worker through the peers' BHs.
      const m = Mesh.open(job.mesh);
      const ctx = AioContext.create({ name: `mesh-${job.id}` });
      const inbox = ctx.bh(
        () => {
          m.received.add(job.id, m.pending.exchange(job.id, 0));
        },
        { name: `inbox-${job.id}` },
      );
      parentPort!.postMessage({ inbox: inbox.handle });
      const peers = (await receive<BottomHalfHandle[]>()).map((h) => RemoteBottomHalf.open(h));
      const expected = (job.workers - 1) * job.perPeer;
      for (let i = 0; i < job.perPeer; i++) {
        for (let p = 0; p < job.workers; p++) {
          if (p === job.id) continue;
          m.pending.add(p, 1);
          peers[p]!.schedule();
        }
        m.sent.store(job.id, (i + 1) * (job.workers - 1));
        if ((i & 15) === 0) ctx.poll(false);
      }
      ctx.waitWhile(() => m.received.load(job.id) < expected);
      // Others may still schedule our inbox until they are done too.
      m.done.add(1);
      m.done.notify();
      for (let d = m.done.load(); d < job.workers; d = m.done.load()) m.done.wait(d);
      ctx.poll(false);
      inbox.delete();
      ctx.poll(false);
      ctx.destroy();
      return { received: m.received.load(job.id), stats: ctx.stats };
    }
    case 'seed-home': {
      // The iothread: blocking polls; some BH callbacks run a nested
      // blocking wait (bdrv_drain-like) for more BHs scheduled remotely.
      const s = Seed.open(job.state);
      const ctx = AioContext.create({ name: 'seed-home', poll: { maxNs: 20_000 } });
      const bhs = Array.from({ length: 64 }, (_, j) =>
        ctx.bh(
          () => {
            if (s.inflight.exchange(j, 0) !== 1) s.duplicates.add(1);
            s.ran.add(j, 1);
            const total = s.total.add(1) + 1;
            if (total % job.nestEvery === 0 && total + 3 <= job.runs) {
              s.nested.add(1);
              const target = total + 3;
              ctx.waitWhile(() => s.total.load() < target);
            }
          },
          { name: `completion-${j}` },
        ),
      );
      parentPort!.postMessage({ bhs: bhs.map((b) => b.handle), ctx: ctx.handle });
      ctx.waitWhile(() => s.total.load() < job.runs);
      s.stop.store(1);
      for (let d = s.perturbDone.load(); d === 0; d = s.perturbDone.load()) s.perturbDone.wait(0);
      for (const b of bhs) b.delete();
      ctx.poll(false);
      const stats = ctx.stats;
      ctx.destroy();
      return { stats };
    }
    case 'seed-completer': {
      // The thread-pool-like completer: marks BH j in flight, schedules it,
      // and reuses j only after it ran.
      const s = Seed.open(job.state);
      const bhs = job.bhs.map((h) => RemoteBottomHalf.open(h));
      let x = 12345;
      for (let n = 0; n < job.runs; ) {
        x = (x * 1103515245 + 12345) >>> 0;
        const j = x % bhs.length;
        if (s.inflight.compareExchange(j, 0, 1) !== 0) continue;
        bhs[j]!.schedule();
        n++;
      }
      return 'ok';
    }
    case 'seed-perturb': {
      // The vCPU-like thread: notifies and kicks the home context at random.
      const s = Seed.open(job.state);
      const ctx = AioContext.open(job.ctx);
      let n = 0;
      while (s.stop.load() === 0) {
        if ((n++ & 1) === 0) ctx.notify();
        else ctx.kick();
        for (let i = 0; i < 200; i++) if (s.stop.load() !== 0) break;
      }
      s.perturbDone.store(1);
      s.perturbDone.notify();
      return n;
    }
    case 'kick-home': {
      const k = Kick.open(job.state);
      const ctx = AioContext.create({ name: 'kick-home' });
      parentPort!.postMessage({ ctx: ctx.handle });
      for (let r = 0; r < job.rounds; r++) {
        ctx.waitWhile(() => k.flag.load() !== r + 1);
        k.round.store(r + 1);
        k.round.notify();
      }
      const stats = ctx.stats;
      ctx.destroy();
      return stats;
    }
    case 'kick-kicker': {
      const k = Kick.open(job.state);
      const ctx = AioContext.open(job.ctx);
      for (let r = 0; r < job.rounds; r++) {
        k.flag.store(r + 1); // write the condition, then kick (aio_wait_kick)
        ctx.kick();
        for (let v = k.round.load(); v < r + 1; v = k.round.load()) k.round.wait(v);
      }
      return 'ok';
    }
    case 'pong': {
      // Each side's BH schedules the other side's BH: one wake-up in flight
      // at any time, so a single lost notify stops the chain for good.
      const st = Pong.open(job.state);
      const ctx = AioContext.create({ name: `pong-${job.side}`, poll: { maxNs: job.pollMaxNs } });
      let peer: RemoteBottomHalf | undefined;
      let runs = 0;
      const bh = ctx.bh(
        () => {
          runs++;
          st.rounds.store(job.side, runs);
          // Side 1 always answers; side 0 serves `rounds` balls.
          if (job.side === 1 || runs < job.rounds) peer!.schedule();
        },
        { name: `pong-${job.side}` },
      );
      parentPort!.postMessage({ bh: bh.handle });
      peer = RemoteBottomHalf.open(await receive<BottomHalfHandle>());
      if (job.side === 0) peer.schedule();
      ctx.waitWhile(() => runs < job.rounds);
      const stats = ctx.stats;
      bh.delete();
      ctx.poll(false);
      ctx.destroy();
      return { runs, stats };
    }
    case 'suppressed-producer': {
      // One item per round, after a random busy delay around the consumer's
      // poll window: the item lands while it spins, as the spin ends, or
      // while it sleeps. The notifier is set only outside poll mode.
      const s = Suppress.open(job.state);
      const n = EventNotifier.open(job.notifier);
      let sets = 0;
      for (let round = 0; round < job.rounds; round++) {
        for (let a = s.ack.load(); a !== round; a = s.ack.load()) s.ack.wait(a, 50);
        const until = performance.now() + (Math.random() * job.maxDelayUs) / 1000;
        while (performance.now() < until);
        s.work.store(round + 1);
        if (s.polling.load() === 0) {
          n.set();
          sets++;
        }
      }
      return { sets };
    }
    case 'polled': {
      // One poll that blocks for a moment (a BH is due) grows the window from
      // 0 to 4 µs (block > window, < maxNs). Then the work word is written
      // with no notifier set and a blocking poll must find it through
      // onPoll in poll mode; without polling it would sleep until the
      // watchdog fires.
      const p = Polled.open(job.state);
      const ctx = AioContext.create({ name: 'polled', poll: { maxNs: 1_000_000_000 } });
      const n = ctx.createNotifier();
      let begins = 0;
      let ends = 0;
      let found = 0;
      ctx.setNotifierHandler(n, {
        onPoll: () => p.work.load() !== 0,
        onPollReady: () => {
          p.work.store(0);
          found++;
        },
        onPollBegin: () => begins++,
        onPollEnd: () => ends++,
        onRead: (x) => x.testAndClear(),
      });
      const tick = ctx.bh(() => {}, { name: 'tick' });
      tick.schedule();
      ctx.poll(true);
      const window = ctx.stats.pollWindowNs;
      p.work.store(1);
      const progress = ctx.poll(true);
      tick.delete();
      ctx.setNotifierHandler(n, null);
      ctx.poll(false);
      const stats = ctx.stats;
      ctx.destroy();
      return { window, found, progress, begins, ends, pollHits: stats.pollHits };
    }
  }
});
