import { isUtf8 } from 'node:buffer'
import { describe, expect, it } from 'vitest'
import { SluiceError } from '@sluice/core'
import type { EnrichedLog } from '@sluice/core'
import { AvroCodec, avroType, loadAvsc } from '@sluice/registry'
import type { SchemaRegistry } from '@sluice/registry'
import { EnrichedGenerator } from '../../../test/benchmarks/enriched.js'
import { prng } from '../../../test/benchmarks/records.js'
import { LOG_COLUMNS, LogRowBinaryEncoder } from './row-binary.js'
import { LogTranscoder, isWellFormedUtf8, transcoderMismatch } from './transcode.js'
import { TenantRetention } from './retention.js'

const ID = 42
const schema = loadAvsc('enriched-log.avsc')
const type = avroType(schema)
// The production decode path: the real codec, over a registry that only hands out our id.
const registry = { register: async () => ({ id: ID }) } as unknown as SchemaRegistry
const codec = await AvroCodec.register<EnrichedLog>(registry, 'logs.enriched-value', schema)

const T = 1_763_899_200_123_456_789n
const MIN_NS = -2_208_988_800_000_000_000n
const MAX_LONG = 2n ** 63n - 1n
/** 2096-01-01T00:00:00Z, the latest event time a row may have (LATEST_EVENT_NS). */
const LATEST = 3_976_214_400_000_000_000n

function log(over: Partial<EnrichedLog> = {}): EnrichedLog {
  return {
    id: 'r1',
    tenant: 'acme',
    timestamp: T,
    observed_timestamp: T + 5n,
    service: 'checkout',
    host: 'ip-10-0-0-1',
    severity_text: 'ERROR',
    severity_number: 17,
    message: `é${'a'.repeat(126)}`,
    trace_id: '0af7651916cd43dd8448eb211c80319c',
    span_id: 'b7ad6b7169203331',
    attributes: { k: 'v', ключ: '日本', emoji: '😀' },
    resource: { 'service.version': '1.2.3' },
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
    user_id: 'u-1',
    session_id: 'é😀',
    error_code: 'E1',
    redacted: false,
    truncated: true,
    parsed_format: 'access',
    ...over,
  }
}

function frame(body: Buffer, id = ID): Buffer {
  const header = Buffer.alloc(5)
  header.writeInt32BE(id, 1)
  return Buffer.concat([header, body])
}

const avro = (r: EnrichedLog): Buffer => frame(type.toBuffer(r))

// --- A hand-written Avro writer, for what avsc never writes: several map blocks, negative block
// counts, repeated keys, bytes that are not UTF-8, over-long varints, a true that is not 1.

type Raw = string | Buffer
type Entries = readonly (readonly [Raw, Raw])[]

/** Unsigned LEB128 of a 64-bit value, padded with continuation bytes to at least `minBytes`. */
function leb(u: bigint, minBytes = 1): Buffer {
  const out: number[] = []
  do {
    const more = u >= 0x80n || out.length + 1 < minBytes
    out.push(Number(u & 0x7fn) | (more ? 0x80 : 0))
    u >>= 7n
  } while (u > 0n || out.length < minBytes)
  return Buffer.from(out)
}

const zz = (n: number | bigint, pad = 1): Buffer => {
  const v = BigInt(n)
  return leb(BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)), pad)
}

const bytesOf = (s: Raw): Buffer => (typeof s === 'string' ? Buffer.from(s) : s)
const str = (s: Raw, pad = 1): Buffer => Buffer.concat([zz(bytesOf(s).length, pad), bytesOf(s)])

/** How the entries are cut into blocks: sizes of consecutive blocks, each negative (with its byte size) or not. */
type Blocks = (entryCount: number) => { size: number; negative: boolean }[]
const oneBlock: Blocks = (n) => (n === 0 ? [] : [{ size: n, negative: false }])
const blocksOf = (k: number, negative: boolean): Blocks => (n) =>
  Array.from({ length: Math.ceil(n / k) }, (_, i) => ({ size: Math.min(k, n - i * k), negative }))

function mapBytes(entries: Entries, blocks: Blocks, pad: number, blockSize: (bytes: number) => number = (n) => n): Buffer {
  const parts: Buffer[] = []
  let at = 0
  for (const { size, negative } of blocks(entries.length)) {
    const body = Buffer.concat(entries.slice(at, at + size).flatMap(([k, v]) => [str(k, pad), str(v, pad)]))
    at += size
    parts.push(negative ? Buffer.concat([zz(-size, pad), zz(blockSize(body.length), pad), body]) : Buffer.concat([zz(size, pad), body]))
  }
  parts.push(zz(0, pad))
  return Buffer.concat(parts)
}

function arrayBytes(items: readonly Raw[], blocks: Blocks, pad: number, blockSize: (bytes: number) => number = (n) => n): Buffer {
  const parts: Buffer[] = []
  let at = 0
  for (const { size, negative } of blocks(items.length)) {
    const body = Buffer.concat(items.slice(at, at + size).map((item) => str(item, pad)))
    at += size
    parts.push(negative ? Buffer.concat([zz(-size, pad), zz(blockSize(body.length), pad), body]) : Buffer.concat([zz(size, pad), body]))
  }
  parts.push(zz(0, pad))
  return Buffer.concat(parts)
}

