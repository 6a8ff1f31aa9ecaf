// The record the enricher writes to `logs.enriched` (Avro: schemas/enriched-log.avsc):
// the LogEvent it read, normalised and redacted, plus what the enricher learnt about it.
import type { LogEvent, SeverityText } from '@sluice/core'

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
