// Normalisation of a LogEvent before anything reads it: one severity scale (OTel number and
// canonical text), one timestamp unit (epoch ns), bounded names, a bounded message and a bounded
// string-only attribute map. Bounds protect every later stage (regexes, Drain, ClickHouse rows)
// from one pathological record; a cut is reported through `truncated`, never silent.
import { INPUT_LIMITS, parseSeverity, parseTimestampNs, setOwn, severityFromNumber, truncateUtf8 } from '@sluice/core'
import type { LogEvent, LogSource, Severity } from '@sluice/core'

export interface NormalizeOptions {
  /** Longest service or host name kept, in characters. */
  maxNameChars: number
  /** Longest message kept, in UTF-8 bytes (cut on a character boundary). */
  maxMessageBytes: number
  maxAttributes: number
  maxAttributeKeyChars: number
  maxAttributeValueChars: number
  /** Nesting flattened into dotted keys before the rest is kept as JSON text. */
  maxFlattenDepth: number
}

// Names and maps as wide as the gateway's validator lets them in (INPUT_LIMITS): what a door
// accepted is kept whole, and the caps hold for records produced to Kafka directly.
export const DEFAULT_NORMALIZE_OPTIONS: Readonly<NormalizeOptions> = {
  maxNameChars: INPUT_LIMITS.nameChars,
  maxMessageBytes: 32_768,
  maxAttributes: INPUT_LIMITS.entries,
  maxAttributeKeyChars: INPUT_LIMITS.keyChars,
  maxAttributeValueChars: 4_096,
  maxFlattenDepth: 4,
}

export interface Normalized {
  event: LogEvent
  severity: Severity
  truncated: boolean
}

const INFO = severityFromNumber(9)
// Epoch values below this cannot be nanoseconds of this century: a producer sent s, ms or µs.
const MIN_PLAUSIBLE_NS = 100_000_000_000_000_000n

/** The OTel number when valid (it is the authoritative field), else the text, else INFO. */
export function normalizeSeverity(text: string, num: number): Severity {
  if (Number.isInteger(num) && num >= 1 && num <= 24) return severityFromNumber(num)
  return parseSeverity(text) ?? INFO
}

/**
 * Epoch ns. A record produced to Kafka directly may carry s, ms or µs (rescaled by magnitude) or
 * none (0: `observed`); the doors (gateway, connectors) wrote nanoseconds they validated, and a
 * time in 1970–1973 from them is that time.
 */
export function normalizeTimestampNs(ts: bigint, observed: bigint, source: LogSource = 'kafka'): bigint {
  if (source !== 'kafka') return ts
  if (ts <= 0n) return observed
  if (ts >= MIN_PLAUSIBLE_NS) return ts
  return parseTimestampNs(Number(ts)) ?? observed
}

/** `s` cut to at most `max` UTF-16 units, never between the two halves of a surrogate pair (which no UTF-8 can hold). */
export function cutChars(s: string, max: number): string {
  if (s.length <= max) return s
  const last = s.charCodeAt(max - 1)
  return s.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max)
}

function boundName(name: string, max: number): string {
  return cutChars(name.trim(), max)
}

export { truncateUtf8 }

/** Stringifies a value for a string map: scalars as text, null as '', the rest as JSON. */
export function stringifyValue(v: unknown): string {
  if (typeof v === 'string') return v
  if (v === null || v === undefined) return ''
  if (typeof v === 'object') {
    try {
      return JSON.stringify(v)
    } catch {
      // JSON.parse reads any depth; JSON.stringify runs out of stack (a body of 5 000 nested arrays).
      return '[nested too deeply]'
    }
  }
  return String(v)
}

/**
 * Flattens nested objects into dotted keys ({ http: { status: 500 } } → "http.status": "500"),
 * arrays and objects deeper than `maxDepth` as JSON text. Existing keys in `into` win.
 */
export function flattenInto(into: Record<string, string>, value: Record<string, unknown>, maxDepth: number, prefix = ''): void {
  for (const k in value) {
    const key = prefix === '' ? k : `${prefix}.${k}`
    const v = value[k]
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && maxDepth > 1) {
      flattenInto(into, v as Record<string, unknown>, maxDepth - 1, key)
    } else if (!Object.hasOwn(into, key)) {
      // Own keys only: `constructor` or `toString` in a body is a field like any other.
      setOwn(into, key, stringifyValue(v))
    }
  }
}

/** Whether a string map is within the caps already (the common case: then it is used as it is). */
function withinCaps(attrs: Readonly<Record<string, string>>, o: NormalizeOptions): boolean {
  let count = 0
  for (const k in attrs) {
    const v: unknown = attrs[k]
    if (++count > o.maxAttributes || k.length > o.maxAttributeKeyChars || typeof v !== 'string' || v.length > o.maxAttributeValueChars) return false
  }
  return true
}

/** The string map within the caps (entry count, key length, value length): itself if it is, else a capped copy. */
export function capAttributes(attrs: Readonly<Record<string, string>>, o: NormalizeOptions): { attributes: Readonly<Record<string, string>>; truncated: boolean } {
  if (withinCaps(attrs, o)) return { attributes: attrs, truncated: false }
  const out: Record<string, string> = {}
  let count = 0
  let truncated = false
  for (const k in attrs) {
    if (count === o.maxAttributes) {
      truncated = true
      break
    }
    // Defensive: a JSON-fed producer may slip a non-string past the type.
    const raw: unknown = attrs[k]
    const v = typeof raw === 'string' ? raw : stringifyValue(raw)
    // A key is never cut: two long keys alike at the start would become one, a value lost.
    if (k.length > o.maxAttributeKeyChars) {
      truncated = true
      continue
    }
    if (v.length > o.maxAttributeValueChars) {
      out[k] = cutChars(v, o.maxAttributeValueChars)
      truncated = true
    } else out[k] = v
    count++
  }
  return { attributes: out, truncated }
}

/** Returns a normalised copy of `event`; the input is not modified. */
export function normalizeEvent(event: LogEvent, o: NormalizeOptions = DEFAULT_NORMALIZE_OPTIONS): Normalized {
  const severity = normalizeSeverity(event.severity_text, event.severity_number)
  const message = truncateUtf8(event.message, o.maxMessageBytes)
  const attributes = capAttributes(event.attributes, o)
  const resource = capAttributes(event.resource, o)
  const host = event.host === null ? null : boundName(event.host, o.maxNameChars) || null
  return {
    event: {
      ...event,
      timestamp: normalizeTimestampNs(event.timestamp, event.observed_timestamp, event.source),
      service: boundName(event.service, o.maxNameChars) || 'unknown',
      host,
      severity_text: severity.text,
      severity_number: severity.number,
      message: message.text,
      attributes: attributes.attributes,
      resource: resource.attributes,
    },
    severity,
    truncated: message.truncated || attributes.truncated || resource.truncated,
  }
}
