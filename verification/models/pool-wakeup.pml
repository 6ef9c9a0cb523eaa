/*
 * How thread-pool workers wait for requests and how a submission wakes
 * them (packages/thread-pool/src/pool-worker.ts claimSpinner,
 * releaseSpinner, waitForWork; thread-pool.ts publish, wake; the steps W0,
 * W0', S2, S4 of layout.ts).
 *
 * Two workers and the home thread. The home thread publishes two requests
 * one after the other (the tail store, S2) and after each one: skips the
 * wake while a worker holds the spinner role; otherwise, if a worker
 * sleeps and the sleepers word is not exactly as it was after the last
 * notify (S4), bumps workSeq and notifies min(sleepers, queued) of them.
 * (S4 skips while the word is unchanged since a notify and either no more
 * requests are queued than workers woken since — each takes one — or a
 * notify woke fewer than it asked for: then every sleeper counted was out
 * of the futex, leaving it or entering it with the old workSeq, and looks
 * at the ring anyway.) A worker
 * takes requests while there are any. It holds the spinner role
 * (W0: compare-exchange 0 -> its id, only when it is the only worker
 * awake and nothing is queued) after finishing a job and while it spins;
 * it gives the role up — store 0, then a look at the ring, waking a
 * sleeper if more is queued than it takes (W0') — when it has taken a
 * request or before it sleeps. It sleeps with the counter doorbell: read
 * workSeq, add SLEEP_ENTER to the sleepers word (a count and an entry
 * counter), look at the ring once more, futex-wait on the value read. The
 * futex is modelled exactly: the wait blocks only if workSeq still holds
 * the value read, and a notify releases one blocked worker.
 *
 * The two jobs meet: each runs until both have started (the `meetRound` job of
 * the tests). So the requests complete only if the second one reaches the
 * second worker while the first worker is busy: a lost wake-up *and* a
 * lost wake-up of parallelism both end in a deadlock, which spin reports
 * as an invalid end state (the home thread waits for both results).
 * The batching of tail stores under load (S3) only delays a publication
 * until the completion BH runs; with two requests both publish at once.
 * Three workers and three requests are beyond an exhaustive search here
 * (24 GB of states were not enough); what only shows with more sleepers —
 * the holder must wake one sleeper per request it saw queued, not one —
 * is the real-worker test "a burst reaches every sleeping worker" in
 * packages/thread-pool/test/pool.test.ts, which found exactly that bug.
 *
 * The cap (S5, ThreadPoolOptions.maxAwake = CAP): a wake, the submitter's
 * or the hand-off's, wakes at most CAP - (awake workers) sleepers, where
 * awake = LIVE - sleepers; the submitter that holds a wake back for the
 * cap, or skips it for the spinner role while the cap can bind, arms the
 * stranding check with the head it saw. The check (a timer in the code,
 * here a step the home thread may take at any moment while it is armed)
 * disarms; with requests queued and a worker asleep it re-arms if the
 * head moved, and otherwise wakes without the cap. CAP defaults to LIVE,
 * where the cap never binds and the protocol is the one above; -DCAP=1
 * checks it with the cap binding: the two meeting jobs then need the
 * check to get the second worker going.
 *
 * Mutants:
 *   BUG_NO_HANDOFF  the role holder gives the role up without waking a
 *                   sleeper for what is queued beyond its own request
 *                   (no W0'): a request published while the role was held
 *                   waits for the holder, which waits in its job.
 *   BUG_S4_COUNT    S4 compares only the number of sleepers, not the
 *                   entry counter: a worker that was woken, left and went
 *                   back to sleep looks like one still on its way out, and
 *                   the request that needs it is never signalled.
 *   BUG_S4_ALWAYS   S4 skips whenever the word is unchanged since the
 *                   last notify, even when that notify woke all it asked
 *                   for and more requests are queued than it woke: the
 *                   second sleeper is never woken.
 *   BUG_NO_RECHECK  a sleeper does not look at the ring after counting
 *                   itself: a submitter that read the count before it
 *                   skips the wake, and the request is slept through.
 *   BUG_NO_WATCH_SPINNER (with CAP=1) a submitter that skips its wake for
 *                   the spinner role does not arm the check: the holder's
 *                   hand-off is capped, the holder waits in its job, and
 *                   nothing looks at the requests it left queued.
 *   BUG_NO_STRAND   (with CAP=1) the cap without the check.
 */
