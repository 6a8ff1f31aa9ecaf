// Request bodies in `Content-Encoding: zstd` (RFC 8878), as the OpenTelemetry Collector's otlphttp
// exporter sends them with `compression: zstd`, and Vector's http and elasticsearch sinks with
// theirs. Node 20's zlib has no zstd (22.15's has, and @fastify/compress reads it there): fzstd
// (MIT, JavaScript) decodes it here (request-codings.ts reads the body for it).
//
// The compressed body is read whole (at most the body limit) and its frames walked before any is
// decoded, since the decoder takes a frame's window in memory at once: a frame that asks for a
// window over 8 MB (RFC 9659: the most a decoder of HTTP's zstd coding must give, and what encoders
// keep to) or over the body limit if that is larger, or for a dictionary, is refused (400); one
// that says it holds more than the body limit is 413, as is a body that decodes past it: decoding
// stops at the first block beyond. Each frame's content checksum, when it has one, is checked
// (xxhash-wasm, MIT), as zlib checks gzip's CRC: fzstd does not.
import { SluiceError, errorMessage } from '@sluice/core'
import { Decompress } from 'fzstd'
import xxhash from 'xxhash-wasm'

/** RFC 9659 §3: the largest window a zstd content coding needs. */
export const MAX_WINDOW_BYTES = 8 * 1024 * 1024

const FRAME_MAGIC = 0xfd2fb528
const SKIPPABLE_MAGIC_MASK = 0xfffffff0
const SKIPPABLE_MAGIC = 0x184d2a50

const unreadable = (why: string) => new SluiceError('VALIDATION_FAILED', `Content-Encoding zstd: ${why}`)

/** A Zstandard frame of a body: where it is, and the checksum it ends with (the low 32 bits of XXH64), if any. */
export interface Frame {
  start: number
  end: number
  checksum?: number
}

/**
 * Walks the frames of `body` without decoding them (RFC 8878 §3.1), skippable frames skipped:
 * throws for a frame that needs a window over MAX_WINDOW_BYTES (or `maxBytes`, if larger) or a
 * dictionary, one cut short (400), or one that says it decodes to more than `maxBytes` (413).
 */
export function checkFrames(body: Uint8Array, maxBytes: number): Frame[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const frames: Frame[] = []
  let at = 0
  const need = (n: number) => {
    if (at + n > body.length) throw unreadable('the body ends inside a frame')
  }
  while (at < body.length) {
    need(4)
    const start = at
    const magic = view.getUint32(at, true)
    if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      need(8)
      at += 8 + view.getUint32(at + 4, true)
      need(0)
      continue
    }
    if (magic !== FRAME_MAGIC) throw unreadable('not a Zstandard frame (bad magic number)')
    need(5)
    const descriptor = body[at + 4]!
    const fcsFlag = descriptor >> 6
    const singleSegment = (descriptor >> 5) & 1
    if (descriptor & 8) throw unreadable('a frame header has its reserved bit set')
    if (descriptor & 3) throw unreadable('frames with a dictionary are not supported')
    at += 5
    let window = 0
    if (!singleSegment) {
      need(1)
      const wd = body[at++]!
      const base = 2 ** (10 + (wd >> 3))
      window = base + (base / 8) * (wd & 7)
    }
    const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag
    need(fcsBytes)
    if (fcsBytes > 0) {
      // The content size (little-endian); a single-segment frame's window is its content.
      let size = 0
      for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + body[at + i]!
      if (fcsFlag === 1) size += 256
      if (size > maxBytes) throw new SluiceError('PAYLOAD_TOO_LARGE', `a zstd frame of the body holds ${size} bytes; the limit is ${maxBytes}`)
      if (singleSegment) window = size
    }
    at += fcsBytes
    const most = Math.max(MAX_WINDOW_BYTES, maxBytes)
    if (window > most) throw unreadable(`a frame needs a ${window}-byte window; at most ${most} is given (RFC 9659: 8 MB)`)
    for (let last = 0; !last; ) {
      need(3)
      const header = body[at]! | (body[at + 1]! << 8) | (body[at + 2]! << 16)
      last = header & 1
      const type = (header >> 1) & 3
      if (type === 3) throw unreadable('a block of the reserved type')
      at += 3 + (type === 1 ? 1 : header >>> 3)
      need(0)
    }
    if ((descriptor >> 2) & 1) {
      need(4)
      frames.push({ start, end: at + 4, checksum: view.getUint32(at, true) })
      at += 4
    } else frames.push({ start, end: at })
  }
  return frames
}

const hashing = xxhash()

/**
 * Decodes `body`, or throws: unreadable or failing its checksum (400), or decoding to more than
 * `maxBytes` (413). Frame by frame, so each frame's checksum is checked against its own content.
 */
export async function decodeZstd(body: Uint8Array, maxBytes: number): Promise<Buffer> {
  const frames = checkFrames(body, maxBytes)
  const { create64 } = await hashing
  const chunks: Uint8Array[] = []
  let size = 0
  const tooLarge = new SluiceError('PAYLOAD_TOO_LARGE', `the zstd body decodes to more than ${maxBytes} bytes, the limit`)
  for (const [i, frame] of frames.entries()) {
    const hash = frame.checksum === undefined ? undefined : create64(0n)
    const decoder = new Decompress((chunk) => {
      size += chunk.length
      if (size > maxBytes) throw tooLarge
      chunks.push(chunk)
      hash?.update(chunk)
    })
    try {
      decoder.push(body.subarray(frame.start, frame.end), true)
    } catch (err) {
      if (err === tooLarge) throw err
      throw unreadable(errorMessage(err))
    }
    if (hash && Number(hash.digest() & 0xffffffffn) !== frame.checksum) throw unreadable(`frame ${i + 1} fails its checksum: the body was damaged`)
  }
  return Buffer.concat(chunks, size)
}
