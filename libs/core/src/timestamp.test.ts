import { describe, expect, it } from 'vitest'
import { LATEST_EVENT_NS, MAX_TIMESTAMP_NS, formatNs, parseTimestampNs } from './timestamp.js'

const NS = 1_763_899_200_123_456_789n // 2025-11-23T12:00:00.123456789Z

describe('parseTimestampNs', () => {
  it('parses RFC 3339 with nanoseconds', () => {
    expect(parseTimestampNs('2025-11-23T12:00:00.123456789Z')).toBe(NS)
  })

  it('parses offsets and fewer fractional digits', () => {
    expect(parseTimestampNs('2025-11-23T13:00:00.5+01:00')).toBe(1_763_899_200_500_000_000n)
    expect(parseTimestampNs('2025-11-23 12:00:00')).toBe(1_763_899_200_000_000_000n)
  })

  it('tells epoch seconds, milliseconds, microseconds and nanoseconds apart by magnitude', () => {
    expect(parseTimestampNs(1_763_899_200)).toBe(1_763_899_200_000_000_000n)
    expect(parseTimestampNs(1_763_899_200.25)).toBe(1_763_899_200_250_000_000n)
    expect(parseTimestampNs(1_763_899_200_123)).toBe(1_763_899_200_123_000_000n)
    expect(parseTimestampNs(1_763_899_200_123_456)).toBe(1_763_899_200_123_456_000n)
    expect(parseTimestampNs('1763899200123456789')).toBe(NS)
  })

  it('reads an epoch decimal as text to the nanosecond, which a double cannot hold', () => {
    expect(parseTimestampNs('1763899200.123456789')).toBe(NS)
    expect(parseTimestampNs('1763899200.1234567891234')).toBe(NS)
    expect(parseTimestampNs('1763899200.5')).toBe(1_763_899_200_500_000_000n)
    expect(parseTimestampNs('1763899200123.456789')).toBe(NS)
    expect(parseTimestampNs('1763899200123456.789')).toBe(NS)
    expect(parseTimestampNs('1763899200123456789.9')).toBe(NS)
  })

  it('refuses a day its month does not have (Date.parse would roll it into the next month)', () => {
    for (const s of ['2026-02-30T00:00:00Z', '2026-04-31T08:00:00+02:00', '2026-02-29T12:00:00Z', '2026-02-29 12:00:00', '2100-02-29T00:00:00.5Z']) expect(parseTimestampNs(s), s).toBeUndefined()
    expect(parseTimestampNs('2024-02-29T12:00:00+01:00')).toBe(1_709_204_400_000_000_000n)
    expect(parseTimestampNs('2000-02-29T00:00:00Z')).toBe(951_782_400_000_000_000n)
  })

  it('reads a leap second (RFC 3339 :60) as the last nanosecond of the minute before it', () => {
    expect(parseTimestampNs('2016-12-31T23:59:60Z')).toBe(1_483_228_799_999_999_999n)
    expect(parseTimestampNs('2017-01-01T00:59:60.25+01:00')).toBe(1_483_228_799_999_999_999n)
    expect(parseTimestampNs('2016-12-31T23:58:60Z')).toBeUndefined()
  })

  it('rejects what it cannot read', () => {
    expect(parseTimestampNs('yesterday')).toBeUndefined()
    expect(parseTimestampNs('2025-13-45T00:00:00Z')).toBeUndefined()
    expect(parseTimestampNs(-5)).toBeUndefined()
  })

  it('reads the common UTC shape the same way as the general parser, and leaves everything else to it', () => {
    // The general parser alone: a zone offset of +00:00 takes it, with the same instant.
    const general = (s: string) => parseTimestampNs(s.replace(/[zZ]$/, '+00:00'))
    let seed = 7
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n)
    const pad = (v: number, w: number) => String(v).padStart(w, '0')
    for (let i = 0; i < 20_000; i++) {
      const year = 1960 + rand(100)
      const parts = [pad(year, 4), '-', pad(rand(14), 2), '-', pad(rand(33), 2), ['T', 't', ' '][rand(3)], pad(rand(26), 2), ':', pad(rand(61), 2), ':', pad(rand(61), 2)]
      const frac = rand(4) === 0 ? '' : `${['.', ','][rand(2)]}${String(rand(10 ** 9)).padStart(rand(12) + 1, '0')}`
      const s = `${parts.join('')}${frac}${['Z', 'z'][rand(2)]}`
      expect(parseTimestampNs(s), s).toBe(general(s))
    }
    for (const s of ['2024-02-29T00:00:00Z', '2023-02-29T00:00:00Z', '2000-02-29T23:59:59.999999999Z', '1900-02-29T00:00:00Z', '2025-11-23T12:00:00.Z', '2025-11-23T12:00:00.1234567891234Z', '2025-11-23T12:00:00.12a4Z']) {
      expect(parseTimestampNs(s), s).toBe(general(s))
    }
    expect(parseTimestampNs('2025-11-23T12:00:00.123456789Z')).toBe(NS)
  })

  it('formats nanoseconds as RFC 3339 without losing digits', () => {
    expect(formatNs(NS)).toBe('2025-11-23T12:00:00.123456789Z')
  })

  it('formats every time alike whichever second it formatted before', () => {
    const reference = (ns: bigint) => `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`
    const times = [0n, 999_999_999n, 1_000_000_000n, NS, NS + 1n, NS - 123_456_790n, NS + 876_543_211n, NS + 86_400_000_000_000n, NS, 9_223_372_036_854_775_807n]
    for (let i = 0; i < 200; i++) times.push(NS + BigInt(Math.floor(Math.random() * 5e9)) * (i % 3 === 0 ? 1_000_000n : 1n))
    // Seconds 100 apart share a slot of the cache; event times spread over a minute beside "now".
    for (let i = 0; i < 50; i++) times.push(NS + BigInt(i % 2) * 100_000_000_000n + BigInt(i), NS - BigInt(Math.floor(Math.random() * 60e9)))
    times.push(1_000_000_000n, 9_000_000_000n, 10_000_000_000n, 99_999_999_999n, 100_000_000_000n)
    for (const ns of times) {
      expect(formatNs(ns), String(ns)).toBe(reference(ns))
      expect(parseTimestampNs(formatNs(ns)), String(ns)).toBe(ns)
    }
  })

  it('formats times before 1970 as RFC 3339, the fraction counted forward from the second before', () => {
    expect(formatNs(-1n)).toBe('1969-12-31T23:59:59.999999999Z')
    expect(formatNs(-500_000_000n)).toBe('1969-12-31T23:59:59.500000000Z')
    expect(formatNs(-1_000_000_000n)).toBe('1969-12-31T23:59:59.000000000Z')
    expect(formatNs(-3_598_500_000_000n)).toBe('1969-12-31T23:00:01.500000000Z')
    expect(formatNs(-(2n ** 63n))).toBe('1677-09-21T00:12:43.145224192Z')
    const rfc3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/
    for (let i = 0; i < 200; i++) {
      const ns = -BigInt(Math.floor(Math.random() * 4e9)) * 1_000_000_000n - BigInt(Math.floor(Math.random() * 1e9))
      const text = formatNs(ns)
      expect(text, String(ns)).toMatch(rfc3339)
      // Date reads whole milliseconds: the text's instant, less its sub-millisecond digits, is ns floored to one.
      const floorMs = ns / 1_000_000n - (ns % 1_000_000n < 0n ? 1n : 0n)
      expect(BigInt(Date.parse(text)), text).toBe(floorMs)
      expect(text.slice(23, 29)).toBe(((((ns % 1_000_000n) + 1_000_000n) % 1_000_000n).toString().padStart(6, '0')))
    }
  })

  it('refuses times a LogEvent cannot hold (past 2262 or before 1970)', () => {
    expect(parseTimestampNs('99999999999999999999')).toBeUndefined()
    expect(parseTimestampNs('9223372036854775807')).toBe(9_223_372_036_854_775_807n)
    expect(parseTimestampNs('9999-01-01T00:00:00Z')).toBeUndefined()
    expect(parseTimestampNs(1e30)).toBeUndefined()
    expect(parseTimestampNs(-5n)).toBeUndefined()
  })
})

describe('LATEST_EVENT_NS', () => {
  it('is 2096-01-01, early enough that the longest retention still ends inside a ClickHouse DateTime', () => {
    expect(formatNs(LATEST_EVENT_NS)).toBe('2096-01-01T00:00:00.000000000Z')
    const dateTimeEndS = 2n ** 32n - 1n // 2106-02-07T06:28:15Z
    const longestRetentionS = 3650n * 86_400n // retention_days and CLICKHOUSE_TTL_DAYS at most 3650
    expect(LATEST_EVENT_NS / 1_000_000_000n + longestRetentionS).toBeLessThanOrEqual(dateTimeEndS)
    expect(LATEST_EVENT_NS).toBeLessThan(MAX_TIMESTAMP_NS)
  })
})
