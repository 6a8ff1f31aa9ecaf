// An Elasticsearch source document as a record of Sluice's JSON shape. Shippers write ECS
// (Filebeat, Elastic Agent, Logstash with ecs_compatibility, ecs-pino-format …) or their own flat
// fields (Fluent Bit's `log`, pino-elasticsearch's `msg`, syslog-ng's default template with
// MESSAGE, PRIORITY, PROGRAM, HOST), nested or dotted; the document is flattened to dotted keys
// first, so `{"log":{"level":"warn"}}` and `{"log.level":"warn"}` read the same. First field set wins:
//   timestamp  @timestamp, timestamp, time
//   message    message, log, msg, MESSAGE                         (required, as by Sluice)
//   level      log.level, level, PRIORITY   a level Sluice does not know stays an attribute and
//                                           the record is INFO — Elasticsearch would not refuse it;
//                                           a PRIORITY of 0–7 is a syslog severity (journald's
//                                           and syslog-ng's: 3 err, 6 info), a name as any level
//   service    service.name, service, app, kubernetes.container.name, kubernetes.container_name,
//              container.name, container_name, PROGRAM   (Fluent Bit's kubernetes filter and
//              Docker's fluentd driver write the last underscored; Docker's leading / is dropped)
//   host       host.name, host.hostname, hostname, host, HOST
//   trace_id   trace.id, trace_id;    span_id  span.id, span_id
// The field a role is read from is not stored twice, except the service fallbacks from `app` and
// the container, which say more than the service and stay attributes too. Every other field is an
// attribute (arrays as JSON, nulls dropped as Elasticsearch drops them); the index the document
// was sent to is the resource attribute `elasticsearch.index`.
//
// Bounded like an Elasticsearch index with default settings: objects nest at most 20 deep, a
// document has at most 1000 fields — and at most 256 attributes, Sluice's own limit. A field name
// or string value that is not well-formed Unicode (JSON can escape a lone surrogate, \ud800, which
// no UTF-8 encodes) refuses the document: most documents become events here without the
// validator, and such a string would reach Kafka as invalid bytes.
import { INPUT_LIMITS, LATEST_EVENT_NS, SPAN_ID_HEX, TRACE_ID_HEX, parseLevel, parseTimestampNs, severityFromSyslog } from '@sluice/core'
import { directEvent } from '../ingest.js'
import type { EventDefaults, Validated } from '../ingest.js'
import { ILL_FORMED, isPlainObject, shown } from './elastic-bulk.js'

export const MAX_DEPTH = 20
export const MAX_FIELDS = 1000
const MAX_ATTRIBUTES = INPUT_LIMITS.entries
const MAX_KEY_LENGTH = INPUT_LIMITS.keyChars

export interface MappedDoc {
  record: Record<string, unknown>
  /** Given the request's defaults: the record's event, where toRecord could make it (plainEvent). */
  event?: Validated
  /**
   * The document field each of the record's fields came from, to name the client's field in
   * errors. Shared by every document whose roles came from the same fields (read only): it is kept
   * for each document until Kafka answered, and an object per document kept that long is promoted
   * by the garbage collector.
   */
  from: Readonly<Record<string, string>>
}

export type MapResult = { ok: true; doc: MappedDoc } | { ok: false; reason: string }

/**
 * `map()`, with a bug of the mapper (an exception) a refusal of that one document, told to `bug`,
 * rather than an exception out of a connection's batch or a request (the stream listeners').
 */
export function guardedMap(map: () => MapResult, bug: (err: unknown) => void): MapResult {
  try {
    return map()
  } catch (err) {
    bug(err)
    return { ok: false, reason: `could not be mapped: ${err instanceof Error ? err.message : String(err)}` }
  }
}

const ROLES = {
  timestamp: ['@timestamp', 'timestamp', 'time'],
  message: ['message', 'log', 'msg', 'MESSAGE'],
  level: ['log.level', 'level', 'PRIORITY'],
  service: ['service.name', 'service', 'app', 'kubernetes.container.name', 'kubernetes.container_name', 'container.name', 'container_name', 'PROGRAM'],
  host: ['host.name', 'host.hostname', 'hostname', 'host', 'HOST'],
  trace_id: ['trace.id', 'trace_id'],
  span_id: ['span.id', 'span_id'],
} as const

