// Validation of log records as clients send them (HTTP JSON / NDJSON, or JSON on Kafka), turning
// each into a LogEvent. Lenient where the field is lenient (timestamp formats, level spellings,
// the field names common loggers write), precise in its errors: every issue names the field the
// client sent.
//
// Field names read, first present wins (everything else becomes an attribute):
//   timestamp  timestamp, ts, time, @timestamp         ISO-8601 or epoch s/ms/µs/ns
//   level      level, severity, severity_text, log.level   names, OTel numbers, pino numbers
//   message    message, msg, body                      required
//   service    service, service.name; pino/bunyan `name`
//   host       host, hostname, host.name, host.hostname
//   trace_id   trace_id, trace.id;  span_id  span_id, span.id
// Nested objects are flattened into dotted keys first (ECS `{"service":{"name":…}}` is
// `service.name`), so nested and dotted spellings mean the same. pino and bunyan records (a
// numeric level beside `msg`) read the level on their scale — 10 trace, 20 debug, 30 info,
// 40 warn, 50 error, 60 fatal; elsewhere 1–24 are OTel SeverityNumbers and larger numbers the
// pino scale. A level given in any other spelling than the canonical name is kept as the
// attribute `log.level`; `pid` becomes the resource attribute `process.pid`. A caller may name
// other fields per request (FieldMapping: VictoriaLogs' `_msg_field` and `_time_field`).
import { z } from 'zod'
import { uuidv7 } from './ids.js'
import type { LogEvent, LogSource } from './model.js'
import { parseLevel, severityFromNumber, severityFromPino } from './severity.js'
import type { Severity } from './severity.js'
import { AFTER_LATEST_EVENT, LATEST_EVENT_NS, nowNs, parseTimestampNs } from './timestamp.js'

/**
 * The validator's limits on a record: entries of an attributes or resource map, characters of a
 * map key, of a service or host name (trimmed) and of an id. Protocols that make a record's
 * LogEvent themselves (the gateway's Validated) check against these.
 */
export const INPUT_LIMITS = { entries: 256, keyChars: 256, nameChars: 256, idChars: 128 } as const
const MAX_ATTRIBUTES = INPUT_LIMITS.entries
/** Fields of one record after flattening, and how deep its objects may nest. */
const MAX_FIELDS = 1000
const MAX_DEPTH = 32

/**
 * An event time as ingested: from 1970 up to LATEST_EVENT_NS (2096-01-01), the latest storage
 * keeps. `v`: parsed, or epoch nanoseconds a protocol reader already holds exactly (OTLP's fixed64,
 * a syslog time) as a bigint, which no JSON body can carry.
 */
const nsInRange = (v: bigint | undefined): bigint | undefined => (v !== undefined && v >= 0n && v <= LATEST_EVENT_NS ? v : undefined)

/** `text` as an error message repeats it: at most `max` characters, and how long it was (a 10 MB value is not echoed). */
export function clipped(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text
}

/** A value as an error message repeats it: JSON, cut to 100 characters. */
export function shownValue(v: unknown): string {
  return clipped(typeof v === 'bigint' ? String(v) : JSON.stringify(v), 100)
}

const timestampField = z.union([z.string(), z.number(), z.bigint()]).transform((v, ctx) => {
  const ns = typeof v === 'bigint' ? v : parseTimestampNs(v)
  if (ns !== undefined && ns > LATEST_EVENT_NS) {
    ctx.addIssue({ code: 'custom', message: `timestamp ${shownValue(v)} is ${AFTER_LATEST_EVENT}` })
    return z.NEVER
  }
  if (ns === undefined || ns < 0n) {
    ctx.addIssue({ code: 'custom', message: `unparseable timestamp ${shownValue(v)}: expected ISO-8601 or epoch seconds/ms/µs/ns, from 1970 up to 2096-01-01T00:00:00Z` })
    return z.NEVER
  }
  return ns
})

/** A level as sent (kept as the attribute `log.level` unless it is the canonical name) and what it means. */
export interface Level {
  raw: string | number
  /** null: OTel's UNSPECIFIED (0), as if no level were sent. */
  severity: Severity | null
}

