/**
 * virtio-blk against a hostile or demanding guest (virtio 1.x 5.2.6; QEMU
 * hw/block/virtio-blk.c virtio_blk_handle_request): a guest on a vCPU
 * worker (./workers/blk-guest.ts) that reaches the device only through
 * MMIO/PIO, the device on an IOThread with ioeventfd, over a temporary
 * image. Malformed framing breaks the device (NEEDS_RESET, a configuration
 * interrupt, a recorded reason) until the guest resets it; well-framed
 * requests the device cannot serve complete with an error status.
 */
import { runWorkers } from '@vmloop/test-kit';
import { beforeAll, describe, expect, it } from 'vitest';
import { blkRegs, pciRegs } from '@vmloop/virtio';
import { ACKED, COMPLETED, type CheckpointMessage, GuestSync, isCheckpoint } from './guest-sync.js';
import { makeMachine, type TestMachine, type TestMachineOptions } from './machine.js';
import type { GuestData, GuestResult } from './workers/blk-guest.js';

const guest = new URL('../build/test/workers/blk-guest.js', import.meta.url);
const { VIRTIO_BLK_S_OK: OK, VIRTIO_BLK_S_IOERR: IOERR, VIRTIO_BLK_S_UNSUPP: UNSUPP } = blkRegs;
const RUNNING = pciRegs.STATUS_ACKNOWLEDGE | pciRegs.STATUS_DRIVER | pciRegs.STATUS_FEATURES_OK | pciRegs.STATUS_DRIVER_OK;

const json = (v: unknown): string => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x));

/** Resolves once `cond` holds, or after `ms` (then false): a pacing helper, never an assertion. */
async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise<void>((r) => setTimeout(r, 1));
  }
  return true;
}

interface GuestRun {
  readonly r: GuestResult;
  readonly m: TestMachine;
  readonly blk: Awaited<ReturnType<TestMachine['blk']['stats']>>;
  /** The transport's state when the guest had finished (before the machine's closing reset). */
  readonly state: TestMachine['device']['state'];
}

interface RunHooks {
  /** Called for each checkpoint (in order); the guest waits until it returns if it asked to. */
  readonly onCheckpoint?: (c: CheckpointMessage, m: TestMachine) => void | Promise<void>;
  /** Runs beside the guest; `finished()` turns true when the guest returned. */
  readonly during?: (m: TestMachine, finished: () => boolean, completed: () => number) => Promise<void>;
}

async function runGuest(o: Partial<TestMachineOptions>, g: Partial<GuestData>, hooks: RunHooks = {}): Promise<GuestRun> {
  const m = await makeMachine({ iothread: true, ioeventfd: true, ...o });
  const sync = GuestSync.create();
  const cells = sync.cells;
  let chain: Promise<void> = Promise.resolve();
  let hookError: unknown;
  let finished = false;
  try {
    const data: GuestData = { space: m.space, memory: m.memory.handle, irq: m.irq.map((n) => n.handle), legacy: false, blocks: 64, queueDepth: 16, seed: 11, sync: GuestSync.handle(sync), ...g };
    const guestRun = runWorkers<GuestResult>(guest, [data], {
      timeoutMs: 60_000,
      what: () => `guest did not finish: ${cells.load(COMPLETED)} requests completed; device ${json(m.device.state)}`,
      onMessage: (_, msg) => {
        if (!isCheckpoint(msg)) return;
        chain = chain.then(async () => {
          try {
            await hooks.onCheckpoint?.(msg, m);
          } catch (e) {
            hookError ??= e;
          }
          if (msg.wait) {
            cells.store(ACKED, msg.seq);
            cells.notify(ACKED);
          }
        });
      },
    });
    const during = hooks.during?.(m, () => finished, () => cells.load(COMPLETED)).catch((e: unknown) => {
      hookError ??= e;
    });
    let r: GuestResult;
    try {
      [r] = (await guestRun) as [GuestResult];
    } finally {
      finished = true;
      await during;
      await chain;
    }
    if (hookError !== undefined) throw hookError;
    const state = m.device.state;
    const blk = await m.blk.stats();
    return { r, m, blk, state };
  } finally {
    await m.close();
  }
}

// ---------------------------------------------------------------- malformed framing breaks the device

