// The two bodies of Loki's POST /loki/api/v1/push, read into a PushBatch (loki-batch.ts). A body
// that cannot be read at all is refused whole (VALIDATION_FAILED, "couldn't parse push request:
// …"); a bad stream or entry inside a readable body is refused alone and the rest goes on.
import { isUtf8 } from 'node:buffer'
import protobuf from 'protobufjs'
import { uncompress } from 'snappy'
import { SluiceError, errorMessage } from '@sluice/core'
import { utf8Problem } from '../body.js'
import { MAX_NS } from './loki-batch.js'
import type { PushBatch } from './loki-batch.js'
import { formatLabels, labelsFromObject, parseLabelSet, shown } from './loki-labels.js'
import type { Labels } from './loki-labels.js'

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

function nsFromString(s: string): bigint | undefined {
  if (!EPOCH_NS.test(s)) return undefined
  const ns = BigInt(s)
  return ns <= MAX_NS ? ns : undefined
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
  for (let i = 0; i < streams.length; i++) readJsonStream(streams[i], i, batch)
}

function readJsonStream(s: unknown, index: number, batch: PushBatch): void {
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
  if (!batch.openStream(index, labels, text, values.length)) return
  for (let j = 0; j < values.length; j++) readJsonEntry(values[j], j, batch)
}

function readJsonEntry(v: unknown, j: number, batch: PushBatch): void {
  if (!Array.isArray(v) || v.length < 2) return batch.badEntry(j, '', `expected ["<unix ns>", "<line>"] or ["<unix ns>", "<line>", {structured metadata}], got ${preview(v)}`)
  const [ts, line, meta] = v as [unknown, unknown, unknown]
  const ns = typeof ts === 'string' ? nsFromString(ts) : undefined
  if (ns === undefined) return batch.badEntry(j, 'timestamp', `expected a string of Unix epoch nanoseconds up to ${MAX_NS}, got ${preview(ts)}`)
  if (typeof line !== 'string') return batch.badEntry(j, 'line', `expected a string, got ${preview(line)}`)
  let metadata: Array<[string, string]> | undefined
  if (meta !== undefined && meta !== null) {
    if (!isObject(meta)) return batch.badEntry(j, 'structured metadata', `expected an object of strings, got ${preview(meta)}`)
    metadata = []
    for (const k of Object.keys(meta)) {
      const value = meta[k]
      if (typeof value === 'string') metadata.push([k, value])
      else if (typeof value === 'number' || typeof value === 'boolean') metadata.push([k, String(value)])
      else return batch.badEntry(j, 'structured metadata', `${JSON.stringify(shown(k))}: expected a string, got ${preview(value)}`)
    }
  }
  batch.entry(j, ns, line, metadata)
}

// ---------------------------------------------------------------------------------------------
// Protobuf (any other Content-Type, as in Loki: Promtail, Alloy and most clients send
// application/x-protobuf), the body snappy-compressed in the block format — a varint of the
// uncompressed length, then the compressed elements; not the framed stream format. Loki's
// logproto push messages (pkg/push/push.proto), written out with the field numbers that matter;
// `hash` is Loki-internal and ignored, Timestamp is google.protobuf.Timestamp's wire format:
const LOGPROTO = `
syntax = "proto3";
package logproto;

message PushRequest {
  repeated StreamAdapter streams = 1;
}
message StreamAdapter {
  string labels = 1;                 // {name="value", …}, parsed by loki-labels.ts
  repeated EntryAdapter entries = 2;
  uint64 hash = 3;
}
message EntryAdapter {
  Timestamp timestamp = 1;
  string line = 2;
  repeated LabelPairAdapter structuredMetadata = 3;
}
message LabelPairAdapter {
  string name = 1;
  string value = 2;
}
message Timestamp {
  int64 seconds = 1;                 // since the Unix epoch
  int32 nanos = 2;                   // 0 … 999 999 999
}
`

/** logproto.PushRequest (exported for tests that build bodies). */
export const PushRequest = protobuf.parse(LOGPROTO, { keepCase: true }).root.lookupType('logproto.PushRequest')
/**
 * The same message read with its strings as bytes. Reading a string, protobufjs uses Node's UTF-8
 * decoder, which refuses bytes that are not UTF-8 (some Node versions replace them with U+FFFD
 * silently instead); either way such a request is read again this way, each string checked, so
 * that a bad one refuses only its stream or entry.
 */
const PushRequestBytes = protobuf.parse(LOGPROTO.replace(/\bstring\b/g, 'bytes'), { keepCase: true }).root.lookupType('logproto.PushRequest')

