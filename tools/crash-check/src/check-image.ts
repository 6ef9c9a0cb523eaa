/**
 * The image check after a crash. Every block must be all zeroes (never
 * written) or one complete write of that block: each 512-byte sector
 * stamped with the demo's header (magic, its own LBA, the same seq, the
 * disk) and fill — checked by the guest's own `checkBlock`
 * (apps/demo-vm/src/guest/verify.ts), so there is one definition of a
 * stamp. A torn write (sectors of two versions), a sector of another block
 * or another disk, or garbage all fail it.
 *
 * Then against the journal: every block whose last write acknowledged
 * before the last completed FLUSH's S line has seq s must hold a seq ≥ s
 * (a block's later writes have larger seqs) — the durability promise of
 * FLUSH. Because a killed process leaves the page cache to the kernel, and
 * the device writes straight into the file (no cache of its own), every
 * acknowledged write must be there too, flushed or not: checked the same
 * way. And a block may hold a seq the journal gave to another block never.
 */
import { checkBlock } from '@vmloop/demo-vm/dist/guest/verify.js';
import type { DiskJournal } from './journal.js';

export interface ImageReport {
  readonly blocks: number;
  /** Blocks holding a complete stamp. */
  readonly stamped: number;
  /** Blocks still all zeroes. */
  readonly zero: number;
  /** Blocks the last completed FLUSH covers (a write of theirs was acknowledged before its S line). */
  readonly flushCovered: number;
  /** Blocks with an acknowledged write. */
  readonly acknowledged: number;
  /** Blocks holding a write newer than the journal's last W line for them (acknowledged after the journal's last append, or in flight at the kill). */
  readonly newerThanJournal: number;
  /** What is wrong, first problems first (empty: consistent). */
  readonly problems: readonly string[];
}

const MAX_PROBLEMS = 20;

/** Checks `image` (disk `disk`, blocks of `bs` bytes) against its journal (`undefined`: nothing was journaled). */
export function checkImage(image: Uint8Array, bs: number, disk: number, journal: DiskJournal | undefined): ImageReport {
  if (bs % 512 !== 0 || image.byteLength % bs !== 0) throw new Error(`crash-check: image of ${image.byteLength} bytes is not a whole number of ${bs}-byte blocks`);
  const blocks = image.byteLength / bs;
  const words = new Uint32Array(image.buffer, image.byteOffset, image.byteLength / 4);
  const problems: string[] = [];
  const problem = (p: string): void => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
    else if (problems.length === MAX_PROBLEMS) problems.push('…');
  };
  let stamped = 0;
  let zero = 0;
  let flushCovered = 0;
  let acknowledged = 0;
  let newerThanJournal = 0;
  const wordsPerBlock = bs / 4;
  for (let b = 0; b < blocks; b++) {
    const view = words.subarray(b * wordsPerBlock, (b + 1) * wordsPerBlock);
    const sector = b * (bs / 512);
    // The block's first sector says which write it claims to be; checkBlock
    // then requires every sector to be exactly that write (seq 0: zeroes).
    const claimed = view[2]! >>> 0;
    const r = checkBlock(view, disk, sector, claimed, undefined, true);
    if (!r.ok) {
      problem(`block ${b}: not one complete write of it: ${r.why}`);
      continue;
    }
    const holds = r.seq;
    if (holds === 0) zero++;
    else stamped++;
    const other = holds === 0 ? undefined : journal?.blockOfSeq.get(holds);
    if (other !== undefined && other !== b) problem(`block ${b} holds write #${holds}, which the journal acknowledged for block ${other}`);
    const flushed = journal?.lastFlushed.get(b) ?? 0;
    if (flushed > 0) {
      flushCovered++;
      if (holds < flushed) problem(`block ${b}: write #${flushed} was acknowledged before a FLUSH that completed, but the block holds ${holds === 0 ? 'zeroes' : `#${holds}`}: a flushed write is lost`);
    }
    const acked = journal?.lastWrite.get(b) ?? 0;
    if (acked > 0) {
      acknowledged++;
      if (holds < acked && !(flushed > 0 && holds < flushed)) problem(`block ${b}: write #${acked} was acknowledged, but the block holds ${holds === 0 ? 'zeroes' : `#${holds}`} (the page cache survives kill -9: an acknowledged write is lost)`);
    }
    if (holds > acked) newerThanJournal++;
  }
  return { blocks, stamped, zero, flushCovered, acknowledged, newerThanJournal, problems };
}
