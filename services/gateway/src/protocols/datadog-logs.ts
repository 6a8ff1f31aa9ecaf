// Datadog log intake bodies (POST /api/v2/logs, /v1/input) read into records of Sluice's JSON
// shape (datadog.ts serves them). A body is a JSON array of log objects, or one object:
//   [{"ddsource": "nginx", "ddtags": "env:prod,version:1.4.2,canary", "hostname": "web-1",
//     "service": "checkout", "status": "error", "message": "upstream timed out",
//     "timestamp": 1765100000123, "http": {"status_code": 504}}]
//   message    the message (else `msg` or `log`, else the log's JSON); an object (the Lambda
//              extension's {"message", "status", "lamdba": {…}}) gives its `message` and `status`,
//              its Lambda fields attributes `lambda.*`; anything else its JSON text
//   status     the level (else `level` or `severity`, as Datadog's status remapper reads them); one
//              Sluice does not know (Datadog's `ok`) is kept as the attribute `status` and the
//              record is INFO, as Datadog would not refuse it
//   service    the service;  hostname (else host)  the host
//   timestamp  epoch milliseconds (or any time /v1/logs reads, `date` too); else the request's
//              dd-message-timestamp header (epoch ms, as the Datadog Agent sends it); else when
//              Sluice received it
//   ddsource   the resource attribute `ddsource`
//   ddtags     resource attributes: "env:prod,version:1.4.2" → env=prod, version=1.4.2; a tag without
//              a value (`canary`) is kept with an empty value. The request's ?ddtags= are every log's
//   other      attributes, nested objects as dotted keys (as /v1/logs reads them)
// A log that is not an object is refused alone (400 naming it, the others stored).
import { INPUT_LIMITS, LATEST_EVENT_NS, parseLevel, parseTimestampNs, setOwn } from '@sluice/core'
import type { FieldError } from '@sluice/core'
import { SKIP, directEvent } from '../ingest.js'
import type { EventDefaults, Validated } from '../ingest.js'

/** What the request gives every log: ?ddtags, and the dd-message-timestamp header (epoch ms). */
export interface DatadogDefaults {
  ddtags?: string | undefined
  timestampMs?: number | undefined
}

export interface DatadogBatch {
  /** One per log, in order: a Sluice record, its LogEvent made already (Validated), or SKIP where the log could not be read. */
  records: unknown[]
  errors: FieldError[]
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const unset = (v: unknown) => v === undefined || v === null

/** Datadog's tags as a map: `k:v` pairs split at the first colon, a bare tag with an empty value. */
export function parseTags(tags: string, into: Record<string, string> = {}): Record<string, string> {
  for (const tag of tags.split(',')) {
    const t = tag.trim()
    if (t === '') continue
    const colon = t.indexOf(':')
    if (colon === -1) into[t] = ''
    else if (colon > 0) into[t.slice(0, colon)] = t.slice(colon + 1)
  }
  return into
}

/** Tag maps by their text: the logs of a request mostly share theirs (the validator copies what it keeps). */
class Tags {
  // By ddsource, then ddtags (undefined when not sent: a Map takes it as a key).
  readonly #known = new Map<string | undefined, Map<string | undefined, Record<string, string>>>()
  constructor(readonly base: Record<string, string>) {}

  of(ddtags: string | undefined, ddsource: string | undefined): Record<string, string> {
    let byTags = this.#known.get(ddsource)
    if (byTags === undefined) this.#known.set(ddsource, (byTags = new Map()))
    let r = byTags.get(ddtags)
    if (r === undefined) {
      r = { ...this.base }
      if (ddtags !== undefined) parseTags(ddtags, r)
      if (ddsource !== undefined) r.ddsource = ddsource
      byTags.set(ddtags, r)
      if (plainMap(r)) this.plain.add(r)
    }
    return r
  }

