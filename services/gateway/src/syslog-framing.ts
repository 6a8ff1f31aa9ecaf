// Syslog over TCP: RFC 6587 framing, read incrementally from a byte stream. Senders use one of two
// framings and some mix them on one connection, so the framing is recognised per frame:
//
//   octet counting        MSG-LEN SP SYSLOG-MSG        "84 <132>1 2026-11-30T19:29:35Z host app - - - text"
//                         MSG-LEN: a non-zero digit and at most 9 more digits, the byte length of
//                         SYSLOG-MSG (rsyslog counts its own trailing LF in it)
//   non-transparent       SYSLOG-MSG TRAILER               "<14>Nov 30 19:27:12 vm app[9940]: text\n"
//                         TRAILER: LF, CRLF or NUL
//
// A frame that starts with digits, a space and "<" (the PRI every RFC 5424 message opens with) is
// octet-counted, anything else runs to its trailer — so a plain line starting "200 OK" from a
// sender without PRI stays a line instead of being misread as a count of bytes to take. LF,
// CR, NUL, space and tab between frames are skipped (a trailing LF after an octet-counted frame,
// blank lines). A frame over `maxFrameBytes` is skipped without being buffered — an octet-counted
// one by its count, a non-transparent one up to its trailer — and so are control bytes where a
// frame should start (a TLS hello on the plain port, binary noise) up to the next LF (not NUL,
// which binary holds plenty of); each skip is reported with a reason and the stream goes on with
// the next frame.
export const FRAME_REFUSALS = ['oversized', 'garbage', 'truncated'] as const
export type FrameRefusal = (typeof FRAME_REFUSALS)[number]

export interface FrameSink {
  /** One frame's SYSLOG-MSG without its trailer (a view of the stream's buffer: read it now). */
  frame(bytes: Buffer): void
  refused(reason: FrameRefusal, detail: string): void
}

const LF = 0x0a
const CR = 0x0d
const NUL = 0x00
const SP = 0x20
const TAB = 0x09
const LT = 0x3c
/** MSG-LEN has at most 10 digits (RFC 6587 sets no bound; 10 digits are 9.99 GB). */
const MAX_COUNT_DIGITS = 10

const isBetweenFrames = (c: number) => c === LF || c === CR || c === NUL || c === SP || c === TAB
const isDigit = (c: number) => c >= 0x30 && c <= 0x39

/**
 * Whether `buf` holds no message: nothing, or only what is skipped between frames (LF, CR, NUL,
 * space, tab). A UDP datagram of that kind is skipped as such bytes are on TCP.
 */
export function isBlank(buf: Buffer): boolean {
  for (const c of buf) if (!isBetweenFrames(c)) return false
  return true
}
const isControl = (c: number) => c < 0x20 || c === 0x7f
/** Index of the first LF or NUL at or after `from`, or -1. */
function trailerAt(buf: Buffer, from: number): number {
  const lf = buf.indexOf(LF, from)
  const nul = buf.indexOf(NUL, from)
  return lf < 0 ? nul : nul < 0 ? lf : Math.min(lf, nul)
}

export class SyslogFramer {
  readonly #maxFrameBytes: number
  readonly #sink: FrameSink
  /** Bytes not yet framed: at most one partial frame (≤ maxFrameBytes) and its count. */
  #buf: Buffer | undefined
  /** Where in #buf the search for a trailer resumes (bytes before it hold none). */
  #scanned = 0
  /** Bytes still to drop of an oversized octet-counted frame. */
  #skipBytes = 0
  /** Dropping up to the next trailer (an oversized non-transparent frame) or LF (garbage). */
  #skipTo: 'trailer' | 'lf' | undefined

  constructor(maxFrameBytes: number, sink: FrameSink) {
    this.#maxFrameBytes = maxFrameBytes
    this.#sink = sink
  }

