/**
 * Property test: random sequences of driver and device operations (add
 * chains of random shapes, direct and indirect; kick decisions; pops and
 * pushes in random order and amounts; reaping; notification and interrupt
 * enable/disable) against a simple model of the split ring. Checks that
 * every added chain is popped exactly once with exactly its segments,
 * every pushed element is reclaimed once with its length, and every kick
 * and interrupt decision is the one vring_need_event or the flags give.
 * Rings start near 65535 so indices wrap.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Segment, vringNeedEvent } from '@vmloop/virtio';
import { DATA, makePair } from './queue-pair.js';

type Op =
  | { kind: 'add'; readable: number[]; writable: number[]; indirect: boolean }
  | { kind: 'kick' }
  | { kind: 'pop'; n: number }
  | { kind: 'push'; pick: number; n: number; fill: number }
  | { kind: 'notify' }
  | { kind: 'reap'; n: number }
  | { kind: 'disableNotification' }
  | { kind: 'enableNotification' }
  | { kind: 'disableInterrupts' }
  | { kind: 'enableInterrupts' };

const len = fc.integer({ min: 1, max: 1024 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      readable: fc.array(len, { maxLength: 3 }),
      writable: fc.array(len, { maxLength: 3 }),
      indirect: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.constant<Op>({ kind: 'kick' }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('pop' as const), n: fc.integer({ min: 1, max: 4 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('push' as const), pick: fc.nat(31), n: fc.integer({ min: 1, max: 4 }), fill: fc.double({ min: 0, max: 1, noNaN: true }) }),
  },
  { weight: 2, arbitrary: fc.constant<Op>({ kind: 'notify' }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('reap' as const), n: fc.integer({ min: 1, max: 4 }) }) },
  fc.constant<Op>({ kind: 'disableNotification' }),
  fc.constant<Op>({ kind: 'enableNotification' }),
  fc.constant<Op>({ kind: 'disableInterrupts' }),
  fc.constant<Op>({ kind: 'enableInterrupts' }),
);

const config = fc.record({
  size: fc.constantFrom(1, 2, 4, 8, 16, 32),
  eventIdx: fc.boolean(),
  indirect: fc.boolean(),
  startIndex: fc.oneof(fc.integer({ min: 0xfff0, max: 0xffff }), fc.constant(0), fc.nat(0xffff)),
  // The queue's own chain objects, refilled per head, must pop the same chains.
  reuseChains: fc.boolean(),
});

interface Chain {
  readonly id: number;
  readonly head: number;
  readonly readable: Segment[];
  readonly writable: Segment[];
  readonly descriptors: number;
  readonly writableBytes: number;
}

const TABLES = DATA + 0x8_0000;
const TABLE_SLOTS = 64; // > 2 × the largest size: an unpopped chain's table is never reused

describe('virtqueue / model', () => {
  it('driver and device agree with the reference model on random operation sequences', () => {
    fc.assert(
      fc.property(config, fc.array(op, { maxLength: 120 }), (cfg, ops) => {
        const p = makePair({ size: cfg.size, maxSize: 32, eventIdx: cfg.eventIdx, indirect: cfg.indirect, startIndex: cfg.startIndex, reuseChains: cfg.reuseChains });
        const { driver, queue, raw } = p;
        const s = cfg.startIndex;
        // The model: what ring memory and both sides must hold.
        const m = {
          free: cfg.size,
          availShadow: s,
          kickedAt: s,
          nextAvail: s,
          nextUsed: s,
          lastUsed: s,
          availEvent: s,
          usedEvent: s,
          noNotify: false,
          noInterrupt: false,
          notifyOn: true,
          irqOn: true,
          signalled: 0,
          signalledValid: false,
        };
        const unpublished: Chain[] = [];
        const published: Chain[] = [];
        const deviceHeld: Chain[] = [];
        const used: Array<{ chain: Chain; len: number }> = [];
        const popped = new Set<number>();
        const reclaimed = new Set<number>();
        let nextId = 0;
        let nextAddr = DATA;
        let tableSlot = 0;
        const byHead = new Map<number, Chain>();

        const segs = (lens: number[]): Segment[] =>
          lens.map((l) => {
            // Consecutive buffers below the indirect tables; chains are compared in order, so reuse is fine.
            if (nextAddr + l > TABLES) nextAddr = DATA;
            const seg = { addr: nextAddr, len: l };
            nextAddr += l;
            return seg;
          });

        const step = (o: Op): void => {
          switch (o.kind) {
            case 'add': {
              const readable = segs(o.readable);
              const writable = segs(o.writable);
              const n = readable.length + writable.length;
              if (n === 0) return;
              const indirect = o.indirect && cfg.indirect;
              const need = indirect ? 1 : n;
              const table = TABLES + 256 * (tableSlot++ % TABLE_SLOTS);
              const head = driver.add(readable, writable, indirect ? { indirectTable: table } : undefined);
              if (m.free < need) {
                expect(head).toBeUndefined();
                return;
              }
              expect(head).toBeDefined();
              m.free -= need;
              const chain = { id: nextId++, head: head!, readable, writable, descriptors: need, writableBytes: o.writable.reduce((a, b) => a + b, 0) };
              byHead.set(chain.head, chain);
              unpublished.push(chain);
              m.availShadow = (m.availShadow + 1) & 0xffff;
              return;
            }
            case 'kick': {
              const old = m.kickedAt;
              const neu = m.availShadow;
              let expected = false;
              if (neu !== old) {
                expected = cfg.eventIdx ? vringNeedEvent(m.availEvent, neu, old) : !m.noNotify;
                published.push(...unpublished.splice(0));
                m.kickedAt = neu;
              }
              expect(driver.needsKick()).toBe(expected);
              return;
            }
            case 'pop':
              for (let i = 0; i < o.n; i++) {
                const c = queue.pop();
                const want = published.shift();
                if (want === undefined) {
                  expect(c).toBeNull();
                  return;
                }
                expect(c).toEqual({
                  head: want.head,
                  readable: want.readable,
                  writable: want.writable,
                  readableBytes: want.readable.reduce((a, b) => a + b.len, 0),
                  writableBytes: want.writableBytes,
                });
                expect(popped.has(want.id)).toBe(false);
                popped.add(want.id);
                deviceHeld.push(want);
                m.nextAvail = (m.nextAvail + 1) & 0xffff;
                if (cfg.eventIdx && m.notifyOn) m.availEvent = m.nextAvail;
              }
              return;
            case 'push':
              for (let i = 0; i < o.n && deviceHeld.length > 0; i++) {
                const [chain] = deviceHeld.splice(o.pick % deviceHeld.length, 1);
                const l = Math.floor(o.fill * chain!.writableBytes);
                queue.pushUsed(chain!.head, l);
                used.push({ chain: chain!, len: l });
                m.nextUsed = (m.nextUsed + 1) & 0xffff;
              }
              return;
            case 'notify': {
              const neu = m.nextUsed;
              const old = m.signalled;
              const valid = m.signalledValid;
              m.signalled = neu;
              m.signalledValid = true;
              let expected: boolean;
              if (valid && neu === old) expected = false;
              else expected = cfg.eventIdx ? !valid || vringNeedEvent(m.usedEvent, neu, old) : !m.noInterrupt;
              expect(queue.needsNotification()).toBe(expected);
              return;
            }
            case 'reap':
              for (let i = 0; i < o.n; i++) {
                const u = driver.getUsed();
                const want = used.shift();
                if (want === undefined) {
                  expect(u).toBeUndefined();
                  return;
                }
                expect(u).toEqual({ head: want.chain.head, len: want.len });
                expect(reclaimed.has(want.chain.id)).toBe(false);
                reclaimed.add(want.chain.id);
                m.free += want.chain.descriptors;
                m.lastUsed = (m.lastUsed + 1) & 0xffff;
                if (cfg.eventIdx && m.irqOn) m.usedEvent = m.lastUsed;
              }
              return;
            case 'disableNotification':
              queue.disableNotification();
              m.notifyOn = false;
              if (!cfg.eventIdx) m.noNotify = true;
              return;
            case 'enableNotification': {
              const r = queue.enableNotification();
              m.notifyOn = true;
              if (cfg.eventIdx) m.availEvent = m.nextAvail;
              else m.noNotify = false;
              expect(r).toBe(m.kickedAt !== m.nextAvail);
              return;
            }
            case 'disableInterrupts':
              driver.disableInterrupts();
              m.irqOn = false;
              if (!cfg.eventIdx) m.noInterrupt = true;
              return;
            case 'enableInterrupts': {
              const r = driver.enableInterrupts();
              m.irqOn = true;
              if (cfg.eventIdx) m.usedEvent = m.lastUsed;
              else m.noInterrupt = false;
              expect(r).toBe(m.nextUsed !== m.lastUsed);
              return;
            }
          }
        };

        const check = (): void => {
          expect(p.broken).toEqual([]);
          expect(driver.numFree).toBe(m.free);
          expect(queue.inFlight).toBe(deviceHeld.length);
          expect(driver.inFlight).toBe(unpublished.length + published.length + deviceHeld.length + used.length);
          expect(queue.nextAvail).toBe(m.nextAvail);
          expect(queue.nextUsed).toBe(m.nextUsed);
          expect(raw.availIdx()).toBe(m.kickedAt);
          expect(raw.usedIdx()).toBe(m.nextUsed);
          if (cfg.eventIdx) {
            expect(raw.availEvent()).toBe(m.availEvent);
            expect(raw.usedEvent()).toBe(m.usedEvent);
            expect([raw.usedFlags(), raw.availFlags()]).toEqual([0, 0]);
          } else {
            expect(raw.usedFlags()).toBe(m.noNotify ? 1 : 0);
            expect(raw.availFlags()).toBe(m.noInterrupt ? 1 : 0);
          }
        };

        for (const o of ops) {
          step(o);
          check();
        }
        // Drain: everything added is popped once and reclaimed once.
        step({ kind: 'kick' });
        step({ kind: 'pop', n: cfg.size });
        step({ kind: 'push', pick: 0, n: cfg.size, fill: 1 });
        step({ kind: 'reap', n: cfg.size });
        check();
        expect(popped.size).toBe(nextId);
        expect(reclaimed.size).toBe(nextId);
        expect(driver.numFree).toBe(cfg.size);
        expect(byHead.size).toBeLessThanOrEqual(cfg.size);
      }),
      { numRuns: 1000 },
    );
  });
});
