// The Elasticsearch bulk API and its handshake without a broker: app.inject() against a fake
// producer and encoder. What is produced from each document, the answer Elasticsearch clients
// read item by item, bad items refused in their place, and the handshake shippers make.
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from '../config.js'
import { buildApp } from '../service.js'
import { parseBulk } from './elastic-bulk.js'
import { MAX_DEPTH, toRecord } from './elastic-map.js'
import { decoded, fakeProducer, jsonCodec } from '../test-fakes.js'




function app(env: Record<string, string> = {}) {
  const producer = fakeProducer()
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', GATEWAY_MAX_BODY_BYTES: '100000', ...env })
  const a = buildApp(config, { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {}, producer, codec: jsonCodec })
  return { app: a, producer, events: () => producer.sent.flatMap((s) => s.messages.map(decoded)) }
}

const ndjson = (...lines: unknown[]) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n'
const NDJSON = { 'content-type': 'application/x-ndjson' }

type Item = Record<string, { _index: string | null; _id: string | null; status: number; result?: string; error?: { type: string; reason: string } }>
interface BulkResponse {
  took: number
  errors: boolean
  items: Item[]
}
const only = (item: Item) => Object.values(item)[0]!

describe('POST /_bulk', () => {
  it('stores index and create items with ECS fields mapped, and answers each as created', async () => {
    const { app: a, events } = app()
    const body = ndjson(
      { index: { _index: 'web-logs', _id: 'a1' } },
      {
        '@timestamp': '2025-11-30T12:00:00.123456789Z',
        message: 'GET /cart 200',
        log: { level: 'warn', logger: 'http' },
        service: { name: 'shop', version: '1.2' },
        host: { name: 'web-1', ip: ['10.0.0.1', '10.0.0.2'] },
        trace: { id: '0af7651916cd43dd8448eb211c80319c' },
        span: { id: 'b7ad6b7169203331' },
        http: { response: { status_code: 200 } },
        tags: ['a', 'b'],
        tenant: 'not-a-tenant-field',
        empty: null,
      },
      { create: {} },
      { '@timestamp': 1_764_504_000_000, 'log.level': 'ERROR', log: 'disk full', kubernetes: { container: { name: 'db' }, pod: { name: 'db-0' } } },
    )
    const res = await a.inject({ method: 'POST', url: '/app-logs/_bulk', payload: body, headers: { ...NDJSON, 'x-sluice-tenant': 'acme' } })
    expect(res.statusCode).toBe(200)
    expect(res.headers['x-elastic-product']).toBe('Elasticsearch')
    const json = res.json<BulkResponse>()
    expect(json.errors).toBe(false)
    expect(json.items).toHaveLength(2)
    expect(json.items[0]).toEqual({ index: { _index: 'web-logs', _id: 'a1', _version: 1, result: 'created', _shards: { total: 1, successful: 1, failed: 0 }, _seq_no: expect.any(Number), _primary_term: 1, status: 201 } })
    expect(json.items[1]).toMatchObject({ create: { _index: 'app-logs', status: 201, result: 'created' } })

    const [first, second] = events()
    expect(first).toEqual({
      id: 'a1',
      tenant: 'acme',
      timestamp: '1764504000123456789',
      observed_timestamp: expect.any(String),
      service: 'shop',
      host: 'web-1',
      severity_text: 'WARN',
      severity_number: 13,
      message: 'GET /cart 200',
      trace_id: '0af7651916cd43dd8448eb211c80319c',
      span_id: 'b7ad6b7169203331',
      attributes: { 'log.logger': 'http', 'service.version': '1.2', 'host.ip': '["10.0.0.1","10.0.0.2"]', 'http.response.status_code': '200', tags: '["a","b"]', tenant: 'not-a-tenant-field' },
      resource: { 'elasticsearch.index': 'web-logs' },
      source: 'http',
    })
    // No _id in the action: the answer names the id the record was stored under.
    expect(second).toMatchObject({ id: only(json.items[1]!)._id, tenant: 'acme', timestamp: '1764504000000000000', service: 'db', severity_text: 'ERROR', message: 'disk full' })
    expect(second!.attributes).toEqual({ 'kubernetes.container.name': 'db', 'kubernetes.pod.name': 'db-0' })
    expect(second!.resource).toEqual({ 'elasticsearch.index': 'app-logs' })
  })

  it('refuses bad items in their place with the type and reason Elasticsearch gives, storing the rest', async () => {
    const { app: a, events } = app()
    const body = ndjson(
      { index: { _index: 'logs', _id: 'good-1' } },
      { message: 'one' },
      { index: { _index: 'logs', _id: 'bad-time' } },
      { message: 'x', '@timestamp': 'yesterday' },
      { create: { _index: 'logs', _id: 'no-message' } },
      { level: 'info' },
      { delete: { _index: 'logs', _id: 'good-1' } },
      { update: { _index: 'logs', _id: 'good-1' } },
      { doc: { message: 'changed' } },
      '{"index":{"_index":"logs"', // malformed action line …
      { message: 'its source' }, // … taken with it
      { message: 'an orphan source line where an action belongs' },
      { index: { _index: 'logs', _id: 'good-2' } },
      { message: 'two', level: 'loud' }, // a level Sluice does not know: stored, kept as an attribute
      { upsert: { _index: 'logs' } },
      { message: 'after an unknown action' },
      { index: { _index: 'Logs' } },
      { message: 'bad index name' },
      { index: {} },
      { message: 'no index at all' },
      { index: { _index: 'logs', _id: 'bad-trace' } },
      { message: 'x', trace: { id: 'xyz' }, '@timestamp': true },
      { index: { _index: 'logs', _id: 'bad-source' } },
      '{"message": oops}',
      { create: { _index: 'logs', _id: 'last-without-source' } },
    )
    const res = await a.inject({ method: 'POST', url: '/_bulk', payload: body, headers: NDJSON })
    expect(res.statusCode).toBe(200)
    const json = res.json<BulkResponse>()
    expect(json.errors).toBe(true)
    expect(json.items.map((i) => [Object.keys(i)[0], only(i)._id, only(i).status, only(i).error?.type])).toEqual([
      ['index', 'good-1', 201, undefined],
      ['index', 'bad-time', 400, 'mapper_parsing_exception'],
      ['create', 'no-message', 400, 'mapper_parsing_exception'],
      ['delete', 'good-1', 400, 'illegal_argument_exception'],
      ['update', 'good-1', 400, 'illegal_argument_exception'],
      ['index', null, 400, 'x_content_parse_exception'],
      ['index', null, 400, 'illegal_argument_exception'],
      ['index', 'good-2', 201, undefined],
      ['index', null, 400, 'illegal_argument_exception'],
      ['index', null, 400, 'invalid_index_name_exception'],
      ['index', null, 400, 'action_request_validation_exception'],
      ['index', 'bad-trace', 400, 'mapper_parsing_exception'],
      ['index', 'bad-source', 400, 'mapper_parsing_exception'],
      ['create', 'last-without-source', 400, 'action_request_validation_exception'],
    ])
    const reasons = json.items.map((i) => only(i).error?.reason ?? '')
    expect(reasons[1]).toMatch(/^failed to parse field \[@timestamp\]: unparseable timestamp "yesterday"/)
    expect(reasons[2]).toMatch(/no \[message\] field/)
    expect(reasons[3]).toMatch(/delete is not supported/)
    expect(reasons[4]).toMatch(/update is not supported/)
    expect(reasons[5]).toMatch(/^Malformed action\/metadata line \[10\]/)
    expect(reasons[6]).toMatch(/^Malformed action\/metadata line \[12\]/)
    expect(reasons[8]).toMatch(/expected one of \[create, delete, index, update\] but found \[upsert\]/)
    expect(reasons[9]).toBe('Invalid index name [Logs], must be lowercase')
    expect(reasons[10]).toBe('Validation Failed: 1: index is missing;')
    expect(reasons[11]).toMatch(/failed to parse field \[@timestamp\]: .*; failed to parse field \[trace\.id\]: expected 32 hex characters/)
    expect(reasons[12]).toMatch(/^failed to parse the document on line \[24\]/)
    expect(reasons[13]).toMatch(/has no source line/)
    expect(events().map((e) => [e.id, e.message, e.severity_text, (e.attributes as Record<string, string>)['level']])).toEqual([
      ['good-1', 'one', 'INFO', undefined],
      ['good-2', 'two', 'INFO', 'loud'],
    ])
  })

  it('stores a document dated 2096-01-01T00:00:00Z, the latest time storage keeps, and refuses one a nanosecond later', async () => {
    const { app: a, events } = app()
    const body = ndjson(
      { index: { _index: 'logs', _id: 'latest' } },
      { message: 'x', '@timestamp': '2096-01-01T00:00:00Z' },
      { index: { _index: 'logs', _id: 'late' } },
      { message: 'x', '@timestamp': '2096-01-01T00:00:00.000000001Z' },
    )
    const res = await a.inject({ method: 'POST', url: '/_bulk', payload: body, headers: NDJSON })
    const json = res.json<BulkResponse>()
    expect(json.items.map((i) => [only(i)._id, only(i).status, only(i).error?.type])).toEqual([
      ['latest', 201, undefined],
      ['late', 400, 'mapper_parsing_exception'],
    ])
    expect(only(json.items[1]!).error?.reason).toMatch(/^failed to parse field \[@timestamp\]: timestamp "2096-01-01T00:00:00.000000001Z" is after 2096-01-01T00:00:00Z, the latest time storage keeps/)
    expect(events().map((e) => [e.id, e.timestamp])).toEqual([['latest', '3976214400000000000']])
  })

  it('answers 200 when items are refused, and produces nothing when no document can be stored', async () => {
    const { app: a, producer } = app()
    const res = await a.inject({ method: 'POST', url: '/logs/_bulk', payload: ndjson({ index: {} }, { msg: 1, level: 'nope', ts: 0 }, { delete: { _id: 'x' } }), headers: NDJSON })
    expect(res.statusCode).toBe(200)
    // `msg` is a message (as a string); the unknown level is an attribute: only the delete is refused.
    expect(res.json<BulkResponse>().items.map((i) => only(i).status)).toEqual([201, 400])
    expect(decoded(producer.sent[0]!.messages[0]!)).toMatchObject({ message: '1', severity_text: 'INFO', attributes: { level: 'nope', ts: '0' } })
    const none = await a.inject({ method: 'POST', url: '/logs/_bulk', payload: ndjson({ index: {} }, { level: 'info' }), headers: NDJSON })
    expect(none.statusCode).toBe(200)
    expect(none.json<BulkResponse>()).toMatchObject({ errors: true, items: [{ index: { status: 400, error: { type: 'mapper_parsing_exception' } } }] })
    expect(producer.sent).toHaveLength(1)
  })

  it('answers with only what filter_path keeps, as Beats and Logstash ask (errors,items.*.error,items.*.status)', async () => {
    const { app: a, events } = app()
    const payload = ndjson({ create: {} }, { message: 'stored' }, { create: {} }, { level: 'info' })
    const res = await a.inject({ method: 'POST', url: '/logs/_bulk?filter_path=errors,items.*.error,items.*.status', payload, headers: NDJSON })
    expect(res.json()).toEqual({
      errors: true,
      items: [{ create: { status: 201 } }, { create: { status: 400, error: { type: 'mapper_parsing_exception', reason: expect.stringContaining('no [message] field'), index: 'logs' } } }],
    })
    expect(events().map((e) => e.message)).toEqual(['stored'])
    const ids = await a.inject({ method: 'POST', url: '/logs/_bulk?filter_path=items.*._id,took', payload: ndjson({ create: { _id: 'k1' } }, { message: 'x' }), headers: NDJSON })
    expect(Object.keys(ids.json<object>())).toEqual(['took', 'items'])
    expect(ids.json<{ items: unknown[] }>().items).toEqual([{ create: { _id: 'k1' } }])
    const all = await a.inject({ method: 'POST', url: '/logs/_bulk?filter_path=items', payload: ndjson({ create: { _id: 'k2' } }, { message: 'y' }), headers: NDJSON })
    expect(all.json()).toEqual({ items: [{ create: expect.objectContaining({ _id: 'k2', status: 201, result: 'created', _seq_no: expect.any(Number) }) }] })
  })

  it('reads the content types of every client, gzip bodies, and refuses others and empty bodies in Elasticsearch’s error shape', async () => {
    const { app: a, events } = app()
    const body = ndjson({ create: { _index: 'logs' } }, { message: 'hello' }, { create: { _index: 'logs' } }, { message: 'again' })
    const types = ['application/x-ndjson', 'application/json', 'application/json; charset=UTF-8', 'application/vnd.elasticsearch+x-ndjson; compatible-with=8', 'application/vnd.elasticsearch+x-ndjson; compatible-with=9', 'application/vnd.elasticsearch+json;compatible-with=8']
    for (const type of types) {
      const res = await a.inject({ method: 'POST', url: '/_bulk', payload: body, headers: { 'content-type': type } })
      expect([type, res.statusCode, res.json<BulkResponse>().errors]).toEqual([type, 200, false])
    }
    const zipped = await a.inject({ method: 'PUT', url: '/_bulk', payload: gzipSync(body), headers: { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' } })
    expect(zipped.json<BulkResponse>().items).toHaveLength(2)
    expect(events()).toHaveLength(2 * types.length + 2)

    const text = await a.inject({ method: 'POST', url: '/_bulk', payload: body, headers: { 'content-type': 'text/plain' } })
    expect(text.statusCode).toBe(415)
    expect(text.headers['x-elastic-product']).toBe('Elasticsearch')
    expect(text.json()).toMatchObject({ status: 415, error: { type: 'media_type_header_exception', reason: expect.stringMatching(/Content-Type header \[text\/plain\] is not supported/), root_cause: [{ type: 'media_type_header_exception' }] } })
    const empty = await a.inject({ method: 'POST', url: '/_bulk', payload: '\n\n', headers: NDJSON })
    expect(empty.statusCode).toBe(400)
    expect(empty.json()).toMatchObject({ status: 400, error: { type: 'action_request_validation_exception', reason: 'Validation Failed: 1: no requests added;' } })
    const big = await a.inject({ method: 'POST', url: '/_bulk', payload: ndjson({ index: { _index: 'l' } }, { message: 'y'.repeat(200_000) }), headers: NDJSON })
    expect(big.statusCode).toBe(413)
    expect(big.json()).toMatchObject({ status: 413, error: { type: 'content_too_long_exception', limitBytes: 100_000 } })
    const badPath = await a.inject({ method: 'POST', url: '/_Bad/_bulk', payload: body, headers: NDJSON })
    expect(badPath.json()).toMatchObject({ status: 400, error: { type: 'invalid_index_name_exception' } })
    const tenant = await a.inject({ method: 'POST', url: '/_bulk', payload: body, headers: { ...NDJSON, 'x-sluice-tenant': 'no spaces!' } })
    expect(tenant.statusCode).toBe(400)
    expect(tenant.json()).toMatchObject({ status: 400, error: { type: 'illegal_argument_exception', reason: expect.stringContaining('x-sluice-tenant'), sluice_error: 'VALIDATION_FAILED' } })
    expect(events()).toHaveLength(2 * types.length + 2)
  })

  it('answers 429 for the whole request when too much waits for Kafka, and 503 when Kafka does not acknowledge', async () => {
    const { app: a, producer } = app({ GATEWAY_MAX_IN_FLIGHT_BYTES: '100' })
    let release = () => {}
    const acked = new Promise<void>((r) => (release = r))
    const send = producer.send
    producer.send = async (topic, messages) => {
      await acked
      return send(topic, messages)
    }
    const body = ndjson({ index: { _index: 'logs' } }, { message: 'x'.repeat(200) })
    const first = a.inject({ method: 'POST', url: '/_bulk', payload: body, headers: NDJSON })
    await new Promise((r) => setTimeout(r, 50))
    const refused = await a.inject({ method: 'POST', url: '/_bulk', payload: body, headers: NDJSON })
    expect(refused.statusCode).toBe(429)
    expect(refused.headers['retry-after']).toBe('5')
    expect(refused.json()).toMatchObject({ status: 429, error: { type: 'es_rejected_execution_exception', sluice_error: 'OVERLOADED' } })
    release()
    expect((await first).statusCode).toBe(200)
    expect(producer.sent).toHaveLength(1)

    producer.fail = true
    const down = await a.inject({ method: 'POST', url: '/_bulk', payload: body, headers: NDJSON })
    expect(down.statusCode).toBe(503)
    expect(down.headers['retry-after']).toBe('5')
    expect(down.json()).toMatchObject({ status: 503, error: { type: 'unavailable_shards_exception', sluice_error: 'KAFKA_UNAVAILABLE' } })
  })
})

describe('POST /_bulk, found by the sweep', () => {
  it('answers a second create of an id in the request 409 and a second index as an update, as Elasticsearch does', async () => {
    const { app: a, events } = app()
    const body = ndjson(
      { create: { _index: 'logs', _id: 'a' } },
      { message: 'first' },
      { create: { _index: 'logs', _id: 'a' } },
      { message: 'second create' },
      { create: { _index: 'other', _id: 'a' } }, // another index: another document
      { message: 'other index' },
      { index: { _index: 'logs', _id: 'a' } },
      { message: 'index over it' },
      { index: { _index: 'logs', _id: 'a' } },
      { message: 'and again' },
      { create: { _index: 'logs', _id: 'b' } },
      { level: 'info' }, // refused: no message, so not stored …
      { create: { _index: 'logs', _id: 'b' } },
      { message: 'b stored' }, // … and this create is the first of b
      { create: { _index: 'logs', _id: 'c' } },
      { msg: 'pino', level: 30, '@timestamp': 'yesterday' }, // left to the validator, which refuses it
      { create: { _index: 'logs', _id: 'c' } },
      { msg: 'pino c', level: 30 },
      { create: { _index: 'logs', _id: 'c' } },
      { msg: 'pino c again', level: 30 },
    )
    const res = await a.inject({ method: 'POST', url: '/_bulk', payload: body, headers: NDJSON })
    const json = res.json<BulkResponse>()
    expect(json.errors).toBe(true)
    expect(json.items.map((i) => [Object.keys(i)[0], only(i)._index, only(i)._id, only(i).status, only(i).result ?? only(i).error?.type])).toEqual([
      ['create', 'logs', 'a', 201, 'created'],
      ['create', 'logs', 'a', 409, 'version_conflict_engine_exception'],
      ['create', 'other', 'a', 201, 'created'],
      ['index', 'logs', 'a', 200, 'updated'],
      ['index', 'logs', 'a', 200, 'updated'],
      ['create', 'logs', 'b', 400, 'mapper_parsing_exception'],
      ['create', 'logs', 'b', 201, 'created'],
      ['create', 'logs', 'c', 400, 'mapper_parsing_exception'],
      ['create', 'logs', 'c', 201, 'created'],
      ['create', 'logs', 'c', 409, 'version_conflict_engine_exception'],
    ])
    expect(only(json.items[1]!).error!.reason).toBe('[a]: version conflict, document already exists (current version [1])')
    expect(json.items[4]).toMatchObject({ index: { _version: 3, result: 'updated', status: 200, _primary_term: 1 } })
    expect(events().map((e) => e.message)).toEqual(['first', 'other index', 'index over it', 'and again', 'b stored', 'pino c'])
    // Under Beats' filter_path the updated item keeps its own status.
    const filtered = await a.inject({ method: 'POST', url: '/_bulk?filter_path=errors,items.*.error,items.*.status', payload: ndjson({ index: { _index: 'logs', _id: 'x' } }, { message: '1' }, { index: { _index: 'logs', _id: 'x' } }, { message: '2' }), headers: NDJSON })
    expect(filtered.json()).toEqual({ errors: false, items: [{ index: { status: 201 } }, { index: { status: 200 } }] })
  })

  it('reads the line after an action as its source, whatever its keys (one item, one answer)', async () => {
    const { app: a, events } = app()
    const res = await a.inject({ method: 'POST', url: '/_bulk', payload: ndjson({ index: { _index: 'logs' } }, { index: { name: 'x' }, message: 'a document with an index field' }, { index: { _index: 'logs' } }, { index: { name: 'y' } }), headers: NDJSON })
    const json = res.json<BulkResponse>()
    expect(json.items.map((i) => only(i).status)).toEqual([201, 400])
    expect(only(json.items[1]!).error!.reason).toMatch(/no \[message\] field/)
    expect(events()).toMatchObject([{ message: 'a document with an index field', attributes: { 'index.name': 'x' } }])
  })

  it('repeats at most a bounded part of a client’s value in its answer', async () => {
    const { app: a } = app({ GATEWAY_MAX_BODY_BYTES: '10000000' })
    const huge = 'x'.repeat(1_000_000)
    const res = await a.inject({ method: 'POST', url: '/_bulk', payload: ndjson({ index: { _index: `logs-${huge}`, _id: huge } }, { message: 'm' }, { [huge]: { a: 1 } }, { message: 'x' }, { index: { _index: 'logs' } }, { message: 'm', [huge.slice(0, 5000)]: { too: { deep: Object.fromEntries([['k', JSON.parse('{"a":'.repeat(25) + '1' + '}'.repeat(25))]]) } } }), headers: NDJSON })
    expect(res.statusCode).toBe(200)
    expect(res.body.length).toBeLessThan(3000)
    const json = res.json<BulkResponse>()
    expect(json.items.map((i) => only(i).error?.type)).toEqual(['invalid_index_name_exception', 'illegal_argument_exception', 'mapper_parsing_exception'])
    expect(only(json.items[0]!).error!.reason).toMatch(/^Invalid index name \[logs-x{195}… \(1000005 characters\)\], index name is too long/)
  })

  it('refuses a document, an _id or an _index that is not well-formed Unicode (a lone surrogate) in its place', async () => {
    const { app: a, events } = app()
    const body = [
      '{"index":{"_index":"logs"}}',
      '{"message":"half \\ud800 a pair"}',
      '{"index":{"_index":"logs"}}',
      '{"message":"m","user":{"\\udc00":"key"}}',
      '{"index":{"_index":"logs","_id":"\\ud800"}}',
      '{"message":"m"}',
      '{"index":{"_index":"logs-\\ud800"}}',
      '{"message":"m"}',
      '{"index":{"_index":"logs"}}',
      '{"message":"a pair \\ud83d\\ude00 is fine","tags":["\\ud800"]}',
    ].join('\n')
    const json = (await a.inject({ method: 'POST', url: '/_bulk', payload: body, headers: NDJSON })).json<BulkResponse>()
    expect(json.items.map((i) => [only(i).status, only(i).error?.type, only(i).error?.reason])).toEqual([
      [400, 'mapper_parsing_exception', 'failed to parse field [message]: the value is not valid Unicode: a lone surrogate (an escape such as \\ud800 without its pair)'],
      [400, 'mapper_parsing_exception', expect.stringMatching(/^failed to parse: a field name is not valid Unicode/)],
      [400, 'illegal_argument_exception', expect.stringMatching(/^_id is not valid Unicode/)],
      [400, 'invalid_index_name_exception', expect.stringMatching(/must be valid Unicode/)],
      [201, undefined, undefined],
    ])
    // An array is stored as JSON, which escapes the lone surrogate.
    expect(events()).toMatchObject([{ message: 'a pair 😀 is fine', attributes: { tags: '["\\ud800"]' } }])
  })
})

describe('Elasticsearch handshake', () => {
  it('answers GET / and HEAD / as an Elasticsearch 8 cluster, with the product header', async () => {
    const { app: a } = app()
    const res = await a.inject({ url: '/' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['x-elastic-product']).toBe('Elasticsearch')
    expect(res.json()).toMatchObject({ cluster_name: 'sluice', tagline: 'You Know, for Search', version: { number: expect.stringMatching(/^8\.\d+\.\d+$/), build_flavor: 'default' } })
    const head = await a.inject({ method: 'HEAD', url: '/' })
    expect(head.statusCode).toBe(200)
    expect(head.headers['x-elastic-product']).toBe('Elasticsearch')
    expect((await a.inject({ url: '/_license' })).json()).toMatchObject({ license: { status: 'active', type: 'basic' } })
    expect((await a.inject({ url: '/_xpack' })).json()).toMatchObject({ features: { ilm: { available: true, enabled: true } } })
    expect((await a.inject({ url: '/_cluster/health' })).json()).toMatchObject({ status: 'green', number_of_nodes: 1 })
    const health = await a.inject({ url: '/_cat/health' })
    expect(health.headers['content-type']).toMatch(/^text\/plain/)
    expect(health.body).toMatch(/^\d+ \d\d:\d\d:\d\d sluice green 1 1/)
    expect((await a.inject({ url: '/_cat/health?format=json' })).json()).toMatchObject([{ cluster: 'sluice', status: 'green' }])
    expect((await a.inject({ url: '/_cat/indices?format=json' })).json()).toEqual([])
  })

  it('remembers index templates, lifecycle policies and ingest pipelines by name, 404 before they are put', async () => {
    const { app: a } = app()
    const json = { 'content-type': 'application/vnd.elasticsearch+json; compatible-with=9' }
    expect((await a.inject({ method: 'HEAD', url: '/_index_template/filebeat-8.19.0' })).statusCode).toBe(404)
    expect((await a.inject({ url: '/_index_template/filebeat-8.19.0' })).json()).toMatchObject({ status: 404, error: { type: 'resource_not_found_exception' } })
    const put = await a.inject({ method: 'PUT', url: '/_index_template/filebeat-8.19.0', payload: { index_patterns: ['filebeat-8.19.0'], data_stream: {}, priority: 150, template: { mappings: {} } }, headers: json })
    expect(put.json()).toEqual({ acknowledged: true })
    expect((await a.inject({ method: 'HEAD', url: '/_index_template/filebeat-8.19.0' })).statusCode).toBe(200)
    expect((await a.inject({ url: '/_index_template/filebeat*' })).json()).toEqual({ index_templates: [{ name: 'filebeat-8.19.0', index_template: { index_patterns: ['filebeat-8.19.0'], composed_of: [], priority: 150, data_stream: { hidden: false, allow_custom_routing: false } } }] })
    expect((await a.inject({ method: 'PUT', url: '/_index_template/x', payload: { template: {} }, headers: json })).json()).toMatchObject({ status: 400, error: { type: 'action_request_validation_exception' } })
    expect((await a.inject({ method: 'PUT', url: '/_index_template/x', payload: '{oops', headers: json })).json()).toMatchObject({ status: 400, error: { type: 'x_content_parse_exception' } })

    expect((await a.inject({ url: '/_ilm/policy/filebeat' })).statusCode).toBe(404)
    expect((await a.inject({ method: 'PUT', url: '/_ilm/policy/filebeat', payload: { policy: { phases: { hot: {} } } }, headers: json })).json()).toEqual({ acknowledged: true })
    expect((await a.inject({ url: '/_ilm/policy/filebeat' })).json()).toMatchObject({ filebeat: { version: 1, policy: { phases: {} } } })

    expect((await a.inject({ url: '/_ingest/pipeline/logs-default' })).statusCode).toBe(404)
    expect((await a.inject({ method: 'PUT', url: '/_ingest/pipeline/logs-default', payload: { description: 'parse', processors: [{ set: {} }] }, headers: json })).json()).toEqual({ acknowledged: true })
    expect((await a.inject({ url: '/_ingest/pipeline/logs-default' })).json()).toMatchObject({ 'logs-default': { description: 'parse', processors: [] } })
  })

  it('says every valid index exists and creates it, and answers anything else under these paths with a 400 naming it', async () => {
    const { app: a } = app()
    expect((await a.inject({ method: 'HEAD', url: '/app-logs' })).statusCode).toBe(200)
    expect((await a.inject({ url: '/app-logs,audit-*' })).json()).toMatchObject({ 'app-logs': { aliases: {} }, 'audit-*': { mappings: {} } })
    expect((await a.inject({ method: 'PUT', url: '/app-logs' })).json()).toEqual({ acknowledged: true, shards_acknowledged: true, index: 'app-logs' })
    expect((await a.inject({ method: 'PUT', url: '/%3Clogs-%7Bnow%2Fd%7D-000001%3E' })).statusCode).toBe(200)
    expect((await a.inject({ method: 'PUT', url: '/App' })).json()).toMatchObject({ status: 400, error: { type: 'invalid_index_name_exception', reason: 'Invalid index name [App], must be lowercase' } })
    expect((await a.inject({ url: '/_nodes' })).json()).toMatchObject({ status: 400, error: { type: 'invalid_index_name_exception' } })
    for (const [method, url] of [['GET', '/_cat/shards'], ['DELETE', '/_index_template/x'], ['POST', '/_ilm/policy/x'], ['GET', '/_cluster/state']] as const) {
      const res = await a.inject({ method, url })
      expect([url, res.statusCode]).toEqual([url, 400])
      expect(res.json().error.reason).toContain(`no handler found for uri [${url}] and method [${method}]`)
    }
  })

  it('leaves the other routes of the gateway and their parsers alone', async () => {
    const { app: a, events } = app()
    expect((await a.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' })
    expect((await a.inject({ url: '/metrics' })).statusCode).toBe(200)
    const native = await a.inject({ method: 'POST', url: '/v1/logs', payload: '{"message":"native"}', headers: { 'content-type': 'application/json' } })
    expect(native.json()).toEqual({ accepted: 1, rejected: 0 })
    expect(native.headers['x-elastic-product']).toBeUndefined()
    const vendor = await a.inject({ method: 'POST', url: '/v1/logs', payload: '{"message":"x"}', headers: { 'content-type': 'application/vnd.elasticsearch+json; compatible-with=8' } })
    expect(vendor.statusCode).toBe(415)
    expect(events().map((e) => e.message)).toEqual(['native'])
  })
})

describe('elastic bulk body and document mapping', () => {
  it('pairs actions with their source lines across blank lines and CRLF, numbering lines as sent', () => {
    const items = parseBulk('{"index":{}}\r\n\r\n{"message":"a"}\r\n{"create":{"_id":7}}\n{"message":"b"}', 'p')
    expect(items).toEqual([
      { op: 'index', index: 'p', id: null, doc: { message: 'a' } },
      { op: 'create', index: 'p', id: '7', doc: { message: 'b' } },
    ])
    // Strict alternation, as Elasticsearch reads it: the line after an action is its source, even
    // one shaped like an action (it used to be read as the next action, two answers for one).
    expect(parseBulk('{"index":{"_index":"p"}}\n{"index":{"name":"x"}}\n{"message":"b"}')).toMatchObject([
      { op: 'index', index: 'p', doc: { index: { name: 'x' } } },
      { op: 'index', error: { type: 'illegal_argument_exception', reason: 'Malformed action/metadata line [3], expected one of [create, delete, index, update] but found [message]' } },
    ])
    expect(parseBulk('{"create":{"_index":"p"}}\n{"delete":{"_id":"x"}}')).toMatchObject([{ op: 'create', doc: { delete: { _id: 'x' } } }])
    expect(parseBulk('{"index":{"_index":"p"}}\n{"delete":{"_id":"x"}}\n{"create":{"_index":"p"}}')).toMatchObject([{ doc: {} }, { op: 'create', error: { reason: expect.stringContaining('line [3] has no source line') } }])
    expect(parseBulk(`{"index":{"_index":"p","_id":"${'x'.repeat(129)}"}}\n{"message":"b"}`)[0]!.error!.reason).toMatch(/too long/)
  })

  it('gives every item of a repeated action line that line’s target, and each other line its own', () => {
    const bad = '{"create":{"_index":"Logs"}}'
    const good = '{"create":{"_index":"logs"}}'
    const items = parseBulk([bad, '{"message":"a"}', bad, '{"message":"b"}', good, '{"message":"c"}', good, '{"message":"d"}', bad, '{"message":"e"}'].join('\n'), 'path')
    expect(items.map((i) => [i.index, i.error?.type ?? 'ok'])).toEqual([
      ['Logs', 'invalid_index_name_exception'],
      ['Logs', 'invalid_index_name_exception'],
      ['logs', 'ok'],
      ['logs', 'ok'],
      ['Logs', 'invalid_index_name_exception'],
    ])
    // Without _index, the path's index: checked for each call, not carried over from another.
    expect(parseBulk('{"create":{}}\n{"message":"a"}', 'p')[0]).toMatchObject({ index: 'p' })
    expect(parseBulk('{"create":{}}\n{"message":"a"}', 'Q')[0]!.error!.type).toBe('invalid_index_name_exception')
  })

  it('reads pino records on pino’s scale and caps nesting depth, field counts and key lengths', () => {
    const pino = toRecord({ level: 20, msg: 'debugging', time: 1_764_504_000_000, pid: 7 }, 'i', 'x')
    expect(pino).toMatchObject({ ok: true, doc: { record: { msg: 'debugging', level: 20 } } })
    let deep: Record<string, unknown> = { leaf: 1 }
    for (let i = 0; i < MAX_DEPTH; i++) deep = { n: deep }
    expect(toRecord({ message: 'm', deep }, 'i', 'x')).toMatchObject({ ok: false, reason: expect.stringMatching(/Limit of mapping depth \[20\]/) })
    let deepArray: unknown = 1
    for (let i = 0; i < 100_000; i++) deepArray = [deepArray]
    expect(toRecord({ message: 'm', deepArray }, 'i', 'x')).toMatchObject({ ok: false, reason: expect.stringMatching(/array field \[deepArray\]/) })
    const wide = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f${i}`, i]))
    expect(toRecord({ message: 'm', ...wide }, 'i', 'x')).toMatchObject({ ok: false, reason: expect.stringMatching(/at most 256 attributes/) })
    expect(toRecord({ message: 'm', ['k'.repeat(300)]: 1 }, 'i', 'x')).toMatchObject({ ok: false, reason: expect.stringMatching(/longer than 256/) })
    expect(toRecord({ message: 'm', '': 1 }, 'i', 'x')).toMatchObject({ ok: false, reason: expect.stringMatching(/empty string/) })
    const proto = toRecord(JSON.parse('{"message":"m","__proto__":{"polluted":1}}') as Record<string, unknown>, 'i', 'x')
    expect(proto).toMatchObject({ ok: true, doc: { record: { attributes: { '__proto__.polluted': '1' } } } })
    // A flat document is read in place: the same rules (a `__proto__` field is a field, nulls dropped).
    const flatDoc = toRecord(JSON.parse('{"message":"m","__proto__":"x","gone":null,"log.level":"warn","host.name":null}') as Record<string, unknown>, 'i', 'x')
    expect(flatDoc.ok && flatDoc.doc.record).toMatchObject({ message: 'm', level: 'warn' })
    expect(flatDoc.ok && Object.getOwnPropertyDescriptor(flatDoc.doc.record.attributes as object, '__proto__')?.value).toBe('x')
    expect(flatDoc.ok && Object.keys(flatDoc.doc.record.attributes as object)).toEqual(['__proto__'])
    expect(flatDoc.ok && 'host' in flatDoc.doc.record).toBe(false)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('reads syslog-ng’s default elasticsearch-http() template', () => {
    const doc = { _SDATA: { meta: { order: '42' } }, PROGRAM: 'checkout', PRIORITY: 'err', PID: '42', MESSAGE: 'payment declined', ISODATE: '2025-11-30T12:00:00+00:00', HOST: 'web-1', FACILITY: 'user', '@timestamp': '2025-11-30T12:00:00+00:00' }
    expect(toRecord(doc, 'i', 'syslog')).toEqual({
      ok: true,
      doc: {
        record: { id: 'i', message: 'payment declined', timestamp: '2025-11-30T12:00:00+00:00', level: 'err', service: 'checkout', host: 'web-1', attributes: { '_SDATA.meta.order': '42', PID: '42', ISODATE: '2025-11-30T12:00:00+00:00', FACILITY: 'user' }, resource: { 'elasticsearch.index': 'syslog' } },
        from: { id: '_id', message: 'MESSAGE', timestamp: '@timestamp', level: 'PRIORITY', service: 'PROGRAM', host: 'HOST' },
      },
    })
  })

  it('reads a PRIORITY of 0–7 as a syslog severity (journald, syslog-ng), a named one as any level', async () => {
    const { app: a, events } = app()
    const docs = [['3', 'ERROR'], [6, 'INFO'], ['0', 'FATAL'], ['7', 'DEBUG'], ['4', 'WARN'], ['warning', 'WARN'], ['13', 'WARN']] as const
    await a.inject({ method: 'POST', url: '/journal/_bulk', payload: ndjson(...docs.flatMap(([p], i) => [{ index: {} }, { MESSAGE: `m${i}`, PRIORITY: p, _SYSTEMD_UNIT: 'cron.service' }])), headers: NDJSON })
    // '13' is no syslog severity: read as any number is, an OpenTelemetry severity (13: WARN).
    expect(events().map((e) => [e.message, e.severity_text])).toEqual(docs.map(([, level], i) => [`m${i}`, level]))
    expect(events()[0]!.attributes).toEqual({ _SYSTEMD_UNIT: 'cron.service' })
  })

  it('stores a pino record sent through the bulk API at its pino level', async () => {
    const { app: a, events } = app()
    await a.inject({ method: 'POST', url: '/pino/_bulk', payload: ndjson({ index: {} }, { level: 20, msg: 'debugging', time: 1_764_504_000_000, name: 'worker' }), headers: NDJSON })
    expect(events()[0]).toMatchObject({ message: 'debugging', severity_text: 'DEBUG', timestamp: '1764504000000000000' })
  })
})
