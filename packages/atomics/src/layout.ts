/**
 * Layouts: named, aligned shared words carved out of a SharedArrayBuffer.
 *
 * A package declares its shared state once, by name, with a comment per
 * field saying who writes it, who reads it and which operation pairs with
 * which; everything else refers to the fields by name, never by offset:
 *
 * ```ts
 * const Slot = defineLayout('example.slot', {
 *   // Written by any setter (exchange), read by the waiter (load, futex wait).
 *   value: int32({ align: CACHE_LINE }),
 *   // Written by waiters (add/sub), read by setters (load) to skip notify.
 *   waiters: int32(),
 * });
 * const mine = Slot.create();            // fresh SharedArrayBuffer
 * worker.postMessage(Slot.handle(mine)); // { buffer, byteOffset }
 * const theirs = Slot.open(handle);      // in the worker
 * ```
 *
 * Offsets are assigned in declaration order, each aligned to its natural
 * size or to `align` (a power of two, e.g. {@link CACHE_LINE} to keep two
 * hot words off the same cache line). `describe()` prints the byte map.
 */
// ./cell.js, or the instrumented cells under --conditions=vmloop-explore (testing.ts).
import { BigInt64Cell, BigInt64CellArray, Int32Cell, Int32CellArray } from '#cell';
import { AtomicsError, checkInt } from './errors.js';

/** Bytes in a cache line on the machines vmloop targets (x86-64, arm64). */
export const CACHE_LINE = 64;

interface FieldBase {
  readonly align: number;
}
/** A 32-bit cell field. */
export interface Int32Field extends FieldBase {
  readonly kind: 'int32';
}
/** A 64-bit bigint cell field. */
export interface BigInt64Field extends FieldBase {
  readonly kind: 'bigInt64';
}
/** A run of 32-bit cells. */
export interface Int32ArrayField extends FieldBase {
  readonly kind: 'int32Array';
  readonly length: number;
}
/** A run of 64-bit bigint cells. */
export interface BigInt64ArrayField extends FieldBase {
  readonly kind: 'bigInt64Array';
  readonly length: number;
}
/** Payload bytes: plain (non-atomic) access, published through an atomic word. */
export interface BytesField extends FieldBase {
  readonly kind: 'bytes';
  readonly length: number;
}
/** `count` copies of a nested layout, each starting at a multiple of its alignment. */
export interface StructField<F extends Fields> extends FieldBase {
  readonly kind: 'struct';
  readonly layout: Layout<F>;
  readonly count: number;
}

/** Any field a layout may hold. */
export type Field =
  | Int32Field
  | BigInt64Field
  | Int32ArrayField
  | BigInt64ArrayField
  | BytesField
  // biome-ignore lint/suspicious/noExplicitAny: a nested layout of any shape
  | StructField<any>;

/** The fields of a layout, by name. */
export type Fields = Record<string, Field>;

/** Alignment option for a field: a power of two ≥ the field's natural alignment. */
export interface FieldOptions {
  readonly align?: number;
}

/** The object a field turns into in an instance. */
export type FieldValue<T extends Field> = T extends Int32Field
  ? Int32Cell
  : T extends BigInt64Field
    ? BigInt64Cell
    : T extends Int32ArrayField
      ? Int32CellArray
      : T extends BigInt64ArrayField
        ? BigInt64CellArray
        : T extends BytesField
          ? Uint8Array
          : T extends StructField<infer G>
            ? StructArray<G>
            : never;

/** A layout placed in a buffer: its fields by name, plus where it lives. */
export type Instance<F extends Fields> = { readonly [K in keyof F]: FieldValue<F[K]> } & {
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
};

/** The structured-cloneable description of an instance, to post to another thread. */
export interface LayoutHandle {
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
}

/** `count` instances of a nested layout, created on demand by `at(i)`. */
export class StructArray<F extends Fields> {
  /** @internal */
  constructor(
    readonly layout: Layout<F>,
    readonly buffer: SharedArrayBuffer,
    readonly byteOffset: number,
    readonly length: number,
  ) {}

  /** Instance `i` (a new object each call; cache it if it is hot). */
  at(i: number): Instance<F> {
    if (!(i >>> 0 === i && i < this.length)) {
      throw new AtomicsError('ERR_LAYOUT_BOUNDS', `${this.layout.name}[${String(i)}] outside [0, ${this.length})`);
    }
    return this.layout.at(this.buffer, this.byteOffset + i * this.layout.byteLength);
  }
}

