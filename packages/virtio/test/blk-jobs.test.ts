/**
 * The raw-file job (blk-jobs.ts, QEMU handle_aiocb_rw): reads and writes
 * between an image and guest RAM, on the one-segment pread/pwrite path and
 * the several-segment readv/writev path, with a short file (a sparse tail
 * reads as zeroes) and a segment outside guest memory.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GuestMemory } from '@vmloop/virtio';
import { preadRegion } from '../dist/devices/blk/blk-io.js';
import { blkIo } from '../dist/devices/blk/blk-jobs.js';
import { IoRequestTable } from '../dist/devices/blk/io-request-table.js';
import { IO_READ, IO_WRITE } from '../dist/devices/blk/layout.js';

const dir = mkdtempSync(join(tmpdir(), 'vmloop-blk-jobs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RAM = 1 << 20;
const pattern = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

function setup(fileBytes: Uint8Array): { memory: GuestMemory; table: IoRequestTable; fd: number; path: string; run: (op: number, offset: number, segs: { addr: number; len: number }[]) => number } {
  const path = join(dir, `img-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, fileBytes);
  const fd = openSync(path, 'r+');
  const memory = GuestMemory.create([{ gpa: 0, size: RAM }]);
  memory.slice(0, RAM)!.fill(0xaa);
  const table = new IoRequestTable(4, 4);
  const wd = { memory: memory.handle, table: table.buffer, rowLength: table.rowLength };
  const run = (op: number, offset: number, segs: { addr: number; len: number }[]): number => {
    const row = table.fill(op, fd, offset, segs);
    try {
      return blkIo(row, wd);
    } finally {
      table.release(row);
    }
  };
  return { memory, table, fd, path, run };
}

describe('virtio-blk / the raw-file job', () => {
  it('one segment: pread into guest RAM and pwrite from it, the bytes where they belong', () => {
    const file = pattern(64 << 10, 7);
    const { memory, fd, path, run } = setup(file);
    expect(run(IO_READ, 8192, [{ addr: 0x3000, len: 4096 }])).toBe(4096);
    expect(memory.slice(0x3000, 4096)).toEqual(file.subarray(8192, 8192 + 4096));
    expect(memory.readU8(0x2fff)).toBe(0xaa); // nothing outside the segment
    expect(memory.readU8(0x4000)).toBe(0xaa);
    memory.slice(0x10000, 4096)!.set(pattern(4096, 99));
    expect(run(IO_WRITE, 4096, [{ addr: 0x10000, len: 4096 }])).toBe(4096);
    closeSync(fd);
    expect(new Uint8Array(readFileSync(path)).subarray(4096, 8192)).toEqual(pattern(4096, 99));
  });

  it('one segment past the end of a short file: the data there, then zeroes (a sparse tail)', () => {
    const file = pattern(6000, 3);
    const { memory, fd, run } = setup(file);
    expect(run(IO_READ, 4096, [{ addr: 0x8000, len: 4096 }])).toBe(4096);
    expect(memory.slice(0x8000, 1904)).toEqual(file.subarray(4096));
    expect(memory.slice(0x8000 + 1904, 4096 - 1904)!.every((b) => b === 0)).toBe(true);
    closeSync(fd);
  });

  it('several segments: readv and writev across them, in order', () => {
    const file = pattern(64 << 10, 11);
    const { memory, fd, path, run } = setup(file);
    expect(run(IO_READ, 512, [{ addr: 0x1000, len: 512 }, { addr: 0x5000, len: 1024 }])).toBe(1536);
    expect(memory.slice(0x1000, 512)).toEqual(file.subarray(512, 1024));
    expect(memory.slice(0x5000, 1024)).toEqual(file.subarray(1024, 2048));
    memory.slice(0x20000, 512)!.set(pattern(512, 1));
    memory.slice(0x30000, 512)!.set(pattern(512, 2));
    expect(run(IO_WRITE, 0, [{ addr: 0x20000, len: 512 }, { addr: 0x30000, len: 512 }])).toBe(1024);
    closeSync(fd);
    const back = new Uint8Array(readFileSync(path));
    expect(back.subarray(0, 512)).toEqual(pattern(512, 1));
    expect(back.subarray(512, 1024)).toEqual(pattern(512, 2));
  });

  it('an fd the kernel refuses is -errno, not a throw, on the pread, pwrite and readv paths', () => {
    const { fd, run } = setup(pattern(8192, 5));
    closeSync(fd);
    expect(run(IO_READ, 0, [{ addr: 0x1000, len: 4096 }])).toBe(-9); // EBADF
    expect(run(IO_WRITE, 0, [{ addr: 0x1000, len: 4096 }])).toBe(-9);
    expect(run(IO_READ, 0, [{ addr: 0x1000, len: 512 }, { addr: 0x2000, len: 512 }])).toBe(-9);
  });

  it('preadRegion (the batched read of the inline dataplane): the bytes where they belong, zeroes past the end, 0 bytes is 0', () => {
    const file = pattern(6000, 9);
    const { memory, fd } = setup(file);
    const bytes = memory.regions[0]!.bytes;
    expect(preadRegion(fd, bytes, 0x4000, 4096, 0)).toBe(4096);
    expect(memory.slice(0x4000, 4096)).toEqual(file.subarray(0, 4096));
    expect(preadRegion(fd, bytes, 0x6000, 4096, 4096)).toBe(4096);
    expect(memory.slice(0x6000, 1904)).toEqual(file.subarray(4096));
    expect(memory.slice(0x6000 + 1904, 4096 - 1904)!.every((b) => b === 0)).toBe(true);
    expect(preadRegion(fd, bytes, 0x9000, 0, 0)).toBe(0);
    expect(memory.readU8(0x9000)).toBe(0xaa);
    closeSync(fd);
  });

  it('a segment outside guest RAM is -EFAULT, on both paths, and nothing is written', () => {
    const { fd, run } = setup(pattern(8192, 5));
    expect(run(IO_READ, 0, [{ addr: RAM - 100, len: 4096 }])).toBe(-14);
    expect(run(IO_READ, 0, [{ addr: 0, len: 512 }, { addr: RAM, len: 512 }])).toBe(-14);
    closeSync(fd);
  });
});
