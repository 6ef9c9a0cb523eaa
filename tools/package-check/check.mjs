#!/usr/bin/env node
// @ts-check
/**
 * Package checks for every published package under packages/ (CI runs this):
 *  1. `npm pack` works;
 *  2. publint (strict: warnings are errors) and @arethetypeswrong/cli report
 *     no problems. attw runs with the `esm-only` profile: the packages are
 *     ESM-only by design (`type: module`, an exports map with types), so the
 *     CommonJS resolution modes it would otherwise report on do not apply
 *     (see attw() for how the profile is applied);
 *  3. pack-and-consume: the tarballs are installed into a temporary project
 *     outside the repository, which runs consumer/main.mjs from the
 *     *installed* packages — a two-worker ping-pong, a litmus run, an
 *     IOThread, a thread pool, and a guest on a vCPU worker driving
 *     virtio-blk on an IOThread — proving that every worker entry file
 *     (litmus, IOThread, pool worker, blk IOThread module, blk jobs)
 *     resolves in the published form.
 * Every @vmloop/* package in the consumer must resolve to a local tarball
 * (checked in the consumer's package-lock), never to the registry.
 * `npm run check:packages` builds first. Exits non-zero on the first failing
 * check; the consumer run has a time limit so a lost wake-up cannot hang CI.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
/** @param {string} name */
const bin = (name) => join(root, 'node_modules', '.bin', name);

/**
 * @param {string} file @param {string[]} args @param {string} cwd
 * @param {number} [timeoutMs] kill the command (and fail) after this long
 */
function run(file, args, cwd, timeoutMs = 300_000) {
  process.stderr.write(`$ ${[file.replace(`${root}/`, ''), ...args].join(' ')}  (in ${cwd.replace(root, '.')})\n`);
  try {
    return execFileSync(file, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: timeoutMs });
  } catch (e) {
    const err = /** @type {NodeJS.ErrnoException & { stdout?: string }} */ (e);
    if (err.stdout) process.stdout.write(err.stdout);
    if (err.code === 'ETIMEDOUT') throw new Error(`package-check: \`${[file, ...args].join(' ')}\` took longer than ${timeoutMs / 1000} s and was killed`);
    throw e;
  }
}

/** Resolution modes the esm-only profile ignores. */
const IGNORED_RESOLUTIONS = ['node10', 'node16-cjs'];

/**
 * attw with the esm-only profile. attw's own exit code does not apply the
 * profile to InternalResolutionError (a problem it keys by
 * `resolutionOption`, not `resolutionKind`), so a package whose .d.ts files
 * use package.json "imports" (`#cell` in @vmloop/atomics) would fail on the
 * node10 resolution the profile ignores; decide from the JSON report, and
 * print the readable one when something is wrong.
 * @param {string} tgz @param {string} dir
 */
function attw(tgz, dir) {
  let out = '';
  try {
    out = execFileSync(bin('attw'), [tgz, '--profile', 'esm-only', '--format', 'json'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  } catch (e) {
    out = String(/** @type {{ stdout?: string }} */ (e).stdout ?? '');
  }
  /** @type {{ analysis?: { problems?: { resolutionKind?: string, resolutionOption?: string }[] } }} */
  const report = JSON.parse(out);
  const problems = (report.analysis?.problems ?? []).filter((p) => !IGNORED_RESOLUTIONS.includes(p.resolutionKind ?? p.resolutionOption ?? ''));
  if (problems.length > 0) run(bin('attw'), [tgz, '--profile', 'esm-only', '--format', 'ascii'], dir);
}

const packages = readdirSync(join(root, 'packages'))
  .map((d) => join(root, 'packages', d))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => pkg.private !== true);

const work = mkdtempSync(join(tmpdir(), 'vmloop-packages-'));
try {
  /** @type {Record<string, string>} */
  const tarballs = {};
  for (const { dir, pkg } of packages) {
    const out = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], dir));
    const tgz = join(work, out[0].filename);
    tarballs[pkg.name] = tgz;
    console.log(`pack     ${pkg.name}@${pkg.version}: ${out[0].entryCount} files, ${out[0].size} bytes`);
    run(bin('publint'), ['run', tgz, '--strict'], dir);
    console.log(`publint  ${pkg.name}: ok`);
    attw(tgz, dir);
    console.log(`attw     ${pkg.name}: ok`);
  }

  // Pack-and-consume, in a project that knows nothing of the repository.
  const consumer = join(work, 'consumer');
  cpSync(join(here, 'consumer'), consumer, { recursive: true });
  const deps = Object.fromEntries(Object.entries(tarballs).map(([name, tgz]) => [name, `file:${tgz}`]));
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'vmloop-consumer', private: true, type: 'module', dependencies: deps, overrides: deps }, null, 2),
  );
  run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline'], consumer);
  // Every @vmloop/* package in the tree, wherever nested, came from one of
  // our tarballs: a dependency on an unpublished or unpacked package would
  // otherwise be fetched from the registry (or fail only after publishing).
  const lock = JSON.parse(readFileSync(join(consumer, 'package-lock.json'), 'utf8'));
  const installed = Object.entries(lock.packages ?? {}).filter(([path]) => /(^|\/)node_modules\/@vmloop\//.test(path));
  for (const [path, entry] of installed) {
    const name = path.slice(path.lastIndexOf('@vmloop/'));
    const resolved = String(entry.resolved ?? '');
    if (!(name in tarballs)) throw new Error(`consumer: ${path} is not one of the packed packages (a dependency on an unpublished package?)`);
    if (!resolved.startsWith('file:') || !resolved.endsWith(basename(tarballs[name] ?? ''))) {
      throw new Error(`consumer: ${path} resolved to "${resolved}", not to the local tarball`);
    }
  }
  for (const name of Object.keys(tarballs)) {
    if (!installed.some(([path]) => path === `node_modules/${name}`)) throw new Error(`consumer: ${name} is not installed`);
  }
  process.stdout.write(run(process.execPath, ['main.mjs'], consumer, 120_000));
  console.log(`consume  ${Object.keys(tarballs).join(', ')}: ok`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
