// Loki's protobuf push — a logproto.PushRequest, once loki-wire.ts has undone the snappy — read
// into a PushBatch in one walk over its bytes (protobuf-wire.ts): each string decoded where it
// lies and checked as UTF-8 there, nothing built per message, a stream's labels parsed once per
// label set (loki-batch.ts caches them). What goes wrong costs what it is in:
//
//   the bytes are not a PushRequest: truncated, a bad varint or     the whole request (400
//   tag, a known field sent with another wire type (a generic        "couldn't parse push
//   decoder would skip it as unknown, and store the entry without    request: invalid protobuf:
//   it)                                                              <where>: <what>"), as in
//                                                                    Loki: nothing of a body that
//                                                                    is not what it claims is stored
//   labels not UTF-8, not a label set, or none                      the stream's entries
//   a line or structured metadata not UTF-8, a timestamp before     that entry
//   1970 or after 2096-01-01T00:00:00Z (the latest storage keeps)
//
// Unknown fields are skipped whatever their wire type, and so is `hash` (Loki-internal). A field
// sent twice: the last one counts (labels, line, a pair's name and value); a Timestamp sent twice
// is merged field by field, as proto3 merges a message; repeated fields add up.
//
// The messages (Loki's pkg/push/push.proto; Timestamp is google.protobuf.Timestamp), with the
// tag byte of each field read (field number << 3 | wire type: 2 length-delimited, 0 varint):
//
//   message PushRequest {
//     repeated StreamAdapter streams = 1;                   0x0a
//   }
//   message StreamAdapter {
//     string labels = 1;                                    0x0a  {name="value", …}: loki-labels.ts
//     repeated EntryAdapter entries = 2;                    0x12
//     uint64 hash = 3;                                            ignored
//   }
//   message EntryAdapter {
//     Timestamp timestamp = 1;                              0x0a  absent: the arrival time
//     string line = 2;                                      0x12
//     repeated LabelPairAdapter structuredMetadata = 3;     0x1a
//   }
//   message LabelPairAdapter {
//     string name = 1;                                      0x0a
//     string value = 2;                                     0x12
//   }
//   message Timestamp {
//     int64 seconds = 1;                                    0x08  since the Unix epoch
//     int32 nanos = 2;                                      0x10  0 … 999 999 999
//   }
import { AFTER_LATEST_EVENT } from '@sluice/core'
import { LATEST_NS, Metadata, streamFieldsOfText, timestampText } from './loki-batch.js'
import type { PushBatch, StreamFields } from './loki-batch.js'
import { shown } from './loki-labels.js'
import { WIRE, WireError, WireReader, wireName } from './protobuf-wire.js'

const { VARINT, LEN } = WIRE
const tag = (field: number, wire: number): number => (field << 3) | wire

/** The fields of a message that are read, by number: their name (as in errors) and wire type. */
type Fields = Readonly<Record<number, readonly [name: string, wire: number]>>

const PUSH_REQUEST: Fields = { 1: ['streams', LEN] }
const STREAM: Fields = { 1: ['labels', LEN], 2: ['entries', LEN] }
const ENTRY: Fields = { 1: ['timestamp', LEN], 2: ['line', LEN], 3: ['structuredMetadata', LEN] }
const LABEL_PAIR: Fields = { 1: ['name', LEN], 2: ['value', LEN] }
const TIMESTAMP: Fields = { 1: ['seconds', VARINT], 2: ['nanos', VARINT] }

const STREAMS = tag(1, LEN)
const LABELS = tag(1, LEN)
const ENTRIES = tag(2, LEN)
const TIME = tag(1, LEN)
const LINE = tag(2, LEN)
const METADATA = tag(3, LEN)
const NAME = tag(1, LEN)
const VALUE = tag(2, LEN)
const SECONDS = tag(1, VARINT)
const NANOS = tag(2, VARINT)

/** Where the request stops being a PushRequest (`streams[2].entries[0].line`) and how: it cannot be read. */
export class PushRequestFault extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(field === '' ? reason : `${field}: ${reason}`)
  }
}

