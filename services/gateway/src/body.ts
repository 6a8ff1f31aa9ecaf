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
      records.push(JSON.parse(line))
    } catch (err) {
      records.push(UNPARSEABLE)
      errors.push({ index, field: '', message: `invalid JSON: ${err instanceof Error ? err.message : String(err)}` })
    }
    index++
  }
  return { records, errors }
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
