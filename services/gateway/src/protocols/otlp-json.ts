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
//
// Faults in the structure around the records (resourceLogs, scopeLogs, logRecords not arrays of
// objects) make the request unreadable (400); a fault in a resource or scope rejects the records
// under it, one in a record (or its values, MAX_DEPTH deep at most) rejects that record.
import { SluiceError } from '@sluice/core'
import { Batch, FieldProblem, KvList, MAX_DEPTH, attempt, hexId, join, resourceContext, scopeAttributes, severityName, tooDeep } from './otlp-map.js'
import type { AnyValue, KeyValue, OtlpLogRecord, ResourceContext } from './otlp-map.js'

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

const snakeCase = new Map<string, string>()

/** Field `name` of `o` (or its snake_case spelling); null counts as absent. */
function get(o: Json, name: string): unknown {
  const v = o[name]
  if (v !== undefined && v !== null) return v
  let snake = snakeCase.get(name)
  if (snake === undefined) {
    snake = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
    snakeCase.set(name, snake)
  }
  return o[snake] ?? undefined
}

function str(o: Json, name: string, field: string): string {
  const v = get(o, name)
  if (v === undefined) return ''
  if (typeof v !== 'string') throw new FieldProblem(field, `expected a string, got ${kind(v)}`)
  return v
}

