import { Worker } from 'node:worker_threads';
import { withWatchdog } from '@vmloop/test-kit';
import { describe, expect, it } from 'vitest';
import * as normalCell from '../dist/cell.js';
import * as exploreCell from '../dist/explore/cell.js';
import * as normalFutex from '../dist/futex.js';
import * as exploreFutex from '../dist/explore/futex.js';
import * as normalWords from '../dist/shared-words.js';
import * as exploreWords from '../dist/explore/shared-words.js';
import { EXPLORE_CONDITION, isInstrumented, setAtomicsScheduler } from '@vmloop/atomics/testing';

const worker = new URL('../build/test/workers/explore-worker.js', import.meta.url);

function members(m: Record<string, unknown>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, v] of Object.entries(m)) {
    out[name] = typeof v === 'function' && v.prototype !== undefined
      ? [...Object.getOwnPropertyNames(v.prototype), ...Object.getOwnPropertyNames(v).filter((k) => !['length', 'name', 'prototype'].includes(k)).map((k) => `static ${k}`)].sort()
      : [typeof v];
  }
  return out;
}

describe('atomics / explore (the instrumented build behind --conditions=vmloop-explore)', () => {
  it('the instrumented modules have exactly the exports and members of the normal ones', () => {
    expect(members(exploreCell)).toEqual(members(normalCell));
    expect(Object.keys(exploreFutex).sort()).toEqual(Object.keys(normalFutex).sort());
    expect(members(exploreWords)).toEqual(members(normalWords));
  });

  // Skipped when this process itself runs under the condition (to run the
  // whole suite against the instrumented build).
  const underCondition = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.includes(EXPLORE_CONDITION));
  it.skipIf(underCondition)('without the condition the normal cells are loaded and no scheduler can be installed', () => {
    expect(isInstrumented()).toBe(false);
    expect(() => setAtomicsScheduler({ access: () => 0, wait: () => 'ok', notify: () => 0 })).toThrow(EXPLORE_CONDITION);
  });

  it('with the condition every operation goes to the installed scheduler, and to Atomics without one', async () => {
    const w = new Worker(worker, { execArgv: [`--conditions=${EXPLORE_CONDITION}`] });
    try {
      const out = await withWatchdog(
        new Promise<{ ok: boolean; result: unknown; error?: { message: string } }>((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        }),
        20_000,
        'the explore worker did not report',
      );
      if (!out.ok) throw new Error(out.error?.message);
      expect(out.result).toEqual({
        instrumented: true,
        before: 0,
        r: 'timed-out',
        spun: 'timed-out',
        log: ['compareExchange@0', 'add@8', 'or@20', 'wait@0=5,Infinity', 'wait@0=5,Infinity', 'notify@0x1', 'load@0'],
        word: 5,
        big: '2',
        arr: 4,
      });
    } finally {
      await w.terminate();
    }
  });
});
