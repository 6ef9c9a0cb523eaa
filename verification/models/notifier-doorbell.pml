/*
 * NotifierSet's counter doorbell (packages/event-notifier/src/layout.ts,
 * event-notifier.ts ring(), notifier-set.ts wait()).
 *
 * NSETTERS setters each set their own notifier (value 0 -> 1, then the
 * wake-up work); one owner waits on the set and consumes (testAndClear)
 * every notifier it finds set, until all sets are consumed. Futex waits
 * are modelled as "block while the word still equals the value read",
 * notify as clearing the owner's `waiting` flag.
 *
 * Safety: no lost wake-up. Once every setter has finished (and so has
 * made every notify it will ever make), the owner must not be asleep with
 * a set notifier it never consumed: the checker process asserts it.
 *
 * LIVE: the liveness form (spin -a, cc -DNP, pan -l -f): setters set
 * forever, the owner consumes forever; consuming is a progress step. A
 * cycle in which sets keep coalescing (or keep ringing) while the owner
 * never consumes again is a lost wake-up; weak fairness rules out merely
 * never scheduling the owner.
 *
 * Mutants (-D...):
 *   BUG_STEAL        the first design: a `sleeping` flag the setter takes
 *                    with exchange(0) — a delayed setter can take the flag
 *                    of the owner's next sleep and notify too early.
 *   BUG_LATE_SEQ     the owner reads the doorbell after scanning, not before.
 *   BUG_CHECK_EARLY  the setter checks sleepSeq before bumping the doorbell.
 */
#define NSETTERS 2

byte value[NSETTERS];   /* EventNotifier slot `value` */
bit  bitmap[NSETTERS];  /* ready bitmap bits (summary folded in) */
#ifdef LIVE
/* The doorbell only has to tell apart the bumps within one owner round —
   each setter moves its notifier off 0 at most twice per round (once
   before and once after the owner's scan consumes it) — so a counter
   modulo 8 is exact for two setters and keeps the looping form small. */
#define BUMP(x) x = (x + 1) % 8
byte doorbell = 0;
byte sleepSeq = 7;      /* no first bump returns 7 */
#else
#define BUMP(x) x++
byte doorbell = 0;      /* header.doorbell (wraps: byte arithmetic) */
byte sleepSeq = 255;    /* header.sleepSeq, initially -1 */
#endif
bit  sleeping = 0;      /* BUG_STEAL only */
bit  waiting = 0;       /* the owner is blocked in the futex wait */
byte consumed = 0;
byte setsDone = 0;

inline futex_notify() {
  waiting = 0
}

proctype setter(byte i) {
  byte old;
#ifdef LIVE
  do :: true ->
#endif
  atomic { old = value[i]; value[i] = 1 };          /* value.exchange(1) */
  if
  :: old == 0 ->
       bitmap[i] = 1;                                /* bitmap.or; summary.or */
#ifdef BUG_STEAL
       BUMP(doorbell);
       atomic { old = sleeping; sleeping = 0 };      /* sleeping.exchange(0) */
       if :: old == 1 -> futex_notify() :: else -> skip fi
#elif defined(BUG_CHECK_EARLY)
       if :: sleepSeq == doorbell -> futex_notify() :: else -> skip fi;
       BUMP(doorbell)
#else
       atomic { old = doorbell; BUMP(doorbell) };    /* (B) old = doorbell.add(1) */
       if :: sleepSeq == old -> futex_notify()       /* (D) sleepSeq.load() === old */
          :: else -> skip fi
#endif
  :: else -> skip                                    /* coalesced: one load */
  fi;
#ifdef LIVE
  od
#else
  setsDone++
#endif
}

active proctype owner() {
  byte S, i, found;
  do
#ifndef LIVE
  :: consumed == NSETTERS -> break
#endif
  :: else ->
#ifndef BUG_LATE_SEQ
       S = doorbell;                                 /* (A) before the scan */
#endif
       found = 0;
       i = 0;
       do                                            /* scan: bitmap.exchange(0) */
       :: i < NSETTERS ->
            if
            :: bitmap[i] == 1 ->
                 bitmap[i] = 0;
#ifdef LIVE
                 if
                 :: value[i] == 1 -> value[i] = 0; found = 1;
progress_consume:    skip
                 :: else -> skip
                 fi
#else
                 atomic { if :: value[i] == 1 -> value[i] = 0; consumed++; found = 1 :: else -> skip fi }
#endif
            :: else -> skip
            fi;
            i++
       :: else -> break
       od;
#ifdef BUG_LATE_SEQ
       S = doorbell;
#endif
       if
       :: found == 1 -> skip
       :: else ->
#ifdef BUG_STEAL
            sleeping = 1;
#else
            sleepSeq = S;                            /* (C) */
#endif
            atomic { if :: doorbell == S -> waiting = 1 :: else -> skip fi };
end_sleep:  (waiting == 0);                          /* futex wait while doorbell == S */
#ifdef BUG_STEAL
            sleeping = 0
#else
            skip
#endif
       fi
  od
}

#ifndef LIVE
active proctype checker() {
  /* After every setter finished, the owner may only sleep with nothing set. */
end_check:
  atomic { (setsDone == NSETTERS && waiting == 1) -> assert(value[0] == 0 && value[1] == 0) }
}
#endif

init {
  atomic { run setter(0); run setter(1) }
}
