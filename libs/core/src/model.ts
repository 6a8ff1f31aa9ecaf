// The log record as it travels on `logs.raw` (Avro, schemas/log-event.avsc) — the OpenTelemetry
// log data model flattened: timestamps are epoch nanoseconds (bigint), attributes string maps.

export const LOG_SOURCES = ['http', 'otlp', 'kafka', 'syslog', 'connector'] as const
export type LogSource = (typeof LOG_SOURCES)[number]

export interface LogEvent {
  id: string
  tenant: string
  timestamp: bigint
  observed_timestamp: bigint
  service: string
  host: string | null
  severity_text: string
  severity_number: number
  message: string
  trace_id: string | null
  span_id: string | null
  attributes: Record<string, string>
  resource: Record<string, string>
  source: LogSource
}
