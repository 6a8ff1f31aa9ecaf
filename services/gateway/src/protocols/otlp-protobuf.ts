// OTLP/HTTP protobuf bodies (an ExportLogsServiceRequest) read into Sluice records in one walk
// over the body's bytes (protobuf-wire.ts): strings are decoded where they lie, a record's attributes
// written straight into the record (otlp-map.ts's addAttribute), nothing decoded that is not kept.
// What goes wrong costs what it is in:
//
//   ExportLogsServiceRequest → ResourceLogs → ScopeLogs      framing: any fault → the whole
//                                                              request is unreadable (400), as its
//                                                              records cannot even be counted
//   Resource, InstrumentationScope                            a fault rejects the records under it
//   LogRecord (and the AnyValues inside it)                   a fault rejects that record
//
// Faults: a truncated or malformed message, invalid UTF-8 in a string, a known field sent with
// another wire type (a generic decoder would skip it as an unknown field, and the record would be
// stored without it), values nested deeper than MAX_DEPTH, ids of the wrong length. Unknown fields
// are skipped, and so are those Sluice ignores (schema_url, dropped_attributes_count, flags,
// entity_refs), whatever their wire type. A field sent twice: the last one counts — for AnyValue's
// oneof too, as the spec has it.
//
// The fields read (opentelemetry-proto v1: collector/logs, logs, resource, common), and their tag
// bytes (field number << 3 | wire type; 2 = length-delimited, 0 varint, 1 64-bit):
//   ExportLogsServiceRequest  resource_logs = 1 (repeated ResourceLogs)            0x0a
//   ResourceLogs              resource = 1 (Resource)                              0x0a
//                             scope_logs = 2 (repeated ScopeLogs)                  0x12
//   ScopeLogs                 scope = 1 (InstrumentationScope)                     0x0a
//                             log_records = 2 (repeated LogRecord)                 0x12
//   Resource                  attributes = 1 (repeated KeyValue)                   0x0a
//   InstrumentationScope      name = 1, version = 2 (string)                       0x0a, 0x12
//                             attributes = 3 (repeated KeyValue)                   0x1a
//   LogRecord                 time_unix_nano = 1, observed_time_unix_nano = 11     0x09, 0x59
//                               (fixed64)
//                             severity_number = 2 (enum SeverityNumber)            0x10
//                             severity_text = 3 (string)                           0x1a
//                             body = 5 (AnyValue)                                  0x2a
//                             attributes = 6 (repeated KeyValue)                   0x32
//                             trace_id = 9 (bytes, 16), span_id = 10 (bytes, 8)    0x4a, 0x52
//                             event_name = 12 (string)                             0x62
//   KeyValue                  key = 1 (string), value = 2 (AnyValue)               0x0a, 0x12
//   AnyValue (oneof)          string_value = 1, bool_value = 2, int_value = 3      0x0a, 0x10, 0x18
//                               (int64), double_value = 4, array_value = 5         0x21, 0x2a
//                               (ArrayValue), kvlist_value = 6 (KeyValueList),     0x32
//                               bytes_value = 7                                    0x3a
//   ArrayValue                values = 1 (repeated AnyValue)                       0x0a
//   KeyValueList              values = 1 (repeated KeyValue)                       0x0a
import { SluiceError } from '@sluice/core'
import { Batch, FieldProblem, KvList, MAX_DEPTH, addAttribute, attempt, hexId, join, problemOf, resourceContext, scopeAttributes, tooDeep } from './otlp-map.js'
import type { EventDefaults } from '../ingest.js'
import type { AnyValue, KeyValue, OtlpLogRecord, ResourceContext } from './otlp-map.js'
import { WIRE, WireError, WireReader, wireName } from './protobuf-wire.js'

const { VARINT, I64, LEN } = WIRE
const tag = (field: number, wire: number): number => (field << 3) | wire

/** The fields of a message that are read, by number: their name (as in errors) and wire type. */
type Fields = Readonly<Record<number, readonly [name: string, wire: number]>>

