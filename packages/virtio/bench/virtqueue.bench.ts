/**
 * virtio.notify-per-req (shared/BENCH.md): kicks + interrupts per completed
 * request on a two-worker guest/host ring (Linux tools/virtio/ringtest
 * style). The driver keeps 32 requests in flight on a 256-entry queue with
 * EVENT_IDX and kicks only when needsKick() says so; the device drains with
 * disable / drain / enable / re-check and interrupts only when
 * needsNotification() says so. The peer runs the same harness with
 * suppression off (a kick after every add, an interrupt after every push),
 * which is 2 by construction; it is measured to show that it is.
 *
 * The harness is the cross-worker test's (test/ring-harness.ts,
 * test/workers/ring.ts): the benchmark counts what the test verifies.
 */
import { defineBenches, type SampleContext } from '@vmloop/bench';
import { runRing } from '../test/ring-harness.js';

// From build/bench/ to the built worker entry in build/test/workers/.
const worker = new URL('../test/workers/ring.js', import.meta.url);

const SIZE = 256;
const IN_FLIGHT = 32;

async function notificationsPerRequest(ctx: SampleContext, suppress: boolean): Promise<number> {
  const requests = ctx.quick ? 2_000 : 50_000;
  const r = await runRing(worker, { size: SIZE, inFlight: IN_FLIGHT, requests, eventIdx: true, indirect: false, suppress });
  return r.notificationsPerRequest;
}

export default defineBenches([
  {
    id: 'virtio.notify-per-req',
    metric: '(kicks + interrupts) per completed request',
    unit: 'notifications/request',
    better: 'lower',
    peer: '2 (one kick and one interrupt per request, no suppression)',
    note: `2 workers (driver, device), queue size ${SIZE}, ${IN_FLIGHT} requests in flight, VIRTIO_RING_F_EVENT_IDX, EventNotifier doorbell and interrupt; peer: the same harness notifying after every request; target ≤ 0.2 (advantage ≥ 10)`,
    ours: (ctx) => notificationsPerRequest(ctx, true),
    peerSample: (ctx) => notificationsPerRequest(ctx, false),
  },
]);
