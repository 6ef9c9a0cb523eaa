/**
 * `vring_need_event` (Linux include/uapi/linux/virtio_ring.h, QEMU
 * hw/virtio/virtio.c): with VIRTIO_F_EVENT_IDX, the other side asked to
 * be notified once the index passes `event` (it wrote `used_event` or
 * `avail_event`); the index just moved from `oldIdx` to `newIdx`. Notify
 * when `event` lies in [oldIdx, newIdx), all modulo 2^16:
 * `(u16)(new − event − 1) < (u16)(new − old)` (§2.7.7.2, §2.7.10.1).
 *
 * ```ts
 * vringNeedEvent(5, 6, 5);   // true: the index passed 5
 * vringNeedEvent(9, 6, 5);   // false: not yet at 9
 * vringNeedEvent(0xffff, 1, 0xfffe); // true across the wrap
 * ```
 * @thread any
 */
export function vringNeedEvent(event: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}
