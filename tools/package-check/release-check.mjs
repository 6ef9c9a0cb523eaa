#!/usr/bin/env node
// @ts-check
/**
 * The release path, checked on a scratch copy of the working tree (CI runs
 * this after the build; `npm run check:release` builds first):
 *  - every published package that was never released (0.0.0) has a pending
 *    changeset, and no published package depends on a private one;
 *  - `changeset version` bumps every package that has a changeset and writes
 *    its CHANGELOG entry (the new version's heading and the changeset text);
 *  - afterwards every internal dependency is a real semver range (no "*",
 *    "latest" or "workspace:") that includes the new version, so dependents'
 *    ranges were updated;
 *  - `npm publish --dry-run` succeeds for every published package and its
 *    tarball holds every file its exports map, main and types point to.
 * Nothing is published and the working tree is not touched.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const scratch = join(mkdtempSync(join(tmpdir(), 'vmloop-release-')), 'repo');
const problems = [];

/** @param {string} dir */
const readPkg = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
/** @param {string} base */
const workspaces = (base) =>
  ['packages', 'apps', 'tools']
    .filter((g) => existsSync(join(base, g)))
    .flatMap((g) => readdirSync(join(base, g)).map((d) => join(base, g, d)))
    .filter((d) => existsSync(join(d, 'package.json')));

/**
 * The files a consumer can reach: main, types and every exports target.
 * @param {Record<string, any>} pkg
 * @returns {string[]}
 */
function entryFiles(pkg) {
  /** @type {string[]} */
  const out = [];
  /** @param {unknown} v */
  const walk = (v) => {
    if (typeof v === 'string') out.push(v);
    else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk([pkg.main, pkg.types, pkg.exports]);
  return [...new Set(out.filter((f) => !f.includes('*')).map((f) => f.replace(/^\.\//, '')))];
}

try {
  const skip = new Set(['node_modules', '.turbo', '.git']);
  cpSync(root, scratch, { recursive: true, filter: (src) => !skip.has(basename(src)) });
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'), 'dir');

  // Which packages have pending changesets (and what the changesets say).
  const changesets = readdirSync(join(scratch, '.changeset'))
    .filter((f) => f.endsWith('.md') && f !== 'README.md')
    .map((f) => readFileSync(join(scratch, '.changeset', f), 'utf8'));
  /** @type {Map<string, string[]>} */
  const summaries = new Map();
  for (const text of changesets) {
    const [, front = '', body = ''] = text.split('---');
    const summary = body.trim().split('\n')[0] ?? '';
    for (const m of front.matchAll(/"([^"]+)":\s*(major|minor|patch)/g)) {
      const name = m[1] ?? '';
      summaries.set(name, [...(summaries.get(name) ?? []), summary]);
    }
  }
  if (summaries.size === 0) console.log('release: no pending changesets; checking ranges and publish only');

  const before = new Map(workspaces(scratch).map((d) => [readPkg(d).name, readPkg(d).version]));
  const privateNames = new Set(workspaces(scratch).filter((d) => readPkg(d).private === true).map((d) => readPkg(d).name));
  for (const dir of workspaces(scratch)) {
    const pkg = readPkg(dir);
    if (pkg.private === true) continue;
    if (pkg.version === '0.0.0' && !summaries.has(pkg.name)) problems.push(`${pkg.name}: never released (0.0.0) and has no changeset; add one with \`npx changeset\``);
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
      for (const dep of Object.keys(pkg[field] ?? {})) {
        if (privateNames.has(dep)) problems.push(`${pkg.name}: ${field}.${dep} is a private workspace package; the published package could not be installed`);
      }
    }
  }
  let versioned = true;
  try {
    execFileSync(join(root, 'node_modules', '.bin', 'changeset'), ['version'], { cwd: scratch, stdio: ['ignore', 'inherit', 'inherit'] });
  } catch {
    problems.push('`changeset version` failed (its error is above)');
    versioned = false;
  }
  if (versioned) {
    const after = new Map(workspaces(scratch).map((d) => [readPkg(d).name, { dir: d, pkg: readPkg(d) }]));

    for (const [name, lines] of summaries) {
      const a = after.get(name);
      if (!a) {
        problems.push(`${name}: has a changeset but no workspace package`);
        continue;
      }
      const v = a.pkg.version;
      if (v === before.get(name)) problems.push(`${name}: version not bumped (still ${v})`);
      const log = existsSync(join(a.dir, 'CHANGELOG.md')) ? readFileSync(join(a.dir, 'CHANGELOG.md'), 'utf8') : '';
      if (!log.includes(`## ${v}`)) problems.push(`${name}: CHANGELOG.md has no "## ${v}" heading`);
      for (const line of lines) if (!log.includes(line.slice(0, 60))) problems.push(`${name}: CHANGELOG.md lacks the changeset text "${line.slice(0, 40)}…"`);
      console.log(`release: ${name} ${before.get(name)} → ${v}`);
    }

    // Every internal dependency is a real range that the new versions satisfy.
    for (const [name, { pkg }] of after) {
      for (const field of ['dependencies', 'devDependencies', 'peerDependencies']) {
        for (const [dep, range] of Object.entries(pkg[field] ?? {})) {
          const target = after.get(dep);
          if (!target || target.pkg.private === true) continue;
          if (range === '*' || range === 'latest' || String(range).startsWith('workspace:')) problems.push(`${name}: ${field}.${dep} is "${range}", not a semver range`);
          else if (!semver.satisfies(target.pkg.version, String(range))) problems.push(`${name}: ${field}.${dep} "${range}" does not include ${dep}@${target.pkg.version}`);
        }
      }
    }

    for (const [name, { dir, pkg }] of after) {
      if (pkg.private === true || !dir.includes(`${join(scratch, 'packages')}`)) continue;
      try {
        const out = execFileSync('npm', ['publish', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
        /** @type {{ files?: { path: string }[] } | undefined} */
        const report = JSON.parse(out)[name];
        const packed = new Set((report?.files ?? []).map((f) => f.path));
        const missing = entryFiles(pkg).filter((f) => !packed.has(f));
        if (packed.size === 0) problems.push(`${name}: npm publish --dry-run listed no files`);
        else if (missing.length > 0) problems.push(`${name}: the tarball lacks ${missing.join(', ')} (not built?)`);
        else console.log(`release: npm publish --dry-run ${name}@${pkg.version}: ok, ${packed.size} files`);
      } catch (e) {
        problems.push(`${name}: npm publish --dry-run failed: ${String(/** @type {{stderr?: string}} */ (e).stderr ?? e).slice(0, 500)}`);
      }
    }
  }
} finally {
  rmSync(dirname(scratch), { recursive: true, force: true });
}
for (const p of problems) console.error(`release: ${p}`);
if (problems.length > 0) process.exit(1);
console.log('release: ok');
