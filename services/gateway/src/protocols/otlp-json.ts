// OTLP/HTTP JSON bodies (an ExportLogsServiceRequest, already JSON-parsed) read into Sluice
// records. The OTLP JSON mapping is proto3's with OTLP's exceptions:
//
//   {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
//     "scopeLogs": [{"scope": {"name": "lib", "version": "1.0"},
//       "logRecords": [{"timeUnixNano": "1763899200123456789", "severityNumber": 9, "severityText": "INFO",
//         "body": {"stringValue": "…"}, "attributes": […], "traceId": "<32 hex>", "spanId": "<16 hex>"}]}]}]}
//
//   keys         lowerCamelCase; snake_case is read too (collectors and hand-written clients vary)
//   int64        decimal string or number (timeUnixNano, intValue)
//   enum         number (severityNumber); its name (SEVERITY_NUMBER_WARN) is read too
//   ids          hex (traceId, spanId); base64, proto3's usual bytes encoding, is read too
//   bytesValue   base64
//   AnyValue     one of stringValue, boolValue, intValue, doubleValue ("NaN", "Infinity" as
//                strings), bytesValue, arrayValue {values: [AnyValue]}, kvlistValue {values: [KeyValue]}
//   null         the field's default, as if absent
//   strings      well-formed: JSON can escape half a surrogate pair ("\ud800"), which no UTF-8
//                encodes; such a string refuses its record (its resource's or scope's records)
//                as invalid UTF-8 would in protobuf
//
// Faults in the structure around the records (resourceLogs, scopeLogs, logRecords not arrays of
// objects) make the request unreadable (400); a fault in a resource or scope rejects the records
// under it, one in a record (or its values, MAX_DEPTH deep at most) rejects that record.
import { ILL_FORMED, SluiceError } from '@sluice/core'
import { Batch, FieldProblem, KvList, MAX_DEPTH, addAttribute, attempt, hexId, join, resourceContext, scopeAttributes, severityName, tooDeep } from './otlp-map.js'
import type { EventDefaults } from '../ingest.js'
import type { AnyValue, KeyValue, Nanos, OtlpLogRecord, ResourceContext } from './otlp-map.js'

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

// Every field is read as `o.camelCase ?? o.snake_case`, spelled out where it is read: a property
// named in the code is a cheap lookup on objects of one shape (a parsed request's records mostly
// share theirs), a name held in a variable is not. null counts as absent, as in proto3 JSON.

function str(v: unknown, field: string): string {
  if (v === undefined || v === null) return ''
  if (typeof v !== 'string') throw new FieldProblem(field, `expected a string, got ${kind(v)}`)
  return wellFormed(v, field)
}

/**
 * `s`, unless it holds a lone surrogate (an escape such as "\ud800" without its pair): no UTF-8
 * encodes one, and the record would reach Kafka with invalid bytes. One-byte strings, nearly all,
 * are answered without looking at their characters.
 */
function wellFormed(s: string, field: string): string {
  if (!s.isWellFormed()) throw new FieldProblem(field, ILL_FORMED)
  return s
}

