import { defineLayout, int32, int32Array } from '@vmloop/atomics';

/** Counters of the multi-worker aio tests (each comment: writer → reader). */
export const Mesh = defineLayout('test.aio.mesh', {
  // pending[i]: requests sent to worker i and not yet consumed. Senders add
  // (before scheduling i's BH); worker i's BH exchanges it to 0.
  pending: int32Array(8),
  // received[i]: requests worker i consumed (written by i, read by the watchdog).
  received: int32Array(8),
  // sent[i]: requests worker i sent (written by i, read by the watchdog).
  sent: int32Array(8),
  // Workers that finished sending and receiving (add; load + futex wait).
  done: int32(),
});

/** State of the seed-001 shape test. */
export const Seed = defineLayout('test.aio.seed001', {
  // inflight[j]: 1 while BH j is scheduled and has not run. The completer
  // sets it (store 1, then schedules); the home BH clears it (store 0).
  inflight: int32Array(64),
  // ran[j]: runs of BH j (home writes, watchdog reads).
  ran: int32Array(64),
  // Total BH runs (home writes with add, completer and watchdog read).
  total: int32(),
  // Nested waits entered / finished by the home thread.
  nested: int32(),
  // Set by the home thread (store 1) when its runs are done; the perturbing
  // thread reads it (load) and acknowledges with perturbDone before the
  // home thread destroys its context.
  stop: int32(),
  // The perturbing thread stopped (store 1, notify); home waits on it.
  perturbDone: int32(),
  // A BH ran while its inflight word was 0: a duplicate run.
  duplicates: int32(),
});

/** waitWhile / kick ping-pong. */
export const Kick = defineLayout('test.aio.kick', {
  // The condition word: the kicker stores round+1, then kicks; home reads it.
  flag: int32(),
  // Rounds the home thread completed (home stores, kicker waits on it).
  round: int32(),
});

/** Adaptive polling test. */
export const Polled = defineLayout('test.aio.polled', {
  // Work no notifier announces: stored by the worker itself before its
  // blocking poll (standing in for a ring index another thread wrote); read
  // by onPoll. Only the busy-poll loop can discover it.
  work: int32(),
});

/**
 * A producer that suppresses its notification while the consumer polls
 * (virtqueue notification suppression against the Node-loop spin).
 */
export const Suppress = defineLayout('test.aio.suppress', {
  // Items produced: the worker stores round + 1, then loads `polling`
  // (store-buffering pair with the consumer's store of 0 to `polling`,
  // then its onPoll load of `work`); the main thread loads it.
  work: int32(),
  // 1 while the main thread's context is in poll mode: the main thread
  // stores it in onPollBegin / onPollEnd; the worker loads it after its
  // `work` store and sets the notifier only when it is 0.
  polling: int32(),
  // Items consumed: the main thread stores and notifies; the worker waits
  // on it (futex) before producing the next item.
  ack: int32(),
});

/** BH ping-pong between two contexts. */
export const Pong = defineLayout('test.aio.pong', {
  // rounds[i]: BH runs of side i (side i stores; the watchdog loads).
  rounds: int32Array(2),
});