function level(raw: string | number): Level | undefined {
  const severity = parseLevel(raw)
  return severity === undefined ? undefined : { raw, severity }
}

const levelField = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const parsed = level(v)
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: `unknown level ${shownValue(v)}: expected e.g. debug, info, warn, error, fatal, an OTel number 1-24 or a pino number 10-60` })
    return z.NEVER
  }
  return parsed
})

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()])
// Counted before zod reads the entries: a map of 100 000 is refused at once, not checked entry by entry.
const stringMap = z
  .unknown()
  .refine((m) => !isPlainObject(m) || countKeys(m, MAX_ATTRIBUTES + 1) <= MAX_ATTRIBUTES, { message: `at most ${MAX_ATTRIBUTES} entries`, abort: true })
  .pipe(z.record(z.string().min(1).max(INPUT_LIMITS.keyChars), z.union([scalar, z.array(z.unknown()), z.record(z.string(), z.unknown())])))

const hexId = (bytes: number) =>
  z.string().regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), `expected ${bytes * 2} hex characters`).transform((s) => s.toLowerCase())
const serviceField = z.string().trim().min(1).max(INPUT_LIMITS.nameChars)
const hostField = z.string().trim().max(INPUT_LIMITS.nameChars)

export const TENANT_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/

// A standard field set to null is as if absent (the first one set wins, as for the others).
const recordSchema = z.looseObject({
  id: z.string().min(1).max(INPUT_LIMITS.idChars).nullish(),
  tenant: z.string().regex(TENANT_PATTERN, 'expected 1-64 characters of A-Z a-z 0-9 _ . -').nullish(),
  timestamp: timestampField.nullish(),
  ts: timestampField.nullish(),
  time: timestampField.nullish(),
  '@timestamp': timestampField.nullish(),
  level: levelField.nullish(),
  severity: levelField.nullish(),
  severity_text: levelField.nullish(),
  'log.level': levelField.nullish(),
  severity_number: z.number().int().min(1).max(24).nullish(),
  message: z.string().nullish(),
  msg: z.string().nullish(),
  body: z.string().nullish(),
  service: serviceField.nullish(),
  'service.name': serviceField.nullish(),
  host: hostField.nullish(),
  hostname: hostField.nullish(),
  'host.name': hostField.nullish(),
  'host.hostname': hostField.nullish(),
  trace_id: hexId(16).nullish(),
  'trace.id': hexId(16).nullish(),
  span_id: hexId(8).nullish(),
  'span.id': hexId(8).nullish(),
  attributes: stringMap.nullish(),
  resource: stringMap.nullish(),
})

export type ParsedRecord = z.infer<typeof recordSchema>

const KNOWN_KEYS = new Set(Object.keys(recordSchema.shape))

/** The fields each LogEvent role is read from, in order; a FieldMapping overrides them per request. */
const ROLES = {
  timestamp: ['timestamp', 'ts', 'time', '@timestamp'],
  level: ['level', 'severity', 'severity_text', 'log.level'],
  message: ['message', 'msg', 'body'],
  service: ['service', 'service.name'],
  host: ['host', 'hostname', 'host.name', 'host.hostname'],
} as const

export type FieldRole = keyof typeof ROLES

/**
 * Per request: which of the client's fields holds the time, level, message, service or host —
 * each a list, the first that is set wins (dotted names reach into nested objects). The chosen
 * field takes the role; the fields that would otherwise have had it stay, as attributes.
 */
export type FieldMapping = Partial<Record<FieldRole, readonly string[]>>

export interface FieldError {
  index: number
  field: string
  message: string
}

export interface InputDefaults {
  tenant: string
  source: LogSource
  observedNs?: bigint
  fields?: FieldMapping
}

export type ValidationResult = { ok: true; event: LogEvent } | { ok: false; errors: FieldError[] }

const INFO = severityFromNumber(9)

