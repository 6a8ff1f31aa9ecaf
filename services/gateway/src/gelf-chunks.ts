// GELF over UDP: a message larger than a datagram goes as chunks, each a datagram of its own:
//   1e 0f          the chunk's magic bytes
//   8 bytes        the message's id (the sender's choice)
//   1 byte         the chunk's sequence number, from 0
//   1 byte         the message's chunk count, at most 128
//   the rest       the chunk's part of the (compressed) message
// A message is put together once all its chunks came, in sequence order, within `waitMs` of its
// first (the specification's 5 s); chunks come in any order, a chunk that came already is ignored.
// Messages are told apart by id and sender address. Bounded: at most `maxHeldBytes` of chunks and
// `maxMessages` messages wait, past which the oldest is dropped as incomplete.
export const CHUNK_MAGIC_0 = 0x1e
export const CHUNK_MAGIC_1 = 0x0f
const HEADER_BYTES = 12
export const MAX_CHUNKS = 128

export interface ChunkOptions {
  waitMs: number
  maxHeldBytes: number
  maxMessages: number
}

interface Pending {
  from: string
  id: string
  chunks: (Buffer | undefined)[]
  got: number
  bytes: number
  since: number
}

/** The message now, nothing now (held, or pushed out and told to `dropped`), or a chunk that does not read. */
export type ChunkResult = { whole: Buffer } | { held: true } | { problem: string }

/** A message that will not be put together: its sender, id, and what came of it. */
export interface Incomplete {
  from: string
  detail: string
}

export const isChunk = (msg: Uint8Array): boolean => msg.length >= 2 && msg[0] === CHUNK_MAGIC_0 && msg[1] === CHUNK_MAGIC_1

export class GelfChunks {
  readonly #pending = new Map<string, Pending>()
  #bytes = 0

  constructor(
    readonly opts: ChunkOptions,
    readonly now: () => number = Date.now,
  ) {}

  /** Messages waiting for chunks. */
  get size(): number {
    return this.#pending.size
  }

  /**
   * A datagram: the message when it is not a chunk or completes one; held while its message waits
   * for other chunks; a problem when it is a chunk that cannot be read. `dropped` is told of the
   * messages the bounds push out.
   */
  take(msg: Buffer, from: string, dropped: (m: Incomplete) => void): ChunkResult {
    if (!isChunk(msg)) return { whole: msg }
    if (msg.length <= HEADER_BYTES) return { problem: `a chunk of ${msg.length} bytes: its header alone is ${HEADER_BYTES}` }
    const id = msg.toString('hex', 2, 10)
    const seq = msg[10]!
    const count = msg[11]!
    if (count === 0 || count > MAX_CHUNKS) return { problem: `message ${id}: a chunk count of ${count} (1 to ${MAX_CHUNKS})` }
    if (seq >= count) return { problem: `message ${id}: chunk ${seq} of ${count} (numbered from 0)` }
    const key = `${from} ${id}`
    let p = this.#pending.get(key)
    if (p && p.chunks.length !== count) {
      this.#remove(key, p)
      return { problem: `message ${id}: chunks say ${p.chunks.length} and ${count} chunks` }
    }
    if (!p) {
      p = { from, id, chunks: new Array<Buffer | undefined>(count).fill(undefined), got: 0, bytes: 0, since: this.now() }
      this.#pending.set(key, p)
    }
    if (p.chunks[seq] === undefined) {
      // Copied: the datagram's buffer is the socket's to reuse.
      const part = Buffer.from(msg.subarray(HEADER_BYTES))
      p.chunks[seq] = part
      p.got++
      p.bytes += part.length
      this.#bytes += part.length
    }
    if (p.got === count) {
      this.#remove(key, p)
      return { whole: Buffer.concat(p.chunks as Buffer[], p.bytes) }
    }
    for (const [k, q] of this.#pending) {
      if (this.#pending.size <= this.opts.maxMessages && this.#bytes <= this.opts.maxHeldBytes) break
      this.#remove(k, q)
      dropped({ from: q.from, detail: `message ${q.id}: ${q.got} of ${q.chunks.length} chunks came before ${this.opts.maxMessages} messages or ${this.opts.maxHeldBytes} bytes of chunks waited` })
    }
    return { held: true }
  }

  /** Messages whose chunks did not all come within `waitMs` (every one: `all`), dropped. */
  expired(all = false): Incomplete[] {
    const out: Incomplete[] = []
    const before = this.now() - this.opts.waitMs
    for (const [k, p] of this.#pending) {
      if (!all && p.since > before) break
      this.#remove(k, p)
      out.push({ from: p.from, detail: `message ${p.id}: ${p.got} of ${p.chunks.length} chunks came within ${this.opts.waitMs} ms` })
    }
    return out
  }

  #remove(key: string, p: Pending): void {
    this.#pending.delete(key)
    this.#bytes -= p.bytes
  }
}
