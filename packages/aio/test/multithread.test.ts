/**
 * aio across real workers. A lost wake-up leaves a worker asleep; the
 * watchdog then fails the test naming what was lost (which worker's inbox,
 * which BH), never hanging CI.
 */
import type { Worker } from 'node:worker_threads';
import { runWorkers } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import type { AioContextHandle, AioStats, BottomHalfHandle } from '@vmloop/aio';
import { Kick, Mesh, Polled, Pong, Seed } from './workers/shared.js';

const worker = new URL('../build/test/workers/aio-worker.js', import.meta.url);

describe('aio / multithread', () => {
  it('4 workers schedule BHs into each other\'s contexts 1e5 times with exact counts', async () => {
    const workers = 4;
    const perPeer = 8334; // 4 × 3 × 8334 ≈ 1e5 schedules
    const m = Mesh.create();
    const inboxes: BottomHalfHandle[] = [];
    let started: Worker[] = [];
    const run = runWorkers<{ received: number; stats: AioStats }>(
      worker,
      Array.from({ length: workers }, (_, id) => ({ op: 'mesh', id, workers, perPeer, mesh: Mesh.handle(m) })),
      {
        timeoutMs: 90_000,
        what: () =>
          `lost wake-up in the BH mesh: ${Array.from({ length: workers }, (_, i) => `inbox-${i} received ${m.received.load(i)}/${3 * perPeer} (pending ${m.pending.load(i)}, sent ${m.sent.load(i)})`).join('; ')}`,
        onOnline: (ws) => {
          started = [...ws];
        },
        onMessage: (i, msg) => {
          inboxes[i] = (msg as { inbox: BottomHalfHandle }).inbox;
          if (inboxes.filter(Boolean).length === workers) for (const w of started) w.postMessage(inboxes);
        },
      },
    );
    const results = await run;
    for (const r of results) expect(r.received).toBe(3 * perPeer);
  });

  for (const pollMaxNs of [0, 32768]) {
    it(`BH ping-pong between two contexts: 5e4 rounds, every wake-up matters (poll-max-ns ${pollMaxNs})`, async () => {
      const rounds = 50_000;
      const st = Pong.create();
      const handles: BottomHalfHandle[] = [];
      let ws: Worker[] = [];
      const results = await runWorkers<{ runs: number; stats: AioStats }>(
        worker,
        [0, 1].map((side) => ({ op: 'pong', side, rounds, state: Pong.handle(st), pollMaxNs })),
        {
          timeoutMs: 60_000,
          what: () => `lost wake-up in BH ping-pong: pong-0 ran ${st.rounds.load(0)}, pong-1 ran ${st.rounds.load(1)} of ${rounds}`,
          onOnline: (w) => {
            ws = [...w];
          },
          onMessage: (i, msg) => {
            handles[i] = (msg as { bh: BottomHalfHandle }).bh;
            if (handles[0] && handles[1]) {
              ws[0]!.postMessage(handles[1]);
              ws[1]!.postMessage(handles[0]);
            }
          },
        },
      );
      for (const r of results) expect(r.runs).toBeGreaterThanOrEqual(rounds);
      if (pollMaxNs === 0) for (const r of results) expect(r.stats.blockingWaits).toBeGreaterThan(0);
    });
  }

  it('seed 001 shape: blocking and nested polls at home while others schedule and notify; every BH runs exactly once per schedule', async () => {
    const runs = 30_000;
    const s = Seed.create();
    let handles: { bhs: BottomHalfHandle[]; ctx: AioContextHandle } | undefined;
    let helpers: Promise<unknown[]> | undefined;
    const stuck = (): string => {
      const names: string[] = [];
      for (let j = 0; j < 64; j++) if (s.inflight.load(j) === 1) names.push(`completion-${j}`);
      return `lost wake-up: ${s.total.load()}/${runs} BH runs, ${s.nested.load()} nested waits; scheduled but never run: ${names.join(', ') || 'none'}`;
    };
    const [home] = await runWorkers<{ stats: AioStats }>(worker, [{ op: 'seed-home', state: Seed.handle(s), runs, nestEvery: 97 }], {
      timeoutMs: 90_000,
      what: stuck,
      onMessage: (_, msg) => {
        handles = msg as typeof handles;
        helpers = runWorkers(
          worker,
          [
            { op: 'seed-completer', state: Seed.handle(s), bhs: handles!.bhs, runs },
            { op: 'seed-perturb', state: Seed.handle(s), ctx: handles!.ctx },
          ],
          { timeoutMs: 90_000, what: stuck },
        );
      },
    });
    await helpers;
    expect(s.total.load()).toBe(runs);
    expect(s.duplicates.load()).toBe(0);
    let sum = 0;
    for (let j = 0; j < 64; j++) sum += s.ran.load(j);
    expect(sum).toBe(runs);
    expect(s.nested.load()).toBeGreaterThan(100);
    expect(home!.stats.bhsRun).toBeGreaterThanOrEqual(runs);
  });

  it('waitWhile is released by kick from another worker, 2000 rounds', async () => {
    const rounds = 2000;
    const k = Kick.create();
    let kicker: Promise<unknown[]> | undefined;
    await runWorkers(worker, [{ op: 'kick-home', state: Kick.handle(k), rounds }], {
      timeoutMs: 60_000,
      what: () => `lost kick: home finished ${k.round.load()} of ${rounds} rounds, condition word ${k.flag.load()}`,
      onMessage: (_, msg) => {
        kicker = runWorkers(worker, [{ op: 'kick-kicker', state: Kick.handle(k), ctx: (msg as { ctx: AioContextHandle }).ctx, rounds }], {
          timeoutMs: 60_000,
          what: () => `kicker stalled at round ${k.round.load()}`,
        });
      },
    });
    await kicker;
    expect(k.round.load()).toBe(rounds);
  });

  it('adaptive polling grows its window and finds work that no notifier announces (onPoll / onPollReady)', async () => {
    const p = Polled.create();
    const [r] = await runWorkers<{ window: number; found: number; progress: boolean; begins: number; ends: number; pollHits: number }>(
      worker,
      [{ op: 'polled', state: Polled.handle(p) }],
      { timeoutMs: 30_000, what: () => `busy polling never saw the work word (work=${p.work.load()}): the poll went to sleep instead` },
    );
    expect(r!.window).toBe(4000);
    expect(r!.found).toBe(1);
    expect(r!.progress).toBe(true);
    expect(r!.pollHits).toBeGreaterThan(0);
    expect(r!.begins).toBe(r!.ends);
  });
});
