export { Transfer, transfer } from './codec.js';
export { PoolError, type PoolErrorCode, type SerializedError } from './errors.js';
export { type PoolCallback, PoolRequest, type RequestState } from './request.js';
export type { PoolStats } from './stats.js';
export { ThreadPool, type SubmitOptions, type ThreadPoolOptions } from './thread-pool.js';
