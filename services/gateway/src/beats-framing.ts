// The Beats protocol (Lumberjack v2, what libbeat's `logstash` output and go-lumber's client send)
// read incrementally from a byte stream. Every frame starts with the version byte '2' and a type:
//   '2W' uint32 count              a window: the next `count` events, ACKed together
//   '2J' uint32 seq, uint32 len, …  an event, `len` bytes of JSON (seq numbers the window from 1)
//   '2C' uint32 len, …             `len` bytes of zlib holding more frames (a window's J frames)
// all integers big-endian. The reader hands on each window once its `count` events came, with the
// last sequence number to acknowledge ('2A' uint32 seq). Bounded: an event over `maxEventBytes`, a
// compressed frame over `maxFrameBytes` (or inflating past it) and a window of more than
// MAX_WINDOW events stop the stream, as does anything else that is no Lumberjack v2 (version 1's
// 'D' frames, a TLS hello on the plain port): the reader is then broken, and the connection ends
// after what came before is delivered and acknowledged.
import { inflateSync } from 'node:zlib'

const VERSION = 0x32 // '2'
const WINDOW = 0x57 // 'W'
const JSON_FRAME = 0x4a // 'J'
const COMPRESSED = 0x43 // 'C'
/** Events a window may announce (libbeat's bulk_max_size is 2048 by default; go-lumber's server allows 10 000). */
export const MAX_WINDOW = 10_000

export interface BeatsWindow {
  /** The events' JSON texts, in order. */
  events: string[]
  /** The sequence number to acknowledge the window with (its last event's). */
  seq: number
  /** Bytes of the window on the wire (for the connection's read-ahead bound). */
  bytes: number
}

export interface BeatsReaderOptions {
  maxEventBytes: number
  maxFrameBytes: number
}

export class BeatsReader {
  #buf: Buffer = Buffer.alloc(0)
  /** The window being read: how many events it announced, and those read so far. */
  #window: { count: number; events: string[]; seq: number; bytes: number } | undefined
  /** Why the stream stopped being read, once it did. */
  problem: string | undefined

  constructor(readonly opts: BeatsReaderOptions) {}

  get broken(): boolean {
    return this.problem !== undefined
  }

  /** Bytes waiting for the rest of their frame. */
  get buffered(): number {
    return this.#buf.length
  }

  /** Reads `chunk`; hands on each window completed. Nothing more is read once broken. */
  push(chunk: Buffer, window: (w: BeatsWindow) => void): void {
    if (this.broken) return
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
    const used = this.#frames(this.#buf, false, window)
    this.#buf = this.#buf.subarray(used)
  }

  #fail(problem: string): number {
    this.problem ??= problem
    return 0
  }

  /**
   * Reads whole frames of `b` from its start; returns the bytes used. Inside a compressed frame
   * (`inner`) every byte must make whole frames.
   */
  #frames(b: Buffer, inner: boolean, window: (w: BeatsWindow) => void): number {
    let at = 0
    while (!this.broken && at + 2 <= b.length) {
      if (b[at] !== VERSION) return this.#fail(`not Lumberjack v2: a frame starting ${b.toString('hex', at, Math.min(at + 2, b.length))} (version ${JSON.stringify(String.fromCharCode(b[at]!))})`)
      const type = b[at + 1]!
      if (type === WINDOW) {
        if (at + 6 > b.length) break
        const count = b.readUInt32BE(at + 2)
        if (count > MAX_WINDOW) return this.#fail(`a window of ${count} events (at most ${MAX_WINDOW})`)
        at += 6
        if (this.#window && this.#window.events.length < this.#window.count) return this.#fail(`a window after ${this.#window.events.length} of the previous window's ${this.#window.count} events`)
        this.#window = { count, events: [], seq: 0, bytes: 6 }
        if (count === 0) this.#window = undefined
        continue
      }
      if (type === JSON_FRAME) {
        if (at + 10 > b.length) break
        const seq = b.readUInt32BE(at + 2)
        const len = b.readUInt32BE(at + 6)
        if (len > this.opts.maxEventBytes) return this.#fail(`an event of ${len} bytes (GATEWAY_MAX_RECORD_BYTES is ${this.opts.maxEventBytes})`)
        if (at + 10 + len > b.length) break
        const w = this.#window
        if (!w) return this.#fail('an event outside a window (no 2W frame before it)')
        w.events.push(b.toString('utf8', at + 10, at + 10 + len))
        w.seq = seq
        w.bytes += 10 + len
        at += 10 + len
        if (w.events.length === w.count) {
          this.#window = undefined
          window({ events: w.events, seq: w.seq, bytes: w.bytes })
        }
        continue
      }
      if (type === COMPRESSED) {
        if (at + 6 > b.length) break
        const len = b.readUInt32BE(at + 2)
        if (len > this.opts.maxFrameBytes) return this.#fail(`a compressed frame of ${len} bytes (GATEWAY_MAX_BODY_BYTES is ${this.opts.maxFrameBytes})`)
        if (at + 6 + len > b.length) break
        let inflated: Buffer
        try {
          inflated = inflateSync(b.subarray(at + 6, at + 6 + len), { maxOutputLength: this.opts.maxFrameBytes })
        } catch (err) {
          return this.#fail(`a compressed frame that does not inflate: ${err instanceof Error ? err.message : String(err)}`)
        }
        if (this.#window) this.#window.bytes += 6 + len - inflated.length
        const used = this.#frames(inflated, true, window)
        if (!this.broken && used !== inflated.length) return this.#fail('a compressed frame that ends inside a frame')
        at += 6 + len
        continue
      }
      return this.#fail(`not Lumberjack v2: a frame of type ${JSON.stringify(String.fromCharCode(type))}${type === 0x44 ? " (version 1's data frame)" : ''}`)
    }
    return at
  }
}