#define R 2
#define LIVE 2
/* The entry counter stops at S4_CAP, and S4 never skips once it has: the
   code closes an S4 window after 1 ms, long before its 22-bit counter can
   wrap (2^22 futex waits), so within a window the counter never repeats. */
#define S4_CAP 7
#ifndef CAP
#define CAP LIVE
#endif

byte tail = 0;        /* requests published (submitTail) */
byte head = 0;        /* requests taken (submitHead) */
byte spinning = 0;    /* the spinner role: 0 or the holder's id */
byte sleepCount = 0;  /* sleepers word: the count ... */
byte sleepEntries = 0;/* ... and the entry counter (see S4_CAP) */
byte workSeq = 0;
bit  asleep[4];       /* blocked in the futex wait (index = worker id, 1 and 2) */
byte running = 0;     /* jobs started */
byte done = 0;        /* jobs finished */
bit  closing = 0;

/* Atomics.notify(word, n): releases up to n blocked workers (any of them). */
inline notify_n(n, woken) {
  atomic {
    woken = 0;
    do
    :: woken < n && asleep[1] -> asleep[1] = 0; woken++
    :: woken < n && asleep[2] -> asleep[2] = 0; woken++
    :: woken < n && asleep[3] -> asleep[3] = 0; woken++
    :: else -> break
    od
  }
}

/* The home thread's state for S4 and S5 (globals only so that the inlines below can reach them). */
byte wokeCount = 255, wokeEntries = 255;   /* the sleepers word at the last notify */
byte inTransit = 0;                         /* workers woken since the word was last different */
bit allWoken = 0;                           /* a notify since then woke fewer than it asked for (the code: inTransit = Infinity) */
bit watching = 0;                           /* the stranding check is armed (S5) ... */
byte watchedHead = 0;                       /* ... with this head */

/* (S5) watchHead(): arm the check with the head as it is now, unless armed */
inline watch() {
  if
  :: !watching -> watching = 1; watchedHead = head
  :: else -> skip
  fi
}

/* wake(capped) after the tail store: the spinner skip, S4, the cap, the notify */
inline wake(capped) {
  if
  :: spinning != 0 ->                        /* the holder looks again itself */
#ifndef BUG_NO_WATCH_SPINNER
    if :: CAP < LIVE -> watch() :: else -> skip fi
#else
    skip
#endif
  :: else ->
    atomic { c = sleepCount; e = sleepEntries };   /* one load of the word */
    h = head;                                      /* the head, once, for S4 and the notify count */
    held = 0;
    if
    :: c == 0 -> held = 1
#ifdef BUG_S4_COUNT
    :: c != 0 && c == wokeCount && e < S4_CAP && tail - head <= inTransit -> held = 1
#else
    /* (S4) head first, then the word again: a woken worker leaves the
       wait (the word changes) before it takes its request (head moves) */
    :: c != 0 && c == wokeCount && e == wokeEntries && e < S4_CAP ->
      atomic { c = sleepCount; e = sleepEntries };
      if
#ifdef BUG_S4_ALWAYS
      :: c == wokeCount && e == wokeEntries -> held = 1
#else
      :: c == wokeCount && e == wokeEntries && (allWoken || tail - h <= inTransit) -> held = 1
#endif
      :: else -> skip
      fi
#endif
    :: else -> skip
    fi;
    if
    :: held -> skip
    :: else ->
      /* min(sleepers, max(1, queued)), then (S5) at most the room the cap leaves */
      if :: tail - h > 1 -> asked = tail - h :: else -> asked = 1 fi;
      if :: asked > c -> asked = c :: else -> skip fi;
      room = CAP - (LIVE - c);
      if
      :: capped && room < asked ->
        watch();
        if :: room <= 0 -> held = 1 :: else -> asked = room fi
      :: else -> skip
      fi;
      if
      :: held -> skip
      :: else ->
        workSeq++;
        notify_n(asked, woken);
        if
        :: c == wokeCount && e == wokeEntries -> inTransit = inTransit + woken;
           if :: woken < asked -> allWoken = 1 :: else -> skip fi
        :: else -> wokeCount = c; wokeEntries = e; inTransit = woken;
           if :: woken < asked -> allWoken = 1 :: else -> allWoken = 0 fi
        fi
      fi
    fi;
    held = 0; room = 0; asked = 0; woken = 0; c = 0; e = 0; h = 0  /* dead from here: do not let them split states */
  fi
}

