/** A user module for IOThread tests: a "device" with a doorbell notifier and an exported BH. */
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import type { AioContext, BottomHalf } from '@vmloop/aio';
import { defineLayout, int32 } from '@vmloop/atomics';

export const DeviceState = defineLayout('test.aio.device', {
  // Doorbell reads handled on the IOThread (it adds; the test loads/waits).
  reads: int32(),
  // Exported BH runs on the IOThread (it adds; the test loads/waits).
  bhRuns: int32(),
});

let bh: BottomHalf | undefined;
let mailbox: BottomHalf | undefined;
let leak = false;

export default function setup(ctx: AioContext, data: { state: unknown; leak?: boolean; fail?: boolean; port?: MessagePort }) {
  if (data.fail) throw new Error('device setup failed');
  leak = data.leak === true;
  const st = DeviceState.open(data.state);
  const doorbell = ctx.createNotifier();
  ctx.setNotifierHandler(doorbell, {
    onRead: (n) => {
      n.testAndClear();
      st.reads.add(1);
      st.reads.notify();
    },
  });
  bh = ctx.bh(
    () => {
      st.bhRuns.add(1);
      st.bhRuns.notify();
    },
    { name: 'device-bh' },
  );
  const port = data.port;
  if (port !== undefined) {
    // The loop never returns to the worker's event loop: drain the port from a BH.
    mailbox = ctx.bh(
      () => {
        for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) port.postMessage({ echo: m.message });
      },
      { name: 'mailbox' },
    );
  }
  return { doorbell: doorbell.handle, bh: bh.handle, ...(mailbox === undefined ? {} : { mailbox: mailbox.handle }) };
}

export function teardown(): void {
  if (!leak) bh?.delete();
  mailbox?.delete();
}
