// Event timestamps in one unit: nanoseconds since the Unix epoch as a bigint (a double cannot
// hold epoch nanoseconds exactly). Inputs: ISO-8601 / RFC 3339 strings (with up to 9 fractional
// digits), or epoch numbers in seconds, milliseconds, microseconds or nanoseconds, told apart by
// magnitude the way Vector and Loki clients do.

const NS_PER_MS = 1_000_000n
const NS_PER_S = 1_000_000_000n

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

/**
 * An epoch decimal `int.frac` exactly (a double holds ~16 digits: a time in seconds with nine
 * decimals lost its last three), to the nanosecond; digits beyond it are dropped, as in RFC 3339.
 */
function fromEpochDecimal(int: string, frac: string): bigint {
  const n = Number(int)
  // Decimals down to the nanosecond: 9 of seconds, 6 of ms, 3 of µs, none of ns.
  const kept = n < S_MAX ? 9 : n < MS_MAX ? 6 : n < US_MAX ? 3 : 0
  return BigInt(int + frac.slice(0, kept).padEnd(kept, '0'))
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** The value of the `n` ASCII digits of `s` from `at`, or -1 if one is not a digit. */
function digits(s: string, at: number, n: number): number {
  let v = 0
  for (let i = at; i < at + n; i++) {
    const d = s.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -1
    v = v * 10 + d
  }
  return v
}

/**
 * The shape nearly every client sends, `YYYY-MM-DDTHH:MM:SS[.fraction]Z` in UTC, read without a
 * regex or Date.parse (the gateway's hot path); undefined for anything else, including dates it
 * would have to think about (out-of-range fields, years before 1970): the general parser decides.
 */
function fromUtcIso(s: string): bigint | undefined {
  const n = s.length
  if (n < 20 || (s.charCodeAt(n - 1) | 0x20) !== 0x7a /* z */) return undefined
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return undefined
  const t = s.charCodeAt(10)
  if (t !== 84 && t !== 116 && t !== 32) return undefined
  const year = digits(s, 0, 4)
  const month = digits(s, 5, 2)
  const day = digits(s, 8, 2)
  const hour = digits(s, 11, 2)
  const minute = digits(s, 14, 2)
  const second = digits(s, 17, 2)
  if (year < 1970 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined
  if (day > daysIn(year, month)) return undefined
  let fraction = 0
  if (n > 20) {
    // Up to nine fraction digits count; more are read and ignored, as the general parser does.
    const sep = s.charCodeAt(19)
    if ((sep !== 46 && sep !== 44) || n === 21) return undefined
    const kept = Math.min(9, n - 21)
    fraction = digits(s, 20, kept)
    if (fraction < 0 || digits(s, 20 + kept, n - 21 - kept) < 0) return undefined
    for (let i = kept; i < 9; i++) fraction *= 10
  }
  return BigInt(Date.UTC(year, month - 1, day, hour, minute, second)) * NS_PER_MS + BigInt(fraction)
}

function daysIn(year: number, month: number): number {
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  return DAYS_IN_MONTH[month - 1]! + (leap ? 1 : 0)
}

/**
 * ISO-8601 in any of its accepted shapes, by regex and Date.parse (fromUtcIso is the fast path).
 * The day is checked against its month first: Date.parse rolls 2026-02-30 over to March 2nd. A
 * leap second (RFC 3339's :60) is the last nanosecond of the minute before it.
 */
function fromIso(s: string): bigint | undefined {
  const m = ISO.exec(s)
  if (!m) return undefined
  const [, date = '', hms = '', frac = '', zone = 'Z'] = m
  const month = digits(date, 5, 2)
  if (month < 1 || month > 12 || digits(date, 8, 2) > daysIn(digits(date, 0, 4), month)) return undefined
  const leapSecond = hms.length === 8 && hms.endsWith(':59:60')
  const time = leapSecond ? `${hms.slice(0, 6)}59` : hms
  const ms = Date.parse(`${date}T${time}${zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone}`)
  if (Number.isNaN(ms)) return undefined
  return BigInt(ms) * NS_PER_MS + (leapSecond ? NS_PER_S - 1n : BigInt(frac.padEnd(9, '0')))
}

/** The latest time a LogEvent holds: epoch ns in a signed 64-bit long (Avro), 2262-04-11. */
export const MAX_TIMESTAMP_NS = 2n ** 63n - 1n

/**
 * The latest event time Sluice accepts, 2096-01-01T00:00:00Z: the latest storage keeps. A log
 * row's TimestampTime is a ClickHouse DateTime (UInt32 seconds, ending 2106-02-07T06:28:15Z), and
 * so is its TTL, TimestampTime + RetentionDays (schemas/clickhouse 0001, 0011; the derived tables
 * alike). Past that end either one wraps round to 1970 and after: the row lands in a part already
 * expired and is dropped at once, after the gateway answered 2xx. The longest retention is 3650
 * days (a tenant's retention_days, CLICKHOUSE_TTL_DAYS), so an event may be no later than 3650
 * days before the end, 2096-02-09T06:28:15Z — rounded down to the year's start; timestamp.test.ts
 * checks the arithmetic. MAX_TIMESTAMP_NS stays the bound of what a LogEvent can hold
 * (formatting, query cursors); this is the bound of what is ingested and stored.
 */
export const LATEST_EVENT_NS = 3_976_214_400_000_000_000n

/** Why an event time after LATEST_EVENT_NS is refused, one wording for every door. */
export const AFTER_LATEST_EVENT = "after 2096-01-01T00:00:00Z, the latest time storage keeps (ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days)"

function inRange(ns: bigint | undefined): bigint | undefined {
  return ns === undefined || ns < 0n || ns > MAX_TIMESTAMP_NS ? undefined : ns
}

/** Parses a timestamp; undefined when it cannot be understood or lies outside 1970–2262. */
export function parseTimestampNs(input: string | number | bigint): bigint | undefined {
  if (typeof input === 'bigint') return inRange(input)
  if (typeof input === 'number') return inRange(fromEpochNumber(input))
  // A '-' at 4 is no epoch number: a date, read in its common shape first, without trimming.
  if (input.length >= 20 && input.charCodeAt(4) === 45) return inRange(fromUtcIso(input) ?? fromIso(input.trim()))
  const s = input.trim()
  if (/^\d+$/.test(s)) {
    // Integer strings keep full precision for nanoseconds.
    return inRange(s.length >= 18 ? BigInt(s) : fromEpochNumber(Number(s)))
  }
  const decimal = /^(\d+)\.(\d+)$/.exec(s)
  if (decimal) return inRange(fromEpochDecimal(decimal[1]!, decimal[2]!))
  return inRange(fromUtcIso(s) ?? fromIso(s))
}

const secondText = (second: number) => new Date(second * 1000).toISOString().slice(0, 19)

// The date-time text of recent seconds, by the last two digits of the second: a record's event
// time and the time Sluice saw it often fall in different seconds, and the events of a batch spread
// over seconds, so one remembered second was made again on most calls (~1 µs each).
const SECOND_SLOTS = 100
const slotSecond: string[] = new Array<string>(SECOND_SLOTS).fill('')
const slotText: string[] = new Array<string>(SECOND_SLOTS).fill('')

/**
 * RFC 3339 with nanoseconds, e.g. 2026-11-23T12:00:00.123456789Z, for any signed 64-bit count
 * (1677-09-21 to 2262-04-11: four-digit years, as RFC 3339 requires).
 */
export function formatNs(ns: bigint): string {
  if (ns >= NS_PER_S) {
    // From 1 s on, the decimal digits are the second and then the nine of the fraction.
    const digits = ns.toString()
    const n = digits.length - 9
    const second = digits.slice(0, n)
    const slot = digits.charCodeAt(n - 1) - 48 + (n > 1 ? 10 * (digits.charCodeAt(n - 2) - 48) : 0)
    let text = slotText[slot]!
    if (slotSecond[slot] !== second) {
      text = slotText[slot] = secondText(Number(second))
      slotSecond[slot] = second
    }
    return `${text}.${digits.slice(n)}Z`
  }
  let second = ns / NS_PER_S
  let fraction = ns % NS_PER_S
  // Bigint division truncates toward zero: before 1970 the second is the one before, and the
  // fraction counts forward from it (-0.5 s is 23:59:59.5).
  if (fraction < 0n) {
    second -= 1n
    fraction += NS_PER_S
  }
  return `${secondText(Number(second))}.${fraction.toString().padStart(9, '0')}Z`
}