const REQUEST: Fields = { 1: ['resourceLogs', LEN] }
const RESOURCE_LOGS: Fields = { 1: ['resource', LEN], 2: ['scopeLogs', LEN] }
const SCOPE_LOGS: Fields = { 1: ['scope', LEN], 2: ['logRecords', LEN] }
const RESOURCE: Fields = { 1: ['attributes', LEN] }
const SCOPE: Fields = { 1: ['name', LEN], 2: ['version', LEN], 3: ['attributes', LEN] }
const LOG_RECORD: Fields = {
  1: ['timeUnixNano', I64],
  2: ['severityNumber', VARINT],
  3: ['severityText', LEN],
  5: ['body', LEN],
  6: ['attributes', LEN],
  9: ['traceId', LEN],
  10: ['spanId', LEN],
  11: ['observedTimeUnixNano', I64],
  12: ['eventName', LEN],
}
const KEY_VALUE: Fields = { 1: ['key', LEN], 2: ['value', LEN] }
const ANY_VALUE: Fields = {
  1: ['stringValue', LEN],
  2: ['boolValue', VARINT],
  3: ['intValue', VARINT],
  4: ['doubleValue', I64],
  5: ['arrayValue', LEN],
  6: ['kvlistValue', LEN],
  7: ['bytesValue', LEN],
}
const VALUES: Fields = { 1: ['values', LEN] }

// The tags read, each as the field number and the wire type the spec gives it.
const T1_LEN = tag(1, LEN)
const T2_LEN = tag(2, LEN)
const T3_LEN = tag(3, LEN)
const TIME = tag(1, I64)
const SEVERITY_NUMBER = tag(2, VARINT)
const SEVERITY_TEXT = tag(3, LEN)
const BODY = tag(5, LEN)
const ATTRIBUTES = tag(6, LEN)
const TRACE_ID = tag(9, LEN)
const SPAN_ID = tag(10, LEN)
const OBSERVED_TIME = tag(11, I64)
const EVENT_NAME = tag(12, LEN)
const BOOL_VALUE = tag(2, VARINT)
const INT_VALUE = tag(3, VARINT)
const DOUBLE_VALUE = tag(4, I64)
const ARRAY_VALUE = tag(5, LEN)
const KVLIST_VALUE = tag(6, LEN)
const BYTES_VALUE = tag(7, LEN)

/** A field not read by its tag: a known one in another wire type is a fault; anything else is skipped. */
function other(r: WireReader, t: number, end: number, fields: Fields, path: string): void {
  const known = fields[t >>> 3]
  if (known === undefined) return r.skip(t, end)
  throw new FieldProblem(join(path, known[0]), `sent as ${wireName(t & 7)}, expected ${wireName(known[1])}`)
}

/** A wire fault inside a `type` message becomes the fault of the field at `path`; other errors pass. */
function inMessage(err: unknown, path: string, type: string): unknown {
  return err instanceof WireError ? new FieldProblem(path, `invalid ${type}: ${err.message}`) : err
}

function str(r: WireReader, start: number, end: number, field: string): string {
  const s = r.utf8(start, end)
  if (s === undefined) throw new FieldProblem(field, 'invalid UTF-8')
  return s
}

function anyValue(r: WireReader, start: number, end: number, path: string, depth: number): AnyValue {
  let v: AnyValue = null
  try {
    r.pos = start
    while (r.pos < end) {
      const t = r.tag(end)
      if (t === T1_LEN) {
        const e = r.lengthEnd(end)
        v = str(r, r.pos, e, path)
        r.pos = e
      } else if (t === BOOL_VALUE) v = r.bool(end)
      else if (t === INT_VALUE) v = r.int64(end)
      else if (t === DOUBLE_VALUE) v = r.double(end)
      else if (t === BYTES_VALUE) {
        const e = r.lengthEnd(end)
        v = r.buf.subarray(r.pos, e)
        r.pos = e
      } else if (t === ARRAY_VALUE || t === KVLIST_VALUE) {
        if (depth >= MAX_DEPTH) throw tooDeep(path)
        const e = r.lengthEnd(end)
        v = t === ARRAY_VALUE ? arrayValue(r, r.pos, e, path, depth + 1) : kvlistValue(r, r.pos, e, path, depth + 1)
        r.pos = e
      } else other(r, t, end, ANY_VALUE, path)
    }
  } catch (err) {
    throw inMessage(err, path, 'AnyValue')
  }
  return v
}

function arrayValue(r: WireReader, start: number, end: number, path: string, depth: number): AnyValue[] {
  const values: AnyValue[] = []
  try {
    r.pos = start
    while (r.pos < end) {
      const t = r.tag(end)
      if (t !== T1_LEN) other(r, t, end, VALUES, path)
      else {
        const e = r.lengthEnd(end)
        values.push(anyValue(r, r.pos, e, path, depth))
        r.pos = e
      }
    }
  } catch (err) {
    throw inMessage(err, path, 'ArrayValue')
  }
  return values
}

function kvlistValue(r: WireReader, start: number, end: number, path: string, depth: number): KvList {
  try {
    return new KvList(keyValues(r, start, end, path, depth, VALUES, path))
  } catch (err) {
    throw inMessage(err, path, 'KeyValueList')
  }
}

