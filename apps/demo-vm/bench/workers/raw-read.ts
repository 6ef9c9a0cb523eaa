/**
 * The peer of virtio.blk-iops: fs.readSync of `bs` bytes at random aligned
 * offsets for `ms`; posts the count. With `cpu`, first pins itself there
 * (the CPU the VM's iothread gets in the same bench).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { osThreadId } from '@vmloop/atomics';

const { path, bs, ms, seed, cpu } = workerData as { path: string; bs: number; ms: number; seed: number; cpu?: number };
if (cpu !== undefined) {
  // The demo's own pinning (its build: this runs from build/bench/workers), as --pin does it for the VM's threads.
  const { pinThread } = (await import(new URL('../../../dist/pinning.js', import.meta.url).href)) as typeof import('../../src/pinning.js');
  pinThread({ name: 'the peer', tid: osThreadId() ?? null }, cpu);
}
const fd = openSync(path, 'r');
const blocks = Math.floor(fstatSync(fd).size / bs);
const buf = new Uint8Array(new SharedArrayBuffer(bs));
let x = seed * 2654435761;
let n = 0;
const end = performance.now() + ms;
while (performance.now() < end) {
  for (let i = 0; i < 64; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    readSync(fd, buf, 0, bs, ((x >>> 0) % blocks) * bs);
    n++;
  }
}
closeSync(fd);
parentPort!.postMessage(n);
