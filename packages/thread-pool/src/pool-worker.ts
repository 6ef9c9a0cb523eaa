/**
 * A thread-pool worker (QEMU worker_thread): take the next queued request
 * from the shared ring, run its job, store the result, mark it done, and
 * schedule the pool's completion BH. Spins briefly, then sleeps on the
 * counter doorbell; retires after `idleTimeoutMs` idle while the pool has
 * more than `min` workers. Started by ThreadPool; not exported.
 */
import { type MessagePort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { RemoteBottomHalf, adjustPollWindow } from '@vmloop/aio';
import { type PayloadView, TAG_ERROR, TAG_ERROR_MESSAGE, TAG_MESSAGE, Transfer, decode, encode, encodedLength, encodedTag } from './codec.js';
import { PoolError, serializeError } from './errors.js';
import { ACTIVE, CANCELLED, JOB_NAME_BYTES, QUEUED, SLEEP_ENTER, WORKER_PROVEN, WORKER_RETIRED, metaJob, metaLength, metaTag, poolLayout, sleepingOf } from './layout.js';
import { WorkerRing } from './worker-ring.js';
import type { PoolWorkerData, RequestMessage } from './messages.js';

type Job = (arg: unknown, workerData: unknown) => unknown;

const data = workerData as PoolWorkerData & { port: MessagePort };
const mem = poolLayout({ slots: data.slots, payload: data.payload }).open(data.memory);
const P = data.payload;
const pv: PayloadView = {
  bytes: mem.payload,
  view: new DataView(mem.payload.buffer, mem.payload.byteOffset, mem.payload.byteLength),
};
const completion = RemoteBottomHalf.open(data.completion);
const ring = new WorkerRing(mem, completion, data.id, data.completionBatch);
const port = data.port;
const decoder = new TextDecoder();

const jobs = new Map<string, Job>();
let moduleError: unknown;
const byIndex: (Job | undefined)[] = [];
const nameOf = (index: number): string => {
  const raw = mem.jobNames.subarray(index * JOB_NAME_BYTES, (index + 1) * JOB_NAME_BYTES);
  const end = raw.indexOf(0);
  return decoder.decode(raw.subarray(0, end < 0 ? raw.length : end));
};
function jobFor(index: number): Job {
  const cached = byIndex[index];
  if (cached !== undefined) return cached;
  if (moduleError !== undefined) throw moduleError;
  const name = nameOf(index);
  const fn = jobs.get(name);
  if (fn === undefined) throw new PoolError('ERR_UNKNOWN_JOB', `no job "${name}" in ${data.modules.join(', ')}`);
  byIndex[index] = fn;
  return fn;
}

/** Requests posted to this worker's port, by slot. */
const mailbox = new Map<number, unknown>();
let mailSeen = 0;
function drainMail(): void {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    const msg = m.message as RequestMessage;
    mailbox.set(msg.slot, msg.value);
  }
}

/** A mailed request reserved for this worker (state QUEUED, worker = our id), or -1. */
function takeMailed(): number {
  const mail = mem.mail.load(data.id);
  if (mail === mailSeen && mailbox.size === 0) return -1;
  mailSeen = mail;
  drainMail();
  for (const slot of mailbox.keys()) {
    // Ours before it is ACTIVE, as in WorkerRing.take().
    mem.worker.store(slot, data.id);
    if (mem.state.compareExchange(slot, QUEUED, ACTIVE) === QUEUED) return slot;
    mailbox.delete(slot); // cancelled meanwhile; the home thread completed it
    if (mem.state.load(slot) === CANCELLED) ring.complete(slot);
  }
  return -1;
}

function finish(slot: number, value: unknown, failed: boolean): void {
  const base = mem.payloadBase(slot);
  let tag: number;
  let len: number;
  if (failed) {
    const e = encode(serializeError(value), pv, base, P);
    tag = encodedTag(e) === TAG_MESSAGE ? TAG_ERROR_MESSAGE : TAG_ERROR;
    len = encodedLength(e);
    if (tag === TAG_ERROR_MESSAGE) port.postMessage({ slot, value: serializeError(value) });
  } else if (value instanceof Transfer) {
    port.postMessage({ slot, value: value.value }, [...value.transferList]);
    tag = TAG_MESSAGE;
    len = 0;
  } else {
    const e = encode(value, pv, base, P);
    tag = encodedTag(e);
    len = encodedLength(e);
    if (tag === TAG_MESSAGE) port.postMessage({ slot, value });
  }
  // Before the home thread can see this completion and submit the next
  // request: if we will be waiting for it, hold the spinner role (W0), so
  // the submitter need not wake anybody.
  claimSpinner();
  ring.publish(slot, tag, len);
}

