/** (b) Notifiers, main-thread side: the set owner, the standalone consumer and the setters; exact sums at the end. */
import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';
import { runWorkers } from '@vmloop/test-kit';
import { type Activity, check, failure, fmtCount, fmtRate, type SummaryRow } from './activity.js';
import { MAX_SETTERS, Notifiers, SET_FLAGS } from './layout.js';
import type { EfdResult, NotifierJob, OwnerResult, SetterResult } from './workers/notifier-worker.js';

const worker = new URL('./workers/notifier-worker.js', import.meta.url);

export function startNotifiers(controlHandle: unknown, o: { setters: number; timeoutMs: number }): Activity {
  const n = o.setters;
  if (n < 1 || n > MAX_SETTERS) throw new Error(`--setters must be 1…${MAX_SETTERS}`);
  const s = Notifiers.create();
  const state = Notifiers.handle(s);
  const efd = EventNotifier.create({ counter: true });
  const f = failure();
  const published = (): { owner: number; efd: number } => {
    let owner = 0;
    let e = 0;
    for (let i = 0; i < n; i++) {
      owner += s.counterSets.load(i) + s.workSent.load(i);
      e += s.efdSets.load(i);
    }
    return { owner, efd: e };
  };
  const describe = (): string => {
    const p = published();
    const setters = Array.from({ length: n }, (_, i) => `setter-${i}: ${s.counterSets.load(i)} counter sets, ${s.workSent.load(i)} work units, ${s.efdSets.load(i)} standalone sets`).join('; ');
    return `set owner accounted ${s.ownerSum.load()} of ${p.owner} published (${s.ownerWakes.load()} wakes); standalone consumer read ${s.efdSum.load()} of ${p.efd} (${s.efdWakes.load()} wakes); ${setters}; setters done ${s.settersDone.load()}/${n}`;
  };
  let setterRun: Promise<SetterResult[]> | undefined;
  const onFail = (what: string) => (e: unknown) => f.reject(new Error(`notifiers (${what}): ${(e as Error).message}`, { cause: e }));
  const ownerRun = runWorkers<OwnerResult>(worker, [{ op: 'owner', setters: n, state } satisfies NotifierJob], {
    timeoutMs: o.timeoutMs,
    what: describe,
    onMessage: (_, msg) => {
      const { counters, flags } = msg as { counters: EventNotifierHandle[]; flags: EventNotifierHandle[] };
      setterRun = runWorkers<SetterResult>(
        worker,
        Array.from({ length: n }, (_, id) => ({ op: 'setter', id, setters: n, counters, flags, efd: efd.handle, state, control: controlHandle }) satisfies NotifierJob),
        { timeoutMs: o.timeoutMs, what: describe },
      );
      setterRun.catch(onFail('setters'));
    },
  });
  ownerRun.catch(onFail('set owner'));
  const efdRun = runWorkers<EfdResult>(worker, [{ op: 'efd', setters: n, efd: efd.handle, state } satisfies NotifierJob], { timeoutMs: o.timeoutMs, what: describe });
  efdRun.catch(onFail('standalone consumer'));
  let owner: OwnerResult | undefined;
  let consumer: EfdResult | undefined;
  let setters: SetterResult[] = [];
  return {
    name: 'notifiers',
    failed: f.promise,
    progress: () => s.ownerSum.load() + s.efdSum.load(),
    describe,
    async stop() {
      if (setterRun === undefined) throw new Error('notifiers: the set owner never sent its notifiers');
      [[owner], [consumer], setters] = await Promise.all([ownerRun, efdRun, setterRun]);
      const counterSets = setters.reduce((a, r) => a + r.counterSets, 0);
      const work = setters.reduce((a, r) => a + r.workSent, 0);
      const efdSets = setters.reduce((a, r) => a + r.efdSets, 0);
      check(owner!.sum === ((counterSets + work + n) | 0), () => `notifiers: the set owner accounted for ${owner!.sum}, the setters published ${counterSets} counter sets + ${work} work units + ${n} final sets`);
      check(consumer!.sum === ((efdSets + n) | 0), () => `notifiers: the standalone consumer read ${consumer!.sum}, the setters made ${efdSets} + ${n} final sets`);
      for (let i = 0; i < SET_FLAGS; i++) check(s.work.load(i) === 0, () => `notifiers: work word ${i} still holds ${s.work.load(i)} units nobody took`);
      check(efd.read() === 0, () => 'notifiers: the standalone notifier is still set after its consumer finished');
    },
    summary(seconds: number): SummaryRow {
      const sets = setters.reduce((a, r) => a + r.counterSets + r.efdSets, 0);
      const work = setters.reduce((a, r) => a + r.workSent, 0);
      const bursts = setters.reduce((a, r) => a + r.bursts, 0);
      return {
        activity: `notifiers (${n} setters, 2 consumers)`,
        unit: 'counter sets + work units',
        count: sets + work,
        detail: `${fmtRate(sets + work, seconds)}; ${fmtCount(bursts)} bursts, each waited out; set owner woke ${fmtCount(owner?.wakes ?? 0)}×, standalone consumer ${fmtCount(consumer?.wakes ?? 0)}×; sums exact`,
      };
    },
  };
}