/** The KeyValues at `path`, field 1 of the message at `messagePath` (a Resource, a KeyValueList). */
function keyValues(r: WireReader, start: number, end: number, path: string, depth: number, fields: Fields, messagePath: string): KeyValue[] {
  const list: KeyValue[] = []
  r.pos = start
  while (r.pos < end) {
    const t = r.tag(end)
    if (t !== T1_LEN) other(r, t, end, fields, messagePath)
    else {
      const e = r.lengthEnd(end)
      keyValue(r, r.pos, e, path, list.length, depth, list)
      r.pos = e
    }
  }
  return list
}

/** KeyValue `i` of the list at `path`: pushed to a list, or written as attributes. */
function keyValue(r: WireReader, start: number, end: number, path: string, i: number, depth: number, into: KeyValue[] | Record<string, string>): void {
  // Its key names its value, and may come after it.
  let keyStart = start
  let keyEnd = start
  let valueStart = -1
  let valueEnd = -1
  try {
    r.pos = start
    while (r.pos < end) {
      const t = r.tag(end)
      if (t === T1_LEN) {
        keyEnd = r.lengthEnd(end)
        keyStart = r.pos
        r.pos = keyEnd
      } else if (t === T2_LEN) {
        valueEnd = r.lengthEnd(end)
        valueStart = r.pos
        r.pos = valueEnd
      } else other(r, t, end, KEY_VALUE, `${path}[${i}]`)
    }
  } catch (err) {
    throw inMessage(err, `${path}[${i}]`, 'KeyValue')
  }
  const key = r.key(keyStart, keyEnd)
  if (key === undefined) throw new FieldProblem(`${path}[${i}].key`, 'invalid UTF-8')
  let value: AnyValue = null
  if (valueStart !== -1) {
    // Most values are a short string_value alone: read as such, without naming the path to it,
    // which only an error needs (a string that is not UTF-8 is read again, to be named).
    const b = r.buf
    const stringAlone = b[valueStart] === T1_LEN && b[valueStart + 1]! < 0x80 && valueStart + 2 + b[valueStart + 1]! === valueEnd
    value = (stringAlone ? r.utf8(valueStart + 2, valueEnd) : undefined) ?? anyValue(r, valueStart, valueEnd, join(path, key), depth)
  }
  if (Array.isArray(into)) into.push([key, value])
  else addAttribute(into, key, value)
}

function readLogRecord(r: WireReader, start: number, end: number, attributes: Record<string, string>): OtlpLogRecord {
  let timeUnixNano = 0n
  let observedTimeUnixNano = 0n
  let severityNumber = 0
  let severityText = ''
  let body: AnyValue | undefined
  let traceId = ''
  let spanId = ''
  let eventName = ''
  let i = 0
  r.within(start, end)
  try {
    r.pos = start
    while (r.pos < end) {
      const t = r.tag(end)
      if (t === TIME) timeUnixNano = r.fixed64(end)
      else if (t === OBSERVED_TIME) observedTimeUnixNano = r.fixed64(end)
      else if (t === SEVERITY_NUMBER) severityNumber = r.int32(end)
      else if (t === ATTRIBUTES || t === BODY || t === SEVERITY_TEXT || t === TRACE_ID || t === SPAN_ID || t === EVENT_NAME) {
        const e = r.lengthEnd(end)
        if (t === ATTRIBUTES) keyValue(r, r.pos, e, 'attributes', i++, 0, attributes)
        else if (t === BODY) body = anyValue(r, r.pos, e, 'body', 0)
        else if (t === SEVERITY_TEXT) severityText = str(r, r.pos, e, 'severityText')
        else if (t === TRACE_ID) traceId = hexId(r.buf, r.pos, e, 'traceId', 16)
        else if (t === SPAN_ID) spanId = hexId(r.buf, r.pos, e, 'spanId', 8)
        else eventName = str(r, r.pos, e, 'eventName')
        r.pos = e
      } else other(r, t, end, LOG_RECORD, '')
    }
  } catch (err) {
    throw inMessage(err, '', 'LogRecord')
  }
  return { timeUnixNano, observedTimeUnixNano, severityNumber, severityText, body, attributes, traceId, spanId, eventName }
}

function readResource(r: WireReader, start: number, end: number, maxRecordBytes: number): ResourceContext | FieldProblem {
  r.within(start, end)
  try {
    return resourceContext(keyValues(r, start, end, 'resource.attributes', 0, RESOURCE, 'resource'), maxRecordBytes)
  } catch (err) {
    throw inMessage(err, 'resource', 'Resource')
  }
}

