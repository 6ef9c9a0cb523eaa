import { mkdtempSync, openSync, closeSync, writeSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resultOf, runDemo, startDemo } from './run-demo.js';

const SHORT = ['--duration', '2', '--json', '--memory', '128'];

describe('demo-vm / end to end', () => {
  it('boots and runs randrw with verify on 2 vCPUs and 2 iothreads', async () => {
    const r = await runDemo([...SHORT, '--vcpus', '2', '--iothreads', '2', '--disks', '2', '--rw', 'randrw', '--verify', '--flush-every', '64']);
    expect(r.code, r.stderr).toBe(0);
    const j = resultOf(r);
    expect(j.verify).toBe('passed');
    expect(j.requests).toBeGreaterThan(100);
    expect(j.config).toMatchObject({ vcpus: 2, iothreads: 2, ioeventfd: true });
    expect(j.ioeventfdWrites as number).toBeGreaterThan(0);
    expect(j.flushes as number).toBeGreaterThan(0);
    expect(j.deviceResets).toBe(0);
    expect(j.latencyUs).toMatchObject({ p50: expect.any(Number), p99: expect.any(Number), p999: expect.any(Number) });
  });

  it('--ioeventfd off: every doorbell is a synchronous exit, verify passes', async () => {
    const r = await runDemo([...SHORT, '--vcpus', '2', '--iothreads', '2', '--ioeventfd', 'off', '--verify']);
    expect(r.code, r.stderr).toBe(0);
    const j = resultOf(r);
    expect(j.verify).toBe('passed');
    expect(j.config).toMatchObject({ ioeventfd: false });
    expect(j.ioeventfdWrites).toBe(0);
    expect(j.syncExits as number).toBeGreaterThanOrEqual(j.kicks as number);
  });

  it('--iothreads 0: the disks run on the main loop and ioeventfd is off, as QEMU does', async () => {
    const r = await runDemo([...SHORT, '--vcpus', '2', '--iothreads', '0', '--verify']);
    expect(r.code, r.stderr).toBe(0);
    const j = resultOf(r);
    expect(j.verify).toBe('passed');
    expect(j.config).toMatchObject({ iothreads: 0, ioeventfd: false });
    expect((j.devices as { hosts: string[] }[])[0]!.hosts).toEqual(['main-loop']);
  });

  it('--aio inline: reads, writes and FLUSHes run on the iothreads themselves; verify passes', async () => {
    const r = await runDemo([...SHORT, '--vcpus', '2', '--iothreads', '2', '--disks', '2', '--aio', 'inline', '--rw', 'randrw', '--verify', '--flush-every', '64']);
    expect(r.code, r.stderr).toBe(0);
    const j = resultOf(r);
    expect(j.verify).toBe('passed');
    expect(j.config).toMatchObject({ aio: 'inline', iothreads: 2 });
    expect(j.flushes as number).toBeGreaterThan(0);
    expect(j.requests).toBeGreaterThan(100);
  });

  it('--pin auto: the vCPU and the iothread each get a CPU of their own; verify passes', async () => {
    const r = await runDemo([...SHORT, '--vcpus', '1', '--iothreads', '1', '--disks', '1', '--aio', 'inline', '--rw', 'randrw', '--verify', '--pin', 'auto']);
    expect(r.code, r.stderr).toBe(0);
    const j = resultOf(r);
    expect(j.verify).toBe('passed');
    expect(j.config).toMatchObject({ pin: 'auto' });
    const pinned = (j.threads as { name: string; pinnedCpu: number | null }[]).filter((t) => t.pinnedCpu !== null);
    expect(pinned.map((t) => t.name)).toEqual(['vcpu0', 'iothread0']);
    if (availableParallelism() >= 2) expect(pinned[0]!.pinnedCpu).not.toBe(pinned[1]!.pinnedCpu);
  });

  it('--pin with a CPU the process may not use exits with status 1 and says why', async () => {
    const r = await runDemo([...SHORT, '--vcpus', '1', '--iothreads', '1', '--disks', '1', '--pin', '4095']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--pin: CPU 4095 is not one this process may use/);
  });

  it('a hostile guest ring breaks the device (NEEDS_RESET); the guest resets it, resubmits and verify still passes', async () => {
    const r = await runDemo([...SHORT, '--vcpus', '1', '--disks', '1', '--iothreads', '1', '--verify', '--inject-fault-after', '300']);
    expect(r.code, r.stderr).toBe(0);
    const j = resultOf(r);
    expect(j.deviceResets).toBe(1);
    expect(j.verify).toBe('passed');
  });

  it('a verify mismatch ends the run with status 2 and names the first bad block', async () => {
    // Another writer scribbles over the image while the guest runs: the guest must notice.
    const dir = mkdtempSync(join(tmpdir(), 'vmloop-demo-test-'));
    const img = join(dir, 'disk.img');
    writeFileSync(img, '');
    truncateSync(img, 1 << 20);
    const { child, done } = startDemo(['--duration', '20', '--json', '--memory', '64', '--vcpus', '1', '--iothreads', '1', '--disk', img, '--verify', '--qd', '8']);
    const fd = openSync(img, 'r+');
    const junk = new Uint8Array(1 << 20).fill(0x5a);
    const scribble = setInterval(() => writeSync(fd, junk, 0, junk.length, 0), 20);
    const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const r = await done;
    clearInterval(scribble);
    clearTimeout(kill);
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(2);
    expect(r.stderr).toMatch(/verify mismatch: disk 0 sector \d+/);
  });

  it('SIGTERM stops cleanly: in-flight requests complete, the disk is flushed, the table is printed, status 0', async () => {
    const { child, done } = startDemo(['--duration', '60', '--memory', '64', '--vcpus', '1', '--disks', '1', '--iothreads', '1', '--verify', '--no-progress']);
    setTimeout(() => child.kill('SIGTERM'), 2500);
    const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const r = await done;
    clearTimeout(kill);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('IOPS');
    expect(r.stdout).toMatch(/verify\s+│\s+passed/);
    expect(r.stdout).toMatch(/flushes/);
  });

  it('--help documents every flag with its default; a bad flag exits with status 1', async () => {
    const h = await runDemo(['--help']);
    expect(h.code).toBe(0);
    for (const flag of ['--memory', '--vcpus', '--disks', '--disk', '--readonly', '--iothreads', '--poll-max-ns', '--ioeventfd', '--rw', '--bs', '--qd', '--duration', '--verify', '--flush-every', '--json', '--trace', '--qmp']) {
      expect(h.stdout).toContain(flag);
    }
    expect(h.stdout).toContain('(default: 2)');
    const bad = await runDemo(['--rw', 'sideways']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/sideways/);
    const tooBig = await runDemo(['--qd', '512', '--queue-size', '256']);
    expect(tooBig.code).toBe(1);
  });
});
