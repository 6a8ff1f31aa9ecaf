import { describe, expect, it } from 'vitest'
import { SluiceError } from '@sluice/core'
import type { EnrichedLog } from '@sluice/core'
import { LOG_COLUMNS, LogRowBinaryEncoder } from './row-binary.js'
import { TenantRetention } from './retention.js'

const T = 1_763_899_200_123_456_789n // 0x187AA0FA1AF44D15

function log(over: Partial<EnrichedLog> = {}): EnrichedLog {
  return {
    id: 'r1',
    tenant: 'acme',
    timestamp: T,
    observed_timestamp: -1n,
    service: 'checkout',
    host: null,
    severity_text: 'ERROR',
    severity_number: 17,
    // 127 UTF-16 units but 128 UTF-8 bytes: the length needs a second varint byte.
    message: `é${'a'.repeat(126)}`,
    trace_id: null,
    span_id: '',
    attributes: { k: 'v', ключ: '日本' },
    resource: {},
    source: 'http',
    level: 'ERROR',
    category: 'database',
    is_error: true,
    pattern_id: '0123456789abcdef',
    pattern_aliases: [],
    template: 'x <*>',
    classifier: 'rules',
    http_status: 503,
    duration_ms: 1.5,
    user_id: null,
    session_id: 'é😀',
    error_code: null,
    redacted: false,
    truncated: true,
    parsed_format: 'access',
    ...over,
  }
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex')
const str = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]) // only for lengths < 128

function encode(...records: EnrichedLog[]): Buffer {
  const enc = new LogRowBinaryEncoder()
  for (const r of records) enc.append(r)
  return enc.finish()
}

/** Splits one row into its columns' raw bytes, by the RowBinary rules of each declared type. */
function columns(row: Buffer): Record<string, Buffer> {
  let pos = 0
  const varint = () => {
    let n = 0
    let shift = 0
    for (;;) {
      const b = row[pos++]!
      n += (b & 0x7f) * 2 ** shift
      if (b < 0x80) return n
      shift += 7
    }
  }
  const skipString = () => {
    const n = varint()
    pos += n
  }
  const out: Record<string, Buffer> = {}
  for (const [name, type] of LOG_COLUMNS) {
    const start = pos
    if (type === 'String' || type === 'LowCardinality(String)') skipString()
    else if (type === 'DateTime64(9)') pos += 8
    else if (type === 'UInt8' || type === 'Bool') pos += 1
    else if (type === 'UInt16') pos += 2
    else if (type === 'Nullable(UInt16)') pos += row[pos] === 1 ? 1 : 3
    else if (type === 'Nullable(Float64)') pos += row[pos] === 1 ? 1 : 9
    else if (type.startsWith('Map(')) {
      for (let n = varint(); n > 0; n--) {
        skipString()
        skipString()
      }
    } else if (type === 'Array(String)') {
      for (let n = varint(); n > 0; n--) skipString()
    } else throw new Error(`no rule for ${type}`)
    out[name] = row.subarray(start, pos)
  }
  expect(pos).toBe(row.length)
  return out
}

function rejection(fn: () => unknown): SluiceError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError)
    return err as SluiceError
  }
  throw new Error('expected a rejection')
}