describe('virtio-blk / hostile driver: framing (5.2.6; QEMU virtio_error) breaks the device until reset', () => {
  const reasons = new Map<string, { status: number; brokenReason: string | undefined; needsResetInState: boolean }>();
  let run: GuestRun;
  beforeAll(async () => {
    run = await runGuest(
      {},
      { scenario: 'broken' },
      {
        onCheckpoint: (c, m) => {
          if (c.checkpoint !== 'broken') return;
          const d = c.detail as { name: string; status: number };
          reasons.set(d.name, { status: d.status, brokenReason: m.device.state.brokenReason, needsResetInState: (m.device.state.status & pciRegs.STATUS_NEEDS_RESET) !== 0 });
        },
      },
    );
  });

  for (const [name, re] of [
    ['short-header', /virtio-blk queue 0: virtio-blk request outhdr too short \(8 device-readable bytes, need 16\)/],
    ['missing-header', /virtio-blk queue 0: virtio-blk missing headers/],
    ['missing-status', /virtio-blk queue 0: virtio-blk missing headers/],
  ] as const) {
    it(`${name === 'missing-status' ? 'missing status byte' : name === 'short-header' ? 'short blk header' : 'missing blk header'}: NEEDS_RESET and a configuration interrupt reach the guest; the reason is recorded; after a reset I/O works again`, () => {
      const seen = reasons.get(name);
      expect(seen, `no checkpoint for ${name}`).toBeDefined();
      // The guest waited for the configuration interrupt (vector 0) before reading status.
      expect(seen!.status & pciRegs.STATUS_NEEDS_RESET).not.toBe(0);
      expect(seen!.needsResetInState).toBe(true);
      expect(seen!.brokenReason).toMatch(re);
      // After the reset the guest initialised again and its verified I/O passed.
      expect(run.r.observed![`${name}:after-reset-status`]).toBe(RUNNING);
    });
  }

  it('the device served verified I/O after the last reset and is not broken', () => {
    expect(run.r.id).toBe('vmloop-disk.img');
    expect(run.state).toMatchObject({ status: RUNNING, brokenReason: undefined });
  });
});

// ---------------------------------------------------------------- well-framed requests the device cannot serve

describe('virtio-blk / requests that complete with an error status (5.2.6.1; the device stays up)', () => {
  let run: GuestRun;
  beforeAll(async () => {
    run = await runGuest({}, { scenario: 'statuses' });
  });
  const s = (k: string): number | undefined => run.r.statuses![k];

  it('sector range beyond the capacity: IOERR (at, across and far past the end), not broken', () => {
    expect(s('in-at-capacity')).toBe(IOERR);
    expect(s('in-straddling-capacity')).toBe(IOERR);
    expect(s('out-beyond-capacity')).toBe(IOERR);
    expect(s('in-last-block')).toBe(OK);
    expect(run.r.observed!.status).toBe(RUNNING);
  });

  it('data length not a multiple of 512: IOERR', () => {
    expect(s('in-100-bytes')).toBe(IOERR);
    expect(s('out-1000-bytes')).toBe(IOERR);
  });

  it('unknown request type: UNSUPP', () => {
    expect(s('type-99')).toBe(UNSUPP);
  });

  it('GET_ID: the serial, zero-padded to 20 bytes', () => {
    expect(s('get-id')).toBe(OK);
    expect(run.r.id).toBe('vmloop-disk.img');
  });

  it('FLUSH: OK', () => {
    expect(s('flush')).toBe(OK);
    expect(run.blk.flushes).toBeGreaterThanOrEqual(2);
  });

  it('WRITE_ZEROES: the range reads back as zeroes (with and without UNMAP); beyond the capacity IOERR', () => {
    expect(s('out-stamp')).toBe(OK);
    expect(s('write-zeroes')).toBe(OK);
    expect(s('in-zeroed')).toBe(OK);
    expect(run.r.observed!.zeroed).toBe(true);
    expect(s('write-zeroes-unmap')).toBe(OK);
    expect(s('write-zeroes-beyond-capacity')).toBe(IOERR);
  });

  it('DISCARD: OK (advisory); a flag only WRITE_ZEROES knows: UNSUPP', () => {
    expect(s('discard')).toBe(OK);
    expect(s('discard-unmap-flag')).toBe(UNSUPP);
  });

  it('the errors were counted, the device never broke, and verified I/O continued', () => {
    expect(run.blk.errors).toBe(8);
    expect(run.state).toMatchObject({ status: RUNNING, brokenReason: undefined });
  });
});

describe('virtio-blk / read-only disk (VIRTIO_BLK_F_RO)', () => {
  it('a write, WRITE_ZEROES and DISCARD to a read-only disk: IOERR; reads and FLUSH work', async () => {
    const { r } = await runGuest({ readOnly: true }, { scenario: 'read-only' });
    expect(r.observed!.readOnlyFeature).toBe(true);
    expect(r.statuses).toMatchObject({ out: IOERR, 'write-zeroes': IOERR, discard: IOERR, in: OK, flush: OK });
    expect(r.observed!.readBack).toEqual([0, 0, 0, 0, 0, 0, 0, 0]); // the write did not reach the image
    expect(r.observed!.status).toBe(RUNNING);
  });
});

// ---------------------------------------------------------------- inline I/O: batched reads, ring order

