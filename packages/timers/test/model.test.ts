/**
 * Property test: arbitrary sequences of mod / modAnticipate / del / advance,
 * with callbacks that mod and del other timers, against a naive reference
 * model (a linear scan for the minimum (expire, seq)).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Clocks, SCALE_NS, TimerListGroup } from '@vmloop/timers';

const N = 6;
type Action = { kind: 'none' } | { kind: 'mod'; target: number; delta: number } | { kind: 'del'; target: number };
export type Op =
  | { kind: 'mod'; id: number; expire: number }
  | { kind: 'anticipate'; id: number; expire: number }
  | { kind: 'del'; id: number }
  | { kind: 'advance'; ns: number };

const action = fc.oneof(
  fc.constant<Action>({ kind: 'none' }),
  fc.record({ kind: fc.constant<'mod'>('mod'), target: fc.nat(N - 1), delta: fc.integer({ min: -20, max: 50 }) }),
  fc.record({ kind: fc.constant<'del'>('del'), target: fc.nat(N - 1) }),
);
const op = fc.oneof(
  fc.record({ kind: fc.constant<'mod'>('mod'), id: fc.nat(N - 1), expire: fc.integer({ min: -10, max: 200 }) }),
  fc.record({ kind: fc.constant<'anticipate'>('anticipate'), id: fc.nat(N - 1), expire: fc.integer({ min: -10, max: 200 }) }),
  fc.record({ kind: fc.constant<'del'>('del'), id: fc.nat(N - 1) }),
  fc.record({ kind: fc.constant<'advance'>('advance'), ns: fc.nat(60) }),
);

interface ModelTimer {
  expire: number; // -1 when not pending
  seq: number;
  inHeap: boolean;
}

class Model {
  timers: ModelTimer[] = Array.from({ length: N }, () => ({ expire: -1, seq: 0, inHeap: false }));
  seq = 0;
  notifies = 0;
  fired: number[] = [];
  constructor(readonly actions: Action[]) {}
  head(): number | undefined {
    let best: number | undefined;
    for (let i = 0; i < N; i++) {
      const t = this.timers[i]!;
      if (!t.inHeap) continue;
      const b = best === undefined ? undefined : this.timers[best]!;
      if (b === undefined || t.expire < b.expire || (t.expire === b.expire && t.seq < b.seq)) best = i;
    }
    return best;
  }
  mod(id: number, ns: number): void {
    const h = this.head();
    const earliest = h === undefined ? Number.POSITIVE_INFINITY : this.timers[h]!.expire;
    const t = this.timers[id]!;
    t.expire = Math.max(ns, 0);
    t.seq = ++this.seq;
    t.inHeap = true;
    if (this.head() === id && t.expire < earliest) this.notifies++;
  }
  anticipate(id: number, ns: number): void {
    const t = this.timers[id]!;
    if (t.expire < 0 || t.expire > Math.max(ns, 0)) this.mod(id, ns);
  }
  del(id: number): void {
    const t = this.timers[id]!;
    t.expire = -1;
    t.inHeap = false;
  }
  run(now: number): void {
    const limit = this.seq;
    const deferred: number[] = [];
    for (let h = this.head(); h !== undefined && this.timers[h]!.expire <= now; h = this.head()) {
      const t = this.timers[h]!;
      t.inHeap = false;
      if (t.seq > limit) {
        deferred.push(h);
        continue;
      }
      t.expire = -1;
      this.fired.push(h);
      const a = this.actions[h]!;
      if (a.kind === 'mod') this.mod(a.target, now + a.delta);
      else if (a.kind === 'del') this.del(a.target);
    }
    for (const d of deferred) if (!this.timers[d]!.inHeap && this.timers[d]!.expire >= 0) this.timers[d]!.inHeap = true;
  }
  deadline(now: number): number {
    const h = this.head();
    return h === undefined ? -1 : Math.max(0, this.timers[h]!.expire - now);
  }
}

describe('timers / model', () => {
  it('matches the reference model on arbitrary op sequences with re-entrant callbacks', () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: N, maxLength: N }), fc.array(op, { maxLength: 80 }), (actions, ops) => {
        const clocks = Clocks.create({ source: 'manual' });
        let notifies = 0;
        const group = new TimerListGroup(clocks, () => notifies++);
        const fired: number[] = [];
        const timers = actions.map((_, i) =>
          group.createTimer('realtime', SCALE_NS, () => {
            fired.push(i);
            const a = actions[i]!;
            if (a.kind === 'mod') timers[a.target]!.modNs(clocks.now('realtime') + a.delta);
            else if (a.kind === 'del') timers[a.target]!.del();
          }),
        );
        const model = new Model(actions);
        for (const o of ops) {
          switch (o.kind) {
            case 'mod':
              timers[o.id]!.modNs(o.expire);
              model.mod(o.id, o.expire);
              break;
            case 'anticipate':
              timers[o.id]!.modAnticipateNs(o.expire);
              model.anticipate(o.id, o.expire);
              break;
            case 'del':
              timers[o.id]!.del();
              model.del(o.id);
              break;
            case 'advance': {
              const now = clocks.advance(o.ns);
              group.run();
              model.run(now);
              break;
            }
          }
          const now = clocks.now('realtime');
          expect(fired).toEqual(model.fired);
          expect(group.deadlineNs()).toBe(model.deadline(now));
          expect(notifies).toBe(model.notifies);
          for (let i = 0; i < N; i++) {
            expect(timers[i]!.pending).toBe(model.timers[i]!.expire >= 0);
            expect(timers[i]!.expireTimeNs).toBe(model.timers[i]!.expire);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
