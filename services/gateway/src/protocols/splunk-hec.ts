// Splunk HTTP Event Collector bodies read into records of Sluice's JSON shape (splunk.ts serves them).
//
// /services/collector/event takes event objects one after another, separated by white space or by
// nothing at all (Splunk's logging libraries join them with ''):
//   {"time": 1765100000.123, "host": "web-1", "source": "checkout", "sourcetype": "_json",
//    "index": "main", "event": "payment accepted" | {…}, "fields": {"region": "eu", "tags": ["a","b"]}}
//   time        epoch seconds, a number or a decimal string ("1765100000.123"); else the event's
//               own time field, else when Sluice received it
//   event       required. A string is the message. An object is read as a record of /v1/logs is
//               (message/msg/body, level/severity, service, host, … and every other field an
//               attribute; a message that is no string, its JSON text); without a message field
//               its `log` or `line` is the message (Fluent Bit's and Docker's shapes; a `line`
//               that is an object, Docker's splunk-format=json, is read as the record), else its
//               JSON text, as Splunk keeps it as _raw
//   host        the record's host
//   source      the resource attribute com.splunk.source, and the service when neither the event
//               nor `fields` names one (Splunk's own advice: the source names the app)
//   sourcetype  com.splunk.sourcetype;  index  com.splunk.index (the names the OpenTelemetry
//               Collector's Splunk HEC receiver gives them)
//   fields      indexed fields: attributes. Values are strings, numbers or booleans, or arrays of
//               them (kept as JSON); an object is refused, as Splunk refuses it. Where the event
//               names none itself, service.name among them is the service, level (severity,
//               log.level, the Collector's otel.log.severity.text or .number) the level, trace_id
//               and span_id the ids
// Query parameters host, source, sourcetype and index stand in for an event's missing ones.
// /services/collector/raw takes text: each non-blank line is one event with those parameters.
//
// A bad event is that event's error: the others of the request are stored, and the answer names
// the first bad one (splunk.ts).
import { ILL_FORMED, INPUT_LIMITS, LATEST_EVENT_NS, SPAN_ID_HEX, TRACE_ID_HEX, parseLevel, parseTimestampNs, setOwn } from '@sluice/core'
import type { FieldError } from '@sluice/core'
import { SKIP, directEvent } from '../ingest.js'
import type { EventDefaults, Validated } from '../ingest.js'

/** The metadata a request's query parameters give its events, as HEC reads them. */
export interface HecDefaults {
  host?: string | undefined
  source?: string | undefined
  sourcetype?: string | undefined
  index?: string | undefined
}

/** Splunk's answer codes for a refused event, beside the HTTP 400 (splunk.ts). */
export const HEC_CODES = {
  noData: 5,
  invalidDataFormat: 6,
  eventRequired: 12,
  eventBlank: 13,
  indexedFields: 15,
} as const

export interface HecError extends FieldError {
  /** The HEC code that names this kind of fault. */
  code: number
}

export interface HecBatch {
  /** One per event, in order: a Sluice record, its LogEvent made already (Validated), or SKIP where the event could not be read. */
  records: unknown[]
  /** The events refused while reading (their records are SKIP). */
  errors: HecError[]
}

/** The longest piece of a client's text an error repeats. */
const SHOWN = 80

const shown = (text: string) => JSON.stringify(text.length > SHOWN ? `${text.slice(0, SHOWN)}…` : text)

/**
 * The JSON texts of the event objects in `text`, in order: each top-level `{…}` balanced outside
 * strings. Anything else between them (a stray character, an unclosed object at the end) is a
 * `bad` piece, where reading picks up again at the next `{`.
 */
