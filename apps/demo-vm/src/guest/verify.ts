/**
 * Data verification (--verify): every written block carries, in each of its
 * 512-byte sectors, a header { magic, LBA, sequence, disk } and a fill
 * derived from them; every read checks the block against the sequence the
 * guest last wrote there. A block whose write was in flight when the
 * machine was reset may hold either version: both are accepted until a
 * read settles it. Plain payload access: these are data bytes.
 */
export const STAMP_MAGIC = 0x564d4c50; // 'VMLP'

/** What the guest knows about one disk's blocks. Lives outside the guest kernel, so it survives a system reset. */
export class DiskVerifyState {
  /** Last sequence written to each block (0: never written in this run). */
  readonly seq: Uint32Array;
  /** Blocks with writes in flight at a reset: the other sequences they may hold. */
  readonly maybe = new Map<number, number[]>();
  constructor(
    readonly disk: number,
    readonly blocks: number,
    /** The image was created empty for this run: unwritten blocks read as zeroes. */
    readonly fresh: boolean,
  ) {
    this.seq = new Uint32Array(blocks);
  }
}

/** Fills `view` (a block in guest RAM) with the stamps of `seq` for block `block` of `disk`. */
export function stampBlock(view: Uint32Array, disk: number, firstSector: number, seq: number): void {
  for (let s = 0, w = 0; w < view.length; s++, w += 128) {
    view[w] = STAMP_MAGIC;
    view[w + 1] = firstSector + s;
    view[w + 2] = seq;
    view[w + 3] = disk;
    const k = Math.imul(seq ^ (firstSector + s), 0x9e3779b1);
    for (let i = 4; i < 128; i++) view[w + i] = (k + i) | 0;
  }
}

/**
 * Checks a block just read. Returns undefined if it holds `expected` (or
 * `alternative`), else a description of the first bad sector. Sequence 0
 * with `fresh` means the block was never written: it must be all zeroes.
 */
export function checkBlock(view: Uint32Array, disk: number, firstSector: number, expected: number, alternatives: readonly number[] | undefined, fresh: boolean): { ok: true; seq: number } | { ok: false; why: string } {
  const seq = view[2]! >>> 0;
  if (expected === 0 && alternatives === undefined) {
    if (!fresh) return { ok: true, seq: 0 };
    for (let i = 0; i < view.length; i++) {
      if (view[i] !== 0) return { ok: false, why: `disk ${disk} sector ${firstSector + Math.floor(i / 128)}: never written, but holds data (word ${i} = 0x${(view[i]! >>> 0).toString(16)})` };
    }
    return { ok: true, seq: 0 };
  }
  const allowed = seq === expected || (alternatives?.includes(seq) ?? false);
  if (!allowed || (seq === 0 && view[0] !== 0)) {
    const alts = alternatives === undefined ? '' : ` or #${alternatives.join(', #')}`;
    return { ok: false, why: `disk ${disk} sector ${firstSector}: expected write #${expected}${alts}, found #${seq} (magic 0x${(view[0]! >>> 0).toString(16)}, lba ${view[1]})` };
  }
  if (seq === 0) {
    // Never written (fresh image): all zeroes, or it was never ours to check.
    if (!fresh) return { ok: true, seq: 0 };
    for (let i = 0; i < view.length; i++) if (view[i] !== 0) return { ok: false, why: `disk ${disk} sector ${firstSector + Math.floor(i / 128)}: expected zeroes, found data` };
    return { ok: true, seq: 0 };
  }
  for (let s = 0, w = 0; w < view.length; s++, w += 128) {
    if (view[w] !== STAMP_MAGIC || view[w + 1] !== firstSector + s || view[w + 2] !== seq || view[w + 3] !== disk) {
      return { ok: false, why: `disk ${disk} sector ${firstSector + s}: bad sector header (magic 0x${(view[w]! >>> 0).toString(16)}, lba ${view[w + 1]}, seq #${view[w + 2]}, disk ${view[w + 3]}; expected lba ${firstSector + s}, seq #${seq})` };
    }
    const k = Math.imul(seq ^ (firstSector + s), 0x9e3779b1);
    for (let i = 4; i < 128; i++) {
      if (view[w + i] !== ((k + i) >>> 0)) return { ok: false, why: `disk ${disk} sector ${firstSector + s}: data corrupted at byte ${i * 4} (write #${seq})` };
    }
  }
  return { ok: true, seq };
}
