/*
 * One EventNotifier between producers that publish work and one consumer
 * (packages/event-notifier/src/event-notifier.ts set() / testAndClear() /
 * wait(); the usage loop in its README).
 *
 * Producers publish work (an atomic counter), then set(): value 0 -> 1
 * (exchange; an already-set notifier is left alone — one load), and only
 * the setter that moved it off 0 notifies, and only if `waiters` > 0. The
 * consumer: wait while value == 0 (counting itself in `waiters`), then
 * testAndClear, then take the work.
 *
 * Safety: no lost wake-up: once the producers finished, the consumer must
 * not sleep while work it never took is published.
 * Mutants:
 *   BUG_CLEAR_LATE   take the work, then clear: a set that coalesces in
 *                    between is cleared away with its work left behind.
 *   BUG_EARLY_LOAD   the setter reads `waiters` before its RMW on value
 *                    (store-buffering broken).
 */
#define NPRODUCERS 2

byte work = 0;
byte value = 0;
byte waiters = 0;
bit  waiting = 0;      /* the consumer is blocked in its futex wait */
byte taken = 0;
byte producersDone = 0;

proctype producer() {
  byte old, w;
  atomic { work++ };                         /* publish the work (atomic) */
#ifdef BUG_EARLY_LOAD
  w = waiters;
  atomic { old = value; value = 1 };
#else
  atomic { old = value; value = 1 };         /* value.exchange(1) (after the load fast path) */
  w = waiters;                               /* pairs with waiters.add before the futex wait */
#endif
  if
  :: old == 0 && w != 0 -> waiting = 0        /* Atomics.notify */
  :: else -> skip
  fi;
  producersDone++
}

active proctype consumer() {
  byte got;
  do
  :: taken == NPRODUCERS -> break
  :: else ->
       /* wait(): count ourselves, then sleep while value == 0 */
       waiters++;
       atomic { if :: value == 0 -> waiting = 1 :: else -> skip fi };
end_wait:
       (waiting == 0);
       waiters--;
#ifdef BUG_CLEAR_LATE
       atomic { got = work; work = 0 };
       taken = taken + got;
       value = 0
#else
       value = 0;                            /* testAndClear (exchange 0) */
       atomic { got = work; work = 0 };      /* then take the work */
       taken = taken + got
#endif
  od
}

active proctype checker() {
end_check:
  atomic { (producersDone == NPRODUCERS && waiting == 1) -> assert(work == 0) }
}

init {
  atomic { run producer(); run producer() }
}
