export { WatchdogError, withWatchdog } from './watchdog.js';
export { runWorkers, type RunWorkersOptions, type SerializedError, type WorkerOutcome } from './workers.js';
export { thrownCode } from './errors.js';
