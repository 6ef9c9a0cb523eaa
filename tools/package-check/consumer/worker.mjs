import { parentPort, workerData } from 'node:worker_threads';
import { EventNotifier } from '@vmloop/event-notifier';

const { side, rounds } = workerData;
const ping = EventNotifier.open(workerData.ping);
const pong = EventNotifier.open(workerData.pong);
const [mine, theirs] = side === 'ping' ? [pong, ping] : [ping, pong];
let n = 0;
for (let i = 0; i < rounds; i++) {
  if (side === 'ping') theirs.set();
  while (!mine.testAndClear()) mine.wait(10_000);
  if (side === 'pong') theirs.set();
  n++;
}
parentPort.postMessage(n);
