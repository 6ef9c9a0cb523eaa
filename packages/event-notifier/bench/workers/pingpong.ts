/**
 * One side of a two-worker ping-pong. Side 'a' starts each round and times
 * the whole run; side 'b' answers. Both sides first meet at a start
 * barrier so worker start-up is not measured.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';
import { Start } from './start.js';

export type PingPongJob =
  | { kind: 'notifier'; side: 'a' | 'b'; rounds: number; spins: number; ping: EventNotifierHandle; pong: EventNotifierHandle; start: unknown }
  | { kind: 'raw'; side: 'a' | 'b'; rounds: number; words: SharedArrayBuffer; start: unknown }
  | { kind: 'port'; side: 'a' | 'b'; rounds: number; port: MessagePort; start: unknown };

const job = workerData as PingPongJob;

function meet(): void {
  const s = Start.open(job.start);
  s.ready.add(1);
  s.ready.notify();
  for (let r = s.ready.load(); r < 2; r = s.ready.load()) s.ready.wait(r);
}

function finish(elapsedNs: number): void {
  parentPort!.postMessage(elapsedNs);
}

switch (job.kind) {
  case 'notifier': {
    const ping = EventNotifier.open(job.ping);
    const pong = EventNotifier.open(job.pong);
    const opts = { spins: job.spins };
    meet();
    const t0 = process.hrtime.bigint();
    if (job.side === 'a') {
      for (let i = 0; i < job.rounds; i++) {
        ping.set();
        while (!pong.testAndClear()) pong.wait(undefined, opts);
      }
    } else {
      for (let i = 0; i < job.rounds; i++) {
        while (!ping.testAndClear()) ping.wait(undefined, opts);
        pong.set();
      }
    }
    finish(Number(process.hrtime.bigint() - t0));
    break;
  }
  case 'raw': {
    // The peer: the bare platform primitive, exactly as a program would write
    // it without vmloop (store, notify, wait-while-zero, reset). Benchmark
    // code only; protocol code goes through @vmloop/atomics.
    const w = new Int32Array(job.words);
    const [mine, theirs] = job.side === 'a' ? [1, 0] : [0, 1];
    meet();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < job.rounds; i++) {
      if (job.side === 'a') {
        Atomics.store(w, theirs, 1);
        Atomics.notify(w, theirs);
      }
      while (Atomics.load(w, mine) === 0) Atomics.wait(w, mine, 0);
      Atomics.store(w, mine, 0);
      if (job.side === 'b') {
        Atomics.store(w, theirs, 1);
        Atomics.notify(w, theirs);
      }
    }
    finish(Number(process.hrtime.bigint() - t0));
    break;
  }
  case 'port': {
    const port = job.port;
    meet();
    const t0 = process.hrtime.bigint();
    let n = 0;
    port.on('message', () => {
      if (job.side === 'b') {
        port.postMessage(0);
        if (++n === job.rounds) {
          port.close();
          finish(Number(process.hrtime.bigint() - t0));
        }
      } else if (++n < job.rounds) port.postMessage(0);
      else {
        port.close();
        finish(Number(process.hrtime.bigint() - t0));
      }
    });
    if (job.side === 'a') port.postMessage(0);
    break;
  }
}
