export { CLOCK_TYPES, type ClockType, SCALE_MS, SCALE_NS, SCALE_US } from './clock-type.js';
export { Clocks, type ClocksHandle, type ClocksOptions, type HostJumpListener } from './clocks.js';
export { TimerError, type TimerErrorCode } from './errors.js';
export type { TimerStats } from './stats.js';
export { Timer } from './timer.js';
export { TimerList } from './timer-list.js';
export { TimerListGroup } from './timer-list-group.js';
