// The enricher's transform: LogEvent in, EnrichedLog out, pure apart from the template miner's
// learning state. Stages, in order:
//   normalise   severity, timestamp unit, bounded names / message / attributes
//   parse       JSON, syslog, access-log, logger-header or logfmt body → attributes (the record's own win),
//               level (when the record only has the INFO default), time (when it has none),
//               host and service (when missing)
//   redact      message and attribute values, before anything below sees them
//   extract     http_status, duration_ms, user/session ids, error_code, trace context
//   mine        template + pattern_id of the inner message (miner.ts; access lines: route shape)
//   classify    rules → category, is_error
// Everything is built once in createEnricher, so enrich() only runs compiled code.
import { LATEST_EVENT_NS, createRedactor, setOwn } from '@sluice/core'
import type { LogEvent, RedactOptions, Severity } from '@sluice/core'
import { compileRules } from './classify.js'
import { DEFAULT_RULES } from './default-rules.js'
import { patternIdOf, TemplateMiner } from './miner.js'
import type { MinerOptions } from './miner.js'
import { extractFields } from './extract.js'
import type { EnrichedLog } from './model.js'
import { capAttributes, cutChars, DEFAULT_NORMALIZE_OPTIONS, normalizeEvent } from './normalize.js'
import type { NormalizeOptions } from './normalize.js'
import { parseBody } from './parsers/index.js'

export interface EnricherConfig {
  normalize?: Partial<NormalizeOptions>
  templates?: MinerOptions
  /** A rules file (validated here; throws a ZodError naming every issue). Default: DEFAULT_RULES. */
  rules?: unknown
  redact?: Partial<RedactOptions>
  /** Recognise JSON / logfmt / access-log / syslog bodies. Default true. */
  parseBodies?: boolean
}

export interface Enricher {
  enrich(event: LogEvent): EnrichedLog
  /** The template miner, for its cluster count and snapshots. */
  readonly miner: TemplateMiner
}

const INFO_DEFAULT = 9
const NO_ALIASES: readonly string[] = []
const WARN = 13

// The record's own level wins, except INFO: that is also what the gateway assigns when a client
// sends none, and a body saying "error" is better evidence than a default.
const pickSeverity = (own: Severity, body: Severity | undefined): Severity => (body && own.number === INFO_DEFAULT ? body : own)

export function createEnricher(config: EnricherConfig = {}): Enricher {
  const limits: NormalizeOptions = { ...DEFAULT_NORMALIZE_OPTIONS, ...config.normalize }
  const miner = new TemplateMiner(config.templates)
  const classify = compileRules(config.rules ?? DEFAULT_RULES)
  const redactor = createRedactor(config.redact)
  const parseBodies = config.parseBodies ?? true

  function enrich(input: LogEvent): EnrichedLog {
    const n = normalizeEvent(input, limits)
    const ev = n.event
    const parsed = parseBodies ? parseBody(ev.message, Number(ev.observed_timestamp / 1_000_000n)) : undefined
    let attributes = ev.attributes
    let truncated = n.truncated
    if (parsed) {
      // Object.assign, not a spread: V8 makes adding keys to a spread copy slow (~30× here).
      const merged: Record<string, string> = Object.assign({}, ev.attributes)
      for (const k in parsed.fields) if (!Object.hasOwn(merged, k)) setOwn(merged, k, parsed.fields[k] ?? '')
      const capped = capAttributes(merged, limits)
      attributes = capped.attributes
      truncated ||= capped.truncated
    }
    const severity = pickSeverity(n.severity, parsed?.level)
    const message = redactor.text(ev.message)
    const attrs = redactor.attributes(attributes)
    // From the redacted attributes: an email used as user id must not escape through user_id.
    const extracted = extractFields(attrs.attributes, severity.number >= WARN)
    let template: string
    let patternId: string
    let aliases: readonly string[] = NO_ALIASES
    if (parsed?.template !== undefined) {
      template = redactor.text(parsed.template).text
      patternId = patternIdOf(template)
    } else {
      const inner = parsed?.message === undefined ? message.text : redactor.text(parsed.message).text
      const match = miner.add(inner)
      template = match.template
      patternId = match.patternId
      aliases = match.merged
    }
    const service = ev.service === 'unknown' && parsed?.app ? cutChars(parsed.app, limits.maxNameChars) : ev.service
    const verdict = classify({
      severityNumber: severity.number,
      service,
      message: message.text,
      template,
      attributes: attrs.attributes,
      httpStatus: extracted.http_status,
      errorCode: extracted.error_code,
    })

    return {
      id: ev.id,
      tenant: ev.tenant,
      // A header's time where the record had none, if storage can keep it (a line dated 2200 is not refused for it).
      timestamp: ev.timestamp === ev.observed_timestamp && parsed?.timestampNs !== undefined && parsed.timestampNs >= 0n && parsed.timestampNs <= LATEST_EVENT_NS ? parsed.timestampNs : ev.timestamp,
      observed_timestamp: ev.observed_timestamp,
      service,
      host: ev.host ?? (parsed?.host === undefined ? undefined : cutChars(parsed.host, limits.maxNameChars)) ?? null,
      severity_text: severity.text,
      severity_number: severity.number,
      message: message.text,
      trace_id: ev.trace_id ?? extracted.trace_id,
      span_id: ev.span_id ?? extracted.span_id,
      attributes: attrs.attributes,
      resource: ev.resource,
      source: ev.source,
      level: severity.text,
      category: verdict.category,
      is_error: verdict.is_error,
      pattern_id: patternId,
      template,
      classifier: 'rules',
      http_status: extracted.http_status,
      duration_ms: extracted.duration_ms,
      user_id: extracted.user_id,
      session_id: extracted.session_id,
      error_code: extracted.error_code,
      redacted: message.redacted || attrs.redacted,
      truncated,
      parsed_format: parsed?.format ?? null,
      pattern_aliases: aliases as string[],
    }
  }

  return { enrich, miner }
}