/** A fault inside the field `name` of a message, named from that message; other errors pass. */
function located(err: unknown, name: string): unknown {
  if (err instanceof PushRequestFault) return name === '' ? err : new PushRequestFault(err.field === '' ? name : `${name}.${err.field}`, err.reason)
  return err instanceof WireError ? new PushRequestFault(name, err.message) : err
}

/** A field not read by its tag: a known one in another wire type is a fault; anything else is skipped. */
function other(r: WireReader, t: number, end: number, fields: Fields): void {
  const known = fields[t >>> 3]
  if (known === undefined) return r.skip(t, end)
  throw new PushRequestFault(known[0], `sent as ${wireName(t & 7)}, expected ${wireName(known[1])}`)
}

/** The latest time Sluice stores (2096-01-01), as google.protobuf.Timestamp's seconds and nanos. */
const MAX_SECONDS = Number(LATEST_NS / 1_000_000_000n)
const MAX_NANOS = Number(LATEST_NS % 1_000_000_000n)

/**
 * The record's timestamp text (timestampText) of a Timestamp, or undefined when it is outside
 * 1970 … 2096-01-01 (timestampProblem says why). From 10^8 s on, that is the nanoseconds' 18 or 19
 * digits: the seconds' digits and the nanos' nine, written without a BigInt.
 */
function timestampOf(seconds: number | bigint, nanos: number): string | undefined {
  if (typeof seconds !== 'number' || seconds < 0 || !(nanos >= 0 && nanos < 1e9)) return undefined
  if (seconds > MAX_SECONDS || (seconds === MAX_SECONDS && nanos > MAX_NANOS)) return undefined
  if (seconds >= 1e8) return `${seconds}${String(1e9 + nanos).slice(1)}`
  return timestampText(BigInt(seconds) * 1_000_000_000n + BigInt(nanos))
}

/** Why timestampOf refused a Timestamp: not a time from 1970 on, or one after the latest Sluice stores. */
function timestampProblem(seconds: number | bigint, nanos: number): string {
  const valid = seconds >= 0 && nanos >= 0 && nanos < 1e9
  return `${String(seconds)} s ${nanos} ns is ${valid ? AFTER_LATEST_EVENT : 'outside 1970-01-01 … 2096-01-01'}`
}

/** What an entry's reading keeps beside its Metadata; one per request, reset per entry. */
interface EntryState {
  timed: boolean
  seconds: number | bigint
  nanos: number
}

/** Reads a PushRequest into `batch`; throws PushRequestFault when it is not one. */
export function readPushRequest(raw: Buffer, batch: PushBatch): void {
  const r = new WireReader(raw)
  const end = raw.length
  const meta = new Metadata()
  const state: EntryState = { timed: false, seconds: 0, nanos: 0 }
  let i = 0
  try {
    while (r.pos < end) {
      const t = r.tag(end)
      if (t !== STREAMS) {
        other(r, t, end, PUSH_REQUEST)
        continue
      }
      const e = r.lengthEnd(end)
      readStream(r, r.pos, e, i++, batch, meta, state)
      r.pos = e
    }
  } catch (err) {
    throw located(err, '')
  }
}

function readStream(r: WireReader, start: number, end: number, i: number, batch: PushBatch, meta: Metadata, state: EntryState): void {
  // Its labels first (the last sent counts, wherever it is) and how many entries it has: both are
  // needed before its first entry. This walk also finds a fault in the stream's own framing.
  let labelsStart = start
  let labelsEnd = start
  let entries = 0
  try {
    r.pos = start
    while (r.pos < end) {
      const t = r.tag(end)
      if (t === LABELS || t === ENTRIES) {
        const e = r.lengthEnd(end)
        if (t === LABELS) {
          labelsStart = r.pos
          labelsEnd = e
        } else entries++
        r.pos = e
      } else other(r, t, end, STREAM)
    }
  } catch (err) {
    throw located(err, `streams[${i}]`)
  }
  if (entries === 0) return
  r.within(start, end)
  const text = r.utf8(labelsStart, labelsEnd)
  const fields: StreamFields | Error = text === undefined ? new Error('the labels are not valid UTF-8') : streamFieldsOfText(text, () => r.buf.toString('utf8', labelsStart, labelsEnd))
  // The entries of a refused stream are walked all the same: a fault in one is a fault in the request.
  const into = batch.openStream(i, fields, text === undefined ? '' : shown(text), entries) ? batch : undefined
  // The stream's framing is known to be sound from here on.
  let j = 0
  r.pos = start
  while (r.pos < end) {
    const t = r.tag(end)
    if (t !== ENTRIES) {
      r.skip(t, end)
      continue
    }
    const e = r.lengthEnd(end)
    readEntry(r, r.pos, e, i, j++, into, meta, state)
    r.pos = e
  }
}