interface Hand {
  /** Every varint written with at least this many bytes. */
  pad?: number
  /** The byte written for `true`. */
  trueByte?: number
  blocks?: Blocks
  /** The byte size written for a negative block of this many bytes. */
  blockSize?: (bytes: number) => number
  /** Map entries as written (repeats, any bytes), instead of the record's object. */
  entries?: { attributes?: Entries; resource?: Entries }
  /** pattern_aliases as written (any bytes), instead of the record's. */
  aliases?: readonly Raw[]
  /** String fields as these bytes. */
  raw?: Partial<Record<keyof EnrichedLog, Buffer>>
  /** Fields' whole encodings, as given. */
  fields?: Partial<Record<keyof EnrichedLog, Buffer>>
}

function handAvro(r: EnrichedLog, h: Hand = {}): Buffer {
  const pad = h.pad ?? 1
  const blocks = h.blocks ?? oneBlock
  const s = (f: keyof EnrichedLog) => str(h.raw?.[f] ?? (r[f] as string), pad)
  const opt = (f: keyof EnrichedLog) => (r[f] === null && !h.raw?.[f] ? zz(0, pad) : Buffer.concat([zz(1, pad), s(f)]))
  const bool = (b: boolean) => Buffer.from([b ? (h.trueByte ?? 1) : 0])
  const map = (f: 'attributes' | 'resource') => mapBytes(h.entries?.[f] ?? Object.entries(r[f]), blocks, pad, h.blockSize)
  const double = (n: number) => {
    const b = Buffer.alloc(8)
    b.writeDoubleLE(n)
    return b
  }
  const written = [
      s('id'),
      s('tenant'),
      zz(r.timestamp, pad),
      zz(r.observed_timestamp, pad),
      s('service'),
      opt('host'),
      s('severity_text'),
      zz(r.severity_number, pad),
      s('message'),
      opt('trace_id'),
      opt('span_id'),
      map('attributes'),
      map('resource'),
      s('source'),
      s('level'),
      s('category'),
      bool(r.is_error),
      s('pattern_id'),
      s('template'),
      s('classifier'),
      r.http_status === null ? zz(0, pad) : Buffer.concat([zz(1, pad), zz(r.http_status, pad)]),
      r.duration_ms === null ? zz(0, pad) : Buffer.concat([zz(1, pad), double(r.duration_ms)]),
      opt('user_id'),
      opt('session_id'),
      opt('error_code'),
      bool(r.redacted),
      bool(r.truncated),
      opt('parsed_format'),
      arrayBytes(h.aliases ?? r.pattern_aliases, blocks, pad, h.blockSize),
  ]
  const names = (schema as { fields: { name: keyof EnrichedLog }[] }).fields.map((f) => f.name)
  return frame(Buffer.concat(written.map((bytes, i) => h.fields?.[names[i]!] ?? bytes)))
}

// --- The two paths, value by value: what each appends, and how each fails.

/** The error as far as the paths must agree: the code, and for a refused record the message too. */
function outcome(err: unknown): string {
  if (!(err instanceof SluiceError)) throw err
  return err.code === 'VALIDATION_FAILED' ? `${err.code}: ${err.message}` : err.code
}

/** What the sink writes without the transcoder: the codec's decode, then LogRowBinaryEncoder. */
function slowPath(values: readonly (Buffer | null)[]): { bytes: Buffer; outcomes: string[] } {
  const encoder = new LogRowBinaryEncoder(4096)
  const outcomes = values.map((v) => {
    try {
      const record = codec.decodeSync(v)
      if (record === undefined) return 'foreign'
      encoder.append(record)
      return 'ok'
    } catch (err) {
      return outcome(err)
    }
  })
  return { bytes: encoder.finish(), outcomes }
}

function newTranscoder(initialBytes = 4096): LogTranscoder {
  const t = LogTranscoder.for(ID, schema, initialBytes)
  if (t === undefined) throw new Error(`the schema does not fit: ${transcoderMismatch(schema)}`)
  return t
}

function fastPath(values: readonly (Buffer | null)[], t = newTranscoder()): { bytes: Buffer; outcomes: string[]; rowCount: number } {
  const outcomes = values.map((v) => {
    try {
      return t.append(v)
    } catch (err) {
      return outcome(err)
    }
  })
  return { ...t.finish(), outcomes }
}

/** Both paths agree on every value and write the same bytes; returns the outcomes. */
function agree(values: readonly (Buffer | null)[]): string[] {
  const slow = slowPath(values)
  const fast = fastPath(values)
  expect(fast.outcomes).toEqual(slow.outcomes)
  expect(fast.bytes.toString('hex')).toBe(slow.bytes.toString('hex'))
  expect(fast.rowCount).toBe(slow.outcomes.filter((o) => o === 'ok').length)
  return fast.outcomes
}

const encode = (...records: EnrichedLog[]): Buffer => new LogRowBinaryEncoder().encodeBatch(records).bytes

function thrown(fn: () => unknown): SluiceError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError)
    return err as SluiceError
  }
  throw new Error('expected an error')
}