/**
 * Runs the request in `slot` and publishes its result. Synchronous for a
 * job that returns a value (no promise, no microtask hop per request);
 * returns a promise only when the job returned one.
 */
function run(slot: number): Promise<void> | undefined {
  // mem.worker[slot] is ours already (stored before the slot became ACTIVE).
  let result: unknown;
  try {
    const meta = mem.argMeta.load(slot);
    const tag = metaTag(meta);
    let arg: unknown;
    if (tag === TAG_MESSAGE) {
      if (!mailbox.has(slot)) drainMail();
      arg = mailbox.get(slot);
      mailbox.delete(slot);
    } else {
      arg = decode(tag, metaLength(meta), pv, mem.payloadBase(slot));
    }
    result = jobFor(metaJob(meta))(arg, data.user);
  } catch (e) {
    finish(slot, e, true);
    return undefined;
  }
  if (result instanceof Promise) {
    return result.then(
      (v: unknown) => finish(slot, v, false),
      (e: unknown) => finish(slot, e, true),
    );
  }
  finish(slot, result, false);
  return undefined;
}

/** Whether a request waits in the shared ring or this worker's mailbox. */
function workVisible(): boolean {
  return mem.submitHead.load() !== mem.submitTail.load() || mem.mail.load(data.id) !== mailSeen;
}

/** Adaptive spinning (ThreadPoolOptions.spinMaxNs): QEMU's poll-max-ns, grow and shrink for a worker. */
const spinParams = { maxNs: data.spinMaxNs, grow: 2, shrink: 2 };
/** How long this worker spins beyond its `spins` loads, in ns: grows while sleeps are short. */
let spinWindowNs = 0;

/** The spin before sleeping: `spins` looks at the ring, then up to the adaptive window. True if work appeared. */
function spin(): boolean {
  for (let i = 0; i < data.spins; i++) if (workVisible()) return true;
  if (spinWindowNs === 0) return false;
  const end = performance.now() + spinWindowNs / 1e6;
  do {
    for (let i = 0; i < 64; i++) if (workVisible()) return true;
  } while (performance.now() < end);
  return false;
}

/** Whether this worker holds the spinner role (`spinning` holds our id + 1). */
let spinner = false;
const SPINNER_ID = data.id + 1;

/**
 * (W0) Takes the spinner role, if nobody holds it, no other worker is awake
 * and nothing is queued: then submitters skip the futex wake, because we
 * are bound to look at the ring. A worker still running a job comes back
 * to the ring by itself, and a second spinner only takes CPU from the home
 * thread that feeds them. Going straight to sleep is always safe; the
 * spin only saves the wake-up.
 */
function claimSpinner(): void {
  if (spinner || data.spins === 0 || mem.submitHead.load() !== mem.submitTail.load()) return;
  if (mem.live.load() - sleepingOf(mem.sleepers.load()) > 1) return;
  spinner = mem.spinning.compareExchange(0, SPINNER_ID) === 0;
}

/**
 * (W0) Gives the spinner role up, then looks at the ring — pairs with the
 * submitter's tail store then `spinning` load (S2): it saw the role held,
 * so we see its request here, or it saw it free and woke a sleeper
 * itself. (W0') More than `taking` requests queued and nobody spinning:
 * wake a sleeper for each one beyond `taking`, or they wait for us alone —
 * as many as `maxAwake` leaves room for (S5: the submitter that skipped
 * its wake for the role watches the head, and wakes the rest if we get
 * stuck in our job). Returns whether work is visible.
 */
