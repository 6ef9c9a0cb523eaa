// A job module for the consumer's thread pool: every export is a job.
export function add1(x) {
  return x + 1;
}
