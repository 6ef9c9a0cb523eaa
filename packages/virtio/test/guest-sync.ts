/**
 * Checkpoints between the guest worker (./workers/blk-guest.ts) and the
 * test on the main thread: the guest posts `{ checkpoint, detail }` and,
 * if it asked for an answer, blocks until the test acknowledged it (the
 * test reads device state, stops the VM, …, then acks). The guest also
 * publishes how many requests completed so far, for tests that act while
 * a workload runs.
 */
import { defineLayout, int32Array } from '@vmloop/atomics';

export const GuestSync = defineLayout('virtio-test.guest-sync', {
  // [ACKED] the last checkpoint sequence the test answered: written by the
  // test (store, then notify), read by the guest (load, futex wait).
  // [COMPLETED] requests completed by the guest: written by the guest
  // (store), read by the test (load).
  cells: int32Array(2),
});
export const ACKED = 0;
export const COMPLETED = 1;

/** A checkpoint message from the guest. */
export interface CheckpointMessage {
  readonly checkpoint: string;
  readonly seq: number;
  /** The guest waits for the answer. */
  readonly wait: boolean;
  readonly detail?: Record<string, unknown>;
}

export function isCheckpoint(m: unknown): m is CheckpointMessage {
  return typeof m === 'object' && m !== null && typeof (m as { checkpoint?: unknown }).checkpoint === 'string';
}
