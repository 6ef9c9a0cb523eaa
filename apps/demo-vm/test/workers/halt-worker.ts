/**
 * Worker side of the HLT tests (interrupt-controller.test.ts): the vCPU
 * role. It makes an InterruptController, posts its handles, and halts
 * round after round while the test's main thread (the irqfd role) sets a
 * vector in each round, at a different point relative to the halt.
 */
import { parentPort } from 'node:worker_threads';
import { EventNotifier } from '@vmloop/event-notifier';
import { workerMain } from '@vmloop/test-kit/worker';
import { HaltSync } from './halt-sync.js';

type Module = typeof import('../../src/interrupt-controller.js');

export interface HaltJob {
  /** The built interrupt-controller.js (workers load built code). */
  readonly module: string;
  readonly sync: unknown;
  readonly rounds: number;
  /** Halt-poll windows, used round-robin (0: sleep at once). */
  readonly pollNs: readonly number[];
}

export interface HaltResult {
  readonly pendingFirst: string;
  readonly emptyPoll: string;
  readonly masks: string[];
  readonly kick: string;
  readonly haltSleeps: number;
  readonly haltPolls: number;
}

workerMain(async (job: HaltJob): Promise<HaltResult> => {
  const { InterruptController } = (await import(job.module)) as Module;
  const irq = new InterruptController(8);
  const sync = HaltSync.open(job.sync);

  // An interrupt already pending when HLT starts (set here, as an irqfd in
  // another thread would: the notifier does not care who sets it), with a
  // poll window far longer than the test's watchdog and no sleep allowed:
  // the halt must end at once with the vector, not spin out its window.
  EventNotifier.open(irq.handles.vectors[5]!).set();
  const pendingFirst = irq.halt(600e9, () => 0).toString();
  // Nothing pending, a 1 ms poll window and no sleep: the window must end
  // (the clock is read every few hundred rounds) and the halt return 0n.
  const emptyPoll = irq.halt(1e6, () => 0).toString();

  parentPort!.postMessage({ handles: irq.handles });
  const masks: string[] = [];
  for (let r = 0; r < job.rounds; r++) {
    sync.halting.store(r + 1);
    sync.halting.notify();
    // Sleeps may be long (60 s, past the watchdog): only the vector may end them.
    const mask = irq.halt(job.pollNs[r % job.pollNs.length]!, () => 60_000);
    masks.push(mask.toString());
    sync.done.store(r + 1);
  }
  // Last, a kick while asleep: the halt ends with no vector.
  sync.halting.store(job.rounds + 1);
  sync.halting.notify();
  const kick = irq.halt(0, () => 60_000).toString();
  return { pendingFirst, emptyPoll, masks, kick, haltSleeps: irq.haltSleeps, haltPolls: irq.haltPolls };
});