describe('virtio-blk / inline I/O (aio inline) batches reads yet runs requests in ring order', () => {
  for (const iothread of [true, false]) {
    it(`${iothread ? 'on an IOThread' : 'on the main loop'}: read, read, write, read, flush, read in one publication — the reads before the write see the old data, those after it the new`, async () => {
      const { r, state } = await runGuest({ aio: 'inline', iothread, ioeventfd: iothread }, { scenario: 'ordering' });
      expect(r.observed!.statuses).toEqual([OK, OK, OK, OK, OK, OK]);
      expect(r.observed!.readsBeforeWrite).toEqual([true, true]);
      expect(r.observed!.readsAfterWrite).toEqual([true, true]);
      expect(state.brokenReason).toBeUndefined();
    });
  }

  it('error statuses and malformed framing end a batch and come out as with the thread pool', async () => {
    const pool = await runGuest({}, { scenario: 'statuses' });
    const inline = await runGuest({ aio: 'inline' }, { scenario: 'statuses' });
    expect(inline.r.statuses).toEqual(pool.r.statuses);
    expect(inline.r.observed!.zeroed).toBe(true);
    expect(inline.blk.errors).toBe(pool.blk.errors);
    const reasons: string[] = [];
    const broken = await runGuest({ aio: 'inline' }, { scenario: 'broken' }, {
      onCheckpoint: (c, m) => {
        if (c.checkpoint === 'broken') reasons.push(m.device.state.brokenReason ?? '(none)');
      },
    });
    expect(reasons).toEqual([
      expect.stringMatching(/outhdr too short/),
      expect.stringMatching(/missing headers/),
      expect.stringMatching(/missing headers/),
    ]);
    expect(broken.state).toMatchObject({ status: RUNNING, brokenReason: undefined });
  });
});

// ---------------------------------------------------------------- load, reset and VM state

describe('virtio-blk / kick storms, resets and VM stop with requests in flight', () => {
  it('kick storm: 50 extra doorbells per kick and a full 8-entry ring complete everything; the budget yields', async () => {
    const { r, state, blk } = await runGuest({ queueSize: 8 }, { indirect: true, queueDepth: 8, blocks: 128, stormKicks: 50 });
    expect(r.requests).toBe(2 * 128 + 2);
    expect(blk.requests).toBe(r.requests);
    expect(r.kicks).toBeGreaterThan(50 * 32);
    expect(blk.budgetYields).toBeGreaterThan(0); // a full ring takes the whole per-handler budget
    expect(blk.inFlight).toBe(0);
    expect(state.brokenReason).toBeUndefined();
  });

  it('reset while requests are in the thread pool: the reset waits for them; nothing completes into the guest after it', async () => {
    const { r, blk } = await runGuest({}, { scenario: 'reset-in-flight', queueDepth: 32, rounds: 8 });
    const rounds = r.observed!.rounds as { submitted: number; usedBefore: number; usedAfter: number; statusesWritten: number }[];
    expect(rounds).toHaveLength(8);
    for (const x of rounds) {
      // Every request whose status the device wrote is in the used ring: none was half completed.
      expect(x.statusesWritten, json(x)).toBe(x.usedAfter);
    }
    // Some resets found requests not yet completed and waited for them (the guest compared its
    // memory after the reset: nothing changed; it would have thrown otherwise).
    expect(rounds.some((x) => x.usedAfter > x.usedBefore), json(rounds)).toBe(true);
    expect(blk.inFlight).toBe(0);
  });

  for (const via of ['status', 'bus-master'] as const) {
    it(`${via === 'status' ? 'status written without DRIVER_OK' : 'bus mastering cleared (QEMU clears DRIVER_OK)'}, then DRIVER_OK again, with requests in flight: the queues resume where they stopped, data verified`, async () => {
      const { r, state } = await runGuest({}, { blocks: 96, restartEvery: 3, restartVia: via });
      expect(r.observed!.restarts).toBeGreaterThanOrEqual(4);
      expect(r.requests).toBe(2 * 96 + 2);
      expect(state).toMatchObject({ status: RUNNING, running: true, ioeventfd: 'bound', brokenReason: undefined });
    });
  }

  it('VM stop / resume in the middle of a verified workload loses no request', async () => {
    let cycles = 0;
    let stoppedInFlight = 0;
    const { r, state } = await runGuest(
      {},
      { blocks: 256, checkpointInFlight: true },
      {
        onCheckpoint: async (c, mm) => {
          if (c.checkpoint !== 'in-flight') return;
          // Requests are in flight (kicked, not reaped): stop the VM under them.
          stoppedInFlight = (c.detail as { inFlight: number }).inFlight;
          await mm.device.vmStop();
          cycles++;
        },
        during: async (mm, finished, completed) => {
          await until(() => cycles > 0 || finished());
          // The guest goes on and kicks the stopped device (an exit it ignores); then resume.
          await until(() => mm.device.state.ignoredNotifies > 0 || finished(), 200);
          await mm.device.vmResume();
          while (!finished()) {
            const c0 = completed();
            if (!(await until(() => completed() >= c0 + 48 || finished()))) continue;
            if (finished()) break;
            await mm.device.vmStop();
            cycles++;
            await new Promise<void>((res) => setTimeout(res, 1));
            await mm.device.vmResume();
          }
        },
      },
    );
    expect(stoppedInFlight).toBeGreaterThan(0);
    expect(cycles).toBeGreaterThan(1);
    expect(state.ignoredNotifies).toBeGreaterThan(0); // a kick reached the stopped device
    expect(r.requests).toBe(2 * 256 + 2);
    expect(state).toMatchObject({ vmRunning: true, running: true, brokenReason: undefined });
  });
});
