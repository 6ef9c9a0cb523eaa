/**
 * ioeventfd: doorbell writes that a vCPU turns into a notifier set without
 * leaving its thread (KVM_IOEVENTFD, QEMU memory_region_add_eventfd).
 *
 * The owner thread keeps a table in shared memory; each vCPU matches its
 * MMIO/PIO writes against it before falling back to a synchronous exit.
 * Unbinding must be safe against a vCPU that already matched the entry and
 * is about to set its notifier (KVM waits out such vCPUs with SRCU before
 * KVM_IOEVENTFD returns). Here each vCPU brackets its match-and-set in a
 * dispatch sequence (odd inside), and the owner, after unbinding, waits for
 * every vCPU that was inside to leave:
 *
 *   vCPU (IoEventFdMatcher.write)              owner (IoEventFdTable.unbind + quiesce)
 *   -----------------------------              ---------------------------------------
 *   dispatch[v] += 1        (odd)      (E1)    entry.state = FREE                 (U1)
 *   g = generation; reload if changed  (E2)    generation += 1                    (U2)
 *   match entry (state ASSIGNED) → set (E3)    s = dispatch[v]; if odd, wait ≠ s  (U3)
 *   dispatch[v] += 1        (even)     (E4)    then: test-and-clear the notifier
 *                                                   and handle it if it was set
 *
 * All accesses are seq-cst. If (E1) precedes (U3)'s load, the owner waits
 * until (E4), which follows the notifier set (E3): the test-and-clear after
 * the wait sees that set. Otherwise (U2) < (U3) < (E1) < (E2), so the vCPU
 * reads the new generation, reloads, sees FREE and takes a synchronous exit
 * instead. Either way no kick is lost (QEMU's "deassign: unbind first, then
 * test-and-clear and handle"). The same wait is the grace period before an
 * unbound row is handed out again (KVM frees after synchronize_srcu): a
 * vCPU inside a reload may still be reading its old contents. The Promela
 * model verification/models/ioeventfd-deassign.pml checks this protocol
 * and its planted mutants; test/ioeventfd.test.ts races it on real threads.
 */
import type { Int32Cell, Int32CellArray } from '@vmloop/atomics';
import { EventNotifier, type EventNotifierHandle } from '@vmloop/event-notifier';
import { VirtioError } from '../errors.js';
import {
  IOEVENTFD_ADDR_HI,
  IOEVENTFD_ADDR_LO,
  IOEVENTFD_ASSIGNED,
  IOEVENTFD_DATA,
  IOEVENTFD_DATAMATCH,
  IOEVENTFD_ENTRY_WORDS,
  IOEVENTFD_FLAGS,
  IOEVENTFD_FREE,
  IOEVENTFD_MAX_ENTRIES,
  IOEVENTFD_NOTIFIER,
  IOEVENTFD_SIZE,
  IOEVENTFD_SPACE,
  IOEVENTFD_STATE,
  type IoEventFdMemory,
  MAX_VCPUS,
  SPACE_MMIO,
  SPACE_PIO,
  ioeventfdLayout,
} from './layout.js';

const TWO_32 = 2 ** 32;

/** One registration (QEMU memory_region_add_eventfd arguments). */
export interface IoEventFdRegistration {
  readonly space: 'mmio' | 'pio';
  readonly address: number;
  /** Access size to match (1, 2, 4), or 0 for any size. */
  readonly size: number;
  /** Match only writes of this value (QEMU `match_data`), e.g. the queue index at the legacy notify port. */
  readonly data?: number;
  /** Index of the notifier to set, in the table's notifier list. */
  readonly notifier: number;
}

/** The structured-cloneable description of a table, for vCPU workers. */
export interface IoEventFdTableHandle {
  readonly kind: 'vmloop.ioeventfd-table';
  readonly version: 1;
  readonly entries: number;
  readonly vcpus: number;
  readonly memory: { readonly buffer: SharedArrayBuffer; readonly byteOffset: number };
  readonly notifiers: readonly EventNotifierHandle[];
}

