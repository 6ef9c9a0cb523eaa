/**
 * Every shared word of the soak run, declared once (writer → reader, and
 * the operation each pairs with). Counters are int32: at the rates a
 * 2-core machine reaches, none wraps within hours (the busiest, a BH pair,
 * would need 3.5 M messages/s for 10 minutes); differences are taken with
 * `| 0` anyway.
 */
import { CACHE_LINE, defineLayout, int32, int32Array } from '@vmloop/atomics';

/** Most BH-mesh workers (pairs are indexed receiver * MAX_MESH + sender). */
export const MAX_MESH = 4;
/** Most notifier setters. */
export const MAX_SETTERS = 8;
/** Counter-mode notifiers in the owner's NotifierSet. */
export const SET_COUNTERS = 32;
/** Flag-mode notifiers in the owner's set, each with a work word. */
export const SET_FLAGS = 32;

/** The run's control words. */
export const Control = defineLayout('soak.control', {
  // 1 once the run's time is up: stored by the main thread; every activity
  // loads it at the top of its loop and then drains (see each worker).
  stop: int32({ align: CACHE_LINE }),
  // 1 once the main thread will touch no handle of a worker's context again
  // (its last schedule is done): stored + notified by the main thread; the
  // timers worker futex-waits on it before it deletes its BHs.
  released: int32(),
});

/**
 * (a) Bottom halves across workers. Worker s sends messages to every peer
 * r through r's inbox BH, at most `window` unacknowledged per peer; r's
 * inbox acknowledges through s's ack BH.
 */
export const BhMesh = defineLayout('soak.bh-mesh', {
  // sent[r*4+s]: messages s sent to r. Written by s (add, before pending),
  // read by s (window) and by the main thread (watchdog, final check).
  sent: int32Array(MAX_MESH * MAX_MESH, { align: CACHE_LINE }),
  // pending[r*4+s]: sent and not yet taken. s adds 1, then schedules r's
  // inbox (the schedule publishes it); r's inbox exchanges it to 0.
  pending: int32Array(MAX_MESH * MAX_MESH, { align: CACHE_LINE }),
  // received[r*4+s]: what r's inbox took from s (r adds, after the
  // exchange; before it schedules s's ack BH). s loads it: sent - received
  // is what it still has outstanding to r.
  received: int32Array(MAX_MESH * MAX_MESH, { align: CACHE_LINE }),
  // ackPending[s]: acks owed to s. Receivers add 1, then schedule s's ack
  // BH; s's ack BH exchanges it to 0.
  ackPending: int32Array(MAX_MESH, { align: CACHE_LINE }),
  // acksSent[s]: ack schedules aimed at s (receivers add); acksTaken[s]:
  // what s's ack BH took (s adds). Equal at the end.
  acksSent: int32Array(MAX_MESH, { align: CACHE_LINE }),
  acksTaken: int32Array(MAX_MESH),
  // Workers that drained everything they sent (add, then kick every peer's
  // waitWhile); read by everyone's waitWhile.
  done: int32({ align: CACHE_LINE }),
  // Workers that saw done == workers outside their callbacks (add +
  // notify): each has then scheduled every ack it owes. Nobody deletes its
  // BHs before all did (futex wait), so no schedule meets a deleted BH.
  quiesced: int32(),
});

/**
 * (b) Notifiers. Setters set counter notifiers of the owner's NotifierSet,
 * flag notifiers of that set after publishing work, and one standalone
 * counter EventNotifier that another worker waits on. After a burst a
 * setter waits until both consumers caught up with what was published.
 */
export const Notifiers = defineLayout('soak.notifiers', {
  // counterSets[s]: sets setter s made on the set's counter notifiers
  // (added after each set()); the owner's reads must sum to their total
  // plus one final set per setter.
  counterSets: int32Array(MAX_SETTERS, { align: CACHE_LINE }),
  // work[i]: units published for flag notifier i (setters add, then set();
  // the owner clears the notifier, then exchanges the word to 0).
  work: int32Array(SET_FLAGS, { align: CACHE_LINE }),
  // workSent[s]: units setter s published (add, after the work add).
  workSent: int32Array(MAX_SETTERS, { align: CACHE_LINE }),
  // efdSets[s]: sets setter s made on the standalone notifier.
  efdSets: int32Array(MAX_SETTERS, { align: CACHE_LINE }),
  // What the set owner accounted for: counter reads + work taken. The owner
  // stores it after each round, then notifies; setters futex-wait on it.
  ownerSum: int32({ align: CACHE_LINE }),
  // What the standalone consumer read (store + notify; setters wait on it).
  efdSum: int32({ align: CACHE_LINE }),
  // Setters that stopped (add), each followed by one final set on counter
  // notifier 0 and on the standalone notifier, so a consumer asleep after
  // the last real set is woken to see it.
  settersDone: int32({ align: CACHE_LINE }),
  // Wake-ups of the owner (its set.wait returned) and of the standalone
  // consumer (its wait returned), for the summary.
  ownerWakes: int32(),
  efdWakes: int32(),
});

/** (c) Timers on an AioContext, plus remote pokes that arm timers. */
export const Timers = defineLayout('soak.timers', {
  // Timer callbacks that ran (the worker stores its count; watchdog loads).
  fired: int32({ align: CACHE_LINE }),
  // Arms (mod on a timer that was not pending), re-arms (mod on a pending
  // one), deletes of pending timers: the worker stores its counts.
  armed: int32(),
  rearmed: int32(),
  deleted: int32(),
  // Worst lateness so far, in µs (a timer that fires 10 s late is a lost
  // wake-up and fails the run; smaller figures are only reported).
  maxLateUs: int32(),
  // pokesSent: the main thread adds 1, then schedules the poke BH;
  // pokePending: the same, consumed by the BH's exchange; pokesTaken: what
  // the BH took (worker adds). pokesSent == pokesTaken at the end.
  pokesSent: int32({ align: CACHE_LINE }),
  pokePending: int32(),
  pokesTaken: int32(),
});