  /** The maps within the validator's rules for a map (plainEvent). */
  readonly plain = new WeakSet<Record<string, string>>()
}

/** Whether every key and value of `m` is within the validator's rules for a map of strings. */
function plainMap(m: Record<string, unknown>): boolean {
  let n = 0
  for (const k in m) {
    const v = m[k]
    if (++n > INPUT_LIMITS.entries || k.length === 0 || k.length > INPUT_LIMITS.keyChars || k === '__proto__' || !k.isWellFormed() || typeof v !== 'string' || !v.isWellFormed()) return false
  }
  return true
}

const name = (v: unknown): string | undefined => (typeof v === 'string' ? v.trim() : undefined)

/**
 * A record's LogEvent made here, as the validator would make it (datadog.test.ts holds the two to
 * each other): the common log of scalar fields, without a record to read again and maps to copy.
 * Anything the validator might refuse or read otherwise (a nested field, a time past 2096, a name
 * too long, text that is not well-formed, too many attributes) is left to it: undefined.
 */
function plainEvent(record: Record<string, unknown>, attributes: Record<string, unknown>, resource: Record<string, string> | undefined, plainResource: boolean, d: EventDefaults): Validated | undefined {
  const message = record.message
  if (typeof message !== 'string' || !message.isWellFormed() || (resource !== undefined && !plainResource)) return undefined
  let timestamp = d.observedNs
  if (record.timestamp !== undefined) {
    const v = record.timestamp
    const ns = typeof v === 'string' || typeof v === 'number' ? parseTimestampNs(v) : undefined
    if (ns === undefined || ns > LATEST_EVENT_NS) return undefined
    timestamp = ns
  }
  const service = record.service === undefined ? 'unknown' : name(record.service)
  const host = record.host === undefined ? '' : name(record.host)
  if (service === undefined || service.length === 0 || service.length > INPUT_LIMITS.nameChars || !service.isWellFormed()) return undefined
  if (host === undefined || host.length > INPUT_LIMITS.nameChars || !host.isWellFormed()) return undefined
  // The attributes as the validator writes them, scalars as text and null as '' — once all are
  // known to be within its rules: the record stays as it was for the validator otherwise.
  let n = 0
  let scalars = false
  for (const k in attributes) {
    const v = attributes[k]
    if (++n > INPUT_LIMITS.entries || k.length === 0 || k.length > INPUT_LIMITS.keyChars || k === '__proto__' || !k.isWellFormed()) return undefined
    if (typeof v === 'string') {
      if (!v.isWellFormed()) return undefined
    } else if (v === null || typeof v === 'number' || typeof v === 'boolean') scalars = true
    else return undefined
  }
  if (scalars) for (const k in attributes) if (typeof attributes[k] !== 'string') attributes[k] = attributes[k] === null ? '' : String(attributes[k])
  // Only a level parseLevel knows is taken as one (toRecord).
  return directEvent({ timestamp, service, host, level: record.level as string | number | undefined, message, attributes: attributes as Record<string, string>, resource: resource ?? {} }, d)
}

/** The Lambda extension's message object: its text and status, its Lambda fields. */
function lambdaMessage(m: Record<string, unknown>, record: Record<string, unknown>, attributes: Record<string, unknown>): void {
  record.message = typeof m.message === 'string' ? m.message : JSON.stringify(m.message ?? m)
  if (typeof m.status === 'string' && unset(record.status)) record.status = m.status
  // The extension spells it `lamdba`; `lambda` is read too.
  const lambda = m.lamdba ?? m.lambda
  if (isObject(lambda)) for (const k in lambda) setOwn(attributes, `lambda.${k}`, lambda[k])
}

/** The record of one log object. */
function toRecord(log: Record<string, unknown>, tags: Tags, defaults: DatadogDefaults, plain?: EventDefaults): Record<string, unknown> | Validated {
  const record: Record<string, unknown> = {}
  const attributes: Record<string, unknown> = {}
  let ddtags: string | undefined
  let ddsource: string | undefined
  let levelText: string | number | undefined
  for (const k in log) {
    const v = log[k]
    switch (k) {
      case 'message':
        if (typeof v === 'string') record.message = v
        else if (isObject(v)) lambdaMessage(v, record, attributes)
        else if (!unset(v)) record.message = JSON.stringify(v)
        break
      case 'status':
        if (!unset(v)) record.status = v
        break
      case 'service':
      case 'timestamp':
        if (!unset(v)) record[k] = v
        break
      case 'hostname':
        // Datadog's name for it; `host` is read too (below), this one wins.
        if (!unset(v)) {
          if (record.host !== undefined) attributes.host = record.host
          record.host = v
        }
        break
      case 'host':
        if (typeof v === 'string' && record.host === undefined) record.host = v
        else if (!unset(v)) attributes.host = v
        break
      case 'level':
      case 'severity':
        // Read as the level where no status names one (Datadog's status remapper reads them so).
        if (levelText === undefined && (typeof v === 'string' || typeof v === 'number') && parseLevel(v) !== undefined) levelText = v
        attributes[k] = v
        break
      case 'ddtags':
        if (typeof v === 'string') ddtags = v
        else if (!unset(v)) attributes.ddtags = v
        break
      case 'ddsource':
        if (typeof v === 'string') ddsource = v
        else if (!unset(v)) attributes.ddsource = v
        break
      case 'attributes':
      case 'resource':
        // Sluice's own map fields, when a Datadog log happens to have them: attributes, flattened.
        attributes[k] = v
        break
      default:
        // A field named __proto__ is kept as one, not taken as the map's prototype.
        setOwn(attributes, k, v)
    }
  }
  // The level: Datadog's status, kept as an attribute when it is no level Sluice knows.
  if (record.status !== undefined) {
    const status = record.status
    delete record.status
    if ((typeof status === 'string' || typeof status === 'number') && parseLevel(status) !== undefined) record.level = status
    else attributes.status = status
  }
  if (record.level === undefined && levelText !== undefined) {
    record.level = levelText
    // Taken as the level: not an attribute too, unless it is no canonical name (the validator keeps it as log.level).
    for (const k of ['level', 'severity']) if (attributes[k] === levelText) delete attributes[k]
  }
  if (record.timestamp === undefined) {
    if (!unset(log.date)) {
      record.timestamp = log.date
      delete attributes.date
    } else if (defaults.timestampMs !== undefined) record.timestamp = defaults.timestampMs
  }
  if (record.message === undefined) {
    // Datadog's message remapper reads msg and log too; a log without any is kept as its JSON.
    const field = (['msg', 'log'] as const).find((f) => typeof log[f] === 'string')
    if (field === undefined) record.message = JSON.stringify(log)
    else {
      record.message = log[field]
      delete attributes[field]
    }
  }
  const tagMap = tags.of(ddtags, ddsource)
  const resource = Object.keys(tagMap).length > 0 ? tagMap : undefined
  if (plain !== undefined) {
    const made = plainEvent(record, attributes, resource, resource !== undefined && tags.plain.has(tagMap), plain)
    if (made !== undefined) return made
  }
  if (resource !== undefined) record.resource = resource
  if (Object.keys(attributes).length > 0) record.attributes = attributes
  return record
}

/**
 * The logs of a parsed intake body (an array of log objects, or one). `plain`: the request's
 * defaults, with which logs become their LogEvents here where they can (plainEvent), else every
 * log is a record for the validator.
 */
export function readLogs(body: unknown, defaults: DatadogDefaults, plain?: EventDefaults): DatadogBatch {
  const logs = Array.isArray(body) ? body : [body]
  const tags = new Tags(defaults.ddtags === undefined ? {} : parseTags(defaults.ddtags))
  const records: unknown[] = []
  const errors: FieldError[] = []
  for (let i = 0; i < logs.length; i++) {
    const log = logs[i]
    if (!isObject(log)) {
      records.push(SKIP)
      errors.push({ index: i, field: '', message: `expected a log object, got ${Array.isArray(log) ? 'an array' : log === null ? 'null' : typeof log}` })
    } else records.push(toRecord(log, tags, defaults, plain))
  }
  return { records, errors }
}
