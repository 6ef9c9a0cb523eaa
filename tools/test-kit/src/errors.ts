/** The brand every vmloop error carries (see VmloopError in @vmloop/atomics), read here without importing it. */
const BRAND = Symbol.for('vmloop.error');

function isVmloopError(e: unknown): e is Error & { code: string } {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * Calls `fn` and returns the `code` of the vmloop error it throws, or
 * undefined if it returns. Fails (throws) if it throws anything that is not
 * a vmloop error, or — with `isInstance` — not that package's error class.
 */
export function thrownCode(fn: () => unknown, isInstance: (e: unknown) => boolean = isVmloopError): string | undefined {
  try {
    fn();
  } catch (e) {
    if (!isVmloopError(e) || !isInstance(e)) throw new Error(`expected a vmloop error, got ${String(e)}`, { cause: e });
    return e.code;
  }
  return undefined;
}