describe('LogTranscoder', () => {
  it('writes the bench generator’s records byte for byte as LogRowBinaryEncoder does', () => {
    const gen = new EnrichedGenerator({ seed: 11 })
    const records = Array.from({ length: 5000 }, (_, i) => gen.next(1_763_899_200_000 + i * 7))
    const t = newTranscoder(1024) // small: grows several times on the way
    for (const r of records) expect(t.append(avro(r))).toBe('ok')
    const { bytes, rowCount } = t.finish()
    const expected = new LogRowBinaryEncoder().encodeBatch(records)
    expect(rowCount).toBe(5000)
    expect(expected.rejected).toEqual([])
    expect(bytes.equals(expected.bytes)).toBe(true)
  })

  it('writes what the encoder writes for strings of every shape', () => {
    const long = (n: number, c = 'x') => c.repeat(n)
    const records = [
      log(),
      log({ id: '', tenant: '', message: '', template: '', attributes: { '': '' } }),
      log({ message: '😀'.repeat(5), template: 'a😀b', service: 'Ǆ€𝄞' }), // 4-byte UTF-8, mixed widths
      log({ message: `\u{10FFFF}\u0000\uFEFF${long(40, 'é')}` }), // U+10FFFF, NUL, a BOM kept
      log({ message: long(127), template: long(128), host: long(129) }), // LEB128 1 → 2 bytes
      log({ message: long(16_383), template: long(16_384), user_id: long(8192, 'é') }), // 2 → 3 bytes
      log({ message: long(2_097_152) }), // 3 → 4 bytes
      // Around the 256-byte switch from the JS copy to native calls, with multi-byte characters at the end.
      ...[31, 32, 33, 255, 256, 257].map((n) => log({ message: `${long(n - 2)}é`, template: `${long(n - 4)}😀`, session_id: long(n) })),
    ]
    expect(agree(records.map(avro))).toEqual(records.map(() => 'ok'))
    const fast = fastPath(records.map(avro))
    expect(fast.bytes.equals(encode(...records))).toBe(true)
  })

  it('writes each tenant’s RetentionDays as the encoder does, tenant after tenant, a tenant that is not UTF-8 included', () => {
    const days: Record<string, number> = { short: 1, long: 400, '\ufffd\ufffd': 7 }
    const tenants = { defaults: { retentionDays: 30 }, get: (t: string) => ({ retentionDays: days[t] ?? 30 }), overridden: () => Object.keys(days) }
    const retention = TenantRetention.of(tenants as never)
    const records = ['short', 'short', 'long', 'other', 'short', 'long', 'long', ''].map((tenant, i) => log({ id: `r${i}`, tenant }))
    const values = records.map(avro)
    // Bytes FF FE in the tenant: avsc decodes them to two U+FFFD, the transcoder looks that tenant up.
    const bad = Buffer.from(avro(log({ id: 'rb', tenant: 'xy' })))
    bad.set([0xff, 0xfe], bad.indexOf(Buffer.from('xy')))
    const t = LogTranscoder.for(ID, schema, 256, retention)!
    for (const v of [...values, bad]) expect(t.append(v)).toBe('ok')
    const encoder = new LogRowBinaryEncoder(256, retention)
    for (const v of [...values, bad]) encoder.append(codec.decodeSync(v)!)
    const { bytes } = t.finish()
    expect(bytes.toString('hex')).toBe(encoder.finish().toString('hex'))
    expect(bytes.readUInt16LE(bytes.length - 2)).toBe(7)
  })

  it('writes a lone surrogate as the codec reads what avsc wrote for it: three U+FFFD', () => {
    // avsc writes U+D800 as ED A0 80, which is not UTF-8 and decodes to three U+FFFD; the encoder,
    // given the original string, would write one.
    const value = avro(log({ message: 'a\ud800b' }))
    expect(value.includes(Buffer.from([0x61, 0xed, 0xa0, 0x80, 0x62]))).toBe(true)
    expect(agree([value])).toEqual(['ok'])
    expect(fastPath([value]).bytes.equals(encode(log({ message: 'a\ufffd\ufffd\ufffdb' })))).toBe(true)
  })

  it('writes every optional field null and set', () => {
    const nulls = {
      host: null,
      trace_id: null,
      span_id: null,
      http_status: null,
      duration_ms: null,
      user_id: null,
      session_id: null,
      error_code: null,
      parsed_format: null,
    }
    const records = [log(nulls), log(), log({ ...nulls, host: '', user_id: '' }), log({ attributes: {}, resource: {} })]
    agree(records.map(avro))
    expect(fastPath(records.map(avro)).bytes.equals(encode(...records))).toBe(true)
  })

  it('clamps severity_number, nulls an http_status outside UInt16 and a non-finite duration_ms, writes -0 as 0', () => {
    const ints = [0, 1, 24, 254, 255, 256, 65_535, 65_536, -1, 2 ** 31 - 1, -(2 ** 31)]
    const doubles = [0, -0, 1.5, -2.5, 5e-324, -5e-324, Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]
    const records = [
      ...ints.map((n) => log({ severity_number: n, http_status: n })),
      ...doubles.map((n) => log({ duration_ms: n })),
    ]
    agree(records.map(avro))
    const fast = fastPath(records.map(avro))
    expect(fast.bytes.equals(encode(...records))).toBe(true)
    // Spot checks on what those rules mean, so a change on both sides cannot pass unseen.
    const row = (r: EnrichedLog) => fastPath([avro(r)]).bytes.toString('hex')
    expect(row(log({ severity_number: 300, http_status: 70_000, duration_ms: Number.NaN }))).toContain(
      row(log({ severity_number: 255, http_status: null, duration_ms: null })),
    )
    expect(row(log({ duration_ms: -0 }))).toBe(row(log({ duration_ms: 0 })))
  })

  it('writes every NaN as NULL, whatever its payload, and copies a subnormal or negative double’s bits', () => {
    const doubles = ['7ff0000000000001', 'fff8000000000000', '7ff8000000000001', 'ffffffffffffffff', '7ff0000000000000', '0000000000000001', '8000000000000001', '8000000000000000']
    const values = doubles.map((bits) => handAvro(log(), { fields: { duration_ms: Buffer.concat([zz(1), Buffer.from(bits, 'hex').reverse()]) } }))
    expect(agree(values)).toEqual(values.map(() => 'ok'))
    const duration = (i: number) => fastPath([values[i]!]).bytes.equals(encode(log({ duration_ms: null })))
    expect([0, 1, 2, 3, 4].map(duration)).toEqual([true, true, true, true, true])
  })

  it('takes timestamps across DateTime64(9)’s range and refuses the others with the encoder’s message', () => {
    // The event time from 1970 to 2096 (the next test), the observed time all of DateTime64(9).
    const ok = [0n, LATEST, 1_000_000_000n, T]
    const observedOnly = [MIN_NS, -1n]
    const refused = [MIN_NS - 1n, -(2n ** 63n)]
    const records = [
      ...ok.flatMap((t) => [log({ timestamp: t }), log({ observed_timestamp: t })]),
      ...observedOnly.flatMap((t) => [log({ observed_timestamp: t }), log({ id: `before-${t}`, timestamp: t })]),
      log({ observed_timestamp: MAX_LONG }),
      ...refused.flatMap((t) => [log({ id: `early-${t}`, timestamp: t }), log({ id: 'obs', observed_timestamp: t }), log({ id: 'both', timestamp: t, observed_timestamp: t })]),
    ]
    const outcomes = agree(records.map(avro))
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(ok.length * 2 + observedOnly.length + 1)
    // Before 1970 an event time's TimestampTime would wrap (1950 → 2086): refused, the observed time not.
    expect(outcomes).toContain("VALIDATION_FAILED: log before--1: timestamp -1 is before 1970-01-01T00:00:00Z, where ClickHouse's DateTime (the table's TimestampTime and retention) starts")
    expect(outcomes).toContain(`VALIDATION_FAILED: log before-${MIN_NS}: timestamp ${MIN_NS} is before 1970-01-01T00:00:00Z, where ClickHouse's DateTime (the table's TimestampTime and retention) starts`)
    expect(outcomes).toContain(
      'VALIDATION_FAILED: log early--2208988800000000001: timestamp -2208988800000000001 is outside DateTime64(9) (1900-01-01 to 2262-04-11)',
    )
    expect(outcomes).toContain('VALIDATION_FAILED: log obs: observed_timestamp -9223372036854775808 is outside DateTime64(9) (1900-01-01 to 2262-04-11)')
    expect(outcomes).toContain('VALIDATION_FAILED: log both: timestamp -9223372036854775808 is outside DateTime64(9) (1900-01-01 to 2262-04-11)')
    const good = ok.map((t) => log({ timestamp: t }))
    expect(fastPath(good.map(avro)).bytes.equals(encode(...good))).toBe(true)
  })

  it('refuses an event time after 2096-01-01T00:00:00Z with the encoder’s message, whose rows storage would drop at once', () => {
    const late = [LATEST + 1n, 7_258_118_400_000_000_000n /* 2200 */, MAX_LONG]
    const records = [
      log({ id: 'latest', timestamp: LATEST, observed_timestamp: MAX_LONG }),
      ...late.map((t) => log({ id: `late-${t}`, timestamp: t })),
      // The first field refused names the record's problem, as the encoder's order has it.
      log({ id: 'both', timestamp: LATEST + 1n, observed_timestamp: -(2n ** 63n) }),
    ]
    expect(agree(records.map(avro))).toEqual([
      'ok',
      ...late.map((t) => `VALIDATION_FAILED: log late-${t}: timestamp ${t} is after 2096-01-01T00:00:00Z, the latest time storage keeps (ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days)`),
      `VALIDATION_FAILED: log both: timestamp ${LATEST + 1n} is after 2096-01-01T00:00:00Z, the latest time storage keeps (ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days)`,
    ])
    // Refused alone, the values around it written.
    const t = newTranscoder()
    t.append(avro(log({ id: 'a' })))
    expect(thrown(() => t.append(avro(log({ id: 'late', timestamp: LATEST + 1n })))).message).toBe(`log late: timestamp ${LATEST + 1n} is after 2096-01-01T00:00:00Z, the latest time storage keeps (ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days)`)
    t.append(avro(log({ id: 'b' })))
    expect(t.finish().bytes.equals(encode(log({ id: 'a' }), log({ id: 'b' })))).toBe(true)
  })

  it('names a refused record by its id as the codec decodes it, bytes that are not UTF-8 included', () => {
    const value = handAvro(log({ timestamp: MIN_NS - 1n }), { raw: { id: Buffer.from([0x69, 0xff, 0x64]) } })
    expect(agree([value])).toEqual(['VALIDATION_FAILED: log i\uFFFDd: timestamp -2208988800000000001 is outside DateTime64(9) (1900-01-01 to 2262-04-11)'])
  })

  it('leaves nothing of a refused or undecodable value behind', () => {
    const t = newTranscoder(64) // small: the failing values also grow the buffer
    t.append(avro(log({ id: 'a' })))
    const refused = thrown(() => t.append(avro(log({ id: 'bad', message: 'long '.repeat(100), timestamp: MIN_NS - 1n }))))
    expect(refused.code).toBe('VALIDATION_FAILED')
    const cut = avro(log({ id: 'cut', message: 'long '.repeat(100) }))
    expect(thrown(() => t.append(cut.subarray(0, cut.length - 3))).code).toBe('DECODE_FAILED')
    t.append(avro(log({ id: 'c' })))
    expect(t.rowCount).toBe(2)
    expect(t.finish().bytes.equals(encode(log({ id: 'a' }), log({ id: 'c' })))).toBe(true)
  })

  it('reports an undecodable value as DECODE_FAILED even when a field before the damage is out of range, as the codec does', () => {
    const value = avro(log({ timestamp: MIN_NS - 1n }))
    expect(agree([value.subarray(0, value.length - 1), Buffer.concat([value, Buffer.from([0])]), value]).map((o) => o.split(':')[0])).toEqual([
      'DECODE_FAILED',
      'DECODE_FAILED',
      'VALIDATION_FAILED',
    ])
  })

  it('writes maps of many entries with a multi-byte count, on both sides of the repeat-check limit', () => {
    const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`key-${i}`, `v${i}`]))
    const records = [1, 127, 128, 129, 300, 5000].map((n) => log({ attributes: many(n), resource: many(n >> 1) }))
    agree(records.map(avro))
    const fast = fastPath(records.map(avro))
    expect(fast.bytes.equals(encode(...records))).toBe(true)
  })

  it('reads maps written in several blocks and with negative counts as avsc does', () => {
    const attributes = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'é'.repeat(i)]))
    const record = log({ attributes })
    const expected = encode(record)
    for (const blocks of [oneBlock, blocksOf(1, false), blocksOf(3, false), blocksOf(1, true), blocksOf(4, true), blocksOf(10, true)]) {
      const value = handAvro(record, { blocks })
      expect(agree([value])).toEqual(['ok'])
      expect(fastPath([value]).bytes.equals(expected)).toBe(true)
    }
    // The hand-written writer writes what avsc writes when it writes one block.
    expect(handAvro(record).equals(avro(record))).toBe(true)
  })

  it('reads pattern_aliases in any blocks, and 200 of them with a two-byte count', () => {
    for (const aliases of [[], ['0123456789abcdef'], Array.from({ length: 200 }, (_, i) => `alias-${i}`)]) {
      const record = log({ pattern_aliases: aliases })
      const expected = encode(record)
      for (const blocks of [oneBlock, blocksOf(1, false), blocksOf(7, true)]) {
        const value = handAvro(record, { blocks })
        expect(agree([value])).toEqual(['ok'])
        expect(fastPath([value]).bytes.equals(expected)).toBe(true)
      }
      expect(fastPath([avro(record)]).bytes.equals(expected)).toBe(true)
    }
  })

  it('skips a negative block’s byte size without checking it, as avsc does', () => {
    const record = log({ attributes: { k: 'v', l: 'w' } })
    for (const blockSize of [() => 0, () => 999_999, () => -5, (n: number) => n + 1]) {
      const value = handAvro(record, { blocks: blocksOf(1, true), blockSize })
      expect(agree([value])).toEqual(['ok'])
      expect(fastPath([value]).bytes.equals(encode(record))).toBe(true)
    }
  })

  it('writes a map as avsc’s object holds it: index-like keys first, a repeated key once with its last value, no __proto__', () => {
    const cases: Entries[] = [
      [['b', '1'], ['10', '2'], ['a', '3'], ['2', '4'], ['01', '5'], ['4294967295', '6'], ['4294967294', '7']],
      [['a', '1'], ['b', '2'], ['a', '3']],
      [['x', '1'], ['__proto__', '2'], ['y', '3']],
      [['__proto_', '1'], ['__proto__x', '2'], ['_', '3']],
      [['', '1'], ['', '2']],
      [['é', '1'], [Buffer.from([0xc3, 0xa9]), '2']], // the same key, once as a string and once as bytes
      [[Buffer.from([0xff]), '1'], [Buffer.from([0xfe]), '2']], // two bad keys that both decode to U+FFFD
      [['k', Buffer.from([0xe2, 0x82])], ['l', Buffer.from([0xed, 0xa0, 0x80])]], // bad values in a plain map
      [['0', 'zero'], ['7', 'seven']],
    ]
    for (const entries of cases) {
      for (const blocks of [oneBlock, blocksOf(2, true)]) {
        const value = handAvro(log(), { entries: { attributes: entries, resource: entries }, blocks })
        expect(agree([value])).toEqual(['ok'])
      }
    }
    // What that means, spelled out once.
    const object = codec.decodeSync(handAvro(log(), { entries: { attributes: cases[0]! } }))!.attributes
    expect(Object.keys(object)).toEqual(['2', '10', '4294967294', 'b', 'a', '01', '4294967295'])
  })

  it('agrees with the codec and the encoder on random maps of awkward keys, in random blocks', () => {
    const rand = prng(5)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
    const keys: Raw[] = ['a', 'b', 'ab', '1', '01', '10', '9x', '4294967294', '__proto__', '_x', 'é', '日本', '😀', '', Buffer.from([0xff]), Buffer.from([0xc3])]
    const values: Raw[] = ['', 'v', 'é', '😀'.repeat(20), 'x'.repeat(300), Buffer.from([0xf0, 0x9f, 0x98]), Buffer.from([0xc0, 0x80])]
    const batch: Buffer[] = []
    for (let i = 0; i < 2000; i++) {
      const entries = Array.from({ length: Math.floor(rand() * 12) }, () => [pick(keys), pick(values)] as const)
      const blocks = pick([oneBlock, blocksOf(1, false), blocksOf(3, true), blocksOf(2, false)])
      batch.push(handAvro(log({ id: `m${i}` }), { entries: { attributes: entries, resource: entries.slice(0, 3) }, blocks }))
    }
    expect(agree(batch).every((o) => o === 'ok')).toBe(true)
  })

  it('writes strings that are not UTF-8 as avsc decodes them and the encoder writes them (U+FFFD)', () => {
    const bad = [
      [0xff],
      [0x61, 0x80, 0x62],
      [0xc0, 0xaf], // over-long '/'
      [0xe0, 0x80, 0xaf],
      [0xed, 0xa0, 0x80], // a surrogate
      [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
      [0xf0, 0x9f, 0x98], // cut short
      [0xe2, 0x82, 0xac, 0xe2, 0x82], // good € then a cut one
    ].map((b) => Buffer.from(b))
    const long = (b: Buffer) => Buffer.concat([Buffer.alloc(300, 0x61), b, Buffer.alloc(10, 0x62)])
    const values = bad.flatMap((b) => [
      handAvro(log(), { raw: { message: b, host: b, user_id: long(b), template: long(b) } }),
      handAvro(log(), { raw: { id: b, level: b, parsed_format: b } }),
    ])
    expect(agree(values)).toEqual(values.map(() => 'ok'))
  })

  it('reads over-long varints, any non-zero byte as true, and every int as avsc does', () => {
    const records = [log(), log({ severity_number: -1, http_status: 65_535 }), log({ severity_number: 300, http_status: -(2 ** 31) })]
    const padded = records.flatMap((r) => [1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 20].map((pad) => handAvro(r, { pad })))
    // The bigint long reads at most 10 bytes: a longer timestamp leaves bytes behind, in both paths.
    expect(agree(padded)).toEqual(records.flatMap(() => [...Array(8).fill('ok'), ...Array(3).fill('DECODE_FAILED')]))
    const values = [handAvro(log(), { trueByte: 2 }), handAvro(log(), { trueByte: 0xff })]
    // ints past 32 bits: avsc reads them into numbers (in float arithmetic past 28 bits) and refuses none.
    for (const n of [2 ** 28, 2 ** 40, -(2 ** 40), 2 ** 53 + 2, -(2 ** 60), 2 ** 62, -(2n ** 63n), 2n ** 63n - 1n]) {
      values.push(handAvro(log(), { fields: { severity_number: zz(n), http_status: Buffer.concat([zz(1), zz(n)]) } }))
    }
    // A varint of 160 bytes: avsc's float arithmetic overflows to Infinity, then NaN.
    const huge = (last: number) => Buffer.concat([Buffer.alloc(159, 0xff), Buffer.from([last])])
    values.push(handAvro(log(), { fields: { severity_number: huge(0x7f), http_status: Buffer.concat([zz(1), huge(0x7f)]) } }))
    values.push(handAvro(log(), { fields: { severity_number: Buffer.concat([Buffer.alloc(159, 0x80), Buffer.from([0x7e])]) } }))
    expect(agree(values)).toEqual(values.map(() => 'ok'))
    const severity = (bytes: Buffer) => fastPath([handAvro(log(), { fields: { severity_number: bytes } })]).bytes
    expect(severity(zz(2 ** 40)).equals(encode(log({ severity_number: 255 })))).toBe(true)
    expect(severity(zz(-(2 ** 40))).equals(encode(log({ severity_number: 0 })))).toBe(true)
  })

  it('reads a map count of NaN (a varint too long for a double) as the end of the map, as avsc does', () => {
    const nan = Buffer.concat([Buffer.alloc(150, 0x80), Buffer.from([0x00])])
    const value = handAvro(log(), { fields: { attributes: Buffer.concat([zz(1), str('k'), str('v'), nan]) } })
    expect(agree([value])).toEqual(['ok'])
    expect(fastPath([value]).bytes.equals(encode(log({ attributes: { k: 'v' } })))).toBe(true)
  })

  it('returns foreign for another schema id, appending nothing', () => {
    const t = newTranscoder()
    t.append(avro(log({ id: 'a' })))
    const before = t.byteLength
    expect(t.append(frame(type.toBuffer(log()), ID + 1))).toBe('foreign')
    expect(t.append(frame(Buffer.from([1, 2, 3]), -1))).toBe('foreign')
    expect([t.byteLength, t.rowCount]).toEqual([before, 1])
    expect(slowPath([frame(type.toBuffer(log()), ID + 1)]).outcomes).toEqual(['foreign'])
  })

  it('refuses values that are not Confluent-framed Avro of the schema, as the codec does', () => {
    const good = avro(log())
    const unionIndex = (index: number) => handAvro(log(), { fields: { host: Buffer.concat([zz(index), str('h')]) } })
    const cases = {
      null: null,
      empty: Buffer.alloc(0),
      'header only': good.subarray(0, 5),
      'short header': good.subarray(0, 3),
      'bad magic': Buffer.concat([Buffer.from([1]), good.subarray(1)]),
      'trailing byte': Buffer.concat([good, Buffer.from([0])]),
      'trailing bytes': Buffer.concat([good, good]),
      'union index 2': unionIndex(2),
      'union index -1': unionIndex(-1),
      'union index 2 of http_status': handAvro(log(), { fields: { http_status: Buffer.concat([zz(2), zz(200)]) } }),
      'negative length': handAvro(log(), { fields: { id: zz(-1) } }),
      // Varints too long for a double: avsc's length becomes NaN or Infinity.
      'NaN length': handAvro(log(), { fields: { id: Buffer.concat([Buffer.alloc(150, 0x80), Buffer.from([0x00]), Buffer.from('r1')]) } }),
      'Infinity length': handAvro(log(), { fields: { message: Buffer.concat([Buffer.alloc(159, 0xff), Buffer.from([0x7e])]) } }),
      'negative length of a map key': handAvro(log(), { fields: { attributes: Buffer.concat([zz(1), zz(-3), str('v'), zz(0)]) } }),
      'length past the end': handAvro(log(), { fields: { parsed_format: Buffer.concat([zz(1), zz(10), Buffer.from('access')]) } }),
      'double past the end': handAvro(log(), { fields: { duration_ms: Buffer.concat([zz(1), Buffer.alloc(7)]) } }).subarray(0, -6),
    }
    const values = Object.values(cases)
    expect(agree(values)).toEqual(values.map(() => 'DECODE_FAILED'))
    expect(thrown(() => newTranscoder().append(null)).message).toBe('record too short for the Confluent wire format (0 bytes)')
    expect(thrown(() => newTranscoder().append(cases['bad magic'])).message).toMatch(/magic byte 1/)
  })

  it('refuses a map block count larger than the bytes left, without reading on (avsc would loop over it)', () => {
    for (const count of [2 ** 40, -(2 ** 40), 1000]) {
      const value = handAvro(log(), { fields: { attributes: Buffer.concat([zz(count), ...(count < 0 ? [zz(0)] : []), str('k'), str('v'), zz(0)]) } })
      const err = thrown(() => newTranscoder().append(value))
      expect([err.code, err.message]).toEqual(['DECODE_FAILED', expect.stringMatching(/map block of/)])
    }
  })

  it('refuses a value cut at any byte, leaving the rows before it intact', () => {
    const full = log({ attributes: { a: '1', é: '😀', long: 'z'.repeat(400) }, message: 'm'.repeat(300) })
    const refused = log({ id: 'refused', timestamp: MIN_NS - 1n })
    for (const record of [full, log({ host: null, duration_ms: null, attributes: {}, resource: {} }), refused]) {
      for (const value of [avro(record), handAvro(record, { blocks: blocksOf(1, true), pad: 3 })]) {
        const t = newTranscoder(32)
        const good = avro(log({ id: 'good' }))
        t.append(good)
        const cuts = Array.from({ length: value.length }, (_, n) => value.subarray(0, n))
        for (const cut of cuts) {
          expect(thrown(() => t.append(cut)).code).toBe('DECODE_FAILED')
          expect(t.rowCount).toBe(1)
        }
        t.append(good)
        expect(t.finish().bytes.equals(encode(log({ id: 'good' }), log({ id: 'good' })))).toBe(true)
        expect(slowPath(cuts).outcomes.every((o) => o === 'DECODE_FAILED')).toBe(true)
      }
    }
  })

  it('agrees with the codec and the encoder on damaged values: random bytes changed, dropped or added', () => {
    const rand = prng(99)
    const gen = new EnrichedGenerator({ seed: 3 })
    const sources = [
      ...Array.from({ length: 20 }, (_, i) => avro(gen.next(1_763_899_200_000 + i))),
      handAvro(log(), { blocks: blocksOf(2, true) }),
      avro(log({ timestamp: MIN_NS + 3n })),
    ]
    let compared = 0
    for (let i = 0; i < 20_000; i++) {
      const source = sources[i % sources.length]!
      const at = 5 + Math.floor(rand() * (source.length - 5))
      const byte = Buffer.from([Math.floor(rand() * 256)])
      const kind = rand()
      const value =
        kind < 0.7
          ? Buffer.concat([source.subarray(0, at), byte, source.subarray(at + 1)])
          : kind < 0.85
            ? Buffer.concat([source.subarray(0, at), source.subarray(at + 1)])
            : Buffer.concat([source.subarray(0, at), byte, source.subarray(at)])
      let fast: string
      try {
        fast = newTranscoder().append(value)
      } catch (err) {
        // avsc may spin for minutes on a huge map count before it finds the end: not compared.
        if (err instanceof SluiceError && /map block of/.test(err.message)) continue
        fast = outcome(err)
      }
      const slow = slowPath([value])
      expect(fast).toBe(slow.outcomes[0])
      if (fast === 'ok') expect(fastPath([value]).bytes.equals(slow.bytes)).toBe(true)
      compared++
    }
    expect(compared).toBeGreaterThan(19_000)
  })

  it('hands out a copy the caller owns, and starts over after it', () => {
    const t = newTranscoder(64)
    t.append(avro(log({ id: 'a' })))
    const first = t.finish()
    const snapshot = Buffer.from(first.bytes)
    for (let i = 0; i < 100; i++) t.append(avro(log({ id: `n${i}` })))
    expect(first.bytes.equals(snapshot)).toBe(true)
    expect(first.rowCount).toBe(1)
    const second = t.finish()
    expect(second.rowCount).toBe(100)
    expect(second.bytes.equals(encode(...Array.from({ length: 100 }, (_, i) => log({ id: `n${i}` }))))).toBe(true)
    expect([t.byteLength, t.rowCount, t.finish().bytes.length]).toEqual([0, 0, 0])
  })
})