type Role = keyof typeof ROLES

// Which field each role came from, as a number while a document is mapped: per role in this order
// FROM_BITS bits, the position of its field in ROLES[role] plus one (0: none).
const FROM_ROLES: readonly Role[] = ['message', 'timestamp', 'level', 'service', 'host', 'trace_id', 'span_id']
const FROM_BITS = 4 // a role has at most 15 fields
const FROM_SHIFT = Object.fromEntries(FROM_ROLES.map((r, i) => [r, i * FROM_BITS])) as Record<Role, number>
/** MappedDoc.from by that number; the combinations documents use are few, the cache is bounded anyway. */
const FROM_MAPS = new Map<number, Readonly<Record<string, string>>>()
const MAX_FROM_MAPS = 1024

function fromMap(code: number): Readonly<Record<string, string>> {
  const known = FROM_MAPS.get(code)
  if (known) return known
  const from: Record<string, string> = { id: '_id' }
  for (const role of FROM_ROLES) {
    const i = (code >> FROM_SHIFT[role]) & ((1 << FROM_BITS) - 1)
    if (i === 0) continue
    const name = ROLES[role][i - 1]!
    // A message read from `msg` is the record's `msg` (toRecord).
    if (role === 'message' && name === 'msg') from.msg = 'msg'
    else from[role] = name
  }
  if (FROM_MAPS.size < MAX_FROM_MAPS) FROM_MAPS.set(code, Object.freeze(from))
  return from
}

const KEPT_AS_ATTRIBUTE = new Set<string>(['app', 'kubernetes.container.name', 'kubernetes.container_name', 'container.name', 'container_name'])

class DocumentError extends Error {}

/** Whether `v` nests deeper than MAX_DEPTH (JSON.stringify of it would recurse that far). */
function tooDeep(v: unknown, depth: number): boolean {
  if (typeof v !== 'object' || v === null) return false
  if (depth > MAX_DEPTH) return true
  for (const k in v) if (tooDeep((v as Record<string, unknown>)[k], depth + 1)) return true
  return false
}

type Flat = Record<string, unknown>

function flatten(o: Record<string, unknown>, into: Flat, prefix: string, depth: number, count: { n: number }): void {
  for (const k in o) {
    const v = o[k]
    if (k === '') throw new DocumentError(`field name cannot be an empty string${prefix && ` (in [${shown(prefix)}])`}`)
    const key = prefix === '' ? k : `${prefix}.${k}`
    if (v === null) continue
    if (isPlainObject(v)) {
      if (depth >= MAX_DEPTH) throw new DocumentError(`Limit of mapping depth [${MAX_DEPTH}] has been exceeded due to object field [${shown(key)}]`)
      flatten(v, into, key, depth + 1, count)
      continue
    }
    if (Array.isArray(v) && tooDeep(v, depth + 1)) throw new DocumentError(`Limit of mapping depth [${MAX_DEPTH}] has been exceeded due to array field [${shown(key)}]`)
    if (!Object.hasOwn(into, key)) {
      if (count.n >= MAX_FIELDS) throw new DocumentError(`Limit of total fields [${MAX_FIELDS}] has been exceeded`)
      count.n++
    }
    into[key] = v
  }
}

/**
 * The document as dotted keys → values, nulls left out. Most documents are flat already (Filebeat
 * and Fluent Bit write dotted ECS names): those are read as they are, without a copy.
 */
function flat(doc: Record<string, unknown>): Flat {
  let n = 0
  for (const k in doc) {
    const v = doc[k]
    if (k === '' || isPlainObject(v) || Array.isArray(v) || ++n > MAX_FIELDS) {
      const into = Object.create(null) as Flat // a `__proto__` field is a field
      flatten(doc, into, '', 1, { n: 0 })
      return into
    }
  }
  return doc
}

const isScalar = (v: unknown): boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
const isName = (v: unknown): boolean => typeof v === 'string' && v.trim() !== ''
const isLevel = (v: unknown, name: string): boolean => (name === 'PRIORITY' && syslogSeverity(v) !== undefined) || ((typeof v === 'string' || typeof v === 'number') && parseLevel(v) !== undefined)
/** A syslog severity (0 emerg … 7 debug) as journald and syslog-ng write PRIORITY: a number or its digit. */
const syslogSeverity = (v: unknown): number | undefined => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-7]$/.test(v) ? Number(v) : NaN
  return Number.isInteger(n) && n >= 0 && n <= 7 ? n : undefined
}
const isString = (v: unknown): boolean => typeof v === 'string'
/** For the roles Sluice's validation checks itself, naming the field when a value is wrong. */
const isSet = (): boolean => true

