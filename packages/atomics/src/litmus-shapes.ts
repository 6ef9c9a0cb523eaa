/**
 * The litmus test bodies, one monomorphic loop per shape × mode × thread so
 * the JIT cannot merge them. Each iteration uses fresh locations x[i], y[i]
 * and starts with a two-thread rendezvous on `arrive` (an atomic counter
 * each thread bumps, then spins on until both arrived), so the two bodies
 * run as close together in time as the machine allows. The rendezvous is
 * never between the two accesses of a body.
 *
 * Shapes (forbidden outcome under sequential consistency):
 *   SB  T0: x=1; r0=y      T1: y=1; r1=x      forbidden r0=0 ∧ r1=0
 *   MP  T0: d=1; f=1       T1: r0=f; r1=d     forbidden r0=1 ∧ r1=0
 *   LB  T0: r0=y; x=1      T1: r1=x; y=1      forbidden r0=1 ∧ r1=1
 *
 * 'atomic' accesses go through the Int32CellArray API (Atomics, seq-cst).
 * 'plain' accesses are bare typed-array element reads and writes: the
 * control that shows what the hardware and the JIT do without Atomics. It
 * is the one place in vmloop where words other threads race on are touched
 * without atomics, on purpose. Results r[i] are payload, published to the
 * main thread by the atomic `done` store at the end of the run.
 */
import type { Int32Cell, Int32CellArray } from './cell.js';

/** A shape of the litmus harness. */
export type LitmusShape = 'SB' | 'MP' | 'LB';
/** How the shape's four accesses are made. */
export type LitmusMode = 'atomic' | 'plain';

/** What one thread's loop gets. */
export interface LitmusBody {
  readonly n: number;
  /** Location x (SB, LB) or data d (MP), atomic view. */
  readonly ax: Int32CellArray;
  /** Location y (SB, LB) or flag f (MP), atomic view. */
  readonly ay: Int32CellArray;
  /** The same memory as ax/ay, plain views. */
  readonly px: Int32Array;
  readonly py: Int32Array;
  /** This thread's result per iteration. */
  readonly r: Int32Array;
  readonly arrive: Int32Cell;
  /** Bumped every 4096 iterations so a watchdog can report progress. */
  readonly progress: Int32Cell;
}

function meet(arrive: Int32Cell, i: number): void {
  arrive.add(1);
  const target = 2 * (i + 1);
  while (arrive.load() < target) {
    /* spin: both threads are running */
  }
}

function sbAtomic0(b: LitmusBody): void {
  const { n, ax, ay, r, arrive, progress } = b;
  for (let i = 0; i < n; i++) {
    meet(arrive, i);
    ax.store(i, 1);
    r[i] = ay.load(i);
    if ((i & 4095) === 0) progress.store(i);
  }
}
function sbAtomic1(b: LitmusBody): void {
  const { n, ax, ay, r, arrive } = b;
  for (let i = 0; i < n; i++) {
    meet(arrive, i);
    ay.store(i, 1);
    r[i] = ax.load(i);
  }
}
function sbPlain0(b: LitmusBody): void {
  const { n, px, py, r, arrive, progress } = b;
  for (let i = 0; i < n; i++) {
    meet(arrive, i);
    px[i] = 1;
    r[i] = py[i]!;
    if ((i & 4095) === 0) progress.store(i);
  }
}
function sbPlain1(b: LitmusBody): void {
  const { n, px, py, r, arrive } = b;
  for (let i = 0; i < n; i++) {
    meet(arrive, i);
    py[i] = 1;
    r[i] = px[i]!;
  }
}

// MP: x is the data d, y is the flag f. T0 writes d then f; T1 reads f then
// d and keeps both: f in r[i], d in r[n + i] (its result array is 2n long).
function mpAtomic0(b: LitmusBody): void {
  const { n, ax, ay, arrive, progress } = b;
  for (let i = 0; i < n; i++) {
    meet(arrive, i);
    ax.store(i, 1);
    ay.store(i, 1);
    if ((i & 4095) === 0) progress.store(i);
  }
}
function mpAtomic1(b: LitmusBody): void {
  const { n, ax, ay, r, arrive } = b;
  for (let i = 0; i < n; i++) {
    meet(arrive, i);
    r[i] = ay.load(i);
    r[n + i] = ax.load(i);
  }
}
function mpPlain0(b: LitmusBody): void {
  const { n, px, py, arrive, progress } = b;
  for (let i = 0; i < n; i++) {
    meet(arrive, i);
    px[i] = 1;
    py[i] = 1;
    if ((i & 4095) === 0) progress.store(i);
  }
}
function mpPlain1(b: LitmusBody): void {
  const { n, px, py, r, arrive } = b;
  for (let i = 0; i < n; i++) {
    meet(arrive, i);
    r[i] = py[i]!;
    r[n + i] = px[i]!;
  }
}

function lbAtomic0(b: LitmusBody): void {
  const { n, ax, ay, r, arrive, progress } = b;
  for (let i = 0; i < n; i++) {
    meet(arrive, i);
    r[i] = ay.load(i);
    ax.store(i, 1);
    if ((i & 4095) === 0) progress.store(i);
  }
}
function lbAtomic1(b: LitmusBody): void {
  const { n, ax, ay, r, arrive } = b;
  for (let i = 0; i < n; i++) {
    meet(arrive, i);
    r[i] = ax.load(i);
    ay.store(i, 1);
  }
}
function lbPlain0(b: LitmusBody): void {
  const { n, px, py, r, arrive, progress } = b;
  for (let i = 0; i < n; i++) {
    meet(arrive, i);
    r[i] = py[i]!;
    px[i] = 1;
    if ((i & 4095) === 0) progress.store(i);
  }
}
function lbPlain1(b: LitmusBody): void {
  const { n, px, py, r, arrive } = b;
  for (let i = 0; i < n; i++) {
    meet(arrive, i);
    r[i] = px[i]!;
    py[i] = 1;
  }
}

/** The loop of `thread` (0 or 1) for a shape and mode. */
export const bodies: Record<LitmusShape, Record<LitmusMode, readonly [(b: LitmusBody) => void, (b: LitmusBody) => void]>> = {
  SB: { atomic: [sbAtomic0, sbAtomic1], plain: [sbPlain0, sbPlain1] },
  MP: { atomic: [mpAtomic0, mpAtomic1], plain: [mpPlain0, mpPlain1] },
  LB: { atomic: [lbAtomic0, lbAtomic1], plain: [lbPlain0, lbPlain1] },
};

/** The two results of iteration i, as the histogram key. */
export function outcomeOf(shape: LitmusShape, n: number, i: number, r0: Int32Array, r1: Int32Array): string {
  return shape === 'MP' ? `r0=${r1[i]} r1=${r1[n + i]}` : `r0=${r0[i]} r1=${r1[i]}`;
}

/** The outcome sequential consistency forbids. */
export const FORBIDDEN: Record<LitmusShape, string> = { SB: 'r0=0 r1=0', MP: 'r0=1 r1=0', LB: 'r0=1 r1=1' };
