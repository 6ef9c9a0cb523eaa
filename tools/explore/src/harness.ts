/**
 * What a harness is: a small scenario over the real package APIs that the
 * explorer runs under every schedule it enumerates. See README.md, "Adding
 * a harness".
 */

/** One logical thread of a harness: a worker of its own in the explorer. */
export interface ThreadSpec<S> {
  /** Shows in schedules ("home", "setter-1"). */
  readonly name: string;
  /** The body, run under the scheduler: every atomic operation in it is a scheduling point. */
  readonly run: (state: S) => void;
}

/** A harness: shared state, thread bodies, a final check. */
export interface HarnessSpec<Home, Handles, Remote> {
  /** `group` or `group:mutant`; the CLI's `--harness`. */
  readonly name: string;
  /** One line: what runs and what must hold. */
  readonly description: string;
  /** `'pass'`: the protocol must hold under every schedule; `'fail'`: a planted bug the explorer must find. */
  readonly expect: 'pass' | 'fail';
  /** Preemption bound of the CI run (default 2). */
  readonly bound?: number;
  /** Most schedules of the CI run (default: no limit, i.e. exhaustive within the bound). */
  readonly maxSchedules?: number;
  /**
   * Thread 0, before every schedule, not instrumented: create the shared
   * state (fresh each schedule) and return thread 0's state and the handles
   * the other threads open.
   */
  setup(): { readonly home: Home; readonly handles: Handles };
  /** Each other thread, before every schedule, not instrumented. */
  open(handles: Handles, thread: number): Remote;
  /** Thread 0: its body runs on the state from setup. */
  readonly home: ThreadSpec<Home>;
  /** Threads 1…n-1. */
  readonly remotes: readonly ThreadSpec<Remote>[];
  /** Thread 0, after every thread finished, not instrumented: throw if the outcome is wrong. */
  check?(home: Home): void;
}

// biome-ignore lint/suspicious/noExplicitAny: a harness of any shape
export type AnyHarness = HarnessSpec<any, any, any>;

/** Declares a harness (the identity, for type inference). */
export function defineHarness<Home, Handles, Remote>(spec: HarnessSpec<Home, Handles, Remote>): HarnessSpec<Home, Handles, Remote> {
  return spec;
}

/** Names of a harness's threads, thread 0 first. */
export function threadNames(h: AnyHarness): string[] {
  return [h.home.name, ...h.remotes.map((r) => r.name)];
}

/**
 * Ghost state: counters the harness keeps for its checks, in a plain
 * SharedArrayBuffer accessed with `Atomics` directly — not instrumented, so
 * bookkeeping adds no scheduling points. Put `ghost.buffer` in the handles
 * and `Ghost.open` it on the other side.
 */
export class Ghost {
  readonly words: Int32Array;
  constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
  }
  static create(words: number): Ghost {
    return new Ghost(new SharedArrayBuffer(words * 4));
  }
  get(i: number): number {
    return Atomics.load(this.words, i);
  }
  set(i: number, v: number): void {
    Atomics.store(this.words, i, v);
  }
  add(i: number, v = 1): number {
    return Atomics.add(this.words, i, v);
  }
}

/** Throws unless `ok`: a harness check failed. */
export function assertThat(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(`check failed: ${message}`);
}
