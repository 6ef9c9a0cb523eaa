/**
 * --trace FILE: one Chrome Trace Event JSON file (the format Perfetto and
 * chrome://tracing open) with a track per thread: the main loop (device
 * events, monitor), each vCPU (exits as slices, HLT, submissions, interrupts,
 * resets), each IOThread (polls, blocking waits, bottom halves, virtqueue
 * kicks, pool submissions and completions, interrupts sent or suppressed).
 * Each thread keeps at most 200,000 records; the run's first seconds are
 * what a reader wants anyway.
 */
import { writeFileSync } from 'node:fs';
import type { TraceRecord } from '@vmloop/virtio';
import type { MainTraceRecord } from './machine.js';
import type { VcpuReport } from './vcpu-worker.js';

interface ChromeEvent {
  name: string;
  ph: string;
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  s?: string;
  cat?: string;
  args?: Record<string, unknown>;
}

const PID = 1;
const MAIN_TID = 1;
const VCPU_TID = 100;
const IOTHREAD_TID = 200;

const IOTHREAD_SPANS: Readonly<Record<string, readonly [string, 'B' | 'E']>> = {
  'poll-begin': ['aio_poll', 'B'],
  'poll-end': ['aio_poll', 'E'],
  'wait-begin': ['blocking wait', 'B'],
  'wait-end': ['blocking wait', 'E'],
};
const IOTHREAD_NAMES: Readonly<Record<string, string>> = {
  kick: 'virtqueue kick (handler ran)',
  submit: 'thread-pool submit',
  complete: 'request complete',
  irq: 'interrupt sent',
  'irq-suppressed': 'interrupt suppressed',
  'bh-run': 'bh',
  'handler-dispatch': 'notifier handler',
  'timers-run': 'timers',
  'poll-window': 'poll window',
};

export function writeTrace(
  file: string,
  main: readonly MainTraceRecord[],
  vcpus: readonly VcpuReport[],
  iothreads: readonly { name: string; records: readonly TraceRecord[] }[],
): { events: number } {
  const out: ChromeEvent[] = [
    { name: 'process_name', ph: 'M', pid: PID, tid: MAIN_TID, args: { name: 'vmloop demo VM' } },
    { name: 'thread_name', ph: 'M', pid: PID, tid: MAIN_TID, args: { name: 'main loop (exits, devices, QMP)' } },
  ];
  for (const r of main) out.push({ name: r.name, ph: 'i', s: 't', ts: r.ts, pid: PID, tid: MAIN_TID, cat: 'main', args: r.args });
  for (const v of vcpus) {
    const tid = VCPU_TID + v.index;
    out.push({ name: 'thread_name', ph: 'M', pid: PID, tid, args: { name: `vcpu${v.index}` } });
    for (const e of v.trace) {
      const ev: ChromeEvent = { name: e.name, ph: e.ph, ts: e.ts, pid: PID, tid, cat: 'vcpu' };
      if (e.dur !== undefined) ev.dur = e.dur;
      if (e.args !== undefined) ev.args = e.args;
      if (e.ph === 'i') ev.s = 't';
      out.push(ev);
    }
  }
  iothreads.forEach((t, i) => {
    const tid = IOTHREAD_TID + i;
    out.push({ name: 'thread_name', ph: 'M', pid: PID, tid, args: { name: t.name } });
    for (const [ts, point, a, b] of t.records) {
      const span = IOTHREAD_SPANS[point];
      if (span !== undefined) {
        out.push({ name: span[0], ph: span[1], ts, pid: PID, tid, cat: 'iothread' });
        continue;
      }
      const name = point === 'bh-run' ? `bh: ${String(a)}` : (IOTHREAD_NAMES[point] ?? point);
      out.push({ name, ph: 'i', s: 't', ts, pid: PID, tid, cat: 'iothread', args: b === undefined ? { detail: a } : { queue: a, value: b } });
    }
  });
  writeFileSync(file, JSON.stringify({ traceEvents: out, displayTimeUnit: 'ns', otherData: { producer: 'vmloop demo-vm' } }));
  return { events: out.length };
}