const RESERVED = new Set(['buffer', 'byteOffset']);
const MAX_ALIGN = 4096;

function checkAlign(natural: number, options: FieldOptions | undefined): number {
  const a = options?.align ?? natural;
  if (!Number.isInteger(a) || a < natural || a > MAX_ALIGN || (a & (a - 1)) !== 0) {
    throw new AtomicsError('ERR_INVALID_ARGUMENT', `align must be a power of two in [${natural}, ${MAX_ALIGN}], got ${String(a)}`);
  }
  return a;
}
function checkLength(length: number): number {
  return checkInt('length', length, 0, 0x3fffffff);
}

/** A 32-bit cell. */
export function int32(options?: FieldOptions): Int32Field {
  return { kind: 'int32', align: checkAlign(4, options) };
}
/** A 64-bit bigint cell. */
export function bigInt64(options?: FieldOptions): BigInt64Field {
  return { kind: 'bigInt64', align: checkAlign(8, options) };
}
/** `length` 32-bit cells. */
export function int32Array(length: number, options?: FieldOptions): Int32ArrayField {
  return { kind: 'int32Array', length: checkLength(length), align: checkAlign(4, options) };
}
/** `length` 64-bit bigint cells. */
export function bigInt64Array(length: number, options?: FieldOptions): BigInt64ArrayField {
  return { kind: 'bigInt64Array', length: checkLength(length), align: checkAlign(8, options) };
}
/** `length` payload bytes (plain access). */
export function bytes(length: number, options?: FieldOptions): BytesField {
  return { kind: 'bytes', length: checkLength(length), align: checkAlign(1, options) };
}
/** `count` consecutive instances of `layout`. */
export function struct<F extends Fields>(layout: Layout<F>, count: number, options?: FieldOptions): StructField<F> {
  return { kind: 'struct', layout, count: checkLength(count), align: checkAlign(layout.alignment, options) };
}

function sizeOf(f: Field): number {
  switch (f.kind) {
    case 'int32':
      return 4;
    case 'bigInt64':
      return 8;
    case 'int32Array':
      return 4 * f.length;
    case 'bigInt64Array':
      return 8 * f.length;
    case 'bytes':
      return f.length;
    case 'struct':
      return f.layout.byteLength * f.count;
  }
}

const roundUp = (n: number, a: number): number => Math.ceil(n / a) * a;

interface Views {
  readonly i32: Int32Array;
  readonly i64: BigInt64Array;
}
// One Int32Array and one BigInt64Array per buffer, shared by all cells in it.
const viewCache = new WeakMap<SharedArrayBuffer, Views>();
function viewsOf(buffer: SharedArrayBuffer): Views {
  let v = viewCache.get(buffer);
  if (v === undefined) {
    v = {
      i32: new Int32Array(buffer, 0, buffer.byteLength >>> 2),
      i64: new BigInt64Array(buffer, 0, Math.floor(buffer.byteLength / 8)),
    };
    viewCache.set(buffer, v);
  }
  return v;
}

/** A named shared-memory layout. Create with {@link defineLayout}. */
export class Layout<F extends Fields> {
  /** Byte offset of each field from the start of an instance. */
  readonly offsets: { readonly [K in keyof F]: number };
  /** Bytes one instance occupies (a multiple of `alignment`). */
  readonly byteLength: number;
  /** Required alignment of an instance's byte offset. */
  readonly alignment: number;

  /** @internal */
  constructor(
    readonly name: string,
    readonly fields: F,
  ) {
    let offset = 0;
    let alignment = 4;
    const offsets: Record<string, number> = {};
    for (const [key, f] of Object.entries(fields)) {
      if (RESERVED.has(key)) throw new AtomicsError('ERR_INVALID_ARGUMENT', `${name}: field name "${key}" is reserved`);
      offset = roundUp(offset, f.align);
      offsets[key] = offset;
      offset += sizeOf(f);
      alignment = Math.max(alignment, f.align);
    }
    this.offsets = offsets as { [K in keyof F]: number };
    this.alignment = alignment;
    this.byteLength = roundUp(Math.max(offset, 4), alignment);
  }

