/** The peer of virtio.blk-iops: fs.readSync of `bs` bytes at random aligned offsets for `ms`; posts the count. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const { path, bs, ms, seed } = workerData as { path: string; bs: number; ms: number; seed: number };
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
