// Runs from the installed tarballs only (see ../check.mjs).
import { Worker } from 'node:worker_threads';
import { runLitmus } from '@vmloop/atomics';
import { EventNotifier } from '@vmloop/event-notifier';

const rounds = 10_000;
const ping = EventNotifier.create();
const pong = EventNotifier.create();
const start = (side) =>
  new Promise((resolve, reject) => {
    const w = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: { side, rounds, ping: ping.handle, pong: pong.handle } });
    w.once('message', resolve);
    w.once('error', reject);
  });
const watchdog = setTimeout(() => {
  console.error('consumer: ping-pong stalled (lost wake-up?)');
  process.exit(1);
}, 30_000);
const [a, b] = await Promise.all([start('ping'), start('pong')]);
clearTimeout(watchdog);
if (a !== rounds || b !== rounds) throw new Error(`ping-pong counted ${a} and ${b}, expected ${rounds}`);
console.log(`consumer: ${rounds} notifier round trips between two workers`);

// The litmus harness starts its own worker entry from inside the installed package.
const r = await runLitmus({ shape: 'SB', mode: 'atomic', iterations: 10_000 });
if (r.forbiddenCount !== 0) throw new Error(`litmus: forbidden outcome seen ${r.forbiddenCount} times with Atomics`);
console.log(`consumer: litmus SB/atomic ${r.iterations} iterations, histogram ${JSON.stringify(r.histogram)}`);

// @vmloop/aio starts its IOThread worker entry from inside the installed package.
const { IOThread } = await import('@vmloop/aio');
const io = await IOThread.start({ name: 'consumer-io' });
const info = await io.query();
io.context.notify();
const final = await io.stop();
console.log(`consumer: IOThread ${info.name} (thread ${info.threadId}, poll-max-ns ${info.poll.maxNs}) ran ${final.polls} polls and stopped`);

// @vmloop/atomics/testing: the normal build here, the instrumented one in a
// worker started with the condition (its dist/explore files ship in the tarball).
const testing = await import('@vmloop/atomics/testing');
if (testing.isInstrumented()) throw new Error('@vmloop/atomics: the instrumented build loaded without --conditions=vmloop-explore');
const instrumented = await new Promise((resolve, reject) => {
  const src = "import('@vmloop/atomics/testing').then((t) => require('node:worker_threads').parentPort.postMessage(t.isInstrumented()))";
  const w = new Worker(src, { eval: true, execArgv: [`--conditions=${testing.EXPLORE_CONDITION}`] });
  w.once('message', resolve);
  w.once('error', reject);
});
if (instrumented !== true) throw new Error('@vmloop/atomics: --conditions=vmloop-explore did not load the instrumented build');
console.log('consumer: @vmloop/atomics/testing: normal build by default, instrumented under --conditions=vmloop-explore');
