import workerpool from 'workerpool';

workerpool.worker({ add1: (x: number) => x + 1 });
