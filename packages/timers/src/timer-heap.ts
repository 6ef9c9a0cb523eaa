/**
 * An indexed binary min-heap over timer *slots*, keyed by (expiry, arm
 * sequence) so equal expiries pop in arm order. Keys, positions and the
 * heap itself are typed arrays indexed by slot: a sift step reads and
 * writes contiguous numbers and never touches a Timer object, which keeps
 * 100k–1M armed timers cheap. push, remove (any slot) and pop are
 * O(log n); peek is O(1). QEMU keeps a sorted linked list (O(n) insert).
 */
export class TimerHeap {
  /** Expiry (ns) per slot. */
  private expire = new Float64Array(64);
  /** Arm sequence per slot. */
  private seqs = new Float64Array(64);
  /** Heap position per slot, -1 when not in the heap. */
  private pos = new Int32Array(64).fill(-1);
  /** Slot per heap position. */
  private heap = new Int32Array(64);
  private n = 0;

  get size(): number {
    return this.n;
  }

  /** Makes room for slots [0, slots). */
  reserve(slots: number): void {
    if (slots <= this.pos.length) return;
    let cap = this.pos.length;
    while (cap < slots) cap *= 2;
    const grow = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T, fill?: number): T => {
      const b = make(cap);
      if (fill !== undefined) b.fill(fill);
      b.set(a);
      return b;
    };
    this.expire = grow(this.expire, (n) => new Float64Array(n));
    this.seqs = grow(this.seqs, (n) => new Float64Array(n));
    this.pos = grow(this.pos, (n) => new Int32Array(n), -1);
    this.heap = grow(this.heap, (n) => new Int32Array(n));
  }

  /** The slot with the smallest key, or -1. */
  peek(): number {
    return this.n === 0 ? -1 : this.heap[0]!;
  }

  /** Expiry of a slot that is in the heap. */
  expiryOf(slot: number): number {
    return this.expire[slot]!;
  }

  contains(slot: number): boolean {
    return this.pos[slot]! >= 0;
  }

  push(slot: number, expireNs: number, seq: number): void {
    this.expire[slot] = expireNs;
    this.seqs[slot] = seq;
    const i = this.n++;
    this.up(i, slot);
  }

  remove(slot: number): void {
    const i = this.pos[slot]!;
    this.pos[slot] = -1;
    const lastSlot = this.heap[--this.n]!;
    if (lastSlot === slot) return;
    if (i > 0 && this.before(lastSlot, this.heap[(i - 1) >> 1]!)) this.up(i, lastSlot);
    else this.down(i, lastSlot);
  }

  private before(a: number, b: number): boolean {
    const ea = this.expire[a]!;
    const eb = this.expire[b]!;
    return ea < eb || (ea === eb && this.seqs[a]! < this.seqs[b]!);
  }

  /** Places `slot` at hole `i`, moving it towards the root. */
  private up(i: number, slot: number): void {
    const heap = this.heap;
    const pos = this.pos;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (!this.before(slot, parent)) break;
      heap[i] = parent;
      pos[parent] = i;
      i = p;
    }
    heap[i] = slot;
    pos[slot] = i;
  }

  /** Places `slot` at hole `i`, moving it towards the leaves. */
  private down(i: number, slot: number): void {
    const heap = this.heap;
    const pos = this.pos;
    const n = this.n;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const r = c + 1;
      if (r < n && this.before(heap[r]!, heap[c]!)) c = r;
      const child = heap[c]!;
      if (!this.before(child, slot)) break;
      heap[i] = child;
      pos[child] = i;
      i = c;
    }
    heap[i] = slot;
    pos[slot] = i;
  }
}
