/**
 * (b) Notifiers across workers, the patterns of
 * packages/event-notifier/test/multithread.test.ts made continuous:
 *
 * - `owner`: a NotifierSet of SET_COUNTERS counter notifiers and SET_FLAGS
 *   flag notifiers; it sums every counter read and takes the work words of
 *   the flag notifiers it finds set (clear first, then take — the usage
 *   loop), and publishes the sum;
 * - `efd`: one standalone counter EventNotifier, read after each wait;
 * - `setter`: bursts of sets to random notifiers of both, then waits until
 *   both consumers have accounted for everything published so far, so the
 *   last set of a burst is the one whose wake-up matters.
 *
 * Exact accounting at the end: the owner's sum equals every counter set
 * plus every work unit, the standalone consumer's equals every set on it;
 * plus one final set per setter on each (the set that wakes a consumer
 * asleep after the last real one).
 */
import { parentPort } from 'node:worker_threads';
import { EventNotifier, type EventNotifierHandle, NotifierSet, type NotifierSetStats } from '@vmloop/event-notifier';
import { workerMain } from '@vmloop/test-kit/worker';
import { Control, Notifiers, SET_COUNTERS, SET_FLAGS } from '../layout.js';

export type NotifierJob =
  | { readonly op: 'owner'; readonly setters: number; readonly state: unknown }
  | { readonly op: 'efd'; readonly setters: number; readonly efd: EventNotifierHandle; readonly state: unknown }
  | {
      readonly op: 'setter';
      readonly id: number;
      readonly setters: number;
      readonly counters: readonly EventNotifierHandle[];
      readonly flags: readonly EventNotifierHandle[];
      readonly efd: EventNotifierHandle;
      readonly state: unknown;
      readonly control: unknown;
    };

export interface OwnerResult {
  readonly op: 'owner';
  readonly sum: number;
  readonly counterReads: number;
  readonly workTaken: number;
  readonly wakes: number;
  readonly stats: NotifierSetStats;
}
export interface EfdResult {
  readonly op: 'efd';
  readonly sum: number;
  readonly wakes: number;
}
export interface SetterResult {
  readonly op: 'setter';
  readonly counterSets: number;
  readonly workSent: number;
  readonly efdSets: number;
  readonly bursts: number;
}

function publishedTotal(s: ReturnType<typeof Notifiers.open>, setters: number): { owner: number; efd: number } {
  let owner = 0;
  let efd = 0;
  for (let i = 0; i < setters; i++) {
    owner = (owner + s.counterSets.load(i) + s.workSent.load(i)) | 0;
    efd = (efd + s.efdSets.load(i)) | 0;
  }
  return { owner, efd };
}

workerMain(async (job: NotifierJob): Promise<OwnerResult | EfdResult | SetterResult> => {
  const s = Notifiers.open(job.state);
  switch (job.op) {
    case 'owner': {
      const set = NotifierSet.create({ capacity: SET_COUNTERS + SET_FLAGS });
      const counters = Array.from({ length: SET_COUNTERS }, () => set.createNotifier({ counter: true }));
      const flags = Array.from({ length: SET_FLAGS }, () => set.createNotifier());
      const flagIndex = new Map(flags.map((n, i) => [n, i]));
      for (const n of [...counters, ...flags]) set.add(n);
      parentPort!.postMessage({ counters: counters.map((n) => n.handle), flags: flags.map((n) => n.handle) });
      let sum = 0;
      let counterReads = 0;
      let workTaken = 0;
      let wakes = 0;
      let spins = 0;
      // Done when every setter stopped and everything it published, plus its
      // final set, is accounted for; checked before each sleep, so the last
      // final set (which comes after the setter's settersDone add) ends it.
      const finished = (): boolean => s.settersDone.load() === job.setters && sum === ((publishedTotal(s, job.setters).owner + job.setters) | 0);
      while (!finished()) {
        spins = (spins + 1) & 3;
        const ready = set.wait(undefined, { spins: spins === 0 ? 0 : 300 });
        wakes++;
        for (const n of ready) {
          const f = flagIndex.get(n);
          if (f === undefined) {
            const k = n.read();
            counterReads++;
            sum = (sum + k) | 0;
          } else if (n.testAndClear()) {
            // Cleared first, then the work taken: a set racing with us
            // either left its work for this exchange or sets the notifier again.
            const k = s.work.exchange(f, 0);
            workTaken += k;
            sum = (sum + k) | 0;
          }
        }
        s.ownerSum.store(sum);
        s.ownerWakes.store(wakes);
        s.ownerSum.notify();
      }
      const stats = set.stats;
      set.close();
      return { op: 'owner', sum, counterReads, workTaken, wakes, stats };
    }
    case 'efd': {
      const n = EventNotifier.open(job.efd);
      let sum = 0;
      let wakes = 0;
      let spins = 0;
      const finished = (): boolean => s.settersDone.load() === job.setters && sum === ((publishedTotal(s, job.setters).efd + job.setters) | 0);
      while (!finished()) {
        spins = (spins + 1) & 1;
        n.wait(undefined, { spins: spins === 0 ? 0 : 500 });
        wakes++;
        sum = (sum + n.read()) | 0;
        s.efdSum.store(sum);
        s.efdWakes.store(wakes);
        s.efdSum.notify();
      }
      return { op: 'efd', sum, wakes };
    }
    case 'setter': {
      const control = Control.open(job.control);
      const counters = job.counters.map((h) => EventNotifier.open(h));
      const flags = job.flags.map((h) => EventNotifier.open(h));
      const efd = EventNotifier.open(job.efd);
      const me = job.id;
      let x = 0x2545f491 ^ Math.imul(me + 1, 0x9e3779b1);
      const rnd = (): number => {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        return x >>> 0;
      };
      let counterSets = 0;
      let workSent = 0;
      let efdSets = 0;
      let bursts = 0;
      while (control.stop.load() === 0) {
        const k = 1 + (rnd() % 24);
        for (let j = 0; j < k; j++) {
          const r = rnd();
          switch (r & 3) {
            case 0:
            case 1: {
              counters[(r >>> 2) % SET_COUNTERS]!.set();
              s.counterSets.store(me, ++counterSets);
              break;
            }
            case 2: {
              // Publish the work, then set (the notifier is a kick, not the data).
              const f = (r >>> 2) % SET_FLAGS;
              const units = 1 + ((r >>> 10) & 3);
              s.work.add(f, units);
              workSent += units;
              s.workSent.store(me, workSent);
              flags[f]!.set();
              break;
            }
            default: {
              efd.set();
              s.efdSets.store(me, ++efdSets);
            }
          }
        }
        bursts++;
        // Wait until both consumers accounted for everything published so
        // far (ours included): no later set of ours can mask a lost wake-up.
        const want = publishedTotal(s, job.setters);
        for (let v = s.ownerSum.load(); ((v - want.owner) | 0) < 0; v = s.ownerSum.load()) s.ownerSum.wait(v);
        for (let v = s.efdSum.load(); ((v - want.efd) | 0) < 0; v = s.efdSum.load()) s.efdSum.wait(v);
      }
      s.settersDone.add(1);
      counters[0]!.set();
      efd.set();
      return { op: 'setter', counterSets, workSent, efdSets, bursts };
    }
  }
});
