/** Worker side of the showcase: one ping-pong side, or a setter of many notifiers. */
import { parentPort, workerData } from 'node:worker_threads';
import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';

export type ShowcaseJob =
  | { role: 'ping' | 'pong'; rounds: number; spins: number; ping: EventNotifierHandle; pong: EventNotifierHandle }
  | { role: 'setter'; handles: EventNotifierHandle[]; rounds: number };

const job = workerData as ShowcaseJob;
const t0 = performance.now();
if (job.role === 'setter') {
  const ns = job.handles.map((h) => EventNotifier.open(h));
  for (let r = 0; r < job.rounds; r++) for (const n of ns) n.set();
  const stats = ns.map((n) => n.stats);
  parentPort!.postMessage({
    ms: performance.now() - t0,
    sets: stats.reduce((k, s) => k + s.sets, 0),
    wakeups: stats.reduce((k, s) => k + s.wakeups, 0),
  });
} else {
  const ping = EventNotifier.open(job.ping);
  const pong = EventNotifier.open(job.pong);
  const [mine, theirs] = job.role === 'ping' ? [pong, ping] : [ping, pong];
  for (let i = 0; i < job.rounds; i++) {
    if (job.role === 'ping') theirs.set();
    while (!mine.testAndClear()) mine.wait(undefined, { spins: job.spins });
    if (job.role === 'pong') theirs.set();
  }
  parentPort!.postMessage({ ms: performance.now() - t0, ...mine.stats });
}
