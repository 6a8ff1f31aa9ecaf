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
import { parseLevel } from '@sluice/core'
import type { FieldError } from '@sluice/core'
import { SKIP } from '../ingest.js'

/** What the request gives every log: ?ddtags, and the dd-message-timestamp header (epoch ms). */
export interface DatadogDefaults {
  ddtags?: string | undefined
  timestampMs?: number | undefined
}

export interface DatadogBatch {
  /** One per log, in order: a Sluice record, or SKIP where the log could not be read. */
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
    }
    return r
  }
}

/** The Lambda extension's message object: its text and status, its Lambda fields. */
function lambdaMessage(m: Record<string, unknown>, record: Record<string, unknown>, attributes: Record<string, unknown>): void {
  record.message = typeof m.message === 'string' ? m.message : JSON.stringify(m.message ?? m)
  if (typeof m.status === 'string' && unset(record.status)) record.status = m.status
  // The extension spells it `lamdba`; `lambda` is read too.
  const lambda = m.lamdba ?? m.lambda
  if (isObject(lambda)) for (const k in lambda) attributes[`lambda.${k}`] = lambda[k]
}

/** The record of one log object. */
function toRecord(log: Record<string, unknown>, tags: Tags, defaults: DatadogDefaults): Record<string, unknown> {
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
        attributes[k] = v
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
  const resource = tags.of(ddtags, ddsource)
  if (Object.keys(resource).length > 0) record.resource = resource
  if (Object.keys(attributes).length > 0) record.attributes = attributes
  return record
}

/** The logs of a parsed intake body (an array of log objects, or one). */
export function readLogs(body: unknown, defaults: DatadogDefaults): DatadogBatch {
  const logs = Array.isArray(body) ? body : [body]
  const tags = new Tags(defaults.ddtags === undefined ? {} : parseTags(defaults.ddtags))
  const records: unknown[] = []
  const errors: FieldError[] = []
  for (let i = 0; i < logs.length; i++) {
    const log = logs[i]
    if (!isObject(log)) {
      records.push(SKIP)
      errors.push({ index: i, field: '', message: `expected a log object, got ${Array.isArray(log) ? 'an array' : log === null ? 'null' : typeof log}` })
    } else records.push(toRecord(log, tags, defaults))
  }
  return { records, errors }
}
