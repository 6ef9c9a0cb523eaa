/** Our job module: the tiny job of threadpool.tiny and threadpool.latency. */
export function add1(x: number): number {
  return x + 1;
}