/** Options of {@link IoEventFdTable.create}. */
export interface IoEventFdTableOptions {
  /** Registrations the table holds (1 … 4096). Assigning more fails, and the caller falls back to synchronous exits. */
  readonly entries: number;
  /** vCPUs that will match against it (1 … 255). */
  readonly vcpus: number;
  /** Notifiers a registration may set, by index; devices add theirs with `addNotifier` until the handle is taken. */
  readonly notifiers?: readonly EventNotifierHandle[];
}

/**
 * The owner side of the ioeventfd table: assigns and unbinds registrations.
 * @thread home: the device owner's thread
 */
export class IoEventFdTable {
  private readonly free: number[] = [];
  /**
   * Rows unbound since the last quiesce began. They return to `free` only
   * when a quiesce has waited out every vCPU that might still be reading
   * them (KVM frees an unregistered ioeventfd's bus only after
   * synchronize_srcu): a vCPU reloading its cache loads a row's state,
   * then its fields, so a row reused at once could show it the old state
   * with the new fields — the new doorbell bound to the old notifier.
   */
  private retired: number[] = [];
  private readonly entries: Int32CellArray;
  private readonly generation: Int32Cell;
  private readonly dispatch: Int32CellArray;
  private readonly counts = { assigned: 0, unbound: 0, assignFailed: 0, quiesceWaits: 0 };
  private readonly opened: (EventNotifier | undefined)[] = [];
  private readonly notifiers: EventNotifierHandle[];
  private sealed = false;

  private constructor(
    private readonly mem: IoEventFdMemory,
    private readonly options: IoEventFdTableOptions,
  ) {
    this.notifiers = [...(options.notifiers ?? [])];
    this.entries = mem.entries;
    this.generation = mem.generation;
    this.dispatch = mem.dispatch;
    for (let i = options.entries - 1; i >= 0; i--) this.free.push(i);
  }