export function splitEvents(text: string): Array<{ json: string } | { bad: string }> {
  const out: Array<{ json: string } | { bad: string }> = []
  const n = text.length
  let i = 0
  while (i < n) {
    const c = text.charCodeAt(i)
    // White space between events: space, tab, CR, LF (and a BOM at the start, as Windows writes it).
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0xfeff) {
      i++
      continue
    }
    if (c !== 0x7b /* { */) {
      let next = text.indexOf('{', i)
      if (next === -1) next = n
      out.push({ bad: text.slice(i, next) })
      i = next
      continue
    }
    const start = i
    let depth = 0
    let inString = false
    for (; i < n; i++) {
      const d = text.charCodeAt(i)
      if (inString) {
        if (d === 0x5c /* \ */) i++
        else if (d === 0x22 /* " */) inString = false
      } else if (d === 0x22) inString = true
      else if (d === 0x7b) depth++
      else if (d === 0x7d /* } */ && --depth === 0) break
    }
    if (i >= n) {
      out.push({ bad: text.slice(start) })
      break
    }
    out.push({ json: text.slice(start, ++i) })
  }
  return out
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A metadata value (host, source, sourcetype, index): a non-empty string, else absent. */
function meta(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined
  if (typeof v !== 'string') throw new EventError(HEC_CODES.invalidDataFormat, field, `expected a string, got ${JSON.stringify(v).slice(0, SHOWN)}`)
  if (!v.isWellFormed()) throw new EventError(HEC_CODES.invalidDataFormat, field, ILL_FORMED)
  return v
}

class EventError extends Error {
  constructor(
    readonly code: number,
    readonly field: string,
    message: string,
  ) {
    super(message)
  }
}

/** The event's time in epoch nanoseconds: HEC's `time` is epoch seconds, as a number or a decimal string. */
function eventTime(v: unknown): bigint | undefined {
  if (v === undefined || v === null || v === '') return undefined
  const ns = typeof v === 'number' || typeof v === 'string' ? parseTimestampNs(v) : undefined
  if (ns === undefined) throw new EventError(HEC_CODES.invalidDataFormat, 'time', `expected epoch seconds (e.g. 1765100000.123, a number or a string), got ${JSON.stringify(v).slice(0, SHOWN)}`)
  return ns
}

/** An indexed field's value as an attribute: a scalar as text, an array of scalars as JSON; an object is refused. */
function fieldValue(k: string, value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (value === null || value === undefined) return undefined
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  if (Array.isArray(value) && value.every((e) => typeof e === 'string' || typeof e === 'number' || typeof e === 'boolean')) return JSON.stringify(value)
  throw new EventError(HEC_CODES.indexedFields, `fields.${k}`, 'an indexed field is a string, a number, a boolean or an array of them, not an object')
}

/** Indexed fields that name the level, in the order read: the OpenTelemetry Collector's HEC exporter's first. */
const LEVEL_FIELDS = ['otel.log.severity.text', 'level', 'severity', 'log.level'] as const
const SEVERITY_NUMBER_FIELD = 'otel.log.severity.number'
/** The record's own fields a level is read from (as /v1/logs reads a record's). */
const LEVEL_ROLES = ['level', 'severity', 'severity_text', 'log.level'] as const

/** Indexed fields read in one pass: the attributes, and the fields that may take a role. */
interface Indexed {
  attributes: Record<string, string> | undefined
  service: string | undefined
  /** The level field first in LEVEL_FIELDS' order, and its rank there. */
  level: string | undefined
  levelField: string | undefined
  levelRank: number
  severityNumber: string | undefined
  traceId: string | undefined
  spanId: string | undefined
  /** Every attribute within the validator's rules for a map (plainEvent). */
  plain: boolean
}

function readIndexed(v: unknown): Indexed {
  const x: Indexed = { attributes: undefined, service: undefined, level: undefined, levelField: undefined, levelRank: LEVEL_FIELDS.length, severityNumber: undefined, traceId: undefined, spanId: undefined, plain: true }
  if (v === undefined || v === null) return x
  if (!isObject(v)) throw new EventError(HEC_CODES.indexedFields, 'fields', 'expected an object of indexed fields')
  let n = 0
  for (const k in v) {
    const value = fieldValue(k, v[k])
    if (value === undefined) continue
    if (x.plain && (++n > INPUT_LIMITS.entries || k.length === 0 || k.length > INPUT_LIMITS.keyChars || k === '__proto__' || !k.isWellFormed() || !value.isWellFormed())) x.plain = false
    // The role fields are held apart, and go back among the attributes if the event names the role itself.
    if (k === 'service.name') x.service = value
    else if (k === SEVERITY_NUMBER_FIELD) x.severityNumber = value
    else if (k === 'trace_id') x.traceId = value
    else if (k === 'span_id') x.spanId = value
    else {
      const rank = value === '' ? -1 : LEVEL_FIELDS.indexOf(k as (typeof LEVEL_FIELDS)[number])
      // A field named __proto__ is kept as one, not taken as the map's prototype.
      if (rank === -1 || rank >= x.levelRank) setOwn((x.attributes ??= {}), k, value)
      else {
        if (x.levelField !== undefined) (x.attributes ??= {})[x.levelField] = x.level!
        x.level = value
        x.levelField = k
        x.levelRank = rank
      }
    }
  }
  return x
}

