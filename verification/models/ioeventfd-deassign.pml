/*
 * ioeventfd deassignment racing a kick (packages/virtio/src/pci/ioeventfd.ts
 * IoEventFdMatcher.write / IoEventFdTable.unbind + quiesce, virtio-pci.ts
 * unbindIoeventfds, blk-dataplane.ts stop; QEMU virtio_pci_stop_ioeventfd:
 * "unbind first, then test-and-clear and handle").
 *
 * One registration binds a queue's doorbell to its host notifier and is
 * assigned at the start. Three threads:
 *   vcpu    rings the doorbell: enter its dispatch section (dispatch odd,
 *           E1), load the generation (E2), reload its cached copy of the
 *           table if the generation moved (the entry's state), set the
 *           notifier if the cached entry matches (E3), leave (even, E4);
 *           a write that matched nothing is a synchronous exit.
 *   owner   the transport (VirtioPciDevice, on the thread that serves
 *           exits) deassigns: entry FREE (U1), generation + 1 (U2), then
 *           waits while the vCPU's dispatch sequence is odd and unchanged
 *           (U3), then stops the model.
 *   device  the queue's handler on its I/O thread (BlkDataplane): while
 *           attached it test-and-clears the notifier and handles the ring;
 *           on stop, one final test-and-clear and handle, then detaches.
 *
 * Safety (default, -DSAFETY): no notifier set after the device's final
 * test-and-clear (asserted at the set, E3), and at the end the notifier is
 * clear: every kick was either handled through the ioeventfd or taken as
 * a synchronous exit. A synchronous exit is taken as handled at once here:
 * the real vCPU blocks until the owner serves it, which only removes
 * interleavings, so the proof covers it.
 *
 * LIVE: the liveness form (spin -a, cc -DNP, pan -l -f). The vCPU forever
 * publishes a request, kicks, and spins until the request was handled
 * (progress). After the deassignment the device keeps running with
 * synchronous doorbells (QEMU virtio_queue_notify without ioeventfd;
 * vmloop's fallback): the owner serves each exit by handling the ring.
 * A kick lost in the deassignment leaves the vCPU spinning forever with no
 * progress: a non-progress cycle; weak fairness rules out never running
 * the device or the owner. (Re-assigning would hide the loss: a new
 * assignment sets the notifier itself. The safety form is the one that
 * says every deassignment loses nothing.) The dispatch sequence is a
 * counter modulo 4 in this form, which is exact: while the owner waits at
 * U3 the vCPU can only move it by 3 (finish the dispatch, then one more
 * that misses and blocks in its exit until the owner is done).
 *
 * Mutants (-D...):
 *   BUG_NO_QUIESCE   the owner does not wait out the vCPU (U3 skipped).
 *   BUG_CLEAR_FIRST  stop the model (final test-and-clear) before unbinding.
 *   BUG_LATE_ENTER   the vCPU loads the generation (and reloads) before it
 *                    enters its dispatch section.
 *   BUG_NO_GEN       the unbind does not bump the generation (U2 skipped):
 *                    the vCPU keeps matching from its cache.
 */
#define FREE     0
#define ASSIGNED 1
#define KICKS    3

#ifdef LIVE
#define DISPATCH_INC dispatch = (dispatch + 1) % 4
#else
#define DISPATCH_INC dispatch++
#endif

bit  state = ASSIGNED; /* entry.state: owner stores (U1), vCPU loads (reload) */
byte gen = 1;          /* generation: owner adds (U2), vCPU loads (E2) */
byte dispatch = 0;     /* dispatch[vcpu]: vCPU adds (E1, E4), owner loads (U3) */
bit  notifier = 0;     /* the host notifier: vCPU sets (E3), device test-and-clears */
bit  stopReq = 0;      /* owner -> device: model.stop() (a message; ordered after U3) */
bit  stopped = 0;      /* device -> owner: stop done (the promise settled) */
bit  cleared = 0;      /* ghost: the device's final test-and-clear happened */
bit  pending = 0;      /* LIVE: the vCPU's request is in the ring, not yet handled */
bit  exitReq = 0;      /* LIVE: a synchronous exit waits for the owner */
byte exits = 0;        /* safety: kicks taken as synchronous exits */
bit  vcpuDone = 0;

