// Request bodies in `Content-Encoding: snappy` and `x-snappy-framed`, as the OpenTelemetry
// Collector's confighttp sends them with `compression: snappy` (one raw snappy block) and
// `compression: x-snappy-framed` (the framing format). Like the Collector's receiver, `snappy` is
// read as framed when it starts with the framing format's stream identifier (older Collectors
// sent framed bodies under that name).
//
// Block: the announced length is checked against the limit before anything is decoded (413).
// Framed (github.com/google/snappy framing_format.txt): chunks of a type byte and a 3-byte
// length; compressed and uncompressed chunks carry at most 64 KiB each and the masked CRC-32C of
// their data, which is checked; padding and reserved skippable chunks are skipped; a reserved
// unskippable chunk, a bad checksum or a chunk cut short is a 400, a body past the limit a 413.
import { SluiceError, errorMessage } from '@sluice/core'
import { uncompressSync } from 'snappy'
import { snappyLength } from './protocols/loki-wire.js'

const STREAM_IDENTIFIER = Buffer.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]) // "sNaPpY"
const MAX_CHUNK_DATA = 65_536

const unreadable = (coding: string, why: string) => new SluiceError('VALIDATION_FAILED', `Content-Encoding ${coding}: ${why}`)
const tooLarge = (maxBytes: number) => new SluiceError('PAYLOAD_TOO_LARGE', `the snappy body decodes to more than ${maxBytes} bytes, the limit`)

// CRC-32C (Castagnoli), reflected, as the framing format checksums data.
const CRC32C_TABLE = new Int32Array(256).map((_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
  return c
})

export function crc32c(data: Uint8Array): number {
  let crc = -1
  for (let i = 0; i < data.length; i++) crc = CRC32C_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}

/** The framing format's masked checksum of `data`. */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data)
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0
}

function block(body: Buffer, maxBytes: number, coding: string, tooMuch = () => tooLarge(maxBytes)): Buffer {
  const size = snappyLength(body)
  if (size === undefined) throw unreadable(coding, 'not a snappy block (its length is malformed)')
  if (size > maxBytes) throw tooMuch()
  try {
    return uncompressSync(body, { asBuffer: true }) as Buffer
  } catch (err) {
    throw unreadable(coding, `snappy: ${errorMessage(err)}`)
  }
}

/** Decodes a body in the snappy framing format (`coding` names it in errors). */
export function decodeSnappyFramed(body: Buffer, maxBytes: number, coding = 'x-snappy-framed'): Buffer {
  if (!body.subarray(0, STREAM_IDENTIFIER.length).equals(STREAM_IDENTIFIER)) throw unreadable(coding, 'the body does not start with the snappy stream identifier')
  const out: Buffer[] = []
  let size = 0
  let at = 0
  while (at < body.length) {
    if (at + 4 > body.length) throw unreadable(coding, 'the body ends inside a chunk header')
    const type = body[at]!
    const length = body.readUIntLE(at + 1, 3)
    const start = at + 4
    at = start + length
    if (at > body.length) throw unreadable(coding, 'the body ends inside a chunk')
    if (type === 0xff) {
      if (!body.subarray(start - 4, at).equals(STREAM_IDENTIFIER)) throw unreadable(coding, 'a malformed stream identifier')
      continue
    }
    if (type >= 0x80) continue // padding (0xfe) and reserved skippable chunks
    if (type > 0x01) throw unreadable(coding, `a reserved unskippable chunk (type ${type})`)
    if (length < 4) throw unreadable(coding, 'a chunk too short for its checksum')
    const oversized = () => unreadable(coding, `a chunk of more than ${MAX_CHUNK_DATA} bytes`)
    const data = type === 0x00 ? block(body.subarray(start + 4, at), MAX_CHUNK_DATA, coding, oversized) : body.subarray(start + 4, at)
    if (data.length > MAX_CHUNK_DATA) throw oversized()
    if (maskedCrc32c(data) !== body.readUInt32LE(start)) throw unreadable(coding, 'a chunk fails its checksum: the body was damaged')
    size += data.length
    if (size > maxBytes) throw tooLarge(maxBytes)
    out.push(data)
  }
  return Buffer.concat(out, size)
}

/** Decodes a `Content-Encoding: snappy` body: one block, or framed when it starts as the framing format does. */
export function decodeSnappy(body: Buffer, maxBytes: number): Buffer {
  return body.subarray(0, STREAM_IDENTIFIER.length).equals(STREAM_IDENTIFIER) ? decodeSnappyFramed(body, maxBytes, 'snappy') : block(body, maxBytes, 'snappy')
}