const unset = (v: unknown) => v === undefined || v === null

/** The fields an object event's message is read from (as /v1/logs reads a record's). */
const MESSAGE_FIELDS = ['message', 'msg', 'body'] as const
/** Where Fluent Bit (`log`) and Docker's Splunk driver (`line`) put the line, when no message field is set. */
const LINE_FIELDS = ['log', 'line'] as const

/** An object event as a record of /v1/logs, with a message (see the header). */
function objectRecord(event: Record<string, unknown>, mapsMessage: boolean): Record<string, unknown> {
  if (mapsMessage) return { ...event }
  const field = MESSAGE_FIELDS.find((f) => !unset(event[f]))
  if (field !== undefined) {
    const m = event[field]
    if (typeof m === 'string') return { ...event }
    // Splunk's logging libraries send the message they were given, an object as well: its JSON text.
    return { ...event, [field]: typeof m === 'object' ? JSON.stringify(m) : String(m) }
  }
  const line = LINE_FIELDS.find((f) => (typeof event[f] === 'string' && event[f] !== '') || isObject(event[f]))
  if (line === undefined) return { ...event, message: JSON.stringify(event) }
  const record: Record<string, unknown> = {}
  for (const k in event) if (k !== line) record[k] = event[k]
  const value = event[line]
  if (typeof value === 'string') {
    record.message = value
    return record
  }
  // Docker's splunk driver with splunk-format=json sends a line that was JSON as that object: it is
  // the record (its message and level read as /v1/logs reads them), beside the driver's source and tag.
  const inner = value as Record<string, unknown>
  Object.assign(record, inner)
  if (MESSAGE_FIELDS.every((f) => unset(inner[f]))) record.message = JSON.stringify(inner)
  else for (const f of MESSAGE_FIELDS) if (!unset(inner[f]) && typeof inner[f] !== 'string') record[f] = JSON.stringify(inner[f])
  return record
}

/**
 * The resource attributes of an event's source, sourcetype and index: one object for every event
 * of a request that shares them (the validator copies what it keeps).
 */
class Resources {
  // By source, then sourcetype, then index (undefined when not sent: a Map takes it as a key).
  readonly #known = new Map<string | undefined, Map<string | undefined, Map<string | undefined, Record<string, string>>>>()

  of(source: string | undefined, sourcetype: string | undefined, index: string | undefined): Record<string, string> | undefined {
    if (source === undefined && sourcetype === undefined && index === undefined) return undefined
    let byType = this.#known.get(source)
    if (byType === undefined) this.#known.set(source, (byType = new Map()))
    let byIndex = byType.get(sourcetype)
    if (byIndex === undefined) byType.set(sourcetype, (byIndex = new Map()))
    let r = byIndex.get(index)
    if (r === undefined) {
      r = {}
      if (source !== undefined) r['com.splunk.source'] = source
      if (sourcetype !== undefined) r['com.splunk.sourcetype'] = sourcetype
      if (index !== undefined) r['com.splunk.index'] = index
      byIndex.set(index, r)
    }
    return r
  }
}

/** `attributes` with `k` set to `v` (made when there were none); as it was when `v` is undefined. */
function withAttribute(attributes: Record<string, string> | undefined, k: string, v: string | undefined): Record<string, string> | undefined {
  if (v === undefined) return attributes
  const a = attributes ?? {}
  a[k] = v
  return a
}

/**
 * A string event's LogEvent made here, as the validator would make it from the record toRecord
 * builds (splunk.test.ts holds the two to each other): the common case, without a record to read
 * again and maps to copy. Anything the validator might refuse or read otherwise (a level it does
 * not know, a time past 2096, an id that is no hex, a name too long, text that is not well-formed,
 * too many attributes) is left to it: undefined.
 */
