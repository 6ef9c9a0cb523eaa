/**
 * virtio-blk (virtio 1.x 5.2; QEMU hw/block/virtio-blk.c) over a raw image
 * file: the device model its transport talks to on the owner thread. Its
 * queues run on hosts — the owner's own context, or IOThreads — each queue
 * on the host the user maps it to (QEMU `iothread-vq-mapping`); reads and
 * writes run on each host's thread pool straight into guest memory.
 * @thread home: the owner thread
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import type { AioContext } from '@vmloop/aio';
import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';
import { VirtioError } from '../../errors.js';
import { featureBit } from '../../queue/features.js';
import { MAX_QUEUE_SIZE } from '../../queue/layout.js';
import type { IoEventFdTable } from '../../pci/ioeventfd.js';
import type { DeviceStartConfig, VirtioDeviceModel } from '../../pci/virtio-device.js';
import type { BlkDataplaneStats, BlkDisk } from './blk-dataplane.js';
import { BlkHost, type BlkHostOptions } from './blk-host.js';
import type { BlkIothread } from './blk-iothread-client.js';
import {
  BLK_CFG_BLK_SIZE,
  BLK_CFG_CAPACITY,
  BLK_CFG_DISCARD_ALIGNMENT,
  BLK_CFG_MAX_DISCARD_SECTORS,
  BLK_CFG_MAX_DISCARD_SEG,
  BLK_CFG_MAX_WRITE_ZEROES_SECTORS,
  BLK_CFG_MAX_WRITE_ZEROES_SEG,
  BLK_CFG_NUM_QUEUES,
  BLK_CFG_SEG_MAX,
  BLK_CONFIG_SIZE,
  MAX_DWZ_SECTORS,
  SECTOR_SIZE,
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_DISCARD,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_MQ,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_WRITE_ZEROES,
  VIRTIO_ID_BLOCK,
} from './layout.js';

/** The owner's own context as a queue host (QEMU: no iothread, the main loop). */
export class LocalBlkHost {
  /** @internal */
  readonly host: BlkHost;
  constructor(ctx: AioContext, options: BlkHostOptions) {
    this.host = new BlkHost(ctx, options);
  }
  get name(): string {
    return 'main-loop';
  }
  /** Drains and frees the dataplanes, closes the pool (as stopping an IOThread host does). */
  stop(): Promise<void> {
    return this.host.close();
  }
}

/** Where queues run. */
export type BlkQueueHost = LocalBlkHost | BlkIothread;

/** Options of {@link VirtioBlk.create}. */
export interface VirtioBlkOptions {
  /** Path of the raw image. Its size, rounded down to 512 bytes, is the capacity. */
  readonly path: string;
  readonly readOnly?: boolean;
  /** GET_ID answer (default "vmloop-" + the file name, at most 20 bytes). */
  readonly serial?: string;
  /** Request queues (num_queues; default 1). */
  readonly queues?: number;
  /** Largest queue size (QEMU queue-size; default 256). */
  readonly queueSize?: number;
  /** Hosts of the queues; queue q runs on `hosts[mapping[q]]` (default round robin). */
  readonly hosts: readonly BlkQueueHost[];
  readonly mapping?: readonly number[];
  /** The machine's ioeventfd table, to register the host notifiers in. */
  readonly ioeventfds?: IoEventFdTable;
}

/** One host's share of the device's queues. */
interface Endpoint {
  readonly host: BlkQueueHost;
  readonly dp: number;
  /** Device queue indices, in the dataplane's local order. */
  readonly queues: readonly number[];
  readonly notifiers: readonly EventNotifierHandle[];
}

/** Counters of a device, summed over its hosts. */
export interface VirtioBlkStats extends BlkDataplaneStats {
  readonly hosts: readonly string[];
}

export class VirtioBlk implements VirtioDeviceModel {
  readonly deviceType = VIRTIO_ID_BLOCK;
  readonly numQueues: number;
  readonly queueMaxSize: number;
  readonly features: bigint;
  readonly configSize = BLK_CONFIG_SIZE;
  readonly disk: BlkDisk;
  private readonly config = new DataView(new ArrayBuffer(BLK_CONFIG_SIZE));
  private readonly notifierIndex: (number | undefined)[];
  private readonly owned: EventNotifier[];
  /** No start since power-on or the last reset: the next start begins the rings at index 0. */
  private fresh = true;
  private closed = false;