/** Thrown (and turned into the record's error) when a value cannot be written as a string. */
class NestingError extends Error {
  constructor(readonly field: string) {
    super(`nested too deeply (more than ${MAX_DEPTH} levels)`)
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Own keys of `o`, counted up to `stop`. */
function countKeys(o: object, stop: number): number {
  let n = 0
  for (const _ in o) if (++n >= stop) break
  return n
}

/** `into[key] = value`, also for the key `__proto__`, which an assignment would take as the prototype. */
export function setOwn<T>(into: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(into, key, { value, enumerable: true, writable: true, configurable: true })
  else into[key] = value
}

function stringify(v: unknown, field: string): string {
  if (typeof v === 'string') return v
  if (v === null) return ''
  if (typeof v !== 'object') return String(v)
  try {
    return JSON.stringify(v)
  } catch {
    throw new NestingError(field) // JSON.parse takes any depth; JSON.stringify runs out of stack
  }
}

/** Writes `value` into `into` under `key`, objects as one dotted key per leaf. */
function flattenInto(into: Record<string, unknown>, key: string, value: unknown, depth: number): void {
  if (!isPlainObject(value)) {
    setOwn(into, key, value)
    return
  }
  if (depth >= MAX_DEPTH) throw new NestingError(key)
  for (const k in value) flattenInto(into, `${key}.${k}`, value[k], depth + 1)
}

function toStringMap(m: Record<string, unknown> | null | undefined, field: string, into: Record<string, string> = {}): Record<string, string> {
  if (!m) return into
  for (const k in m) {
    const v = m[k]
    if (!isPlainObject(v)) {
      setOwn(into, k, stringify(v, `${field}.${k}`))
      continue
    }
    const flat: Record<string, unknown> = {}
    flattenInto(flat, k, v, 1)
    for (const f in flat) setOwn(into, f, stringify(flat[f], `${field}.${f}`))
  }
  return into
}

/** The record with its nested objects (but `attributes` and `resource`) as dotted keys. */
function flattenRecord(o: Record<string, unknown>): Record<string, unknown> {
  let nested = false
  for (const k in o) if (k !== 'attributes' && k !== 'resource' && isPlainObject(o[k])) nested = true
  if (!nested) return o
  const flat: Record<string, unknown> = {}
  for (const k in o) {
    if (k === 'attributes' || k === 'resource') flat[k] = o[k]
    else flattenInto(flat, k, o[k], 1)
  }
  return flat
}

function isSet(v: unknown): boolean {
  return v !== undefined && v !== null && v !== ''
}

/** Applies a FieldMapping; `renamed` tells which client field each role now comes from. */
function mapFields(o: Record<string, unknown>, mapping: FieldMapping): { record: Record<string, unknown>; renamed: Record<string, string> } {
  const record = Object.assign({}, o) // not a spread: adding keys to a spread copy is slow in V8
  if (Object.hasOwn(o, '__proto__')) setOwn(record, '__proto__', o['__proto__'])
  const renamed: Record<string, string> = {}
  for (const role of Object.keys(mapping) as FieldRole[]) {
    const from = mapping[role]?.find((name) => isSet(record[name]))
    if (from === undefined || from === role) continue
    const value = record[from]
    delete record[from]
    // The role's usual fields give way: they stay, as attributes of their own name.
    for (const alias of ROLES[role]) {
      if (!(alias in record) || !isPlainObject(record.attributes ?? {})) continue
      record.attributes = { ...(record.attributes as Record<string, unknown> | undefined), [alias]: record[alias] }
      delete record[alias]
    }
    record[role] = value
    renamed[role] = from
  }
  return { record, renamed }
}

/** `raw` is `text` in any case ("warn" for WARN): nothing worth keeping beside severity_text. */
export function isCanonicalName(raw: string | number, text: string): boolean {
  return typeof raw === 'string' && raw.length === text.length && (raw === text || raw.toUpperCase() === text)
}

/**
 * The LogEvent of a valid record. `source`: the record as sent (flattened), for what zod's output
 * does not keep as sent — the attribute maps and the unknown keys, `__proto__` among them.
 */
function toEvent(r: ParsedRecord, d: InputDefaults, source: Record<string, unknown> = r): LogEvent {
  const observed = d.observedNs ?? nowNs()
  const lv = r.level ?? r.severity ?? r.severity_text ?? r['log.level']
  // pino and bunyan: a numeric level beside `msg`. Its 10 and 20 are trace and debug (OTel reads
  // them as INFO2 and ERROR4); 1–24 otherwise keep their OTel meaning, larger ones are pino's anyway.
  const pino = typeof lv?.raw === 'number' && r.msg != null
  const severity = (pino && (lv.raw === 10 || lv.raw === 20) ? severityFromPino(lv.raw) : lv?.severity) ?? (r.severity_number ? severityFromNumber(r.severity_number) : INFO)
  const attributes = toStringMap(source.attributes as Record<string, unknown> | null | undefined, 'attributes')
  const resource = toStringMap(source.resource as Record<string, unknown> | null | undefined, 'resource')
  let service = r.service ?? r['service.name'] ?? undefined
  // Unknown top-level keys are kept as attributes rather than silently dropped.
  for (const k in source) {
    if (KNOWN_KEYS.has(k)) continue
    const v = source[k]
    if (k === 'pid' && (typeof v === 'number' || typeof v === 'string')) resource['process.pid'] = String(v)
    else if (k === 'name' && pino && service === undefined && typeof v === 'string' && v.trim().length > 0 && v.trim().length <= INPUT_LIMITS.nameChars) service = v.trim()
    else setOwn(attributes, k, stringify(v, k))
  }
  if (lv && !isCanonicalName(lv.raw, severity.text)) attributes['log.level'] = String(lv.raw)
  return {
    id: r.id ?? uuidv7(),
    tenant: r.tenant ?? d.tenant,
    timestamp: r.timestamp ?? r.ts ?? r.time ?? r['@timestamp'] ?? observed,
    observed_timestamp: observed,
    service: service ?? 'unknown',
    host: r.host || r.hostname || r['host.name'] || r['host.hostname'] || null,
    severity_text: severity.text,
    severity_number: severity.number,
    message: (r.message ?? r.msg ?? r.body) as string,
    trace_id: r.trace_id ?? r['trace.id'] ?? null,
    span_id: r.span_id ?? r['span.id'] ?? null,
    attributes,
    resource,
    source: d.source,
  }
}

// The gateway's hot path: zod costs ~6 µs per record, a third of the gateway's CPU. The common
// record shape (canonical field names, scalar attribute values) is checked by hand here; anything
// else — every invalid record included — goes through zod, which stays the one authority on what
// is valid and on error messages. Accepts only what zod accepts, with the same result
// (input.test.ts compares the two on generated records).
/** A trace id and a span id as the validator takes them (any case; stored lower-case). */
export const TRACE_ID_HEX = /^[0-9a-fA-F]{32}$/
export const SPAN_ID_HEX = /^[0-9a-fA-F]{16}$/

function fastScalarMap(m: unknown): Record<string, string | number | boolean | null> | undefined {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined
  let n = 0
  for (const k in m) {
    if (k.length === 0 || k.length > INPUT_LIMITS.keyChars || ++n > MAX_ATTRIBUTES) return undefined
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
        const ns = nsInRange(typeof v === 'string' || typeof v === 'number' ? parseTimestampNs(v) : typeof v === 'bigint' ? v : undefined)
        if (ns === undefined) return undefined
        r.timestamp = ns
        break
      }
      case 'level': {
        const parsed = typeof v === 'string' || typeof v === 'number' ? level(v) : undefined
        if (!parsed) return undefined
        r.level = parsed
        break
      }
      case 'message':
        if (typeof v !== 'string') return undefined
        r.message = v
        break
      case 'severity_number':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 24) return undefined
        r.severity_number = v
        break
      case 'service': {
        const t = typeof v === 'string' ? v.trim() : ''
        if (t.length < 1 || t.length > INPUT_LIMITS.nameChars) return undefined
        r.service = t
        break
      }
      case 'host': {
        if (typeof v !== 'string') return undefined
        const t = v.trim()
        if (t.length > INPUT_LIMITS.nameChars) return undefined
        r.host = t
        break
      }
      case 'trace_id':
        if (typeof v !== 'string' || !TRACE_ID_HEX.test(v)) return undefined
        r.trace_id = v.toLowerCase()
        break
      case 'span_id':
        if (typeof v !== 'string' || !SPAN_ID_HEX.test(v)) return undefined
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
  if (!isPlainObject(input)) return { ok: false, errors: [{ index, field: '', message: 'expected a JSON object' }] }
  try {
    return validate(input, index, defaults)
  } catch (err) {
    if (err instanceof NestingError) return { ok: false, errors: [{ index, field: err.field, message: err.message }] }
    throw err
  }
}

function validate(input: Record<string, unknown>, index: number, defaults: InputDefaults): ValidationResult {
  let o = input
  let renamed: Record<string, string> = {}
  if (defaults.fields) ({ record: o, renamed } = mapFields(flattenRecord(o), defaults.fields))
  const fast = fastParse(o)
  if (fast?.message !== undefined) return checked(toEvent(fast, defaults), index)
  o = flattenRecord(o)
  let fields = 0
  for (const _ in o) if (++fields > MAX_FIELDS) return { ok: false, errors: [{ index, field: '', message: `more than ${MAX_FIELDS} fields (nested ones counted one per leaf)` }] }
  const parsed = recordSchema.safeParse(o)
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => {
        const [head, ...rest] = i.path.map(String)
        return { index, field: [renamed[head ?? ''] ?? head, ...rest].join('.'), message: i.message }
      }),
    }
  }
  const r = parsed.data
  if (r.message == null && r.msg == null && r.body == null) {
    const named = defaults.fields?.message
    const message = named ? `required: none of ${named.join(', ')} is set` : 'required (also accepted as "msg" or "body")'
    return { ok: false, errors: [{ index, field: named?.[0] ?? 'message', message }] }
  }
  return checked(toEvent(r, defaults, o), index)
}

