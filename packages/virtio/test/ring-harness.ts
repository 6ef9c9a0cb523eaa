/**
 * The main-thread side of the two-worker ring harness (./workers/ring.ts):
 * guest memory with the rings above 4 GiB and the buffers low, a doorbell
 * and an interrupt EventNotifier, one driver and one device worker, a
 * watchdog that reports the ring state if a notification is lost. Used by
 * test/virt-queue-multithread.test.ts and bench/virtqueue.bench.ts.
 */
import { defineLayout, int32Array } from '@vmloop/atomics';
import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';
import { runWorkers } from '@vmloop/test-kit';
import { GuestMemory, type GuestMemoryHandle, type VirtQueueStats } from '@vmloop/virtio';
import { DriverQueue, type DriverQueueStats, RawRing, type RingAddresses } from '@vmloop/virtio/testing';

/** Cells of a run. */
export const RingProgress = defineLayout('virtio-test.ring-progress', {
  // [0] requests completed (driver), [1] requests served (device),
  // [2] kicks sent (driver), [3] interrupts sent (device).
  // Each written by its one worker (store), read by the test's watchdog (load).
  cells: int32Array(4),
});

export const COMPLETED = 0;
export const SERVED = 1;
export const KICKS = 2;
export const INTERRUPTS = 3;

export interface RingJob {
  readonly role: 'driver' | 'device';
  readonly memory: GuestMemoryHandle;
  readonly ring: RingAddresses;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  /** Requests to complete in total. */
  readonly requests: number;
  /** Requests the driver keeps on the ring. */
  readonly inFlight: number;
  /** Notify only when the ring asks for it (false: after every request). */
  readonly suppress: boolean;
  /** Request and reply buffers: 64 bytes per in-flight slot from here. */
  readonly data: number;
  /** Indirect tables: 32 bytes per slot from here. */
  readonly tables: number;
  readonly kick: EventNotifierHandle;
  readonly interrupt: EventNotifierHandle;
  readonly progress: unknown;
}

export interface DriverResult {
  readonly role: 'driver';
  readonly completed: number;
  readonly kicks: number;
  readonly stats: DriverQueueStats;
  readonly elapsedNs: number;
}

export interface DeviceResult {
  readonly role: 'device';
  readonly served: number;
  readonly interrupts: number;
  readonly stats: VirtQueueStats;
}

/** What to run. */
export interface RingRunOptions {
  readonly size: number;
  readonly inFlight: number;
  readonly requests: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  readonly suppress: boolean;
  /** Watchdog (default 60 s). */
  readonly timeoutMs?: number;
}

/** What a run did. */
export interface RingRunResult {
  readonly driver: DriverResult;
  readonly device: DeviceResult;
  /** (kicks + interrupts) / completed requests. */
  readonly notificationsPerRequest: number;
}

const DATA = 0;
const RINGS = 0x1_0000_0000;

/**
 * Runs one driver and one device worker over a fresh ring until
 * `requests` complete. `worker` is the built ./workers/ring.js, resolved
 * by the caller (its path from source and from build differs).
 */
export async function runRing(worker: URL, o: RingRunOptions): Promise<RingRunResult> {
  const l = DriverQueue.layout(o.size);
  const memory = GuestMemory.create([
    { gpa: DATA, size: 64 * o.inFlight + 32 * o.inFlight + 4096 },
    { gpa: RINGS, size: l.size },
  ]);
  const ring = { size: o.size, descTable: RINGS + l.descTable.offset, availRing: RINGS + l.availRing.offset, usedRing: RINGS + l.usedRing.offset };
  const kick = EventNotifier.create();
  const interrupt = EventNotifier.create();
  const progress = RingProgress.create();
  const common = {
    memory: memory.handle,
    ring,
    eventIdx: o.eventIdx,
    indirect: o.indirect,
    requests: o.requests,
    inFlight: o.inFlight,
    suppress: o.suppress,
    data: DATA,
    tables: DATA + 64 * o.inFlight,
    kick: kick.handle,
    interrupt: interrupt.handle,
    progress: RingProgress.handle(progress),
  };
  const raw = new RawRing(memory, ring);
  const cell = (i: number): number => progress.cells.load(i);
  const [driver, device] = await runWorkers<DriverResult | DeviceResult>(
    worker,
    [
      { ...common, role: 'driver' },
      { ...common, role: 'device' },
    ] satisfies RingJob[],
    {
      timeoutMs: o.timeoutMs ?? 60_000,
      what: () =>
        `lost notification: driver completed ${cell(COMPLETED)}, device served ${cell(SERVED)} of ${o.requests}; ` +
        `kicks ${cell(KICKS)} (doorbell set: ${kick.isSet()}), interrupts ${cell(INTERRUPTS)} (set: ${interrupt.isSet()}); ` +
        `avail.idx ${raw.availIdx()} avail_event ${raw.availEvent()} used.flags ${raw.usedFlags()}; ` +
        `used.idx ${raw.usedIdx()} used_event ${raw.usedEvent()} avail.flags ${raw.availFlags()}`,
    },
  );
  const d = driver as DriverResult;
  const v = device as DeviceResult;
  return { driver: d, device: v, notificationsPerRequest: (d.kicks + v.interrupts) / d.completed };
}
