import { workerMain } from '@vmloop/test-kit/worker';
import { defineLayout, int32 } from '@vmloop/atomics';

const W = defineLayout('test.futex', { word: int32(), started: int32() });

workerMain((d: { handle: unknown; op: 'wait' | 'store-notify' }) => {
  const m = W.open(d.handle);
  if (d.op === 'store-notify') {
    m.word.store(1);
    return m.word.notify();
  }
  m.started.store(1);
  // Loop: a wake proves nothing; the word proves the store.
  while (m.word.load() === 0) m.word.wait(0, 10_000);
  return String(m.word.load());
});
