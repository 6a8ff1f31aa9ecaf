// The records on the topics, as TypeScript sees them after Avro decoding:
//   LogEvent     logs.raw       (schemas/log-event.avsc) — the OpenTelemetry log data model
//                flattened: timestamps are epoch nanoseconds (bigint), attributes string maps;
//   EnrichedLog  logs.enriched  (schemas/enriched-log.avsc) — a LogEvent normalised and redacted,
//                plus what the enricher learnt about it.
import type { SeverityText } from './severity.js'

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

export const CATEGORIES = [
  'database',
  'network',
  'timeout',
  'auth',
  'payment',
  'resource',
  'security',
  'dependency',
  'application',
  'unknown',
] as const
export type Category = (typeof CATEGORIES)[number]

/** Who set the category: the rules engine, an LLM call, or the LLM result cache. */
export const CLASSIFIERS = ['rules', 'llm', 'cache'] as const
export type Classifier = (typeof CLASSIFIERS)[number]

/** The message-body format the enricher recognised. */
export const PARSED_FORMATS = ['json', 'logfmt', 'access', 'syslog'] as const
export type ParsedFormat = (typeof PARSED_FORMATS)[number]

export interface EnrichedLog extends LogEvent {
  /** Canonical level, the same as severity_text after normalisation. */
  level: SeverityText
  category: Category
  is_error: boolean
  /** 16 hex chars identifying `template` (a hash of its text). */
  pattern_id: string
  /** The Drain template of the message, variable parts as <*>, <NUM>, <IP>, … */
  template: string
  classifier: Classifier
  http_status: number | null
  duration_ms: number | null
  user_id: string | null
  session_id: string | null
  error_code: string | null
  /** Some PII or secret was replaced in the message or attributes. */
  redacted: boolean
  /** The message, an attribute value or the attribute count was cut to its limit. */
  truncated: boolean
  parsed_format: ParsedFormat | null
}
