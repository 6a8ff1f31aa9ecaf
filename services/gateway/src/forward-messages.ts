// One Fluentd forward protocol message (Forward Protocol Specification v1) read into its tag, its
// events and its options. The four modes a sender may use:
//   Message                  [tag, time, record, option?]          fluent-logger (Go, Python, Node)
//   Forward                  [tag, [[time, record], …], option?]   the specification's batch form
//   PackedForward            [tag, <entries>, option?]             Fluent Bit, Fluentd's out_forward,
//                                                                  fluent-logger (Node)
//   CompressedPackedForward  as PackedForward, option.compressed = "gzip"
// where <entries> is a bin (or str) holding [time, record] arrays back to back, gzipped in the last
// mode (several gzip members one after another). A time is whole seconds (an integer; a float is
// read too) or an EventTime: MessagePack extension type 0, 4 bytes of seconds and 4 of nanoseconds,
// big-endian. Options: `chunk` asks for an acknowledgement ({ack: chunk}), `size` counts the
// events, `compressed` names the entries' coding ("gzip", or "text" for none).
//
// Fluent Bit 2.1 and later may wrap an entry's time with the event's metadata, [[time, metadata],
// record] (its forward output's Retain_Metadata_In_Forward_Mode, on by default from 5.0.4): the
// time is read from it and a metadata map that is not empty becomes the record's field
// `fluent.metadata` (binary values, such as OTLP trace ids, as hex). A message of another signal
// (option fluent_signal: 1 metrics, 2 traces, Fluent Bit's cmetrics and ctraces) holds no logs.
//
// A message whose shape is none of these is refused whole (with its chunk, when one can be read,
// so the sender is answered rather than left to resend it forever); an event that is no
// [time, record] pair is refused alone, and the others are read.
import { gunzipSync } from 'node:zlib'
import { Unpackr, addExtension } from 'msgpackr'
import { bytesAt, objectEnd } from './forward-framing.js'

/** The event time: extension type 0, seconds and nanoseconds as two big-endian uint32. */
const EVENT_TIME = 0
const NS_PER_S = 1_000_000_000n

/** A time Sluice reads: nanoseconds since the epoch. */
class EventTime {
  constructor(readonly ns: bigint) {}
}

// msgpackr (MIT) reads MessagePack about twice as fast as @msgpack/msgpack did here (2.2 against
// 4.8 µs per event of the benchmark's records). Its extensions are process-wide: type 0, which
// it reads as `undefined` by default (notepack's use of it), is the EventTime in this process.
addExtension({
  type: EVENT_TIME,
  unpack: (data: Buffer) => {
    if (data.length !== 8) throw new Error(`an EventTime holds 8 bytes, this one ${data.length}`)
    return new EventTime(BigInt(data.readUInt32BE(0)) * NS_PER_S + BigInt(data.readUInt32BE(4)))
  },
})

/** The 8 bytes of an EventTime (for tests and the benchmark's senders). */
export function eventTimeBytes(ns: bigint): Uint8Array {
  const out = new Uint8Array(8)
  const view = new DataView(out.buffer)
  view.setUint32(0, Number(ns / NS_PER_S))
  view.setUint32(4, Number(ns % NS_PER_S))
  return out
}

export interface ForwardOption {
  /** The sender's chunk id: it waits for {ack: chunk}. */
  chunk?: string
  compressed?: string
  /** Fluent Bit's signal of the message: 0 logs, 1 metrics, 2 traces. */
  signal?: number
}

export interface ForwardEvent {
  timeNs: bigint
  record: Record<string, unknown>
}

export type ForwardMessage =
  | { ok: true; tag: string; events: ForwardEvent[]; refused: string[]; option: ForwardOption }
  | { ok: false; reason: string; option: ForwardOption }

export interface ForwardLimits {
  /** Bytes a message's events may take once decompressed. */
  maxEntriesBytes: number
}

/**
 * Plain MessagePack: maps as objects (a `__proto__` key is read as `__proto_`), no records.
 * What it reads is bounded by the message (at most GATEWAY_MAX_BODY_BYTES, forward-framing.ts).
 */
const unpackr = new Unpackr({ mapsAsObjects: true, useRecords: false })

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof EventTime) && !(v instanceof Date)

/** The options at `at` of a message, when a map there. */
function optionOf(m: unknown[], at: number): ForwardOption {
  const last = m[at]
  if (!isRecord(last)) return {}
  const option: ForwardOption = {}
  if (typeof last.chunk === 'string') option.chunk = last.chunk
  if (typeof last.compressed === 'string') option.compressed = last.compressed
  if (typeof last.fluent_signal === 'number') option.signal = last.fluent_signal
  return option
}

/** A time as nanoseconds, or undefined when it is none. */
function timeNs(t: unknown): bigint | undefined {
  if (t instanceof EventTime) return t.ns
  if (typeof t === 'number' && Number.isFinite(t) && t >= 0) {
    if (Number.isInteger(t)) return BigInt(t) * NS_PER_S
    const s = Math.floor(t)
    return BigInt(s) * NS_PER_S + BigInt(Math.round((t - s) * 1e9))
  }
  if (typeof t === 'bigint' && t >= 0n) return t * NS_PER_S
  // MessagePack's own timestamp (extension -1), which @msgpack/msgpack reads as a Date.
  if (t instanceof Date && !Number.isNaN(t.getTime())) return BigInt(t.getTime()) * 1_000_000n
  return undefined
}

const utf8 = new TextDecoder()

const utf8Text = (b: Uint8Array) => utf8.decode(b)
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

