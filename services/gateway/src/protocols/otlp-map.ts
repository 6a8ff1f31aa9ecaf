// OTLP log records as Sluice's: the mapping both OTLP encodings share. otlp-protobuf.ts and
// otlp-json.ts read their wire format into the types here; everything about what an OTLP field
// becomes in Sluice is decided in this module. A record within the validator's limits becomes its
// LogEvent here (Validated); any other goes to the validator in Sluice's JSON shape, and the
// validator (validateLogInput) stays the authority on both — a test holds the events to its own.
//
//   Resource attributes     service.name → service, host.name → host, the others → resource
//   InstrumentationScope    name, version → attributes otel.scope.name, otel.scope.version;
//                           its attributes → attributes otel.scope.attributes.<key>
//   LogRecord
//     timeUnixNano          → timestamp, exact to the ns; unset: observedTimeUnixNano; unset: arrival;
//                             after 2096-01-01T00:00:00Z (LATEST_EVENT_NS) the record is refused
//     severityNumber 1–24   → the severity, number kept exactly (INFO2 stays 10)
//                   0/unset → severityText read as a level name ("warning", "ERR"…), else INFO
//     severityText          → attribute log.level (where Sluice keeps a level's own spelling) unless
//                             it is just the OTel short name of the severity (INFO, WARN2; any case)
//     body                  string → message; any other AnyValue → message as JSON; unset → ""
//     attributes            → attributes
//     traceId, spanId       → trace_id, span_id as lowercase hex; empty or all zero → none
//     eventName             → attribute event.name
//     droppedAttributesCount, flags, schemaUrl: ignored
//
// What all the records of a Resource or an InstrumentationScope share is checked once, against what
// the validator would refuse in every one of them (INPUT_LIMITS) and against the record size limit:
// a shared part over them refuses its records with one FieldProblem (resourceContext,
// scopeAttributes), rather than being checked again for each record — a few KB of attributes
// under thousands of records would otherwise hold the event loop for seconds.
//
// Attribute values are strings: a kvlist is flattened into dotted keys (`http: {method: GET}` →
// `http.method`), an array is written as JSON, ints exactly (int64), doubles as JS prints them
// (NaN, Infinity by name), bools as true/false, bytes as base64, an empty AnyValue as "". Nesting
// is bounded (MAX_DEPTH) by the readers, so every walk here is too.
import { AFTER_LATEST_EVENT, INPUT_LIMITS, LATEST_EVENT_NS, SEVERITY_TEXTS, errorMessage, formatNs, parseSeverity, setOwn, severityFromNumber, uuidv7 } from '@sluice/core'
import type { FieldError } from '@sluice/core'
import { SKIP, Validated } from '../ingest.js'
import type { EventDefaults } from '../ingest.js'

/** An AnyValue read from either encoding; int64 as bigint (exact), double as number. */
export type AnyValue = string | boolean | number | bigint | Uint8Array | null | readonly AnyValue[] | KvList
export type KeyValue = readonly [key: string, value: AnyValue]

/** A kvlistValue (an AnyValue[] is an arrayValue). */
export class KvList {
  constructor(readonly entries: readonly KeyValue[]) {}
}

/**
 * One LogRecord as read, before mapping. Ids are lowercase hex, '' when absent. Its attributes
 * are written as they are read (addAttribute) into the object Batch.addRecord hands the reader,
 * which holds its scope's already: no list of them is built only to be copied.
 */
export interface OtlpLogRecord {
  timeUnixNano: Nanos
  observedTimeUnixNano: Nanos
  severityNumber: number
  severityText: string
  body: AnyValue | undefined
  attributes: Record<string, string>
  traceId: string
  spanId: string
  eventName: string
}

/**
 * Epoch nanoseconds (uint64) as read: a bigint, or the decimal digits OTLP JSON sent them as, kept
 * as text when they are plain digits (no sign, no leading zero): the record takes them as text,
 * and reading them into a BigInt and printing it again costs more than the rest of the mapping's
 * work on a timestamp.
 */
export type Nanos = bigint | string

