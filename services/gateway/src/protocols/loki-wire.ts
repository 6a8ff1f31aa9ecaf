// The two bodies of Loki's POST /loki/api/v1/push, read into a PushBatch (loki-batch.ts). A body
// that cannot be read at all is refused whole (VALIDATION_FAILED, "couldn't parse push request:
// …"); a bad stream or entry inside a readable body is refused alone and the rest goes on.
import { uncompress } from 'snappy'
import { AFTER_LATEST_EVENT, SluiceError, errorMessage } from '@sluice/core'
import { utf8Problem } from '../body.js'
import { LATEST_NS, LONE_SURROGATE, Metadata, streamFields, timestampText } from './loki-batch.js'
import type { PushBatch } from './loki-batch.js'
import { formatLabels, labelsFromObject, shown } from './loki-labels.js'
import type { Labels } from './loki-labels.js'
import { PushRequestFault, readPushRequest } from './loki-protobuf.js'

function unreadable(reason: string): SluiceError {
  return new SluiceError('VALIDATION_FAILED', `couldn't parse push request: ${reason}`)
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)))

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

// ---------------------------------------------------------------------------------------------
// JSON (Content-Type: application/json; gzip/deflate/br bodies arrive decompressed), Loki's v1 shape:
//
//   {"streams": [
//     {"stream": {"app": "checkout", "level": "warn"},
//      "values": [["1700000000123456789", "payment slow"],
//                 ["1700000000123456790", "payment failed", {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}]]}
//   ]}
//
// Each value: [timestamp, line] or [timestamp, line, structured metadata]; the timestamp a string
// of Unix epoch nanoseconds (a JSON number could not hold them exactly), the structured metadata an
// object of string values (numbers and booleans are taken as their text). Streams with no values
// are ignored, as Loki does.

const EPOCH_NS = /^\d{1,19}$/

/** The epoch nanoseconds of `s`; undefined when it is none, null when they are after LATEST_NS. */
function nsFromString(s: string): bigint | null | undefined {
  if (!EPOCH_NS.test(s)) return undefined
  const ns = BigInt(s)
  return ns <= LATEST_NS ? ns : null
}

function preview(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(shown(v)) : v === null ? 'null' : typeof v === 'object' ? (Array.isArray(v) ? 'an array' : 'an object') : String(v)
}

export function readJsonPush(body: Buffer, batch: PushBatch): void {
  const problem = utf8Problem(body)
  if (problem) throw unreadable(`the JSON body is ${problem}`)
  let push: unknown
  try {
    push = JSON.parse(body.toString('utf8'))
  } catch (err) {
    throw unreadable(`invalid JSON: ${errorMessage(err)}`)
  }
  if (!isObject(push) || !Array.isArray(push.streams)) throw unreadable('expected a JSON object {"streams": [{"stream": {…labels}, "values": [["<unix ns>", "<line>"], …]}]}')
  const streams: unknown[] = push.streams
  const meta = new Metadata()
  for (let i = 0; i < streams.length; i++) readJsonStream(streams[i], i, batch, meta)
}

function readJsonStream(s: unknown, index: number, batch: PushBatch, meta: Metadata): void {
  if (!isObject(s)) return batch.badStream(index, '', `expected an object with "stream" and "values", got ${preview(s)}`)
  const stream = s.stream ?? {}
  const text = isObject(stream) ? formatLabels(stream) : ''
  const values = s.values
  if (!Array.isArray(values)) return batch.badStream(index, text, `expected "values": an array of ["<unix ns>", "<line>"] entries, got ${preview(values)}`)
  if (values.length === 0) return
  let labels: Labels | Error
  try {
    labels = isObject(stream) ? labelsFromObject(stream) : new Error(`expected "stream": an object of label names to values, got ${preview(stream)}`)
  } catch (err) {
    labels = asError(err)
  }
  if (!batch.openStream(index, streamFields(labels), text, values.length)) return
  for (let j = 0; j < values.length; j++) readJsonEntry(values[j], batch, meta)
}

