// EnrichedLog values straight from Kafka (Confluent-framed Avro) to RowBinary rows of <db>.logs,
// with no EnrichedLog object in between: decoding into objects (avsc) and encoding them again
// (row-binary.ts) costs a few µs per record and most of the sink's garbage, and is the
// throughput limit of the process. The contract is byte equality: for a value written under our
// own schema id, `append` writes exactly the row `LogRowBinaryEncoder` writes for what the codec
// decodes from it (avsc 5.7.9 plus the bigint long of @sluice/registry), and fails with the same
// error code where that path fails. So the reads below copy avsc's, quirks included (noted where
// they matter), and the column rules are row-binary.ts's. Values under another schema id are
// left to the codec (schema resolution), and `LogTranscoder.for` refuses a schema whose field
// layout differs from the one read here, so a change to enriched-log.avsc turns this path off
// instead of writing wrong rows.
//
// Input, one Kafka value (Confluent framing, see registry/src/codec.ts): byte 0 = 0, bytes 1–4 =
// schema id (big-endian int32), then the record's fields in schema order, each in Avro binary:
//
//   int, long      zig-zag varint: (n << 1) ^ (n >> 63), 7 bits a byte, low group first, high
//                  bit set on every byte but the last (-1 → 01, 1 → 02, 64 → 80 01)
//   string         long byte length, then that many UTF-8 bytes
//   boolean        1 byte (avsc reads any non-zero byte as true)
//   double         8 bytes, IEEE 754 little-endian
//   union          long branch index (here 0 = null, 1 = the value), then the branch's value
//   map            blocks, each a long entry count then that many key (string), value pairs;
//                  a negative count -n means n entries preceded by a long byte size of the
//                  block; a 0 count ends the map. avsc writes one block; Java and Python
//                  writers may write several, with negative counts.
//
// Output, one row per value (RowBinary, the format and per-column rules in row-binary.ts):
//
//   Avro field (type)                    column (RowBinary)
//   id, tenant (string)                  id, tenant: String, the bytes copied
//   timestamp, observed_timestamp        Timestamp, ObservedTimestamp: Int64 LE; outside
//     (long timestamp-nanos)               1900-01-01…Int64 max the record is refused, and so
//                                          is a timestamp before 1970 or after 2096-01-01
//                                          (LATEST_NS)
//   service (string)                     ServiceName
//   host (null|string)                   HostName: null → ''
//   severity_text (string)               SeverityText
//   severity_number (int)                SeverityNumber: UInt8, clamped 0–255
//   message (string)                     Body
//   trace_id, span_id (null|string)      TraceId, SpanId: null → ''
//   attributes, resource (map<string>)   LogAttributes, ResourceAttributes: LEB128 entry count
//                                          (the total of the blocks), then key, value, …
//   source (string)                      Source
//   level (string)                       (no column: skipped)
//   category (string)                    Category
//   is_error (boolean)                   IsError: 0 or 1
//   pattern_id, template, classifier     PatternId, Template, Classifier
//   http_status (null|int)               HttpStatus: Nullable(UInt16), outside 0–65535 → NULL
//   duration_ms (null|double)            DurationMs: Nullable(Float64), NaN/±Inf → NULL, -0 → 0
//   user_id, session_id, error_code      UserId, SessionId, ErrorCode: null → ''
//     (null|string)
//   redacted, truncated (boolean)        Redacted, Truncated
//   parsed_format (null|string)          ParsedFormat: null → ''
//   pattern_aliases (array<string>)      PatternAliases: Array(String), LEB128 count (the total
//                                          of the blocks), then each string
//   (tenant, see above)                  RetentionDays: UInt16 LE, the tenant's (retention.ts);
//                                          looked up again only when the tenant's bytes differ
//                                          from the previous row's
//
// Strings are copied as bytes, their zig-zag length re-encoded as LEB128. That equals the
// decode–encode path only while the bytes are well-formed UTF-8; avsc turns any other sequence
// into U+FFFD, so such a string is decoded and re-encoded the same way. Map keys are the other
// place where a JS object shows through: avsc builds a plain object, whose keys that look like
// array indices come first in numeric order, a repeated key keeps its first place with its last
// value, and `__proto__` vanishes. A map with a key starting with a digit, a repeated key, a
// `__proto__` key, a key that is not UTF-8, or more entries than is cheap to check for repeats,
// is therefore built as that object and written as the encoder writes it.
import { isUtf8 } from 'node:buffer'
import { SluiceError } from '@sluice/core'
import { DEFAULT_RETENTION, LOG_COLUMNS, MAX_NS, MAX_RETAINED_BYTES, MIN_NS, afterLatestEvent, beforeFirstEvent, latestEventNs, outsideDateTime64, rejection, varintBytes } from './row-binary.js'
import type { TenantRetention } from './retention.js'

