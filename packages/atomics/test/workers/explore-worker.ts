import { workerMain } from '@vmloop/test-kit/worker';
import { SharedWords, bigInt64, defineLayout, futexSpinWait, int32, int32Array } from '@vmloop/atomics';
import { type AtomicsScheduler, OP_NAMES, isInstrumented, setAtomicsScheduler } from '@vmloop/atomics/testing';

const L = defineLayout('test.explore', { word: int32(), big: bigInt64(), arr: int32Array(2) });

/** Runs a few operations under a recording scheduler; returns what it saw. */
workerMain(() => {
  const log: string[] = [];
  const recorder: AtomicsScheduler = {
    access(op, view, index, value, replacement) {
      log.push(`${OP_NAMES[op]}@${index * view.BYTES_PER_ELEMENT}`);
      const a = Atomics as unknown as Record<string, (...args: unknown[]) => number | bigint>;
      return a[OP_NAMES[op]!]!(view, index, value, replacement);
    },
    wait(_view, index, expected, timeoutMs) {
      log.push(`wait@${index * 4}=${expected},${timeoutMs}`);
      return 'timed-out';
    },
    notify(_view, index, count) {
      log.push(`notify@${index * 4}x${count}`);
      return 0;
    },
  };
  const m = L.create();
  let r = '';
  let spun = '';
  const before = m.word.add(1); // not recorded: no scheduler yet
  setAtomicsScheduler(recorder);
  try {
    m.word.compareExchange(1, 5);
    m.big.add(2n);
    m.arr.or(1, 4);
    r = m.word.wait(5);
    spun = futexSpinWait(m.word.view, m.word.index, 5, { spins: 1000 });
    m.word.notify(1);
    SharedWords.of(m.buffer).load16(0);
  } finally {
    setAtomicsScheduler(undefined);
  }
  return { instrumented: isInstrumented(), before, r, spun, log, word: m.word.load(), big: String(m.big.load()), arr: m.arr.load(1) };
});
