// Request bodies in `Content-Encoding: lz4`, as the OpenTelemetry Collector's confighttp sends them
// with `compression: lz4`: the LZ4 frame format (github.com/lz4/lz4 doc/lz4_Frame_format.md), one
// frame or several back to back, skippable frames skipped, each of blocks in the LZ4 block format
// (lz4_Block_format.md).
//
// Decoded here, bounded: LZ4 turns one byte into up to 255, so a 10 MB body could ask for 2.5 GB.
// A frame that says it holds more than the limit is refused before it is decoded (413), and every
// literal run and match is checked against the limit before it is written: decoding stops there
// (413). The libraries that decode LZ4 on npm decode a frame whole, without a bound (lz4-napi), or
// are no longer kept (lz4js), and the format is small. Checked as the reference decoder checks:
// the header checksum, each block's checksum and the content checksum when the frame has them
// (XXH32, xxhash-wasm), a block larger than its frame's maximum, a match reaching before the start
// of the output (or of its block, when blocks are independent), a block that does not end with
// literals. Frames with a dictionary are refused (400): none is known here.
import { SluiceError } from '@sluice/core'
import xxhash from 'xxhash-wasm'

const FRAME_MAGIC = 0x184d2204
const SKIPPABLE_MAGIC_MASK = 0xfffffff0
const SKIPPABLE_MAGIC = 0x184d2a50
/** Block maximum sizes by the BD byte's code, 4 to 7. */
const BLOCK_MAX = [0, 0, 0, 0, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024]
const MIN_MATCH = 4

const unreadable = (why: string) => new SluiceError('VALIDATION_FAILED', `Content-Encoding lz4: ${why}`)
const tooLarge = (maxBytes: number) => new SluiceError('PAYLOAD_TOO_LARGE', `the lz4 body decodes to more than ${maxBytes} bytes, the limit`)

const hashing = xxhash()

/** The decoded bytes, growing as needed up to the limit. */
class Output {
  buf: Uint8Array
  length = 0
  constructor(
    initial: number,
    readonly maxBytes: number,
  ) {
    this.buf = new Uint8Array(Math.max(1024, Math.min(initial, maxBytes)))
  }

  /** Room for `n` more bytes, or 413 past the limit. */
  reserve(n: number): void {
    const need = this.length + n
    if (need > this.maxBytes) throw tooLarge(this.maxBytes)
    if (need <= this.buf.length) return
    const next = new Uint8Array(Math.min(this.maxBytes, Math.max(need, this.buf.length * 2)))
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
  }
}

/**
 * Decodes one LZ4 block, src[from..end), onto `out`. A match may reach back to `floor` (the
 * block's start when blocks are independent, else the frame's).
 */
function decodeBlock(src: Uint8Array, from: number, end: number, out: Output, floor: number): void {
  let at = from
  for (;;) {
    if (at >= end) throw unreadable('a block ends without its last literals')
    const token = src[at++]!
    let literals = token >>> 4
    if (literals === 15) {
      // A length's extra bytes: each added, until one is not 255.
      let b: number
      do {
        if (at >= end) throw unreadable('a block ends inside a length')
        b = src[at++]!
        literals += b
      } while (b === 255)
    }
    if (at + literals > end) throw unreadable('a block ends inside its literals')
    if (literals > 0) {
      out.reserve(literals)
      // Short runs byte by byte: a subarray and a set cost more than they copy.
      const buf = out.buf
      if (literals < 32) for (let i = 0, to = out.length; i < literals; i++) buf[to + i] = src[at + i]!
      else buf.set(src.subarray(at, at + literals), out.length)
      out.length += literals
      at += literals
    }
    // The last sequence is literals alone.
    if (at === end) return
    if (at + 2 > end) throw unreadable('a block ends inside a match offset')
    const offset = src[at]! | (src[at + 1]! << 8)
    at += 2
    if (offset === 0 || offset > out.length - floor) throw unreadable(offset === 0 ? 'a match at offset 0' : 'a match reaches before the start of the data')
    let length = (token & 15) + MIN_MATCH
    if ((token & 15) === 15) {
      let b: number
      do {
        if (at >= end) throw unreadable('a block ends inside a length')
        b = src[at++]!
        length += b
      } while (b === 255)
    }
    out.reserve(length)
    const buf = out.buf
    let to = out.length
    let source = to - offset
    if (offset >= length && length >= 32) buf.copyWithin(to, source, source + length)
    else for (let i = 0; i < length; i++) buf[to++] = buf[source++]!
    out.length += length
  }
}

