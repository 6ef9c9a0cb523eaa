/**
 * The demo's `--journal FILE`, as the guest writes it (apps/demo-vm
 * src/guest/kernel.ts): `W disk block seq` when a write was acknowledged
 * (its completion reaped), `S disk seq` when a FLUSH is submitted — every W
 * line of that disk before it is covered by that flush — and `F disk seq`
 * when that FLUSH completed. A process killed while appending may leave a
 * last line without its newline: it is ignored.
 */

/** What the checker needs from a journal, per disk. */
export interface DiskJournal {
  /** The last acknowledged write's seq per block (0: none). */
  readonly lastWrite: Map<number, number>;
  /** The same, as of the S line of the last FLUSH that completed (the writes that flush made durable). */
  readonly lastFlushed: Map<number, number>;
  /** Which block each acknowledged write's seq went to. */
  readonly blockOfSeq: Map<number, number>;
  writes: number;
  syncs: number;
  flushes: number;
  /** The last S line has no F line after it: the process died with that FLUSH in flight. */
  flushInFlight: boolean;
}

export interface Journal {
  readonly disks: Map<number, DiskJournal>;
  /** Complete lines read. */
  readonly lines: number;
  /** A last line without its newline was ignored. */
  readonly partialLastLine: boolean;
}

/** Thrown for a journal that contradicts itself (a bug in the guest or in this parser, not in the disk). */
export class JournalError extends Error {
  override name = 'JournalError';
}

function disk(map: Map<number, DiskJournal>, d: number): DiskJournal {
  let j = map.get(d);
  if (j === undefined) {
    j = { lastWrite: new Map(), lastFlushed: new Map(), blockOfSeq: new Map(), writes: 0, syncs: 0, flushes: 0, flushInFlight: false };
    map.set(d, j);
  }
  return j;
}

/** Parses a journal's text. */
export function parseJournal(text: string): Journal {
  const disks = new Map<number, DiskJournal>();
  const end = text.lastIndexOf('\n') + 1;
  const body = text.slice(0, end);
  const partialLastLine = end < text.length;
  // Per disk: the S line in flight (its seq and the writes it covers).
  const pending = new Map<number, { seq: number; covered: Map<number, number> }>();
  let lines = 0;
  for (const line of body.split('\n')) {
    if (line === '') continue;
    lines++;
    const f = line.split(' ');
    const nums = f.slice(1).map(Number);
    if (nums.some((n) => !Number.isSafeInteger(n) || n < 0)) throw new JournalError(`journal line ${lines}: bad numbers in "${line}"`);
    const d = disk(disks, nums[0]!);
    switch (f[0]) {
      case 'W': {
        if (f.length !== 4) throw new JournalError(`journal line ${lines}: "${line}" is not "W disk block seq"`);
        const [, block, seq] = nums as [number, number, number];
        const prev = d.lastWrite.get(block) ?? 0;
        // One vCPU numbers its writes in submission order and never has two
        // in flight on one block: a block's writes complete in seq order.
        if (seq <= prev) throw new JournalError(`journal line ${lines}: block ${block} acknowledged write #${seq} after #${prev}`);
        if (d.blockOfSeq.has(seq)) throw new JournalError(`journal line ${lines}: write #${seq} acknowledged twice`);
        d.lastWrite.set(block, seq);
        d.blockOfSeq.set(seq, block);
        d.writes++;
        break;
      }
      case 'S': {
        if (f.length !== 3) throw new JournalError(`journal line ${lines}: "${line}" is not "S disk seq"`);
        if (pending.has(nums[0]!)) throw new JournalError(`journal line ${lines}: a FLUSH was submitted while another was in flight on disk ${nums[0]}`);
        pending.set(nums[0]!, { seq: nums[1]!, covered: new Map(d.lastWrite) });
        d.syncs++;
        d.flushInFlight = true;
        break;
      }
      case 'F': {
        if (f.length !== 3) throw new JournalError(`journal line ${lines}: "${line}" is not "F disk seq"`);
        const p = pending.get(nums[0]!);
        if (p === undefined || p.seq !== nums[1]) throw new JournalError(`journal line ${lines}: FLUSH completion "${line}" matches no submitted FLUSH (in flight: ${p ? `S ${nums[0]} ${p.seq}` : 'none'})`);
        pending.delete(nums[0]!);
        d.lastFlushed.clear();
        for (const [b, s] of p.covered) d.lastFlushed.set(b, s);
        d.flushes++;
        d.flushInFlight = false;
        break;
      }
      default:
        throw new JournalError(`journal line ${lines}: unknown record "${line}"`);
    }
  }
  return { disks, lines, partialLastLine };
}
