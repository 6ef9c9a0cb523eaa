import { describe, expect, it } from 'vitest';
import { checkBlock, stampBlock } from '../src/guest/verify.js';
import { Histogram } from '../src/histogram.js';
import { clockEvery } from '../src/interrupt-controller.js';
import { parseOptions, parseSize } from '../src/options.js';
import { PinError, allowedCpus, parseCpuList, pinPlan, pinThreads } from '../src/pinning.js';

describe('demo-vm / verify stamps', () => {
  it('a stamped block checks; any changed word, a wrong LBA or an older write is named', () => {
    const v = new Uint32Array(1024);
    stampBlock(v, 1, 800, 42);
    expect(checkBlock(v, 1, 800, 42, undefined, true)).toEqual({ ok: true, seq: 42 });
    expect(checkBlock(v, 1, 808, 42, undefined, true)).toMatchObject({ ok: false, why: expect.stringMatching(/bad sector header/) });
    expect(checkBlock(v, 1, 800, 43, undefined, true)).toMatchObject({ ok: false, why: expect.stringMatching(/expected write #43, found #42/) });
    expect(checkBlock(v, 1, 800, 43, [42], true)).toEqual({ ok: true, seq: 42 }); // in flight at a reset: either version
    v[700] = (v[700]! ^ 1) >>> 0;
    expect(checkBlock(v, 1, 800, 42, undefined, true)).toMatchObject({ ok: false, why: expect.stringMatching(/data corrupted/) });
    const zero = new Uint32Array(1024);
    expect(checkBlock(zero, 0, 0, 0, undefined, true)).toEqual({ ok: true, seq: 0 });
    zero[5] = 1;
    expect(checkBlock(zero, 0, 0, 0, undefined, true)).toMatchObject({ ok: false });
  });
});

describe('demo-vm / histogram', () => {
  it('quantiles are within a bucket (≤ 6.25%) of the true value and merge across threads', () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 1; i <= 10_000; i++) (i % 2 === 0 ? a : b).record(i * 1000);
    a.merge(b);
    expect(a.count).toBe(10_000);
    for (const [q, want] of [[0.5, 5e6], [0.99, 9.9e6], [0.999, 9.99e6]] as const) {
      expect(Math.abs(a.quantile(q) - want) / want).toBeLessThan(0.07);
    }
  });
});

describe('demo-vm / options', () => {
  it('sizes, defaults and refusals', () => {
    expect(parseSize('4k')).toBe(4096);
    expect(parseSize('1m')).toBe(1 << 20);
    expect(() => parseSize('1000')).toThrow(/multiple of 512/);
    const o = parseOptions([]);
    expect(o).toMatchObject({ vcpus: 2, disks: 2, iothreads: 2, rw: 'randrw', bs: 4096, qd: 32, ioeventfd: true, pollMaxNs: 32768 });
    expect(() => parseOptions(['--queue-size', '100'])).toThrow(/power of two/);
    expect(() => parseOptions(['--readonly', '--rw', 'randwrite'])).toThrow(/read workload/);
    expect(() => parseOptions(['--memory', '16', '--bs', '1m', '--qd', '64'])).toThrow(/too small/);
    expect(o.pin).toBe('off');
    expect(parseOptions(['--pin', 'auto']).pin).toBe('auto');
    // The order given: thread k (vCPUs, then iothreads) gets the k-th CPU.
    expect(parseOptions(['--pin', '3,1,0-1']).pin).toEqual([3, 1, 0, 1]);
    expect(() => parseOptions(['--pin', 'yes'])).toThrow(/--pin must be/);
    expect(() => parseOptions(['--pin', '2-1'])).toThrow(/--pin must be/);
  });
});

describe('demo-vm / halt poll', () => {
  it('reads the clock about 64 times per window: a power of two of rounds between 16 and 1024', () => {
    expect(clockEvery(1_000_000)).toBe(1024); // 1 ms: ~4 µs of rounds, the cap
    expect(clockEvery(200_000)).toBe(512);
    expect(clockEvery(50_000)).toBe(128); // 50 µs: ~0.5 µs late at most
    expect(clockEvery(10_000)).toBe(32);
    expect(clockEvery(1_000)).toBe(16); // the floor
    expect(clockEvery(16 * 256 + 1)).toBe(16);
    for (const ns of [1, 999, 4096, 65_536, 262_144, 1e9]) {
      const e = clockEvery(ns);
      expect(e & (e - 1)).toBe(0);
      expect(e >= 16 && e <= 1024).toBe(true);
    }
  });
});

describe('demo-vm / pinning', () => {
  it('reads Linux CPU lists, plans round-robin with each iothread off its vCPU\'s CPU, and refuses CPUs the process may not use', () => {
    expect(parseCpuList('0-3,8,10-11')).toEqual([0, 1, 2, 3, 8, 10, 11]);
    expect(parseCpuList('1,1,0')).toEqual([0, 1]);
    expect(parseCpuList('')).toBeUndefined();
    expect(parseCpuList('a')).toBeUndefined();
    // vCPUs then iothreads; iothread j off vCPU j's CPU when there is another.
    expect(pinPlan('auto', 1, 1, [2, 5])).toEqual([2, 5]);
    expect(pinPlan('auto', 2, 2, [0, 1])).toEqual([0, 1, 1, 0]);
    expect(pinPlan('auto', 2, 2, [0, 1, 2, 3])).toEqual([0, 1, 2, 3]);
    expect(pinPlan('auto', 2, 1, [0])).toEqual([0, 0, 0]);
    expect(pinPlan([7], 2, 1, [0, 1])).toEqual([7, 7, 7]);
    expect(pinPlan([3, 1], 1, 2, [0, 1])).toEqual([3, 1, 3]);
    const cpus = allowedCpus();
    expect(cpus.length).toBeGreaterThan(0);
    expect(() => pinThreads([Math.max(...cpus) + 1], [{ name: 'vcpu0', tid: process.pid }], [])).toThrow(PinError);
    expect(() => pinThreads('auto', [{ name: 'vcpu0', tid: null }], [])).toThrow(/thread id of vcpu0 is unknown/);
  });
});