function kind(v: unknown): string {
  return Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v).slice(0, 40)}`
}

const U64_MAX = 2n ** 64n - 1n
const I64_MIN = -(2n ** 63n)
const I64_MAX = 2n ** 63n - 1n

function int64(v: unknown, field: string, min: bigint, max: bigint): bigint {
  let n: bigint | undefined
  if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) n = BigInt(v)
  else if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v)
  if (n === undefined || n < min || n > max) throw new FieldProblem(field, `expected an integer from ${min} to ${max} (a decimal string or a number), got ${kind(v)}`)
  return n
}

function nanos(o: Json, name: string): bigint {
  const v = get(o, name)
  return v === undefined ? 0n : int64(v, name, 0n, U64_MAX)
}

const SEVERITY_NUMBERS = new Map<string, number>([['SEVERITY_NUMBER_UNSPECIFIED', 0]])
for (let n = 1; n <= 24; n++) SEVERITY_NUMBERS.set(`SEVERITY_NUMBER_${severityName(n)}`, n)

function severityNumber(o: Json): number {
  const v = get(o, 'severityNumber')
  if (v === undefined) return 0
  if (typeof v === 'number') return v // its range is checked by the mapping
  const n = typeof v === 'string' ? SEVERITY_NUMBERS.get(v) : undefined
  if (n === undefined) throw new FieldProblem('severityNumber', `expected a number 0-24 or a SEVERITY_NUMBER_* name, got ${kind(v)}`)
  return n
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/

function base64(v: unknown, field: string): Buffer {
  if (typeof v !== 'string' || !BASE64.test(v)) throw new FieldProblem(field, `expected base64, got ${kind(v)}`)
  return Buffer.from(v, 'base64')
}

function id(o: Json, name: string, bytes: number): string {
  const v = get(o, name)
  if (v === undefined || v === '') return ''
  if (typeof v === 'string' && v.length === bytes * 2 && /^[0-9a-fA-F]+$/.test(v)) return hexId(Buffer.from(v, 'hex'), name, bytes)
  // base64 of `bytes` bytes is never as long as their hex, so the two cannot be confused.
  if (typeof v === 'string' && v.length === Math.ceil(bytes / 3) * 4 && BASE64.test(v)) return hexId(Buffer.from(v, 'base64'), name, bytes)
  throw new FieldProblem(name, `expected ${bytes * 2} hex characters, got ${kind(v)}`)
}

function list(v: unknown, field: string): unknown[] {
  if (v === undefined) return []
  if (!Array.isArray(v)) throw new FieldProblem(field, `expected an array, got ${kind(v)}`)
  return v
}

function anyValue(v: unknown, path: string, depth: number): AnyValue {
  if (v === undefined || v === null) return null
  if (!isObject(v)) throw new FieldProblem(path, `expected an AnyValue ({"stringValue": …}, {"intValue": …}, …), got ${kind(v)}`)
  let x: unknown
  if ((x = get(v, 'stringValue')) !== undefined) {
    if (typeof x !== 'string') throw new FieldProblem(path, `stringValue: expected a string, got ${kind(x)}`)
    return x
  }
  if ((x = get(v, 'boolValue')) !== undefined) {
    if (typeof x !== 'boolean') throw new FieldProblem(path, `boolValue: expected true or false, got ${kind(x)}`)
    return x
  }
  if ((x = get(v, 'intValue')) !== undefined) return int64(x, path, I64_MIN, I64_MAX)
  if ((x = get(v, 'doubleValue')) !== undefined) {
    const n = typeof x === 'number' ? x : typeof x === 'string' && x.trim() !== '' ? Number(x) : NaN
    if (Number.isNaN(n) && x !== 'NaN') throw new FieldProblem(path, `doubleValue: expected a number, got ${kind(x)}`)
    return n
  }
  if ((x = get(v, 'bytesValue')) !== undefined) return base64(x, path)
  if ((x = get(v, 'arrayValue')) !== undefined) {
    if (depth >= MAX_DEPTH) throw tooDeep(path)
    if (!isObject(x)) throw new FieldProblem(path, `arrayValue: expected {"values": […]}, got ${kind(x)}`)
    return list(get(x, 'values'), path).map((e) => anyValue(e, path, depth + 1))
  }
  if ((x = get(v, 'kvlistValue')) !== undefined) {
    if (depth >= MAX_DEPTH) throw tooDeep(path)
    if (!isObject(x)) throw new FieldProblem(path, `kvlistValue: expected {"values": […]}, got ${kind(x)}`)
    return new KvList(keyValues(get(x, 'values'), path, depth + 1))
  }
  return null
}

function keyValues(v: unknown, path: string, depth: number): KeyValue[] {
  return list(v, path).map((kv, i) => {
    if (!isObject(kv)) throw new FieldProblem(`${path}[${i}]`, `expected {"key": …, "value": …}, got ${kind(kv)}`)
    const key = str(kv, 'key', `${path}[${i}].key`)
    return [key, anyValue(get(kv, 'value'), join(path, key), depth)] as const
  })
}

function readResource(v: unknown): ResourceContext {
  if (v !== undefined && !isObject(v)) throw new FieldProblem('resource', `expected an object, got ${kind(v)}`)
  return resourceContext(keyValues(v && get(v, 'attributes'), 'resource.attributes', 0))
}

function readScope(v: unknown): Record<string, string> {
  if (v === undefined) return {}
  if (!isObject(v)) throw new FieldProblem('scope', `expected an object, got ${kind(v)}`)
  return scopeAttributes(str(v, 'name', 'scope.name'), str(v, 'version', 'scope.version'), keyValues(get(v, 'attributes'), 'scope.attributes', 0))
}

function readLogRecord(v: unknown): OtlpLogRecord {
  if (!isObject(v)) throw new FieldProblem('', `expected a LogRecord object, got ${kind(v)}`)
  const body = get(v, 'body')
  return {
    timeUnixNano: nanos(v, 'timeUnixNano'),
    observedTimeUnixNano: nanos(v, 'observedTimeUnixNano'),
    severityNumber: severityNumber(v),
    severityText: str(v, 'severityText', 'severityText'),
    body: body === undefined ? undefined : anyValue(body, 'body', 0),
    attributes: keyValues(get(v, 'attributes'), 'attributes', 0),
    traceId: id(v, 'traceId', 16),
    spanId: id(v, 'spanId', 8),
    eventName: str(v, 'eventName', 'eventName'),
  }
}

/** An array of objects around the records, or the request is unreadable. */
function objects(o: Json, name: string, path: string): Json[] {
  const v = get(o, name)
  const field = join(path, name)
  if (v === undefined) return []
  if (!Array.isArray(v)) throw unreadable(`${field}: expected an array, got ${kind(v)}`)
  v.forEach((e, i) => {
    if (!isObject(e)) throw unreadable(`${field}[${i}]: expected an object, got ${kind(e)}`)
  })
  return v as Json[]
}

function unreadable(message: string): SluiceError {
  return new SluiceError('VALIDATION_FAILED', `invalid OTLP JSON: ${message}`)
}

/** Reads an ExportLogsServiceRequest; throws VALIDATION_FAILED when it cannot be read at all. */
export function readOtlpJson(request: Json): Batch {
  // proto3 JSON refuses unknown fields; here that keeps e.g. a Sluice record sent to the OTLP
  // endpoint from being read as an empty request and answered 200.
  if (!('resourceLogs' in request) && !('resource_logs' in request) && Object.keys(request).length > 0) {
    throw unreadable(`expected an ExportLogsServiceRequest ({"resourceLogs": […]}), got the fields ${Object.keys(request).slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}`)
  }
  const batch = new Batch()
  objects(request, 'resourceLogs', '').forEach((rl, i) => {
    const resource = attempt(() => readResource(get(rl, 'resource')))
    objects(rl, 'scopeLogs', `resourceLogs[${i}]`).forEach((sl, j) => {
      const records = get(sl, 'logRecords') ?? []
      if (!Array.isArray(records)) throw unreadable(`resourceLogs[${i}].scopeLogs[${j}].logRecords: expected an array, got ${kind(records)}`)
      batch.addScope(records, resource, attempt(() => readScope(get(sl, 'scope'))), readLogRecord)
    })
  })
  return batch
}
