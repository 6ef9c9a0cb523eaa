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

// @vmloop/thread-pool starts its worker entry from inside the installed package.
{
  const { AioContext } = await import('@vmloop/aio');
  const { ThreadPool } = await import('@vmloop/thread-pool');
  const ctx = AioContext.create();
  const att = ctx.attachToNodeLoop();
  const pool = new ThreadPool(ctx, { jobs: new URL('./jobs.mjs', import.meta.url), max: 2 });
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => pool.submit('add1', i)));
  if (results.some((r, i) => r !== i + 1)) throw new Error(`thread-pool: wrong results ${results.slice(0, 5)}`);
  await pool.close();
  att.detach();
  ctx.destroy();
  console.log(`consumer: thread-pool ran 100 jobs (fast path ${pool.stats.fastPath}) and closed`);
}

// @vmloop/virtio: a guest on a vCPU worker drives virtio-blk on an IOThread,
// whose dataplane, thread-pool job module and IOThread module all load from
// inside the installed package.
{
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { AioContext } = await import('@vmloop/aio');
  const v = await import('@vmloop/virtio');
  const dir = mkdtempSync(join(tmpdir(), 'vmloop-consumer-'));
  const image = join(dir, 'disk.img');
  writeFileSync(image, new Uint8Array(1 << 20));
  const ctx = AioContext.create();
  const att = ctx.attachToNodeLoop();
  const memory = v.GuestMemory.create([{ gpa: 0, size: 16 << 20 }]);
  const irq = [EventNotifier.create(), EventNotifier.create()];
  const table = v.IoEventFdTable.create({ entries: 4, vcpus: 1 });
  const host = await v.BlkIothread.start({ name: 'consumer-blk', memory: memory.handle });
  const blk = await v.VirtioBlk.create({ path: image, hosts: [host], ioeventfds: table, queueSize: 64 });
  const device = new v.VirtioPciDevice({ model: blk, routes: { kind: 'vmloop.irq-routes', version: 1, msi: [irq.map((n) => n.handle)] }, ioeventfds: table });
  const bus = new v.PciBus();
  bus.plug(1, device);
  const exits = new v.ExitServer(ctx, (a) => bus.dispatch(a), { vcpus: 1 });
  const out = await new Promise((resolve, reject) => {
    const w = new Worker(new URL('./virtio-guest.mjs', import.meta.url), {
      workerData: { space: { exits: exits.handle, ioeventfds: table.handle }, memory: memory.handle, irq: irq.map((n) => n.handle) },
    });
    w.once('message', resolve);
    w.once('error', reject);
  });
  if (out.w !== 0 || out.r !== 0 || !out.ok) throw new Error(`virtio-blk: write status ${out.w}, read status ${out.r}, data ${out.ok ? 'ok' : 'wrong'}`);
  await device.reset();
  await host.stop();
  blk.close();
  exits.close();
  att.detach();
  rmSync(dir, { recursive: true, force: true });
  console.log(`consumer: a guest wrote and read back a block on virtio-blk over an IOThread (ioeventfd ${device.state.ioeventfd === 'disabled' ? 'off' : 'on'})`);
}
