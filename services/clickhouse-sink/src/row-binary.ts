// EnrichedLog → rows of <db>.logs in ClickHouse RowBinary, the sink's cheaper alternative to
// `toRow` + JSONEachRow: ClickHouse spends most of a JSON insert parsing text, while RowBinary is
// read with no parsing at all. The column values are exactly those `toRow` gives (absent optional
// strings become '', maps keep their key order), plus RetentionDays, the days the record's tenant
// keeps logs (retention.ts); TimestampTime is left to its DEFAULT.
//
// RowBinary wire format: the rows back to back, each row its columns' values in the declared
// order (LOG_COLUMNS), no header, no separators. Per type:
//
//   String                  unsigned LEB128 byte length, then the UTF-8 bytes
//   LowCardinality(String)  as String (the dictionary exists only inside ClickHouse)
//   DateTime64(9)           Int64 little-endian, nanoseconds since the epoch (UTC)
//   UInt8, Bool             1 byte (Bool: 0 or 1)
//   UInt16                  2 bytes little-endian
//   Float64                 IEEE 754 double, 8 bytes little-endian
//   Map(K, V)               LEB128 entry count, then key, value, key, value, …
//   Nullable(T)             1 byte: 1 = NULL (nothing follows), 0 = a T follows
//
// LEB128: 7 bits per byte, least significant group first, high bit set on every byte but the last
// (300 → AC 02).
//
// A value the column cannot hold must neither corrupt the row nor fail the whole INSERT on every
// retry (the topic would stall), so each field has a rule:
// - timestamp, observed_timestamp: a bigint inside DateTime64(9)'s range, 1900-01-01T00:00:00Z up
//   to the Int64 limit (2262-04-11); otherwise the record is rejected. (JSONEachRow reads only
//   19-digit values as nanoseconds; RowBinary takes any of them exactly.) timestamp, moreover,
//   from 1970-01-01T00:00:00Z to 2096-01-01T00:00:00Z (LATEST_EVENT_NS): the table's TimestampTime
//   and retention TTL are DateTimes, 1970 to 2106; a later row would be dropped as expired the
//   moment it was written, and an earlier one's TimestampTime wraps (1950 becomes 2086), so it
//   would be kept, partitioned and found as if it were from then. The gateway refuses such times;
//   a producer writing to Kafka directly may not.
// - severity_number: clamped into UInt8, 0–255, fractions truncated, NaN → 0: the OpenTelemetry
//   range is 1–24, a bigger number still means "most severe", and the record is worth keeping.
// - http_status: an integer outside UInt16 (0–65535), or a fraction, becomes NULL ("unknown"),
//   as JSONEachRow would otherwise silently wrap 70000 to 4464.
// - duration_ms: NaN and ±Infinity become NULL (what JSON.stringify makes of them for
//   JSONEachRow); -0 is written as 0, as JSON.stringify writes it.
// - Strings are any JS string; a lone surrogate is written as U+FFFD (Buffer's UTF-8 encoder).
// - A value of the wrong JS type (a required string that is not a string, a timestamp that is not
//   a bigint, a map value that is not a string, …) rejects the record: the Avro decoder never
//   produces one, so it is a bug upstream, not something to guess a value for.
// A rejected record throws SluiceError('VALIDATION_FAILED') naming the record id and the field,
// and leaves the buffer as it was before it, so the caller dead-letters that record alone.
import { AFTER_LATEST_EVENT, LATEST_EVENT_NS, SluiceError, formatNs } from '@sluice/core'
import type { EnrichedLog } from '@sluice/core'
import { TenantRetention } from './retention.js'

/** The columns the encoder writes, in the order it writes them, with the types the table declares. */
export const LOG_COLUMNS = [
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
] as const

export const LOG_COLUMN_NAMES: readonly string[] = LOG_COLUMNS.map(([name]) => name)

/** Retention of encoders and transcoders made without one: CLICKHOUSE_TTL_DAYS's default. */
export const DEFAULT_RETENTION = TenantRetention.uniform(30)

/** 1900-01-01T00:00:00Z, the start of DateTime64's range, in nanoseconds. */
export const MIN_NS = -2_208_988_800_000_000_000n
/** The Int64 limit, 2262-04-11T23:47:16.854775807Z: DateTime64(9) ends there. */
export const MAX_NS = 9_223_372_036_854_775_807n
/** The latest event time (the timestamp column) a row may have: 2096-01-01T00:00:00Z, see the header. */
export const LATEST_NS = LATEST_EVENT_NS
/** The last second ClickHouse's DateTime holds, 2106-02-07T06:28:15Z. */
const DATETIME_END_S = 4_294_967_295n

