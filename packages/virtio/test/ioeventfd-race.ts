/**
 * The kick-racing-deassignment harness (test/ioeventfd.test.ts): a vCPU
 * worker (./workers/ioeventfd-vcpu.ts) rings one doorbell as fast as it
 * can through an IoEventFdMatcher, while the main thread, as the device
 * owner, assigns and deassigns that doorbell's registration over and over
 * the way VirtioPciDevice does (QEMU virtio_pci_stop_ioeventfd): unbind,
 * wait out the vCPUs (`quiesce`), then the final test-and-clear, whose
 * kicks it "handles". It then checks that nothing sets the notifier after
 * that clear: such a set is a kick that nobody will ever handle.
 *
 * Why the check is sound (a set it reports is a lost kick, and a lost kick
 * is reported):
 * - Nothing but the vCPU's matcher sets the notifier (the owner only
 *   clears it), and only through this one registration.
 * - After `quiesce()` resolved, the protocol in src/pci/ioeventfd.ts says
 *   no dispatch that could still see the registration is running: those
 *   that entered before the owner's look at the dispatch sequence were
 *   waited out (their set, if any, came before the clear), and those that
 *   entered after read the bumped generation and find the entry FREE. So a
 *   set after the clear is exactly a kick the deassignment lost.
 * - A late set happens inside the matcher's `write`, before it returns.
 *   The worker counts each write after it returned (`writes`, seq-cst), and
 *   the check waits until that count passed the value it read after the
 *   clear: the write in progress at the clear has returned by then, so its
 *   set, if it made one, is visible to the check.
 * - The notifier is in counter mode and the worker counts its hits (every
 *   hit is exactly one set): at the end the owner's handled kicks plus the
 *   late ones must equal the hits, so none can hide in coalescing.
 */
import { defineLayout, int32Array } from '@vmloop/atomics';
import { EventNotifier } from '@vmloop/event-notifier';
import { runWorkers, withWatchdog } from '@vmloop/test-kit';
import { IoEventFdTable, type IoEventFdTableHandle } from '@vmloop/virtio';

/** Cells shared by the owner and the vCPU worker. */
export const RaceCells = defineLayout('virtio-test.ioeventfd-race', {
  // [STOP] written by the owner (store 1 at the end), read by the vCPU (load per write).
  // [WRITES] doorbell writes that returned, [HITS] of them matched: written by
  // the vCPU (store, after each write returned), read by the owner (load).
  // [READY] the vCPU opened its matcher (vCPU store, owner load).
  cells: int32Array(4),
});
export const STOP = 0;
export const WRITES = 1;
export const HITS = 2;
export const READY = 3;

/** What the vCPU worker gets. */
export interface VcpuJob {
  readonly table: IoEventFdTableHandle;
  readonly cells: unknown;
  readonly address: number;
}

/** What it reports. */
export interface VcpuResult {
  readonly writes: number;
  readonly hits: number;
  readonly misses: number;
}

/** Options of {@link raceDeassign}. */
export interface RaceOptions {
  readonly iterations: number;
  /** The planted bug: test-and-clear right after the unbind, without waiting out the vCPUs. */
  readonly skipQuiesce?: boolean;
  /** Stop early after this many late sets (mutant runs). Default: never stop early. */
  readonly stopAfterLate?: number;
  /** Table rows (default 512: each vCPU reload after a generation bump scans them all, which widens the race). */
  readonly entries?: number;
}

/** What a run saw. */
export interface RaceResult {
  readonly iterations: number;
  /** Kicks the owner's final test-and-clear handled. */
  readonly handled: number;
  /** Sets after the final test-and-clear (lost kicks), and the first iteration that had one. */
  readonly late: number;
  readonly firstLate: number | undefined;
  /** Unbinds that found the vCPU inside a dispatch and waited (the race was exercised). */
  readonly quiesceWaits: number;
  readonly vcpu: VcpuResult;
}

const ADDRESS = 0xfe00_3000;

/** Spins on `cond` (briefly), then yields to the event loop between checks. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i >= 2000) await new Promise<void>((r) => setImmediate(r));
  }
}

/** Runs the race; see the module comment. Rejects naming the iteration if a kick is lost (unless skipQuiesce). */
export async function raceDeassign(worker: URL, o: RaceOptions): Promise<RaceResult> {
  const n = EventNotifier.create({ counter: true });
  const table = IoEventFdTable.create({ entries: o.entries ?? 512, vcpus: 1, notifiers: [n.handle] });
  const shared = RaceCells.create();
  const cells = shared.cells;
  const job: VcpuJob = { table: table.handle, cells: RaceCells.handle(shared), address: ADDRESS };
  let i = 0;
  let handled = 0;
  let late = 0;
  let firstLate: number | undefined;
  const what = (): string => `ioeventfd race stuck at iteration ${i} of ${o.iterations}: vCPU writes ${cells.load(WRITES)}, hits ${cells.load(HITS)}; handled ${handled}, late ${late}`;
  const vcpu = runWorkers<VcpuResult>(worker, [job], { timeoutMs: 60_000, what });
  const owner = async (): Promise<void> => {
    await until(() => cells.load(READY) === 1);
    for (; i < o.iterations; i++) {
      const hitsBefore = cells.load(HITS);
      const id = table.assign({ space: 'mmio', address: ADDRESS, size: 0, notifier: 0 });
      if (id === undefined) throw new Error(`iteration ${i}: the table refused the registration`);
      // Even iterations: unbind while the vCPU matches from its cached table
      // (it has hit since the assign). Odd ones: unbind at once, racing the
      // vCPU's reload after the generation bump.
      if (i % 2 === 0) await until(() => cells.load(HITS) !== hitsBefore);
      table.unbind(id);
      if (o.skipQuiesce !== true) await table.quiesce();
      handled += n.read(); // the final test-and-clear (counting form), then "handle" what it held
      const w = cells.load(WRITES);
      await until(() => cells.load(WRITES) > w); // the write in progress at the clear has returned
      const extra = n.read();
      if (extra > 0) {
        late += extra;
        firstLate ??= i;
        if (o.skipQuiesce !== true) {
          throw new Error(
            `kick lost at iteration ${i}: the doorbell's notifier was set ${extra} time(s) after the owner's final test-and-clear ` +
              `(unbind, quiesce, test-and-clear): a vCPU still inside a dispatch that matched the unbound registration`,
          );
        }
        if (o.stopAfterLate !== undefined && late >= o.stopAfterLate) {
          i++;
          break;
        }
      }
      // The planted bug skipped the wait before its clear; wait now (after the
      // check) only so the table may hand out the row again.
      if (o.skipQuiesce === true) await table.quiesce();
    }
  };
  try {
    await withWatchdog(Promise.race([owner(), vcpu.then(() => Promise.reject(new Error('the vCPU worker finished before it was told to stop')))]), 60_000, what);
  } catch (e) {
    cells.store(STOP, 1);
    await vcpu.catch(() => undefined);
    throw e;
  }
  cells.store(STOP, 1);
  const [r] = await vcpu;
  // After the vCPU stopped, whatever it set is either handled or late: count the rest as late.
  const rest = n.read();
  late += rest;
  if (rest > 0) firstLate ??= i;
  return { iterations: i, handled, late, firstLate, quiesceWaits: table.stats.quiesceWaits, vcpu: r! };
}
