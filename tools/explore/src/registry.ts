/**
 * Which memory a cell is, across threads, and what it is called.
 *
 * A SharedArrayBuffer has no identity a second thread can see: the clone a
 * worker receives is another object over the same memory. So each schedule
 * numbers the buffers: a thread numbers the ones it creates (from the
 * control block's counter, while it holds the baton), and the handles of a
 * schedule travel with the numbers of the buffers in them, in the order a
 * deterministic walk meets them (structured clone keeps that order). A cell
 * is then `buffer number · 2^22 + byte offset`, the same in every thread.
 *
 * Names come from the layouts: the explorer wraps `Layout.prototype.at` in
 * its workers (never in a normal process) to record, per buffer, which byte
 * range is which field of which layout, so a step prints as
 * `aio.context[4].notifyMe` instead of a number.
 */
import { type Field, type Fields, Layout } from '@vmloop/atomics';
import { NEXT_SAB } from './control.js';

/** Byte offsets per buffer number in a cell key. */
export const KEY_SPAN = 1 << 22;
/** Buffer numbers fit below this (keys stay 31-bit). */
const MAX_BUFFERS = 511;

/** A named byte range of a buffer: one field of one layout instance. */
export interface NameRange {
  readonly start: number;
  readonly end: number;
  /** The layout the field belongs to. */
  readonly layout: string;
  readonly field: string;
  /** Bytes per element for arrays and struct arrays (0 for one word). */
  readonly elem: number;
}

function sizeOf(f: Field): [number, number] {
  switch (f.kind) {
    case 'int32':
      return [4, 0];
    case 'bigInt64':
      return [8, 0];
    case 'int32Array':
      return [4 * f.length, 4];
    case 'bigInt64Array':
      return [8 * f.length, 8];
    case 'bytes':
      return [f.length, 1];
    case 'struct':
      return [f.layout.byteLength * f.count, f.layout.byteLength];
  }
}

/** One schedule's numbering of buffers in this thread, and the names it saw. */
export class Registry {
  private ids = new WeakMap<SharedArrayBuffer, number>();
  private seen = new Set<string>();
  readonly names = new Map<number, NameRange[]>();

  constructor(private readonly ctl: Int32Array) {}

  /** Forgets everything (a new schedule). */
  reset(): void {
    this.ids = new WeakMap();
    this.seen.clear();
    this.names.clear();
  }

  /** The number of `buffer` in this schedule (numbering it if new). */
  idOf(buffer: ArrayBufferLike): number {
    const sab = buffer as SharedArrayBuffer;
    let id = this.ids.get(sab);
    if (id === undefined) {
      id = this.ctl[NEXT_SAB]!;
      if (id > MAX_BUFFERS) throw new Error(`explore: more than ${MAX_BUFFERS} shared buffers in one schedule`);
      this.ctl[NEXT_SAB] = id + 1;
      this.ids.set(sab, id);
    }
    return id;
  }

  /** The key of element `index` of `view`. */
  keyOf(view: { readonly buffer: ArrayBufferLike; readonly byteOffset: number; readonly BYTES_PER_ELEMENT: number }, index: number): number {
    const offset = view.byteOffset + index * view.BYTES_PER_ELEMENT;
    if (offset >= KEY_SPAN) throw new Error(`explore: byte offset ${offset} is beyond the ${KEY_SPAN}-byte buffers the explorer names`);
    return this.idOf(view.buffer) * KEY_SPAN + offset;
  }

  /** The buffers in `value`, in walk order, with their numbers (the sender's side of a hand-over). */
  export(value: unknown): number[] {
    return buffersIn(value).map((b) => this.idOf(b));
  }

  /** Adopts the numbers of the buffers in `value` (the receiver's side). */
  adopt(value: unknown, ids: readonly number[]): void {
    const buffers = buffersIn(value);
    if (buffers.length !== ids.length) throw new Error(`explore: handles hold ${buffers.length} buffers, the sender numbered ${ids.length}`);
    buffers.forEach((b, i) => {
      this.ids.set(b, ids[i]!);
    });
  }

  /** Records the fields of `layout` placed at `byteOffset` of `buffer`. */
  name<F extends Fields>(layout: Layout<F>, buffer: SharedArrayBuffer, byteOffset: number): void {
    const id = this.idOf(buffer);
    const tag = `${id}:${byteOffset}:${layout.name}`;
    if (this.seen.has(tag)) return;
    this.seen.add(tag);
    let list = this.names.get(id);
    if (list === undefined) this.names.set(id, (list = []));
    for (const [field, f] of Object.entries(layout.fields)) {
      const start = byteOffset + (layout.offsets as Record<string, number>)[field]!;
      const [size, elem] = sizeOf(f);
      list.push({ start, end: start + size, layout: layout.name, field, elem });
    }
  }

  /** This thread's names, to post to thread 0. */
  exportNames(): [number, NameRange[]][] {
    return [...this.names.entries()];
  }
}

/** The SharedArrayBuffers reachable from `value`, each once, in a deterministic order. */
export function buffersIn(value: unknown): SharedArrayBuffer[] {
  const out: SharedArrayBuffer[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    if (v instanceof SharedArrayBuffer) {
      out.push(v);
      return;
    }
    if (ArrayBuffer.isView(v)) {
      walk(v.buffer);
      return;
    }
    if (Array.isArray(v)) {
      for (const x of v) walk(x);
      return;
    }
    for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k]);
  };
  walk(value);
  return out;
}

/** Names of cells from every thread's records: `layout.field[i].inner`. */
export class NameBook {
  private readonly ranges = new Map<number, NameRange[]>();

  add(entries: Iterable<[number, NameRange[]]>): void {
    for (const [id, list] of entries) {
      const mine = this.ranges.get(id) ?? [];
      for (const r of list) if (!mine.some((m) => m.start === r.start && m.layout === r.layout && m.field === r.field)) mine.push(r);
      this.ranges.set(id, mine);
    }
  }

  /** The name of a cell key. */
  name(key: number): string {
    const id = Math.floor(key / KEY_SPAN);
    const offset = key % KEY_SPAN;
    const hits: NameRange[] = [];
    // Outermost first; one name per byte range (a layout's header, placed
    // over the same bytes as the full layout, names the same fields).
    for (const r of this.ranges.get(id) ?? []) {
      if (r.start <= offset && offset < r.end && !hits.some((h) => h.start === r.start && h.end === r.end)) hits.push(r);
    }
    hits.sort((a, b) => b.end - b.start - (a.end - a.start));
    if (hits.length === 0) return `buffer${id}+0x${offset.toString(16)}`;
    let name = hits[0]!.layout;
    for (const r of hits) {
      name += `.${r.field}`;
      if (r.elem !== 0) name += `[${Math.floor((offset - r.start) / r.elem)}]`;
    }
    return name;
  }
}

let current: Registry | undefined;

/**
 * Wraps `Layout.prototype.at` so every layout placed in this thread is
 * named in `registry` (explorer workers only).
 */
export function nameLayouts(registry: Registry): void {
  if (current === undefined) {
    const at = Layout.prototype.at;
    Layout.prototype.at = function <F extends Fields>(this: Layout<F>, buffer: SharedArrayBuffer, byteOffset = 0) {
      const instance = at.call(this, buffer, byteOffset) as ReturnType<Layout<F>['at']>;
      current?.name(this, buffer, byteOffset);
      return instance;
    };
  }
  current = registry;
}