const MAGIC = 0
const HEADER_BYTES = 5

/**
 * The fields this transcoder reads, in order, each with its type in the shape `typeShape` gives:
 * `LogTranscoder.for` compares a schema's fields with this list, and `#row` reads exactly these.
 */
export const TRANSCODED_FIELDS = [
  ['id', 'string'],
  ['tenant', 'string'],
  ['timestamp', 'long@timestamp-nanos'],
  ['observed_timestamp', 'long@timestamp-nanos'],
  ['service', 'string'],
  ['host', '[null,string]'],
  ['severity_text', 'string'],
  ['severity_number', 'int'],
  ['message', 'string'],
  ['trace_id', '[null,string]'],
  ['span_id', '[null,string]'],
  ['attributes', 'map<string>'],
  ['resource', 'map<string>'],
  ['source', 'string'],
  ['level', 'string'],
  ['category', 'string'],
  ['is_error', 'boolean'],
  ['pattern_id', 'string'],
  ['template', 'string'],
  ['classifier', 'string'],
  ['http_status', '[null,int]'],
  ['duration_ms', '[null,double]'],
  ['user_id', '[null,string]'],
  ['session_id', '[null,string]'],
  ['error_code', '[null,string]'],
  ['redacted', 'boolean'],
  ['truncated', 'boolean'],
  ['parsed_format', '[null,string]'],
  ['pattern_aliases', 'array<string>'],
] as const

/** The columns `#row` writes, in order, as row-binary.ts declares them: if those change, the fast path is off. */
const WRITTEN_COLUMNS: readonly (readonly [string, string])[] = [
  ['id', 'String'],
  ['tenant', 'LowCardinality(String)'],
  ['Timestamp', 'DateTime64(9)'],
  ['ObservedTimestamp', 'DateTime64(9)'],
  ['ServiceName', 'LowCardinality(String)'],
  ['HostName', 'LowCardinality(String)'],
  ['SeverityText', 'LowCardinality(String)'],
  ['SeverityNumber', 'UInt8'],
  ['Body', 'String'],
  ['TraceId', 'String'],
  ['SpanId', 'String'],
  ['LogAttributes', 'Map(LowCardinality(String), String)'],
  ['ResourceAttributes', 'Map(LowCardinality(String), String)'],
  ['Source', 'LowCardinality(String)'],
  ['Category', 'LowCardinality(String)'],
  ['IsError', 'Bool'],
  ['PatternId', 'LowCardinality(String)'],
  ['Template', 'String'],
  ['Classifier', 'LowCardinality(String)'],
  ['HttpStatus', 'Nullable(UInt16)'],
  ['DurationMs', 'Nullable(Float64)'],
  ['UserId', 'String'],
  ['SessionId', 'String'],
  ['ErrorCode', 'LowCardinality(String)'],
  ['Redacted', 'Bool'],
  ['Truncated', 'Bool'],
  ['ParsedFormat', 'LowCardinality(String)'],
  ['PatternAliases', 'Array(String)'],
  ['RetentionDays', 'UInt16'],
]

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string'])

/**
 * An Avro type as a short string that differs whenever the binary layout or the meaning of the
 * value does: primitives by name (with `@logicalType`), unions as `[a,b]` in branch order, maps as
 * `map<values>`; undefined for anything else (records, enums, arrays, fixed, named references),
 * which this transcoder does not read.
 */
export function typeShape(type: unknown): string | undefined {
  if (typeof type === 'string') return PRIMITIVES.has(type) ? type : undefined
  if (Array.isArray(type)) {
    const branches = type.map(typeShape)
    return branches.every((b) => b !== undefined) ? `[${branches.join(',')}]` : undefined
  }
  if (typeof type !== 'object' || type === null) return undefined
  const t = type as { type?: unknown; logicalType?: unknown; values?: unknown; items?: unknown }
  if (t.type === 'map' || t.type === 'array') {
    const inner = typeShape(t.type === 'map' ? t.values : t.items)
    return inner === undefined || t.logicalType !== undefined ? undefined : `${t.type}<${inner}>`
  }
  if (typeof t.type !== 'string' || !PRIMITIVES.has(t.type)) return undefined
  if (t.logicalType === undefined) return t.type
  return typeof t.logicalType === 'string' ? `${t.type}@${t.logicalType}` : undefined
}

