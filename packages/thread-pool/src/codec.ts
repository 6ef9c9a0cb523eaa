/**
 * The fast path's value encoding: small values travel in the request slot's
 * payload bytes instead of through postMessage. What does not fit — large
 * values, SharedArrayBuffers, transferables — takes the message path.
 */
import { deserialize, serialize } from 'node:v8';
import type { TransferListItem } from 'node:worker_threads';

export const TAG_UNDEFINED = 0;
export const TAG_NULL = 1;
export const TAG_FALSE = 2;
export const TAG_TRUE = 3;
export const TAG_NUMBER = 4;
export const TAG_STRING = 5;
/** v8.serialize bytes (structured clone) in the payload. */
export const TAG_V8 = 6;
/** The value travels as a message on the worker's port. */
export const TAG_MESSAGE = 7;
/** A job error (v8-serialized SerializedError) in the payload. */
export const TAG_ERROR = 8;
/** A job error on the message path. */
export const TAG_ERROR_MESSAGE = 9;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Where a slot's payload lives. */
export interface PayloadView {
  readonly bytes: Uint8Array;
  readonly view: DataView;
}

/** encode()'s result: the tag in the low 4 bits, the length above (no array per call). */
export const encodedTag = (e: number): number => e & 0xf;
export const encodedLength = (e: number): number => e >>> 4;
const enc = (tag: number, length: number): number => tag | (length << 4);

/**
 * Encodes `value` into `bytes[offset, offset+size)`; returns its tag and
 * length packed (encodedTag, encodedLength), TAG_MESSAGE when it must take
 * the message path.
 */
export function encode(value: unknown, p: PayloadView, offset: number, size: number, forceMessage = false): number {
  if (forceMessage) return enc(TAG_MESSAGE, 0);
  switch (typeof value) {
    case 'undefined':
      return enc(TAG_UNDEFINED, 0);
    case 'boolean':
      return enc(value ? TAG_TRUE : TAG_FALSE, 0);
    case 'number':
      p.view.setFloat64(offset, value, true);
      return enc(TAG_NUMBER, 8);
    case 'string': {
      if (value.length * 3 <= size) {
        const { written } = encoder.encodeInto(value, p.bytes.subarray(offset, offset + size));
        return enc(TAG_STRING, written);
      }
      return enc(TAG_MESSAGE, 0);
    }
    default:
      break;
  }
  if (value === null) return enc(TAG_NULL, 0);
  if (typeof value === 'object' && !holdsShared(value, 0)) {
    let buf: Buffer;
    try {
      buf = serialize(value);
    } catch {
      return enc(TAG_MESSAGE, 0); // SharedArrayBuffers and the like: structured clone by message
    }
    if (buf.length <= size) {
      p.bytes.set(buf, offset);
      return enc(TAG_V8, buf.length);
    }
  }
  return enc(TAG_MESSAGE, 0);
}

/**
 * Whether `value` holds a SharedArrayBuffer (or might: past a small budget
 * the answer is yes). v8.serialize would copy its bytes, while structured
 * clone by message shares them — so such values take the message path.
 */
function holdsShared(value: object, depth: number): boolean {
  if (value instanceof SharedArrayBuffer) return true;
  if (ArrayBuffer.isView(value)) return value.buffer instanceof SharedArrayBuffer;
  if (value instanceof ArrayBuffer) return false;
  if (depth > 3) return true;
  let budget = 64;
  const check = (v: unknown): boolean => typeof v === 'object' && v !== null && (--budget < 0 || holdsShared(v, depth + 1));
  if (Array.isArray(value)) return value.some(check);
  if (value instanceof Map) {
    for (const [k, v] of value) if (check(k) || check(v)) return true;
    return false;
  }
  if (value instanceof Set) {
    for (const v of value) if (check(v)) return true;
    return false;
  }
  return Object.values(value).some(check);
}

/** Decodes a payload value (not TAG_MESSAGE). */
export function decode(tag: number, len: number, p: PayloadView, offset: number): unknown {
  switch (tag) {
    case TAG_UNDEFINED:
      return undefined;
    case TAG_NULL:
      return null;
    case TAG_FALSE:
      return false;
    case TAG_TRUE:
      return true;
    case TAG_NUMBER:
      return p.view.getFloat64(offset, true);
    case TAG_STRING:
      return decoder.decode(p.bytes.subarray(offset, offset + len));
    case TAG_V8:
    case TAG_ERROR:
      return deserialize(p.bytes.slice(offset, offset + len));
    default:
      throw new Error(`thread-pool: bad payload tag ${tag}`);
  }
}

/** A job result or argument with objects to transfer instead of copy (see `transfer`). */
export class Transfer<T> {
  constructor(
    readonly value: T,
    readonly transferList: readonly TransferListItem[],
  ) {}
}

/**
 * Marks `value` to be moved, not copied: the objects in `transferList`
 * (ArrayBuffers, MessagePorts, …) are transferred (piscina's `move()`).
 * Return it from a job, or pass it as a job's argument.
 */
export function transfer<T>(value: T, transferList: readonly TransferListItem[]): Transfer<T> {
  return new Transfer(value, transferList);
}