function releaseSpinner(taking: number): boolean {
  spinner = false;
  mem.spinning.store(0);
  const queued = (mem.submitTail.load() - mem.submitHead.load()) | 0;
  if (queued > taking && mem.spinning.load() === 0) {
    // Every request published while we held the role is in `queued` (the
    // submitters skipped their wakes for them): one sleeper for each.
    const sleeping = sleepingOf(mem.sleepers.load());
    const n = Math.min(sleeping, queued - taking, data.maxAwake - (mem.live.load() - sleeping));
    if (n > 0) {
      mem.workSeq.add(1);
      mem.workSeq.notify(n);
    }
  }
  return queued > 0 || mem.mail.load(data.id) !== mailSeen;
}

/**
 * Waits for work (QEMU worker_thread's wait on the request semaphore, with
 * a spin first); returns false when this worker should retire. Counted in
 * `idle` while it sleeps, as QEMU counts idle_threads around its wait (the
 * spinner counts as idle through the spinner role). The protocol (W0,
 * W0', the sleep against S2) is explained in layout.ts.
 */
function waitForWork(): boolean {
  const start = spinParams.maxNs !== 0 ? performance.now() : 0;
  claimSpinner();
  if (spinner) {
    // Keep the role when work appears: the main loop gives it up once it
    // has taken a request (W0'), so submitters skip the wake until then.
    if (spin()) return true;
    if (releaseSpinner(1)) return true;
  }
  const seq = mem.workSeq.load();
  // Count ourselves as sleeping first, then check every condition once more
  // (closing included) — pairs with the submitter's tail store then
  // `sleepers` load (S2): it either sees us and bumps `workSeq`, or we see
  // its work here. The futex wait on the `seq` read before that catches a
  // bump that lands in between.
  mem.idle.add(1);
  mem.sleepers.add(SLEEP_ENTER);
  let closing = mem.closing.load() !== 0;
  if (!closing && !workVisible()) {
    const r = mem.workSeq.wait(seq, data.idleTimeoutMs);
    mem.sleepers.sub(1);
    mem.idle.sub(1);
    // QEMU adjust_polling_time: a wait the window could have covered grows it.
    if (spinParams.maxNs !== 0) spinWindowNs = adjustPollWindow(spinWindowNs, (performance.now() - start) * 1e6, spinParams);
    closing = mem.closing.load() !== 0;
    if (r !== 'timed-out' && !closing) return true;
  } else {
    mem.sleepers.sub(1);
    mem.idle.sub(1);
    if (!closing) return true;
  }
  // Idle for idleTimeoutMs (or the pool is closing): retire if the pool
  // keeps more than `min` workers.
  const floor = closing ? 0 : mem.minWorkers.load();
  for (let live = mem.live.load(); live > floor; live = mem.live.load()) {
    if (mem.live.compareExchange(live, live - 1) === live) {
      mem.retired.store(data.id, WORKER_RETIRED);
      return false;
    }
  }
  return true;
}

async function main(): Promise<void> {
  for (const url of data.modules) {
    try {
      const mod = (await import(url)) as Record<string, unknown>;
      for (const [name, fn] of Object.entries(mod)) if (typeof fn === 'function') jobs.set(name, fn as Job);
    } catch (e) {
      const hint = url.endsWith('.ts') ? ' (Node 20 cannot load TypeScript: build the job module to .js)' : '';
      moduleError = new PoolError('ERR_JOB_MODULE', `cannot load job module ${url}${hint}: ${(e as Error).message}`, { cause: e });
    }
  }
  let proven = false;
  for (;;) {
    let slot = takeMailed();
    if (slot < 0) slot = ring.take();
    if (slot < 0) {
      ring.flush(); // nothing more queued: hand back what batching held
      if (!waitForWork()) break;
      continue;
    }
    // The spinner took its request: give the role up, and wake a sleeper
    // for whatever else is queued (W0').
    if (spinner) releaseSpinner(0);
    // Back-pressure is on: tell the home thread the queue just got shorter.
    if (mem.signalTake.load() !== 0) completion.schedule();
    const pending = run(slot);
    if (pending !== undefined) await pending;
    if (!proven) {
      // Once per worker: a death from now on is not a startup failure.
      proven = true;
      mem.retired.store(data.id, WORKER_PROVEN);
    }
  }
  port.close();
}

main().catch((e: unknown) => {
  // Outside any job: let the worker die; the pool replaces it.
  setImmediate(() => {
    throw e;
  });
});