/** Why a text cannot be stored: JSON can escape half a surrogate pair, which no UTF-8 encodes. */
export const ILL_FORMED = 'not valid Unicode: a lone surrogate (an escape such as \\ud800 without its pair)'

/**
 * What the schema cannot see of a record's event: its maps as stored — nested objects one entry
 * per leaf, the record's other fields among the attributes — under the limits of a map sent as
 * one, and every text well-formed Unicode (JSON can escape half a surrogate pair, which no UTF-8
 * encodes: it would reach Kafka as invalid bytes).
 */
function checked(event: LogEvent, index: number): ValidationResult {
  const problem: [string, string] | undefined =
    (event.message.isWellFormed() ? undefined : ['message', ILL_FORMED]) ??
    (event.service.isWellFormed() ? undefined : ['service', ILL_FORMED]) ??
    (event.host === null || event.host.isWellFormed() ? undefined : ['host', ILL_FORMED]) ??
    (event.id.isWellFormed() ? undefined : ['id', ILL_FORMED]) ??
    mapProblem('attributes', event.attributes) ??
    mapProblem('resource', event.resource)
  return problem === undefined ? { ok: true, event } : { ok: false, errors: [{ index, field: problem[0], message: problem[1] }] }
}

/** What is wrong with a stored map (field, message), if anything. */
function mapProblem(name: string, map: Record<string, string>): [string, string] | undefined {
  let n = 0
  for (const k in map) {
    // The validator's own entries (log.level, process.pid) are not the client's to count.
    if (++n > MAX_ATTRIBUTES + 1) return [name, `at most ${MAX_ATTRIBUTES} entries (nested objects count one per leaf; the record's other fields are attributes)`]
    if (k.length === 0 || k.length > INPUT_LIMITS.keyChars) return [k.length === 0 ? name : `${name}.${k.slice(0, 64)}…`, `expected a key of 1-${INPUT_LIMITS.keyChars} characters`]
    if (!k.isWellFormed()) return [name, `a key is ${ILL_FORMED}`]
    if (!map[k]!.isWellFormed()) return [`${name}.${k}`, ILL_FORMED]
  }
  return undefined
}
