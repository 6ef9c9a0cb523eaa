/** Job module of the thread-pool tests: every export is a job. */
import { transfer } from '@vmloop/thread-pool';

export function add1(x: number): number {
  return x + 1;
}
export function echo<T>(v: T): T {
  return v;
}
export async function echoLater<T>(v: T): Promise<T> {
  await new Promise((r) => setTimeout(r, 1));
  return v;
}
/** Blocks the worker for `ms` (a job that is running while others queue). */
export function sleep(ms: number): number {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return ms;
}
/** Busy for `us` microseconds (a job whose completion lands at a chosen moment of the home thread's poll window). */
export function spinFor(us: number): number {
  const until = performance.now() + us / 1000;
  while (performance.now() < until);
  return us;
}
export function fail(message: string): never {
  throw Object.assign(new RangeError(message), { code: 'E_JOB' });
}
export function exitProcess(code: number): never {
  process.exit(code);
}
export function crashLater(): string {
  setTimeout(() => {
    throw new Error('uncaught outside a job');
  }, 1);
  return 'scheduled';
}
export function big(n: number): string {
  return 'x'.repeat(n);
}
/** Fills a transferred buffer and moves it back. */
export function fillAndReturn(buf: ArrayBuffer): unknown {
  new Uint8Array(buf).fill(7);
  return transfer(buf, [buf]);
}
export function byteLengthOf(buf: ArrayBuffer): number {
  return buf.byteLength;
}
/** Writes into a SharedArrayBuffer view it received (shared, not copied). */
export function writeShared(view: Int32Array): number {
  Atomics.store(view, 0, 42);
  return view.length;
}
/** Reads and bumps word `i` of the pool's workerData buffer (a SharedArrayBuffer, shared with every worker). */
export function bumpShared(i: number, wd: { words: SharedArrayBuffer; tag: string }): string {
  const old = Atomics.add(new Int32Array(wd.words), i, 1);
  return `${wd.tag}:${old}`;
}
/** Waits until `n` jobs are inside `meet` at once (word 0 of workerData.words): n distinct workers each finish one request. */
export function meet(n: number, wd: { words: SharedArrayBuffer }): number {
  const a = new Int32Array(wd.words);
  Atomics.add(a, 0, 1);
  Atomics.notify(a, 0);
  for (let v = Atomics.load(a, 0); v < n; v = Atomics.load(a, 0)) Atomics.wait(a, 0, v);
  return n;
}
/**
 * Meets the other jobs of its round: `arg` is round * 8 + n; waits (at most
 * 2 s) until n jobs of the round are inside at once, on word `round` of
 * workerData.words. Returns 1 if they met, 0 if it gave up: some request
 * of the round never reached a worker while this one held its own.
 */
export function meetRound(arg: number, wd: { words: SharedArrayBuffer }): number {
  const round = Math.floor(arg / 8);
  const n = arg % 8;
  const a = new Int32Array(wd.words);
  Atomics.add(a, round, 1);
  Atomics.notify(a, round);
  const deadline = Date.now() + 2000;
  for (let v = Atomics.load(a, round); v < n; v = Atomics.load(a, round)) {
    const left = deadline - Date.now();
    if (left <= 0) return 0;
    Atomics.wait(a, round, v, left);
  }
  return 1;
}
