/*
 * The thread pool's done-ring poll handler (C2): QEMU io_poll for the
 * completion ring, with the notification suppression of virtqueue
 * polling (packages/thread-pool/src/thread-pool.ts, the handler
 * registered in the constructor; worker-ring.ts complete();
 * packages/aio/src/aio-context.ts spinForWork(), pollSpun(),
 * pollSetStarted() and the Node-loop prepare step).
 *
 * Two workers each finish one request: reserve a done-ring index
 * (doneTail.add), write the entry, then load `homePolling` and schedule
 * the completion BH only if it is 0. The home thread, each turn, may enter
 * poll mode (onPollBegin: homePolling = 1) and busy-poll the ring's next
 * entry, draining what it sees while it stays in poll mode (pollSpun);
 * it may run the BH if scheduled; before it sleeps it leaves poll mode
 * (onPollEnd: homePolling = 0) and looks at the ring once more, draining
 * instead of sleeping if the entry is there (pollSetStarted(false), from
 * the prepare step or a later poll). The drain takes consecutive written
 * entries from the head: an entry reserved but not written yet ends it.
 * The sleep ends when the BH is scheduled (aio-notify.pml models that
 * wake-up).
 *
 * Safety: no lost completion: once both workers finished, the home thread
 * must not be asleep while a completion is unhandled.
 * Mutants:
 *   BUG_NO_RECHECK  the home thread leaves poll mode and sleeps without
 *                   looking at the ring again.
 *   BUG_LOAD_FIRST  the worker loads homePolling before writing its entry.
 */
#define N 2
bit  ring[N];          /* done-ring entries (1 = written) */
byte doneTail = 0;     /* reserved entries */
byte doneHead = 0;     /* home: entries consumed */
bit  polling = 0;      /* homePolling */
bit  bh = 0;           /* completion BH scheduled */
bit  waiting = 0;      /* the home thread sleeps */
byte handled = 0;
byte workersDone = 0;

proctype worker() {
  byte t;
  atomic { t = doneTail; doneTail++ };    /* doneTail.add(1) */
#ifdef BUG_LOAD_FIRST
  bit p = polling;
  ring[t] = 1;
  if :: p == 0 -> atomic { bh = 1; waiting = 0 } :: else -> skip fi;
#else
  ring[t] = 1;                            /* doneRing.store(t, entry) */
  if                                      /* (C2) homePolling.load() */
  :: polling == 0 -> atomic { bh = 1; waiting = 0 }   /* (W4) schedule the BH */
  :: else -> skip
  fi;
#endif
  workersDone++
}

/* completionBhCallback's drain: consecutive written entries from the head. */
inline drain() {
  do
  :: doneHead < N && ring[doneHead] == 1 -> doneHead++; handled++
  :: else -> break
  od
}

active proctype home() {
  do
  :: handled == N -> break
  :: else ->
       /* A spin in poll mode (onPollBegin once, onPoll any number of times), or none. */
       if
       :: polling = 1;
          do
          :: doneHead < N && ring[doneHead] == 1 -> drain()   /* onPoll true: pollSpun */
          :: break                                             /* the window ends, or work elsewhere */
          od
       :: skip
       fi;
       if :: bh == 1 -> bh = 0; drain() :: else -> skip fi;  /* the BH, if scheduled */
       /* Going to sleep: poll mode ends first, then one more look. */
       if
       :: polling == 1 ->
            polling = 0;                                       /* onPollEnd */
#ifndef BUG_NO_RECHECK
            if
            :: doneHead < N && ring[doneHead] == 1 -> drain(); goto turn  /* onPoll after the end */
            :: else -> skip
            fi
#endif
       :: else -> skip
       fi;
       if :: handled == N -> break :: else -> skip fi;
       atomic { if :: bh == 0 -> waiting = 1 :: else -> skip fi };
end_wait:
       (waiting == 0);
turn:  skip
  od
}

active proctype checker() {
end_check:
  atomic { (workersDone == N && waiting == 1) -> assert(handled == N) }
}

init {
  atomic { run worker(); run worker() }
}
