// Request bodies: one JSON object, a JSON array of objects, or NDJSON (one object per line).
// NDJSON lines that are not JSON, or not UTF-8, become per-record errors rather than failing the
// request; a JSON document that is not UTF-8 is refused whole (there is no record boundary to
// keep the rest by), rather than stored with its bad bytes silently replaced. A UTF-8 byte order
// mark before a JSON body is skipped, as RFC 8259 §8.1 lets a parser do (Windows tools write one);
// NDJSON lines lose theirs with the other white space around a line.
import { isUtf8 } from 'node:buffer'
import type { FieldError } from '@sluice/core'
import { SKIP } from './ingest.js'

export const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines'] as const

export interface ParsedBody {
  records: unknown[]
  /** Indexes that already failed at the JSON level. */
  errors: FieldError[]
  /** An OTLP JSON export request (a top-level `resourceLogs`) rather than Sluice records. */
  otlp?: object
}

/** A placeholder for a record that failed JSON parsing, so indexes stay aligned. */
export const UNPARSEABLE: typeof SKIP = SKIP

/** NDJSON records; `invalidUtf8` (1-based line numbers, see invalidUtf8Lines) are refused. */
export function parseNdjson(text: string, invalidUtf8?: ReadonlySet<number>): ParsedBody {
  const records: unknown[] = []
  const errors: FieldError[] = []
  let index = 0
  let start = 0
  let no = 0
  while (start <= text.length) {
    let end = text.indexOf('\n', start)
    if (end === -1) end = text.length
    const line = text.slice(start, end).trim()
    start = end + 1
    no++
    if (line === '') continue
    if (invalidUtf8?.has(no)) {
      records.push(UNPARSEABLE)
      errors.push({ index: index++, field: '', message: `line ${no} is not valid UTF-8` })
      continue
    }
    try {
      records.push(parseJson(line))
    } catch (err) {
      records.push(UNPARSEABLE)
      errors.push({ index, field: '', message: `invalid JSON: ${err instanceof Error ? err.message : String(err)}` })
    }
    index++
  }
  return { records, errors }
}

// A record's time sent as a JSON number that a double cannot hold (epoch nanoseconds are past
// 2^53; seconds with nine decimals have 19 digits) loses its last digits to JSON.parse. Such a
// record is read again with its long numbers as text (exactNumbers), which the timestamp parser
// reads to the nanosecond. Any top-level field is looked at, as a request may name its own time
// field (_time_field); every other record is read once.

/**
 * Whether `record` has a top-level number a double may not have held: an integer past 2^53, or
 * a fraction whose shortest text takes 17 digits (seconds to the microsecond take 16).
 */
function inexactNumber(record: unknown): boolean {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return false
  for (const key in record) {
    const t = (record as Record<string, unknown>)[key]
    if (typeof t === 'number' && (Number.isInteger(t) ? t > Number.MAX_SAFE_INTEGER : significantDigits(String(t)) > 16)) return true
  }
  return false
}

/** The significant digits of a number's text (up to its exponent). */
function significantDigits(text: string): number {
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 69 || c === 101 /* E e */) break
    if (c >= 48 && c <= 57 && (n > 0 || c !== 48)) n++
  }
  return n
}

/**
 * `text` (JSON) with every number of more than 15 significant digits, which a double cannot hold,
 * written as a string of its text; strings and shorter numbers as they were.
 */
export function exactNumbers(text: string): string {
  let out = ''
  let from = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 34 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 34; i++) if (text.charCodeAt(i) === 92 /* \ */) i++
      continue
    }
    if (c !== 45 /* - */ && (c < 48 || c > 57)) continue
    const start = i
    for (; i < text.length; i++) {
      const d = text.charCodeAt(i)
      if (d === 69 || d === 101 /* E e */) {
        // The exponent ends the number: skip past its sign and digits.
        for (i++; i < text.length && /[-+0-9]/.test(text[i]!); i++);
        break
      }
      if (d !== 45 && d !== 46 && (d < 48 || d > 57)) break
    }
    const digits = significantDigits(text.slice(start, i))
    if (digits > 15) {
      out += `${text.slice(from, start)}"${text.slice(start, i)}"`
      from = i
    }
    i--
  }
  return from === 0 ? text : out + text.slice(from)
}

/** One JSON value, its records' times exact (see exactNumbers). */
export function parseJson(text: string): unknown {
  const value: unknown = JSON.parse(text)
  return (Array.isArray(value) ? value.some(inexactNumber) : inexactNumber(value)) ? JSON.parse(exactNumbers(text)) : value
}

/** The UTF-8 byte order mark. */
const BOM = Buffer.from([0xef, 0xbb, 0xbf])

/** A JSON body as text, without a leading byte order mark. */
export function jsonText(body: Buffer): string {
  return body.subarray(0, 3).equals(BOM) ? body.toString('utf8', 3) : body.toString('utf8')
}

export function fromJson(value: unknown): ParsedBody {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'resourceLogs' in value) return { records: [], errors: [], otlp: value }
  return { records: Array.isArray(value) ? value : [value], errors: [] }
}

/**
 * The 1-based numbers of the lines of `body` that are not valid UTF-8, or undefined when all are
 * (the common case, one SIMD pass). Lines split at LF, which UTF-8 never uses inside a character,
 * so decoding the body with U+FFFD replacements keeps the same line numbering.
 */
export function invalidUtf8Lines(body: Buffer): Set<number> | undefined {
  if (isUtf8(body)) return undefined
  const bad = new Set<number>()
  let no = 0
  for (let start = 0; start <= body.length; ) {
    let end = body.indexOf(0x0a, start)
    if (end === -1) end = body.length
    no++
    if (!isUtf8(body.subarray(start, end))) bad.add(no)
    start = end + 1
  }
  return bad
}

/** Why a body that must be UTF-8 throughout is not, or undefined when it is. */
export function utf8Problem(body: Buffer): string | undefined {
  const bad = invalidUtf8Lines(body)
  if (bad === undefined) return undefined
  const lines = [...bad]
  return `not valid UTF-8 (line${lines.length > 1 ? 's' : ''} ${lines.slice(0, 5).join(', ')}${lines.length > 5 ? ', …' : ''})`
}
