// Validation of log records as clients send them (HTTP JSON / NDJSON, or JSON on Kafka), turning
// each into a LogEvent. Lenient where the field is lenient (timestamp formats, level spellings,
// common field aliases), precise in its errors: every issue names the field the client sent.
import { z } from 'zod'
import { uuidv7 } from './ids.js'
import type { LogEvent, LogSource } from './model.js'
import { parseSeverity, severityFromNumber } from './severity.js'
import { nowNs, parseTimestampNs } from './timestamp.js'

const MAX_ATTRIBUTES = 256

const timestampField = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ns = parseTimestampNs(v)
  if (ns === undefined) {
    ctx.addIssue({ code: 'custom', message: `unparseable timestamp ${JSON.stringify(v)}: expected ISO-8601 or epoch seconds/ms/µs/ns` })
    return z.NEVER
  }
  return ns
})

const levelField = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const severity = parseSeverity(v)
  if (!severity) {
    ctx.addIssue({ code: 'custom', message: `unknown level ${JSON.stringify(v)}: expected e.g. debug, info, warn, error, fatal or an OTel number 1-24` })
    return z.NEVER
  }
  return severity
})

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()])
const stringMap = z
  .record(z.string().min(1).max(256), z.union([scalar, z.array(z.unknown()), z.record(z.string(), z.unknown())]))
  .refine((m) => Object.keys(m).length <= MAX_ATTRIBUTES, `at most ${MAX_ATTRIBUTES} entries`)

const hexId = (bytes: number) =>
  z.string().regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), `expected ${bytes * 2} hex characters`).transform((s) => s.toLowerCase())

export const TENANT_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/

const recordSchema = z.looseObject({
  id: z.string().min(1).max(128).optional(),
  tenant: z.string().regex(TENANT_PATTERN, 'expected 1-64 characters of A-Z a-z 0-9 _ . -').optional(),
  timestamp: timestampField.optional(),
  ts: timestampField.optional(),
  time: timestampField.optional(),
  '@timestamp': timestampField.optional(),
  level: levelField.optional(),
  severity: levelField.optional(),
  severity_text: levelField.optional(),
  severity_number: z.number().int().min(1).max(24).optional(),
  message: z.string().optional(),
  msg: z.string().optional(),
  body: z.string().optional(),
  service: z.string().trim().min(1).max(256).optional(),
  host: z.string().trim().max(256).optional(),
  trace_id: hexId(16).optional(),
  span_id: hexId(8).optional(),
  attributes: stringMap.optional(),
  resource: stringMap.optional(),
})

export type ParsedRecord = z.infer<typeof recordSchema>

const KNOWN_KEYS = new Set(Object.keys(recordSchema.shape))

export interface FieldError {
  index: number
  field: string
  message: string
}

export interface InputDefaults {
  tenant: string
  source: LogSource
  observedNs?: bigint
}

export type ValidationResult = { ok: true; event: LogEvent } | { ok: false; errors: FieldError[] }

function stringify(v: unknown): string {
  return typeof v === 'string' ? v : v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)
}

function toStringMap(m: Record<string, unknown> | undefined, into: Record<string, string> = {}): Record<string, string> {
  if (m) for (const k in m) into[k] = stringify(m[k])
  return into
}

function toEvent(r: ParsedRecord, d: InputDefaults): LogEvent {
  const observed = d.observedNs ?? nowNs()
  const severity = r.level ?? r.severity ?? r.severity_text ?? (r.severity_number ? severityFromNumber(r.severity_number) : severityFromNumber(9))
  const attributes = toStringMap(r.attributes)
  // Unknown top-level keys are kept as attributes rather than silently dropped.
  for (const k in r) if (!KNOWN_KEYS.has(k)) attributes[k] = stringify(r[k])
  return {
    id: r.id ?? uuidv7(),
    tenant: r.tenant ?? d.tenant,
    timestamp: r.timestamp ?? r.ts ?? r.time ?? r['@timestamp'] ?? observed,
    observed_timestamp: observed,
    service: r.service ?? 'unknown',
    host: r.host || null,
    severity_text: severity.text,
    severity_number: severity.number,
    message: (r.message ?? r.msg ?? r.body) as string,
    trace_id: r.trace_id ?? null,
    span_id: r.span_id ?? null,
    attributes,
    resource: toStringMap(r.resource),
    source: d.source,
  }
}

