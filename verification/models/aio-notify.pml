/*
 * aio_notify / aio_poll with notify_me and notified
 * (packages/aio/src/layout.ts, shared-context.ts notify(), aio-context.ts
 * pollFull() / notifyAccept() / bhPoll(), node-loop.ts).
 *
 * Two notifier threads each schedule one bottom half (the BH list is the
 * counter `req`; the push is atomic) and call aio_notify. The home thread
 * polls until both BHs ran. The first BH's callback runs a *nested*
 * blocking poll until the second BH ran (the seed-001 shape). The context
 * notifier is `event`; the NotifierSet wait blocks while it is clear.
 *
 * Safety: no lost wake-up. Once both notifiers finished, the home thread
 * must not be asleep while a scheduled BH never ran.
 *
 * Variants: NODELOOP — the home thread is the Node-loop attachment: non-
 * blocking polls, then "prepare" (notify_me |= 1, re-check) and sleep.
 * Mutants:
 *   BUG          aio_notify reads notify_me before writing notified
 *                (QEMU aio_notify.promela's missing barrier).
 *   BUG2         the blocking poll does not re-check notified after
 *                raising notify_me.
 *   DISPATCHING  seed 001: aio_notify sets the notifier only while the
 *                loop is not "dispatching"; a nested blocking poll inside
 *                a BH callback then sleeps through the second BH.
 *   BUG_PREPARE  (with NODELOOP) the attachment computes its timeout before
 *                raising bit 0 and does not re-check afterwards.
 * (BUG with NODELOOP is *not* a lost wake-up: prepare reads the BH list
 * after raising bit 0, and the push precedes the notify — QEMU's
 * aio_ctx_prepare has the same order.)
 */
byte req = 0;          /* BHs on the list (bhHead) */
bit  notified = 0;     /* ctx->notified */
byte notify_me = 0;    /* ctx->notify_me (+2 per blocking poll, bit 0 for the Node loop) */
bit  event = 0;        /* the context notifier */
bit  waiting = 0;      /* the home thread sleeps in NotifierSet.wait */
bit  dispatching = 0;  /* DISPATCHING only */
byte handled = 0;
byte notifiersDone = 0;
byte slice = 0;        /* BHs taken by a poll and not yet run (QEMU BHListSlice) */

inline notifier_set() {
  atomic { event = 1; waiting = 0 }
}

proctype notifier() {
  byte me;
  atomic { req++ };                       /* push the BH (F1/F2) */
#ifdef BUG
  me = notify_me;
  notified = 1;
  if :: me != 0 -> notifier_set() :: else -> skip fi;
#elif defined(DISPATCHING)
  notified = 1;
  if :: dispatching == 0 -> notifier_set() :: else -> skip fi;
#else
  notified = 1;                           /* (N1) */
  if :: notify_me != 0 -> notifier_set()  /* (N2), even if notified was already 1 */
     :: else -> skip fi;
#endif
  notifiersDone++
}

/* The wait of a blocking poll: NotifierSet.wait(timeout) on the context notifier. */
inline wait_event() {
  atomic { if :: event == 0 -> waiting = 1 :: else -> skip fi };
end_wait:
  (waiting == 0);
  event = 0                               /* the notifier's handler: testAndClear */
}

/* aio_poll(ctx, true) without the BH run (the caller runs BHs after it). */
inline blocking_poll_wait(raised) {
  raised = 0;
  if
  :: req > 0 || slice > 0 -> skip         /* a BH is scheduled (list or slice): timeout 0 */
  :: else ->
#ifdef DISPATCHING
       wait_event()
#else
       notify_me = notify_me + 2;         /* (P1) */
       raised = 1;
  #ifdef BUG2
       wait_event()
  #else
       if
       :: notified == 1 -> skip           /* (P2) don't block if aio_notify() was called */
       :: else -> wait_event()
       fi
  #endif
#endif
  fi;
  if :: raised == 1 -> notify_me = notify_me - 2 :: else -> skip fi;
  notified = 0                            /* (P3) notifyAccept */
}

active proctype home() {
  byte take, raised, inner_raised;
#ifdef NODELOOP
  do
  :: handled == 2 -> break
  :: else ->
       notified = 0;                      /* poll(false): accept, then run BHs */
       atomic { take = req; req = 0 };
       handled = handled + take;
       if
       :: handled == 2 -> break
       :: else -> skip
       fi;
#ifdef BUG_PREPARE
       /* compute the timeout before raising bit 0, and no re-check */
       if
       :: req > 0 || notified == 1 -> notify_me = notify_me | 1
       :: else -> notify_me = notify_me | 1; wait_event()
       fi;
#else
       notify_me = notify_me | 1;         /* prepare: raise bit 0, then compute the timeout */
       if
       :: req > 0 || notified == 1 -> skip
       :: else -> wait_event()
       fi;
#endif
       notify_me = notify_me & 254        /* finish */
  od
#else
  do
  :: handled == 2 -> break
  :: else ->
       blocking_poll_wait(raised);
#ifdef DISPATCHING
       dispatching = 1;
#endif
       atomic { slice = slice + req; req = 0 };   /* (D1) take the list as a slice */
       do
       :: slice > 0 ->
            slice--;                      /* (D3) run the next BH of the slice */
            handled++;
            if
            :: handled == 1 ->
                 /* The first BH's callback: a nested blocking poll until the
                    second BH ran (AIO_WAIT_WHILE inside a callback). The
                    nested poll continues the outer poll's slice. */
                 do
                 :: handled >= 2 -> break
                 :: else ->
                      blocking_poll_wait(inner_raised);
                      atomic { slice = slice + req; req = 0 };
                      if :: slice > 0 -> slice--; handled++ :: else -> skip fi
                 od
            :: else -> skip
            fi
       :: else -> break
       od;
#ifdef DISPATCHING
       dispatching = 0
#else
       skip
#endif
  od
#endif
}

active proctype checker() {
end_check:
  atomic { (notifiersDone == 2 && waiting == 1) -> assert(req == 0 && slice == 0 && handled == 2) }
}

init {
  atomic { run notifier(); run notifier() }
}