function kind(v: unknown): string {
  return Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v).slice(0, 40)}`
}

const U64_MAX = 2n ** 64n - 1n
const I64_MIN = -(2n ** 63n)
const I64_MAX = 2n ** 63n - 1n
const INTEGER = /^-?\d{1,20}$/

function int64(v: unknown, field: string, min: bigint, max: bigint): bigint {
  let n: bigint | undefined
  if (typeof v === 'string' && INTEGER.test(v)) n = BigInt(v)
  else if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v)
  if (n === undefined || n < min || n > max) throw new FieldProblem(field, `expected an integer from ${min} to ${max} (a decimal string or a number), got ${kind(v)}`)
  // proto3 JSON allows a number, but JSON.parse read it as a double: past 2^53 its last digits
  // may already be gone (1763899200123456789 arrives as …768), and nothing tells which it was.
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new FieldProblem(field, `a JSON number past 2^53 (read as ${v}) loses its last digits: send it as a decimal string`)
  return n
}

const U64_MAX_DIGITS = U64_MAX.toString()

/** 1–20 decimal digits without a leading zero (or just "0"), as a loop: a regex costs more on every record. */
function isPlainDigits(s: string): boolean {
  const n = s.length
  if (n === 0 || n > U64_MAX_DIGITS.length || (n > 1 && s.charCodeAt(0) === 0x30)) return false
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x30 || c > 0x39) return false
  }
  return true
}

function nanos(v: unknown, field: string): Nanos {
  if (v === undefined || v === null) return 0n
  // Plain digits stay text (see Nanos); anything else is read as a number.
  if (typeof v === 'string' && isPlainDigits(v) && (v.length < U64_MAX_DIGITS.length || v <= U64_MAX_DIGITS)) return v
  return int64(v, field, 0n, U64_MAX)
}

const SEVERITY_NUMBERS = new Map<string, number>([['SEVERITY_NUMBER_UNSPECIFIED', 0]])
for (let n = 1; n <= 24; n++) SEVERITY_NUMBERS.set(`SEVERITY_NUMBER_${severityName(n)}`, n)

function severityNumber(v: unknown): number {
  if (v === undefined || v === null) return 0
  if (typeof v === 'number') return v // its range is checked by the mapping
  const n = typeof v === 'string' ? SEVERITY_NUMBERS.get(v) : undefined
  if (n === undefined) throw new FieldProblem('severityNumber', `expected a number 0-24 or a SEVERITY_NUMBER_* name, got ${kind(v)}`)
  return n
}

// RFC 4648 base64, in the standard alphabet or the URL-safe one (not both in one value), padded or
// not, as proto3 JSON parsers take bytes: whole groups of 4 characters, then 2 or 3 more (their
// padding, when sent, making up the group). A last group of one character is no bytes at all.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/
const BASE64URL = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}(?:==)?|[A-Za-z0-9_-]{3}=?)?$/
const isBase64 = (s: string): boolean => BASE64.test(s) || BASE64URL.test(s)

/**
 * `s` as lowercase hex when it is hex: '' when all zero (OTel's "invalid id"), undefined when not
 * hex: one pass over the characters for all three answers.
 */
function lowerHex(s: string): string | undefined {
  let zero = true
  let upper = false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0x30) continue
    zero = false
    if (c > 0x30 && c <= 0x39) continue
    if (c >= 0x61 && c <= 0x66) continue
    if (c >= 0x41 && c <= 0x46) upper = true
    else return undefined
  }
  return zero ? '' : upper ? s.toLowerCase() : s
}

function base64(v: unknown, field: string): Buffer {
  if (typeof v !== 'string' || !isBase64(v)) throw new FieldProblem(field, `expected base64 (RFC 4648, standard or URL-safe alphabet, padded or not), got ${kind(v)}`)
  return Buffer.from(v, 'base64')
}

function id(v: unknown, name: string, bytes: number): string {
  if (v === undefined || v === null || v === '') return ''
  if (typeof v === 'string' && v.length === bytes * 2) {
    const hex = lowerHex(v)
    if (hex !== undefined) return hex
  }
  // base64 of `bytes` bytes is never as long as their hex, so the two cannot be confused.
  if (typeof v === 'string' && v.length === Math.ceil(bytes / 3) * 4 && isBase64(v)) {
    const b = Buffer.from(v, 'base64')
    return hexId(b, 0, b.length, name, bytes)
  }
  throw new FieldProblem(name, `expected ${bytes * 2} hex characters, got ${kind(v)}`)
}

function array(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new FieldProblem(field, `expected an array, got ${kind(v)}`)
  return v
}

function anyValue(v: unknown, path: string, depth: number): AnyValue {
  if (v === undefined || v === null) return null
  if (!isObject(v)) throw new FieldProblem(path, `expected an AnyValue ({"stringValue": …}, {"intValue": …}, …), got ${kind(v)}`)
  let x: unknown
  if ((x = v.stringValue ?? v.string_value) != null) {
    if (typeof x !== 'string') throw new FieldProblem(path, `stringValue: expected a string, got ${kind(x)}`)
    return wellFormed(x, path)
  }
  if ((x = v.boolValue ?? v.bool_value) != null) {
    if (typeof x !== 'boolean') throw new FieldProblem(path, `boolValue: expected true or false, got ${kind(x)}`)
    return x
  }
  if ((x = v.intValue ?? v.int_value) != null) return int64(x, path, I64_MIN, I64_MAX)
  if ((x = v.doubleValue ?? v.double_value) != null) {
    const n = typeof x === 'number' ? x : typeof x === 'string' && x.trim() !== '' ? Number(x) : NaN
    if (Number.isNaN(n) && x !== 'NaN') throw new FieldProblem(path, `doubleValue: expected a number, got ${kind(x)}`)
    return n
  }
  if ((x = v.bytesValue ?? v.bytes_value) != null) return base64(x, path)
  if ((x = v.arrayValue ?? v.array_value) != null) {
    if (depth >= MAX_DEPTH) throw tooDeep(path)
    if (!isObject(x)) throw new FieldProblem(path, `arrayValue: expected {"values": […]}, got ${kind(x)}`)
    return array(x.values, path).map((e) => anyValue(e, path, depth + 1))
  }
  if ((x = v.kvlistValue ?? v.kvlist_value) != null) {
    if (depth >= MAX_DEPTH) throw tooDeep(path)
    if (!isObject(x)) throw new FieldProblem(path, `kvlistValue: expected {"values": […]}, got ${kind(x)}`)
    const entries: KeyValue[] = []
    keyValues(x.values, path, depth + 1, entries)
    return new KvList(entries)
  }
  return null
}

/** The KeyValues at `path`: pushed to a list, or written as attributes. */
function keyValues(v: unknown, path: string, depth: number, into: KeyValue[] | Record<string, string>): void {
  const kvs = array(v, path)
  for (let i = 0; i < kvs.length; i++) {
    const kv = kvs[i]
    if (!isObject(kv)) throw new FieldProblem(`${path}[${i}]`, `expected {"key": …, "value": …}, got ${kind(kv)}`)
    // Most keys and values are strings: read without naming the path to them, which only an
    // error needs (anyValue reads a string that is not well-formed again, to name it).
    const k = kv.key
    const key = typeof k === 'string' && k.isWellFormed() ? k : str(k, `${path}[${i}].key`)
    const v = kv.value
    const s = isObject(v) ? (v.stringValue ?? v.string_value) : undefined
    const value = typeof s === 'string' && s.isWellFormed() ? s : anyValue(v, join(path, key), depth)
    if (Array.isArray(into)) into.push([key, value])
    else addAttribute(into, key, value)
  }
}

function readResource(v: unknown, maxRecordBytes: number): ResourceContext | FieldProblem {
  if (v === undefined || v === null) return resourceContext([])
  if (!isObject(v)) throw new FieldProblem('resource', `expected an object, got ${kind(v)}`)
  const attributes: KeyValue[] = []
  keyValues(v.attributes, 'resource.attributes', 0, attributes)
  return resourceContext(attributes, maxRecordBytes)
}

function readScope(v: unknown, maxRecordBytes: number): Record<string, string> | FieldProblem {
  if (v === undefined || v === null) return {}
  if (!isObject(v)) throw new FieldProblem('scope', `expected an object, got ${kind(v)}`)
  const attributes: KeyValue[] = []
  const name = str(v.name, 'scope.name')
  const version = str(v.version, 'scope.version')
  keyValues(v.attributes, 'scope.attributes', 0, attributes)
  return scopeAttributes(name, version, attributes, maxRecordBytes)
}

function readLogRecord(v: unknown, attributes: Record<string, string>): OtlpLogRecord {
  if (!isObject(v)) throw new FieldProblem('', `expected a LogRecord object, got ${kind(v)}`)
  const timeUnixNano = nanos(v.timeUnixNano ?? v.time_unix_nano, 'timeUnixNano')
  const observedTimeUnixNano = nanos(v.observedTimeUnixNano ?? v.observed_time_unix_nano, 'observedTimeUnixNano')
  const severity = severityNumber(v.severityNumber ?? v.severity_number)
  const severityText = str(v.severityText ?? v.severity_text, 'severityText')
  const body = v.body ?? undefined
  // A string body, the common case, without the AnyValue walk.
  const s = isObject(body) ? body.stringValue : undefined
  const bodyValue = typeof s === 'string' ? wellFormed(s, 'body') : body === undefined ? undefined : anyValue(body, 'body', 0)
  keyValues(v.attributes, 'attributes', 0, attributes)
  return {
    timeUnixNano,
    observedTimeUnixNano,
    severityNumber: severity,
    severityText,
    body: bodyValue,
    attributes,
    traceId: id(v.traceId ?? v.trace_id, 'traceId', 16),
    spanId: id(v.spanId ?? v.span_id, 'spanId', 8),
    eventName: str(v.eventName ?? v.event_name, 'eventName'),
  }
}

/** An array of objects around the records, or the request is unreadable. */
function objects(v: unknown, field: string): Json[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw unreadable(`${field}: expected an array, got ${kind(v)}`)
  v.forEach((e, i) => {
    if (!isObject(e)) throw unreadable(`${field}[${i}]: expected an object, got ${kind(e)}`)
  })
  return v as Json[]
}

function unreadable(message: string): SluiceError {
  return new SluiceError('VALIDATION_FAILED', `invalid OTLP JSON: ${message}`)
}

/**
 * Reads an ExportLogsServiceRequest whose records share `defaults` (and may be `maxRecordBytes`
 * each); throws VALIDATION_FAILED when it cannot be read at all.
 */
export function readOtlpJson(request: Json, defaults: EventDefaults, maxRecordBytes = Infinity): Batch {
  // proto3 JSON refuses unknown fields; here that keeps e.g. a Sluice record sent to the OTLP
  // endpoint from being read as an empty request and answered 200.
  if (!('resourceLogs' in request) && !('resource_logs' in request) && Object.keys(request).length > 0) {
    throw unreadable(`expected an ExportLogsServiceRequest ({"resourceLogs": […]}), got the fields ${Object.keys(request).slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}`)
  }
  const batch = new Batch(defaults, maxRecordBytes)
  // Plain loops, and no closure per record: garbage the request does not need.
  const resourceLogs = objects(request.resourceLogs ?? request.resource_logs, 'resourceLogs')
  for (let i = 0; i < resourceLogs.length; i++) {
    const rl = resourceLogs[i]!
    const resource = attempt(() => readResource(rl.resource, maxRecordBytes))
    const scopeLogs = objects(rl.scopeLogs ?? rl.scope_logs, `resourceLogs[${i}].scopeLogs`)
    for (let j = 0; j < scopeLogs.length; j++) {
      const sl = scopeLogs[j]!
      const records = sl.logRecords ?? sl.log_records ?? []
      if (!Array.isArray(records)) throw unreadable(`resourceLogs[${i}].scopeLogs[${j}].logRecords: expected an array, got ${kind(records)}`)
      const scope = attempt(() => readScope(sl.scope, maxRecordBytes))
      for (let k = 0; k < records.length; k++) batch.addRead(resource, scope, readLogRecord, records[k])
    }
  }
  return batch
}