describe('LogRowBinaryEncoder', () => {
  it('writes every column of a row in RowBinary, byte for byte', () => {
    const expected = Buffer.concat([
      str('r1'), // id
      str('acme'), // tenant
      hex('15 4d f4 1a fa a0 7a 18'), // Timestamp, Int64 LE
      hex('ff ff ff ff ff ff ff ff'), // ObservedTimestamp -1 ns, just before the epoch
      str('checkout'), // ServiceName
      hex('00'), // HostName: null → ''
      str('ERROR'), // SeverityText
      hex('11'), // SeverityNumber 17
      hex('80 01 c3 a9'), // Body: 128 bytes (varint 80 01), 'é' then 126 × 'a'
      Buffer.alloc(126, 'a'),
      hex('00'), // TraceId: null → ''
      hex('00'), // SpanId ''
      hex('02  01 6b 01 76  08 d0 ba d0 bb d1 8e d1 87  06 e6 97 a5 e6 9c ac'), // LogAttributes {k: v, ключ: 日本}
      hex('00'), // ResourceAttributes {}
      str('http'), // Source
      str('database'), // Category
      hex('01'), // IsError
      str('0123456789abcdef'), // PatternId
      str('x <*>'), // Template
      str('rules'), // Classifier
      hex('00 f7 01'), // HttpStatus 503, not null
      hex('00 00 00 00 00 00 00 f8 3f'), // DurationMs 1.5, not null
      hex('00'), // UserId: null → ''
      hex('06 c3 a9 f0 9f 98 80'), // SessionId 'é😀'
      hex('00'), // ErrorCode: null → ''
      hex('00'), // Redacted
      hex('01'), // Truncated
      str('access'), // ParsedFormat
      hex('00'), // PatternAliases []
      hex('1e 00'), // RetentionDays 30 (the default), UInt16 LE
    ])
    expect(encode(log()).toString('hex')).toBe(expected.toString('hex'))
    const merged = encode(log({ pattern_aliases: ['aaaa', 'bb'] }))
    expect(merged.subarray(merged.length - 11, merged.length - 2).toString('hex')).toBe(Buffer.concat([hex('02'), str('aaaa'), str('bb')]).toString('hex'))
  })

  it('writes each row’s RetentionDays from its tenant’s settings, clamped into UInt16', () => {
    const tenants = { defaults: { retentionDays: 30 }, get: (t: string) => ({ retentionDays: t === 'brief' ? 1 : t === 'ample' ? 400 : 30 }), overridden: () => ['brief', 'ample'] }
    const enc = new LogRowBinaryEncoder(64, TenantRetention.of(tenants as never))
    // Names of one length: rows of one length.
    for (const tenant of ['brief', 'ample', 'other', 'brief']) enc.append(log({ tenant }))
    const bytes = enc.finish()
    const one = encode(log({ tenant: 'brief' })).length
    const days = [0, 1, 2, 3].map((i) => bytes.readUInt16LE(i * one + one - 2))
    expect(days).toEqual([1, 400, 30, 1])
    expect(TenantRetention.uniform(100_000).days('x')).toBe(65_535)
  })

  it('writes lengths and entry counts of 128 and more as multi-byte varints', () => {
    const attributes = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, 'v']))
    const row = columns(encode(log({ message: 'x'.repeat(300), template: 'é'.repeat(10_000), attributes })))
    expect(row.Body!.subarray(0, 2).toString('hex')).toBe('ac02') // 300
    expect(row.Body!.length).toBe(302)
    expect(row.Template!.subarray(0, 3).toString('hex')).toBe('a09c01') // 20 000 bytes
    expect(row.Template!.subarray(3).toString()).toBe('é'.repeat(10_000))
    expect(row.LogAttributes!.subarray(0, 5).toString('hex')).toBe('ac02026b30') // 300 entries, then "k0"
  })

  it('writes a lone surrogate as U+FFFD and an empty string as a zero length', () => {
    const row = columns(encode(log({ id: '', host: 'a\ud800b' })))
    expect(row.id!.toString('hex')).toBe('00')
    expect(row.HostName!.toString('hex')).toBe('0561efbfbd62')
  })

  it('clamps severity_number into UInt8 and truncates fractions', () => {
    const sev = (n: number) => columns(encode(log({ severity_number: n }))).SeverityNumber!.toString('hex')
    expect([sev(300), sev(255), sev(24), sev(9.7), sev(0), sev(-5), sev(Number.NaN), sev(Number.POSITIVE_INFINITY)]).toEqual(['ff', 'ff', '18', '09', '00', '00', '00', 'ff'])
  })

  it('writes an http_status outside UInt16, or a fraction, as NULL', () => {
    const status = (n: number | null) => columns(encode(log({ http_status: n }))).HttpStatus!.toString('hex')
    expect(status(0)).toBe('000000')
    expect(status(65_535)).toBe('00ffff')
    for (const n of [65_536, 70_000, -1, 200.5, Number.NaN, null]) expect(status(n)).toBe('01')
  })

  it('writes a non-finite duration_ms as NULL and -0 as 0, as JSON.stringify does for JSONEachRow', () => {
    const duration = (n: number | null) => columns(encode(log({ duration_ms: n }))).DurationMs!.toString('hex')
    for (const n of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, null]) expect(duration(n)).toBe('01')
    expect(duration(-0)).toBe('00' + '00'.repeat(8))
    expect(duration(-2.5)).toBe('00' + '00000000000004c0')
  })

  it('takes timestamps across DateTime64(9)’s range and rejects those outside, naming the record and field', () => {
    const ts = (t: bigint) => columns(encode(log({ timestamp: t }))).Timestamp!.toString('hex')
    const observed = (t: bigint) => columns(encode(log({ observed_timestamp: t }))).ObservedTimestamp!.toString('hex')
    expect(observed(-2_208_988_800_000_000_000n)).toBe('00002fdf631858e1') // 1900-01-01
    // An event time starts in 1970, where the table's TimestampTime (a DateTime) does.
    expect(ts(0n)).toBe('0000000000000000')
    expect(rejection(() => encode(log({ id: 'r-1950', timestamp: -617_760_000_000_000_000n }))).message).toBe(
      "log r-1950: timestamp -617760000000000000 is before 1970-01-01T00:00:00Z, where ClickHouse's DateTime (the table's TimestampTime and retention) starts",
    )
    // The event time ends in 2096 (the next test); the observed time takes all of DateTime64(9).
    expect(observed(2n ** 63n - 1n)).toBe('ffffffffffffff7f') // 2262-04-11
    expect(ts(1_000_000_000n)).toBe('00ca9a3b00000000') // 1970-01-01T00:00:01, short of 19 digits
    const early = rejection(() => encode(log({ id: 'r-early', timestamp: -2_208_988_800_000_000_001n })))
    expect(early.code).toBe('VALIDATION_FAILED')
    expect(early.message).toMatch(/^log r-early: timestamp -2208988800000000001 is outside DateTime64\(9\)/)
    expect(rejection(() => encode(log({ observed_timestamp: 2n ** 63n }))).message).toMatch(/log r1: observed_timestamp 9223372036854775808 is outside/)
    expect(rejection(() => encode(log({ timestamp: 1_763_899_200_000 as unknown as bigint }))).message).toBe('log r1: timestamp is number, not a bigint')
  })

  it('rejects an event time after 2096-01-01T00:00:00Z, which the table’s DateTime and TTL cannot keep, naming the record and why', () => {
    const ts = (t: bigint) => columns(encode(log({ timestamp: t }))).Timestamp!.toString('hex')
    expect(ts(3_976_214_400_000_000_000n)).toBe('0000cb0eee592e37') // 2096-01-01T00:00:00Z, the latest kept
    for (const t of [3_976_214_400_000_000_001n, 7_258_118_400_000_000_000n /* 2200 */, 2n ** 63n - 1n]) {
      const late = rejection(() => encode(log({ id: 'r-late', timestamp: t })))
      expect(late.code).toBe('VALIDATION_FAILED')
      expect(late.message).toBe(`log r-late: timestamp ${t} is after 2096-01-01T00:00:00Z, the latest time storage keeps (ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days)`)
    }
    // Refused alone: the batch's other rows are written.
    const batch = new LogRowBinaryEncoder().encodeBatch([log({ id: 'a' }), log({ id: 'late', timestamp: 3_976_214_400_000_000_001n }), log({ id: 'b' })])
    expect(batch.rowCount).toBe(2)
    expect(batch.rejected.map((r) => [r.index, r.error.message])).toEqual([[1, `log late: timestamp 3976214400000000001 is after 2096-01-01T00:00:00Z, the latest time storage keeps (ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days)`]])
    expect(batch.bytes.equals(encode(log({ id: 'a' }), log({ id: 'b' })))).toBe(true)
  })

  it('refuses earlier where a tenant keeps logs longer than 3650 days: its TimestampTime plus retention must end inside DateTime', () => {
    // 20 000 days (~55 years): the last second kept is 2106-02-07T06:28:15Z less 20 000 days, 2051-05-06.
    const encoder = new LogRowBinaryEncoder(1 << 16, TenantRetention.uniform(20_000))
    const lastNs = (4_294_967_295n - 20_000n * 86_400n) * 1_000_000_000n + 999_999_999n
    expect(encoder.encodeBatch([log({ id: 'kept', timestamp: lastNs })]).rejected).toEqual([])
    const late = encoder.encodeBatch([log({ id: 'late', timestamp: lastNs + 1n })]).rejected
    expect(late.map((r) => r.error.message)).toEqual([`log late: timestamp ${lastNs + 1n} is after 2051-05-06T06:28:15.999999999Z, the latest time a row can be kept 20000 days (a tenant's retention; ClickHouse's DateTime ends in 2106)`])
  })

  it('rejects values of the wrong type, naming the record and field', () => {
    const message = (over: Record<string, unknown>) => rejection(() => encode(log(over as Partial<EnrichedLog>))).message
    expect(message({ message: undefined })).toBe('log r1: message is undefined, not a string')
    expect(message({ tenant: 42 })).toBe('log r1: tenant is number, not a string')
    expect(message({ attributes: { ok: 'x', n: 5 } })).toBe('log r1: attributes["n"] is number, not a string')
    expect(message({ is_error: 'yes' })).toBe('log r1: is_error is string, not a boolean')
    expect(message({ http_status: '503' })).toBe('log r1: http_status is string, not a number')
    expect(message({ severity_number: null })).toBe('log r1: severity_number is object, not a number')
  })

  it('writes null or absent maps and optional strings as empty ones', () => {
    const row = columns(encode(log({ resource: null as unknown as Record<string, string>, parsed_format: undefined as unknown as null, pattern_aliases: undefined as unknown as string[] })))
    expect(row.ResourceAttributes!.toString('hex')).toBe('00')
    expect(row.ParsedFormat!.toString('hex')).toBe('00')
    expect(row.PatternAliases!.toString('hex')).toBe('00')
    expect(() => encode(log({ pattern_aliases: ['a', 7 as unknown as string] }))).toThrow('log r1: pattern_aliases[1] is number, not a string')
  })

  it('leaves nothing of a rejected record behind: the rows around it are intact', () => {
    const enc = new LogRowBinaryEncoder(16) // small: the rejected record also grows the buffer
    enc.append(log({ id: 'a' }))
    expect(() => enc.append(log({ id: 'bad', message: 'long '.repeat(100), attributes: { x: 1 as unknown as string } }))).toThrow(SluiceError)
    enc.append(log({ id: 'c' }))
    expect(enc.rowCount).toBe(2)
    expect(enc.finish().toString('hex')).toBe(Buffer.concat([encode(log({ id: 'a' })), encode(log({ id: 'c' }))]).toString('hex'))
  })

  it('encodes a batch, reporting the records it left out by position', () => {
    const enc = new LogRowBinaryEncoder()
    const batch = [log({ id: 'a' }), log({ id: 'b', timestamp: 2n ** 64n }), log({ id: 'c' }), log({ id: 'd', tenant: null as unknown as string })]
    const { bytes, rowCount, rejected } = enc.encodeBatch(batch)
    expect(rowCount).toBe(2)
    expect(rejected.map((r) => [r.index, r.error.code, r.error.message.split(':')[0]])).toEqual([
      [1, 'VALIDATION_FAILED', 'log b'],
      [3, 'VALIDATION_FAILED', 'log d'],
    ])
    expect(bytes.equals(encode(log({ id: 'a' }), log({ id: 'c' })))).toBe(true)
  })

  it('hands out a copy the caller owns, and starts over after it', () => {
    const enc = new LogRowBinaryEncoder(64)
    enc.append(log({ id: 'a' }))
    const first = enc.finish()
    const snapshot = Buffer.from(first)
    for (let i = 0; i < 100; i++) enc.append(log({ id: `n${i}` }))
    expect(first.equals(snapshot)).toBe(true)
    expect(enc.finish().equals(encode(...Array.from({ length: 100 }, (_, i) => log({ id: `n${i}` }))))).toBe(true)
    expect(enc.byteLength).toBe(0)
  })
})