/** Arrays and kvlists inside a value at most this deep; deeper ones reject their record. */
export const MAX_DEPTH = 16

/** Field names in error messages are cut to this many characters (keys are the client's). */
const MAX_FIELD_CHARS = 200

/** What is wrong with one record (or with the resource or scope all of its records share). */
export class FieldProblem extends Error {
  readonly field: string
  constructor(field: string, message: string) {
    super(message)
    this.field = field.length > MAX_FIELD_CHARS ? `${field.slice(0, MAX_FIELD_CHARS)}…` : field
  }
}

export function tooDeep(field: string): FieldProblem {
  return new FieldProblem(field, `nested deeper than ${MAX_DEPTH} levels of arrays and kvlists`)
}

export function problemOf(err: unknown, field = ''): FieldProblem {
  return err instanceof FieldProblem ? err : new FieldProblem(field, errorMessage(err))
}

export const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`)

/**
 * The request's records in order, as `ctx.ingest.records` takes them (with the same defaults): a
 * record the reader could not map is SKIP with its error, so indexes (counted across the whole
 * request) stay aligned.
 */
export class Batch {
  readonly records: unknown[] = []
  readonly errors: FieldError[] = []

  /**
   * `maxRecordBytes`: a record encoded beyond it is refused (GATEWAY_MAX_RECORD_BYTES); a resource
   * or scope that alone is larger refuses its records at once (resourceContext, scopeAttributes).
   */
  constructor(
    readonly defaults: EventDefaults,
    readonly maxRecordBytes = Infinity,
  ) {}

  reject(problem: FieldProblem): void {
    this.errors.push({ index: this.records.length, field: problem.field, message: problem.message })
    this.records.push(SKIP)
  }

  /**
   * One record, read by `read` into the attributes it is given (its scope's), and mapped — or
   * rejected for a fault in it, or in the resource or scope it is under.
   */
  addRecord(resource: ResourceContext | FieldProblem, scope: Readonly<Record<string, string>> | FieldProblem, read: (attributes: Record<string, string>) => OtlpLogRecord): void {
    this.addRead(resource, scope, callRead, read)
  }

  /** addRecord with `read(input, attributes)`: a reader that needs no closure per record. */
  addRead<T>(resource: ResourceContext | FieldProblem, scope: Readonly<Record<string, string>> | FieldProblem, read: (input: T, attributes: Record<string, string>) => OtlpLogRecord, input: T): void {
    if (resource instanceof FieldProblem) return this.reject(resource)
    if (scope instanceof FieldProblem) return this.reject(scope)
    try {
      // Object.assign, not a spread: V8 gives each spread copy a map of its own, and every
      // attribute added to it then builds a new one (measured 3 µs a record for five).
      this.records.push(mapRecord(read(input, Object.assign({}, scope)), resource, this.defaults))
    } catch (err) {
      this.reject(problemOf(err))
    }
  }
}

const callRead = (read: (attributes: Record<string, string>) => OtlpLogRecord, attributes: Record<string, string>): OtlpLogRecord => read(attributes)

/** `fn()`, or what went wrong in it. */
export function attempt<T>(fn: () => T): T | FieldProblem {
  try {
    return fn()
  } catch (err) {
    return problemOf(err)
  }
}

const base64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')

/** `v` as JSON text; ints keep every digit (JSON numbers have no size limit, only JS's parser has). */
export function toJson(v: AnyValue): string {
  if (typeof v === 'string') return JSON.stringify(v)
  if (v === null) return 'null'
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v)
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : JSON.stringify(String(v))
  if (v instanceof Uint8Array) return JSON.stringify(base64(v))
  if (v instanceof KvList) return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',')}}`
  return `[${v.map(toJson).join(',')}]`
}

function text(v: AnyValue): string {
  if (typeof v === 'string') return v
  if (v === null) return ''
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v)
  if (v instanceof Uint8Array) return base64(v)
  return toJson(v)
}