describe('LogTranscoder.for', () => {
  type Field = { name: string; type: unknown } & Record<string, unknown>
  const fields = (schema as { fields: Field[] }).fields
  const withFields = (f: Field[]) => ({ ...schema, fields: f })
  const retyped = (name: string, t: unknown) => withFields(fields.map((f) => (f.name === name ? { ...f, type: t } : f)))

  it('takes the schema in schemas/, however its types are spelled', () => {
    expect(transcoderMismatch(schema)).toBeUndefined()
    expect(LogTranscoder.for(ID, schema)).toBeInstanceOf(LogTranscoder)
    const respelled = withFields(fields.map(({ name, type }) => ({ name, type: typeof type === 'string' ? { type } : type })))
    expect(transcoderMismatch(respelled)).toBeUndefined()
  })

  it('turns the fast path off for any other field layout', () => {
    const swapped = [...fields]
    ;[swapped[4], swapped[6]] = [swapped[6]!, swapped[4]!] // service ↔ severity_text: both strings
    const others = {
      'an extra field': withFields([...fields, { name: 'region', type: ['null', 'string'], default: null }]),
      'an extra field in the middle': withFields([...fields.slice(0, 3), { name: 'x', type: 'string' }, ...fields.slice(3)]),
      'a field less': withFields(fields.slice(0, -1)),
      'two fields swapped': withFields(swapped),
      'a field renamed': withFields(fields.map((f) => (f.name === 'level' ? { ...f, name: 'lvl' } : f))),
      'int → long': retyped('severity_number', 'long'),
      'timestamp-nanos → timestamp-micros': retyped('timestamp', { type: 'long', logicalType: 'timestamp-micros' }),
      'no logical type': retyped('observed_timestamp', 'long'),
      'a logical type added': retyped('id', { type: 'string', logicalType: 'uuid' }),
      'union branches swapped': retyped('host', ['string', 'null']),
      'union widened': retyped('http_status', ['null', 'int', 'string']),
      'union → plain': retyped('user_id', 'string'),
      'plain → union': retyped('tenant', ['null', 'string']),
      'double → float': retyped('duration_ms', ['null', 'float']),
      'map of bytes': retyped('attributes', { type: 'map', values: 'bytes' }),
      'array instead of map': retyped('resource', { type: 'array', items: 'string' }),
      'enum instead of string': retyped('level', { type: 'enum', name: 'Level', symbols: ['INFO'] }),
      'a named type': retyped('source', 'io.sluice.v1.Source'),
      'not a record': { type: 'map', values: 'string' },
      'no fields': { type: 'record', name: 'EnrichedLog' },
    }
    for (const [what, other] of Object.entries(others)) {
      expect([what, transcoderMismatch(other)]).toEqual([what, expect.any(String)])
      expect(LogTranscoder.for(ID, other)).toBeUndefined()
    }
  })

  it('turns the fast path off when the encoder’s columns change', () => {
    expect(transcoderMismatch(schema, LOG_COLUMNS)).toBeUndefined()
    expect(transcoderMismatch(schema, LOG_COLUMNS.slice(0, -1))).toMatch(/columns/)
    expect(transcoderMismatch(schema, LOG_COLUMNS.map(([n, t]) => (n === 'SeverityNumber' ? ([n, 'UInt16'] as const) : ([n, t] as const))))).toMatch(/columns/)
  })
})

