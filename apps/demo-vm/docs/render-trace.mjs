// Renders a window of a demo-vm --trace file as a timeline PNG (one track per
// thread, slices and instants, like Perfetto's view), with headless Chromium.
// Used to make docs/trace.png; not part of the build or CI. Needs Debian's
// chromium and playwright-core (npx-installable):
//   node apps/demo-vm/docs/render-trace.mjs trace.json out.png [windowUs]
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [file, out, windowArg] = process.argv.slice(2);
const windowUs = Number(windowArg ?? 3000);
const t = JSON.parse(readFileSync(file, 'utf8')).traceEvents;
const names = new Map(t.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => [e.tid, e.args.name]));
const evs = t.filter((e) => e.ph !== 'M').sort((a, b) => a.ts - b.ts);
// A busy window in the middle of the run: the densest of a few candidates.
const candidates = [0.4, 0.5, 0.6, 0.7].map((f) => evs[Math.floor(evs.length * f)].ts);
const density = (s) => evs.filter((e) => e.ts >= s && e.ts < s + windowUs).length;
const mid = candidates.reduce((a, b) => (density(b) > density(a) ? b : a));
const t0 = mid;
const t1 = mid + windowUs;
const tids = [...names.keys()].sort((a, b) => a - b);
const slices = new Map(tids.map((tid) => [tid, []]));
const instants = new Map(tids.map((tid) => [tid, []]));
// Nesting per thread, as Perfetto draws it: a slice opened inside another sits one row lower.
const stacks = new Map(tids.map((tid) => [tid, []]));
for (const e of evs) {
  if (!slices.has(e.tid)) continue;
  const stack = stacks.get(e.tid);
  if (e.ph === 'X') slices.get(e.tid).push({ name: e.name, s: e.ts, e: e.ts + e.dur, depth: stack.length });
  else if (e.ph === 'B') stack.push({ name: e.name, s: e.ts, depth: stack.length });
  else if (e.ph === 'E') {
    const i = stack.map((x) => x.name).lastIndexOf(e.name);
    if (i >= 0) {
      const [b] = stack.splice(i, 1);
      slices.get(e.tid).push({ name: b.name, s: b.s, e: e.ts, depth: b.depth });
    }
  } else if (e.ph === 'i') instants.get(e.tid).push({ name: e.name, s: e.ts });
}
const W = 1800;
const left = 170;
const x = (ts) => left + ((ts - t0) / (t1 - t0)) * (W - left - 20);
const color = (n) =>
  n.startsWith('exit:') ? '#e4572e' : n.startsWith('ioeventfd:') ? '#17bebb' : n === 'hlt' ? '#c9c9c9' : n === 'blocking wait' ? '#d6d6d6' : n === 'aio_poll' ? '#76b041' : n === 'paused' ? '#999' : '#ffc914';
const mark = (n) =>
  n.startsWith('virtqueue kick') ? '#17bebb' : n === 'interrupt sent' ? '#e4572e' : n === 'interrupt suppressed' ? '#f4a896' : n === 'request complete' ? '#2e86ab' : n === 'thread-pool submit' ? '#a23b72' : n.startsWith('bh') ? '#76b041' : n === 'submit' ? '#a23b72' : '#555';
let svg = '';
const rowH = 76;
tids.forEach((tid, i) => {
  const y = 40 + i * rowH;
  svg += `<text x="8" y="${y + 30}" font-size="15" font-family="sans-serif">${names.get(tid)}</text>`;
  svg += `<line x1="${left}" y1="${y + rowH - 4}" x2="${W - 20}" y2="${y + rowH - 4}" stroke="#eee"/>`;
  for (const s of slices.get(tid)) {
    if (s.e < t0 || s.s > t1) continue;
    const a = Math.max(x(s.s), left);
    const b = Math.min(x(s.e), W - 20);
    const yy = y + 4 + Math.min(s.depth, 2) * 22;
    svg += `<rect x="${a}" y="${yy}" width="${Math.max(1, b - a)}" height="20" fill="${color(s.name)}"><title>${s.name}</title></rect>`;
    if (b - a > 60) svg += `<text x="${a + 3}" y="${yy + 14}" font-size="11" font-family="sans-serif">${s.name}</text>`;
  }
  for (const m of instants.get(tid)) {
    if (m.s < t0 || m.s > t1) continue;
    svg += `<line x1="${x(m.s)}" y1="${y + 62}" x2="${x(m.s)}" y2="${y + 72}" stroke="${mark(m.name)}" stroke-width="2"/>`;
  }
});
const axisY = 40 + tids.length * rowH + 10;
for (let k = 0; k <= 10; k++) {
  const ts = t0 + (k * (t1 - t0)) / 10;
  svg += `<line x1="${x(ts)}" y1="30" x2="${x(ts)}" y2="${axisY}" stroke="#f3f3f3"/><text x="${x(ts) - 20}" y="${axisY + 16}" font-size="12" font-family="sans-serif">${Math.round(ts - t0)} µs</text>`;
}
const legend = [
  ['exit (synchronous, vCPU waits)', '#e4572e'],
  ['ioeventfd doorbell (no exit)', '#17bebb'],
  ['HLT / blocking wait', '#c9c9c9'],
  ['aio_poll', '#76b041'],
  ['| kick handled', '#17bebb'],
  ['| pool submit', '#a23b72'],
  ['| request complete', '#2e86ab'],
  ['| interrupt sent', '#e4572e'],
  ['| interrupt suppressed (EVENT_IDX)', '#f4a896'],
];
legend.forEach(([n, c], i) => {
  svg += `<rect x="${left + (i % 5) * 320}" y="${axisY + 30 + Math.floor(i / 5) * 20}" width="14" height="14" fill="${c}"/><text x="${left + (i % 5) * 320 + 18}" y="${axisY + 42 + Math.floor(i / 5) * 20}" font-size="12" font-family="sans-serif">${n}</text>`;
});
const H = axisY + 80;
const html = `<html><body style="margin:0;background:#fff"><svg width="${W}" height="${H}"><text x="8" y="20" font-size="16" font-family="sans-serif" font-weight="bold">vmloop demo VM — ${Math.round(windowUs)} µs of a --trace file, one track per thread</text>${svg}</svg></body></html>`;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
const page = await browser.newPage({ viewport: { width: W, height: H } });
await page.setContent(html);
await page.screenshot({ path: out });
await browser.close();
console.log(`${out}: ${windowUs} µs from ${Math.round(t0)} µs, ${tids.length} tracks`);