/** Writes `v` into `into` under `key`: a kvlist as one dotted key per leaf, anything else as text. */
export function addAttribute(into: Record<string, string>, key: string, v: AnyValue): void {
  if (typeof v === 'string') setOwn(into, key, v)
  else if (!(v instanceof KvList)) setOwn(into, key, text(v))
  else {
    // An empty kvlist still says the key was sent. (The keys inside one are dotted, never `__proto__`.)
    if (v.entries.length === 0) setOwn(into, key, '{}')
    for (const [k, x] of v.entries) addAttribute(into, `${key}.${k}`, x)
  }
}

function flatten(attributes: readonly KeyValue[], prefix = ''): Record<string, string> {
  const into: Record<string, string> = {}
  for (const [k, v] of attributes) addAttribute(into, prefix + k, v)
  return into
}

/** What every record of one Resource shares: within the validator's limits (see resourceContext). */
export interface ResourceContext {
  service: string | undefined
  host: string | undefined
  resource: Record<string, string>
}

function withinLimits(m: Record<string, string>): boolean {
  let n = 0
  for (const k in m) if (++n > INPUT_LIMITS.entries || k.length === 0 || k.length > INPUT_LIMITS.keyChars) return false
  return true
}

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim()
  return t === undefined || t === '' ? undefined : t
}

/** Characters of a map's keys and values: no fewer than the bytes Avro writes them in. */
function chars(m: Readonly<Record<string, string>>): number {
  let n = 0
  for (const k in m) n += k.length + m[k]!.length
  return n
}

/**
 * Why every record under a map of shared attributes (a resource's, a scope's) would be refused:
 * more entries than a record's map may hold (`others` more are added beside them), or a key
 * outside 1–INPUT_LIMITS.keyChars characters; `field` names the map as the client sent it and
 * `sent` gives back the key the client sent for a key of the map. Counted first: a map of 200 000
 * entries is refused at its 257th.
 */
function mapProblem(m: Readonly<Record<string, string>>, others: number, field: string, sent: (key: string) => string): FieldProblem | undefined {
  let n = others
  for (const k in m) {
    if (++n > INPUT_LIMITS.entries) return new FieldProblem(field, `at most ${INPUT_LIMITS.entries - others} entries`)
    if (k.length === 0 || k.length > INPUT_LIMITS.keyChars) return new FieldProblem(k.length === 0 ? field : join(field, sent(k)), `expected a key of 1-${INPUT_LIMITS.keyChars} characters, got ${k.length}`)
  }
  return undefined
}

/** A shared part of `size` characters, which every record under it encodes, over the record limit. */
function tooLarge(field: string, size: number, maxRecordBytes: number): FieldProblem | undefined {
  return size > maxRecordBytes ? new FieldProblem(field, `at least ${size} bytes encoded in each of its records, over the limit of ${maxRecordBytes}`) : undefined
}

/**
 * What every record of a Resource with `attributes` shares, or why the validator would refuse
 * every one of them (checked once, here, for all of them): a service.name or host.name over
 * INPUT_LIMITS.nameChars, more than INPUT_LIMITS.entries other attributes or a key outside
 * 1–INPUT_LIMITS.keyChars characters (the validator's rules for a record's `service`, `host`
 * and `resource`), or more than `maxRecordBytes` in all.
 */
export function resourceContext(attributes: readonly KeyValue[], maxRecordBytes = Infinity): ResourceContext | FieldProblem {
  const res = resourceOf(attributes)
  const { service, host, resource } = res
  if (service !== undefined && service.length > INPUT_LIMITS.nameChars) return new FieldProblem('resource.attributes.service.name', `expected at most ${INPUT_LIMITS.nameChars} characters, got ${service.length}`)
  if (host !== undefined && host.length > INPUT_LIMITS.nameChars) return new FieldProblem('resource.attributes.host.name', `expected at most ${INPUT_LIMITS.nameChars} characters, got ${host.length}`)
  return mapProblem(resource, 0, 'resource.attributes', (k) => k) ?? tooLarge('resource', chars(resource) + (service?.length ?? 0) + (host?.length ?? 0), maxRecordBytes) ?? res
}