function readJsonEntry(v: unknown, batch: PushBatch, meta: Metadata): void {
  if (!Array.isArray(v) || v.length < 2) return batch.badEntry('', `expected ["<unix ns>", "<line>"] or ["<unix ns>", "<line>", {structured metadata}], got ${preview(v)}`)
  const [ts, line, sent] = v as [unknown, unknown, unknown]
  const ns = typeof ts === 'string' ? nsFromString(ts) : undefined
  if (ns === null) return batch.badEntry('timestamp', `${preview(ts)} is ${AFTER_LATEST_EVENT}`)
  if (ns === undefined) return batch.badEntry('timestamp', `expected a string of Unix epoch nanoseconds up to ${LATEST_NS}, got ${preview(ts)}`)
  if (typeof line !== 'string') return batch.badEntry('line', `expected a string, got ${preview(line)}`)
  // JSON can escape half a surrogate pair, which no UTF-8 encodes (the protobuf push's strings are
  // UTF-8 checked, so cannot hold one): refused as bytes that are not UTF-8 are there.
  if (!line.isWellFormed()) return batch.badEntry('line', LONE_SURROGATE)
  meta.clear()
  if (sent !== undefined && sent !== null) {
    if (!isObject(sent)) return batch.badEntry('structured metadata', `expected an object of strings, got ${preview(sent)}`)
    for (const k of Object.keys(sent)) {
      const value = sent[k]
      if (!k.isWellFormed() || (typeof value === 'string' && !value.isWellFormed())) return batch.badEntry('structured metadata', LONE_SURROGATE)
      if (typeof value === 'string') meta.add(k, value)
      else if (typeof value === 'number' || typeof value === 'boolean') meta.add(k, String(value))
      else return batch.badEntry('structured metadata', `${JSON.stringify(shown(k))}: expected a string, got ${preview(value)}`)
    }
  }
  batch.entry(timestampText(ns), line, meta.length > 0 ? meta : undefined)
}

// ---------------------------------------------------------------------------------------------
// Protobuf (any other Content-Type, as in Loki: Promtail, Alloy and most clients send
// application/x-protobuf): a logproto.PushRequest (read by loki-protobuf.ts, where it is written
// out), snappy-compressed in the block format — a varint of the uncompressed length, then the
// compressed elements; not the framed stream format.

/** The uncompressed length a snappy block announces, or undefined if the varint is malformed. */
export function snappyLength(b: Uint8Array): number | undefined {
  let n = 0
  for (let i = 0; i < 5 && i < b.length; i++) {
    const byte = b[i]!
    n += (byte & 0x7f) * 2 ** (7 * i)
    if (byte < 0x80) return n
  }
  return undefined
}

/** Reads a snappy-compressed protobuf push; `maxBytes` bounds its uncompressed size (413 beyond). */
export async function readProtobufPush(body: Buffer, maxBytes: number, batch: PushBatch): Promise<void> {
  // The length is checked before decompressing: the block format announces it, and a small body
  // may announce gigabytes.
  const size = snappyLength(body)
  if (size === undefined) throw unreadable('the body is not snappy-compressed protobuf (for JSON send Content-Type: application/json)')
  if (size > maxBytes) throw new SluiceError('PAYLOAD_TOO_LARGE', `the snappy body decompresses to ${size} bytes; the limit is ${maxBytes}`)
  let raw: Buffer
  try {
    const out = await uncompress(body, { asBuffer: true })
    raw = typeof out === 'string' ? Buffer.from(out) : out
  } catch (err) {
    throw unreadable(`snappy: ${errorMessage(err)} (the body must be snappy-compressed protobuf; for JSON send Content-Type: application/json)`)
  }
  try {
    readPushRequest(raw, batch)
  } catch (err) {
    throw err instanceof PushRequestFault ? unreadable(`invalid protobuf: ${err.message}`) : err
  }
}
