// The records on the topics, as TypeScript sees them after Avro decoding:
//   LogEvent     logs.raw       (schemas/log-event.avsc) — the OpenTelemetry log data model
//                flattened: timestamps are epoch nanoseconds (bigint), attributes string maps;
//   EnrichedLog  logs.enriched  (schemas/enriched-log.avsc) — a LogEvent normalised and redacted,
//                plus what the enricher learnt about it.
import type { SeverityText } from './severity.js'

export const LOG_SOURCES = ['http', 'otlp', 'kafka', 'syslog', 'forward', 'gelf', 'beats', 'connector'] as const
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
export const PARSED_FORMATS = ['json', 'logfmt', 'access', 'syslog', 'header'] as const
export type ParsedFormat = (typeof PARSED_FORMATS)[number]

export interface EnrichedLog extends LogEvent {
  /** Canonical level, the same as severity_text after normalisation. */
  level: SeverityText
  category: Category
  is_error: boolean
  /**
   * 16 hex chars naming the message's event (its template group) for the group's life: the same
   * on every instance and across restarts, unchanged when the template gains a wildcard.
   */
  pattern_id: string
  /**
   * Set on the record whose arrival merged other groups into this one: their ids, which from now
   * on name `pattern_id` (a query by pattern_id expands them). Usually empty.
   */
  pattern_aliases: string[]
  /** The message's template as its group stands now, variable parts as <*>, <NUM>, <IP>, … */
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

// An alert state change on the `alerts` topic (schemas/alert.avsc), keyed by `id` (fingerprint).
export const ALERT_RULE_KINDS = ['error_rate', 'error_count', 'spike', 'absence', 'level', 'pattern', 'new_pattern'] as const
export type AlertRuleKind = (typeof ALERT_RULE_KINDS)[number]
export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number]
export const ALERT_STATUSES = ['firing', 'acknowledged', 'resolved'] as const
export type AlertStatus = (typeof ALERT_STATUSES)[number]

export interface Alert {
  id: string
  tenant: string
  rule_id: string
  rule_name: string
  rule_kind: AlertRuleKind
  service: string
  pattern_id: string | null
  severity: AlertSeverity
  status: AlertStatus
  value: number
  threshold: number
  window_start: bigint
  window_end: bigint
  started_at: bigint
  updated_at: bigint
  resolved_at: bigint | null
  acknowledged_by: string | null
  /** Who resolved the alert by hand (POST /v1/alerts/{id}/resolve); null when it resolved by itself. */
  resolved_by: string | null
  /** Why, as given with a manual resolve. */
  resolve_reason: string | null
  /** What the data says about the alert's window (the alerter's optional explainer); null when off. */
  explanation: string | null
  /** Suggested next steps that came with the explanation. */
  runbook: string[]
  summary: string
  sample_log_ids: string[]
  version: number
}
