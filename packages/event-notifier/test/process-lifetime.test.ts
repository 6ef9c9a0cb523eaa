import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url));

function run(body: string): { status: number | null; stdout: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { EventNotifier, NotifierSet } from ${JSON.stringify(entry)};\n${body}`], {
    encoding: 'utf8',
    timeout: 30_000, // watchdog: a wait that keeps the process alive forever fails here
  });
  if (r.error) throw new Error(`child process did not exit by itself: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, ms: performance.now() - t0 };
}

describe('event-notifier / process lifetime', () => {
  it('a process whose only pending thing is an unref\'d wait exits', () => {
    const r = run(`EventNotifier.create().waitAsync(600000, { ref: false }).then((v) => console.log('resolved', v));
NotifierSet.create().waitAsync(600000, { ref: false }).then((v) => console.log('resolved set', v));`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
  });

  it("a ref'd wait keeps the process alive until it resolves", () => {
    const r = run(`EventNotifier.create().waitAsync(200).then((v) => console.log('notifier', v));
NotifierSet.create().waitAsync(200).then((v) => console.log('set', v.length));`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('notifier false\nset 0\n');
  });

  it("a ref'd wait that is closed lets the process exit", () => {
    const r = run(`const n = EventNotifier.create();
n.waitAsync().catch((e) => console.log(e.code));
setTimeout(() => n.close(), 10);`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('ERR_NOTIFIER_CLOSED\n');
  });
});
