/**
 * The machine information page in guest RAM at 0x1000: the words the host
 * (firmware and monitor role) and the guest exchange. Every word is a
 * cross-thread protocol word and goes through GuestMemory.load32/store32
 * (SharedWords, seq-cst Atomics), never a plain access.
 *
 *   0x1000 bootGeneration  written by the host (store, before it lets the
 *                          vCPUs run after a system reset); read by every
 *                          vCPU at boot (load).
 *   0x1004 pciReadyGen     written by vCPU 0 (store, after it enumerated PCI
 *                          and programmed every BAR of this boot); read by
 *                          the other vCPUs (load, waiting until it equals
 *                          bootGeneration before they probe their devices).
 *   0x1008 shutdown        written by the host (store 1: finish the workload,
 *                          drain, flush, report); read by the guest (load,
 *                          once per loop iteration).
 *   0x1100 + 64·v          vCPU v's counters, written by that vCPU only
 *                          (store), read by the host's progress display and
 *                          watchdog (load): see VCPU_* offsets.
 */
export const INFO_PAGE = 0x1000;
export const INFO_BOOT_GENERATION = INFO_PAGE + 0x0;
export const INFO_PCI_READY_GEN = INFO_PAGE + 0x4;
export const INFO_SHUTDOWN = INFO_PAGE + 0x8;
export const INFO_VCPU_BASE = INFO_PAGE + 0x100;
export const INFO_VCPU_STRIDE = 64;

/** Requests completed by this vCPU (wraps at 2^32). */
export const VCPU_COMPLETED = 0;
/** 512-byte sectors transferred (wraps at 2^32). */
export const VCPU_SECTORS = 4;
/** Requests that completed with an error status. */
export const VCPU_ERRORS = 8;
/** GUEST_* state. */
export const VCPU_STATE = 12;
/** Device resets after NEEDS_RESET. */
export const VCPU_RESETS = 16;
/** Requests in flight now. */
export const VCPU_IN_FLIGHT = 20;

export const GUEST_BOOTING = 0;
export const GUEST_RUNNING = 1;
export const GUEST_DRAINING = 2;
export const GUEST_DONE = 3;
export const GUEST_FAILED = 4;
export const GUEST_IDLE = 5;

/** Guest heaps start at 1 MiB; each vCPU gets an equal share of the rest. */
export const HEAP_BASE = 0x10_0000;

export function vcpuWord(v: number, off: number): number {
  return INFO_VCPU_BASE + v * INFO_VCPU_STRIDE + off;
}

/** The isa-debug-exit-like port the guest writes its exit code to (QEMU isa-debug-exit at 0x501). */
export const DEBUG_EXIT_PORT = 0x501;
