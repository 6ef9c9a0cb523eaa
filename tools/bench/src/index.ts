export { defineBenches, type BenchCase, type BenchResult, type SampleContext } from './bench.js';
export { advantageOf, median, runCase } from './run.js';
