#!/usr/bin/env node
/**
 * npm run explore [-- --harness NAME] [--bound N] [--por] [--max N] [--time S]
 *                 [--replay STEPS] [--max-steps N] [--list] [--json]
 *
 * Without --harness, runs every harness (protocols and planted mutants) and
 * prints one line each; exits 1 unless every protocol passed and every
 * mutant was caught. With --replay, runs one schedule of one harness and
 * prints it step by step.
 */
import { parseArgs } from 'node:util';
import { asExpected, explore } from './explore.js';
import { listHarnesses } from './harnesses/index.js';
import type { ExploreReport } from './types.js';

const { values } = parseArgs({
  options: {
    harness: { type: 'string', short: 'h', multiple: true },
    bound: { type: 'string', short: 'b' },
    por: { type: 'boolean' },
    max: { type: 'string', short: 'n' },
    time: { type: 'string', short: 't' },
    replay: { type: 'string', short: 'r' },
    'max-steps': { type: 'string' },
    'spin-limit': { type: 'string' },
    list: { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
  },
});

const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const err = (s: string): boolean => process.stderr.write(`${s}\n`);

function line(r: ExploreReport): string {
  const verdict = r.failure === undefined ? 'pass' : 'FAIL';
  const ok = asExpected(r) ? 'as expected' : 'UNEXPECTED';
  const scope = r.exhaustive ? 'exhaustive' : `stopped: ${r.stoppedBy}`;
  return `${r.harness.padEnd(34)} bound ${r.bound}${r.por ? '+por' : '    '}  ${String(r.schedules).padStart(8)} schedules  ${scope.padEnd(22)} max ${String(r.maxSteps).padStart(4)} steps  ${(r.elapsedMs / 1000).toFixed(1).padStart(6)} s  ${verdict} (${ok})`;
}

function printFailure(r: ExploreReport): void {
  const f = r.failure!;
  console.log(`\n${r.harness}: ${f.kind}`);
  console.log(`  found in schedule ${f.schedule}, at step ${f.step}, by ${f.thread}`);
  if (f.error !== '') console.log(`  ${f.error.split('\n').slice(0, 6).join('\n  ')}`);
  console.log(`threads at the end:\n${f.threads}`);
  console.log('schedule (» preemption, ~ switch after a block or finish, t timeout):');
  console.log(f.trace);
  console.log(`replay: npm run explore -- --harness ${r.harness} --replay ${f.replay === '' ? '""' : f.replay}\n`);
}

async function main(): Promise<number> {
  const all = await listHarnesses();
  if (values.list === true) {
    for (const { harness } of all) console.log(`${harness.name.padEnd(34)} ${harness.expect === 'fail' ? 'mutant  ' : 'protocol'}  ${harness.description}`);
    return 0;
  }
  const names = values.harness ?? all.map((h) => h.harness.name);
  let bad = 0;
  for (const name of names) {
    const r = await explore({
      harness: name,
      ...(values.bound !== undefined ? { bound: num(values.bound)! } : {}),
      ...(values.por === true ? { por: true } : {}),
      ...(values.max !== undefined ? { maxSchedules: num(values.max)! } : {}),
      ...(values.time !== undefined ? { timeBudgetMs: num(values.time)! * 1000 } : {}),
      ...(values.replay !== undefined ? { replay: values.replay } : {}),
      ...(values['max-steps'] !== undefined ? { maxSteps: num(values['max-steps'])! } : {}),
      ...(values['spin-limit'] !== undefined ? { spinLimit: num(values['spin-limit'])! } : {}),
      onProgress: (n, ms) => {
        if (values.quiet !== true) err(`  ${name}: ${n} schedules, ${(ms / 1000).toFixed(0)} s`);
      },
    });
    if (values.json === true) console.log(JSON.stringify(r));
    else {
      console.log(line(r));
      if (r.failure !== undefined && (values.quiet !== true || !asExpected(r))) printFailure(r);
      if (r.trace !== undefined) console.log(r.trace);
    }
    if (!asExpected(r) && values.replay === undefined) bad++;
  }
  return bad === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    err(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(2);
  },
);
