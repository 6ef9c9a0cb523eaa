/** What every thread of the machine reports about itself at the end. */
export interface ThreadReport {
  readonly name: string;
  readonly kind: 'main' | 'vcpu' | 'iothread' | 'other';
  /** CPU time in ns (Linux), or undefined. */
  readonly cpuNs: number | undefined;
}
