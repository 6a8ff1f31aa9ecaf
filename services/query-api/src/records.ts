// One stored log record as the /v1 endpoints answer it: the columns read from <db>.logs and the
// JSON object made of them (nanosecond timestamps as RFC 3339 text, absent optional strings null).
import { MAX_TIMESTAMP_NS, formatNs } from '@sluice/core'

/** SELECT list over <db>.logs producing a StoredRow; timestamps as exact decimal nanoseconds. */
export const RECORD_COLUMNS = `id, tenant, toString(toUnixTimestamp64Nano(Timestamp)) AS ts, toString(toUnixTimestamp64Nano(ObservedTimestamp)) AS observed,
  ServiceName AS service, HostName AS host, SeverityText AS severity_text, SeverityNumber AS severity_number,
  Body AS message, TraceId AS trace_id, SpanId AS span_id, LogAttributes AS attributes, ResourceAttributes AS resource, Source AS source,
  Category AS category, IsError AS is_error, PatternId AS pattern_id, Template AS template, Classifier AS classifier,
  HttpStatus AS http_status, DurationMs AS duration_ms, UserId AS user_id, SessionId AS session_id, ErrorCode AS error_code,
  Redacted AS redacted, Truncated AS truncated`

export interface StoredRow {
  id: string
  tenant: string
  ts: string
  observed: string
  service: string
  host: string
  severity_text: string
  severity_number: number
  message: string
  trace_id: string
  span_id: string
  attributes: Record<string, string>
  resource: Record<string, string>
  source: string
  category: string
  is_error: boolean
  pattern_id: string
  template: string
  classifier: string
  http_status: number | null
  duration_ms: number | null
  user_id: string
  session_id: string
  error_code: string
  /** The enricher masked secrets or personal data in the message or attributes. */
  redacted: boolean
  /** The enricher cut the message, an attribute value, or dropped attributes past its bounds. */
  truncated: boolean
}

export type LogRecord = ReturnType<typeof toRecord>

/** Whether two rows are copies of one record (rows sorted by time and id, either way: copies are neighbours). */
export function holdsCopy(rows: readonly StoredRow[]): boolean {
  for (let i = 1; i < rows.length; i++) if (rows[i]!.id === rows[i - 1]!.id) return true
  return false
}

/**
 * The record a row answers with. Written out field by field, in the order the answer has always
 * had: a rest-and-spread copy of the row's 26 fields cost five times as much, and an export turns
 * every row it reads into one.
 */
export function toRecord(r: StoredRow) {
  return {
    id: r.id,
    tenant: r.tenant,
    service: r.service,
    severity_text: r.severity_text,
    severity_number: r.severity_number,
    message: r.message,
    attributes: r.attributes,
    resource: r.resource,
    source: r.source,
    category: r.category,
    is_error: r.is_error,
    pattern_id: r.pattern_id,
    template: r.template,
    classifier: r.classifier,
    http_status: r.http_status,
    duration_ms: r.duration_ms,
    redacted: r.redacted,
    truncated: r.truncated,
    timestamp: formatNs(BigInt(r.ts)),
    observed_timestamp: formatNs(BigInt(r.observed)),
    host: r.host || null,
    trace_id: r.trace_id || null,
    span_id: r.span_id || null,
    user_id: r.user_id || null,
    session_id: r.session_id || null,
    error_code: r.error_code || null,
  }
}

/** Columns of the CSV export, in order; attributes and resource as JSON text. */
export const CSV_COLUMNS = [
  'timestamp', 'observed_timestamp', 'tenant', 'service', 'host', 'severity_text', 'severity_number', 'message', 'category', 'is_error',
  'pattern_id', 'template', 'classifier', 'http_status', 'duration_ms', 'user_id', 'session_id', 'error_code', 'trace_id', 'span_id',
  'source', 'attributes', 'resource', 'id',
] as const satisfies ReadonlyArray<keyof LogRecord>

/** One RFC 4180 line: fields with a comma, quote or line break are quoted, quotes doubled. */
export function csvLine(values: readonly unknown[]): string {
  return `${values
    .map((v) => {
      const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)
      return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
    })
    .join(',')}\r\n`
}

/**
 * Opaque position after a record in newest-first order: its timestamp and id. The next page
 * selects (Timestamp, id) < this, so pages neither overlap nor skip records of equal timestamps.
 */
export function encodeCursor(tsNs: string, id: string): string {
  return Buffer.from(`${tsNs}|${id}`).toString('base64url')
}

/** The position a cursor holds; undefined for one this API cannot have returned (a time past Int64, the Timestamp column's range). */
export function decodeCursor(cursor: string): { tsNs: string; id: string } | undefined {
  const m = /^(\d{1,20})\|([\w.:-]{1,128})$/.exec(Buffer.from(cursor, 'base64url').toString())
  return m && BigInt(m[1]!) <= MAX_TIMESTAMP_NS ? { tsNs: m[1]!, id: m[2]! } : undefined
}
