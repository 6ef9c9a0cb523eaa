/**
 * Crash consistency of the demo's disks: kill -9 during writes and FLUSHes,
 * then the image against the journal. First the checker itself, on images
 * built with the guest's own stamps and planted damage it must catch; then
 * real trials (VMLOOP_CRASH_TRIALS, default 10).
 */
import { stampBlock } from '@vmloop/demo-vm/dist/guest/verify.js';
import { describe, expect, it } from 'vitest';
import { checkImage, formatTrial, JournalError, parseJournal, runTrial, type TrialResult, trialOptions } from '@vmloop/crash-check';

const BS = 4096;
const SECTORS = BS / 512;

/** An image of `blocks` blocks; `content[b]` = the seq block b holds (0: zeroes). */
function image(blocks: number, content: Record<number, number>): Uint8Array {
  const bytes = new Uint8Array(blocks * BS);
  const words = new Uint32Array(bytes.buffer);
  for (const [b, seq] of Object.entries(content)) {
    const blk = Number(b);
    if (seq > 0) stampBlock(words.subarray((blk * BS) / 4, ((blk + 1) * BS) / 4), 0, blk * SECTORS, seq);
  }
  return bytes;
}

// Block 1 written twice (#1, #3), block 2 once (#2), all before a completed
// FLUSH; then block 0 written (#4) after it, acknowledged but not flushed;
// then a FLUSH in flight.
const JOURNAL = 'W 0 1 1\nW 0 2 2\nW 0 1 3\nS 0 3\nF 0 3\nW 0 0 4\nS 0 4\n';

