// OTLP/HTTP protobuf bodies (an ExportLogsServiceRequest) read into Sluice records, one level at a
// time through the reading view of otlp-proto.ts:
//
//   ExportLogsServiceRequest → ResourceLogs → ScopeLogs      framing: any fault → the whole
//                                                              request is unreadable (400), as its
//                                                              records cannot even be counted
//   Resource, InstrumentationScope                            a fault rejects the records under it
//   LogRecord (and the AnyValues inside it, level by level)   a fault rejects that record
//
// Faults: a truncated or malformed message, invalid UTF-8 in a string, a known field sent with
// another wire type (the decoder would skip it as an unknown field, and the record would be
// stored without it), values nested deeper than MAX_DEPTH, ids of the wrong length.
import { isUtf8 } from 'node:buffer'
import protobuf from 'protobufjs'
import type { Type } from 'protobufjs'
import { SluiceError } from '@sluice/core'
import { read } from './otlp-proto.js'
import { Batch, FieldProblem, KvList, MAX_DEPTH, attempt, hexId, join, problemOf, resourceContext, scopeAttributes, tooDeep } from './otlp-map.js'
import type { AnyValue, KeyValue, OtlpLogRecord, ResourceContext } from './otlp-map.js'

// What protobufjs decodes the reading view into. A 64-bit field is a Long (protobufjs depends on
// long.js), a plain number only were long.js missing. An unset bytes field may be a plain [].
interface Long {
  low: number
  high: number
}
type Int64 = Long | number
type Bytes = Uint8Array | readonly number[]

/** Only the fields that were sent are own properties. */
interface WireAnyValue {
  stringValue?: Bytes
  boolValue?: boolean
  intValue?: Int64
  doubleValue?: number
  arrayValue?: Bytes
  kvlistValue?: Bytes
  bytesValue?: Bytes
}
interface WireKeyValue {
  key: Bytes
  value: WireAnyValue | null
}
interface WireLogRecord {
  timeUnixNano: Int64
  observedTimeUnixNano: Int64
  severityNumber: number
  severityText: Bytes
  body: WireAnyValue | null
  attributes: WireKeyValue[]
  traceId: Bytes
  spanId: Bytes
  eventName: Bytes
}
interface WireList<T> {
  values: T[]
}

const EMPTY = Buffer.alloc(0)

function buffer(b: Bytes): Buffer {
  if (b.length === 0) return EMPTY
  if (Buffer.isBuffer(b)) return b
  return b instanceof Uint8Array ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : Buffer.from(b)
}

function str(b: Bytes, field: string): string {
  const buf = buffer(b)
  if (!isUtf8(buf)) throw new FieldProblem(field, 'invalid UTF-8')
  return buf.toString('utf8')
}

function u64(v: Int64): bigint {
  return typeof v === 'number' ? BigInt(v) : (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0)
}

const WIRE_TYPES = ['varint', '64-bit', 'length-delimited', 'group start', 'group end', '32-bit']

/** protobufjs keeps what it skipped as unknown when told to; a known field number among them had the wrong wire type. */
function checkWireTypes(type: Type, m: object, field: string): void {
  const unknowns = (m as { $unknowns?: Uint8Array[] }).$unknowns
  if (!unknowns) return
  for (const raw of unknowns) {
    const tag = protobuf.Reader.create(raw).uint32()
    const known = type.fieldsById[tag >>> 3]
    if (!known) continue
    const expected = protobuf.types.basic[known.type as keyof typeof protobuf.types.basic] ?? 2
    throw new FieldProblem(join(field, known.name), `sent as ${WIRE_TYPES[tag & 7] ?? tag & 7}, expected ${WIRE_TYPES[expected]}`)
  }
}

/** One message of `type` from `bytes`, its faults named after `field`. */
function decode<T>(type: Type, bytes: Bytes, field: string): T {
  let m: object
  try {
    const reader = protobuf.Reader.create(buffer(bytes))
    reader.discardUnknown = false
    m = type.decode(reader)
  } catch (err) {
    throw new FieldProblem(field, `invalid ${type.name}: ${problemOf(err).message}`)
  }
  checkWireTypes(type, m, field)
  return m as T
}

const has = Object.hasOwn

