// Buffers for the logs' RowBinary blocks, reused once ClickHouse has acknowledged their rows. Each
// chunk's rows are copied out of the transcoder into a buffer that waits, with the others of its
// flush, for the INSERT; a new Buffer per chunk was ~0.5 GB per million records of fresh
// ArrayBuffer memory, and V8 collects its young generation every 32 MB of that ("external memory
// pressure"), whatever the semi-space size. A block's buffer comes back only after its insert
// succeeded: one the runner dropped (a lost partition) or is still retrying is left alone.

/** The smallest buffer handed out: a chunk's rows are usually a few hundred KB. */
const MIN_CAPACITY = 64 << 10
/** Spare memory kept between flushes, at most: about a flush of 20 000 rows, and the next one. */
export const MAX_SPARE_BYTES = 32 << 20

/** The capacity a block of `bytes` is cut from: a power of two, from MIN_CAPACITY. */
function capacityFor(bytes: number): number {
  return bytes <= MIN_CAPACITY ? MIN_CAPACITY : 2 ** Math.ceil(Math.log2(bytes))
}

export class BlockBuffers {
  /** Spare ArrayBuffers by capacity. */
  readonly #spare = new Map<number, ArrayBuffer[]>()
  #spareBytes = 0

  constructor(readonly maxSpareBytes = MAX_SPARE_BYTES) {}

  /** A buffer of `bytes` bytes (contents undefined), from a spare one when there is one big enough. */
  readonly take = (bytes: number): Buffer => {
    const capacity = capacityFor(bytes)
    const spare = this.#spare.get(capacity)?.pop()
    if (spare === undefined) return Buffer.allocUnsafeSlow(capacity).subarray(0, bytes)
    this.#spareBytes -= capacity
    return Buffer.from(spare, 0, bytes)
  }

  /** Buffers from `take` that nothing reads any more; others, and any over the limit, are left to the GC. */
  give(buffers: Iterable<Buffer>): void {
    for (const b of buffers) {
      const memory = b.buffer
      const capacity = memory.byteLength
      if (b.byteOffset !== 0 || !(memory instanceof ArrayBuffer) || capacity !== capacityFor(capacity)) continue
      if (this.#spareBytes + capacity > this.maxSpareBytes) continue
      const list = this.#spare.get(capacity)
      if (list === undefined) this.#spare.set(capacity, [memory])
      else if (!list.includes(memory)) list.push(memory)
      else continue
      this.#spareBytes += capacity
    }
  }

  /** Bytes held as spares. */
  get spareBytes(): number {
    return this.#spareBytes
  }
}
