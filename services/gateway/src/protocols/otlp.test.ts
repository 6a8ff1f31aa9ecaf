// OTLP/HTTP through the gateway's HTTP handler, without a broker (app.inject() against a fake
// producer and encoder): what each OTLP field becomes, that protobuf and JSON (camelCase or
// snake_case) mean the same, the responses (partial success, Status bodies, retryable codes), and
// bad input — truncated protobuf, wrong wire types, invalid UTF-8, deep nesting — costing only
// what it touches.
import { gzipSync } from 'node:zlib'
import type { LightMyRequestResponse } from 'fastify'
import type { Type } from 'protobufjs'
import { describe, expect, it, vi } from 'vitest'
import { SluiceError, validateLogInput } from '@sluice/core'
import type * as Core from '@sluice/core'
import type { Message, MessageProducer } from '@sluice/kafka'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from '../config.js'
import { buildApp } from '../service.js'
import { MAX_DEPTH } from './otlp-map.js'
import { spec } from './otlp-proto.js'
import { jsonCodec, kept } from '../test-fakes.js'

// The validator as it is, watched: how often a request has it validate a record (most OTLP records
// never reach it; see otlp-map.ts).
vi.mock('@sluice/core', async (importOriginal) => {
  const actual = await importOriginal<typeof Core>()
  return { ...actual, validateLogInput: vi.fn(actual.validateLogInput) }
})

function fakeProducer(): MessageProducer & { sent: Message[]; fail: boolean } {
  const p = {
    sent: [] as Message[],
    fail: false,
    async send(_topic: string, messages: Message[]) {
      if (p.fail) throw new SluiceError('KAFKA_UNAVAILABLE', 'Kafka did not acknowledge within 15000 ms', { canRetry: true })
      p.sent.push(...kept(messages))
    },
  }
  return p
}

/** JSON instead of Avro: the events as the gateway made them. */
type Stored = Record<string, unknown> & { attributes: Record<string, string>; resource: Record<string, string> }
const decoded = (m: Message) => JSON.parse(String(m.value)) as Stored

function app(env: Record<string, string> = {}) {
  const producer = fakeProducer()
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', GATEWAY_MAX_RECORD_BYTES: '2000', GATEWAY_MAX_BODY_BYTES: '200000', ...env })
  const a = buildApp(config, { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {}, producer, codec: jsonCodec })
  return { app: a, producer, events: () => producer.sent.map(decoded) }
}
type App = ReturnType<typeof app>['app']

const PROTOBUF = { 'content-type': 'application/x-protobuf' }
const JSON_TYPE = { 'content-type': 'application/json' }

const postProto = (a: App, payload: Buffer, url = '/v1/logs', headers: Record<string, string> = {}) => a.inject({ method: 'POST', url, payload, headers: { ...PROTOBUF, ...headers } })
const postJson = (a: App, body: unknown, url = '/v1/logs', headers: Record<string, string> = {}) =>
  a.inject({ method: 'POST', url, payload: typeof body === 'string' ? body : JSON.stringify(body), headers: { ...JSON_TYPE, ...headers } })

const encode = (type: Type, o: object): Buffer => Buffer.from(type.encode(type.fromObject(o)).finish())
const exportResponse = (res: LightMyRequestResponse) => spec.ExportLogsServiceResponse.toObject(spec.ExportLogsServiceResponse.decode(res.rawPayload), { longs: String })
const rpcStatus = (res: LightMyRequestResponse) => spec.Status.toObject(spec.Status.decode(res.rawPayload))

// Raw protobuf, for what no encoder writes: wrong wire types, invalid UTF-8, framing.
function varint(n: number): Buffer {
  const out: number[] = []
  for (; n > 0x7f; n >>>= 7) out.push((n & 0x7f) | 0x80)
  out.push(n)
  return Buffer.from(out)
}
const tag = (field: number, wireType: number) => varint((field << 3) | wireType)
/** A length-delimited field. */
const ld = (field: number, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts)
  return Buffer.concat([tag(field, 2), varint(body.length), body])
}
/** An ExportLogsServiceRequest of one ResourceLogs (raw Resource bytes) and one ScopeLogs around raw LogRecords. */
const rawRequest = (records: Buffer[], resource?: Buffer) => ld(1, resource ? ld(1, resource) : Buffer.alloc(0), ld(2, ...records.map((r) => ld(2, r))))
const logRecord = (o: object) => encode(spec.LogRecord, o)
/** A KeyValue with a string value given as raw bytes. */
const rawStringKv = (key: Buffer, value: Buffer) => Buffer.concat([ld(1, key), ld(2, ld(1, value))])

const kv = (key: string, value: object) => ({ key, value })
const TRACE = '5b8efff798038103d269b633813fc60c'
const SPAN = 'eee19b7ec3c1b174'
const T0 = '1763899200123456789'

/** An OTLP JSON request using every field; `protobufOf` turns it into the same request in protobuf. */
const REQUEST = {
  resourceLogs: [
    {
      resource: {
        attributes: [
          kv('service.name', { stringValue: 'checkout' }),
          kv('host.name', { stringValue: 'web-1' }),
          kv('deployment.environment', { stringValue: 'prod' }),
          kv('k8s', { kvlistValue: { values: [kv('pod', { kvlistValue: { values: [kv('name', { stringValue: 'checkout-7d9' })] } })] } }),
        ],
        droppedAttributesCount: 0,
      },
      scopeLogs: [
        {
          scope: { name: 'app.payments', version: '1.4.0' },
          logRecords: [
            {
              timeUnixNano: T0,
              observedTimeUnixNano: '1763899201000000000',
              severityNumber: 13,
              severityText: 'WARN',
              body: { stringValue: 'payment slow' },
              attributes: [
                kv('http', { kvlistValue: { values: [kv('method', { stringValue: 'GET' }), kv('status', { intValue: 502 })] } }),
                kv('big', { intValue: '9007199254740993' }),
                kv('ratio', { doubleValue: 0.25 }),
                kv('retry', { boolValue: true }),
                kv('raw', { bytesValue: 'aGk=' }),
                kv('tags', { arrayValue: { values: [{ intValue: 1 }, { stringValue: 'a' }, { kvlistValue: { values: [kv('k', { boolValue: false })] } }] } }),
                kv('empty', {}),
              ],
              traceId: TRACE,
              spanId: SPAN,
              eventName: 'payment.slow',
              flags: 1,
              droppedAttributesCount: 3,
            },
            {
              observedTimeUnixNano: '1763899201000000001',
              severityNumber: 10,
              severityText: 'notice',
              body: { kvlistValue: { values: [kv('order', { intValue: 42 }), kv('items', { arrayValue: { values: [{ stringValue: 'a' }] } })] } },
              traceId: '00000000000000000000000000000000',
              spanId: '0000000000000000',
            },
            { severityText: 'warning', body: { doubleValue: 1.5 } },
            { severityText: 'audit' },
            { severityNumber: 20, severityText: 'error4', body: { stringValue: 'lost' } },
          ],
        },
      ],
    },
  ],
}

