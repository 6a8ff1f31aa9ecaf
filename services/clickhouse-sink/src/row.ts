// EnrichedLog → a row of <db>.logs (JSONEachRow). DateTime64(9) columns take the epoch-nanosecond
// integer as a string (exact; a JSON number would lose precision).
import type { EnrichedLog } from '@sluice/core'

export interface LogRow {
  id: string
  tenant: string
  Timestamp: string
  ObservedTimestamp: string
  ServiceName: string
  HostName: string
  SeverityText: string
  SeverityNumber: number
  Body: string
  TraceId: string
  SpanId: string
  LogAttributes: Record<string, string>
  ResourceAttributes: Record<string, string>
  Source: string
  Category: string
  IsError: boolean
  PatternId: string
  Template: string
  Classifier: string
  HttpStatus: number | null
  DurationMs: number | null
  UserId: string
  SessionId: string
  ErrorCode: string
  Redacted: boolean
  Truncated: boolean
  ParsedFormat: string
  PatternAliases: string[]
}

export function toRow(e: EnrichedLog): LogRow {
  return {
    id: e.id,
    tenant: e.tenant,
    Timestamp: e.timestamp.toString(),
    ObservedTimestamp: e.observed_timestamp.toString(),
    ServiceName: e.service,
    HostName: e.host ?? '',
    SeverityText: e.severity_text,
    SeverityNumber: e.severity_number,
    Body: e.message,
    TraceId: e.trace_id ?? '',
    SpanId: e.span_id ?? '',
    LogAttributes: e.attributes,
    ResourceAttributes: e.resource,
    Source: e.source,
    Category: e.category,
    IsError: e.is_error,
    PatternId: e.pattern_id,
    Template: e.template,
    Classifier: e.classifier,
    HttpStatus: e.http_status,
    DurationMs: e.duration_ms,
    UserId: e.user_id ?? '',
    SessionId: e.session_id ?? '',
    ErrorCode: e.error_code ?? '',
    Redacted: e.redacted,
    Truncated: e.truncated,
    ParsedFormat: e.parsed_format ?? '',
    PatternAliases: e.pattern_aliases ?? [],
  }
}