  /** A fresh zero-filled SharedArrayBuffer holding one instance at offset 0. */
  create(): Instance<F> {
    return this.at(new SharedArrayBuffer(roundUp(this.byteLength, 8)), 0);
  }

  /** The instance at `byteOffset` of `buffer` (bounds and alignment checked). */
  at(buffer: SharedArrayBuffer, byteOffset = 0): Instance<F> {
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw new AtomicsError('ERR_INVALID_ARGUMENT', `${this.name}: buffer must be a SharedArrayBuffer`);
    }
    if (!Number.isSafeInteger(byteOffset) || byteOffset < 0 || byteOffset % this.alignment !== 0) {
      throw new AtomicsError('ERR_LAYOUT_BOUNDS', `${this.name}: byteOffset ${String(byteOffset)} is not a multiple of ${this.alignment}`);
    }
    if (byteOffset + this.byteLength > buffer.byteLength) {
      throw new AtomicsError(
        'ERR_LAYOUT_BOUNDS',
        `${this.name}: ${this.byteLength} bytes at ${byteOffset} exceed the buffer's ${buffer.byteLength}`,
      );
    }
    const { i32, i64 } = viewsOf(buffer);
    const out: Record<string, unknown> = { buffer, byteOffset };
    for (const [key, f] of Object.entries(this.fields)) {
      const at = byteOffset + (this.offsets as Record<string, number>)[key]!;
      switch (f.kind) {
        case 'int32':
          out[key] = new Int32Cell(i32, at >>> 2);
          break;
        case 'bigInt64':
          out[key] = new BigInt64Cell(i64, at / 8);
          break;
        case 'int32Array':
          out[key] = new Int32CellArray(i32, at >>> 2, f.length);
          break;
        case 'bigInt64Array':
          out[key] = new BigInt64CellArray(i64, at / 8, f.length);
          break;
        case 'bytes':
          out[key] = new Uint8Array(buffer, at, f.length);
          break;
        case 'struct':
          out[key] = new StructArray(f.layout, buffer, at, f.count);
          break;
      }
    }
    return out as Instance<F>;
  }

  /** The handle of an instance: post it to another thread and `open` it there. */
  handle(instance: Instance<F>): LayoutHandle {
    return { buffer: instance.buffer, byteOffset: instance.byteOffset };
  }

  /** Re-creates an instance from a handle received from another thread. */
  open(handle: unknown): Instance<F> {
    const h = handle as Partial<LayoutHandle> | null;
    if (typeof h !== 'object' || h === null || !(h.buffer instanceof SharedArrayBuffer) || typeof h.byteOffset !== 'number') {
      throw new AtomicsError('ERR_BAD_HANDLE', `${this.name}: not a layout handle ({ buffer: SharedArrayBuffer, byteOffset: number })`);
    }
    return this.at(h.buffer, h.byteOffset);
  }

  /** The byte map, one line per field: `0x0000  +4  value  int32`. */
  describe(): string {
    const lines = [`${this.name}: ${this.byteLength} bytes, align ${this.alignment}`];
    for (const [key, f] of Object.entries(this.fields)) {
      const off = (this.offsets as Record<string, number>)[key]!;
      const shape = 'length' in f ? `${f.kind}[${f.length}]` : f.kind === 'struct' ? `${f.layout.name}[${f.count}]` : f.kind;
      lines.push(`  0x${off.toString(16).padStart(4, '0')}  +${sizeOf(f)}  ${key}  ${shape}`);
    }
    return lines.join('\n');
  }
}

/**
 * Declares a layout. `name` appears in errors and in `describe()`.
 * Field names `buffer` and `byteOffset` are reserved.
 */
export function defineLayout<F extends Fields>(name: string, fields: F): Layout<F> {
  return new Layout(name, fields);
}

/**
 * A family of layouts that differ by one size (a capacity, an iteration
 * count): `family(n)` defines the layout for `n` once and returns the same
 * Layout afterwards.
 */
export function layoutFamily<F extends Fields>(name: string, fieldsOf: (n: number) => F): (n: number) => Layout<F> {
  const cache = new Map<number, Layout<F>>();
  return (n) => {
    let l = cache.get(n);
    if (l === undefined) {
      l = defineLayout(`${name}[${n}]`, fieldsOf(n));
      cache.set(n, l);
    }
    return l;
  };
}
