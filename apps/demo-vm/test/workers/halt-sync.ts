import { defineLayout, int32 } from '@vmloop/atomics';

/**
 * The HLT test's hand-shake. `halting`: the round the vCPU worker is about
 * to halt in (written by the worker with store + notify just before
 * halt(); read by the test's main thread with load / waitAsync, which then
 * sets the round's vector). `done`: rounds whose halt returned (written by
 * the worker with store; read by the main thread with load, for the
 * watchdog's message).
 */
export const HaltSync = defineLayout('test.halt-sync', { halting: int32(), done: int32() });
