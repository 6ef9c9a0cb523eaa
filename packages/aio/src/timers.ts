/**
 * The context's timers (QEMU ctx->tlg): a TimerListGroup from
 * @vmloop/timers whose notify callback wakes the context (QEMU
 * aio_timerlist_notify → aio_notify).
 */
import { Clocks } from '@vmloop/timers';

let threadDefault: Clocks | undefined;

/**
 * The clocks a context uses when none are given: one system Clocks per
 * thread, created on first use. Its VIRTUAL clock starts stopped, as a
 * VM's does; pass shared `clocks` to contexts that must agree on virtual
 * time across threads.
 * @thread any
 */
export function defaultClocks(): Clocks {
  threadDefault ??= Clocks.create();
  return threadDefault;
}