inline handle() {
  pending = 0          /* the device looks at the ring: every published request is taken */
}

active proctype vcpu() {
  byte g;
  byte cgen = 0;       /* cachedGeneration: differs from gen, so the first dispatch reloads */
  bit  cached = FREE;  /* the cache holds the registration */
  bit  hit;
#ifndef LIVE
  byte k = 0;
#endif
  do
#ifdef LIVE
  :: true ->
       pending = 1;                               /* publish a request, then kick */
#else
  :: k == KICKS -> break
  :: else ->
#endif
#ifdef BUG_LATE_ENTER
       g = gen;
       if :: g != cgen -> cached = state; cgen = g :: else -> skip fi;
       DISPATCH_INC;
#else
       DISPATCH_INC;                              /* (E1) enter: odd */
       g = gen;                                   /* (E2) */
       if :: g != cgen -> cached = state; cgen = g /* reload: the entry's state (then its fields) */
          :: else -> skip fi;
#endif
       if
       :: cached == ASSIGNED ->
#ifdef LIVE
            notifier = 1;                         /* (E3) */
#else
            atomic { assert(cleared == 0); notifier = 1 };  /* (E3): no set after the final clear */
#endif
            hit = 1
       :: else -> hit = 0
       fi;
       DISPATCH_INC;                              /* (E4) leave: even */
       if
       :: hit == 1 -> skip
       :: else ->                                 /* no match: a synchronous exit */
#ifdef LIVE
            exitReq = 1;
            (exitReq == 0)                        /* the vCPU waits for the owner to serve it */
#else
            exits++
#endif
       fi;
#ifdef LIVE
       do                                         /* the guest polls its used ring */
       :: pending == 0 -> break
       :: else -> skip
       od;
progress_done:
       skip
#else
       k++
#endif
  od;
  vcpuDone = 1
}

active proctype owner() {
  byte s;
#ifdef BUG_CLEAR_FIRST
  stopReq = 1;                                    /* model.stop() first ... */
  (stopped == 1);
#endif
  state = FREE;                                   /* (U1) */
#ifndef BUG_NO_GEN
  gen++;                                          /* (U2) */
#endif
#ifndef BUG_NO_QUIESCE
  s = dispatch;                                   /* (U3) quiesce: wait while odd and unchanged */
  if
  :: s % 2 == 1 -> (dispatch != s)
  :: else -> skip
  fi;
#endif
#ifndef BUG_CLEAR_FIRST
  stopReq = 1;                                    /* then model.stop(): final test-and-clear */
  (stopped == 1);
#endif
#ifdef LIVE
  /* Exits wait for the status write that deassigned (the bus serialises
     them); then each synchronous doorbell is handled at once. */
end_serve:
  do
  :: exitReq == 1 -> handle(); exitReq = 0
  od
#else
  skip
#endif
}

active proctype device() {
  do
  :: atomic { notifier == 1 -> notifier = 0 }; handle()  /* the attached handler: testAndClear, then the ring */
  :: stopReq == 1 -> break
  od;
  /* stop(): the final test-and-clear, and handle what it held; then detach. */
  if
  :: atomic { notifier == 1 -> notifier = 0; cleared = 1 }; handle()
  :: atomic { notifier == 0 -> cleared = 1 }
  fi;
  stopped = 1
}

#ifndef LIVE
active proctype checker() {
  /* Every kick handled: once everyone finished, nothing is left set. */
end_check:
  atomic { (vcpuDone == 1 && stopped == 1) -> assert(notifier == 0 && exits <= KICKS) }
}
#endif
