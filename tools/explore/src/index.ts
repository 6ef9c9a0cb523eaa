export { asExpected, explore, type ExploreOptions } from './explore.js';
export { type AnyHarness, Ghost, type HarnessSpec, type ThreadSpec, assertThat, defineHarness, threadNames } from './harness.js';
export { findHarness, listHarnesses } from './harnesses/index.js';
export { BoundedDfs, defaultChoice, independent, parseReplay, replayString, type StepOps, type StepRecord } from './dfs.js';
export { ExploreAbort } from './runtime.js';
export type { ExploreFailure, ExploreReport, RunSettings } from './types.js';
