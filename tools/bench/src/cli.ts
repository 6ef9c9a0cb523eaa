#!/usr/bin/env node
/**
 * vmloop-bench [--only id[,id…]] [--json] [--quick]
 *
 * From the repository root it runs every package's built benchmarks
 * (`packages/*\/build/bench/*.bench.js`, `apps/*\/build/bench/*.bench.js`);
 * from a package directory, only that package's. With `--json`, stdout holds
 * only result lines (shared/BENCH.md); progress always goes to stderr.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchCase, BenchResult } from './bench.js';
import { fmt, runCase } from './run.js';

interface Args {
  only: Set<string> | undefined;
  json: boolean;
  quick: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { only: undefined, json: false, quick: process.env.VMLOOP_BENCH_QUICK === '1' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') args.json = true;
    else if (a === '--quick') args.quick = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const v = a === '--only' ? argv[++i] : a.slice('--only='.length);
      if (v === undefined || v === '') usage('--only needs a comma-separated list of ids');
      args.only = new Set(v.split(',').map((s) => s.trim()).filter(Boolean));
    } else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
  }
  return args;
}

function usage(problem?: string): never {
  if (problem) process.stderr.write(`vmloop-bench: ${problem}\n`);
  process.stderr.write('usage: vmloop-bench [--only id[,id...]] [--json] [--quick]\n');
  process.exit(problem ? 2 : 0);
}

function benchFiles(cwd: string): string[] {
  const pkg = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')) as { workspaces?: unknown };
  const dirs: string[] = [];
  if (Array.isArray(pkg.workspaces)) {
    for (const group of ['packages', 'apps']) {
      const g = join(cwd, group);
      if (!existsSync(g)) continue;
      for (const d of readdirSync(g).sort()) dirs.push(join(g, d, 'build', 'bench'));
    }
  } else {
    dirs.push(join(cwd, 'build', 'bench'));
  }
  const files: string[] = [];
  for (const d of dirs) {
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d).sort()) if (f.endsWith('.bench.js')) files.push(join(d, f));
  }
  return files;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const cases: BenchCase[] = [];
  for (const file of benchFiles(resolve('.'))) {
    const mod = (await import(pathToFileURL(file).href)) as { default?: readonly BenchCase[] };
    if (!Array.isArray(mod.default)) throw new Error(`${file}: default export must be defineBenches([...])`);
    cases.push(...mod.default);
  }
  const selected = args.only ? cases.filter((c) => args.only!.has(c.id)) : cases;
  if (args.only) {
    const known = new Set(cases.map((c) => c.id));
    const missing = [...args.only].filter((id) => !known.has(id));
    if (missing.length > 0) usage(`no benchmark with id ${missing.join(', ')} (known: ${[...known].join(', ')})`);
  }
  if (selected.length === 0) usage('no benchmarks found (run the build first)');
  const results: BenchResult[] = [];
  for (const c of selected) {
    log(`${c.id}: ${c.metric}, ours vs ${c.peer}${args.quick ? ' (quick smoke run)' : ''}`);
    const r = await runCase(c, { quick: args.quick }, log);
    results.push(r);
    if (args.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else log(`  => advantage ${r.advantage.toFixed(2)}`);
  }
  if (!args.json) {
    const rows = results.map((r) => `| ${r.id} | ${r.metric} | ${fmt(r.ours)} ${r.unit} | ${r.peer} | ${fmt(r.peerValue)} ${r.unit} | ${r.advantage.toFixed(2)} | ${r.samples} | ${r.note} |`);
    process.stdout.write(['| id | metric | ours | peer | peer value | advantage | samples | note |', '|---|---|---|---|---|---|---|---|', ...rows].join('\n') + '\n');
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`vmloop-bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
