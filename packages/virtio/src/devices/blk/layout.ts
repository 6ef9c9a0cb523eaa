/**
 * virtio-blk (virtio 1.x section 5.2): device configuration layout, feature
 * bits, request header and types, and the I/O request table that carries
 * requests to the thread-pool workers.
 *
 * Device configuration (struct virtio_blk_config, 5.2.4), little-endian:
 *
 *   0 capacity u64 (512-byte sectors)   8 size_max u32   12 seg_max u32
 *   16 geometry (cylinders u16, heads u8, sectors u8)    20 blk_size u32
 *   24 topology (physical_block_exp u8, alignment_offset u8, min_io_size u16, opt_io_size u32)
 *   32 writeback u8   34 num_queues u16
 *   36 max_discard_sectors u32   40 max_discard_seg u32   44 discard_sector_alignment u32
 *   48 max_write_zeroes_sectors u32   52 max_write_zeroes_seg u32   56 write_zeroes_may_unmap u8
 *
 * Request (5.2.6): a device-readable header { type u32, reserved u32,
 * sector u64 } (16 bytes), data, and a device-writable status byte, the
 * last byte of the chain.
 */

export const VIRTIO_ID_BLOCK = 2;

export const BLK_CFG_CAPACITY = 0;
export const BLK_CFG_SIZE_MAX = 8;
export const BLK_CFG_SEG_MAX = 12;
export const BLK_CFG_BLK_SIZE = 20;
export const BLK_CFG_NUM_QUEUES = 34;
export const BLK_CFG_MAX_DISCARD_SECTORS = 36;
export const BLK_CFG_MAX_DISCARD_SEG = 40;
export const BLK_CFG_DISCARD_ALIGNMENT = 44;
export const BLK_CFG_MAX_WRITE_ZEROES_SECTORS = 48;
export const BLK_CFG_MAX_WRITE_ZEROES_SEG = 52;
export const BLK_CFG_WRITE_ZEROES_MAY_UNMAP = 56;
export const BLK_CONFIG_SIZE = 60;

/** Feature bits (5.2.3). */
export const VIRTIO_BLK_F_SIZE_MAX = 1;
export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_RO = 5;
export const VIRTIO_BLK_F_BLK_SIZE = 6;
export const VIRTIO_BLK_F_FLUSH = 9;
export const VIRTIO_BLK_F_MQ = 12;
export const VIRTIO_BLK_F_DISCARD = 13;
export const VIRTIO_BLK_F_WRITE_ZEROES = 14;

/** Request types (5.2.6). */
export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
export const VIRTIO_BLK_T_DISCARD = 11;
export const VIRTIO_BLK_T_WRITE_ZEROES = 13;

/** Status byte values. */
export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

export const SECTOR_SIZE = 512;
export const SECTOR_SHIFT = 9;
export const BLK_HEADER_SIZE = 16;
/** GET_ID returns at most this many bytes (VIRTIO_BLK_ID_BYTES). */
export const VIRTIO_BLK_ID_BYTES = 20;
/** struct virtio_blk_discard_write_zeroes: sector u64, num_sectors u32, flags u32. */
export const DWZ_SEGMENT_SIZE = 16;
export const VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1;
/** Most sectors one DISCARD or WRITE_ZEROES segment may cover (QEMU's default is the same order). */
export const MAX_DWZ_SECTORS = 0x3fffff;

// ---------------------------------------------------------------- I/O request table

/**
 * The I/O request table: one row of float64s per in-flight request, filled
 * by the dataplane (plain stores) before it submits the row's index to the
 * thread pool; the pool's seq-cst publish of the request (its state store,
 * S1 in thread-pool/layout.ts) orders those stores before the worker's
 * reads, and the worker's result store orders its writes into guest memory
 * before the completion. Rows are payload, never protocol words.
 *
 *   [0] op (IO_READ …)  [1] fd  [2] file offset in bytes  [3] segment count n
 *   [4 + 2i] guest address of segment i   [5 + 2i] its length in bytes
 *   (IO_FLUSH: no segments; IO_WRITE_ZEROES: one, whose length is the bytes
 *   to zero and whose address is unused)
 */
export const IO_READ = 1;
export const IO_WRITE = 2;
export const IO_FLUSH = 3;
export const IO_WRITE_ZEROES = 4;

export const IO_ROW_OP = 0;
export const IO_ROW_FD = 1;
export const IO_ROW_OFFSET = 2;
export const IO_ROW_COUNT = 3;
export const IO_ROW_SEGMENTS = 4;

/** float64s in one row for requests of at most `maxSegments` segments. */
export function ioRowLength(maxSegments: number): number {
  return IO_ROW_SEGMENTS + 2 * maxSegments;
}