function anyValue(v: WireAnyValue | null, path: string, depth: number): AnyValue {
  if (v === null) return null
  checkWireTypes(read.AnyValue, v, path)
  if (has(v, 'stringValue')) return str(v.stringValue!, path)
  if (has(v, 'boolValue')) return v.boolValue!
  if (has(v, 'intValue')) return BigInt.asIntN(64, u64(v.intValue!))
  if (has(v, 'doubleValue')) return v.doubleValue!
  if (has(v, 'bytesValue')) return buffer(v.bytesValue!)
  if (has(v, 'arrayValue')) {
    if (depth >= MAX_DEPTH) throw tooDeep(path)
    const list = decode<WireList<WireAnyValue>>(read.ArrayValue, v.arrayValue!, path)
    return list.values.map((x) => anyValue(x, path, depth + 1))
  }
  if (has(v, 'kvlistValue')) {
    if (depth >= MAX_DEPTH) throw tooDeep(path)
    const list = decode<WireList<WireKeyValue>>(read.KeyValueList, v.kvlistValue!, path)
    return new KvList(keyValues(list.values, path, depth + 1))
  }
  return null
}

function keyValues(kvs: readonly WireKeyValue[], path: string, depth: number): KeyValue[] {
  return kvs.map((kv, i) => {
    checkWireTypes(read.KeyValue, kv, `${path}[${i}]`)
    const key = str(kv.key, `${path}[${i}].key`)
    return [key, anyValue(kv.value, join(path, key), depth)] as const
  })
}

function readResource(bytes: Bytes): ResourceContext {
  const r = decode<{ attributes: WireKeyValue[] }>(read.Resource, bytes, 'resource')
  return resourceContext(keyValues(r.attributes, 'resource.attributes', 0))
}

function readScope(bytes: Bytes): Record<string, string> {
  const s = decode<{ name: Bytes; version: Bytes; attributes: WireKeyValue[] }>(read.InstrumentationScope, bytes, 'scope')
  return scopeAttributes(str(s.name, 'scope.name'), str(s.version, 'scope.version'), keyValues(s.attributes, 'scope.attributes', 0))
}

function readLogRecord(bytes: Bytes): OtlpLogRecord {
  const m = decode<WireLogRecord>(read.LogRecord, bytes, '')
  return {
    timeUnixNano: u64(m.timeUnixNano),
    observedTimeUnixNano: u64(m.observedTimeUnixNano),
    severityNumber: m.severityNumber,
    severityText: str(m.severityText, 'severityText'),
    body: m.body === null ? undefined : anyValue(m.body, 'body', 0),
    attributes: keyValues(m.attributes, 'attributes', 0),
    traceId: hexId(buffer(m.traceId), 'traceId', 16),
    spanId: hexId(buffer(m.spanId), 'spanId', 8),
    eventName: str(m.eventName, 'eventName'),
  }
}

/** A framing level: its fault makes the whole request unreadable. */
function frame<T>(type: Type, bytes: Bytes, path: string): T {
  try {
    return decode<T>(type, bytes, path)
  } catch (err) {
    const p = problemOf(err)
    throw new SluiceError('VALIDATION_FAILED', `invalid OTLP protobuf: ${p.field === '' ? '' : `${p.field}: `}${p.message}`)
  }
}

/** Reads an ExportLogsServiceRequest; throws VALIDATION_FAILED when it cannot be read at all. */
export function readOtlpProtobuf(body: Buffer): Batch {
  const batch = new Batch()
  const request = frame<{ resourceLogs: Bytes[] }>(read.ExportLogsServiceRequest, body, '')
  request.resourceLogs.forEach((rlBytes, i) => {
    const rl = frame<{ resource: Bytes; scopeLogs: Bytes[] }>(read.ResourceLogs, rlBytes, `resourceLogs[${i}]`)
    const resource = attempt(() => readResource(rl.resource))
    rl.scopeLogs.forEach((slBytes, j) => {
      const sl = frame<{ scope: Bytes; logRecords: Bytes[] }>(read.ScopeLogs, slBytes, `resourceLogs[${i}].scopeLogs[${j}]`)
      batch.addScope(sl.logRecords, resource, attempt(() => readScope(sl.scope)), readLogRecord)
    })
  })
  return batch
}