/** The ResourceContext of `attributes` as they are, unchecked (resourceContext checks it). */
export function resourceOf(attributes: readonly KeyValue[]): ResourceContext {
  const all = flatten(attributes)
  // The others copied rather than the two deleted: V8 turns an object that lost a property into
  // a slow dictionary, and every record of the resource is made with this one.
  const resource: Record<string, string> = {}
  for (const k in all) if (k !== 'service.name' && k !== 'host.name') setOwn(resource, k, all[k]!)
  return { service: nonEmpty(all['service.name']), host: nonEmpty(all['host.name']), resource }
}

const SCOPE_PREFIX = 'otel.scope.attributes.'

/**
 * The attributes every record of one InstrumentationScope starts with, or why the validator would
 * refuse every one of them (checked once, here): more than INPUT_LIMITS.entries of them or a key
 * (with its prefix) over INPUT_LIMITS.keyChars characters — a record only adds to them — or more
 * than `maxRecordBytes` in all.
 */
export function scopeAttributes(name: string, version: string, attributes: readonly KeyValue[], maxRecordBytes = Infinity): Record<string, string> | FieldProblem {
  const out = flatten(attributes, SCOPE_PREFIX)
  let named = 0
  if (name !== '') named++
  if (version !== '') named++
  const problem = mapProblem(out, named, 'scope.attributes', (k) => k.slice(SCOPE_PREFIX.length))
  if (problem !== undefined) return problem
  if (name !== '') out['otel.scope.name'] = name
  if (version !== '') out['otel.scope.version'] = version
  return tooLarge('scope', chars(out), maxRecordBytes) ?? out
}

/** OTel's short names by SeverityNumber: INFO at 9, INFO2 at 10 (built once: a record takes its level from here). */
const SHORT_NAMES: readonly string[] = Array.from({ length: 25 }, (_, n) => (n === 0 ? '' : `${SEVERITY_TEXTS[(n - 1) >> 2]}${(n - 1) % 4 === 0 ? '' : ((n - 1) % 4) + 1}`))

/** OTel's short name of a SeverityNumber 1–24: INFO for 9, INFO2 for 10. */
export function severityName(n: number): string {
  return SHORT_NAMES[n]!
}

function isShortName(text: string, n: number): boolean {
  // Exactly the name (as SDKs send it) needs no upper-casing.
  if (text === SHORT_NAMES[n] || text === SEVERITY_TEXTS[(n - 1) >> 2]) return true
  const t = text.toUpperCase()
  return t === SEVERITY_TEXTS[(n - 1) >> 2] || t === SHORT_NAMES[n]
}

/**
 * The record's SeverityNumber (1–24), its severityText written as attribute log.level unless it
 * only repeats that number's name.
 */
function severity(n: number, text: string, attributes: Record<string, string>): number {
  if (!Number.isInteger(n) || n < 0 || n > 24) throw new FieldProblem('severityNumber', `expected 0-24, got ${n}`)
  if (n === 0) {
    const parsed = text === '' ? undefined : parseSeverity(text)
    if (parsed === undefined) {
      if (text !== '') attributes['log.level'] = text
      return 9
    }
    n = parsed.number
  } else if (text === '') return n
  if (!isShortName(text, n)) attributes['log.level'] = text
  return n
}

/** The latest event time Sluice stores (2096-01-01, see @sluice/core), as OTLP JSON's digits. */
const LATEST_EVENT_DIGITS = LATEST_EVENT_NS.toString()

const isZero = (ns: Nanos): boolean => ns === 0n || ns === '0'

function pastLatest(ns: Nanos): boolean {
  if (typeof ns === 'bigint') return ns > LATEST_EVENT_NS
  return ns.length > LATEST_EVENT_DIGITS.length || (ns.length === LATEST_EVENT_DIGITS.length && ns > LATEST_EVENT_DIGITS)
}

/**
 * The record's timestamp: a bigint as it is (the validator takes it exactly); digits as text when
 * there are 18 or more (the validator reads those as epoch nanoseconds exactly), else formatted.
 */
function timestampValue(ns: Nanos): bigint | string {
  if (typeof ns === 'string') return ns.length >= 18 ? ns : formatNs(BigInt(ns))
  return ns
}