/**
 * A record as read: binary values as `binary` makes them (UTF-8 text, as senders of MessagePack
 * before its str type mean them), 64-bit integers past 2^53 (read as bigints) as their digits,
 * nested maps and arrays likewise.
 */
function plain(v: unknown, binary: (b: Uint8Array) => string = utf8Text): unknown {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Uint8Array) return binary(v)
  if (v instanceof EventTime) return v.ns.toString()
  if (Array.isArray(v)) return v.map((x) => plain(x, binary))
  if (isRecord(v)) {
    for (const k in v) {
      const x = v[k]
      if ((typeof x === 'object' && x !== null) || typeof x === 'bigint') v[k] = plain(x, binary)
    }
  }
  return v
}

/** [time, record] as an event, or why it is none (`n`: its place in the message, from 0). */
function eventOf(entry: unknown, n: number): ForwardEvent | string {
  if (!Array.isArray(entry) || entry.length < 2) return `entry ${n} is no [time, record] array`
  // Fluent Bit's [[time, metadata], record]
  const [time, metadata] = Array.isArray(entry[0]) ? [entry[0][0], entry[0][1]] : [entry[0], undefined]
  const ns = timeNs(time)
  if (ns === undefined) return `entry ${n}: the time is no EventTime or whole seconds`
  const record = entry[1]
  if (!isRecord(record)) return `entry ${n}: the record is no map`
  const out = plain(record) as Record<string, unknown>
  // Metadata holds ids (OTLP trace and span ids), not text: its binary values as hex.
  if (isRecord(metadata) && Object.keys(metadata).length > 0) out['fluent.metadata'] = plain(metadata, hex)
  return { timeNs: ns, record: out }
}

/**
 * The bytes of a message's second element as sent, when it is a str: PackedForward entries some
 * senders write as str, which a decoder reads as UTF-8 text, mangling them.
 */
function rawSecond(bytes: Uint8Array): Uint8Array | undefined {
  const type = bytes[0]
  const head = type !== undefined && type >= 0x90 && type <= 0x9f ? 1 : type === 0xdc ? 3 : type === 0xdd ? 5 : undefined
  const tagEnd = head === undefined ? undefined : objectEnd(bytes, head)
  const end = tagEnd === undefined ? undefined : objectEnd(bytes, tagEnd)
  return end === undefined ? undefined : bytesAt(bytes, tagEnd!, end)
}

/** Reads one message (a complete MessagePack object, forward-framing.ts). */
export function readMessage(bytes: Buffer, limits: ForwardLimits): ForwardMessage {
  let m: unknown
  try {
    m = unpackr.unpack(bytes)
  } catch (err) {
    return { ok: false, reason: `not MessagePack: ${err instanceof Error ? err.message : String(err)}`, option: {} }
  }
  if (!Array.isArray(m)) return { ok: false, reason: 'a message is an array [tag, …]', option: {} }
  if (typeof m[1] === 'string') m[1] = rawSecond(bytes) ?? m[1]
  const packed = m[1] instanceof Uint8Array ? m[1] : undefined
  const second = m[1]
  // Options follow the entries, or the record in the Message mode (whose second element is a time).
  const option = optionOf(m, packed !== undefined || Array.isArray(second) ? 2 : 3)
  const tag = m[0] instanceof Uint8Array ? utf8.decode(m[0]) : m[0]
  if (typeof tag !== 'string' || m.length < 2) return { ok: false, reason: 'a message starts with its tag, a string', option }
  if (option.signal !== undefined && option.signal !== 0) return { ok: false, reason: `a message of Fluent Bit's signal ${option.signal} (${option.signal === 1 ? 'metrics' : option.signal === 2 ? 'traces' : 'not logs'}): Sluice stores logs`, option }
  const events: ForwardEvent[] = []
  const refused: string[] = []
  const add = (entry: unknown, n: number) => {
    const e = eventOf(entry, n)
    if (typeof e === 'string') refused.push(e)
    else events.push(e)
  }
  if (Array.isArray(second)) {
    // Forward
    second.forEach(add)
    return { ok: true, tag, events, refused, option }
  }
  if (packed !== undefined) {
    // PackedForward, gzipped in CompressedPackedForward
    let entries = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength)
    if (option.compressed === 'gzip') {
      try {
        entries = gunzipSync(entries, { maxOutputLength: limits.maxEntriesBytes })
      } catch (err) {
        const code = (err as { code?: string }).code
        return { ok: false, reason: code === 'ERR_BUFFER_TOO_LARGE' ? `the entries inflate to more than ${limits.maxEntriesBytes} bytes (GATEWAY_MAX_BODY_BYTES)` : `the entries are no gzip: ${(err as Error).message}`, option }
      }
    } else if (option.compressed !== undefined && option.compressed !== 'text') return { ok: false, reason: `entries compressed as ${JSON.stringify(option.compressed)}: Sluice reads gzip`, option }
    let n = 0
    try {
      unpackr.unpackMultiple(entries, (entry: unknown) => void add(entry, n++))
    } catch (err) {
      // What came before the bytes that do not read is kept; the rest cannot be told apart.
      refused.push(`entry ${n} and after: not MessagePack (${err instanceof Error ? err.message : String(err)})`)
    }
    return { ok: true, tag, events, refused, option }
  }
  // Message
  if (m.length < 3) return { ok: false, reason: 'a Message is [tag, time, record, option?]', option }
  add([second, m[2]], 0)
  return { ok: true, tag, events, refused, option }
}