// The gateway's hot path: zod costs ~6 µs per record, a third of the gateway's CPU. The common
// record shape (canonical field names, scalar attribute values) is checked by hand here; anything
// else — every invalid record included — goes through zod, which stays the one authority on what
// is valid and on error messages. Accepts only what zod accepts, with the same result
// (input.test.ts compares the two on generated records).
const HEX32 = /^[0-9a-fA-F]{32}$/
const HEX16 = /^[0-9a-fA-F]{16}$/

function fastScalarMap(m: unknown): Record<string, string | number | boolean | null> | undefined {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined
  let n = 0
  for (const k in m) {
    if (k.length === 0 || k.length > 256 || ++n > MAX_ATTRIBUTES) return undefined
    const v = (m as Record<string, unknown>)[k]
    if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return undefined
  }
  return m as Record<string, string | number | boolean | null>
}

export function fastParse(o: Record<string, unknown>): ParsedRecord | undefined {
  const r: ParsedRecord = {}
  for (const k in o) {
    const v = o[k]
    switch (k) {
      case 'id':
        if (typeof v !== 'string' || v.length < 1 || v.length > 128) return undefined
        r.id = v
        break
      case 'tenant':
        if (typeof v !== 'string' || !TENANT_PATTERN.test(v)) return undefined
        r.tenant = v
        break
      case 'timestamp': {
        const ns = typeof v === 'string' || typeof v === 'number' ? parseTimestampNs(v) : undefined
        if (ns === undefined) return undefined
        r.timestamp = ns
        break
      }
      case 'level': {
        const severity = typeof v === 'string' || typeof v === 'number' ? parseSeverity(v) : undefined
        if (!severity) return undefined
        r.level = severity
        break
      }
      case 'message':
        if (typeof v !== 'string') return undefined
        r.message = v
        break
      case 'service': {
        const t = typeof v === 'string' ? v.trim() : ''
        if (t.length < 1 || t.length > 256) return undefined
        r.service = t
        break
      }
      case 'host': {
        if (typeof v !== 'string') return undefined
        const t = v.trim()
        if (t.length > 256) return undefined
        r.host = t
        break
      }
      case 'trace_id':
        if (typeof v !== 'string' || !HEX32.test(v)) return undefined
        r.trace_id = v.toLowerCase()
        break
      case 'span_id':
        if (typeof v !== 'string' || !HEX16.test(v)) return undefined
        r.span_id = v.toLowerCase()
        break
      case 'attributes':
      case 'resource': {
        const m = fastScalarMap(v)
        if (!m) return undefined
        r[k] = m
        break
      }
      default:
        return undefined
    }
  }
  return r
}

/** The zod path alone (the authority the fast path is tested against). */
export function zodParse(input: unknown): ReturnType<typeof recordSchema.safeParse> {
  return recordSchema.safeParse(input)
}

/** Validates one client record (already JSON-parsed) at position `index` of its request. */
export function validateLogInput(input: unknown, index: number, defaults: InputDefaults): ValidationResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: [{ index, field: '', message: 'expected a JSON object' }] }
  }
  const fast = fastParse(input as Record<string, unknown>)
  if (fast?.message !== undefined) return { ok: true, event: toEvent(fast, defaults) }
  const parsed = recordSchema.safeParse(input)
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => ({ index, field: i.path.map(String).join('.'), message: i.message })),
    }
  }
  const r = parsed.data
  if (r.message === undefined && r.msg === undefined && r.body === undefined) {
    return { ok: false, errors: [{ index, field: 'message', message: 'required (also accepted as "msg" or "body")' }] }
  }
  return { ok: true, event: toEvent(r, defaults) }
}