type Json = Record<string, unknown>
/** OTLP JSON → the spec's protobuf: ids are hex in JSON, bytes in protobuf (base64 bytesValue protobufjs reads itself). */
function protobufOf(request: object): Buffer {
  const ids = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(ids)
    if (typeof v !== 'object' || v === null) return v
    return Object.fromEntries(Object.entries(v as Json).map(([k, x]) => [k, (k === 'traceId' || k === 'spanId') && typeof x === 'string' ? Buffer.from(x, 'hex') : ids(x)]))
  }
  return encode(spec.ExportLogsServiceRequest, ids(request) as object)
}

function snakeCase(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(snakeCase)
  if (typeof v !== 'object' || v === null) return v
  return Object.fromEntries(Object.entries(v as Json).map(([k, x]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snakeCase(x)]))
}

/** A stored event without what differs per request: its id and arrival time. */
const comparable = ({ id: _id, observed_timestamp, timestamp, ...rest }: Stored) => ({ ...rest, timestamp: timestamp === observed_timestamp ? 'arrival' : timestamp })

const SCOPE = { 'otel.scope.name': 'app.payments', 'otel.scope.version': '1.4.0' }

describe('OTLP/HTTP logs', () => {
  it('maps every field of a protobuf request and answers an empty ExportLogsServiceResponse', async () => {
    const { app: a, producer, events } = app()
    const before = BigInt(Date.now()) * 1_000_000n
    const res = await postProto(a, protobufOf(REQUEST), '/v1/logs', { 'x-sluice-tenant': 'shop' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('application/x-protobuf')
    expect(res.rawPayload).toHaveLength(0)
    expect(producer.sent.map((m) => m.key)).toEqual(Array(5).fill('shop/checkout'))
    const [first, second, third, fourth, fifth] = events()
    const shared = { tenant: 'shop', service: 'checkout', host: 'web-1', source: 'otlp', resource: { 'deployment.environment': 'prod', 'k8s.pod.name': 'checkout-7d9' } }
    expect(first).toMatchObject({ ...shared, timestamp: T0, severity_text: 'WARN', severity_number: 13, message: 'payment slow', trace_id: TRACE, span_id: SPAN })
    expect(first!.attributes).toEqual({
      ...SCOPE,
      'http.method': 'GET',
      'http.status': '502',
      big: '9007199254740993',
      ratio: '0.25',
      retry: 'true',
      raw: 'aGk=',
      tags: '[1,"a",{"k":false}]',
      empty: '',
      'event.name': 'payment.slow',
    })
    // No time: the observed time. INFO2 stays 10; the text that says more than it is kept.
    expect(second).toMatchObject({ ...shared, timestamp: '1763899201000000001', severity_text: 'INFO', severity_number: 10, message: '{"order":42,"items":["a"]}', trace_id: null, span_id: null })
    expect(second!.attributes).toEqual({ ...SCOPE, 'log.level': 'notice' })
    // Neither time: arrival. No number: the text read as a level, else INFO; no body: "".
    expect(third).toMatchObject({ severity_text: 'WARN', severity_number: 13, message: '1.5', attributes: { 'log.level': 'warning' } })
    expect(BigInt(third!.timestamp as string)).toBeGreaterThanOrEqual(before)
    expect(third!.timestamp).toBe(third!.observed_timestamp)
    expect(fourth).toMatchObject({ severity_text: 'INFO', severity_number: 9, message: '', attributes: { 'log.level': 'audit' } })
    expect(fifth).toMatchObject({ severity_text: 'ERROR', severity_number: 20, message: 'lost' })
    expect(fifth!.attributes).toEqual(SCOPE)
  })

  it('reads OTLP JSON at /v1/logs, and camelCase or snake_case at /otlp/v1/logs, exactly as the protobuf', async () => {
    const proto = app()
    await postProto(proto.app, protobufOf(REQUEST))
    const json = app()
    const res = await postJson(json.app, REQUEST)
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    expect(res.json()).toEqual({})
    await postJson(json.app, REQUEST, '/otlp/v1/logs')
    const snake = await postJson(json.app, snakeCase(REQUEST), '/otlp/v1/logs')
    expect(snake.statusCode).toBe(200)
    const expected = proto.events().map(comparable)
    expect(expected).toHaveLength(5)
    expect(json.events().map(comparable)).toEqual([...expected, ...expected, ...expected])
  })

  it('takes protobuf at /otlp/v1/logs, gzip-compressed too', async () => {
    const { app: a, events } = app()
    const res = await postProto(a, gzipSync(protobufOf(REQUEST)), '/otlp/v1/logs', { 'content-encoding': 'gzip' })
    expect(res.statusCode).toBe(200)
    expect(events().map((e) => e.message)).toEqual(['payment slow', '{"order":42,"items":["a"]}', '1.5', '', 'lost'])
  })

  it('keeps every SeverityNumber exactly (INFO2 stays 10), adding no attribute for it', async () => {
    const { app: a, events } = app()
    const records = Array.from({ length: 24 }, (_, i) => ({ severityNumber: i + 1, body: { stringValue: `n${i + 1}` } }))
    const res = await postProto(a, protobufOf({ resourceLogs: [{ scopeLogs: [{ logRecords: records }] }] }))
    expect(res.statusCode).toBe(200)
    const stored = events()
    expect(stored.map((e) => e.severity_number)).toEqual(records.map((r) => r.severityNumber))
    expect(stored.map((e) => e.severity_text)).toEqual(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'].flatMap((t) => [t, t, t, t]))
    expect(stored.every((e) => Object.keys(e.attributes).length === 0 && e.service === 'unknown')).toBe(true)
  })

  it('reads JSON int64 as strings or numbers, enums by name, ids in base64; ns times before 1973 exactly', async () => {
    const { app: a, events } = app()
    const records = [
      { timeUnixNano: 1_000_000_001, severityNumber: 'SEVERITY_NUMBER_WARN2', traceId: Buffer.from(TRACE, 'hex').toString('base64'), spanId: Buffer.from(SPAN, 'hex').toString('base64'), body: { intValue: '-9223372036854775808' } },
      { time_unix_nano: '1763899200000000000', severity_number: 17, body: { double_value: 'NaN' }, attributes: [{ key: 'inf', value: { double_value: '-Infinity' } }] },
    ]
    const res = await postJson(a, { resourceLogs: [{ scopeLogs: [{ logRecords: records }] }] })
    expect(res.json()).toEqual({})
    const [first, second] = events()
    expect(first).toMatchObject({ timestamp: '1000000001', severity_number: 14, trace_id: TRACE, span_id: SPAN, message: '-9223372036854775808' })
    expect(second).toMatchObject({ timestamp: '1763899200000000000', severity_text: 'ERROR', message: '"NaN"', attributes: { inf: '-Infinity' } })
  })

  it('reports records the validator or the reader refused in partial_success, storing the others', async () => {
    const records = [
      { body: { stringValue: 'kept 0' } },
      { body: { stringValue: 'x'.repeat(3000) } },
      { severityNumber: 30, body: { stringValue: 'bad severity' } },
      { timeUnixNano: '18446744073709551615', body: { stringValue: 'too late' } },
      { body: { stringValue: 'kept 4' } },
    ]
    const long = { resource: { attributes: [kv('service.name', { stringValue: 's'.repeat(300) })] }, scopeLogs: [{ logRecords: [{ body: { stringValue: 'long service' } }] }] }
    const request = { resourceLogs: [{ scopeLogs: [{ logRecords: records }] }, long] }

    const proto = app()
    const res = await postProto(proto.app, protobufOf(request))
    expect(res.statusCode).toBe(200)
    const partial = exportResponse(res).partialSuccess as { rejectedLogRecords: string; errorMessage: string }
    expect(partial.rejectedLogRecords).toBe('4')
    expect(partial.errorMessage).toMatch(
      /^1: record is \d+ bytes encoded; the limit is 2000; 2: severityNumber expected 0-24, got 30; 3: timeUnixNano 18446744073709551615 is after 2096-01-01T00:00:00Z, the latest time storage keeps \(ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days\); 5: resource\.attributes\.service\.name \S.*$/,
    )
    expect(proto.events().map((e) => e.message)).toEqual(['kept 0', 'kept 4'])

    const json = app()
    const jsonRes = await postJson(json.app, request)
    expect(jsonRes.statusCode).toBe(200)
    expect(jsonRes.json()).toEqual({ partialSuccess: { rejectedLogRecords: '4', errorMessage: partial.errorMessage } })
    expect(json.events().map((e) => e.message)).toEqual(['kept 0', 'kept 4'])
  })

  it('reports at most GATEWAY_MAX_ERRORS_REPORTED errors, and answers 200 even when every record was refused', async () => {
    const { app: a, producer } = app({ GATEWAY_MAX_ERRORS_REPORTED: '2' })
    const records = Array.from({ length: 5 }, () => ({ severityNumber: 99 }))
    const res = await postJson(a, { resourceLogs: [{ scopeLogs: [{ logRecords: records }] }] }, '/otlp/v1/logs')
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ partialSuccess: { rejectedLogRecords: '5', errorMessage: '0: severityNumber expected 0-24, got 99; 1: severityNumber expected 0-24, got 99; and 3 more' } })
    expect(producer.sent).toEqual([])
  })

  it('answers an unreadable request 400 with a google.rpc.Status in its encoding, storing nothing', async () => {
    const { app: a, producer } = app()
    const whole = protobufOf(REQUEST)
    for (const url of ['/v1/logs', '/otlp/v1/logs']) {
      const truncated = await postProto(a, whole.subarray(0, whole.length - 7), url)
      expect(truncated.statusCode).toBe(400)
      expect(truncated.headers['content-type']).toBe('application/x-protobuf')
      expect(rpcStatus(truncated)).toEqual({ code: 3, message: expect.stringMatching(/^invalid OTLP protobuf: .*index out of range/) })
    }
    const badJson = await postJson(a, '{"resourceLogs": [', '/otlp/v1/logs')
    expect(badJson.statusCode).toBe(400)
    expect(badJson.json()).toEqual({ code: 3, message: expect.stringMatching(/invalid JSON body/) })
    const notArray = await postJson(a, { resourceLogs: [{ scopeLogs: { logRecords: [] } }] })
    expect(notArray.json()).toEqual({ code: 3, message: 'invalid OTLP JSON: resourceLogs[0].scopeLogs: expected an array, got an object' })
    const notOtlp = await postJson(a, { message: 'a Sluice record' }, '/otlp/v1/logs')
    expect(notOtlp.statusCode).toBe(400)
    expect(notOtlp.json().message).toMatch(/expected an ExportLogsServiceRequest/)
    const tenant = await postProto(a, whole, '/otlp/v1/logs', { 'x-sluice-tenant': 'no spaces!' })
    expect(tenant.statusCode).toBe(400)
    expect(rpcStatus(tenant).message).toMatch(/x-sluice-tenant/)
    expect(producer.sent).toEqual([])
  })

  it('answers 413 and 415 with a Status too, and empty requests with an empty success', async () => {
    const { app: a, producer } = app({ GATEWAY_MAX_BODY_BYTES: '1000' })
    const big = await postProto(a, logRecord({ body: { stringValue: 'x'.repeat(2000) } }), '/otlp/v1/logs')
    expect(big.statusCode).toBe(413)
    expect(rpcStatus(big)).toEqual({ code: 3, message: expect.stringMatching(/exceeds the limit of 1000 bytes/) })
    const text = await a.inject({ method: 'POST', url: '/otlp/v1/logs', payload: 'hello', headers: { 'content-type': 'text/plain' } })
    expect(text.statusCode).toBe(415)
    expect(text.json()).toMatchObject({ code: 3 })
    const ndjson = await a.inject({ method: 'POST', url: '/otlp/v1/logs', payload: '{}', headers: { 'content-type': 'application/x-ndjson' } })
    expect(ndjson.statusCode).toBe(415)
    expect(ndjson.json().message).toMatch(/OTLP\/HTTP takes application\/x-protobuf or application\/json/)

    const emptyProto = await postProto(a, Buffer.alloc(0), '/otlp/v1/logs')
    expect(emptyProto.statusCode).toBe(200)
    expect(emptyProto.rawPayload).toHaveLength(0)
    expect((await postJson(a, {}, '/otlp/v1/logs')).json()).toEqual({})
    expect((await postJson(a, { resourceLogs: [] })).json()).toEqual({})
    expect(producer.sent).toEqual([])
  })

  it('answers 429 and 503 with Retry-After and a Status, storing nothing of the refused request', async () => {
    const { app: a, producer } = app({ GATEWAY_MAX_IN_FLIGHT_BYTES: '1000' })
    let release = () => {}
    const acked = new Promise<void>((r) => (release = r))
    const send = producer.send
    producer.send = async (topic, messages) => {
      await acked
      return send(topic, messages)
    }
    const first = postProto(a, protobufOf(REQUEST))
    await new Promise((r) => setTimeout(r, 50))
    const refused = await postProto(a, protobufOf(REQUEST), '/otlp/v1/logs')
    expect(refused.statusCode).toBe(429)
    expect(refused.headers['retry-after']).toBe('5')
    expect(rpcStatus(refused)).toEqual({ code: 8, message: expect.stringMatching(/waiting on Kafka/) })
    release()
    expect((await first).statusCode).toBe(200)
    expect(producer.sent).toHaveLength(5)

    producer.fail = true
    const down = await postJson(a, REQUEST)
    expect(down.statusCode).toBe(503)
    expect(down.headers['retry-after']).toBe('5')
    expect(down.json()).toEqual({ code: 14, message: 'Kafka did not acknowledge within 15000 ms' })
    expect(producer.sent).toHaveLength(5)
  })
})

describe('OTLP bad input', () => {
  const good = logRecord({ body: { stringValue: 'good' } })

  it('rejects a record with a known field in another wire type, naming it, and keeps the rest', async () => {
    const { app: a, events } = app()
    const bodyAsVarint = Buffer.concat([tag(5, 0), varint(7)])
    const nestedStringAsVarint = ld(6, ld(1, Buffer.from('a')), ld(2, ld(6, ld(1, ld(1, Buffer.from('b')), ld(2, Buffer.concat([tag(1, 0), varint(1)]))))))
    const res = await postProto(a, rawRequest([good, bodyAsVarint, nestedStringAsVarint, good]))
    expect(res.statusCode).toBe(200)
    expect(exportResponse(res).partialSuccess).toEqual({
      rejectedLogRecords: '2',
      errorMessage: '1: body sent as varint, expected length-delimited; 2: attributes.a.b.stringValue sent as varint, expected length-delimited',
    })
    expect(events().map((e) => e.message)).toEqual(['good', 'good'])
    // In the framing around the records nothing can be counted: the request is unreadable.
    const framing = await postProto(a, Buffer.concat([tag(1, 0), varint(1)]))
    expect(framing.statusCode).toBe(400)
    expect(rpcStatus(framing).message).toBe('invalid OTLP protobuf: resourceLogs: sent as varint, expected length-delimited')
  })

  it('rejects a record with invalid UTF-8 in a string, and every record under a resource that has it', async () => {
    const { app: a, events } = app()
    const invalid = Buffer.from([0x61, 0xff, 0xfe])
    const badBody = ld(5, ld(1, invalid))
    const badKey = ld(6, rawStringKv(invalid, Buffer.from('v')))
    const badSeverityText = ld(3, invalid)
    const res = await postProto(a, Buffer.concat([rawRequest([good, badBody, badKey, badSeverityText]), rawRequest([good, good], ld(1, rawStringKv(Buffer.from('service.name'), invalid)))]))
    expect(res.statusCode).toBe(200)
    expect(exportResponse(res).partialSuccess).toEqual({
      rejectedLogRecords: '5',
      errorMessage: '1: body invalid UTF-8; 2: attributes[0].key invalid UTF-8; 3: severityText invalid UTF-8; 4: resource.attributes.service.name invalid UTF-8; 5: resource.attributes.service.name invalid UTF-8',
    })
    expect(events().map((e) => e.message)).toEqual(['good'])
  })

  it(`takes values nested ${MAX_DEPTH} levels deep and rejects deeper ones by record, in protobuf and JSON`, async () => {
    const nestedProto = (levels: number) => {
      let v = ld(1, Buffer.from('leaf')) // AnyValue{string_value}
      for (let i = 0; i < levels; i++) v = ld(5, ld(1, v)) // AnyValue{array_value: ArrayValue{values: [v]}}
      return ld(5, v) // LogRecord.body
    }
    const proto = app()
    const res = await postProto(proto.app, rawRequest([nestedProto(MAX_DEPTH), nestedProto(MAX_DEPTH + 1), nestedProto(5000), good]))
    expect(exportResponse(res).partialSuccess).toEqual({
      rejectedLogRecords: '2',
      errorMessage: `1: body nested deeper than ${MAX_DEPTH} levels of arrays and kvlists; 2: body nested deeper than ${MAX_DEPTH} levels of arrays and kvlists`,
    })
    expect(proto.events().map((e) => e.message)).toEqual([`${'['.repeat(MAX_DEPTH)}"leaf"${']'.repeat(MAX_DEPTH)}`, 'good'])

    // 100 000 levels of kvlists in an attribute: the JSON parser copes, the reader stops at the limit.
    const levels = 100_000
    const nestedJson = `${'{"kvlistValue":{"values":[{"key":"a","value":'.repeat(levels)}{"stringValue":"leaf"}${'}]}}'.repeat(levels)}`
    const body = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"deep","value":${nestedJson}}]},{"body":{"stringValue":"good"}}]}]}]}`
    const json = app({ GATEWAY_MAX_BODY_BYTES: String(body.length + 1) })
    const jsonRes = await postJson(json.app, body)
    expect(jsonRes.statusCode).toBe(200)
    const partial = jsonRes.json<{ partialSuccess: { rejectedLogRecords: string; errorMessage: string } }>().partialSuccess
    expect(partial.rejectedLogRecords).toBe('1')
    expect(partial.errorMessage).toBe(`0: attributes.deep${'.a'.repeat(MAX_DEPTH)} nested deeper than ${MAX_DEPTH} levels of arrays and kvlists`)
    expect(json.events().map((e) => e.message)).toEqual(['good'])
  })

  it('rejects by record what the JSON reader cannot take, naming the field', async () => {
    const { app: a, events } = app()
    const records = [
      { body: { stringValue: 'good' } },
      { traceId: 'not-hex', body: { stringValue: 'x' } },
      { spanId: 'abcd', body: { stringValue: 'x' } },
      { body: { stringValue: 42 } },
      { body: 'plain' },
      { attributes: { a: 1 } },
      { timeUnixNano: '-1' },
      { severityNumber: 'LOUD' },
      { attributes: [{ key: 'n', value: { intValue: '99999999999999999999' } }] },
      'not a record',
    ]
    const res = await postJson(a, { resourceLogs: [{ scopeLogs: [{ logRecords: records }] }, { resource: [], scopeLogs: [{ logRecords: [{}] }] }] })
    expect(res.statusCode).toBe(200)
    const errors = res.json<{ partialSuccess: { errorMessage: string } }>().partialSuccess.errorMessage.split('; ')
    expect(errors.map((e) => e.split(' ').slice(0, 2).join(' '))).toEqual([
      '1: traceId',
      '2: spanId',
      '3: body',
      '4: body',
      '5: attributes',
      '6: timeUnixNano',
      '7: severityNumber',
      '8: attributes.n',
      '9: expected',
      '10: resource',
    ])
    expect(errors[2]).toBe('3: body stringValue: expected a string, got number 42')
    expect(events().map((e) => e.message)).toEqual(['good'])
  })
})

describe('OTLP protobuf read from the wire', () => {
  const fixed64 = (field: number, n: bigint) => {
    const b = Buffer.alloc(8)
    b.writeBigUInt64LE(n)
    return Buffer.concat([tag(field, 1), b])
  }
  const text = (field: number, s: string | Buffer) => ld(field, Buffer.from(s))
  /** A field of each wire type no message of OTLP's has: varint, 64-bit, bytes, a group holding a group, 32-bit. */
  const unknowns = Buffer.concat([
    tag(90, 0),
    varint(300),
    tag(91, 1),
    Buffer.alloc(8),
    text(92, 'x'),
    tag(93, 3),
    tag(1, 0),
    varint(1),
    tag(94, 3),
    tag(94, 4),
    tag(93, 4),
    tag(95, 5),
    Buffer.alloc(4),
  ])
  const partial = (res: LightMyRequestResponse) => exportResponse(res).partialSuccess as { rejectedLogRecords: string; errorMessage: string } | undefined

  it('skips unknown fields of every wire type at every level, and takes fields in any order', async () => {
    const { app: a, events } = app()
    const keyValue = Buffer.concat([unknowns, ld(2, unknowns, text(1, 'v')), text(1, 'k')]) // the value before its key
    const record = Buffer.concat([unknowns, ld(6, keyValue), ld(5, unknowns, text(1, 'hello')), fixed64(1, BigInt(T0)), tag(2, 0), varint(13), unknowns])
    const scopeLogs = Buffer.concat([ld(2, record), unknowns, ld(1, text(1, 'lib'), unknowns)]) // the scope after its records
    const resource = Buffer.concat([unknowns, ld(1, rawStringKv(Buffer.from('service.name'), Buffer.from('api')))])
    const resourceLogs = Buffer.concat([ld(2, scopeLogs), unknowns, ld(1, resource)]) // the resource after its scopes
    const res = await postProto(a, Buffer.concat([unknowns, ld(1, resourceLogs), unknowns]))
    expect(res.statusCode).toBe(200)
    expect(res.rawPayload).toHaveLength(0)
    const [event] = events()
    expect(event).toMatchObject({ service: 'api', message: 'hello', timestamp: T0, severity_text: 'WARN', severity_number: 13, attributes: { 'otel.scope.name': 'lib', k: 'v' } })
  })

  it('rejects only the record a wire fault is in, keeping indexes aligned', async () => {
    const { app: a, events } = app()
    const good = logRecord({ body: { stringValue: 'good' } })
    const records = [
      good,
      Buffer.concat([tag(6, 2), varint(50), Buffer.from('ab')]), // an attribute longer than its record
      ld(6, Buffer.concat([tag(1, 2), varint(9), Buffer.from('k')])), // a key longer than its KeyValue
      good,
      Buffer.from([0x0f]), // wire type 7
      Buffer.from([0x00, 0x00]), // field number 0
      Buffer.from([0x80, 0x80, 0x80, 0x80, 0x7f]), // a tag past 32 bits
      Buffer.concat([tag(2, 0), Buffer.alloc(10, 0xff), Buffer.from([0x01])]), // an 11-byte varint
      ld(5, Buffer.concat([tag(4, 1), Buffer.alloc(3)])), // a double cut short inside the body
      good,
    ]
    const res = await postProto(a, rawRequest(records))
    expect(res.statusCode).toBe(200)
    const errors = partial(res)!.errorMessage.split('; ')
    expect(errors).toEqual([
      expect.stringMatching(/^1: invalid LogRecord: index out of range: \d+ \+ 50 > \d+$/),
      expect.stringMatching(/^2: attributes\[0\] invalid KeyValue: index out of range: \d+ \+ 9 > \d+$/),
      expect.stringMatching(/^4: invalid LogRecord: invalid wire type 7 at offset \d+$/),
      '5: invalid LogRecord: illegal tag: field number 0',
      '6: invalid LogRecord: invalid tag encoding',
      '7: invalid LogRecord: invalid varint encoding',
      expect.stringMatching(/^8: body invalid AnyValue: index out of range: \d+ \+ 8 > \d+$/),
    ])
    expect(events().map((e) => e.message)).toEqual(['good', 'good', 'good'])
  })

  it('answers 400 for a fault in the framing around the records, naming where it is', async () => {
    const { app: a, producer } = app()
    const good = ld(2, logRecord({ body: { stringValue: 'good' } }))
    const cases: [Buffer, string | RegExp][] = [
      // a record longer than its ScopeLogs, a resource of another wire type, a length cut short,
      // a wire type that is none, a group closed by another
      [ld(1, ld(2, good, Buffer.concat([tag(2, 2), varint(100), Buffer.from('x')]))), /^invalid OTLP protobuf: resourceLogs\[0\]\.scopeLogs\[0\]: invalid ScopeLogs: index out of range: \d+ \+ 100 > \d+$/],
      [ld(1, ld(2, good), Buffer.concat([tag(1, 0), varint(1)])), 'invalid OTLP protobuf: resourceLogs[0].resource: sent as varint, expected length-delimited'],
      [Buffer.concat([ld(1, ld(2, good)), ld(1, Buffer.from([0x12, 0x80]))]), /^invalid OTLP protobuf: resourceLogs\[1\]: invalid ResourceLogs: index out of range: \d+ \+ 1 > \d+$/],
      [Buffer.from([0x0f]), 'invalid OTLP protobuf: invalid ExportLogsServiceRequest: invalid wire type 7 at offset 0'],
      [Buffer.concat([tag(93, 3), tag(94, 4)]), 'invalid OTLP protobuf: invalid ExportLogsServiceRequest: invalid end group tag'],
    ]
    for (const [body, message] of cases) {
      const res = await postProto(a, body)
      expect(res.statusCode).toBe(400)
      if (typeof message === 'string') expect(rpcStatus(res).message).toBe(message)
      else expect(rpcStatus(res).message).toMatch(message)
    }
    expect(producer.sent).toEqual([])
  })

  it('rejects the records under a broken resource or scope, and only those', async () => {
    const { app: a, events } = app()
    const good = ld(2, logRecord({ body: { stringValue: 'good' } }))
    const brokenResource = ld(1, ld(1, Buffer.concat([tag(1, 2), varint(40)])), ld(2, good, good))
    const brokenScope = ld(1, ld(2, ld(1, Buffer.concat([tag(1, 0), varint(1)])), good), ld(2, good))
    const res = await postProto(a, Buffer.concat([brokenResource, brokenScope]))
    expect(res.statusCode).toBe(200)
    expect(partial(res)!.errorMessage.split('; ')).toEqual([
      expect.stringMatching(/^0: resource invalid Resource: index out of range: \d+ \+ 40 > \d+$/),
      expect.stringMatching(/^1: resource invalid Resource: index out of range/),
      '2: scope.name sent as varint, expected length-delimited',
    ])
    expect(events().map((e) => e.message)).toEqual(['good'])
  })

  it('checks ids and UTF-8 in strings of any length, and keeps what is valid as sent', async () => {
    const { app: a, events } = app({ GATEWAY_MAX_RECORD_BYTES: '10000' })
    const long = 'x'.repeat(200)
    const values = {
      'clé': 'naïve ✓', // non-ASCII key and value
      ['k'.repeat(60)]: 'a key longer than the short ones',
      short: 'v'.repeat(127),
      longer: 'v'.repeat(128), // a length of two bytes
      replacement: 'sent as \uFFFD itself',
      emoji: '🙂',
    }
    const records = [
      logRecord({ body: { stringValue: `${long} 🙂` }, attributes: Object.entries(values).map(([k, v]) => kv(k, { stringValue: v })) }),
      ld(5, ld(1, Buffer.concat([Buffer.from(long), Buffer.from([0xc3])]))), // a long string cut in a character
      ld(6, rawStringKv(Buffer.from('k'), Buffer.from([0xed, 0xa0, 0x80]))), // a surrogate: not UTF-8
      ld(6, rawStringKv(Buffer.from('k'.repeat(60) + '\xff', 'latin1'), Buffer.from('v'))),
      logRecord({ traceId: Buffer.from('abc'), spanId: Buffer.from(SPAN, 'hex') }),
      logRecord({ spanId: Buffer.alloc(9, 1) }),
    ]
    const res = await postProto(a, rawRequest(records))
    expect(partial(res)!.errorMessage.split('; ')).toEqual([
      '1: body invalid UTF-8',
      '2: attributes.k invalid UTF-8',
      '3: attributes[0].key invalid UTF-8',
      '4: traceId expected 16 bytes, got 3',
      '5: spanId expected 8 bytes, got 9',
    ])
    const [event] = events()
    expect(event!.message).toBe(`${long} 🙂`)
    expect(event!.attributes).toEqual(values)
  })

  it('reads every kind of AnyValue, int64 to its limits, and the last member of a oneof sent twice', async () => {
    const { app: a, events } = app()
    const attributes = [
      kv('neg', { intValue: -1 }),
      kv('min', { intValue: '-9223372036854775808' }),
      kv('max', { intValue: '9223372036854775807' }),
      kv('yes', { boolValue: true }),
      kv('half', { doubleValue: -0.5 }),
      kv('bytes', { bytesValue: Buffer.from([1, 2, 3]) }),
      kv('list', { arrayValue: { values: [{ stringValue: 'a' }, { boolValue: false }, {}] } }),
      kv('map', { kvlistValue: { values: [kv('x', { intValue: 1 }), kv('y', { kvlistValue: { values: [] } })] } }),
    ]
    const twice = ld(6, Buffer.concat([ld(1, Buffer.from('twice')), ld(2, Buffer.concat([text(1, 'a'), tag(3, 0), varint(5)]))]))
    const boolTwo = ld(6, Buffer.concat([ld(1, Buffer.from('bool')), ld(2, Buffer.concat([tag(2, 0), varint(2)]))]))
    const res = await postProto(a, rawRequest([Buffer.concat([logRecord({ attributes }), twice, boolTwo])]))
    expect(res.statusCode).toBe(200)
    expect(events()[0]!.attributes).toEqual({
      neg: '-1',
      min: '-9223372036854775808',
      max: '9223372036854775807',
      yes: 'true',
      half: '-0.5',
      bytes: 'AQID',
      list: '["a",false,null]',
      'map.x': '1',
      'map.y': '{}',
      twice: '5',
      bool: 'true',
    })
  })

  it('names attribute keys right however many distinct ones pass through', async () => {
    const { app: a, events } = app({ GATEWAY_MAX_RECORD_BYTES: '10000', GATEWAY_MAX_BODY_BYTES: '2000000' })
    const keys = Array.from({ length: 3000 }, (_, i) => `key.${i}`)
    const request = (order: string[]) => {
      const records = []
      for (let i = 0; i < order.length; i += 50) records.push({ attributes: order.slice(i, i + 50).map((k) => kv(k, { stringValue: k })) })
      return protobufOf({ resourceLogs: [{ scopeLogs: [{ logRecords: records }] }] })
    }
    await postProto(a, request(keys))
    await postProto(a, request([...keys].reverse()))
    const stored = events().flatMap((e) => Object.entries(e.attributes))
    expect(stored).toHaveLength(6000)
    expect(stored.every(([k, v]) => k === v)).toBe(true)
  })
})

describe('OTLP JSON times', () => {
  it('reads uint64 nanoseconds as decimal text of any length, exactly, refusing the out-of-range', async () => {
    const { app: a, events } = app()
    const times = ['1000000001', '99999999999999999', '1763899200123456789', '0', '9223372036854775808', '18446744073709551616', '01763899200123456789', '3976214400000000000', '3976214400000000001']
    const records = times.map((t, i) => ({ timeUnixNano: t, body: { stringValue: String(i) } }))
    const res = await postJson(a, { resourceLogs: [{ scopeLogs: [{ logRecords: records }] }] })
    const after = "is after 2096-01-01T00:00:00Z, the latest time storage keeps (ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days)"
    expect(res.json().partialSuccess.errorMessage.split('; ')).toEqual([
      `4: timeUnixNano 9223372036854775808 ${after}`,
      expect.stringMatching(/^5: timeUnixNano expected an integer from 0 to 18446744073709551615/),
      `8: timeUnixNano 3976214400000000001 ${after}`,
    ])
    const stored = events()
    // 2096-01-01T00:00:00Z itself, the latest time storage keeps, is taken.
    expect(stored.map((e) => e.timestamp)).toEqual(['1000000001', '99999999999999999', '1763899200123456789', stored[3]!.observed_timestamp, '1763899200123456789', '3976214400000000000'])
  })
})

describe('OTLP shared parts and odd JSON values', () => {
  type Partial = { rejectedLogRecords: string; errorMessage: string }
  const partialOf = (res: LightMyRequestResponse, encoding: 'json' | 'protobuf'): Partial =>
    encoding === 'json' ? res.json<{ partialSuccess: Partial }>().partialSuccess : (exportResponse(res).partialSuccess as Partial)
  const send = (a: App, request: object, encoding: 'json' | 'protobuf') => (encoding === 'json' ? postJson(a, request) : postProto(a, protobufOf(request)))
  const bodies = (n: number, what: string) => Array.from({ length: n }, (_, i) => ({ body: { stringValue: `${what} ${i}` } }))

  it.each(['json', 'protobuf'] as const)('refuses the records under a resource or scope over the validator’s limits once for all of them, validating none (%s)', async (encoding) => {
    const { app: a, events } = app()
    const wide = Array.from({ length: 300 }, (_, i) => kv(`k${i}`, { stringValue: 'v' }))
    const request = {
      resourceLogs: [
        { resource: { attributes: wide }, scopeLogs: [{ logRecords: bodies(40, 'under resource') }] },
        { scopeLogs: [{ scope: { name: 'lib', attributes: wide }, logRecords: bodies(40, 'under scope') }, { logRecords: [{ body: { stringValue: 'good' } }] }] },
        { resource: { attributes: [kv('big', { stringValue: 'x'.repeat(2500) })] }, scopeLogs: [{ logRecords: bodies(3, 'under a large resource') }] },
      ],
    }
    vi.mocked(validateLogInput).mockClear()
    const res = await send(a, request, encoding)
    expect(res.statusCode).toBe(200)
    const partial = partialOf(res, encoding)
    expect(partial.rejectedLogRecords).toBe('83')
    const errors = partial.errorMessage.split('; ')
    expect(errors.slice(0, 2)).toEqual(['0: resource.attributes at most 256 entries', '1: resource.attributes at most 256 entries'])
    expect(errors.slice(40, 42)).toEqual(['40: scope.attributes at most 255 entries', '41: scope.attributes at most 255 entries'])
    // A resource larger than a record may be (GATEWAY_MAX_RECORD_BYTES 2000): no record under it is encoded to find out.
    expect(errors[80]).toBe('81: resource at least 2503 bytes encoded in each of its records, over the limit of 2000')
    // Decided per resource and scope: not one of their records was handed to the validator.
    expect(validateLogInput).not.toHaveBeenCalled()
    expect(events().map((e) => e.message)).toEqual(['good'])
  })

  it('refuses by record a JSON string escaping half a surrogate pair, which no UTF-8 encodes, as invalid UTF-8', async () => {
    const { app: a, events } = app()
    const records = [
      { body: { stringValue: 'good' } },
      { body: { stringValue: 'half \ud800' } },
      { attributes: [kv('k\udc00', { stringValue: 'v' })] },
      { attributes: [kv('k', { stringValue: '\ud800' })] },
      { attributes: [kv('list', { arrayValue: { values: [{ kvlistValue: { values: [kv('x', { stringValue: '\udfff' })] } }] } })] },
      { severityText: '\ud83d' },
      { eventName: 'e\ud800' },
      { body: { stringValue: 'a pair is fine: \ud83d\ude00' } },
    ]
    const resource = { attributes: [kv('service.name', { stringValue: 'svc\ud800' })] }
    const request = { resourceLogs: [{ scopeLogs: [{ logRecords: records }, { scope: { name: 'lib\udbff' }, logRecords: [{}] }] }, { resource, scopeLogs: [{ logRecords: [{}, {}] }] }] }
    // JSON.stringify writes a lone surrogate as the escape \ud800, as a client's JSON would.
    expect(JSON.stringify(request)).toContain('half \\ud800')
    const res = await postJson(a, request, '/otlp/v1/logs')
    expect(res.statusCode).toBe(200)
    const lone = 'not valid Unicode: a lone surrogate (an escape such as \\ud800 without its pair)'
    expect(res.json().partialSuccess.errorMessage.split('; ')).toEqual([
      `1: body ${lone}`,
      `2: attributes[0].key ${lone}`,
      `3: attributes.k ${lone}`,
      `4: attributes.list.x ${lone}`,
      `5: severityText ${lone}`,
      `6: eventName ${lone}`,
      `8: scope.name ${lone}`,
      `9: resource.attributes.service.name ${lone}`,
      `10: resource.attributes.service.name ${lone}`,
    ])
    expect(events().map((e) => e.message)).toEqual(['good', 'a pair is fine: 😀'])
  })

  it.each(['json', 'protobuf'] as const)('keeps an attribute named __proto__ as an attribute, of a record and of a resource (%s)', async (encoding) => {
    const { app: a, events } = app()
    const request = {
      resourceLogs: [
        {
          resource: { attributes: [kv('__proto__', { stringValue: 'res' }), kv('service.name', { stringValue: 'api' })] },
          scopeLogs: [{ logRecords: [{ body: { stringValue: 'm' }, attributes: [kv('__proto__', { stringValue: 'attr' }), kv('b', { stringValue: 'y' })] }] }],
        },
      ],
    }
    expect((await send(a, request, encoding)).statusCode).toBe(200)
    const [event] = events()
    expect(Object.keys(event!.attributes)).toEqual(['__proto__', 'b'])
    expect(Object.getOwnPropertyDescriptor(event!.attributes, '__proto__')?.value).toBe('attr')
    expect(Object.getOwnPropertyDescriptor(event!.resource, '__proto__')?.value).toBe('res')
  })

  it('reads bytesValue as RFC 4648 base64, standard or URL-safe, padded or not, and refuses the record of anything else', async () => {
    const { app: a, events } = app()
    const sent = ['AQID', 'AQI', 'AQI=', 'AQ', '-_8', '+/8=', '', 'A', 'AQID=', 'AQI==', 'A===', '+_8=', 'AQ=D', 'AQ I=']
    const records = sent.map((b, i) => ({ body: { stringValue: String(i) }, attributes: [kv('b', { bytesValue: b })] }))
    const res = await postJson(a, { resourceLogs: [{ scopeLogs: [{ logRecords: records }] }] })
    const expected = 'expected base64 (RFC 4648, standard or URL-safe alphabet, padded or not), got string'
    expect(res.json().partialSuccess.errorMessage.split('; ')).toEqual([
      `7: attributes.b ${expected} "A"`,
      `8: attributes.b ${expected} "AQID="`,
      `9: attributes.b ${expected} "AQI=="`,
      `10: attributes.b ${expected} "A==="`,
      `11: attributes.b ${expected} "+_8="`,
      `12: attributes.b ${expected} "AQ=D"`,
      `13: attributes.b ${expected} "AQ I="`,
    ])
    expect(events().map((e) => e.attributes.b)).toEqual(['AQID', 'AQI=', 'AQI=', 'AQ==', '+/8=', '+/8=', ''])
  })

  it('refuses a JSON number past 2^53 for a time or an int, whose digits JSON.parse has already lost, and takes it as a string', async () => {
    const { app: a, events } = app()
    const records = [
      '{"timeUnixNano":1763899200123456789,"body":{"stringValue":"0"}}',
      '{"observedTimeUnixNano":1763899200123456789,"body":{"stringValue":"1"}}',
      '{"timeUnixNano":9007199254740991,"body":{"stringValue":"2"}}',
      '{"attributes":[{"key":"n","value":{"intValue":9007199254740993}}],"body":{"stringValue":"3"}}',
      '{"timeUnixNano":"1763899200123456789","attributes":[{"key":"n","value":{"intValue":"9007199254740993"}}],"body":{"stringValue":"4"}}',
    ]
    const res = await postJson(a, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[${records.join(',')}]}]}]}`)
    expect(res.json().partialSuccess.errorMessage.split('; ')).toEqual([
      '0: timeUnixNano a JSON number past 2^53 (read as 1763899200123456800) loses its last digits: send it as a decimal string',
      '1: observedTimeUnixNano a JSON number past 2^53 (read as 1763899200123456800) loses its last digits: send it as a decimal string',
      '3: attributes.n a JSON number past 2^53 (read as 9007199254740992) loses its last digits: send it as a decimal string',
    ])
    expect(events().map((e) => [e.message, e.timestamp, e.attributes.n])).toEqual([
      ['2', '9007199254740991', undefined],
      ['4', '1763899200123456789', '9007199254740993'],
    ])
  })
})