/** The decoded message as protobufjs builds it (absent fields read their defaults). */
interface WirePush<S = string> {
  streams: Array<{ labels: S; entries: Array<WireEntry<S>> }>
}
interface WireEntry<S = string> {
  timestamp: { seconds: number | { low: number; high: number }; nanos: number } | null
  line: S
  structuredMetadata: Array<{ name: S; value: S }>
}

/** Where a request's strings are not UTF-8: streams by their labels, entries by `stream:entry`. */
interface InvalidUtf8 {
  streams: Set<number>
  lines: Set<string>
  metadata: Set<string>
}

const REPLACEMENT = '\uFFFD'

function hasReplacement(push: WirePush): boolean {
  for (const s of push.streams) {
    if (s.labels.includes(REPLACEMENT)) return true
    for (const e of s.entries) {
      if (e.line.includes(REPLACEMENT)) return true
      for (const p of e.structuredMetadata) if (p.name.includes(REPLACEMENT) || p.value.includes(REPLACEMENT)) return true
    }
  }
  return false
}

/** The request read with its strings checked one by one; a bad one is read as '' and listed. */
function readCheckingUtf8(raw: Buffer): { push: WirePush; bad: InvalidUtf8 } {
  const bytes = PushRequestBytes.decode(raw) as unknown as WirePush<Uint8Array>
  const bad: InvalidUtf8 = { streams: new Set(), lines: new Set(), metadata: new Set() }
  const text = (b: Uint8Array, onBad: () => void): string => {
    const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength)
    if (isUtf8(buf)) return buf.toString('utf8')
    onBad()
    return ''
  }
  const push: WirePush = {
    streams: bytes.streams.map((s, i) => ({
      labels: text(s.labels, () => bad.streams.add(i)),
      entries: s.entries.map((e, j) => {
        const markMetadata = () => bad.metadata.add(`${i}:${j}`)
        return {
          timestamp: e.timestamp,
          line: text(e.line, () => bad.lines.add(`${i}:${j}`)),
          structuredMetadata: e.structuredMetadata.map((m) => ({ name: text(m.name, markMetadata), value: text(m.value, markMetadata) })),
        }
      }),
    })),
  }
  return { push, bad }
}

/** The decoded request, and where its strings are not UTF-8 (undefined: nowhere). */
function readPush(raw: Buffer): { push: WirePush; bad?: InvalidUtf8 } {
  try {
    const push = PushRequest.decode(raw) as unknown as WirePush
    return hasReplacement(push) ? readCheckingUtf8(raw) : { push }
  } catch (err) {
    if (!/utf-?8/i.test(errorMessage(err))) throw err
    return readCheckingUtf8(raw)
  }
}

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

function timestampNs(t: NonNullable<WireEntry['timestamp']>): bigint | undefined {
  // protobufjs reads an int64 as a Long (low and high 32 bits); seconds within ±2^53 are exact as
  // a number, and every valid time is far inside that.
  const s = t.seconds
  const seconds = typeof s === 'number' ? s : s.high * 2 ** 32 + (s.low >>> 0)
  if (!Number.isSafeInteger(seconds) || seconds < 0 || !(t.nanos >= 0 && t.nanos < 1e9)) return undefined
  const ns = BigInt(seconds) * 1_000_000_000n + BigInt(t.nanos)
  return ns <= MAX_NS ? ns : undefined
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
  let read: ReturnType<typeof readPush>
  try {
    read = readPush(raw)
  } catch (err) {
    throw unreadable(`invalid protobuf: ${errorMessage(err)}`)
  }
  const { push, bad } = read
  for (let i = 0; i < push.streams.length; i++) {
    const s = push.streams[i]!
    if (s.entries.length === 0) continue
    let labels: Labels | Error
    try {
      labels = bad?.streams.has(i) ? new Error('the labels are not valid UTF-8') : parseLabelSet(s.labels)
    } catch (err) {
      labels = asError(err)
    }
    if (!batch.openStream(i, labels, shown(s.labels), s.entries.length)) continue
    for (let j = 0; j < s.entries.length; j++) {
      const e = s.entries[j]!
      const ns = e.timestamp ? timestampNs(e.timestamp) : undefined
      if (e.timestamp && ns === undefined) {
        batch.badEntry(j, 'timestamp', `${String(e.timestamp.seconds)} s ${e.timestamp.nanos} ns is outside 1970-01-01 … 2262-04-11`)
        continue
      }
      if (bad?.lines.has(`${i}:${j}`)) {
        batch.badEntry(j, 'line', 'not valid UTF-8')
        continue
      }
      if (bad?.metadata.has(`${i}:${j}`)) {
        batch.badEntry(j, 'structured metadata', 'not valid UTF-8')
        continue
      }
      const metadata = e.structuredMetadata.length > 0 ? e.structuredMetadata.map((p) => [p.name, p.value] as const) : undefined
      batch.entry(j, ns, e.line, metadata)
    }
  }
}