/**
 * The latest event time a row may have under `retention`: LATEST_NS, or earlier where a tenant
 * keeps logs longer than 3650 days (CLICKHOUSE_TTL_DAYS allows up to 65535), so that the row's
 * TimestampTime plus its retention still ends inside DateTime rather than wrapping to the past.
 */
export function latestEventNs(retention: TenantRetention): bigint {
  const lastSecond = DATETIME_END_S - BigInt(retention.longest) * 86_400n
  const ns = lastSecond * 1_000_000_000n + 999_999_999n
  return ns < LATEST_NS ? ns : LATEST_NS
}

/** Shorter strings are copied by a JS loop while they are ASCII: cheaper than a native call (~0.7 µs per bench row). */
const SHORT_STRING_CHARS = 48
/** After `finish`, a buffer grown past this is dropped rather than kept for the next batch. */
export const MAX_RETAINED_BYTES = 64 << 20

/** Buffer's native UTF-8 writer, present on every Buffer but missing from @types/node. */
interface Utf8Writable extends Buffer {
  utf8Write(s: string, offset: number, maxBytes?: number): number
}

export interface RejectedLog {
  /** Position of the record in the batch given to `encodeBatch`. */
  index: number
  error: SluiceError
}

export interface EncodedLogs {
  /** RowBinary of the encoded rows; a copy the caller owns. */
  bytes: Buffer
  rowCount: number
  /** The records left out, in batch order. */
  rejected: RejectedLog[]
}

/** Bytes of `n`'s unsigned LEB128 (n < 2^35). */
export function varintBytes(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5
}

/** The error that refuses a record: one wording for this encoder and the Avro transcoder (transcode.ts). */
export function rejection(id: unknown, field: string, reason: string): SluiceError {
  return new SluiceError('VALIDATION_FAILED', `log ${String(id)}: ${field} ${reason}`)
}

/** Why a timestamp is refused (see `rejection`). */
export function outsideDateTime64(ns: bigint): string {
  return `${ns} is outside DateTime64(9) (1900-01-01 to 2262-04-11)`
}

/** Why an event time before 1970 is refused (see `rejection`). */
export function beforeFirstEvent(ns: bigint): string {
  return `${ns} is before 1970-01-01T00:00:00Z, where ClickHouse's DateTime (the table's TimestampTime and retention) starts`
}

/** Why an event time inside DateTime64(9) is refused all the same (see `rejection`). */
export function afterLatestEvent(ns: bigint, latest: bigint = LATEST_NS, longestDays = 0): string {
  if (latest >= LATEST_NS) return `${ns} is ${AFTER_LATEST_EVENT}`
  return `${ns} is after ${formatNs(latest)}, the latest time a row can be kept ${longestDays} days (a tenant's retention; ClickHouse's DateTime ends in 2106)`
}

function reject(e: EnrichedLog, field: string, reason: string): never {
  throw rejection(e.id, field, reason)
}

/**
 * Encodes records into one growing buffer, reused from batch to batch: `append` each record (a
 * rejected one throws and leaves nothing behind), then `finish` to take the rows as a Buffer of
 * their own; or `encodeBatch` for both at once. `encodeBatch` runs start to end synchronously and
 * hands out a copy, so batches still being inserted never share bytes with the next one; only
 * `append`/`finish` sequences must not interleave across an await.
 */
export class LogRowBinaryEncoder {
  readonly #initialBytes: number
  readonly #retention: TenantRetention
  #buf: Utf8Writable
  #view: DataView
  #pos = 0
  #rows = 0

  /** `retention`: the RetentionDays of each tenant's rows; the service passes the tenants' settings. */
  readonly #latest: bigint