  private constructor(
    disk: BlkDisk,
    numQueues: number,
    queueSize: number,
    private readonly endpoints: readonly Endpoint[],
    ioeventfds: IoEventFdTable | undefined,
  ) {
    this.disk = disk;
    this.numQueues = numQueues;
    this.queueMaxSize = queueSize;
    this.features =
      featureBit(VIRTIO_BLK_F_SEG_MAX) |
      featureBit(VIRTIO_BLK_F_BLK_SIZE) |
      featureBit(VIRTIO_BLK_F_FLUSH) |
      featureBit(VIRTIO_BLK_F_DISCARD) |
      featureBit(VIRTIO_BLK_F_WRITE_ZEROES) |
      (numQueues > 1 ? featureBit(VIRTIO_BLK_F_MQ) : 0n) |
      (disk.readOnly ? featureBit(VIRTIO_BLK_F_RO) : 0n);
    const c = this.config;
    c.setBigUint64(BLK_CFG_CAPACITY, BigInt(disk.capacitySectors), true);
    c.setUint32(BLK_CFG_SEG_MAX, queueSize - 2, true); // QEMU: queue size minus header and status
    c.setUint32(BLK_CFG_BLK_SIZE, SECTOR_SIZE, true);
    c.setUint16(BLK_CFG_NUM_QUEUES, numQueues, true);
    c.setUint32(BLK_CFG_MAX_DISCARD_SECTORS, MAX_DWZ_SECTORS, true);
    c.setUint32(BLK_CFG_MAX_DISCARD_SEG, 1, true);
    c.setUint32(BLK_CFG_DISCARD_ALIGNMENT, 1, true);
    c.setUint32(BLK_CFG_MAX_WRITE_ZEROES_SECTORS, MAX_DWZ_SECTORS, true);
    c.setUint32(BLK_CFG_MAX_WRITE_ZEROES_SEG, 1, true);
    const byQueue: { endpoint: Endpoint; local: number }[] = new Array(numQueues);
    for (const e of endpoints) {
      e.queues.forEach((q, local) => {
        byQueue[q] = { endpoint: e, local };
      });
    }
    this.owned = [];
    this.notifierIndex = new Array<number | undefined>(numQueues).fill(undefined);
    for (let q = 0; q < numQueues; q++) {
      const { endpoint, local } = byQueue[q]!;
      const h = endpoint.notifiers[local]!;
      this.owned[q] = EventNotifier.open(h);
      if (ioeventfds !== undefined) this.notifierIndex[q] = ioeventfds.addNotifier(h);
    }
  }

