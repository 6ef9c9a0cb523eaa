/**
 * A minimal machine for the virtio integration tests: guest memory, one
 * virtio-blk over a temporary image, its transport on a PCI bus served by
 * an ExitServer on this (main) thread's AioContext, queues on an IOThread
 * or on the main loop, interrupts on EventNotifiers the guest waits on.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AioContext, type NodeLoopAttachment } from '@vmloop/aio';
import { EventNotifier } from '@vmloop/event-notifier';
import {
  BlkIothread,
  ExitServer,
  GuestMemory,
  IoEventFdTable,
  LocalBlkHost,
  PciBus,
  VirtioBlk,
  VirtioPciDevice,
  type AddressSpaceHandle,
  type BlkQueueHost,
  type BlkTracePoint,
  type TransportEvent,
} from '@vmloop/virtio';

export interface TestMachineOptions {
  readonly iothread: boolean;
  readonly ioeventfd: boolean;
  readonly transitional?: boolean;
  readonly imageBytes?: number;
  readonly readOnly?: boolean;
  readonly queueSize?: number;
  readonly memoryBytes?: number;
  readonly ioeventfdEntries?: number;
  /** BlkHostOptions.aio. */
  readonly aio?: 'threads' | 'inline';
  /** BlkHostOptions.tracer (main-loop host only: a tracer is a function). */
  readonly tracer?: (point: BlkTracePoint, queue: number, value: number) => void;
}

export interface TestMachine {
  readonly ctx: AioContext;
  readonly memory: GuestMemory;
  readonly device: VirtioPciDevice;
  readonly blk: VirtioBlk;
  readonly host: BlkQueueHost;
  readonly table: IoEventFdTable;
  readonly bus: PciBus;
  readonly exits: ExitServer;
  readonly irq: EventNotifier[];
  readonly space: AddressSpaceHandle;
  readonly events: TransportEvent[];
  readonly image: string;
  close(): Promise<void>;
}

export async function makeMachine(o: TestMachineOptions): Promise<TestMachine> {
  const dir = mkdtempSync(join(tmpdir(), 'vmloop-virtio-'));
  const image = join(dir, 'disk.img');
  writeFileSync(image, new Uint8Array(o.imageBytes ?? 8 << 20));
  const ctx = AioContext.create({ name: 'main', poll: { maxNs: 0 } });
  const att: NodeLoopAttachment = ctx.attachToNodeLoop();
  const memory = GuestMemory.create([{ gpa: 0, size: o.memoryBytes ?? 32 << 20 }]);
  // Vector v of APIC 0 → irq[v] (vector 0: configuration changes and INTx).
  const irq = Array.from({ length: 4 }, () => EventNotifier.create());
  const routes = { kind: 'vmloop.irq-routes' as const, version: 1 as const, msi: [irq.map((n) => n.handle)], intx: irq[0]!.handle };
  const table = IoEventFdTable.create({ entries: o.ioeventfdEntries ?? 16, vcpus: 1 });
  const host: BlkQueueHost = o.iothread
    ? await BlkIothread.start({ name: 'io0', memory: memory.handle, poll: { maxNs: 32768 }, ...(o.aio === undefined ? {} : { aio: o.aio }) })
    : new LocalBlkHost(ctx, { memory: memory.handle, ...(o.aio === undefined ? {} : { aio: o.aio }), ...(o.tracer === undefined ? {} : { tracer: o.tracer }) });
  const blk = await VirtioBlk.create({
    path: image,
    readOnly: o.readOnly ?? false,
    queueSize: o.queueSize ?? 128,
    hosts: [host],
    ...(o.ioeventfd ? { ioeventfds: table } : {}),
  });
  const events: TransportEvent[] = [];
  const device = new VirtioPciDevice({
    model: blk,
    routes,
    ioeventfd: o.ioeventfd,
    ioeventfds: table,
    transitional: o.transitional ?? true,
    onEvent: (e) => events.push(e),
  });
  const bus = new PciBus();
  bus.plug(3, device);
  const exits = new ExitServer(ctx, (a) => bus.dispatch(a), { vcpus: 1 });
  const space: AddressSpaceHandle = { exits: exits.handle, ...(o.ioeventfd ? { ioeventfds: table.handle } : {}) };
  return {
    ctx,
    memory,
    device,
    blk,
    host,
    table,
    bus,
    exits,
    irq,
    space,
    events,
    image,
    async close() {
      await device.reset();
      await host.stop();
      blk.close();
      exits.close();
      att.detach();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