describe('isWellFormedUtf8', () => {
  // Well-formed means: Buffer decodes and encodes it back unchanged — the copy is then exact.
  const roundTrips = (b: Buffer) => Buffer.from(b.toString('utf8')).equals(b)

  it('accepts exactly the byte strings that survive a decode and encode, for every 1- and 2-byte string', () => {
    for (let a = 0; a < 256; a++) {
      for (let b = -1; b < 256; b++) {
        const bytes = Buffer.from(b < 0 ? [a] : [a, b])
        if (isWellFormedUtf8(bytes, 0, bytes.length) !== roundTrips(bytes)) throw new Error(`differs on ${bytes.toString('hex')}`)
      }
    }
  })

  it('does so for 3- and 4-byte strings around every boundary, and random ones', () => {
    const edges = [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff]
    const cases: Buffer[] = []
    for (let lead = 0xc0; lead < 0x100; lead++) {
      for (const b1 of edges) for (const b2 of edges) {
        cases.push(Buffer.from([lead, b1, b2]))
        for (const b3 of edges) cases.push(Buffer.from([lead, b1, b2, b3]))
      }
    }
    const rand = prng(1)
    for (let i = 0; i < 100_000; i++) {
      cases.push(Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 8) }, () => (rand() < 0.5 ? edges[Math.floor(rand() * edges.length)]! : Math.floor(rand() * 256)))))
    }
    for (const bytes of cases) {
      const padded = Buffer.concat([Buffer.from([0xe2]), bytes, Buffer.from([0x82])]) // checks stay inside [from, to)
      if (isWellFormedUtf8(padded, 1, padded.length - 1) !== roundTrips(bytes) || roundTrips(bytes) !== isUtf8(bytes)) {
        throw new Error(`differs on ${bytes.toString('hex')}`)
      }
    }
  })
})