  /**
   * Opens the image and creates the device's dataplanes on its hosts.
   * Throws ERR_BACKEND if the image cannot be opened, ERR_INVALID_ARGUMENT
   * on bad options.
   */
  static async create(options: VirtioBlkOptions): Promise<VirtioBlk> {
    const queues = options.queues ?? 1;
    const queueSize = options.queueSize ?? 256;
    if (!Number.isInteger(queues) || queues < 1 || queues > 256) throw new VirtioError('ERR_INVALID_ARGUMENT', 'queues must be in [1, 256]');
    if (!Number.isInteger(queueSize) || queueSize < 4 || queueSize > MAX_QUEUE_SIZE || (queueSize & (queueSize - 1)) !== 0) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `queueSize must be a power of two in [4, ${MAX_QUEUE_SIZE}]`);
    }
    if (options.hosts.length === 0) throw new VirtioError('ERR_INVALID_ARGUMENT', 'a virtio-blk device needs at least one host for its queues');
    const mapping = options.mapping ?? Array.from({ length: queues }, (_, q) => q % options.hosts.length);
    if (mapping.length !== queues || mapping.some((h) => !Number.isInteger(h) || h < 0 || h >= options.hosts.length)) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', 'mapping must name a host index for every queue');
    }
    const readOnly = options.readOnly === true;
    let fd: number;
    try {
      fd = openSync(options.path, readOnly ? 'r' : 'r+');
    } catch (e) {
      throw new VirtioError('ERR_BACKEND', `cannot open ${options.path}: ${(e as Error).message}`, { cause: e });
    }
    const size = fstatSync(fd).size;
    const base = options.path.split('/').pop() ?? 'disk';
    const disk: BlkDisk = { fd, capacitySectors: Math.floor(size / SECTOR_SIZE), readOnly, serial: options.serial ?? `vmloop-${base}`.slice(0, 20) };
    const endpoints: Endpoint[] = [];
    try {
      for (let h = 0; h < options.hosts.length; h++) {
        const mine = mapping.flatMap((x, q) => (x === h ? [q] : []));
        if (mine.length === 0) continue;
        const host = options.hosts[h]!;
        const spec = { disk, queues: mine, queueMaxSize: queueSize };
        if (host instanceof LocalBlkHost) {
          const dp = host.host.create(spec);
          endpoints.push({ host, dp, queues: mine, notifiers: host.host.get(dp).notifierHandles });
        } else {
          const r = (await host.call({ op: 'create', spec })) as { dp: number; notifiers: EventNotifierHandle[] };
          endpoints.push({ host, dp: r.dp, queues: mine, notifiers: r.notifiers });
        }
      }
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return new VirtioBlk(disk, queues, queueSize, endpoints, options.ioeventfds);
  }

  readConfig(offset: number, size: number): number {
    const c = this.config;
    return size === 1 ? c.getUint8(offset) : size === 2 ? c.getUint16(offset, true) : c.getUint32(offset, true);
  }

  /** The configuration is read-only (no VIRTIO_BLK_F_CONFIG_WCE): writes are ignored. */
  writeConfig(): void {}

  hostNotifier(q: number): number | undefined {
    return this.notifierIndex[q];
  }

  async start(config: DeviceStartConfig): Promise<void> {
    // A start after a stop without a reset (VM resume, DRIVER_OK again)
    // continues the queues where they stopped, as QEMU's VirtQueue keeps
    // last_avail_idx across a dataplane stop/start.
    const resume = !this.fresh;
    this.fresh = false;
    await Promise.all(
      this.endpoints.map((e) => {
        if (e.host instanceof LocalBlkHost) {
          e.host.host.get(e.dp).start(config, resume);
          return undefined;
        }
        return e.host.call({ op: 'start', dp: e.dp, config, resume });
      }),
    );
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.endpoints.map((e) => {
        if (e.host instanceof LocalBlkHost) {
          const dp = e.host.host.get(e.dp);
          return new Promise<void>((r) => dp.stop(r));
        }
        return e.host.call({ op: 'stop', dp: e.dp });
      }),
    );
  }

  /** A synchronous doorbell: set the queue's host notifier, as QEMU virtio_queue_notify does with a host notifier. */
  notify(q: number): void {
    this.owned[q]?.set();
  }

  /** Device reset (after stop): the next start begins every queue at ring index 0. */
  reset(): void {
    this.fresh = true;
  }

  /** Counters summed over the device's hosts. */
  async stats(): Promise<VirtioBlkStats> {
    const parts = await Promise.all(
      this.endpoints.map(async (e): Promise<BlkDataplaneStats> => {
        if (e.host instanceof LocalBlkHost) return e.host.host.get(e.dp).stats;
        return ((await e.host.call({ op: 'stats', dp: e.dp })) as { dataplane: BlkDataplaneStats }).dataplane;
      }),
    );
    const sum = {} as Record<keyof BlkDataplaneStats, number>;
    for (const p of parts) for (const [k, v] of Object.entries(p)) sum[k as keyof BlkDataplaneStats] = (sum[k as keyof BlkDataplaneStats] ?? 0) + v;
    return { ...(sum as unknown as BlkDataplaneStats), hosts: this.endpoints.map((e) => e.host.name) };
  }

  /** Closes the image (after the device stopped and its hosts closed). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.disk.fd);
  }
}
