import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDemo } from './run-demo.js';

describe('demo-vm / trace', () => {
  it('--trace writes Chrome Trace Event JSON with exits, kicks, BHs, polls, pool jobs, completions, interrupts and halts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmloop-trace-'));
    const file = join(dir, 'trace.json');
    try {
      const r = await runDemo(['--duration', '1', '--json', '--memory', '64', '--vcpus', '1', '--disks', '1', '--iothreads', '1', '--trace', file]);
      expect(r.code, r.stderr).toBe(0);
      const t = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: { name: string; ph: string; ts?: number; tid: number; args?: { name?: string } }[] };
      const names = new Set(t.traceEvents.map((e) => e.name));
      const has = (re: RegExp): boolean => [...names].some((n) => re.test(n));
      expect(has(/^exit:/), 'vCPU exits').toBe(true);
      expect(has(/^ioeventfd:/), 'ioeventfd doorbells').toBe(true);
      expect(names.has('virtqueue kick (handler ran)'), 'kicks').toBe(true);
      expect(has(/^bh: thread-pool-completion/), 'BHs').toBe(true);
      expect(names.has('aio_poll'), 'polls').toBe(true);
      expect(names.has('thread-pool submit'), 'pool jobs').toBe(true);
      expect(names.has('request complete'), 'completions').toBe(true);
      expect(names.has('interrupt sent'), 'interrupts').toBe(true);
      expect(names.has('hlt'), 'halts').toBe(true);
      const threads = t.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args?.name);
      expect(threads).toEqual(expect.arrayContaining(['vcpu0', 'iothread0']));
      for (const e of t.traceEvents) if (e.ph !== 'M') expect(typeof e.ts).toBe('number');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