describe('crash-check / the checker', () => {
  it('a consistent image passes: every block zero or one complete write, nothing acknowledged missing', () => {
    const j = parseJournal(JOURNAL).disks.get(0)!;
    expect(j).toMatchObject({ writes: 3 + 1, syncs: 2, flushes: 1, flushInFlight: true });
    const r = checkImage(image(4, { 0: 4, 1: 3, 2: 2 }), BS, 0, j);
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ blocks: 4, stamped: 3, zero: 1, flushCovered: 2, acknowledged: 3, newerThanJournal: 0 });
    // A write newer than the journal (acknowledged after its last append, or in flight) is fine.
    expect(checkImage(image(4, { 0: 4, 1: 3, 2: 2, 3: 5 }), BS, 0, j).problems).toEqual([]);
  });

  it('planted: a flushed write lost (the block went back to its previous version)', () => {
    const j = parseJournal(JOURNAL).disks.get(0)!;
    const r = checkImage(image(4, { 0: 4, 1: 1, 2: 2 }), BS, 0, j);
    expect(r.problems).toEqual([expect.stringMatching(/block 1: write #3 was acknowledged before a FLUSH that completed, but the block holds #1: a flushed write is lost/)]);
  });

  it('planted: a flushed block back to zeroes', () => {
    const r = checkImage(image(4, { 0: 4, 1: 3 }), BS, 0, parseJournal(JOURNAL).disks.get(0)!);
    expect(r.problems).toEqual([expect.stringMatching(/block 2: write #2 .* holds zeroes: a flushed write is lost/)]);
  });

  it('planted: an acknowledged, not yet flushed write lost (kill -9 leaves the page cache, so this is a loss too)', () => {
    const r = checkImage(image(4, { 1: 3, 2: 2 }), BS, 0, parseJournal(JOURNAL).disks.get(0)!);
    expect(r.problems).toEqual([expect.stringMatching(/block 0: write #4 was acknowledged, but the block holds zeroes/)]);
  });

  it('planted: a torn block (its last sector still the older write)', () => {
    const img = image(4, { 0: 4, 1: 3, 2: 2 });
    const old = image(4, { 1: 1 });
    img.set(old.subarray(BS + 7 * 512, 2 * BS), BS + 7 * 512);
    const r = checkImage(img, BS, 0, parseJournal(JOURNAL).disks.get(0)!);
    expect(r.problems).toEqual([expect.stringMatching(/block 1: not one complete write of it: .*sector 15: bad sector header .*seq #1.*expected lba 15, seq #3/)]);
  });

  it('planted: a sector of another block, of another disk, and garbage', () => {
    const j = parseJournal(JOURNAL).disks.get(0)!;
    const misplaced = image(4, { 0: 4, 1: 3, 2: 2 });
    misplaced.copyWithin(2 * BS + 512, 1 * BS + 512, 1 * BS + 1024); // block 1's second sector into block 2
    expect(checkImage(misplaced, BS, 0, j).problems).toEqual([expect.stringMatching(/block 2: not one complete write of it: .*sector 17: bad sector header/)]);
    const wrongDisk = image(4, { 0: 4, 1: 3, 2: 2 });
    new Uint32Array(wrongDisk.buffer)[(2 * BS) / 4 + 3] = 1; // block 2's first sector says disk 1
    expect(checkImage(wrongDisk, BS, 0, j).problems).toEqual([expect.stringMatching(/block 2: not one complete write of it/)]);
    const garbage = image(4, { 0: 4, 1: 3, 2: 2 });
    garbage[3 * BS + 100] = 0x5a; // block 3 was never written: must stay zero
    expect(checkImage(garbage, BS, 0, j).problems).toEqual([expect.stringMatching(/block 3: not one complete write of it: .*never written, but holds data/)]);
    const fill = image(4, { 0: 4, 1: 3, 2: 2 });
    fill[2 * BS + 2000] = fill[2 * BS + 2000]! ^ 1; // a data byte of block 2
    expect(checkImage(fill, BS, 0, j).problems).toEqual([expect.stringMatching(/block 2: not one complete write of it: .*data corrupted/)]);
  });

  it('planted: a block holding a write the journal acknowledged for another block', () => {
    // Block 3 stamped as block 3 with seq #2 — but #2 went to block 2.
    const r = checkImage(image(4, { 0: 4, 1: 3, 2: 2, 3: 2 }), BS, 0, parseJournal(JOURNAL).disks.get(0)!);
    expect(r.problems).toEqual(['block 3 holds write #2, which the journal acknowledged for block 2']);
  });

  it('journals: a torn last line is ignored; contradictions are errors, not verdicts', () => {
    expect(parseJournal(`${JOURNAL}W 0 3 `)).toMatchObject({ lines: 7, partialLastLine: true });
    expect(() => parseJournal('W 0 1 1\nF 0 1\n')).toThrow(JournalError);
    expect(() => parseJournal('W 0 1 2\nW 0 1 1\n')).toThrow(/block 1 acknowledged write #1 after #2/);
    expect(() => parseJournal('S 0 1\nS 0 2\n')).toThrow(/while another was in flight/);
  });
});

const TRIALS = Number(process.env.VMLOOP_CRASH_TRIALS ?? 10);

describe('crash-check / kill -9 trials', () => {
  it(`${TRIALS} trials: the demo killed at a random moment during writes and FLUSHes; every image consistent with its journal`, async () => {
    const seed = Date.now() % 0x7fffffff;
    const results: TrialResult[] = [];
    for (const [i, o] of trialOptions(seed, TRIALS).entries()) {
      const t = await runTrial(o);
      results.push(t);
      console.log(formatTrial(i, t));
    }
    const midFlush = results.filter((t) => t.killedMidFlush).length;
    console.log(`seed ${seed}: ${results.reduce((a, t) => a + t.writes, 0)} acknowledged writes, ${results.reduce((a, t) => a + t.flushes, 0)} FLUSHes completed, ${midFlush} of ${TRIALS} trials killed mid-flush`);
    for (const t of results) expect(t.problems, `${t.problems.join('\n')}\nreproduce the workload: ${t.command}`).toEqual([]);
    // The trials did exercise something: writes were acknowledged and FLUSHes completed.
    expect(results.some((t) => t.writes > 0 && t.flushes > 0)).toBe(true);
  });
});
