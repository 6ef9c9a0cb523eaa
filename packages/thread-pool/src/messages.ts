import type { TransferListItem } from 'node:worker_threads';

/** @internal Home → worker on the worker's port: a request on the message path. */
export interface RequestMessage {
  readonly slot: number;
  readonly value: unknown;
}

/** @internal Worker → home on the worker's port: a result or error on the message path. */
export interface ResultMessage {
  readonly slot: number;
  readonly value: unknown;
}

/** @internal What a worker is started with. */
export interface PoolWorkerData {
  readonly memory: { readonly buffer: SharedArrayBuffer; readonly byteOffset: number };
  readonly slots: number;
  readonly payload: number;
  readonly id: number;
  readonly modules: readonly string[];
  readonly completion: unknown;
  readonly spins: number;
  /** ThreadPoolOptions.spinMaxNs. */
  readonly spinMaxNs: number;
  readonly idleTimeoutMs: number;
  /** ThreadPoolOptions.completionBatch. */
  readonly completionBatch: number;
  /** ThreadPoolOptions.maxAwake (Infinity: no cap). */
  readonly maxAwake: number;
  /** ThreadPoolOptions.workerData, passed to every job as its second argument. */
  readonly user: unknown;
}

/** @internal */
export type { TransferListItem };
