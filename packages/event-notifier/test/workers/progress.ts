import { defineLayout, int32Array } from '@vmloop/atomics';

/** progress[i]: rounds completed by worker i (written by worker i with store, read by the test's watchdog with load). */
export const Progress = defineLayout('test.progress', { progress: int32Array(8) });
