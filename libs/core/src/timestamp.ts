// Event timestamps in one unit: nanoseconds since the Unix epoch as a bigint (a double cannot
// hold epoch nanoseconds exactly). Inputs: ISO-8601 / RFC 3339 strings (with up to 9 fractional
// digits), or epoch numbers in seconds, milliseconds, microseconds or nanoseconds, told apart by
// magnitude the way Vector and Loki clients do.

const NS_PER_MS = 1_000_000n

// Magnitude bounds for epoch numbers (years ~1973..5138 in each unit).
const S_MAX = 1e11
const MS_MAX = 1e14
const US_MAX = 1e17

const ISO = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d{1,9})\d*)?(Z|[+-]\d{2}:?\d{2})?$/i

export function nowNs(): bigint {
  return BigInt(Date.now()) * NS_PER_MS
}

function fromEpochNumber(n: number): bigint | undefined {
  if (!Number.isFinite(n) || n < 0) return undefined
  if (n < S_MAX) return BigInt(Math.round(n * 1e6)) * 1000n
  if (n < MS_MAX) return BigInt(Math.round(n * 1000)) * 1000n
  if (n < US_MAX) return BigInt(Math.round(n)) * 1000n
  return BigInt(Math.round(n))
}

function fromIso(s: string): bigint | undefined {
  const m = ISO.exec(s)
  if (!m) return undefined
  const [, date, time, frac = '', zone = 'Z'] = m
  const ms = Date.parse(`${date}T${time}${zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone}`)
  if (Number.isNaN(ms)) return undefined
  return BigInt(ms) * NS_PER_MS + BigInt(frac.padEnd(9, '0'))
}

/** Parses a timestamp; undefined when it cannot be understood. */
export function parseTimestampNs(input: string | number | bigint): bigint | undefined {
  if (typeof input === 'bigint') return input >= 0n ? input : undefined
  if (typeof input === 'number') return fromEpochNumber(input)
  const s = input.trim()
  if (/^\d+$/.test(s)) {
    // Integer strings keep full precision for nanoseconds.
    return s.length >= 18 ? BigInt(s) : fromEpochNumber(Number(s))
  }
  if (/^\d+\.\d+$/.test(s)) return fromEpochNumber(Number(s))
  return fromIso(s)
}

/** RFC 3339 with nanoseconds, e.g. 2026-11-23T12:00:00.123456789Z. */
export function formatNs(ns: bigint): string {
  const ms = ns / NS_PER_MS
  const iso = new Date(Number(ms)).toISOString()
  return `${iso.slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`
}
