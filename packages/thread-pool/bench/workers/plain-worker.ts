/** piscina and tinypool worker: the default export is the task. */
export default function add1(x: number): number {
  return x + 1;
}
