// The Fluentd forward protocol's stream cut into messages: each is one MessagePack object (an
// array), sent back to back on a TCP connection with nothing between them. The framer walks the
// objects' headers as bytes arrive, without decoding anything, and hands each complete message on
// as one buffer, to be decoded at once (forward-messages.ts). A string or binary payload is
// skipped by its length, so a PackedForward message of megabytes is walked in a few steps, and
// the bytes of a message are copied once, when it is complete.
//
// A message longer than the limit is not kept: its bytes are counted off as they come and
// dropped, and the stream reads on after it. Bytes that are no MessagePack (0xc1, which the
// format never uses) stop the framer: nothing after them can be told apart.

/** Why the framer set a message aside. */
export type ForwardFrameRefusal = 'too_large' | 'malformed'

export interface ForwardFramerSink {
  message(bytes: Buffer): void
  refused(reason: ForwardFrameRefusal, detail: string): void
}

/** Header bytes after the type byte, and whether a length follows in them, by type byte (0xc4–0xdf). */
function headerOf(type: number): { extra: number; payload: 'none' | 'length' | 'ext' | 'array' | 'map' } {
  switch (type) {
    case 0xc0: case 0xc2: case 0xc3: return { extra: 0, payload: 'none' }
    case 0xc4: case 0xd9: return { extra: 1, payload: 'length' }
    case 0xc5: case 0xda: return { extra: 2, payload: 'length' }
    case 0xc6: case 0xdb: return { extra: 4, payload: 'length' }
    case 0xc7: return { extra: 2, payload: 'ext' }
    case 0xc8: return { extra: 3, payload: 'ext' }
    case 0xc9: return { extra: 5, payload: 'ext' }
    case 0xca: return { extra: 4, payload: 'none' }
    case 0xcb: return { extra: 8, payload: 'none' }
    case 0xcc: case 0xd0: return { extra: 1, payload: 'none' }
    case 0xcd: case 0xd1: return { extra: 2, payload: 'none' }
    case 0xce: case 0xd2: return { extra: 4, payload: 'none' }
    case 0xcf: case 0xd3: return { extra: 8, payload: 'none' }
    case 0xd4: return { extra: 2, payload: 'none' }
    case 0xd5: return { extra: 3, payload: 'none' }
    case 0xd6: return { extra: 5, payload: 'none' }
    case 0xd7: return { extra: 9, payload: 'none' }
    case 0xd8: return { extra: 17, payload: 'none' }
    case 0xdc: return { extra: 2, payload: 'array' }
    case 0xdd: return { extra: 4, payload: 'array' }
    case 0xde: return { extra: 2, payload: 'map' }
    case 0xdf: return { extra: 4, payload: 'map' }
    default: return { extra: -1, payload: 'none' } // 0xc1: never used
  }
}

/**
 * The object whose type byte `type` is at `at`: its bytes (header and any payload) and the objects
 * it holds; 'short' while its header is not all in the `available` bytes, 'bad' for a type byte
 * MessagePack never uses. `uint` reads a header's big-endian length.
 */
function objectHeader(type: number, at: number, available: number, uint: (offset: number, size: number) => number): { size: number; children: number } | 'short' | 'bad' {
  if (type <= 0x7f || type >= 0xe0) return { size: 1, children: 0 }
  if (type <= 0x8f) return { size: 1, children: (type - 0x80) * 2 }
  if (type <= 0x9f) return { size: 1, children: type - 0x90 }
  if (type <= 0xbf) return { size: 1 + (type - 0xa0), children: 0 }
  const h = headerOf(type)
  if (h.extra < 0) return 'bad'
  if (at + 1 + h.extra > available) return 'short'
  const size = 1 + h.extra
  switch (h.payload) {
    case 'length': return { size: size + uint(at + 1, h.extra), children: 0 }
    case 'ext': return { size: size + uint(at + 1, h.extra - 1), children: 0 }
    case 'array': return { size, children: uint(at + 1, h.extra) }
    case 'map': return { size, children: uint(at + 1, h.extra) * 2 }
    default: return { size, children: 0 }
  }
}

/** Where the object at `pos` of a complete buffer ends, or undefined when it is cut short or no MessagePack. */
export function objectEnd(bytes: Uint8Array, pos: number): number | undefined {
  const uint = (offset: number, size: number) => {
    let n = 0
    for (let i = 0; i < size; i++) n = n * 256 + bytes[offset + i]!
    return n
  }
  let at = pos
  for (let pending = 1; pending > 0; pending--) {
    if (at >= bytes.length) return undefined
    const h = objectHeader(bytes[at]!, at, bytes.length, uint)
    if (typeof h === 'string') return undefined
    at += h.size
    pending += h.children
  }
  return at <= bytes.length ? at : undefined
}

