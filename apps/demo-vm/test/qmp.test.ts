import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withWatchdog } from '@vmloop/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { allowedCpus } from '../src/pinning.js';
import { splitJson } from '../src/qmp.js';
import { resultOf, startDemo } from './run-demo.js';

type Msg = Record<string, unknown>;

/** A QMP client: sends commands, collects replies and events in order. */
class Client {
  private buf = '';
  readonly events: Msg[] = [];
  private readonly waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  private readonly seen: Msg[] = [];
  constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      const { values, rest } = splitJson(this.buf);
      this.buf = rest;
      for (const v of values) this.deliver(JSON.parse(v) as Msg);
    });
  }
  private deliver(m: Msg): void {
    if ('event' in m) this.events.push(m);
    const i = this.waiters.findIndex((w) => w.pred(m));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
    else this.seen.push(m);
  }
  next(pred: (m: Msg) => boolean, what: string): Promise<Msg> {
    const i = this.seen.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.seen.splice(i, 1)[0]!);
    return withWatchdog(new Promise<Msg>((resolve) => this.waiters.push({ pred, resolve })), 30_000, `QMP: no ${what}`);
  }
  async cmd(execute: string, id: string): Promise<Msg> {
    this.socket.write(`${JSON.stringify({ execute, id })}\n`);
    return this.next((m) => m.id === id, `reply to ${execute}`);
  }
  raw(text: string): void {
    this.socket.write(text);
  }
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function connect(path: string): Promise<Client> {
  for (let i = 0; i < 200; i++) {
    try {
      const s = await new Promise<Socket>((resolve, reject) => {
        const c = createConnection(path, () => resolve(c));
        c.once('error', reject);
      });
      return new Client(s);
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`no QMP socket at ${path}`);
}

describe('demo-vm / qmp', () => {
  it('speaks QEMU\'s protocol: greeting, negotiation, stop/cont, system_reset during I/O, iothreads, stats, errors, quit — nothing lost, verify passes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmloop-qmp-'));
    dirs.push(dir);
    const sock = join(dir, 'qmp.sock');
    const { child, done } = startDemo(['--qmp', sock, '--duration', '120', '--json', '--memory', '128', '--vcpus', '2', '--iothreads', '2', '--verify']);
    const kill = setTimeout(() => child.kill('SIGKILL'), 90_000);
    try {
      const c = await connect(sock);
      const greeting = await c.next((m) => 'QMP' in m, 'greeting');
      expect(greeting).toMatchObject({ QMP: { version: { qemu: expect.any(Object) }, capabilities: [] } });
      // Before negotiation, commands are refused.
      expect(await c.cmd('query-status', 'early')).toMatchObject({ error: { class: 'CommandNotFound' } });
      expect(await c.cmd('qmp_capabilities', 'caps')).toMatchObject({ return: {} });
      expect(await c.cmd('qmp_capabilities', 'caps2')).toMatchObject({ error: { class: 'CommandNotFound' } });
      expect(await c.cmd('query-status', 's1')).toMatchObject({ return: { status: 'running', running: true } });
      await new Promise((r) => setTimeout(r, 500));
      expect(await c.cmd('stop', 'stop')).toMatchObject({ return: {} });
      await c.next((m) => m.event === 'STOP', 'STOP event');
      expect(await c.cmd('query-status', 's2')).toMatchObject({ return: { status: 'paused', running: false } });
      const paused = ((await c.cmd('x-vmloop-stats', 'st1')) as { return: { progress: { ops: number } } }).return.progress.ops;
      await new Promise((r) => setTimeout(r, 300));
      const still = ((await c.cmd('x-vmloop-stats', 'st2')) as { return: { progress: { ops: number } } }).return.progress.ops;
      expect(still).toBe(paused); // nothing runs while stopped
      expect(await c.cmd('cont', 'cont')).toMatchObject({ return: {} });
      await c.next((m) => m.event === 'RESUME', 'RESUME event');
      await new Promise((r) => setTimeout(r, 500));
      expect(await c.cmd('system_reset', 'reset')).toMatchObject({ return: {} });
      const reset = await c.next((m) => m.event === 'RESET', 'RESET event');
      expect(reset).toMatchObject({ data: { guest: false, reason: 'host-qmp-system-reset' }, timestamp: { seconds: expect.any(Number), microseconds: expect.any(Number) } });
      await new Promise((r) => setTimeout(r, 700));
      const it0 = (await c.cmd('query-iothreads', 'io')) as { return: Msg[] };
      expect(it0.return).toHaveLength(2);
      expect(it0.return[0]).toMatchObject({ id: 'iothread0', 'poll-max-ns': 32768, 'poll-grow': 0, 'poll-shrink': 0, 'thread-id': expect.any(Number) });
      // thread-id is the kernel's, as in QEMU: a task of the demo's process, one per thread.
      const cpus = (await c.cmd('query-cpus-fast', 'cpus')) as { return: Msg[] };
      expect(cpus.return.map((x) => x['cpu-index'])).toEqual([0, 1]);
      const tids = [...it0.return, ...cpus.return].map((x) => x['thread-id'] as number);
      expect(new Set(tids).size).toBe(4);
      for (const tid of tids) expect(existsSync(`/proc/${child.pid}/task/${tid}`), `thread ${tid} of pid ${child.pid}`).toBe(true);
      expect(await c.cmd('no-such-command', 'bad')).toMatchObject({ error: { class: 'CommandNotFound', desc: 'The command no-such-command has not been found' } });
      c.raw('{"execute": "query-status", oops}\n');
      expect(await c.next((m) => 'error' in m && (m.error as Msg).class === 'GenericError', 'parse error')).toMatchObject({ error: { desc: expect.stringMatching(/JSON parse error/) } });
      c.raw('{"arguments": {}}\n');
      expect(await c.next((m) => 'error' in m && /lacks member 'execute'/.test(String((m.error as Msg).desc)), 'missing execute')).toBeTruthy();
      expect(await c.cmd('quit', 'quit')).toMatchObject({ return: {} });
      await c.next((m) => m.event === 'SHUTDOWN', 'SHUTDOWN event');
      const r = await done;
      expect(r.code, r.stderr).toBe(0);
      const j = resultOf(r);
      expect(j.verify).toBe('passed');
      expect(j.reboots).toBeGreaterThanOrEqual(1);
      expect(j.requests).toBeGreaterThan(100);
    } finally {
      clearTimeout(kill);
      child.kill('SIGKILL');
    }
  });

  it.runIf(existsSync('/proc/thread-self'))('--pin puts each vCPU and iothread on its CPU (the affinity the kernel reports for the thread-ids QMP gives)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmloop-qmp-'));
    dirs.push(dir);
    const sock = join(dir, 'qmp.sock');
    // One CPU for all, the first this process may use: a single-CPU mask is unambiguous.
    const cpu = String(allowedCpus()[0]);
    const { child, done } = startDemo(['--qmp', sock, '--duration', '60', '--json', '--memory', '64', '--vcpus', '1', '--disks', '1', '--iothreads', '1', '--pin', cpu]);
    const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      const c = await connect(sock);
      await c.next((m) => 'QMP' in m, 'greeting');
      await c.cmd('qmp_capabilities', 'caps');
      const io = ((await c.cmd('query-iothreads', 'io')) as { return: Msg[] }).return;
      const cpus = ((await c.cmd('query-cpus-fast', 'cpus')) as { return: Msg[] }).return;
      for (const x of [...io, ...cpus]) {
        const status = readFileSync(`/proc/${child.pid}/task/${x['thread-id'] as number}/status`, 'utf8');
        expect(/^Cpus_allowed_list:\s*(.+)$/m.exec(status)?.[1], JSON.stringify(x)).toBe(cpu);
      }
      expect(await c.cmd('quit', 'quit')).toMatchObject({ return: {} });
      const r = await done;
      expect(r.code, r.stderr).toBe(0);
      const j = resultOf(r);
      expect(j.config).toMatchObject({ pin: cpu });
      expect((j.threads as { name: string; pinnedCpu: number | null }[]).filter((t) => t.pinnedCpu !== null).map((t) => [t.name, t.pinnedCpu])).toEqual([
        ['vcpu0', Number(cpu)],
        ['iothread0', Number(cpu)],
      ]);
    } finally {
      clearTimeout(kill);
      child.kill('SIGKILL');
    }
  });

  const socat = spawnSync('socat', ['-V']).status === 0;
  it.runIf(socat)('works when driven by socat from a shell, as QEMU users do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmloop-qmp-'));
    dirs.push(dir);
    const sock = join(dir, 'qmp.sock');
    const { child, done } = startDemo(['--qmp', sock, '--duration', '60', '--json', '--memory', '64', '--vcpus', '1', '--disks', '1', '--iothreads', '1']);
    const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      (await connect(sock)).socket.end();
      const out = execFileSync('sh', ['-c', `printf '%s\\n' '{"execute":"qmp_capabilities"}' '{"execute":"query-status"}' '{"execute":"quit"}' | socat -t 5 - UNIX-CONNECT:${sock}`], { encoding: 'utf8', timeout: 30_000 });
      expect(out).toMatch(/"QMP"/);
      expect(out).toMatch(/"status":"running"/);
      expect(out).toMatch(/"event":"SHUTDOWN"/);
      expect((await done).code).toBe(0);
    } finally {
      clearTimeout(kill);
      child.kill('SIGKILL');
    }
  });
});

describe('demo-vm / qmp / stream splitting', () => {
  it('splits values that arrive in pieces or several per line, and keeps the incomplete rest', () => {
    expect(splitJson('{"a":1}{"b":"}"}\n{"c":')).toEqual({ values: ['{"a":1}', '{"b":"}"}'], rest: '{"c":' });
    expect(splitJson('  [1,2] "x\\"y" ')).toEqual({ values: ['[1,2]', '"x\\"y"'], rest: '' });
  });
});