/* (S5) strandCheck(): the timer fired */
inline strand_check() {
  watching = 0;
  h = head;
  if
  :: tail == h || sleepCount == 0 -> skip
  :: else ->
    if
    :: h != watchedHead -> watch()
    :: else -> wake(0)
    fi
  fi
}

#ifdef BUG_NO_STRAND
#define CHECK false
#else
#define CHECK watching
#endif

proctype home() {
  byte r = 0;
  byte c, e, h;
  byte woken, asked;
  bit held;
  short room;
  do
  :: r < R ->
    tail++; r++;                             /* (S2) the tail store */
    wake(1)
  :: CHECK -> strand_check()
  :: r == R -> break
  od;
  do                                         /* waiting for both results */
  :: done == R -> break                      /* a deadlock before this is a lost wake-up */
  :: CHECK -> strand_check()
  od;
  closing = 1;
  workSeq++;
  atomic { asleep[1] = 0; asleep[2] = 0; asleep[3] = 0 }
}

#define HANDOFF(n) notify_n(n, woken)

proctype worker(byte me) {
  bit spinner = 0, took = 0;
  byte woken = 0;
  byte h, t, c, seq;
  short n, room;

  /* (W0) take the role if nobody holds it, nothing is queued and no other worker is awake */
  #define claim() \
    if \
    :: !spinner -> \
      h = head; t = tail; c = sleepCount; \
      if \
      :: h == t && LIVE - c <= 1 -> \
        atomic { if :: spinning == 0 -> spinning = me; spinner = 1 :: else -> skip fi } \
      :: else -> skip \
      fi \
    :: else -> skip \
    fi

  /* (W0) give the role up, then look; (W0') wake a sleeper for each request
     queued beyond `taking`, at most the room the cap leaves (S5) */
  #define release(taking) \
    spinner = 0; \
    spinning = 0; \
    h = head; t = tail; \
    if \
    :: t - h > taking && spinning == 0 -> \
      c = sleepCount; \
      n = t - h - taking; \
      if :: n > c -> n = c :: else -> skip fi; \
      room = CAP - (LIVE - c); \
      if :: room < n -> n = room :: else -> skip fi; \
      if :: n > 0 -> workSeq++; HANDOFF(n) :: else -> skip fi; \
      n = 0; room = 0; woken = 0 \
    :: else -> skip \
    fi

loop:
  if
  :: closing -> goto out
  :: else -> skip
  fi;
  atomic { if :: head < tail -> head++; took = 1 :: else -> took = 0 fi };
  if
  :: took ->
#ifdef BUG_NO_HANDOFF
    if :: spinner -> spinner = 0; spinning = 0 :: else -> skip fi;
#else
    if :: spinner -> release(0) :: else -> skip fi;
#endif
    running++;
    (running >= R);                          /* the job: meet the other one */
    claim();                                 /* before the completion is visible */
    done++;
    goto loop
  :: else -> skip
  fi;
  /* waitForWork */
  claim();
  if
  :: spinner ->
    if
    :: head < tail -> goto loop              /* the spin saw work: keep the role */
    :: true -> skip                          /* the spin ran out */
    fi;
    release(1);
    if
    :: h < t -> goto loop
    :: else -> skip
    fi
  :: else -> skip
  fi;
  /* sleep: read workSeq, count ourselves, look once more, futex-wait */
  seq = workSeq;
  atomic { sleepCount++; if :: sleepEntries < S4_CAP -> sleepEntries++ :: else -> skip fi };
#ifdef BUG_NO_RECHECK
  if
  :: true ->
#else
  if
  :: head < tail || closing -> sleepCount--; goto loop
  :: else ->
#endif
    atomic { if :: workSeq == seq -> asleep[me] = 1 :: else -> skip fi };
end_sleep:
    (asleep[me] == 0);
    sleepCount--;
    goto loop
  fi;
out:
  skip
}

init {
  atomic {
    run home();
    run worker(1);
    run worker(2)
  }
}
