/**
 * Worker entry: runs the fuzz targets for `cases` cases and returns the
 * FuzzRunResult. Running in a worker lets the watching thread terminate a
 * case that never finishes and report it (see ./progress.ts).
 */
import { workerMain } from '@vmloop/test-kit/worker';
import { CHUNK, DONE, type FuzzJob, FuzzProgress, INDEX } from './progress.js';
import { type FuzzRunResult, runFuzz } from './targets.js';

workerMain((job: FuzzJob): FuzzRunResult => {
  const { cells } = FuzzProgress.open(job.progress);
  return runFuzz({
    cases: job.cases,
    seed: job.seed,
    onCase: (chunk, index) => {
      cells.store(CHUNK, chunk);
      cells.store(INDEX, index);
    },
    onProgress: (done) => {
      cells.store(DONE, done);
    },
  });
});
