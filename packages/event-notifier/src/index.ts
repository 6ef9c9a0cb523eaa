export { NotifierError, type NotifierErrorCode } from './errors.js';
export {
  EventNotifier,
  type EventNotifierHandle,
  type EventNotifierOptions,
  type NotifierWaitAsyncOptions,
  type NotifierWaitOptions,
} from './event-notifier.js';
export { NotifierSet, type NotifierSetOptions } from './notifier-set.js';
export type { EventNotifierStats, NotifierSetStats } from './stats.js';
export { MAX_CAPACITY } from './layout.js';
