import { AtomicsError } from './errors.js';
import type { Fields, Instance, Layout } from './layout.js';

/** The structured-cloneable handle of a sync primitive: its kind and where it lives. */
export interface PrimitiveHandle<K extends string> {
  readonly kind: K;
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
}

/** @internal The handle of `instance`, tagged with `kind`. */
export function handleOf<K extends string, F extends Fields>(kind: K, instance: Instance<F>): PrimitiveHandle<K> {
  return { kind, buffer: instance.buffer, byteOffset: instance.byteOffset };
}

/** @internal Opens a handle of `kind`, or throws ERR_BAD_HANDLE. */
export function openHandle<F extends Fields>(kind: string, layout: Layout<F>, handle: unknown): Instance<F> {
  const h = handle as Partial<PrimitiveHandle<string>> | null;
  if (typeof h !== 'object' || h === null || h.kind !== kind) {
    throw new AtomicsError('ERR_BAD_HANDLE', `not a ${kind} handle (use .handle of the object)`);
  }
  try {
    return layout.open(h);
  } catch (e) {
    throw new AtomicsError('ERR_BAD_HANDLE', `malformed ${kind} handle`, { cause: e });
  }
}

/** @internal Milliseconds left until `deadline` (performance.now() based), or Infinity. */
export function remaining(deadline: number): number {
  return deadline === Number.POSITIVE_INFINITY ? deadline : Math.max(0, deadline - performance.now());
}

/** @internal The deadline for a timeout in ms. */
export function deadlineOf(timeoutMs: number): number {
  return timeoutMs === Number.POSITIVE_INFINITY ? timeoutMs : performance.now() + timeoutMs;
}
