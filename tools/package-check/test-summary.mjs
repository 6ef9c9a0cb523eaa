#!/usr/bin/env node
// @ts-check
/**
 * Prints one line per package and the plain closing line
 * "tests: N passed, N failed, N skipped" from the vitest JSON reports that
 * `npm test` wrote to <package>/build/test-results.json (packages, apps, and
 * the tools that have tests: tools/explore). Exits 1 if a
 * package has no report or any test failed, or if no test ran at all.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let passed = 0;
let failed = 0;
let skipped = 0;
let missing = 0;
for (const group of ['packages', 'apps', 'tools']) {
  if (!existsSync(join(root, group))) continue;
  for (const d of readdirSync(join(root, group)).sort()) {
    const dir = join(root, group, d);
    if (!existsSync(join(dir, 'package.json'))) continue; // tools/package-check: scripts, not a workspace
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    if (!pkg.scripts?.test) continue;
    const file = join(dir, 'build', 'test-results.json');
    if (!existsSync(file)) {
      console.log(`${pkg.name}: no test report (did its tests run?)`);
      missing++;
      continue;
    }
    const r = JSON.parse(readFileSync(file, 'utf8'));
    const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    console.log(`${pkg.name}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${s} skipped (${r.numTotalTestSuites} suites)`);
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    skipped += s;
  }
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || missing > 0 || passed === 0 ? 1 : 0);
