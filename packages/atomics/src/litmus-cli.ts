#!/usr/bin/env node
/**
 * Prints the litmus histogram table for the README:
 *   npm run litmus -w @vmloop/atomics -- [--iterations N]
 * Not exported; it ships in dist so it also runs from an installed package.
 */
import { type LitmusMode, type LitmusShape, runLitmus } from './litmus.js';

const i = process.argv.indexOf('--iterations');
const iterations = i >= 0 ? Number(process.argv[i + 1]) : 1_000_000;
const rows: string[] = [];
for (const shape of ['SB', 'MP', 'LB'] as LitmusShape[]) {
  for (const mode of ['atomic', 'plain'] as LitmusMode[]) {
    const r = await runLitmus({ shape, mode, iterations });
    const cells = Object.entries(r.histogram)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}: ${v.toLocaleString('en')}`)
      .join(', ');
    rows.push(`| ${shape} | ${mode} | ${r.iterations.toLocaleString('en')} | ${cells} | ${r.forbidden} | **${r.forbiddenCount.toLocaleString('en')}** | ${r.elapsedMs.toFixed(0)} ms |`);
    process.stderr.write(`${shape}/${mode} done\n`);
  }
}
console.log(`Node ${process.version}, ${process.arch}\n`);
console.log('| shape | mode | iterations | histogram | forbidden | seen | time |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