/**
 * Why `schema` (a registered EnrichedLog schema, as JSON) cannot be transcoded, or undefined when
 * it can: its fields must be TRANSCODED_FIELDS (names, order, type shapes), and `columns` (the
 * encoder's) the ones this transcoder writes.
 */
export function transcoderMismatch(schema: object, columns: readonly (readonly [string, string])[] = LOG_COLUMNS): string | undefined {
  const s = schema as { type?: unknown; fields?: unknown }
  if (s.type !== 'record') return `the schema is a ${JSON.stringify(s.type)}, not a record`
  if (!Array.isArray(s.fields)) return 'the schema has no field list'
  const fields = s.fields as unknown[]
  const count = Math.max(fields.length, TRANSCODED_FIELDS.length)
  for (let i = 0; i < count; i++) {
    const f = fields[i] as { name?: unknown; type?: unknown } | undefined
    const expected = TRANSCODED_FIELDS[i]
    if (f === undefined || expected === undefined) return `the schema has ${fields.length} fields, the transcoder reads ${TRANSCODED_FIELDS.length}`
    const shape = typeShape(f.type)
    if (f.name !== expected[0] || shape !== expected[1]) {
      return `field ${i} is ${JSON.stringify(f.name)} (${shape ?? JSON.stringify(f.type)}), the transcoder reads ${expected[0]} (${expected[1]})`
    }
  }
  if (columns.length !== WRITTEN_COLUMNS.length || columns.some(([name, type], i) => WRITTEN_COLUMNS[i]![0] !== name || WRITTEN_COLUMNS[i]![1] !== type)) {
    return `the logs columns are not the ${WRITTEN_COLUMNS.length} the transcoder writes`
  }
  return undefined
}

// DateTime64(9)'s range as the signed high and unsigned low 32 bits of an Int64, so a timestamp is
// checked without making a bigint.
const MIN_HI = Number(BigInt.asIntN(32, MIN_NS >> 32n))
const MIN_LO = Number(BigInt.asUintN(32, MIN_NS))
const MAX_HI = Number(BigInt.asIntN(32, MAX_NS >> 32n))
const MAX_LO = Number(BigInt.asUintN(32, MAX_NS))

/**
 * Strings up to this many bytes are copied (and checked for UTF-8) a 32-bit word at a time by a JS
 * loop, longer ones by two native calls: below this a native call's overhead (~50 ns each) costs
 * more than the loop (~0.4 ns a byte; a byte at a time it is ~1 ns).
 */
const SHORT_STRING_BYTES = 256
/**
 * Maps with more entries are built as an object (see the header): repeats are found by comparing
 * each key with those before it. The enricher caps attributes at 128.
 */
const MAX_CHECKED_MAP_ENTRIES = 128
/**
 * A row never needs more than 3 bytes per value byte plus this, so room is made once per value
 * and no write checks it: a string grows at most threefold (3 bytes of U+FFFD for a bad byte, a
 * LEB128 length no longer than the zig-zag one plus a byte), a timestamp of 1 byte becomes 8, and
 * every other field at most triples.
 */
const ROW_SLACK_BYTES = 64
const PROTO = Buffer.from('__proto__')
const EMPTY = Buffer.alloc(0)

/** Buffer's native UTF-8 writer, present on every Buffer but missing from @types/node. */
interface Utf8Writable extends Buffer {
  utf8Write(s: string, offset: number, maxBytes?: number): number
}

/**
 * Whether `buf[from, to)` is well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF): exactly the byte strings that Buffer's decoder, then its encoder, give back unchanged.
 */
