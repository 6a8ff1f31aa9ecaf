// Request bodies: one JSON object, a JSON array of objects, or NDJSON (one object per line).
// NDJSON lines that are not JSON become per-record errors rather than failing the request.
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

export function parseNdjson(text: string): ParsedBody {
  const records: unknown[] = []
  const errors: FieldError[] = []
  let index = 0
  let start = 0
  while (start <= text.length) {
    let end = text.indexOf('\n', start)
    if (end === -1) end = text.length
    const line = text.slice(start, end).trim()
    start = end + 1
    if (line === '') continue
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

export function fromJson(value: unknown): ParsedBody {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'resourceLogs' in value) return { records: [], errors: [], otlp: value }
  return { records: Array.isArray(value) ? value : [value], errors: [] }
}
