/*
 * Bottom-half scheduling and dequeue (packages/aio/src/layout.ts F1/F2 and
 * D1–D3; shared-context.ts enqueueRemote()/push(); aio-context.ts
 * takeRemoteList()/runOne()).
 *
 * Two BHs, A (0) and B (1), on the lock-free list; two remote schedulers
 * schedule A, B, A. A schedule ORs PENDING|SCHEDULED into the flag word
 * and pushes the BH (CAS on the head) only if PENDING was clear. The home
 * thread takes the whole list (exchange), walks every `next`, then
 * dequeues each BH (AND away PENDING|SCHEDULED) and runs it if SCHEDULED.
 * How the home thread is woken is modelled elsewhere (aio-notify.pml): here
 * it simply waits for a non-empty list.
 *
 * Safety: a BH is never on the list twice, and no schedule is lost: when
 * the schedulers are done and the list is empty, every schedule of every
 * BH is covered by a dequeue that came after it (ghost counters).
 * Mutants:
 *   BUG_CLEAR_BEFORE_WALK  dequeue (clear PENDING) before reading `next`:
 *                          a re-push rewrites `next` and cuts the slice.
 *   BUG_PUSH_ALWAYS        push even when PENDING was already set.
 */
#define END 255
#define PENDING 1
#define SCHEDULED 2

byte flags[2];
byte next[2];
byte head = END;
byte onList[2];        /* ghost: times each BH is on the list */
byte sched[2];         /* ghost: schedules so far */
byte covered[2];       /* ghost: schedules covered by the latest dequeue */
byte runs[2];
byte schedulersDone = 0;

inline schedule(b) {
  byte old, h;
  atomic { old = flags[b]; flags[b] = flags[b] | PENDING | SCHEDULED; sched[b]++ };   /* (F1) */
#ifdef BUG_PUSH_ALWAYS
  if :: true ->
#else
  if :: (old & PENDING) == 0 ->
#endif
       do                                                 /* (F2) QSLIST_INSERT_HEAD_ATOMIC */
       :: h = head;
          next[b] = h;
          atomic {
            if
            :: head == h -> head = b; onList[b]++; assert(onList[b] == 1); break
            :: else -> skip
            fi
          }
       od
  :: else -> skip
  fi
}

proctype scheduler() {
  schedule(0);
  schedule(1);
  schedule(0);
  schedulersDone++
}

inline dequeue(b) {
  byte old;
  atomic { old = flags[b]; flags[b] = flags[b] & ~(PENDING | SCHEDULED); covered[b] = sched[b] };  /* (D3) */
  if :: (old & SCHEDULED) != 0 -> runs[b]++ :: else -> skip fi
}

active proctype home() {
  byte h, first, second, n;
  do
  :: atomic { head == END && schedulersDone == 2 } -> break
  :: atomic { head != END -> h = head; head = END } ->  /* (D1) take the whole list */
       n = 0;
       first = h;
       if :: h != END -> onList[h]--; n = 1 :: else -> skip fi;
#ifdef BUG_CLEAR_BEFORE_WALK
       dequeue(first);
       second = next[first];
#else
       second = next[first];                           /* (D2) read every next first */
#endif
       if
       :: second != END -> onList[second]--; n = 2; assert(next[second] == END)
       :: else -> skip
       fi;
#ifndef BUG_CLEAR_BEFORE_WALK
       dequeue(first);
#endif
       if :: n == 2 -> dequeue(second) :: else -> skip fi
  od;
  /* Every schedule was covered by a dequeue after it. */
  assert(covered[0] == sched[0] && covered[1] == sched[1])
}

init {
  atomic { run scheduler(); run scheduler() }
}