const text = (v: unknown): string => (typeof v === 'string' ? v : Array.isArray(v) ? JSON.stringify(v) : String(v))

interface Mapping {
  fields: Flat
  record: Record<string, unknown>
  from: number
  taken: string[]
}

/** Gives `role` the first of its fields set to a value it `accepts`; false when none is. */
function take(m: Mapping, role: Role, accepts: (v: unknown, name: string) => boolean): boolean {
  const names = ROLES[role]
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!
    // No field name of ROLES is one of Object.prototype's: an own property or none.
    const v = m.fields[name]
    if (v === undefined || v === null || !accepts(v, name)) continue
    m.record[role] = v
    m.from |= (i + 1) << FROM_SHIFT[role]
    if (!KEPT_AS_ATTRIBUTE.has(name)) m.taken.push(name)
    return true
  }
  return false
}

/** The field `role` was taken from (take), or undefined. */
function tookField(m: Mapping, role: Role): string | undefined {
  const i = (m.from >> FROM_SHIFT[role]) & ((1 << FROM_BITS) - 1)
  return i === 0 ? undefined : ROLES[role][i - 1]
}

/** The resource of the last index's documents: one object for all of them (records only read it). */
let lastResource: Readonly<Record<string, string>> = Object.freeze({ 'elasticsearch.index': '' })
const resourceOf = (index: string): Readonly<Record<string, string>> => (lastResource['elasticsearch.index'] === index ? lastResource : (lastResource = Object.freeze({ 'elasticsearch.index': index })))

/**
 * The document `doc` sent to `index`, stored under `id`, as a Sluice record — or, given the
 * request's `defaults`, as the LogEvent the validator would make of that record when it is plainly
 * within the validator's rules (plainEvent), the common case.
 */
export function toRecord(doc: Record<string, unknown>, id: string, index: string, defaults?: EventDefaults): MapResult {
  return mapDocument(doc, id, resourceOf(index), defaults)
}

export interface MapOptions {
  /** The record's time as the sender gave it beside the document (the forward protocol's event time): no field is read for it. */
  timestampNs?: bigint
  /** A document without a message field is stored with its JSON text as the message, rather than refused. */
  wholeAsMessage?: boolean
}

