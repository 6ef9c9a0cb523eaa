/**
 * A vCPU's interrupt controller and HLT (KVM's local APIC with irqfd, and
 * kvm_vcpu_halt): one notifier per MSI vector, which the machine's irqfd
 * routes set from any thread, plus a kick the run control sets, all in one
 * NotifierSet that only the vCPU's thread waits on.
 *
 * Delivery is edge-like: a vector's notifier stays set until the guest
 * takes it (`pending()` or a halt), so an interrupt that arrives while the
 * guest runs is pending for the next look, never lost.
 */
import { type EventNotifier, type EventNotifierHandle, NotifierSet } from '@vmloop/event-notifier';

/**
 * Halt-poll rounds (doorbell loads, ~4 ns each here) per clock read for a
 * window of `pollNs`: a power of two, about 1/64 of the window's rounds,
 * between 16 and 1024 (~4 µs). A window ends at most ~1/64 late.
 */
export function clockEvery(pollNs: number): number {
  const target = Math.min(1024, Math.max(16, pollNs / 256));
  return 2 ** Math.floor(Math.log2(target));
}

/** @thread home: the vCPU's thread; other threads only `set()` the notifiers from `handles`. */
export class InterruptController {
  private readonly set: NotifierSet;
  private readonly vectors: EventNotifier[];
  private readonly kick: EventNotifier;
  private readonly slotToVector = new Map<number, number>();
  /** Where pending() and the halt poll collect ready notifiers (NotifierSet.pollInto): reused, nothing allocated per look. */
  private readonly ready: EventNotifier[] = [];
  /** Halts that slept on the doorbell. */
  haltSleeps = 0;
  /** Halts that an interrupt ended during halt polling, or that found one pending. */
  haltPolls = 0;

  constructor(vectors: number) {
    this.set = NotifierSet.create({ capacity: vectors + 8 });
    this.vectors = Array.from({ length: vectors }, (_, v) => {
      const n = this.set.createNotifier();
      this.set.add(n);
      this.slotToVector.set(n.slot, v);
      return n;
    });
    this.kick = this.set.createNotifier();
    this.set.add(this.kick);
  }

  /** The vector notifiers (for MSI routes) and the kick (for run control). */
  get handles(): { vectors: EventNotifierHandle[]; kick: EventNotifierHandle } {
    return { vectors: this.vectors.map((n) => n.handle), kick: this.kick.handle };
  }

  /** Takes the pending vectors as a bitmask, without waiting (a kick is taken too and shows as 0n). */
  pending(): bigint {
    return this.take(this.ready, this.set.pollInto(this.ready));
  }

  /**
   * HLT (KVM kvm_vcpu_halt): returns the vectors that ended it, or 0n for
   * a kick or a timeout.
   *
   * First the check KVM's halt poll makes on every round
   * (kvm_vcpu_check_block): is anything pending *now*? An interrupt that
   * landed after the guest's last `pending()` — between its last look and
   * this HLT, the usual place, since a driver re-enables its interrupts
   * just before halting — ends the halt at once. A halt poll that waited
   * only for the doorbell to move would not see it and spin its whole
   * window before the sleep's scan found it (in the blk-iops run about 1
   * halt in 3,000 starts with an interrupt pending; each cost 1 ms).
   *
   * Then up to `pollNs` of halt polling on the doorbell, then a sleep of
   * `sleepMs()` ms (0: don't sleep). The scan and the sleep are one atomic
   * step: the doorbell is read before the scan and the sleep is on that
   * value (NotifierSet.wait), so an interrupt after the scan ends the
   * sleep; `sleepMs` is computed before it, so a guest timer that expires
   * meanwhile cannot be missed either (seed 002's dynticks race).
   */
  halt(pollNs: number, sleepMs: () => number): bigint {
    // (A) as in NotifierSet.wait: the doorbell before the scan, so a set
    // the scan misses moves it past seq0.
    const seq0 = this.set.sequence;
    const now = this.set.pollInto(this.ready);
    if (now !== 0) {
      this.haltPolls++;
      return this.take(this.ready, now);
    }
    if (pollNs > 0) {
      // The doorbell on every round, the clock every clockEvery(pollNs)
      // rounds: each performance.now() result is a heap number, and a loop
      // that reads the clock on every round collects its young generation
      // every few milliseconds, waking V8's helper threads onto the cores
      // the iothreads need (every 256 rounds it was still a third of what
      // the vCPU thread allocated in the blk-iops run, 1 ms windows).
      const mask = clockEvery(pollNs) - 1;
      const until = performance.now() + pollNs / 1e6;
      let rounds = 0;
      while (this.set.sequence === seq0 && ((++rounds & mask) !== 0 || performance.now() < until)) {
        /* poll the doorbell: one load */
      }
      if (this.set.sequence !== seq0) {
        this.haltPolls++;
        return this.take(this.ready, this.set.pollInto(this.ready));
      }
    }
    const timeoutMs = sleepMs();
    if (timeoutMs <= 0) return 0n;
    this.haltSleeps++;
    const woke = this.set.wait(timeoutMs, { spins: 0 });
    return this.take(woke, woke.length);
  }

  /** The first `count` ready notifiers → vector bitmask, clearing them (the guest has taken them). */
  private take(ready: readonly EventNotifier[], count: number): bigint {
    let mask = 0n;
    for (let i = 0; i < count; i++) {
      const n = ready[i]!;
      if (!n.testAndClear()) continue;
      const v = this.slotToVector.get(n.slot);
      if (v !== undefined) mask |= 1n << BigInt(v);
    }
    return mask;
  }
}