  static create(options: IoEventFdTableOptions): IoEventFdTable {
    const { entries, vcpus, notifiers } = options;
    if (!Number.isInteger(entries) || entries < 1 || entries > IOEVENTFD_MAX_ENTRIES) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `entries must be an integer in [1, ${IOEVENTFD_MAX_ENTRIES}]`);
    }
    if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_VCPUS) throw new VirtioError('ERR_INVALID_ARGUMENT', `vcpus must be an integer in [1, ${MAX_VCPUS}]`);
    if (notifiers !== undefined && !Array.isArray(notifiers)) throw new VirtioError('ERR_INVALID_ARGUMENT', 'notifiers must be an array of notifier handles');
    return new IoEventFdTable(ioeventfdLayout(entries, vcpus).create(), { entries, vcpus, ...(notifiers === undefined ? {} : { notifiers }) });
  }

  /**
   * Adds a notifier that registrations may set; returns its index. Devices
   * add their host notifiers while the machine is built; once the handle
   * has been taken (the vCPUs got the list) the list is sealed and this
   * throws ERR_INVALID_STATE.
   */
  addNotifier(handle: EventNotifierHandle): number {
    if (this.sealed) throw new VirtioError('ERR_INVALID_STATE', 'the notifier list is sealed: the vCPUs already have the table handle');
    this.notifiers.push(handle);
    return this.notifiers.length - 1;
  }

  /** Post this to every vCPU worker; open it there with `IoEventFdMatcher.open(handle, index)`. Seals the notifier list. */
  get handle(): IoEventFdTableHandle {
    this.sealed = true;
    return {
      kind: 'vmloop.ioeventfd-table',
      version: 1,
      entries: this.options.entries,
      vcpus: this.options.vcpus,
      memory: { buffer: this.mem.buffer, byteOffset: this.mem.byteOffset },
      notifiers: [...this.notifiers],
    };
  }

  /** The owner's copy of notifier `index` of the list (to set it before binding). */
  notifier(index: number): EventNotifier {
    let n = this.opened[index];
    if (n === undefined) {
      const h = this.notifiers[index];
      if (h === undefined) throw new VirtioError('ERR_INVALID_ARGUMENT', `notifier index ${String(index)} is not in the table's list`);
      n = EventNotifier.open(h);
      this.opened[index] = n;
    }
    return n;
  }

  /** Registrations assigned, unbound, refused (table full), and unbinds that had to wait for a vCPU. */
  get stats(): Readonly<typeof this.counts> {
    return { ...this.counts };
  }

  /**
   * Binds a doorbell to a notifier (QEMU memory_region_add_eventfd +
   * KVM_IOEVENTFD). Returns the registration id, or undefined when the table
   * is full: the caller then handles that doorbell synchronously.
   */
  assign(reg: IoEventFdRegistration): number | undefined {
    if (reg.space !== 'mmio' && reg.space !== 'pio') throw new VirtioError('ERR_INVALID_ARGUMENT', "space must be 'mmio' or 'pio'");
    if (!Number.isSafeInteger(reg.address) || reg.address < 0) throw new VirtioError('ERR_INVALID_ARGUMENT', `bad address ${String(reg.address)}`);
    if (reg.size !== 0 && reg.size !== 1 && reg.size !== 2 && reg.size !== 4) throw new VirtioError('ERR_INVALID_ARGUMENT', 'size must be 0, 1, 2 or 4');
    if (!Number.isInteger(reg.notifier) || reg.notifier < 0 || reg.notifier >= this.notifiers.length) {
      throw new VirtioError('ERR_INVALID_ARGUMENT', `notifier index ${String(reg.notifier)} is not in the table's list`);
    }
    const id = this.free.pop();
    if (id === undefined) {
      this.counts.assignFailed++;
      return undefined;
    }
    const e = this.entries;
    const b = id * IOEVENTFD_ENTRY_WORDS;
    e.store(b + IOEVENTFD_SPACE, reg.space === 'pio' ? SPACE_PIO : SPACE_MMIO);
    e.store(b + IOEVENTFD_ADDR_LO, reg.address >>> 0);
    e.store(b + IOEVENTFD_ADDR_HI, Math.floor(reg.address / TWO_32));
    e.store(b + IOEVENTFD_SIZE, reg.size);
    e.store(b + IOEVENTFD_FLAGS, reg.data === undefined ? 0 : IOEVENTFD_DATAMATCH);
    e.store(b + IOEVENTFD_DATA, (reg.data ?? 0) | 0);
    e.store(b + IOEVENTFD_NOTIFIER, reg.notifier);
    // The fields before the state, the state before the generation: a vCPU
    // that sees the new generation reloads and finds the whole entry.
    e.store(b + IOEVENTFD_STATE, IOEVENTFD_ASSIGNED);
    this.generation.add(1);
    this.counts.assigned++;
    return id;
  }

  /**
   * Unbinds a registration (U1, U2). vCPUs may still be setting its
   * notifier until {@link quiesce} resolves; only then test-and-clear it.
   * Its row is assigned again only after that quiesce.
   */
  unbind(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.options.entries) throw new VirtioError('ERR_INVALID_ARGUMENT', `no registration ${String(id)}`);
    const b = id * IOEVENTFD_ENTRY_WORDS;
    if (this.entries.load(b + IOEVENTFD_STATE) !== IOEVENTFD_ASSIGNED) throw new VirtioError('ERR_INVALID_STATE', `registration ${id} is not assigned`);
    this.entries.store(b + IOEVENTFD_STATE, IOEVENTFD_FREE);
    this.generation.add(1);
    this.retired.push(id); // reusable after the next quiesce
    this.counts.unbound++;
  }

  /**
   * (U3) Resolves once no vCPU is still inside a dispatch that began before
   * this call — after it, no unbound registration's notifier can be set,
   * and the rows unbound before it can be assigned again.
   * Spins briefly, then yields to the event loop while a vCPU is inside
   * (a dispatch is a few loads and one notifier set, unless the OS
   * preempted that thread).
   */
  async quiesce(): Promise<void> {
    const retired = this.takeRetired();
    const d = this.dispatch;
    for (let v = 0; v < this.options.vcpus; v++) {
      const s = d.load(v);
      if ((s & 1) === 0) continue;
      this.counts.quiesceWaits++;
      for (let i = 0; d.load(v) === s; i++) {
        if (i >= 1000) await new Promise<void>((r) => setImmediate(r));
      }
    }
    for (const id of retired) this.free.push(id);
  }

  /** The rows unbound so far; this quiesce's wait covers every vCPU that could still read them. */
  private takeRetired(): number[] {
    const r = this.retired;
    this.retired = [];
    return r;
  }
}