/** What a record's fields checked and mapped make of it before it becomes an event or a record. */
interface Mapped {
  /** SeverityNumber 1–24. */
  number: number
  message: string
  /** Its time: timeUnixNano, else observedTimeUnixNano; zero for neither. */
  ns: Nanos
}

/** Checks and maps what every record needs, adding event.name and log.level to its attributes. */
function mapped(r: OtlpLogRecord): Mapped {
  const attributes = r.attributes
  if (r.eventName !== '') attributes['event.name'] = r.eventName
  const number = severity(r.severityNumber, r.severityText, attributes)
  const body = r.body ?? null
  const message = typeof body === 'string' ? body : body === null ? '' : toJson(body)
  const field = isZero(r.timeUnixNano) ? 'observedTimeUnixNano' : 'timeUnixNano'
  const ns = isZero(r.timeUnixNano) ? r.observedTimeUnixNano : r.timeUnixNano
  if (pastLatest(ns)) throw new FieldProblem(field, `${ns} is ${AFTER_LATEST_EVENT}`)
  return { number, message, ns }
}

/**
 * The record's LogEvent when it is within every limit of the validator (the common case): what
 * validateLogInput makes of sluiceRecord's output, without building that record only to read it
 * again (otlp-map.test.ts holds the two to each other). Otherwise that record, for the validator.
 */
export function mapRecord(r: OtlpLogRecord, res: ResourceContext, d: EventDefaults): Record<string, unknown> | Validated {
  const m = mapped(r)
  // The resource is within the limits (resourceContext); the record's attributes, its scope's
  // among them, are checked here (at most 256 of them before the 257th stops the count).
  if (!withinLimits(r.attributes)) return validatorRecord(r, res, m)
  const level = severityFromNumber(m.number)
  return new Validated({
    id: uuidv7(),
    tenant: d.tenant,
    timestamp: isZero(m.ns) ? d.observedNs : typeof m.ns === 'bigint' ? m.ns : BigInt(m.ns),
    observed_timestamp: d.observedNs,
    service: res.service ?? 'unknown',
    host: res.host ?? null,
    severity_text: level.text,
    severity_number: level.number,
    message: m.message,
    trace_id: r.traceId === '' ? null : r.traceId,
    span_id: r.spanId === '' ? null : r.spanId,
    attributes: r.attributes,
    resource: res.resource,
    source: d.source,
  })
}

/** The record in Sluice's JSON shape, as the validator reads it: the authority mapRecord is held to. */
export function sluiceRecord(r: OtlpLogRecord, res: ResourceContext): Record<string, unknown> {
  return validatorRecord(r, res, mapped(r))
}

function validatorRecord(r: OtlpLogRecord, res: ResourceContext, { number, message, ns }: Mapped): Record<string, unknown> {
  const out: Record<string, unknown> = { message, attributes: r.attributes, resource: res.resource }
  // The validator takes a bare number as a level too, but keeps any spelling but the canonical
  // name as the attribute log.level; the canonical names (INFO = 9) are the common case and take
  // its fast path, the numbers between (INFO2 = 10) have only severity_number to go to.
  if (number % 4 === 1) out.level = SHORT_NAMES[number]
  else out.severity_number = number
  if (!isZero(ns)) out.timestamp = timestampValue(ns)
  if (res.service !== undefined) out.service = res.service
  if (res.host !== undefined) out.host = res.host
  if (r.traceId !== '') out.trace_id = r.traceId
  if (r.spanId !== '') out.span_id = r.spanId
  return out
}

/** An id sent as bytes `start`–`end` of `b`, as lowercase hex; '' for none or all zero (OTel's "invalid id"). */
export function hexId(b: Buffer, start: number, end: number, field: string, bytes: number): string {
  if (start === end) return ''
  if (end - start !== bytes) throw new FieldProblem(field, `expected ${bytes} bytes, got ${end - start}`)
  for (let i = start; i < end; i++) if (b[i] !== 0) return b.toString('hex', start, end)
  return ''
}
