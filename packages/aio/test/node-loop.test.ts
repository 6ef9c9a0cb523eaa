/**
 * The Node-loop attachment keeps the process alive exactly while something
 * can still run. Each case is a child process; a process that should exit
 * but does not is killed by spawnSync's timeout and fails the test.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const aio = JSON.stringify(fileURLToPath(new URL('../dist/index.js', import.meta.url)));
const notifier = JSON.stringify(fileURLToPath(new URL('../../event-notifier/dist/index.js', import.meta.url)));
const timers = JSON.stringify(fileURLToPath(new URL('../../timers/dist/index.js', import.meta.url)));

function run(body: string): { status: number | null; stdout: string; stderr: string } {
  const src = `import { AioContext, RemoteBottomHalf } from ${aio};\nimport { EventNotifier } from ${notifier};\nimport { Worker } from 'node:worker_threads';\n${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', src], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`child process did not exit by itself (kept alive with nothing to run?): ${r.error.message}\n${r.stdout}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('aio / node loop', () => {
  it('an attached context with nothing that can run lets the process exit', () => {
    const r = run(`const ctx = AioContext.create(); ctx.attachToNodeLoop(); console.log('attached');`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('attached\n');
  });

  it('a live handler keeps the process alive until a worker sets its notifier; removing it lets the process exit', () => {
    const r = run(`const ctx = AioContext.create();
const n = ctx.createNotifier();
ctx.setNotifierHandler(n, { onRead: (x) => { x.testAndClear(); console.log('handled'); ctx.setNotifierHandler(n, null); } });
ctx.attachToNodeLoop();
new Worker(\`import { workerData } from 'node:worker_threads'; import { EventNotifier } from \${JSON.stringify(${notifier})};
setTimeout(() => EventNotifier.open(workerData).set(), 200);\`, { eval: true, workerData: n.handle }).unref();`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('handled\n');
  });

  it('unref() lets the process exit although a handler is live', () => {
    const r = run(`const ctx = AioContext.create();
const n = ctx.createNotifier();
ctx.setNotifierHandler(n, { onRead: () => console.log('never') });
ctx.attachToNodeLoop().unref();
console.log('unref');`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('unref\n');
  });

  it('a BH scheduled by other Node code and one scheduled from a worker both run', () => {
    const r = run(`const ctx = AioContext.create();
const local = ctx.bh(() => { console.log('local'); local.delete(); }, { name: 'local' });
let remoteBh;
remoteBh = ctx.bh(() => { console.log('remote'); remoteBh.delete(); }, { name: 'remote' });
ctx.attachToNodeLoop();
setTimeout(() => local.schedule(), 20);
new Worker(\`import { workerData } from 'node:worker_threads'; import { RemoteBottomHalf } from \${JSON.stringify(${aio})};
setTimeout(() => RemoteBottomHalf.open(workerData).schedule(), 100);\`, { eval: true, workerData: remoteBh.handle });`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('local\nremote\n');
  });

  it('an error thrown by a callback goes to onError and the loop keeps running', () => {
    const r = run(`const ctx = AioContext.create();
const bad = ctx.bh(() => { throw new Error('boom'); });
const good = ctx.bh(() => { console.log('good'); good.delete(); bad.delete(); });
ctx.attachToNodeLoop({ onError: (e) => console.log('caught', e.message) });
bad.schedule(); good.schedule();`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('caught boom\ngood\n');
  });

  it('without onError a throwing callback is an uncaught exception, as in setImmediate', () => {
    const r = run(`const ctx = AioContext.create();
const bad = ctx.bh(() => { throw new Error('boom'); });
ctx.attachToNodeLoop();
bad.schedule();`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('boom');
  });

  it('an armed timer keeps the process alive until it fires; unref() lets the process exit first', () => {
    const alive = run(`import { SCALE_MS } from ${timers};
const ctx = AioContext.create();
const t = ctx.createTimer('realtime', SCALE_MS, () => console.log('fired'));
t.modNs(ctx.timers.clocks.now('realtime') + 150e6);
ctx.attachToNodeLoop();`);
    expect(alive.status).toBe(0);
    expect(alive.stdout).toBe('fired\n');
    const unrefd = run(`import { SCALE_MS } from ${timers};
const ctx = AioContext.create();
ctx.createTimer('realtime', SCALE_MS, () => console.log('fired')).modNs(ctx.timers.clocks.now('realtime') + 150e6);
ctx.attachToNodeLoop().unref();`);
    expect(unrefd.status).toBe(0);
    expect(unrefd.stdout).toBe('');
  });

  it('detach() stops the loop; attaching twice is ERR_ATTACHED', () => {
    const r = run(`const ctx = AioContext.create();
const n = ctx.createNotifier();
ctx.setNotifierHandler(n, { onRead: () => {} });
const a = ctx.attachToNodeLoop();
try { ctx.attachToNodeLoop(); } catch (e) { console.log(e.code); }
setTimeout(() => { a.detach(); a.stopped.then(() => console.log('stopped')); }, 50);`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('ERR_ATTACHED\nstopped\n');
  });
});
