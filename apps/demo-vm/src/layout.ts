/**
 * Shared words of the demo machine outside guest RAM: each vCPU's run
 * control (QEMU's cpu->stop / cpu->stopped and qemu_cpu_kick).
 *
 *   main thread (Vcpu.request)                 vCPU worker (VcpuRuntime)
 *   --------------------------                 -------------------------
 *   request.store(PAUSE | REBOOT | QUIT)  (R1)  loop: request.load()          (R2)
 *   kick notifier.set()                         HLT wakes on the kick notifier
 *   waitAsync(ack) until ack == request   (R4)  ack.store(request); ack.notify (R3)
 *                                               PAUSE/REBOOT: wait while request unchanged
 *   request.store(RUN); request.notify()  (R5)  ... then continues
 *
 * (R1) before the kick: a vCPU woken by it, or one that was not halted,
 * loads the new request at its next (R2). (R3) after the vCPU has stopped
 * touching devices: the monitor may then reset or stop them. (R5) wakes a
 * vCPU parked in its futex wait on `request`.
 */
import { CACHE_LINE, defineLayout, int32 } from '@vmloop/atomics';

export const RUN = 0;
export const PAUSE = 1;
export const REBOOT = 2;
export const QUIT = 3;

export const VcpuControl = defineLayout('demo-vm.vcpu-control', {
  // The monitor's request (RUN, PAUSE, REBOOT, QUIT). Written by the main
  // thread (store, R1/R5, then notify); read by the vCPU (load, R2; futex
  // wait while parked).
  request: int32({ align: CACHE_LINE }),
  // The request the vCPU has acted on. Written by the vCPU (store then
  // notify, R3); read by the main thread (load, waitAsync, R4).
  ack: int32({ align: CACHE_LINE }),
});
