/**
 * What `VirtQueue.pop` returns: one request as plain data (QEMU's
 * `VirtQueueElement`, rust-vmm's `DescriptorChain` once walked).
 *
 * Every segment was checked against guest memory when the chain was
 * popped: it is non-empty and lies inside one region, so
 * `memory.slice(s.addr, s.len)` returns a zero-copy view of it. A buffer
 * that spans two regions touching each other comes out as two segments.
 *
 * ```ts
 * const chain = queue.pop();
 * if (chain !== null) {
 *   const header = memory.slice(chain.readable[0]!.addr, chain.readable[0]!.len)!;
 *   // … fill chain.writable …
 *   queue.pushUsed(chain.head, bytesWritten);
 * }
 * ```
 */

/** One guest buffer: `len` bytes at guest-physical `addr`, inside one region. */
export interface Segment {
  readonly addr: number;
  readonly len: number;
}

/**
 * A popped descriptor chain (§2.7.5, §2.7.4: device-readable segments
 * first, then device-writable). From a queue with `reuseChains`, the
 * queue's own object for the head: valid until the driver makes that head
 * available again.
 */
export interface DescriptorChain {
  /** The head descriptor's index: pass it to `pushUsed` when done. */
  readonly head: number;
  /** Device-readable segments (the driver's request), in chain order. */
  readonly readable: readonly Segment[];
  /** Device-writable segments (room for the reply), in chain order. */
  readonly writable: readonly Segment[];
  /** Sum of `readable` lengths. */
  readonly readableBytes: number;
  /** Sum of `writable` lengths (the most `pushUsed` may report). */
  readonly writableBytes: number;
}