function plainEvent(message: string, time: bigint | undefined, host: string | undefined, service: string | undefined, level: string | number | undefined, x: Indexed, attributes: Record<string, string> | undefined, resource: Record<string, string> | undefined, d: EventDefaults): Validated | undefined {
  if (!message.isWellFormed() || (time !== undefined && time > LATEST_EVENT_NS) || !x.plain) return undefined
  const h = host?.trim()
  const svc = service?.trim()
  if ((h !== undefined && h.length > INPUT_LIMITS.nameChars) || (svc !== undefined && (svc.length === 0 || svc.length > INPUT_LIMITS.nameChars || !svc.isWellFormed()))) return undefined
  // A level is taken only if parseLevel knows it; the validator says what is wrong with another.
  if (level !== undefined && parseLevel(level) === undefined) return undefined
  const traceId = x.traceId
  const spanId = x.spanId
  if ((traceId !== undefined && !TRACE_ID_HEX.test(traceId)) || (spanId !== undefined && !SPAN_ID_HEX.test(spanId))) return undefined
  return directEvent({ timestamp: time, service: svc, host: h, level, message, traceId, spanId, attributes: attributes ?? {}, resource: resource ?? {} }, d)
}

/**
 * The record of one parsed HEC event object; throws EventError. `mapsMessage`: the request names
 * its message field. With `plain` (the request's defaults) a string event is made its LogEvent
 * here where plainEvent can.
 */
function toRecord(e: unknown, defaults: HecDefaults, mapsMessage: boolean, resources: Resources, plain?: EventDefaults): Record<string, unknown> | Validated {
  if (!isObject(e)) throw new EventError(HEC_CODES.invalidDataFormat, '', 'expected an event object ({"event": …})')
  const event = e.event
  if (unset(event)) throw new EventError(HEC_CODES.eventRequired, 'event', 'the event field is required')
  if (event === '') throw new EventError(HEC_CODES.eventBlank, 'event', 'the event field cannot be blank')
  let record: Record<string, unknown>
  if (typeof event === 'string') record = { message: event }
  else if (isObject(event)) record = objectRecord(event, mapsMessage)
  else if (typeof event === 'number' || typeof event === 'boolean' || Array.isArray(event)) record = { message: JSON.stringify(event) }
  else throw new EventError(HEC_CODES.invalidDataFormat, 'event', 'expected a string or an object')

  const time = eventTime(e.time)
  if (time !== undefined) record.timestamp = time
  const host = meta(e.host, 'host') ?? defaults.host
  if (host !== undefined) record.host = host
  const source = meta(e.source, 'source') ?? defaults.source
  const resource = resources.of(source, meta(e.sourcetype, 'sourcetype') ?? defaults.sourcetype, meta(e.index, 'index') ?? defaults.index)

  // Indexed fields take the roles the event leaves open; the others stay attributes.
  const x = readIndexed(e.fields)
  let attributes = x.attributes
  const ownService = !unset(record.service) || !unset(record['service.name'])
  if (x.service !== undefined && !ownService) record.service = x.service
  else {
    attributes = withAttribute(attributes, 'service.name', x.service)
    if (source !== undefined && !ownService) record.service = source
  }
  let severityNumber = x.severityNumber
  if (LEVEL_ROLES.every((f) => unset(record[f]))) {
    if (x.level !== undefined) record.level = x.level
    else if (severityNumber !== undefined && /^\d{1,2}$/.test(severityNumber)) {
      record.level = Number(severityNumber)
      severityNumber = undefined
    }
  } else if (x.levelField !== undefined) attributes = withAttribute(attributes, x.levelField, x.level)
  attributes = withAttribute(attributes, SEVERITY_NUMBER_FIELD, severityNumber)
  if (x.traceId !== undefined && unset(record.trace_id)) record.trace_id = x.traceId
  else attributes = withAttribute(attributes, 'trace_id', x.traceId)
  if (x.spanId !== undefined && unset(record.span_id)) record.span_id = x.spanId
  else attributes = withAttribute(attributes, 'span_id', x.spanId)

  if (plain !== undefined && typeof event === 'string') {
    const made = plainEvent(event, time, host, record.service as string | undefined, record.level as string | number | undefined, x, attributes, resource, plain)
    if (made !== undefined) return made
  }
  if (attributes !== undefined) {
    const own = record.attributes
    record.attributes = own === undefined || own === null ? attributes : isObject(own) ? { ...own, ...attributes } : { ...attributes, attributes: own }
  }
  if (resource !== undefined) record.resource = isObject(record.resource) ? { ...record.resource, ...resource } : resource
  return record
}