export function isWellFormedUtf8(buf: Buffer, from: number, to: number): boolean {
  let i = from
  while (i < to) {
    const c = buf[i]!
    if (c < 0x80) {
      i++
    } else if (c < 0xc2) {
      return false
    } else if (c < 0xe0) {
      if (i + 1 >= to || (buf[i + 1]! & 0xc0) !== 0x80) return false
      i += 2
    } else if (c < 0xf0) {
      if (i + 2 >= to) return false
      const c1 = buf[i + 1]!
      if ((c1 & 0xc0) !== 0x80 || (c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f) || (buf[i + 2]! & 0xc0) !== 0x80) return false
      i += 3
    } else if (c < 0xf5) {
      if (i + 3 >= to) return false
      const c1 = buf[i + 1]!
      if ((c1 & 0xc0) !== 0x80 || (c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return false
      if ((buf[i + 2]! & 0xc0) !== 0x80 || (buf[i + 3]! & 0xc0) !== 0x80) return false
      i += 4
    } else {
      return false
    }
  }
  return true
}

function sameBytes(buf: Buffer, a: number, b: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (buf[a + i] !== buf[b + i]) return false
  return true
}

/**
 * Transcodes values into one growing buffer, reused from batch to batch, as LogRowBinaryEncoder
 * does: `append` each value (one that fails throws and leaves nothing behind), then `finish` to
 * take the rows as a Buffer of their own. `append`/`finish` sequences must not interleave across
 * an await.
 */
export class LogTranscoder {
  readonly #schemaId: number
  readonly #initialBytes: number
  readonly #retention: TenantRetention
  /** The previous row's tenant (its UTF-8 bytes) and RetentionDays; unused when retention is uniform. */
  #lastTenant: Buffer = EMPTY
  #lastDays = 0
  /** Where the tenant's bytes start in the value, and how many. */
  #tenantAt = 0
  #tenantLength = 0
  #out: Utf8Writable
  #outView: DataView
  #o = 0
  #rows = 0
  // The value being read: bytes, read position, end.
  #src: Buffer = EMPTY
  #pos = 0
  #end = 0
  // A view of the memory under the value, kept while values come from the same ArrayBuffer (a
  // Kafka fetch response holds many), and where the value starts in it.
  #srcMemory: ArrayBufferLike = EMPTY.buffer
  #srcView: DataView<ArrayBufferLike> = new DataView(EMPTY.buffer)
  #srcBase = 0
  /** Where the id's length starts, to name the record in a rejection. */
  #idAt = 0
  /** The first field the columns cannot hold, and why: the record is refused once it read to the end. */
  #badField: string | undefined
  #badReason = ''
  /** Start and length of each map key read so far, to find repeats. */
  readonly #keys = new Int32Array(2 * MAX_CHECKED_MAP_ENTRIES)

  /** The latest event time a row may have (row-binary.ts latestEventNs), as the two 32-bit halves. */
  readonly #latest: bigint
  readonly #latestHi: number
  readonly #latestLo: number

  private constructor(schemaId: number, initialBytes: number, retention: TenantRetention) {
    this.#latest = latestEventNs(retention)
    this.#latestHi = Number(BigInt.asIntN(32, this.#latest >> 32n))
    this.#latestLo = Number(BigInt.asUintN(32, this.#latest))
    this.#schemaId = schemaId
    this.#initialBytes = initialBytes
    this.#retention = retention
    this.#out = Buffer.allocUnsafeSlow(initialBytes) as Utf8Writable
    this.#outView = new DataView(this.#out.buffer, this.#out.byteOffset, this.#out.length)
  }

  /**
   * A transcoder for values written under `schemaId`, or undefined when `schema` (the registered
   * EnrichedLog schema, JSON) is not the field layout this transcoder reads (see
   * `transcoderMismatch` for why): then the caller keeps decoding.
   */
  static for(schemaId: number, schema: object, initialBytes = 1 << 20, retention: TenantRetention = DEFAULT_RETENTION): LogTranscoder | undefined {
    return transcoderMismatch(schema) === undefined ? new LogTranscoder(schemaId, initialBytes, retention) : undefined
  }

  get rowCount(): number {
    return this.#rows
  }

  get byteLength(): number {
    return this.#o
  }

  /**
   * Appends one value's row: 'ok', or 'foreign' (nothing appended) when the value carries another
   * schema id — the caller decodes it with the codec (schema resolution) and encodes it with
   * LogRowBinaryEncoder. Throws SluiceError DECODE_FAILED for bytes that are not a record under the
   * schema (the codec's checks on the framing first), and VALIDATION_FAILED, with the encoder's
   * message, for a record a column cannot hold; either leaves the rows as they were.
   */
  append(value: Buffer | null): 'ok' | 'foreign' {
    const length = value === null ? 0 : value.length
    if (value === null || length < HEADER_BYTES) throw new SluiceError('DECODE_FAILED', `record too short for the Confluent wire format (${length} bytes)`)
    if (value[0] !== MAGIC) throw new SluiceError('DECODE_FAILED', `unknown magic byte ${value[0]} (expected 0, Confluent wire format)`)
    if (value.readInt32BE(1) !== this.#schemaId) return 'foreign'
    const need = this.#o + 3 * length + ROW_SLACK_BYTES
    if (need > this.#out.length) this.#allocate(Math.max(need, this.#out.length * 2))
    const start = this.#o
    this.#src = value
    if (value.buffer !== this.#srcMemory) {
      this.#srcMemory = value.buffer
      this.#srcView = new DataView(value.buffer)
    }
    this.#srcBase = value.byteOffset
    this.#pos = HEADER_BYTES
    this.#end = length
    this.#badField = undefined
    try {
      this.#row()
      if (this.#pos !== length) throw this.#decodeError('trailing data')
      if (this.#badField !== undefined) throw rejection(this.#id(), this.#badField, this.#badReason)
    } catch (err) {
      this.#o = start
      throw err
    } finally {
      this.#src = EMPTY
    }
    this.#rows++
    return 'ok'
  }

  /**
   * The rows appended since the last `finish`, copied into a Buffer the caller owns (from
   * `allocate`, e.g. BlockBuffers.take); the transcoder starts over.
   */
  finish(allocate: (bytes: number) => Buffer = Buffer.allocUnsafeSlow): { bytes: Buffer; rowCount: number } {
    // A chunk with no row of its own (every record refused or foreign) takes no buffer.
    const bytes = this.#o === 0 ? EMPTY : allocate(this.#o)
    this.#out.copy(bytes, 0, 0, this.#o)
    const rowCount = this.#rows
    this.reset()
    return { bytes, rowCount }
  }

  /** Drops the rows appended since the last `finish`. */
  reset(): void {
    this.#o = 0
    this.#rows = 0
    // Let go of the last value's memory: it may be a whole fetch response.
    this.#srcMemory = EMPTY.buffer
    this.#srcView = new DataView(EMPTY.buffer)
    if (this.#out.length > MAX_RETAINED_BYTES) this.#allocate(this.#initialBytes)
  }

  #allocate(bytes: number): void {
    const next = Buffer.allocUnsafeSlow(bytes) as Utf8Writable
    this.#out.copy(next, 0, 0, this.#o)
    this.#out = next
    this.#outView = new DataView(next.buffer, next.byteOffset, next.length)
  }

  // The fields in schema order (TRANSCODED_FIELDS), each written as its column.
  #row(): void {
    this.#idAt = this.#pos
    this.#string() // id
    this.#tenant()
    this.#timestamp('timestamp', true)
    this.#timestamp('observed_timestamp', false)
    this.#string() // service
    this.#optionalString() // host
    this.#string() // severity_text
    this.#severityNumber()
    this.#string() // message
    this.#optionalString() // trace_id
    this.#optionalString() // span_id
    this.#map('attributes')
    this.#map('resource')
    this.#string() // source
    this.#skipString() // level
    this.#string() // category
    this.#bool() // is_error
    this.#string() // pattern_id
    this.#string() // template
    this.#string() // classifier
    this.#httpStatus()
    this.#durationMs()
    this.#optionalString() // user_id
    this.#optionalString() // session_id
    this.#optionalString() // error_code
    this.#bool() // redacted
    this.#bool() // truncated
    this.#optionalString() // parsed_format
    this.#stringArray()
    this.#retentionDays()
  }

  #tenant(): void {
    const at = this.#o
    const length = this.#length()
    this.#tenantAt = this.#pos
    this.#tenantLength = length
    if (!this.#copy(length)) this.#replace(at, length)
  }

  // The value is the tenant's as the codec decodes it (Buffer's UTF-8, as #replace writes it).
  #retentionDays(): void {
    let days = this.#retention.uniform
    if (days === undefined) {
      const src = this.#src
      const at = this.#tenantAt
      const length = this.#tenantLength
      const last = this.#lastTenant
      // Tenant names are short: a JS loop is cheaper than a native compare.
      let same = last.length === length
      for (let i = 0; same && i < length; i++) same = src[at + i] === last[i]
      if (same) {
        days = this.#lastDays
      } else {
        days = this.#retention.days(src.toString('utf8', at, at + length))
        this.#lastTenant = Buffer.from(src.subarray(at, at + length))
        this.#lastDays = days
      }
    }
    const out = this.#out
    out[this.#o] = days & 0xff
    out[this.#o + 1] = days >>> 8
    this.#o += 2
  }

  #decodeError(why: string): SluiceError {
    return new SluiceError('DECODE_FAILED', `Avro decode under schema id ${this.#schemaId} failed: ${why}`)
  }

  #truncated(): SluiceError {
    return this.#decodeError('truncated buffer')
  }

  /** The record id as the codec decodes it (read again: only a rejection needs it). */
  #id(): string {
    this.#pos = this.#idAt
    const length = this.#length()
    return this.#src.toString('utf8', this.#pos, this.#pos + length)
  }

  /**
   * An Avro int or long as avsc reads it into a number (string lengths, union indices, map counts,
   * ints): exact up to 2^53, past 28 bits in float arithmetic, with no limit on the varint's
   * length — so a long varint may still mean a small number, and a huge one may be ±Infinity or NaN.
   */
  #number(): number {
    const src = this.#src
    const end = this.#end
    let pos = this.#pos
    if (pos >= end) throw this.#truncated()
    let b = src[pos++]!
    if (b < 0x80) {
      this.#pos = pos
      return (b >> 1) ^ -(b & 1)
    }
    let n = b & 0x7f
    let k = 7
    do {
      if (pos >= end) throw this.#truncated()
      b = src[pos++]!
      n |= (b & 0x7f) << k
      k += 7
    } while (b & 0x80 && k < 28)
    if (b & 0x80) {
      let f = n
      let fk = 268_435_456 // 2 ** 28
      do {
        if (pos >= end) throw this.#truncated()
        b = src[pos++]!
        f += (b & 0x7f) * fk
        fk *= 128
      } while (b & 0x80)
      this.#pos = pos
      return (f % 2 ? -(f + 1) : f) / 2
    }
    this.#pos = pos
    return (n >> 1) ^ -(n & 1)
  }

  /** Skips a varint as avsc's skipLong does (any length). */
  #skipVarint(): void {
    const src = this.#src
    const end = this.#end
    let pos = this.#pos
    let b: number
    do {
      if (pos >= end) throw this.#truncated()
      b = src[pos++]!
    } while (b & 0x80)
    this.#pos = pos
  }

  /** A string's byte length, checked against the bytes left (avsc refuses a negative one too). */
  #length(): number {
    const length = this.#number()
    if (length < 0) throw this.#decodeError(`negative string length ${length}`)
    // Also refuses NaN, which avsc ends up reporting as a truncated buffer.
    if (!(length <= this.#end - this.#pos)) throw this.#truncated()
    return length
  }

  /** A union's branch: 0 (null) or 1 (the value). */
  #branch(): number {
    const index = this.#number()
    if (index !== 0 && index !== 1) throw this.#decodeError(`invalid union index: ${index}`)
    return index
  }

  #string(): void {
    const at = this.#o
    const length = this.#length()
    if (!this.#copy(length)) this.#replace(at, length)
  }

  /**
   * Copies the next `length` bytes as a RowBinary String (LEB128 length, then the bytes): whether
   * they are well-formed UTF-8, the only case where that is what the decode–encode path writes.
   */
  #copy(length: number): boolean {
    const src = this.#src
    const out = this.#out
    const from = this.#pos
    let o = this.#o
    let n = length
    while (n >= 0x80) {
      out[o++] = (n & 0x7f) | 0x80
      n >>>= 7
    }
    out[o++] = n
    this.#pos = from + length
    this.#o = o + length
    if (length <= SHORT_STRING_BYTES) {
      const srcView = this.#srcView
      const outView = this.#outView
      const base = this.#srcBase + from
      let high = 0
      let i = 0
      for (; i + 8 <= length; i += 8) {
        const w0 = srcView.getInt32(base + i, true)
        const w1 = srcView.getInt32(base + i + 4, true)
        high |= w0 | w1
        outView.setInt32(o + i, w0, true)
        outView.setInt32(o + i + 4, w1, true)
      }
      if (i + 4 <= length) {
        const w = srcView.getInt32(base + i, true)
        high |= w
        outView.setInt32(o + i, w, true)
        i += 4
      }
      for (; i < length; i++) {
        const b = src[from + i]!
        high |= b
        out[o + i] = b
      }
      return (high & 0x80808080) === 0 || isWellFormedUtf8(src, from, from + length)
    }
    const bytes = src.subarray(from, from + length)
    out.set(bytes, o)
    return isUtf8(bytes)
  }

  /** Rewrites the string just copied to `at` as avsc and the encoder make it: decoded (U+FFFD for what is not UTF-8), then encoded. */
  #replace(at: number, length: number): void {
    this.#o = at
    this.#utf8(this.#src.toString('utf8', this.#pos - length, this.#pos))
  }

  /** Writes a JS string as the encoder does: LEB128 byte length, then Buffer's UTF-8. */
  #utf8(s: string): void {
    const bytes = Buffer.byteLength(s)
    this.#varint(bytes)
    this.#o += this.#out.utf8Write(s, this.#o)
  }

  #varint(n: number): void {
    const out = this.#out
    let o = this.#o
    while (n >= 0x80) {
      out[o++] = (n & 0x7f) | 0x80
      n >>>= 7
    }
    out[o++] = n
    this.#o = o
  }

  #skipString(): void {
    const length = this.#length()
    this.#pos += length
  }

  #optionalString(): void {
    if (this.#branch() === 0) this.#out[this.#o++] = 0
    else this.#string()
  }

  // The long as @sluice/registry's bigint long reads it (avsc-compat.ts): at most 10 bytes, a
  // tenth with its high bit set ends it all the same, bits past 64 dropped. Written as the
  // Int64 little-endian it stands for, from its two 32-bit halves. `event`: the event time, which
  // must not be before 1970 or after LATEST_NS either.
  #timestamp(field: string, event: boolean): void {
    const src = this.#src
    const end = this.#end
    let pos = this.#pos
    let lo = 0
    let hi = 0
    let b: number
    let shift = 0
    do {
      if (pos >= end) throw this.#truncated()
      b = src[pos++]!
      lo |= (b & 0x7f) << shift
      shift += 7
    } while (b & 0x80 && shift < 28)
    if (b & 0x80) {
      if (pos >= end) throw this.#truncated()
      b = src[pos++]!
      lo |= (b & 0x0f) << 28
      hi = (b & 0x7f) >>> 4
      shift = 3
      while (b & 0x80 && shift < 32) {
        if (pos >= end) throw this.#truncated()
        b = src[pos++]!
        hi |= (b & 0x7f) << shift
        shift += 7
      }
    }
    this.#pos = pos
    const sign = -(lo & 1)
    const low = (((lo >>> 1) | (hi << 31)) ^ sign) >>> 0
    const high = ((hi >>> 1) ^ sign) | 0
    if (high < MIN_HI || (high === MIN_HI && low < MIN_LO) || high > MAX_HI || (high === MAX_HI && low > MAX_LO)) {
      this.#refuse(field, outsideDateTime64(BigInt.asIntN(64, (BigInt(high) << 32n) | BigInt(low))))
    } else if (event && (high > this.#latestHi || (high === this.#latestHi && low > this.#latestLo))) {
      this.#refuse(field, afterLatestEvent(BigInt.asIntN(64, (BigInt(high) << 32n) | BigInt(low)), this.#latest, this.#retention.longest))
    } else if (event && high < 0) {
      this.#refuse(field, beforeFirstEvent(BigInt.asIntN(64, (BigInt(high) << 32n) | BigInt(low))))
    }
    const out = this.#out
    const o = this.#o
    out[o] = low
    out[o + 1] = low >>> 8
    out[o + 2] = low >>> 16
    out[o + 3] = low >>> 24
    out[o + 4] = high
    out[o + 5] = high >>> 8
    out[o + 6] = high >>> 16
    out[o + 7] = high >>> 24
    this.#o = o + 8
  }

  /** Notes the first field the columns cannot hold: the record is refused only if it decodes to the end, as the codec decodes before the encoder checks. */
  #refuse(field: string, reason: string): void {
    if (this.#badField !== undefined) return
    this.#badField = field
    this.#badReason = reason
  }

  #severityNumber(): void {
    const n = this.#number()
    // The encoder's clamp, on avsc's number: NaN fails both comparisons and lands on 0.
    this.#out[this.#o++] = n >= 255 ? 255 : n > 0 ? Math.trunc(n) : 0
  }

  #bool(): void {
    if (this.#pos >= this.#end) throw this.#truncated()
    this.#out[this.#o++] = this.#src[this.#pos++] === 0 ? 0 : 1
  }

  #httpStatus(): void {
    const out = this.#out
    if (this.#branch() === 0) {
      out[this.#o++] = 1
      return
    }
    const n = this.#number()
    if (!(Number.isInteger(n) && n >= 0 && n <= 0xffff)) {
      out[this.#o++] = 1
      return
    }
    const o = this.#o
    out[o] = 0
    out[o + 1] = n & 0xff
    out[o + 2] = n >>> 8
    this.#o = o + 3
  }

  // The double's 8 bytes are copied: an exponent of all ones (NaN, ±Infinity) is NULL, and -0
  // (only the sign bit set) is written as 0, as the encoder's `n + 0` does.
  #durationMs(): void {
    const out = this.#out
    if (this.#branch() === 0) {
      out[this.#o++] = 1
      return
    }
    const src = this.#src
    const p = this.#pos
    if (this.#end - p < 8) throw this.#truncated()
    this.#pos = p + 8
    const b6 = src[p + 6]!
    const b7 = src[p + 7]!
    if ((b7 & 0x7f) === 0x7f && (b6 & 0xf0) === 0xf0) {
      out[this.#o++] = 1
      return
    }
    let o = this.#o
    out[o++] = 0
    if (b7 === 0x80 && b6 === 0 && src[p + 5] === 0 && src[p + 4] === 0 && src[p + 3] === 0 && src[p + 2] === 0 && src[p + 1] === 0 && src[p] === 0) {
      out.fill(0, o, o + 8)
    } else {
      for (let i = 0; i < 8; i++) out[o + i] = src[p + i]!
    }
    this.#o = o + 8
  }

  /** A map or array block's entry count as avsc reads it: a negative count's byte size is skipped unchecked. 0 (or NaN, which avsc takes for 0) ends it. */
  #blockCount(minEntryBytes = 2): number {
    let n = this.#number()
    if (n !== n) return 0
    if (n < 0) {
      n = -n
      this.#skipVarint()
    }
    // Every entry takes at least 2 bytes (a map's two lengths) or 1 (an array's string). avsc would
    // read on past the end — for a huge count, for a very long time — and report a truncated buffer.
    if (n > (this.#end - this.#pos) / minEntryBytes) throw this.#decodeError(`truncated buffer (${minEntryBytes === 2 ? 'map' : 'array'} block of ${n} entries)`)
    return n
  }

  // An array of strings: the count is reserved as for a map, each string copied.
  #stringArray(): void {
    const countAt = this.#o
    this.#o = countAt + 1
    let count = 0
    for (let n = this.#blockCount(1); n !== 0; n = this.#blockCount(1)) {
      for (let i = 0; i < n; i++) this.#string()
      count += n
    }
    this.#placeCount(countAt, count)
  }

  /** Writes `count` at `countAt`, where one byte was reserved, moving what follows if it takes more. */
  #placeCount(countAt: number, count: number): void {
    const prefix = varintBytes(count)
    if (prefix > 1) {
      // Room is there: append() reserved three times the value's length.
      const out = this.#out
      const end = this.#o + prefix - 1
      out.copyWithin(countAt + prefix, countAt + 1, this.#o)
      this.#o = countAt
      this.#varint(count)
      this.#o = end
    } else {
      this.#out[countAt] = count
    }
  }

  // The entry count comes first in RowBinary but is known only after the last block: one byte is
  // reserved (enough below 128 entries) and the entries moved along if there are more.
  #map(field: string): void {
    const mapAt = this.#pos
    const countAt = this.#o
    this.#o = countAt + 1
    const count = this.#copyMap()
    if (count < 0) {
      this.#pos = mapAt
      this.#o = countAt
      this.#objectMap(field)
      return
    }
    this.#placeCount(countAt, count)
  }

  /** Copies the entries and returns their count, or -1 when the map must be built as an object (see the header). */
  #copyMap(): number {
    const src = this.#src
    const keys = this.#keys
    let count = 0
    for (let n = this.#blockCount(); n !== 0; n = this.#blockCount()) {
      if (count + n > MAX_CHECKED_MAP_ENTRIES) return -1
      for (let i = 0; i < n; i++) {
        const length = this.#length()
        const from = this.#pos
        if (length > 0) {
          const c = src[from]!
          if ((c >= 0x30 && c <= 0x39) || (c === 0x5f && length === 9 && PROTO.equals(src.subarray(from, from + 9)))) return -1
        }
        if (!this.#copy(length)) return -1
        for (let j = 0; j < count; j++) {
          if (keys[2 * j + 1] === length && sameBytes(src, keys[2 * j]!, from, length)) return -1
        }
        keys[2 * count] = from
        keys[2 * count + 1] = length
        count++
        this.#string()
      }
    }
    return count
  }

  // What avsc builds (`val = {}; val[key] = value`), written as the encoder walks it.
  #objectMap(field: string): void {
    const src = this.#src
    const map: Record<string, string> = {}
    for (let n = this.#blockCount(); n !== 0; n = this.#blockCount()) {
      for (let i = 0; i < n; i++) {
        let length = this.#length()
        const key = src.toString('utf8', this.#pos, this.#pos + length)
        this.#pos += length
        length = this.#length()
        map[key] = src.toString('utf8', this.#pos, this.#pos + length)
        this.#pos += length
      }
    }
    let count = 0
    for (const key in map) {
      const value: unknown = map[key]
      // Only if Object.prototype were given enumerable properties; the encoder refuses those too.
      if (typeof value !== 'string') this.#refuse(`${field}[${JSON.stringify(key)}]`, `is ${typeof value}, not a string`)
      count++
    }
    this.#varint(count)
    for (const key in map) {
      this.#utf8(key)
      this.#utf8(String(map[key]))
    }
  }
}