  push(chunk: Buffer): void {
    let buf = chunk
    if (this.#skipBytes > 0) {
      const n = Math.min(this.#skipBytes, buf.length)
      this.#skipBytes -= n
      buf = buf.subarray(n)
    }
    if (this.#skipTo) {
      const t = this.#skipTo === 'lf' ? buf.indexOf(LF) : trailerAt(buf, 0)
      if (t < 0) return
      this.#skipTo = undefined
      buf = buf.subarray(t + 1)
    }
    if (this.#buf && this.#buf.length > 0) buf = Buffer.concat([this.#buf, buf])
    this.#buf = undefined
    const end = this.#frames(buf)
    if (end < buf.length) this.#buf = buf.subarray(end)
    else this.#scanned = 0
  }

  /** The stream ended: a last non-transparent frame needs no trailer; a partial count is lost. */
  end(): void {
    const buf = this.#buf
    this.#buf = undefined
    this.#scanned = 0
    if (this.#skipBytes > 0) this.#sink.refused('truncated', `connection closed ${this.#skipBytes} bytes before the end of an oversized frame`)
    this.#skipBytes = 0
    this.#skipTo = undefined
    if (!buf || buf.length === 0) return
    const count = this.#count(buf, 0)
    // Digits alone may be a count never completed, or a last line of digits: kept as a line.
    if (count !== undefined && count.length >= 0) this.#sink.refused('truncated', `connection closed after ${buf.length - count.start} of an octet-counted frame's ${count.length} bytes`)
    else this.#sink.frame(buf)
  }

  /**
   * Whether an octet count starts at `i` (MSG-LEN SP "<"): its length and the message's start;
   * length -1 when that cannot be told yet (`buf` ends first); undefined when it is no count.
   */
  #count(buf: Buffer, i: number): { length: number; start: number } | undefined {
    let j = i
    while (j < buf.length && j - i < MAX_COUNT_DIGITS && isDigit(buf[j]!)) j++
    if (j === i || buf[i] === 0x30) return undefined
    if (j === buf.length || (buf[j] === SP && j + 1 === buf.length)) return { length: -1, start: j + 1 }
    if (buf[j] !== SP || buf[j + 1] !== LT) return undefined
    return { length: Number(buf.toString('latin1', i, j)), start: j + 1 }
  }

  /** Emits every complete frame of `buf`; returns where the unfinished rest starts. */
  #frames(buf: Buffer): number {
    let i = 0
    for (;;) {
      while (i < buf.length && isBetweenFrames(buf[i]!)) i++
      if (i >= buf.length) return i
      const c = buf[i]!
      if (isDigit(c)) {
        const count = this.#count(buf, i)
        if (count?.length === -1) return i
        if (count) {
          if (count.length > this.#maxFrameBytes) {
            this.#sink.refused('oversized', `octet-counted frame of ${count.length} bytes; the limit is ${this.#maxFrameBytes}`)
            const have = buf.length - count.start
            if (have >= count.length) {
              i = count.start + count.length
              continue
            }
            this.#skipBytes = count.length - have
            return buf.length
          }
          if (buf.length - count.start < count.length) return i
          this.#sink.frame(buf.subarray(count.start, count.start + count.length))
          i = count.start + count.length
          continue
        }
      }
      if (isControl(c)) {
        // Binary noise holds NULs too: only an LF ends it.
        const t = buf.indexOf(LF, i)
        this.#sink.refused('garbage', `control byte 0x${c.toString(16).padStart(2, '0')} where a frame should start; skipped to the next LF`)
        if (t < 0) {
          this.#skipTo = 'lf'
          return buf.length
        }
        i = t + 1
        continue
      }
      const t = trailerAt(buf, Math.max(i, this.#scanned))
      if (t < 0) {
        if (buf.length - i > this.#maxFrameBytes) {
          this.#sink.refused('oversized', `frame without a trailer (LF or NUL) within ${this.#maxFrameBytes} bytes`)
          this.#skipTo = 'trailer'
          this.#scanned = 0
          return buf.length
        }
        this.#scanned = buf.length - i
        return i
      }
      this.#scanned = 0
      if (t - i > this.#maxFrameBytes) this.#sink.refused('oversized', `frame of ${t - i} bytes; the limit is ${this.#maxFrameBytes}`)
      else this.#sink.frame(buf.subarray(i, t > i && buf[t - 1] === CR ? t - 1 : t))
      i = t + 1
    }
  }
}