/** Reads one event, its JSON text or (`parsed`) its value, into `into`; its error into `into.errors`. */
function readOne(into: HecBatch, ctx: ReadContext, json: string, parsed?: unknown): void {
  const index = into.records.length
  try {
    into.records.push(toRecord(parsed ?? JSON.parse(json), ctx.defaults, ctx.mapsMessage, ctx.resources, ctx.plain))
  } catch (err) {
    into.records.push(SKIP)
    if (err instanceof EventError) into.errors.push({ index, code: err.code, field: err.field, message: err.message })
    else into.errors.push({ index, code: HEC_CODES.invalidDataFormat, field: '', message: `invalid JSON: ${err instanceof Error ? err.message : String(err)}` })
  }
}

interface ReadContext {
  defaults: HecDefaults
  mapsMessage: boolean
  resources: Resources
  plain: EventDefaults | undefined
}

/**
 * The events of a /services/collector/event body. `mapsMessage`: the request names its message
 * field; `plain`: the request's defaults, with which string events become their LogEvents here
 * where they can (plainEvent), else every event is a record for the validator. Most senders write
 * one event a line: each line is parsed as it is, and from the first line that does not parse as
 * one object on (events back to back, one spread over lines, a broken one) the rest is split by
 * splitEvents, which finds each event's bounds itself.
 */
export function readEvents(text: string, defaults: HecDefaults, mapsMessage = false, plain?: EventDefaults): HecBatch {
  const batch: HecBatch = { records: [], errors: [] }
  const ctx: ReadContext = { defaults, mapsMessage, resources: new Resources(), plain }
  let start = 0
  while (start < text.length) {
    let end = text.indexOf('\n', start)
    if (end === -1) end = text.length
    const line = text.slice(start, end).trim()
    if (line !== '') {
      if (line.charCodeAt(0) !== 0x7b /* { */) break
      let parsed: unknown
      try {
        parsed = JSON.parse(line)
      } catch {
        break
      }
      readOne(batch, ctx, line, parsed)
    }
    start = end + 1
  }
  if (start < text.length) {
    for (const piece of splitEvents(start === 0 ? text : text.slice(start))) {
      if ('json' in piece) readOne(batch, ctx, piece.json)
      else {
        batch.errors.push({ index: batch.records.length, code: HEC_CODES.invalidDataFormat, field: '', message: `not a JSON object: ${shown(piece.bad)}` })
        batch.records.push(SKIP)
      }
    }
  }
  return batch
}

/**
 * The events of a /services/collector/raw body: one per non-blank line, with the request's
 * metadata; `invalidUtf8` (1-based line numbers, body.ts' invalidUtf8Lines) are refused.
 */
export function readRaw(text: string, defaults: HecDefaults, invalidUtf8?: ReadonlySet<number>): HecBatch {
  const base: Record<string, unknown> = {}
  if (defaults.host !== undefined) base.host = defaults.host
  if (defaults.source !== undefined) base.service = defaults.source
  const resource: Record<string, string> = {}
  if (defaults.source !== undefined) resource['com.splunk.source'] = defaults.source
  if (defaults.sourcetype !== undefined) resource['com.splunk.sourcetype'] = defaults.sourcetype
  if (defaults.index !== undefined) resource['com.splunk.index'] = defaults.index
  if (Object.keys(resource).length > 0) base.resource = resource
  const records: unknown[] = []
  const errors: HecError[] = []
  let start = 0
  let no = 0
  while (start <= text.length) {
    let end = text.indexOf('\n', start)
    if (end === -1) end = text.length
    const line = text.slice(start, end).replace(/\r$/, '')
    start = end + 1
    no++
    if (line.trim() === '') continue
    if (invalidUtf8?.has(no)) {
      errors.push({ index: records.length, code: HEC_CODES.invalidDataFormat, field: '', message: `line ${no} is not valid UTF-8` })
      records.push(SKIP)
    } else records.push({ ...base, message: line })
  }
  return { records, errors }
}
