/**
 * workerExecArgv(): every vmloop package starts its workers with it, so a
 * program run with flags a Worker's explicit execArgv refuses (`--expose-gc`,
 * V8 options) or under `node -e` must still get working workers.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const atomics = new URL('../dist/index.js', import.meta.url).href;

/** A module that starts a worker with workerExecArgv() and prints what the worker saw. */
const program = `
import { Worker } from 'node:worker_threads';
const { workerExecArgv } = await import(${JSON.stringify(atomics)});
const argv = workerExecArgv();
const w = new Worker('require("node:worker_threads").parentPort.postMessage(typeof gc)', { eval: true, execArgv: argv });
w.once('message', (m) => console.log(JSON.stringify({ argv: argv ?? null, gc: m })));
w.once('error', (e) => { console.error(e); process.exitCode = 1; });
`;

function run(args: string[]): Promise<{ argv: string[] | null; gc: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: fileURLToPath(new URL('..', import.meta.url)), timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`node ${args.slice(0, -1).join(' ')} failed: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout.trim()) as { argv: string[] | null; gc: string });
    });
  });
}

describe('atomics / workerExecArgv', () => {
  it('under node -e with --expose-gc and a V8 option: the eval code and the flags Workers refuse are left out, the worker starts, and the flags still apply', async () => {
    const r = await run(['--expose-gc', '--max-old-space-size=2048', '--no-warnings', '--input-type=module', '-e', program]);
    expect(r.argv).toEqual(['--no-warnings']);
    expect(r.gc).toBe('function'); // V8 flags are process-wide
  });

  it('running a file with --expose-gc, it leaves execArgv to Node (inherit), and the worker starts with the flag', async () => {
    const dir = new URL('../build/test/', import.meta.url);
    await mkdir(dir, { recursive: true });
    const file = fileURLToPath(new URL('exec-argv-program.mjs', dir));
    await writeFile(file, program);
    const r = await run(['--expose-gc', file]);
    expect(r.argv).toBeNull();
    expect(r.gc).toBe('function');
  });
});
