import { workerMain } from '@vmloop/test-kit/worker';
import { Condition, Event, Mutex, Semaphore, Seqlock } from '@vmloop/atomics';
import { Shared } from './sync-shared.js';

export type SyncJob =
  | { op: 'mutex'; mutex: unknown; shared: unknown; iterations: number }
  | { op: 'event-waiter'; event: unknown; shared: unknown }
  | { op: 'semaphore'; sem: unknown; shared: unknown; iterations: number }
  | { op: 'producer'; mutex: unknown; notEmpty: unknown; notFull: unknown; shared: unknown; items: number; base: number }
  | { op: 'consumer'; mutex: unknown; notEmpty: unknown; notFull: unknown; shared: unknown; total: number }
  | { op: 'seq-writer'; lock: unknown; shared: unknown; writes: number }
  | { op: 'seq-reader'; lock: unknown; shared: unknown }
  | { op: 'handles'; event: unknown; sem: unknown; mutex: unknown; cond: unknown; lock: unknown };

const QUEUE = 16;

workerMain((job: SyncJob) => {
  switch (job.op) {
    case 'mutex': {
      const m = Mutex.open(job.mutex);
      const s = Shared.open(job.shared);
      for (let i = 0; i < job.iterations; i++) {
        m.lock();
        // Deliberately not atomic as a whole: load, then store. Only the
        // mutex keeps two threads from interleaving here.
        const v = s.counter.load();
        s.counter.store(v + 1);
        m.unlock();
      }
      return 'ok';
    }
    case 'event-waiter': {
      const e = Event.open(job.event);
      const s = Shared.open(job.shared);
      let mine = 0;
      for (;;) {
        if (e.wait(20)) {
          s.counter.add(1);
          s.counter.notify();
          mine++;
        } else if (s.stop.load() !== 0) return mine;
      }
    }
    case 'semaphore': {
      const sem = Semaphore.open(job.sem);
      const s = Shared.open(job.shared);
      for (let i = 0; i < job.iterations; i++) {
        sem.acquire();
        const inside = s.inside.add(1) + 1;
        for (let m = s.maxInside.load(); inside > m; m = s.maxInside.load()) if (s.maxInside.compareExchange(m, inside) === m) break;
        s.inside.sub(1);
        sem.release();
      }
      return 'ok';
    }
    case 'producer': {
      const m = Mutex.open(job.mutex);
      const notEmpty = Condition.open(job.notEmpty);
      const notFull = Condition.open(job.notFull);
      const s = Shared.open(job.shared);
      for (let i = 0; i < job.items; i++) {
        m.lock();
        while (s.tail.load() - s.head.load() === QUEUE) notFull.wait(m);
        const t = s.tail.load();
        s.queue.store(t % QUEUE, job.base + i);
        s.tail.store(t + 1);
        notEmpty.notifyOne();
        m.unlock();
      }
      return 'ok';
    }
    case 'consumer': {
      const m = Mutex.open(job.mutex);
      const notEmpty = Condition.open(job.notEmpty);
      const notFull = Condition.open(job.notFull);
      const s = Shared.open(job.shared);
      let sum = 0;
      let n = 0;
      for (;;) {
        m.lock();
        while (s.tail.load() === s.head.load() && s.taken.load() < job.total) notEmpty.wait(m, 50);
        if (s.taken.load() >= job.total) {
          m.unlock();
          notEmpty.notifyAll();
          return { sum, n };
        }
        const h = s.head.load();
        sum += s.queue.load(h % QUEUE);
        n++;
        s.head.store(h + 1);
        s.taken.add(1);
        notFull.notifyOne();
        m.unlock();
      }
    }
    case 'seq-writer': {
      const l = Seqlock.open(job.lock);
      const s = Shared.open(job.shared);
      for (let k = 1; k <= job.writes; k++) l.write((w) => {
        for (let i = 0; i < l.words; i++) w.set(i, k);
      });
      s.stop.store(1);
      return 'ok';
    }
    case 'seq-reader': {
      const l = Seqlock.open(job.lock);
      const s = Shared.open(job.shared);
      let reads = 0;
      let torn = 0;
      while (s.stop.load() === 0) {
        const ok = l.read((r) => {
          const first = r.get(0);
          for (let i = 1; i < l.words; i++) if (r.get(i) !== first) return false;
          return true;
        });
        if (!ok) torn++;
        reads++;
      }
      return { reads, torn };
    }
    case 'handles': {
      Event.open(job.event).set();
      Semaphore.open(job.sem).release(3);
      const m = Mutex.open(job.mutex);
      m.lock();
      m.unlock();
      Condition.open(job.cond).notifyAll();
      return Seqlock.open(job.lock).read((r) => r.get(1));
    }
  }
});
