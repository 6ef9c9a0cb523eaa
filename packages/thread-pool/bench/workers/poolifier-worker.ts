import { ThreadWorker } from 'poolifier';

export default new ThreadWorker((x?: number) => (x ?? 0) + 1);