/** Entry `j` of stream `i`, added to `batch` (undefined: its stream is refused, the entry only read). */
function readEntry(r: WireReader, start: number, end: number, i: number, j: number, batch: PushBatch | undefined, meta: Metadata, state: EntryState): void {
  let lineStart = start
  let lineEnd = start
  let metadataUtf8 = true
  let k = 0
  meta.clear()
  state.timed = false
  state.seconds = 0
  state.nanos = 0
  try {
    r.pos = start
    while (r.pos < end) {
      const t = r.tag(end)
      if (t === LINE) {
        lineEnd = r.lengthEnd(end)
        lineStart = r.pos
        r.pos = lineEnd
      } else if (t === METADATA || t === TIME) {
        const e = r.lengthEnd(end)
        if (t === TIME) readTimestamp(r, r.pos, e, state)
        else if (!readPair(r, r.pos, e, k++, meta)) metadataUtf8 = false
        r.pos = e
      } else other(r, t, end, ENTRY)
    }
  } catch (err) {
    throw located(err, `streams[${i}].entries[${j}]`)
  }
  if (batch === undefined) return
  let timestamp: string | undefined
  if (state.timed) {
    timestamp = timestampOf(state.seconds, state.nanos)
    if (timestamp === undefined) return batch.badEntry('timestamp', timestampProblem(state.seconds, state.nanos))
  }
  const line = r.utf8(lineStart, lineEnd)
  if (line === undefined) return batch.badEntry('line', 'not valid UTF-8')
  if (!metadataUtf8) return batch.badEntry('structured metadata', 'not valid UTF-8')
  batch.entry(timestamp, line, meta.length > 0 ? meta : undefined)
}

/** A Timestamp into `state`: a second one sent for the entry is merged into the first. */
function readTimestamp(r: WireReader, start: number, end: number, state: EntryState): void {
  state.timed = true
  try {
    r.pos = start
    while (r.pos < end) {
      const t = r.tag(end)
      if (t === SECONDS) state.seconds = r.int64Number(end)
      else if (t === NANOS) state.nanos = r.int32(end)
      else other(r, t, end, TIMESTAMP)
    }
  } catch (err) {
    throw located(err, 'timestamp')
  }
}

/** Structured metadata pair `k` of an entry into `meta`; false when its name or value is not UTF-8. */
function readPair(r: WireReader, start: number, end: number, k: number, meta: Metadata): boolean {
  let nameStart = start
  let nameEnd = start
  let valueStart = start
  let valueEnd = start
  try {
    r.pos = start
    while (r.pos < end) {
      const t = r.tag(end)
      if (t === NAME) {
        nameEnd = r.lengthEnd(end)
        nameStart = r.pos
        r.pos = nameEnd
      } else if (t === VALUE) {
        valueEnd = r.lengthEnd(end)
        valueStart = r.pos
        r.pos = valueEnd
      } else other(r, t, end, LABEL_PAIR)
    }
  } catch (err) {
    throw located(err, `structuredMetadata[${k}]`)
  }
  const name = r.key(nameStart, nameEnd)
  const value = r.utf8(valueStart, valueEnd)
  if (name === undefined || value === undefined) return false
  meta.add(name, value)
  return true
}
