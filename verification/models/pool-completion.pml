/*
 * The thread pool's completion BH (packages/thread-pool/src/pool-worker.ts
 * complete(); thread-pool.ts completionBhCallback()), QEMU
 * thread_pool_completion_bh.
 *
 * Two workers each finish one request: reserve a done-ring index
 * (doneTail.add), write the entry, then schedule the completion BH. The
 * home thread runs the BH when it is scheduled (dequeue clears it); the BH
 * drains the ring — an index reserved but not yet written ends the drain,
 * its worker schedules the BH after writing — and, if more completions are
 * pending and it is not scheduled already, reschedules itself *before* the
 * callback (once per drain: a nested run uses the schedule up, and it is
 * taken again); at the end of the drain it cancels and looks at the ring
 * once more (QEMU's "goto restart" after qemu_bh_cancel). The first callback
 * runs a nested poll until the second request completed (QEMU
 * test-thread-pool). The wake-up of a sleeping home thread is modelled as
 * in aio-notify.pml.
 *
 * Safety: no lost completion: once both workers finished, the home thread
 * must not be asleep while a completion is unhandled.
 * Mutants:
 *   BUG_NO_RESCHEDULE  the BH does not reschedule itself before a callback:
 *                      the nested poll sleeps on a completion the running
 *                      BH already owns.
 *   BUG_SCHEDULE_FIRST the worker schedules the BH before writing its entry.
 */
bit  ring[2];          /* done-ring entries (1 = written) */
byte doneTail = 0;     /* reserved entries */
byte doneHead = 0;     /* home: entries consumed */
bit  bh = 0;           /* completion BH scheduled (flags PENDING|SCHEDULED) */
bit  waiting = 0;      /* the home thread sleeps */
byte handled = 0;
byte workersDone = 0;

inline schedule_bh() {
  atomic { bh = 1; waiting = 0 }
}

proctype worker() {
  byte t;
  atomic { t = doneTail; doneTail++ };    /* doneTail.add(1) */
#ifdef BUG_SCHEDULE_FIRST
  schedule_bh();
  ring[t] = 1;
#else
  ring[t] = 1;                            /* doneRing.store(t, slot + 1) */
  schedule_bh();                          /* (W4) */
#endif
  workersDone++
}

/* Sleep until the BH is scheduled (a blocking poll with nothing else to do). */
inline wait_for_bh() {
  atomic { if :: bh == 0 -> waiting = 1 :: else -> skip fi };
end_wait:
  (waiting == 0)
}

/* The BH body without nesting (run from the nested poll). */
inline drain_inner() {
  do
  :: doneHead < doneTail && ring[doneHead] == 1 ->
       ring[doneHead] = 0; doneHead++; handled++
  :: else -> break
  od
}

active proctype home() {
  byte runs = 0;        /* entries into the BH, nested ones included */
  byte armedAt = 255;   /* runs when this drain scheduled the BH; 255: not armed */
  do
  :: handled == 2 -> break
  :: else ->
       wait_for_bh();
       bh = 0;                            /* dequeue: clear SCHEDULED */
       runs++; armedAt = 255;
       do                                 /* completionBhCallback() */
       :: doneHead < doneTail && ring[doneHead] == 1 ->
            ring[doneHead] = 0; doneHead++;      /* takeCompletion() */
            if :: armedAt != 255 && armedAt != runs -> armedAt = 255   /* a nested run used it */
               :: else -> skip fi;
#ifndef BUG_NO_RESCHEDULE
            if :: armedAt == 255 && doneHead != doneTail -> bh = 1; armedAt = runs  /* reschedule before the callback */
               :: else -> skip fi;
#endif
            handled++;
            if
            :: handled == 1 ->
                 /* callback: nested poll until the other request completed */
                 do
                 :: handled >= 2 -> break
                 :: else ->
                      wait_for_bh();
                      bh = 0; runs++;
                      drain_inner()
                 od
            :: else -> skip
            fi
       :: else ->
            if
            :: armedAt != 255 -> bh = 0; armedAt = 255   /* cancel, then look again */
            :: else -> break
            fi
       od
  od
}

active proctype checker() {
end_check:
  atomic { (workersDone == 2 && waiting == 1) -> assert(handled == 2) }
}

init {
  atomic { run worker(); run worker() }
}
