import { describe, expect, it } from 'vitest'
import { formatNs, parseTimestampNs } from './timestamp.js'

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

  it('rejects what it cannot read', () => {
    expect(parseTimestampNs('yesterday')).toBeUndefined()
    expect(parseTimestampNs('2025-13-45T00:00:00Z')).toBeUndefined()
    expect(parseTimestampNs(-5)).toBeUndefined()
  })

  it('formats nanoseconds as RFC 3339 without losing digits', () => {
    expect(formatNs(NS)).toBe('2025-11-23T12:00:00.123456789Z')
  })
})