interface CachedEntry {
  space: number;
  address: number;
  size: number;
  dataMatch: boolean;
  data: number;
  notifier: EventNotifier;
}

/**
 * The vCPU side: matches a write against the table and sets the notifier
 * (E1–E4). A write that matches nothing returns false: the caller exits.
 * @thread worker: the vCPU's own thread
 */
export class IoEventFdMatcher {
  private readonly entries: Int32CellArray;
  private readonly generation: Int32Cell;
  private readonly dispatch: Int32CellArray;
  private readonly notifiers: EventNotifier[];
  private cachedGeneration = -1;
  private cache: CachedEntry[] = [];
  /** Writes that matched (notifier set without an exit). */
  hits = 0;

  private constructor(
    mem: IoEventFdMemory,
    private readonly vcpu: number,
    handles: readonly EventNotifierHandle[],
    private readonly capacity: number,
  ) {
    this.entries = mem.entries;
    this.generation = mem.generation;
    this.dispatch = mem.dispatch;
    this.notifiers = handles.map((h) => EventNotifier.open(h));
  }

  static open(handle: unknown, vcpu: number): IoEventFdMatcher {
    const h = handle as Partial<IoEventFdTableHandle> | null;
    if (typeof h !== 'object' || h === null || h.kind !== 'vmloop.ioeventfd-table' || h.version !== 1 || typeof h.entries !== 'number' || typeof h.vcpus !== 'number' || !Array.isArray(h.notifiers) || h.memory === undefined) {
      throw new VirtioError('ERR_BAD_HANDLE', 'not an ioeventfd-table handle');
    }
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= h.vcpus) throw new VirtioError('ERR_INVALID_ARGUMENT', `vcpu must be in [0, ${h.vcpus})`);
    return new IoEventFdMatcher(ioeventfdLayout(h.entries, h.vcpus).open(h.memory), vcpu, h.notifiers, h.entries);
  }

  /** Tries a write as an ioeventfd; true if it matched and the notifier was set. */
  write(space: 'mmio' | 'pio', address: number, size: number, value: number): boolean {
    const d = this.dispatch;
    const v = this.vcpu;
    d.add(v, 1); // (E1) enter: odd
    const g = this.generation.load(); // (E2)
    if (g !== this.cachedGeneration) this.reload(g);
    const sp = space === 'pio' ? SPACE_PIO : SPACE_MMIO;
    let hit = false;
    const cache = this.cache;
    for (let i = 0; i < cache.length; i++) {
      const e = cache[i]!;
      if (e.space !== sp || e.address !== address || (e.size !== 0 && e.size !== size)) continue;
      if (e.dataMatch && e.data !== (value | 0)) continue;
      e.notifier.set(); // (E3)
      hit = true;
      break;
    }
    d.add(v, 1); // (E4) leave: even
    if (hit) this.hits++;
    return hit;
  }

  private reload(g: number): void {
    const e = this.entries;
    const out: CachedEntry[] = [];
    for (let id = 0; id < this.capacity; id++) {
      const b = id * IOEVENTFD_ENTRY_WORDS;
      if (e.load(b + IOEVENTFD_STATE) !== IOEVENTFD_ASSIGNED) continue;
      const notifier = this.notifiers[e.load(b + IOEVENTFD_NOTIFIER)];
      if (notifier === undefined) continue;
      out.push({
        space: e.load(b + IOEVENTFD_SPACE),
        address: (e.load(b + IOEVENTFD_ADDR_HI) >>> 0) * TWO_32 + (e.load(b + IOEVENTFD_ADDR_LO) >>> 0),
        size: e.load(b + IOEVENTFD_SIZE),
        dataMatch: (e.load(b + IOEVENTFD_FLAGS) & IOEVENTFD_DATAMATCH) !== 0,
        data: e.load(b + IOEVENTFD_DATA),
        notifier,
      });
    }
    this.cache = out;
    this.cachedGeneration = g;
  }
}