/**
 * Decodes `body`, or throws: unreadable or failing a checksum (400), or decoding to more than
 * `maxBytes` (413).
 */
export async function decodeLz4(body: Uint8Array, maxBytes: number): Promise<Buffer> {
  const { h32Raw } = await hashing
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const need = (at: number, n: number) => {
    if (at + n > body.length) throw unreadable('the body ends inside a frame')
  }
  const out = new Output(body.length * 4, maxBytes)
  let at = 0
  if (body.length === 0) throw unreadable('an empty body')
  while (at < body.length) {
    need(at, 4)
    const magic = view.getUint32(at, true)
    if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      need(at, 8)
      const size = view.getUint32(at + 4, true)
      need(at + 8, size)
      at += 8 + size
      continue
    }
    if (magic !== FRAME_MAGIC) throw unreadable('not an LZ4 frame (bad magic number)')
    need(at, 7)
    const descriptor = at + 4
    const flg = body[descriptor]!
    const bd = body[descriptor + 1]!
    if (flg >>> 6 !== 1) throw unreadable(`an LZ4 frame of version ${flg >>> 6}; only version 01 is defined`)
    if (flg & 0x02 || bd & 0x8f) throw unreadable('a frame descriptor with a reserved bit set')
    const independent = (flg & 0x20) !== 0
    const blockChecksums = (flg & 0x10) !== 0
    const hasSize = (flg & 0x08) !== 0
    const contentChecksum = (flg & 0x04) !== 0
    if (flg & 0x01) throw unreadable('frames with a dictionary are not supported')
    const blockMax = BLOCK_MAX[(bd >>> 4) & 7]!
    if (blockMax === 0) throw unreadable(`a block maximum size code of ${(bd >>> 4) & 7}; 4 to 7 are defined`)
    let headerEnd = descriptor + 2
    let contentSize: number | undefined
    if (hasSize) {
      need(headerEnd, 8)
      contentSize = Number(view.getBigUint64(headerEnd, true))
      if (contentSize > maxBytes - out.length) throw new SluiceError('PAYLOAD_TOO_LARGE', `an lz4 frame of the body holds ${contentSize} bytes; the limit is ${maxBytes}`)
      headerEnd += 8
    }
    need(headerEnd, 1)
    if (((h32Raw(body.subarray(descriptor, headerEnd), 0) >>> 8) & 0xff) !== body[headerEnd]) throw unreadable('a frame descriptor fails its checksum: the body was damaged')
    at = headerEnd + 1
    const frameStart = out.length
    for (;;) {
      need(at, 4)
      const word = view.getUint32(at, true)
      at += 4
      if (word === 0) break
      const size = word & 0x7fffffff
      if (size > blockMax) throw unreadable(`a block of ${size} bytes in a frame of blocks of at most ${blockMax}`)
      need(at, size + (blockChecksums ? 4 : 0))
      if (blockChecksums && h32Raw(body.subarray(at, at + size), 0) !== view.getUint32(at + size, true)) throw unreadable('a block fails its checksum: the body was damaged')
      if (word & 0x80000000) {
        // Stored as it is.
        out.reserve(size)
        out.buf.set(body.subarray(at, at + size), out.length)
        out.length += size
      } else decodeBlock(body, at, at + size, out, independent ? out.length : frameStart)
      at += size + (blockChecksums ? 4 : 0)
    }
    if (contentSize !== undefined && out.length - frameStart !== contentSize) throw unreadable(`a frame says it holds ${contentSize} bytes and holds ${out.length - frameStart}`)
    if (contentChecksum) {
      need(at, 4)
      if (h32Raw(out.buf.subarray(frameStart, out.length), 0) !== view.getUint32(at, true)) throw unreadable('a frame fails its content checksum: the body was damaged')
      at += 4
    }
  }
  return Buffer.from(out.buf.buffer, out.buf.byteOffset, out.length)
}
