// The gateway's HTTP handler without a broker: app.inject() against a fake producer and encoder.
// What reaches the producer, the status codes of every outcome, and that nothing of a rejected
// record is produced.
import { gzipSync } from 'node:zlib'
import { compressFrameSync } from 'lz4-napi'
import { describe, expect, it } from 'vitest'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from './config.js'
import { buildApp } from './service.js'
import { decoded, fakeProducer, jsonCodec } from './test-fakes.js'




function app(env: Record<string, string> = {}, checks = {}) {
  const producer = fakeProducer()
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', GATEWAY_MAX_RECORD_BYTES: '2000', GATEWAY_MAX_BODY_BYTES: '100000', ...env })
  const a = buildApp(config, { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks, producer, codec: jsonCodec })
  return { app: a, producer }
}

const post = (a: ReturnType<typeof app>['app'], payload: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  a.inject({ method: 'POST', url: '/v1/logs', payload, headers })

describe('gateway POST /v1/logs', () => {
  it('encodes a request too large for one buffer into several, every record intact', async () => {
    const { app: a, producer } = app({ GATEWAY_MAX_RECORD_BYTES: '1000000', GATEWAY_MAX_BODY_BYTES: '16000000' })
    const messages = Array.from({ length: 3000 }, (_, i) => ({ service: 'bulk', message: `${i} ${'x'.repeat(600)}` }))
    const res = await post(a, JSON.stringify(messages))
    expect(res.json()).toEqual({ accepted: 3000, rejected: 0 })
    expect(producer.sent[0]!.messages.map((m) => Number(String(decoded(m).message).split(' ')[0]))).toEqual(messages.map((_, i) => i))
  })

  it('produces every valid record keyed tenant/service and answers 200 once the producer resolved', async () => {
    const { app: a, producer } = app()
    const res = await post(a, JSON.stringify([{ service: 'checkout', level: 'warn', message: 'slow' }, { service: 'cart', message: 'ok', tenant: 'acme' }]), { 'content-type': 'application/json', 'x-sluice-tenant': 'shop' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ accepted: 2, rejected: 0 })
    expect(producer.sent).toHaveLength(1)
    expect(producer.sent[0]!.topic).toBe('raw')
    const [first, second] = producer.sent[0]!.messages
    expect(first!.key).toBe('shop/checkout')
    expect(decoded(first!)).toMatchObject({ tenant: 'shop', service: 'checkout', severity_text: 'WARN', severity_number: 13, message: 'slow', source: 'http' })
    expect(second!.key).toBe('acme/cart')
  })

  it('answers 207 naming each rejected record by index and field, producing only the valid ones', async () => {
    const { app: a, producer } = app()
    const body = ['{"service":"a","message":"one"}', '{"service":"a","level":"loud","message":"two"}', 'not json', '{"service":"a","message":"four"}'].join('\n')
    const res = await post(a, body, { 'content-type': 'application/x-ndjson' })
    expect(res.statusCode).toBe(207)
    const json = res.json<{ accepted: number; rejected: number; errors: Array<{ index: number; field: string; message: string }> }>()
    expect(json).toMatchObject({ accepted: 2, rejected: 2 })
    expect(json.errors.map((e) => [e.index, e.field])).toEqual([
      [1, 'level'],
      [2, ''],
    ])
    expect(json.errors[0]!.message).toMatch(/unknown level "loud"/)
    expect(producer.sent[0]!.messages.map((m) => decoded(m).message)).toEqual(['one', 'four'])
  })

  it('answers 400 and produces nothing when no record is valid, the body is empty or not JSON', async () => {
    const { app: a, producer } = app()
    expect((await post(a, '[{"service":"a"}]')).statusCode).toBe(400)
    const bad = await post(a, '{"service":')
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toMatchObject({ error: 'VALIDATION_FAILED', message: expect.stringMatching(/invalid JSON body/) })
    expect((await post(a, '[]')).json()).toMatchObject({ error: 'VALIDATION_FAILED', message: expect.stringMatching(/empty body/) })
    expect((await post(a, '{"message":"x"}', { 'content-type': 'application/json', 'x-sluice-tenant': 'bad tenant!' })).statusCode).toBe(400)
    expect(producer.sent).toEqual([])
  })

  it('turns away a record over the size limit by index while the rest goes through', async () => {
    const { app: a, producer } = app()
    const res = await post(a, JSON.stringify([{ message: 'small' }, { message: 'x'.repeat(3000) }]))
    expect(res.statusCode).toBe(207)
    expect(res.json().errors).toEqual([{ index: 1, field: '', message: expect.stringMatching(/bytes encoded; the limit is 2000/) }])
    expect(producer.sent[0]!.messages).toHaveLength(1)
  })

  it('answers 429 with Retry-After once too much waits for Kafka, and accepts again when it drained', async () => {
    const { app: a, producer } = app({ GATEWAY_MAX_IN_FLIGHT_BYTES: '1000' })
    let release = () => {}
    const acked = new Promise<void>((r) => (release = r))
    const send = producer.send
    producer.send = async (topic, messages) => {
      await acked
      return send(topic, messages)
    }
    // The first request alone exceeds the budget on an idle gateway, and goes.
    const first = post(a, JSON.stringify(Array.from({ length: 20 }, (_, i) => ({ message: `first ${i}` }))))
    await new Promise((r) => setTimeout(r, 50))
    const refused = await post(a, '{"message":"second"}')
    expect(refused.statusCode).toBe(429)
    expect(refused.headers['retry-after']).toBe('5')
    expect(refused.json()).toMatchObject({ error: 'OVERLOADED' })
    release()
    expect((await first).statusCode).toBe(200)
    expect((await post(a, '{"message":"third"}')).statusCode).toBe(200)
    expect(producer.sent.flatMap((s) => s.messages.map((m) => decoded(m).message))).not.toContain('second')
  })

  it('answers 503 with Retry-After when Kafka does not acknowledge, never 2xx', async () => {
    const { app: a, producer } = app()
    producer.fail = true
    const res = await post(a, '{"message":"x"}')
    expect(res.statusCode).toBe(503)
    expect(res.headers['retry-after']).toBe('5')
    expect(res.json()).toMatchObject({ error: 'KAFKA_UNAVAILABLE' })
  })

  it('keeps a time sent as a JSON number to the nanosecond, which a double cannot hold', async () => {
    const { app: a, producer } = app()
    // JSON.parse reads 1763899200123456789 as 1763899200123456768, and 1763899200.123456789 as 1763899200.1234567165.
    const lines = ['{"message":"ns","timestamp":1763899200123456789}', '{"message":"s","ts":1763899200.123456789}', '{"message":"ms","time":1763899200123}']
    const nd = await a.inject({ method: 'POST', url: '/v1/logs', payload: lines.join('\n'), headers: { 'content-type': 'application/x-ndjson' } })
    expect(nd.json()).toEqual({ accepted: 3, rejected: 0 })
    const js = await a.inject({ method: 'POST', url: '/v1/logs?_time_field=date', payload: '[{"message":"mapped","date":1763899200123456789}]', headers: { 'content-type': 'application/json' } })
    expect(js.json()).toEqual({ accepted: 1, rejected: 0 })
    const times = producer.sent.flatMap((s) => s.messages.map((m) => [decoded(m).message, decoded(m).timestamp]))
    expect(times).toEqual([
      ['ns', '1763899200123456789'],
      ['s', '1763899200123456789'],
      ['ms', '1763899200123000000'],
      ['mapped', '1763899200123456789'],
    ])
  })

  it('maps fields named per request by query parameter or header, and names a bad parameter', async () => {
    const { app: a, producer } = app()
    const line = JSON.stringify({ log: 'disk full', date: 1_763_899_200.25, lvl: 'E', kubernetes: { container_name: 'db', pod: 'db-0' } })
    const ndjson = { 'content-type': 'application/x-ndjson' }
    const q = await a.inject({ method: 'POST', url: '/v1/logs?_msg_field=log&_time_field=date&_level_field=lvl&_service_field=kubernetes.container_name', payload: line, headers: ndjson })
    expect(q.json()).toEqual({ accepted: 1, rejected: 0 })
    expect(decoded(producer.sent[0]!.messages[0]!)).toMatchObject({ message: 'disk full', timestamp: '1763899200250000000', severity_text: 'ERROR', service: 'db', attributes: { 'kubernetes.pod': 'db-0', 'log.level': 'E' } })
    const h = await a.inject({ method: 'POST', url: '/v1/logs', payload: line, headers: { ...ndjson, 'x-sluice-msg-field': 'message,log', 'x-sluice-service-field': 'kubernetes.container_name' } })
    expect(h.json()).toEqual({ accepted: 1, rejected: 0 })
    expect(decoded(producer.sent[1]!.messages[0]!)).toMatchObject({ message: 'disk full', service: 'db' })
    const missing = await a.inject({ method: 'POST', url: '/v1/logs?_msg_field=text', payload: line, headers: ndjson })
    expect(missing.statusCode).toBe(400)
    expect(missing.json().errors).toEqual([{ index: 0, field: 'text', message: 'required: none of text is set' }])
    const bad = await a.inject({ method: 'POST', url: '/v1/logs?_time_field=a,,b', payload: line, headers: ndjson })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().message).toContain('_time_field')
    expect(producer.sent).toHaveLength(2)
  })

  it('accepts gzip bodies, limits the decompressed size with 413, and refuses unknown media types with 415', async () => {
    const { app: a, producer } = app()
    const zipped = await a.inject({ method: 'POST', url: '/v1/logs', payload: gzipSync('{"message":"zipped"}'), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } })
    expect(zipped.statusCode).toBe(200)
    expect(decoded(producer.sent[0]!.messages[0]!).message).toBe('zipped')
    const big = await post(a, JSON.stringify({ message: 'y'.repeat(200_000) }))
    expect(big.statusCode).toBe(413)
    expect(big.json()).toMatchObject({ error: 'PAYLOAD_TOO_LARGE', limitBytes: 100_000 })
    expect((await post(a, 'message=x', { 'content-type': 'application/x-www-form-urlencoded' })).statusCode).toBe(415)
  })

  it('reads Content-Encoding in any case, x-gzip as gzip and identity as none (RFC 9110 §8.4.1)', async () => {
    const { app: a, producer } = app()
    for (const encoding of ['GZIP', 'x-gzip', ' Gzip ', 'X-GZIP']) {
      const res = await a.inject({ method: 'POST', url: '/v1/logs', payload: gzipSync(`{"message":"${encoding}"}`), headers: { 'content-type': 'application/json', 'content-encoding': encoding } })
      expect([encoding, res.statusCode]).toEqual([encoding, 200])
    }
    expect((await a.inject({ method: 'POST', url: '/v1/logs', payload: '{"message":"plain"}', headers: { 'content-type': 'application/json', 'content-encoding': 'Identity' } })).statusCode).toBe(200)
    expect(producer.sent.map((s) => decoded(s.messages[0]!).message)).toEqual(['GZIP', 'x-gzip', ' Gzip ', 'X-GZIP', 'plain'])
    // LZW (`compress`) is no coding the gateway reads; `LZ4` is lz4, whatever its case.
    expect((await a.inject({ method: 'POST', url: '/v1/logs', payload: 'x', headers: { 'content-type': 'application/json', 'content-encoding': 'compress' } })).statusCode).toBe(415)
    expect((await a.inject({ method: 'POST', url: '/v1/logs', payload: compressFrameSync(Buffer.from('{"message":"lz4"}')), headers: { 'content-type': 'application/json', 'content-encoding': 'LZ4' } })).statusCode).toBe(200)
    // Loki's route still drops a snappy label, whatever its case.
    expect((await a.inject({ method: 'POST', url: '/loki/api/v1/push', payload: '{"streams":[]}', headers: { 'content-type': 'application/json', 'content-encoding': 'Snappy' } })).statusCode).toBe(204)
  })

  it('skips a UTF-8 byte order mark before a JSON body (RFC 8259 §8.1)', async () => {
    const { app: a, producer } = app()
    const bom = Buffer.from([0xef, 0xbb, 0xbf])
    expect((await post(a, Buffer.concat([bom, Buffer.from('{"message":"bom"}')]))).json()).toEqual({ accepted: 1, rejected: 0 })
    expect((await post(a, Buffer.concat([bom, Buffer.from('{"message":"bom ndjson"}\n')]), { 'content-type': 'application/x-ndjson' })).json()).toEqual({ accepted: 1, rejected: 0 })
    const otlp = Buffer.concat([bom, Buffer.from('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"bom otlp"}}]}]}]}')])
    expect((await a.inject({ method: 'POST', url: '/otlp/v1/logs', payload: otlp, headers: { 'content-type': 'application/json' } })).statusCode).toBe(200)
    expect(producer.sent.map((s) => decoded(s.messages[0]!).message)).toEqual(['bom', 'bom ndjson', 'bom otlp'])
  })

  it('answers another method than POST on an ingest path with 405 and Allow, in the protocol’s error shape', async () => {
    const { app: a } = app()
    const native = await a.inject({ method: 'GET', url: '/v1/logs' })
    expect([native.statusCode, native.headers.allow]).toEqual([405, 'POST'])
    expect(native.json()).toEqual({ error: 'METHOD_NOT_ALLOWED', message: 'GET /v1/logs: method not allowed, send POST' })
    const otlp = await a.inject({ method: 'PUT', url: '/otlp/v1/logs' })
    expect([otlp.statusCode, otlp.headers.allow]).toEqual([405, 'POST'])
    expect(otlp.json()).toEqual({ code: 3, message: 'PUT /otlp/v1/logs: method not allowed, send POST' })
    const loki = await a.inject({ method: 'GET', url: '/loki/api/v1/push' })
    expect([loki.statusCode, loki.headers.allow, loki.headers['content-type'], loki.body]).toEqual([405, 'POST', 'text/plain; charset=utf-8', 'GET /loki/api/v1/push: method not allowed, send POST\n'])
    expect((await a.inject({ method: 'HEAD', url: '/v1/logs' })).statusCode).toBe(405)
    for (const url of ['/_bulk', '/logs/_bulk?pretty']) {
      const es = await a.inject({ method: 'GET', url })
      expect([es.statusCode, es.headers.allow, es.headers['x-elastic-product']]).toEqual([405, 'POST,PUT', 'Elasticsearch'])
      expect(es.json()).toEqual({ error: `Incorrect HTTP method for uri [${url}] and method [GET], allowed: [POST, PUT]`, status: 405 })
    }
    // The routes are not in the OpenAPI document.
    const paths = (await a.inject({ url: '/openapi.json' })).json<{ paths: Record<string, Record<string, unknown>> }>().paths
    expect(Object.keys(paths['/v1/logs']!)).toEqual(['post'])
    expect(Object.keys(paths['/_bulk']!).sort()).toEqual(['post', 'put'])
  })

  it('serves healthz, and readyz from its dependency checks', async () => {
    let kafkaUp = true
    const { app: a } = app({}, { kafka: async () => {
      if (!kafkaUp) throw new Error('no broker')
    } })
    expect((await a.inject({ url: '/healthz' })).statusCode).toBe(200)
    expect((await a.inject({ url: '/readyz' })).json()).toEqual({ status: 'ready', checks: { kafka: 'ok' } })
    kafkaUp = false
    const down = await a.inject({ url: '/readyz' })
    expect(down.statusCode).toBe(503)
    expect(down.json()).toEqual({ status: 'not ready', checks: { kafka: 'no broker' } })
  })
})