/** The payload of the str or bin at `pos` (its bytes, as sent), or undefined when it is neither. */
export function bytesAt(bytes: Uint8Array, pos: number, end: number): Uint8Array | undefined {
  const type = bytes[pos]!
  if (type >= 0xa0 && type <= 0xbf) return bytes.subarray(pos + 1, end)
  const h = type >= 0xc4 && type <= 0xdb ? headerOf(type) : undefined
  if (h?.payload !== 'length') return undefined
  return bytes.subarray(pos + 1 + h.extra, end)
}

export class ForwardFramer {
  readonly #max: number
  readonly #sink: ForwardFramerSink
  /** Chunks holding the message being read (from #start in the first one) and what came after it. */
  #chunks: Buffer[] = []
  /** Bytes of #chunks from #start on. */
  #buffered = 0
  /** Where the message starts in #chunks[0]. */
  #start = 0
  /** Bytes of the message walked so far (the next header starts here). */
  #walked = 0
  /** Objects still to be walked before the message is complete (0: between messages). */
  #pending = 0
  /** The message is over the limit: its bytes are dropped as they are walked. */
  #dropping = false
  /** Bytes of a dropped message's payload still to come, dropped as they arrive. */
  #skip = 0
  #broken = false

  constructor(maxMessageBytes: number, sink: ForwardFramerSink) {
    this.#max = maxMessageBytes
    this.#sink = sink
  }

  /** Whether the stream held bytes that are no MessagePack: nothing more is read from it. */
  get broken(): boolean {
    return this.#broken
  }

  /** Bytes held: a message not yet complete, and what arrived after it. */
  get buffered(): number {
    return this.#buffered
  }

  push(chunk: Buffer): void {
    if (this.#broken) return
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, chunk.length)
      this.#skip -= n
      if (n === chunk.length) return
      chunk = chunk.subarray(n)
    }
    this.#chunks.push(chunk)
    this.#buffered += chunk.length
    this.#walk()
  }

  /** The byte at `offset` of what is buffered (offset < #buffered). */
  #byte(offset: number): number {
    let at = offset + this.#start
    for (const c of this.#chunks) {
      if (at < c.length) return c[at]!
      at -= c.length
    }
    return -1
  }

  /** The big-endian unsigned number of `size` bytes at `offset` (all buffered). */
  #uint(offset: number, size: number): number {
    let n = 0
    for (let i = 0; i < size; i++) n = n * 256 + this.#byte(offset + i)
    return n
  }

  #walk(): void {
    while (this.#walked < this.#buffered) {
      if (this.#pending === 0) this.#pending = 1
      // One object's header: its type byte, the bytes after it, and what it holds.
      const at = this.#walked
      const type = this.#byte(at)
      const h = objectHeader(type, at, this.#buffered, (offset, size) => this.#uint(offset, size))
      if (h === 'bad') return this.#break(`byte 0x${type.toString(16)} at offset ${at} of a message is no MessagePack`)
      if (h === 'short') return
      const { size, children } = h
      const end = at + size
      // Every object still to come takes a byte at least: a header claiming more objects than
      // the limit has bytes is over it as surely as a long payload.
      if (!this.#dropping && end + children + this.#pending - 1 > this.#max) {
        this.#dropping = true
        this.#sink.refused('too_large', `a message of more than ${this.#max} bytes (GATEWAY_MAX_BODY_BYTES): dropped`)
      }
      if (this.#dropping) {
        if (end > this.#buffered) {
          this.#skip = end - this.#buffered
          this.#forget(this.#buffered)
        } else this.#forget(end)
        this.#pending += children - 1
        if (this.#pending === 0) this.#dropping = false
        continue
      }
      if (end > this.#buffered) return
      this.#walked = end
      this.#pending += children - 1
      if (this.#pending === 0) this.#complete()
    }
  }

  /** The message is walked: handed on as one buffer, and the next one starts after it. */
  #complete(): void {
    const length = this.#walked
    const first = this.#chunks[0]!
    let message: Buffer
    if (this.#start + length <= first.length) message = first.subarray(this.#start, this.#start + length)
    else {
      message = Buffer.allocUnsafe(length)
      let copied = 0
      let from = this.#start
      for (const c of this.#chunks) {
        const n = Math.min(c.length - from, length - copied)
        c.copy(message, copied, from, from + n)
        copied += n
        from = 0
        if (copied === length) break
      }
    }
    this.#forget(length)
    this.#sink.message(message)
  }

  /** Lets go of the first `n` buffered bytes (walked: a message handed on, or dropped). */
  #forget(n: number): void {
    let left = n + this.#start
    while (this.#chunks.length > 0 && left >= this.#chunks[0]!.length) left -= this.#chunks.shift()!.length
    this.#start = left
    this.#buffered -= n
    this.#walked = 0
  }

  #break(detail: string): void {
    this.#sink.refused('malformed', detail)
    this.#broken = true
    this.#chunks = []
    this.#buffered = 0
  }
}
