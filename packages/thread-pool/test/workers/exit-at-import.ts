/** A job module whose import ends the worker: every worker dies before its first request. */
process.exit(9);
export function never(): number {
  return 0;
}
