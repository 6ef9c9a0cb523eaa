/**
 * npm run demo (until apps/demo-vm lands): what @vmloop/event-notifier does
 * across real workers, with the figures it measures on this machine.
 *
 * 1. Two workers ping-pong through a pair of EventNotifiers, once spinning
 *    briefly before sleeping (the default) and once sleeping at once.
 * 2. Four workers set 1,000 notifiers that the main thread watches with one
 *    NotifierSet, on Node's event loop (waitAsync): one wake-up serves many
 *    sets, and the counts add up exactly.
 */
import { Worker } from 'node:worker_threads';
import { DEFAULT_SPINS } from '@vmloop/atomics';
import { EventNotifier, NotifierSet } from '@vmloop/event-notifier';
import type { ShowcaseJob } from './worker.js';

const entry = new URL('./worker.js', import.meta.url);

interface Reply {
  ms: number;
  sets: number;
  wakeups: number;
  waits?: number;
}

function start(job: ShowcaseJob): Promise<Reply> {
  const w = new Worker(entry, { workerData: job });
  return new Promise<Reply>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  }).finally(() => w.terminate());
}

async function pingPong(rounds: number, spins: number): Promise<string[]> {
  const ping = EventNotifier.create().handle;
  const pong = EventNotifier.create().handle;
  const [a, b] = await Promise.all([start({ role: 'ping', rounds, spins, ping, pong }), start({ role: 'pong', rounds, spins, ping, pong })]);
  const us = (a.ms * 1000) / rounds;
  return [
    spins === 0 ? 'sleep at once' : `spin ${spins}, then sleep`,
    rounds.toLocaleString('en'),
    `${us.toFixed(2)} µs`,
    Math.round(rounds / (a.ms / 1000)).toLocaleString('en'),
    ((a.waits ?? 0) + (b.waits ?? 0)).toLocaleString('en'),
  ];
}

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `  ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('   ')}`;
  return [line(head), `  ${w.map((n) => '-'.repeat(n)).join('   ')}`, ...rows.map(line)].join('\n');
}

async function fanIn(count: number, setters: number, rounds: number): Promise<string> {
  const set = NotifierSet.create({ capacity: count });
  const ns = Array.from({ length: count }, () => set.createNotifier({ counter: true }));
  for (const n of ns) set.add(n);
  const handles = ns.map((n) => n.handle);
  const t0 = performance.now();
  const work = Promise.all(Array.from({ length: setters }, () => start({ role: 'setter', handles, rounds })));
  const total = count * setters * rounds;
  let sum = 0;
  let wakes = 0;
  while (sum < total) {
    const ready = await set.waitAsync(10_000);
    if (ready.length === 0) throw new Error(`lost wake-up: accounted ${sum} of ${total} sets`);
    wakes++;
    for (const n of ready) sum += n.read();
  }
  const replies = await work;
  const ms = performance.now() - t0;
  const notifies = replies.reduce((k, r) => k + r.wakeups, 0);
  return [
    `  ${setters} workers set ${count.toLocaleString('en')} counter notifiers ${rounds}× each: ${total.toLocaleString('en')} sets in ${ms.toFixed(0)} ms`,
    `  main thread (NotifierSet.waitAsync on Node's loop) accounted for ${sum.toLocaleString('en')} of them exactly,`,
    `  in ${wakes.toLocaleString('en')} wake-ups; setters called Atomics.notify ${notifies.toLocaleString('en')} times (${((100 * notifies) / total).toFixed(3)}% of sets)`,
  ].join('\n');
}

async function main(): Promise<void> {
  console.log('vmloop showcase: @vmloop/event-notifier across worker threads\n');
  console.log('1. Ping-pong between two workers through two EventNotifiers');
  const rows = [await pingPong(200_000, DEFAULT_SPINS), await pingPong(20_000, 0)];
  console.log(table(['wait strategy', 'round trips', 'per round trip', 'per second', 'sleeps'], rows));
  console.log('\n2. Wait on many: one NotifierSet on the main thread, four setter workers');
  console.log(await fanIn(1000, 4, 200));
  console.log('\nBenchmarks against raw Atomics.wait/notify and MessagePort: npm run bench');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
