/** Formatting for the messages of errors and broken-queue reasons. */

/** `0x…` for a non-negative safe integer, else the number as it is. */
export function hex(n: number): string {
  return Number.isSafeInteger(n) && n >= 0 ? `0x${n.toString(16)}` : String(n);
}

/** The 64-bit address `hi:lo` in hex, exactly (also at or above 2^53). */
export function hex64(lo: number, hi: number): string {
  return `0x${((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString(16)}`;
}
