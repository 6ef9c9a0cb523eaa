/**
 * QEMU's clocks (include/qemu/timer.h, QEMUClockType).
 * - `realtime`: monotonic, always runs (QEMU_CLOCK_REALTIME).
 * - `virtual`: runs only while the VM runs; starts disabled; stopping and
 *   starting it keeps it continuous (QEMU_CLOCK_VIRTUAL).
 * - `host`: the wall clock; may jump, and listeners are told (QEMU_CLOCK_HOST).
 * - `virtual-rt`: the same as `virtual` outside icount mode, which vmloop
 *   does not have (QEMU_CLOCK_VIRTUAL_RT).
 */
export type ClockType = 'realtime' | 'virtual' | 'host' | 'virtual-rt';

/** Every clock type, in QEMU's order. */
export const CLOCK_TYPES: readonly ClockType[] = ['realtime', 'virtual', 'host', 'virtual-rt'];

/** Timer scales: how many ns one unit of `timer.mod(expire)` is (QEMU SCALE_NS/US/MS). */
export const SCALE_NS = 1;
export const SCALE_US = 1_000;
export const SCALE_MS = 1_000_000;
