/** Runs the built CLI as a child process, with a watchdog that kills it and says what it printed. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

export interface DemoRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function startDemo(args: readonly string[]): { child: ChildProcess; done: Promise<DemoRun> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<DemoRun>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

/** Runs to completion; kills it after `limitMs` and throws with its output (a hang is a failure, never a stuck test). */
export async function runDemo(args: readonly string[], limitMs = 60_000): Promise<DemoRun> {
  const { child, done } = startDemo(args);
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const r = await done;
  clearTimeout(timer);
  if (r.signal === 'SIGKILL') throw new Error(`vmloop-demo ${args.join(' ')} did not finish in ${limitMs} ms\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r;
}

/** The --json result of a run. */
export function resultOf(r: DemoRun): Record<string, unknown> & { verify: string; requests: number; deviceResets: number; config: Record<string, unknown> } {
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`no JSON result (exit ${r.code}):\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}
