/**
 * One crash trial: a fresh sparse image, the demo writing to it with
 * frequent FLUSHes and a journal, `kill -9` at a chosen moment, then the
 * image checked against the journal (check-image.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkImage, type ImageReport } from './check-image.js';
import { type Journal, JournalError, parseJournal } from './journal.js';

export const DEMO_CLI = fileURLToPath(import.meta.resolve('@vmloop/demo-vm/dist/cli.js'));

export interface TrialOptions {
  /** The guest's workload seed (--seed). */
  readonly seed: number;
  readonly rw: 'randwrite' | 'randrw';
  /** Milliseconds after the spawn to send SIGKILL. */
  readonly killAfterMs: number;
  /** Image size in MiB (default 8). */
  readonly sizeMiB?: number;
  /** Block size in bytes (default 4096: one page, which a kill cannot tear; see the README). */
  readonly bs?: number;
  /** Keep the image and journal (in `dir`) when the trial fails. */
  readonly keepOnFailure?: boolean;
}

export interface TrialResult {
  readonly options: TrialOptions;
  /** The demo command line, to reproduce the workload. */
  readonly command: string;
  /** How the demo ended: 'SIGKILL' when our kill ended it. */
  readonly ended: string;
  readonly lines: number;
  readonly writes: number;
  readonly syncs: number;
  readonly flushes: number;
  /** The last FLUSH was submitted and had not completed when the process died. */
  readonly killedMidFlush: boolean;
  readonly partialLastLine: boolean;
  readonly image: ImageReport | undefined;
  /** Empty when the image is consistent with the journal. */
  readonly problems: readonly string[];
  readonly ok: boolean;
  /** Where the image and journal were kept (failures with keepOnFailure). */
  readonly kept: string | undefined;
}

export async function runTrial(o: TrialOptions): Promise<TrialResult> {
  const bs = o.bs ?? 4096;
  const dir = mkdtempSync(join(tmpdir(), 'vmloop-crash-'));
  const img = join(dir, 'disk.img');
  const journalPath = join(dir, 'journal.txt');
  writeFileSync(img, '');
  truncateSync(img, (o.sizeMiB ?? 8) << 20);
  const args = [
    '--disk', img, '--rw', o.rw, '--bs', String(bs), '--flush-every', '32', '--verify', '--vcpus', '1', '--iothreads', '1',
    '--duration', '120', '--memory', '64', '--json', '--journal', journalPath, '--seed', String(o.seed),
  ];
  const child = spawn(process.execPath, [DEMO_CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8192)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const killer = setTimeout(() => child.kill('SIGKILL'), o.killAfterMs);
  const { code, signal } = await exited;
  clearTimeout(killer);
  const ended = signal ?? `status ${code}`;
  const problems: string[] = [];
  if (signal !== 'SIGKILL') problems.push(`the demo ended on its own (${ended}) before the kill:\n${stderr}`);
  let journal: Journal | undefined;
  try {
    journal = parseJournal(readFileSync(journalPath, 'utf8'));
  } catch (e) {
    problems.push(e instanceof JournalError ? e.message : `journal: ${(e as Error).message}`);
  }
  const d = journal?.disks.get(0);
  if (journal !== undefined && [...journal.disks.keys()].some((k) => k !== 0)) problems.push(`journal names disks other than 0: ${[...journal.disks.keys()].join(', ')}`);
  let image: ImageReport | undefined;
  if (journal !== undefined) {
    image = checkImage(new Uint8Array(readFileSync(img)), bs, 0, d);
    problems.push(...image.problems);
  }
  const ok = problems.length === 0;
  const kept = !ok && o.keepOnFailure === true ? dir : undefined;
  if (kept === undefined) rmSync(dir, { recursive: true, force: true });
  return {
    options: o,
    command: `node ${DEMO_CLI} ${args.join(' ')}`,
    ended,
    lines: journal?.lines ?? 0,
    writes: d?.writes ?? 0,
    syncs: d?.syncs ?? 0,
    flushes: d?.flushes ?? 0,
    killedMidFlush: d?.flushInFlight ?? false,
    partialLastLine: journal?.partialLastLine ?? false,
    image,
    problems,
    ok,
    kept,
  };
}

/** xorshift32, for reproducible kill moments and seeds from one `--seed`. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/** The options of trial `i` of a series started with `seed`: kill between 0.5 and 3 s, randwrite and randrw alternating. */
export function trialOptions(seed: number, count: number): TrialOptions[] {
  const r = rng(seed);
  return Array.from({ length: count }, (_, i) => ({
    seed: 1 + Math.floor(r() * 0x7ffffffe),
    rw: i % 2 === 0 ? 'randwrite' : 'randrw',
    killAfterMs: Math.round(500 + r() * 2500),
  }));
}

/** One line about a trial. */
export function formatTrial(i: number, t: TrialResult): string {
  const o = t.options;
  const img = t.image;
  const head = `trial ${String(i + 1).padStart(2)}: ${o.rw.padEnd(9)} seed ${String(o.seed).padStart(10)}, kill -9 at ${(o.killAfterMs / 1000).toFixed(2)} s`;
  const lines = `${t.writes} W, ${t.syncs} S, ${t.flushes} F${t.killedMidFlush ? ' (killed mid-flush)' : ''}${t.partialLastLine ? ', torn last journal line' : ''}`;
  const blocks = img === undefined ? 'image not checked' : `${img.blocks} blocks: ${img.stamped} stamped, ${img.zero} zero, ${img.flushCovered} covered by the last completed FLUSH, ${img.acknowledged} acknowledged, ${img.newerThanJournal} newer than the journal`;
  return `${head}: ${lines}; ${blocks}: ${t.ok ? 'consistent' : `INCONSISTENT\n    ${t.problems.join('\n    ')}${t.kept ? `\n    kept in ${t.kept}` : ''}`}`;
}
