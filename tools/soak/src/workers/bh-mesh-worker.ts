/**
 * (a) One worker of the BH mesh: it owns an AioContext with an inbox BH and
 * an ack BH, sends messages into every peer's inbox (a RemoteBottomHalf
 * schedule from this thread into theirs) with at most `window`
 * unacknowledged per peer, and sleeps in `waitWhile` whenever every window
 * is full: then only a peer's ack BH schedule can wake it, so one lost
 * wake-up stops this worker for good and the soak's watchdog names it.
 * The pattern is packages/aio/test's 4-worker mesh, made continuous by the
 * acknowledgements.
 */
import { parentPort } from 'node:worker_threads';
import { AioContext, type AioContextHandle, type AioStats, type BottomHalfHandle, RemoteBottomHalf } from '@vmloop/aio';
import { workerMain } from '@vmloop/test-kit/worker';
import { BhMesh, Control, MAX_MESH } from '../layout.js';

export interface BhMeshJob {
  readonly id: number;
  readonly workers: number;
  readonly window: number;
  readonly pollMaxNs: number;
  readonly mesh: unknown;
  readonly control: unknown;
}

export interface BhMeshHandles {
  readonly inbox: BottomHalfHandle;
  readonly ack: BottomHalfHandle;
  readonly ctx: AioContextHandle;
}

export interface BhMeshResult {
  readonly sent: number;
  readonly received: number;
  readonly acks: number;
  readonly drains: number;
  readonly stats: AioStats;
}

function receive<T>(): Promise<T> {
  return new Promise((resolve) => parentPort!.once('message', resolve));
}

workerMain(async (job: BhMeshJob): Promise<BhMeshResult> => {
  const m = BhMesh.open(job.mesh);
  const control = Control.open(job.control);
  const me = job.id;
  const n = job.workers;
  const ctx = AioContext.create({ name: `soak-bh-${me}`, poll: { maxNs: job.pollMaxNs } });
  let peersAck: (RemoteBottomHalf | undefined)[] = [];
  let received = 0;
  let acks = 0;
  const inbox = ctx.bh(
    () => {
      for (let s = 0; s < n; s++) {
        if (s === me) continue;
        const k = m.pending.exchange(me * MAX_MESH + s, 0);
        if (k === 0) continue;
        received += k;
        // Received before the ack: the sender's window (sent - received)
        // must have moved by the time its ack BH runs and it re-checks.
        m.received.add(me * MAX_MESH + s, k);
        m.ackPending.add(s, 1);
        m.acksSent.add(s, 1);
        peersAck[s]!.schedule();
      }
    },
    { name: `inbox-${me}` },
  );
  const ack = ctx.bh(
    () => {
      const k = m.ackPending.exchange(me, 0);
      acks += k;
      m.acksTaken.add(me, k);
    },
    { name: `ack-${me}` },
  );
  parentPort!.postMessage({ inbox: inbox.handle, ack: ack.handle, ctx: ctx.handle } satisfies BhMeshHandles);
  const all = await receive<BhMeshHandles[]>();
  const peersInbox = all.map((h, i) => (i === me ? undefined : RemoteBottomHalf.open(h.inbox)));
  peersAck = all.map((h, i) => (i === me ? undefined : RemoteBottomHalf.open(h.ack)));
  const peersCtx = all.map((h, i) => (i === me ? undefined : AioContext.open(h.ctx)));

  const outstanding = (r: number): number => (m.sent.load(r * MAX_MESH + me) - m.received.load(r * MAX_MESH + me)) | 0;
  const allFull = (): boolean => {
    for (let r = 0; r < n; r++) if (r !== me && outstanding(r) < job.window) return false;
    return true;
  };
  const anyOutstanding = (): boolean => {
    for (let r = 0; r < n; r++) if (r !== me && outstanding(r) !== 0) return true;
    return false;
  };

  let sent = 0;
  let drains = 0;
  let x = 0x9e3779b9 ^ (me * 0x85ebca6b);
  let iter = 0;
  while (control.stop.load() === 0) {
    let progressed = false;
    for (let r = 0; r < n; r++) {
      if (r === me || outstanding(r) >= job.window) continue;
      // Counted as sent before it can be taken (sent >= received always).
      m.sent.add(r * MAX_MESH + me, 1);
      m.pending.add(r * MAX_MESH + me, 1);
      peersInbox[r]!.schedule();
      sent++;
      progressed = true;
    }
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    if (!progressed) {
      // Every window is full: only an ack (a peer's schedule of our ack BH)
      // ends this sleep; inbox messages are served meanwhile.
      ctx.waitWhile(() => allFull());
    } else if ((x & 63) === 0) {
      // Now and then wait for everything to drain: a ping-pong moment in
      // which every single wake-up matters.
      drains++;
      ctx.waitWhile(() => anyOutstanding());
    } else if ((++iter & 7) === 0) {
      ctx.poll(false);
    }
  }

  // Drain: everything we sent is taken, then tell the others and keep
  // serving our inbox until every worker drained. Once done == n every
  // message everywhere was taken, so each worker that then sees it (outside
  // its callbacks) has finished every callback that schedules a peer's ack;
  // nobody deletes its BHs or destroys its context before all reached that
  // point (quiesced), and the acks owed to us are then on our list.
  ctx.waitWhile(() => anyOutstanding());
  m.done.add(1);
  for (const c of peersCtx) c?.kick();
  ctx.waitWhile(() => m.done.load() < n);
  m.quiesced.add(1);
  m.quiesced.notify();
  for (let q = m.quiesced.load(); q < n; q = m.quiesced.load()) m.quiesced.wait(q);
  ctx.poll(false);
  inbox.delete();
  ack.delete();
  ctx.poll(false);
  const stats = ctx.stats;
  ctx.destroy();
  return { sent, received, acks, drains, stats };
});