function readScope(r: WireReader, start: number, end: number, maxRecordBytes: number): Record<string, string> | FieldProblem {
  let name = ''
  let version = ''
  const attributes: KeyValue[] = []
  r.within(start, end)
  try {
    r.pos = start
    while (r.pos < end) {
      const t = r.tag(end)
      if (t === T1_LEN || t === T2_LEN) {
        const e = r.lengthEnd(end)
        if (t === T1_LEN) name = str(r, r.pos, e, 'scope.name')
        else version = str(r, r.pos, e, 'scope.version')
        r.pos = e
      } else if (t === T3_LEN) {
        const e = r.lengthEnd(end)
        keyValue(r, r.pos, e, 'scope.attributes', attributes.length, 0, attributes)
        r.pos = e
      } else other(r, t, end, SCOPE, 'scope')
    }
  } catch (err) {
    throw inMessage(err, 'scope', 'InstrumentationScope')
  }
  return scopeAttributes(name, version, attributes, maxRecordBytes)
}

/**
 * A framing message's field 1 (a ResourceLogs' resource, a ScopeLogs' scope; the last one sent
 * counts), after checking the message's framing — its field 2 is walked again afterwards.
 */
function frame(r: WireReader, start: number, end: number, fields: Fields, path: string): { start: number; end: number } {
  const one = { start: 0, end: 0 }
  r.pos = start
  while (r.pos < end) {
    const t = r.tag(end)
    if (t === T1_LEN || t === T2_LEN) {
      const e = r.lengthEnd(end)
      if (t === T1_LEN) {
        one.start = r.pos
        one.end = e
      }
      r.pos = e
    } else other(r, t, end, fields, path)
  }
  return one
}

function readScopeLogs(r: WireReader, start: number, end: number, path: string, resource: ResourceContext | FieldProblem, batch: Batch): void {
  let scope: Record<string, string> | FieldProblem
  try {
    const s = frame(r, start, end, SCOPE_LOGS, path)
    scope = attempt(() => readScope(r, s.start, s.end, batch.maxRecordBytes))
  } catch (err) {
    throw inMessage(err, path, 'ScopeLogs')
  }
  // The framing is known to be sound from here on.
  r.pos = start
  while (r.pos < end) {
    const t = r.tag(end)
    if (t !== T2_LEN) {
      r.skip(t, end)
      continue
    }
    const e = r.lengthEnd(end)
    const s = r.pos
    batch.addRecord(resource, scope, (attributes) => readLogRecord(r, s, e, attributes))
    r.pos = e
  }
}

function readResourceLogs(r: WireReader, start: number, end: number, path: string, batch: Batch): void {
  let resource: ResourceContext | FieldProblem
  try {
    const res = frame(r, start, end, RESOURCE_LOGS, path)
    resource = attempt(() => readResource(r, res.start, res.end, batch.maxRecordBytes))
  } catch (err) {
    throw inMessage(err, path, 'ResourceLogs')
  }
  // The framing is known to be sound from here on.
  let j = 0
  r.pos = start
  while (r.pos < end) {
    const t = r.tag(end)
    if (t !== T2_LEN) {
      r.skip(t, end)
      continue
    }
    const e = r.lengthEnd(end)
    readScopeLogs(r, r.pos, e, `${path}.scopeLogs[${j++}]`, resource, batch)
    r.pos = e
  }
}

/**
 * Reads an ExportLogsServiceRequest whose records share `defaults` (and may be `maxRecordBytes`
 * each); throws VALIDATION_FAILED when it cannot be read at all.
 */
export function readOtlpProtobuf(body: Buffer, defaults: EventDefaults, maxRecordBytes = Infinity): Batch {
  const batch = new Batch(defaults, maxRecordBytes)
  const r = new WireReader(body)
  let i = 0
  try {
    while (r.pos < body.length) {
      const t = r.tag(body.length)
      if (t !== T1_LEN) {
        other(r, t, body.length, REQUEST, '')
        continue
      }
      const e = r.lengthEnd(body.length)
      readResourceLogs(r, r.pos, e, `resourceLogs[${i++}]`, batch)
      r.pos = e
    }
  } catch (err) {
    const p = problemOf(inMessage(err, '', 'ExportLogsServiceRequest'))
    throw new SluiceError('VALIDATION_FAILED', `invalid OTLP protobuf: ${p.field === '' ? '' : `${p.field}: `}${p.message}`)
  }
  return batch
}
