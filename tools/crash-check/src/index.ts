export { checkImage, type ImageReport } from './check-image.js';
export { type DiskJournal, type Journal, JournalError, parseJournal } from './journal.js';
export { DEMO_CLI, formatTrial, rng, runTrial, type TrialOptions, type TrialResult, trialOptions } from './trial.js';