  constructor(initialBytes = 1 << 20, retention: TenantRetention = DEFAULT_RETENTION) {
    this.#latest = latestEventNs(retention)
    this.#initialBytes = initialBytes
    this.#retention = retention
    this.#buf = Buffer.allocUnsafeSlow(initialBytes) as Utf8Writable
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength)
  }

  get rowCount(): number {
    return this.#rows
  }

  get byteLength(): number {
    return this.#pos
  }

  /** Appends one row; throws SluiceError('VALIDATION_FAILED') for a record that cannot be encoded. */
  append(e: EnrichedLog): void {
    const start = this.#pos
    try {
      this.#row(e)
    } catch (err) {
      this.#pos = start
      throw err
    }
    this.#rows++
  }

  /**
   * The rows appended since the last `finish`, copied into a Buffer the caller owns (from
   * `allocate`, e.g. BlockBuffers.take); the encoder starts over.
   */
  finish(allocate: (bytes: number) => Buffer = Buffer.allocUnsafeSlow): Buffer {
    const out = allocate(this.#pos)
    this.#buf.copy(out, 0, 0, this.#pos)
    this.reset()
    return out
  }

  /** Drops the rows appended since the last `finish`. */
  reset(): void {
    this.#pos = 0
    this.#rows = 0
    if (this.#buf.length > MAX_RETAINED_BYTES) this.#allocate(this.#initialBytes)
  }

  /** Encodes a batch: the good records' rows, and the rejected ones with their errors. */
  encodeBatch(records: readonly EnrichedLog[]): EncodedLogs {
    this.reset()
    const rejected: RejectedLog[] = []
    for (let i = 0; i < records.length; i++) {
      try {
        this.append(records[i]!)
      } catch (err) {
        if (!(err instanceof SluiceError)) throw err
        rejected.push({ index: i, error: err })
      }
    }
    const rowCount = this.#rows
    return { bytes: this.finish(), rowCount, rejected }
  }

  // The columns in LOG_COLUMNS order.
  #row(e: EnrichedLog): void {
    this.#string(e, 'id', e.id)
    this.#string(e, 'tenant', e.tenant)
    this.#timestamp(e, 'timestamp', e.timestamp)
    if (e.timestamp > this.#latest) reject(e, 'timestamp', afterLatestEvent(e.timestamp, this.#latest, this.#retention.longest))
    if (e.timestamp < 0n) reject(e, 'timestamp', beforeFirstEvent(e.timestamp))
    this.#timestamp(e, 'observed_timestamp', e.observed_timestamp)
    this.#string(e, 'service', e.service)
    this.#optionalString(e, 'host', e.host)
    this.#string(e, 'severity_text', e.severity_text)
    this.#severityNumber(e, e.severity_number)
    this.#string(e, 'message', e.message)
    this.#optionalString(e, 'trace_id', e.trace_id)
    this.#optionalString(e, 'span_id', e.span_id)
    this.#map(e, 'attributes', e.attributes)
    this.#map(e, 'resource', e.resource)
    this.#string(e, 'source', e.source)
    this.#string(e, 'category', e.category)
    this.#bool(e, 'is_error', e.is_error)
    this.#string(e, 'pattern_id', e.pattern_id)
    this.#string(e, 'template', e.template)
    this.#string(e, 'classifier', e.classifier)
    this.#httpStatus(e, e.http_status)
    this.#durationMs(e, e.duration_ms)
    this.#optionalString(e, 'user_id', e.user_id)
    this.#optionalString(e, 'session_id', e.session_id)
    this.#optionalString(e, 'error_code', e.error_code)
    this.#bool(e, 'redacted', e.redacted)
    this.#bool(e, 'truncated', e.truncated)
    this.#optionalString(e, 'parsed_format', e.parsed_format)
    this.#stringArray(e, 'pattern_aliases', e.pattern_aliases)
    this.#uint16(this.#retention.days(e.tenant))
  }

  #uint16(n: number): void {
    this.#ensure(2)
    this.#buf[this.#pos] = n & 0xff
    this.#buf[this.#pos + 1] = n >>> 8
    this.#pos += 2
  }

  #allocate(bytes: number): void {
    const next = Buffer.allocUnsafeSlow(bytes) as Utf8Writable
    this.#buf.copy(next, 0, 0, this.#pos)
    this.#buf = next
    this.#view = new DataView(next.buffer, next.byteOffset, next.byteLength)
  }

  #ensure(bytes: number): void {
    const need = this.#pos + bytes
    if (need > this.#buf.length) this.#allocate(Math.max(need, this.#buf.length * 2))
  }

  #varint(n: number): void {
    const buf = this.#buf
    let pos = this.#pos
    while (n >= 0x80) {
      buf[pos++] = (n & 0x7f) | 0x80
      n >>>= 7
    }
    buf[pos++] = n
    this.#pos = pos
  }

  #string(e: EnrichedLog, field: string, s: string): void {
    if (typeof s !== 'string') reject(e, field, `is ${typeof s}, not a string`)
    this.#utf8(s)
  }

  #optionalString(e: EnrichedLog, field: string, s: string | null): void {
    if (s === null || s === undefined) {
      this.#ensure(1)
      this.#buf[this.#pos++] = 0
    } else {
      this.#string(e, field, s)
    }
  }

  // Length prefix first, so the byte length must be known before the bytes are written: a short
  // ASCII string's is its length; otherwise the bytes go after as many prefix bytes as the
  // shortest possible length needs (a UTF-16 unit is at least one UTF-8 byte), moved along in
  // the rare case multi-byte characters push the length past a 7-bit boundary.
  #utf8(s: string): void {
    const chars = s.length
    this.#ensure(chars * 3 + 5)
    const buf = this.#buf
    const pos = this.#pos
    if (chars < SHORT_STRING_CHARS) {
      let i = 0
      for (; i < chars; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) break
        buf[pos + 1 + i] = c
      }
      if (i === chars) {
        buf[pos] = chars
        this.#pos = pos + 1 + chars
        return
      }
    }
    const reserved = varintBytes(chars)
    const bytes = buf.utf8Write(s, pos + reserved)
    const prefix = varintBytes(bytes)
    if (prefix !== reserved) buf.copyWithin(pos + prefix, pos + reserved, pos + reserved + bytes)
    this.#varint(bytes)
    this.#pos += bytes
  }

  #timestamp(e: EnrichedLog, field: string, ns: bigint): void {
    if (typeof ns !== 'bigint') reject(e, field, `is ${typeof ns}, not a bigint`)
    if (ns < MIN_NS || ns > MAX_NS) reject(e, field, outsideDateTime64(ns))
    this.#ensure(8)
    this.#view.setBigInt64(this.#pos, ns, true)
    this.#pos += 8
  }

  #severityNumber(e: EnrichedLog, n: number): void {
    if (typeof n !== 'number') reject(e, 'severity_number', `is ${typeof n}, not a number`)
    this.#ensure(1)
    // NaN fails both comparisons and lands on 0.
    this.#buf[this.#pos++] = n >= 255 ? 255 : n > 0 ? Math.trunc(n) : 0
  }

  #bool(e: EnrichedLog, field: string, b: boolean): void {
    if (typeof b !== 'boolean') reject(e, field, `is ${typeof b}, not a boolean`)
    this.#ensure(1)
    this.#buf[this.#pos++] = b ? 1 : 0
  }

  #httpStatus(e: EnrichedLog, n: number | null): void {
    this.#ensure(3)
    if (n === null || n === undefined) {
      this.#buf[this.#pos++] = 1
      return
    }
    if (typeof n !== 'number') reject(e, 'http_status', `is ${typeof n}, not a number`)
    if (!(Number.isInteger(n) && n >= 0 && n <= 0xffff)) {
      this.#buf[this.#pos++] = 1
      return
    }
    const buf = this.#buf
    const pos = this.#pos
    buf[pos] = 0
    buf[pos + 1] = n & 0xff
    buf[pos + 2] = n >>> 8
    this.#pos = pos + 3
  }

  #durationMs(e: EnrichedLog, n: number | null): void {
    this.#ensure(9)
    if (n === null || n === undefined) {
      this.#buf[this.#pos++] = 1
      return
    }
    if (typeof n !== 'number') reject(e, 'duration_ms', `is ${typeof n}, not a number`)
    if (!Number.isFinite(n)) {
      this.#buf[this.#pos++] = 1
      return
    }
    this.#buf[this.#pos] = 0
    // + 0 turns -0 into 0.
    this.#view.setFloat64(this.#pos + 1, n + 0, true)
    this.#pos += 9
  }

  // Records from before the field existed have none: an empty array.
  #stringArray(e: EnrichedLog, field: string, a: readonly string[] | undefined): void {
    if (a === null || a === undefined) {
      this.#ensure(1)
      this.#buf[this.#pos++] = 0
      return
    }
    if (!Array.isArray(a)) reject(e, field, `is ${typeof a}, not an array`)
    this.#varint(a.length)
    for (let i = 0; i < a.length; i++) {
      const v: unknown = a[i]
      if (typeof v !== 'string') reject(e, `${field}[${i}]`, `is ${typeof v}, not a string`)
      this.#utf8(v)
    }
  }

  // The entry count comes first but is known only after walking the map: one byte is reserved
  // (enough below 128 entries) and the entries moved along if there are more.
  #map(e: EnrichedLog, field: string, m: Record<string, string>): void {
    this.#ensure(1)
    const countPos = this.#pos++
    if (m === null || m === undefined) {
      this.#buf[countPos] = 0
      return
    }
    if (typeof m !== 'object') reject(e, field, `is ${typeof m}, not a map`)
    let count = 0
    for (const key in m) {
      const value = m[key]
      if (typeof value !== 'string') reject(e, `${field}[${JSON.stringify(key)}]`, `is ${typeof value}, not a string`)
      this.#utf8(key)
      this.#utf8(value)
      count++
    }
    const prefix = varintBytes(count)
    if (prefix > 1) {
      this.#ensure(prefix - 1)
      this.#buf.copyWithin(countPos + prefix, countPos + 1, this.#pos)
      const end = this.#pos + prefix - 1
      this.#pos = countPos
      this.#varint(count)
      this.#pos = end
    } else {
      this.#buf[countPos] = count
    }
  }
}
