import { Clocks } from '@vmloop/timers';
import { workerMain } from '@vmloop/test-kit/worker';

workerMain((d: { clocks: unknown; op: 'read' | 'stop' }) => {
  const clocks = Clocks.open(d.clocks);
  if (d.op === 'stop') clocks.setVirtualEnabled(false);
  return { virtual: clocks.now('virtual'), enabled: clocks.isEnabled('virtual'), realtime: clocks.now('realtime') };
});
