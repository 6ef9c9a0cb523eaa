/**
 * `@vmloop/atomics/testing`: the hook a model checker uses to decide when
 * each shared-memory operation of vmloop happens (tokio's loom swaps its
 * sync primitives the same way, through one module).
 *
 * Every cross-thread protocol word in vmloop is a cell of this package, so
 * instrumenting the cells instruments every protocol. The instrumented
 * cells are a separate build selected by a Node condition:
 *
 * ```sh
 * node --conditions=vmloop-explore explorer.js   # or Worker execArgv
 * ```
 *
 * With the condition, the package's internal imports `#cell`, `#futex` and
 * `#shared-words` resolve to `dist/explore/*.js`, whose operations call the
 * scheduler installed with {@link setAtomicsScheduler} (and `Atomics` when
 * none is installed, so the instrumented build behaves exactly like the
 * normal one). Without the condition those files are never loaded and the
 * cells call `Atomics` directly: the normal build pays nothing for this
 * hook. {@link isInstrumented} tells which build this process loaded.
 *
 * tools/explore (the vmloop explorer) is the scheduler this was written for.
 * @thread any (the scheduler is per thread: each worker installs its own)
 */
import { Int32Cell } from '#cell';
import { type AtomicsScheduler, hook } from './explore/hooks.js';

export {
  OP_ADD,
  OP_AND,
  OP_COMPARE_EXCHANGE,
  OP_EXCHANGE,
  OP_LOAD,
  OP_NAMES,
  OP_OR,
  OP_STORE,
  OP_SUB,
  type AtomicOp,
  type AtomicsScheduler,
  type SharedView,
} from './explore/hooks.js';

/** The Node condition that selects the instrumented build. */
export const EXPLORE_CONDITION = 'vmloop-explore';

/** Whether this thread loaded the instrumented cells (Node ran with `--conditions=vmloop-explore`). */
export function isInstrumented(): boolean {
  return hook.instrumentedCell === Int32Cell;
}

/**
 * Installs (or with undefined, removes) this thread's scheduler. Throws
 * unless the instrumented build is loaded: in the normal build no cell
 * would ever call it.
 */
export function setAtomicsScheduler(scheduler: AtomicsScheduler | undefined): void {
  if (scheduler !== undefined && !isInstrumented()) {
    throw new Error(`atomics: setAtomicsScheduler needs the instrumented build (run Node with --conditions=${EXPLORE_CONDITION})`);
  }
  hook.scheduler = scheduler;
}

/** This thread's scheduler, if one is installed. */
export function atomicsScheduler(): AtomicsScheduler | undefined {
  return hook.scheduler;
}