/** toRecord for any sender of JSON-like documents: `resource` is the records' resource (shared, read only). */
export function mapDocument(doc: Record<string, unknown>, id: string, resource: Readonly<Record<string, string>>, defaults?: EventDefaults, opts: MapOptions = {}): MapResult {
  let fields: Flat
  try {
    fields = flat(doc)
  } catch (err) {
    if (err instanceof DocumentError) return { ok: false, reason: err.message }
    throw err
  }
  const illFormed = illFormedField(fields)
  if (illFormed !== undefined) return { ok: false, reason: illFormed }
  const record: Record<string, unknown> = { id }
  /** Fields a role took: not attributes too. */
  const taken: string[] = []
  const m: Mapping = { fields, record, from: 0, taken }
  if (take(m, 'message', isScalar)) record.message = text(record.message)
  else if (opts.wholeAsMessage) record.message = JSON.stringify(doc)
  else return { ok: false, reason: 'the document has no [message] field (Sluice also reads [log], [msg] or [MESSAGE]): a log needs one' }
  // pino-elasticsearch sends pino's own records: kept under `msg`, their numeric level is read on
  // pino's scale (10 trace, 20 debug) rather than as an OTel number (input.ts).
  if (taken[0] === 'msg') {
    record.msg = record.message
    delete record.message
  }
  if (opts.timestampNs === undefined) take(m, 'timestamp', isSet)
  else record.timestamp = opts.timestampNs
  if (take(m, 'level', isLevel) && tookField(m, 'level') === 'PRIORITY') {
    const severity = syslogSeverity(record.level)
    if (severity !== undefined) record.level = severityFromSyslog(severity)!.text
  }
  if (take(m, 'service', isName) && tookField(m, 'service') === 'container_name') record.service = (record.service as string).replace(/^\//, '')
  take(m, 'host', isString)
  take(m, 'trace_id', isSet)
  take(m, 'span_id', isSet)

  const attributes: Record<string, string> = {}
  let count = 0
  for (const k in fields) {
    const v = fields[k]
    if (v === null || taken.includes(k)) continue
    if (k.length > MAX_KEY_LENGTH) return { ok: false, reason: `field name [${k.slice(0, 64)}…] is longer than ${MAX_KEY_LENGTH} characters` }
    // A field named `__proto__` stays a field rather than setting a prototype.
    if (k === '__proto__') Object.defineProperty(attributes, k, { value: text(v), enumerable: true, writable: true, configurable: true })
    else attributes[k] = text(v)
    count++
  }
  if (count > MAX_ATTRIBUTES) return { ok: false, reason: `Limit of total fields [${MAX_ATTRIBUTES}] has been exceeded: Sluice stores at most ${MAX_ATTRIBUTES} attributes per record, this document has ${count} besides its message, time, level, service, host and trace` }
  record.attributes = attributes
  record.resource = resource
  const event = defaults === undefined ? undefined : plainEvent(record, attributes, defaults)
  const from = fromMap(m.from)
  return { ok: true, doc: event === undefined ? { record, from } : { record, event, from } }
}

/**
 * Why a field name or string value of `fields` is not well-formed Unicode, or undefined. Arrays
 * need no look: they are stored as JSON, which escapes a lone surrogate.
 */
function illFormedField(fields: Flat): string | undefined {
  for (const k in fields) {
    if (!k.isWellFormed()) return `failed to parse: a field name ${ILL_FORMED}`
    const v = fields[k]
    if (typeof v === 'string' && !v.isWellFormed()) return `failed to parse field [${shown(k)}]: the value ${ILL_FORMED}`
  }
  return undefined
}

/**
 * The LogEvent validateLogInput makes of `r` (toRecord's record, `attributes` its attributes),
 * without reading the record again: what the mapping left to check is checked here, and a record
 * outside the validator's rules or off its common path (a pino record under `msg`, a time or id it
 * refuses, a `__proto__` attribute) is left to it (undefined). elastic-map.test.ts holds the two
 * to each other.
 */
function plainEvent(r: Record<string, unknown>, attributes: Record<string, string>, d: EventDefaults): Validated | undefined {
  const id = r.id as string
  if (r.msg !== undefined || id.length === 0 || id.length > INPUT_LIMITS.idChars || Object.hasOwn(attributes, '__proto__')) return undefined
  let timestamp: bigint | undefined
  if (r.timestamp !== undefined) {
    const v = r.timestamp
    const ns = typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' ? parseTimestampNs(v) : undefined
    // After 2096-01-01 (the latest time storage keeps) the validator refuses it, saying why.
    if (ns === undefined || ns > LATEST_EVENT_NS) return undefined
    timestamp = ns
  }
  const service = r.service === undefined ? 'unknown' : (r.service as string).trim()
  const host = r.host === undefined ? '' : (r.host as string).trim()
  if (service.length > INPUT_LIMITS.nameChars || host.length > INPUT_LIMITS.nameChars) return undefined
  const traceId = r.trace_id
  const spanId = r.span_id
  if (traceId !== undefined && (typeof traceId !== 'string' || !TRACE_ID_HEX.test(traceId))) return undefined
  if (spanId !== undefined && (typeof spanId !== 'string' || !SPAN_ID_HEX.test(spanId))) return undefined
  // Only now, with nothing left to refuse: the record stays as it was for the validator otherwise.
  // The mapping took a level only if parseLevel knows it (isLevel).
  return directEvent({ id, timestamp, service, host, level: r.level as string | number | undefined, message: r.message as string, traceId, spanId, attributes, resource: r.resource as Record<string, string> }, d)
}

/** The document field behind a field Sluice's validation named (`attributes.x` is `x`). */
export function documentField(field: string, from: Readonly<Record<string, string>>): string {
  if (field.startsWith('attributes.')) return field.slice('attributes.'.length)
  const [head = '', ...rest] = field.split('.')
  return [from[head] ?? head, ...rest].join('.')
}
