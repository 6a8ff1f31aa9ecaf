// The gateway's doors with SLUICE_AUTH=true, without a broker (app.inject() against a fake
// producer): every ingest route asks for a key and answers a refusal in its protocol's own form
// (native JSON, OTLP Status, Loki text, Elasticsearch security_exception), takes the tenant from the
// key, refuses another tenant named in a header or a record, and holds each tenant to its ingest
// limits with 429 + Retry-After — storing exactly what it said it accepted.
import type { LightMyRequestResponse } from 'fastify'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { createProcessSecurity, hashKey, loadSecurityConfig } from '@sluice/auth'
import { createLogger, createRegistry } from '@sluice/observability'
import type { Registry } from '@sluice/observability'
import { loadConfig } from './config.js'
import { buildApp } from './service.js'
import { spec } from './protocols/otlp-proto.js'
import { decoded, fakeProducer, jsonCodec } from './test-fakes.js'

const KEYS = {
  keys: [
    { id: 'acme-ship', sha256: hashKey('acme-secret'), tenants: ['acme'], scopes: ['ingest'] },
    { id: 'acme-read', sha256: hashKey('acme-reader'), tenants: ['acme'], scopes: ['query'] },
    { id: 'ops', sha256: hashKey('ops-secret'), tenants: ['acme', 'beta'], scopes: ['ingest'] },
  ],
}

type Tenants = Record<string, Record<string, number>>

/** A gateway with authentication on (and `tenants` as the tenants file), its clock held still. */
function app(opts: { auth?: boolean; tenants?: { defaults?: Record<string, number>; tenants?: Tenants } } = {}) {
  const producer = fakeProducer()
  const registry = createRegistry({ defaultMetrics: false })
  const log = createLogger({ level: 'silent' })
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', GATEWAY_DEFAULT_TENANT: 'default', GATEWAY_MAX_BODY_BYTES: '200000' })
  // The tenants file's JSON as loadSecurityConfig would have read it from SLUICE_TENANTS_FILE.
  // The audit log's lines, as its rows.
  const audits: Array<Record<string, unknown>> = []
  const auditLog = pino({ level: 'info' }, { write: (line: string) => void audits.push((JSON.parse(line) as { audit: Record<string, unknown> }).audit) })
  const security = createProcessSecurity({ ...loadSecurityConfig({ SLUICE_AUTH: opts.auth ?? true, SLUICE_API_KEYS: JSON.stringify(KEYS), SLUICE_API_KEYS_RELOAD_MS: 5000 }), tenants: opts.tenants }, { log: auditLog, retentionDays: 30 })
  const a = buildApp(config, { logger: log, registry, checks: {}, producer, codec: jsonCodec, security: security.forService('gateway'), clock: () => 1_000_000 })
  return { app: a, producer, registry, audits, events: () => producer.sent.flatMap((s) => s.messages.map((m) => ({ ...(decoded(m) as { tenant: string; message: string }), key: String(m.key) }))) }
}
type App = ReturnType<typeof app>['app']

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })
const basic = (user: string, key: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}` })
const apiKey = (id: string, key: string) => ({ authorization: `ApiKey ${Buffer.from(`${id}:${key}`).toString('base64')}` })

const JSON_TYPE = { 'content-type': 'application/json' }
const NDJSON = { 'content-type': 'application/x-ndjson' }
const PROTOBUF = { 'content-type': 'application/x-protobuf' }

const native = (a: App, records: unknown[], headers: Record<string, string> = {}) => a.inject({ method: 'POST', url: '/v1/logs', payload: JSON.stringify(records), headers: { ...JSON_TYPE, ...headers } })

const otlpRequest = (messages: string[]) => ({
  resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'otel-app' } }] }, scopeLogs: [{ logRecords: messages.map((m) => ({ body: { stringValue: m } })) }] }],
})
const otlpProto = (messages: string[]) => Buffer.from(spec.ExportLogsServiceRequest.encode(spec.ExportLogsServiceRequest.fromObject(otlpRequest(messages))).finish())
const otlp = (a: App, messages: string[], headers: Record<string, string> = {}, url = '/otlp/v1/logs') => a.inject({ method: 'POST', url, payload: otlpProto(messages), headers: { ...PROTOBUF, ...headers } })
const rpcStatus = (res: LightMyRequestResponse) => spec.Status.toObject(spec.Status.decode(res.rawPayload)) as { code: number; message: string }

const loki = (a: App, lines: string[], headers: Record<string, string> = {}) =>
  a.inject({
    method: 'POST',
    url: '/loki/api/v1/push',
    payload: JSON.stringify({ streams: [{ stream: { app: 'loki-app' }, values: lines.map((l, i) => [String(1_764_000_000_000_000_000n + BigInt(i)), l]) }] }),
    headers: { ...JSON_TYPE, ...headers },
  })

const bulkBody = (messages: string[]) => messages.map((m) => `{"create":{}}\n${JSON.stringify({ message: m, service: { name: 'es-app' } })}\n`).join('')
const bulk = (a: App, messages: string[], headers: Record<string, string> = {}) => a.inject({ method: 'POST', url: '/logs/_bulk', payload: bulkBody(messages), headers: { ...NDJSON, ...headers } })

/** One request of each protocol carrying `message`, with `headers`. */
const PROTOCOLS = {
  native: (a: App, headers: Record<string, string>) => native(a, [{ service: 'app', message: 'native' }], headers),
  'otlp protobuf': (a: App, headers: Record<string, string>) => otlp(a, ['otlp'], headers),
  'otlp on /v1/logs': (a: App, headers: Record<string, string>) => otlp(a, ['otlp'], headers, '/v1/logs'),
  'otlp json': (a: App, headers: Record<string, string>) => a.inject({ method: 'POST', url: '/otlp/v1/logs', payload: JSON.stringify(otlpRequest(['otlp json'])), headers: { ...JSON_TYPE, ...headers } }),
  loki: (a: App, headers: Record<string, string>) => loki(a, ['loki'], headers),
  'elasticsearch bulk': (a: App, headers: Record<string, string>) => bulk(a, ['es'], headers),
} as const

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name)
  const v = m?.values.find((x) => Object.entries(labels).every(([k, want]) => x.labels[k] === want))
  return v?.value ?? 0
}

describe('gateway with SLUICE_AUTH=true: credentials', () => {
  it('answers 401 with WWW-Authenticate in each protocol’s form to a request without a key, producing nothing', async () => {
    const { app: a, producer } = app()
    const res = Object.fromEntries(await Promise.all(Object.entries(PROTOCOLS).map(async ([name, send]) => [name, await send(a, {})] as const)))
    for (const r of Object.values(res)) {
      expect(r.statusCode).toBe(401)
      expect(String(r.headers['www-authenticate'])).toMatch(/Bearer realm="sluice"/)
    }
    expect(res.native!.json()).toMatchObject({ error: 'UNAUTHORIZED', message: expect.stringContaining('API key is required') })
    // OTLP: a google.rpc.Status UNAUTHENTICATED, in the request's encoding.
    expect(res['otlp protobuf']!.headers['content-type']).toBe('application/x-protobuf')
    expect(rpcStatus(res['otlp protobuf']!)).toMatchObject({ code: 16, message: expect.stringContaining('API key is required') })
    expect(rpcStatus(res['otlp on /v1/logs']!)).toMatchObject({ code: 16 })
    expect(res['otlp json']!.json()).toMatchObject({ code: 16, message: expect.stringContaining('API key') })
    // Loki: plain text.
    expect(res.loki!.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.loki!.body).toMatch(/API key is required/)
    // Elasticsearch: security_exception with the challenges in the body, and its product header.
    const es = res['elasticsearch bulk']!
    expect(es.headers['x-elastic-product']).toBe('Elasticsearch')
    expect(String(es.headers['www-authenticate'])).toMatch(/ApiKey/)
    expect(es.json()).toMatchObject({ status: 401, error: { type: 'security_exception', reason: expect.stringContaining('API key'), header: { 'WWW-Authenticate': expect.arrayContaining(['ApiKey realm="sluice"']) }, root_cause: [{ type: 'security_exception' }] } })
    expect(producer.sent).toEqual([])
  })

  it('asks for a key on the Elasticsearch handshake too, answering security_exception the way Beats and the clients read it', async () => {
    const { app: a } = app()
    const calls = [
      { method: 'GET', url: '/' },
      { method: 'GET', url: '/_license?human=false' },
      { method: 'GET', url: '/_xpack' },
      { method: 'GET', url: '/_cluster/health' },
      { method: 'GET', url: '/_index_template/filebeat-8.19.0' },
      { method: 'PUT', url: '/_index_template/filebeat-8.19.0', payload: '{"index_patterns":["filebeat-*"]}', headers: JSON_TYPE },
      { method: 'GET', url: '/_ilm/policy/filebeat' },
      { method: 'GET', url: '/_ingest/pipeline/p' },
      { method: 'HEAD', url: '/logs-app' },
    ] as const
    for (const c of calls) {
      const res = await a.inject(c)
      expect(res.statusCode, `${c.method} ${c.url}`).toBe(401)
      expect(res.headers['x-elastic-product']).toBe('Elasticsearch')
      if (c.method !== 'HEAD') expect(res.json(), `${c.method} ${c.url}`).toMatchObject({ status: 401, error: { type: 'security_exception' } })
    }
    const ok = await a.inject({ method: 'GET', url: '/', headers: apiKey('beats', 'acme-secret') })
    expect(ok.statusCode).toBe(200)
    expect(ok.json()).toMatchObject({ tagline: 'You Know, for Search' })
  })

  it('refuses an unknown key with 401 and a query-only key with 403 in each protocol’s form', async () => {
    const { app: a, producer } = app()
    for (const [name, send] of Object.entries(PROTOCOLS)) expect((await send(a, bearer('guessed'))).statusCode, name).toBe(401)
    const res = Object.fromEntries(await Promise.all(Object.entries(PROTOCOLS).map(async ([name, send]) => [name, await send(a, bearer('acme-reader'))] as const)))
    for (const [name, r] of Object.entries(res)) {
      expect(r.statusCode, name).toBe(403)
      expect(r.headers['www-authenticate']).toBeUndefined()
    }
    expect(res.native!.json()).toMatchObject({ error: 'FORBIDDEN', message: expect.stringContaining('lacks the ingest scope') })
    expect(rpcStatus(res['otlp protobuf']!)).toMatchObject({ code: 7, message: expect.stringContaining('ingest scope') })
    expect(res.loki!.body).toMatch(/lacks the ingest scope/)
    expect(res['elasticsearch bulk']!.json()).toMatchObject({ status: 403, error: { type: 'security_exception', reason: expect.stringContaining('acme-read') } })
    expect(producer.sent).toEqual([])
  })

  it('takes the key as Bearer, as Basic auth password (Promtail, Fluent Bit), as X-API-Key and as Elasticsearch ApiKey, storing under the key’s tenant', async () => {
    const { app: a, events } = app()
    expect((await native(a, [{ message: 'bearer' }], bearer('acme-secret'))).statusCode).toBe(200)
    expect((await native(a, [{ message: 'x-api-key' }], { 'x-api-key': 'acme-secret' })).statusCode).toBe(200)
    expect((await loki(a, ['basic'], basic('promtail', 'acme-secret'))).statusCode).toBe(204)
    expect((await bulk(a, ['basic es'], basic('elastic', 'acme-secret'))).statusCode).toBe(200)
    expect((await bulk(a, ['apikey'], apiKey('filebeat', 'acme-secret'))).statusCode).toBe(200)
    expect((await otlp(a, ['otlp bearer'], bearer('acme-secret'))).statusCode).toBe(200)
    expect(events().map((e) => [e.tenant, e.message])).toEqual([
      ['acme', 'bearer'],
      ['acme', 'x-api-key'],
      ['acme', 'basic'],
      ['acme', 'basic es'],
      ['acme', 'apikey'],
      ['acme', 'otlp bearer'],
    ])
    expect(events().every((e) => e.key.startsWith('acme/'))).toBe(true)
  })
})

describe('gateway with SLUICE_AUTH=true: tenants', () => {
  it('refuses with 403 a tenant header naming a tenant the key may not act as, on every protocol', async () => {
    const { app: a, producer, audits } = app()
    for (const [name, send] of Object.entries(PROTOCOLS)) {
      const bySluice = await send(a, { ...bearer('acme-secret'), 'x-sluice-tenant': 'beta' })
      const byLoki = await send(a, { ...bearer('acme-secret'), 'x-scope-orgid': 'beta' })
      expect([bySluice.statusCode, byLoki.statusCode], name).toEqual([403, 403])
      expect(bySluice.body, name).not.toBe('')
    }
    const res = await native(a, [{ message: 'm' }], { ...bearer('acme-secret'), 'x-sluice-tenant': 'beta' })
    expect(res.json()).toMatchObject({ error: 'FORBIDDEN', message: 'API key acme-ship may not act as tenant beta' })
    expect(rpcStatus(await otlp(a, ['m'], { ...bearer('acme-secret'), 'x-scope-orgid': 'beta' }))).toMatchObject({ code: 7, message: expect.stringContaining('tenant beta') })
    expect((await loki(a, ['m'], { ...bearer('acme-secret'), 'x-scope-orgid': 'beta' })).body).toBe('API key acme-ship may not act as tenant beta\n')
    expect((await bulk(a, ['m'], { ...bearer('acme-secret'), 'x-sluice-tenant': 'beta' })).json()).toMatchObject({ status: 403, error: { type: 'security_exception', reason: expect.stringContaining('tenant beta') } })
    expect(producer.sent).toEqual([])
    expect(audits[0]).toMatchObject({ action: 'auth.refused', tenant: 'beta', key_id: 'acme-ship', target: 'POST /v1/logs' })
  })

  it('lets the key name its own tenant, and a key of several choose with X-Scope-OrgID (its first tenant without)', async () => {
    const { app: a, events } = app()
    expect((await native(a, [{ message: 'own' }], { ...bearer('acme-secret'), 'x-sluice-tenant': 'acme' })).statusCode).toBe(200)
    expect((await loki(a, ['chosen'], { ...basic('ops', 'ops-secret'), 'x-scope-orgid': 'beta' })).statusCode).toBe(204)
    expect((await otlp(a, ['chosen otlp'], { ...bearer('ops-secret'), 'x-scope-orgid': 'beta' })).statusCode).toBe(200)
    expect((await bulk(a, ['chosen es'], { ...apiKey('ops', 'ops-secret'), 'x-sluice-tenant': 'beta' })).statusCode).toBe(200)
    expect((await native(a, [{ message: 'first' }], bearer('ops-secret'))).statusCode).toBe(200)
    expect(events().map((e) => [e.tenant, e.message])).toEqual([
      ['acme', 'own'],
      ['beta', 'chosen'],
      ['beta', 'chosen otlp'],
      ['beta', 'chosen es'],
      ['acme', 'first'],
    ])
  })

  it('reads a tenant header sent twice (the Elasticsearch JS client repeats its headers) as one, and refuses two different ones', async () => {
    const { app: a, events } = app()
    const twice = await a.inject({ method: 'POST', url: '/logs/_bulk', payload: bulkBody(['twice']), headers: { ...NDJSON, ...bearer('ops-secret'), 'x-scope-orgid': 'beta, beta' } })
    expect(twice.statusCode).toBe(200)
    expect(events().map((e) => e.tenant)).toEqual(['beta'])
    const two = await native(a, [{ message: 'm' }], { ...bearer('ops-secret'), 'x-scope-orgid': 'beta, acme' })
    expect(two.statusCode).toBe(400)
    expect(two.json()).toMatchObject({ error: 'VALIDATION_FAILED', message: 'header x-scope-orgid: names several tenants (beta, acme); name one' })
    // Two headers naming two tenants: refused, not settled by the headers' order; alike, one tenant.
    const both = await native(a, [{ message: 'm' }], { ...bearer('ops-secret'), 'x-sluice-tenant': 'beta', 'x-scope-orgid': 'acme' })
    expect(both.statusCode).toBe(400)
    expect(both.json()).toMatchObject({ error: 'VALIDATION_FAILED', message: 'the request names two tenants: header x-sluice-tenant beta, header x-scope-orgid acme; name one' })
    expect((await native(a, [{ message: 'm' }], { ...bearer('ops-secret'), 'x-sluice-tenant': 'beta', 'x-scope-orgid': 'beta' })).statusCode).toBe(200)
  })

  it('refuses a record whose tenant field names a tenant the key may not act as, in its place, storing the rest', async () => {
    const { app: a, events, audits } = app()
    const res = await native(a, [{ message: 'mine', tenant: 'acme' }, { message: 'theirs', tenant: 'beta' }, { message: 'plain' }], bearer('acme-secret'))
    expect(res.statusCode).toBe(207)
    expect(res.json()).toEqual({ accepted: 2, rejected: 1, errors: [{ index: 1, field: 'tenant', message: 'API key acme-ship may not act as tenant beta' }] })
    expect(events().map((e) => [e.tenant, e.message])).toEqual([
      ['acme', 'mine'],
      ['acme', 'plain'],
    ])
    expect(audits).toEqual([expect.objectContaining({ action: 'ingest.refused', outcome: 'refused', tenant: 'beta', key_id: 'acme-ship', target: 'http', reason: expect.stringContaining('beta') })])
  })

  it('answers 403 when every record names a tenant the key may not act as, and lets a key of several tenants name either', async () => {
    const { app: a, events } = app()
    const refused = await native(a, [{ message: 'a', tenant: 'beta' }, { message: 'b', tenant: 'other' }], bearer('acme-secret'))
    expect(refused.statusCode).toBe(403)
    expect(refused.json()).toMatchObject({ error: 'FORBIDDEN', accepted: 0, rejected: 2, errors: [{ index: 0, field: 'tenant' }, { index: 1, field: 'tenant', message: expect.stringContaining('tenant other') }] })
    expect(events()).toEqual([])
    const both = await native(a, [{ message: 'a', tenant: 'beta' }, { message: 'b', tenant: 'acme' }], bearer('ops-secret'))
    expect(both.statusCode).toBe(200)
    expect(events().map((e) => e.tenant)).toEqual(['beta', 'acme'])
  })

  it('with authentication off, works as before: no key asked, the header’s or the record’s tenant, else the default', async () => {
    const { app: a, events } = app({ auth: false })
    expect((await native(a, [{ message: 'h' }, { message: 'r', tenant: 'beta' }], { 'x-sluice-tenant': 'shop' })).statusCode).toBe(200)
    expect((await loki(a, ['l'], { 'x-scope-orgid': 'org-1' })).statusCode).toBe(204)
    expect((await otlp(a, ['o'])).statusCode).toBe(200)
    expect((await bulk(a, ['e'], { authorization: 'Bearer whatever' })).statusCode).toBe(200)
    expect(events().map((e) => [e.tenant, e.message])).toEqual([
      ['shop', 'h'],
      ['beta', 'r'],
      ['org-1', 'l'],
      ['default', 'o'],
      ['default', 'e'],
    ])
  })
})

describe('gateway ingest limits', () => {
  // The clock stands still: the buckets hold what the tenants file gives them, no more.
  const LIMITED = { tenants: { acme: { ingest_records_per_second: 2, ingest_burst_seconds: 2 } } }

  it('answers 429 with Retry-After in each protocol’s form once the tenant’s records bucket is empty, storing exactly what was accepted', async () => {
    const { app: a, events, registry } = app({ tenants: LIMITED })
    const key = bearer('acme-secret')
    // The bucket holds 4 records: 3, then 1, then nothing more.
    expect((await native(a, [{ message: 'n1' }, { message: 'n2' }, { message: 'n3' }], key)).statusCode).toBe(200)
    expect((await loki(a, ['l1'], key)).statusCode).toBe(204)

    const n = await native(a, [{ message: 'n4' }, { message: 'n5' }], key)
    expect(n.statusCode).toBe(429)
    expect(n.headers['retry-after']).toBe('1')
    expect(n.json()).toMatchObject({ error: 'RATE_LIMITED', message: expect.stringMatching(/tenant acme is over its ingest limit of 2 records\/s.*not stored/) })

    const o = await otlp(a, ['o1'], key)
    expect(o.statusCode).toBe(429)
    expect(o.headers['retry-after']).toBe('1')
    expect(rpcStatus(o)).toMatchObject({ code: 8, message: expect.stringContaining('ingest limit') })

    const l = await loki(a, ['l2', 'l3', 'l4'], key)
    expect(l.statusCode).toBe(429)
    expect(l.headers['retry-after']).toBe('2')
    expect(l.body).toMatch(/^tenant acme is over its ingest limit/)

    const e = await bulk(a, ['e1'], key)
    expect(e.statusCode).toBe(429)
    expect(e.headers['retry-after']).toBe('1')
    expect(e.json()).toMatchObject({ status: 429, error: { type: 'es_rejected_execution_exception', reason: expect.stringContaining('ingest limit'), sluice_error: 'RATE_LIMITED' } })

    expect(events().map((x) => x.message)).toEqual(['n1', 'n2', 'n3', 'l1'])
    expect(await metric(registry, 'sluice_gateway_rate_limited_total', { tenant: 'acme', reason: 'records' })).toBe(4)
    expect(await metric(registry, 'sluice_gateway_rate_limited_records_total', { tenant: 'acme', reason: 'records' })).toBe(7)
    expect(await metric(registry, 'sluice_gateway_events_dropped_total', { reason: 'rate_limited' })).toBe(7)
  })

  it('limits each tenant on its own: another tenant, and tenants without settings, are not held back', async () => {
    const { app: a, events } = app({ tenants: LIMITED })
    expect((await native(a, [{ message: 'a1' }, { message: 'a2' }, { message: 'a3' }, { message: 'a4' }], bearer('acme-secret'))).statusCode).toBe(200)
    expect((await native(a, [{ message: 'a5' }], bearer('acme-secret'))).statusCode).toBe(429)
    const beta = Array.from({ length: 50 }, (_, i) => ({ message: `b${i}` }))
    expect((await native(a, beta, { ...bearer('ops-secret'), 'x-scope-orgid': 'beta' })).statusCode).toBe(200)
    expect(events().filter((e) => e.tenant === 'beta')).toHaveLength(50)
  })

  it('refuses a request whose records of a second tenant are over that tenant’s limit, whole, taking nothing from the first', async () => {
    const { app: a, events } = app({ tenants: { tenants: { beta: { ingest_records_per_second: 1, ingest_burst_seconds: 1 } }, defaults: { ingest_records_per_second: 3, ingest_burst_seconds: 1 } } })
    const key = bearer('ops-secret')
    expect((await native(a, [{ message: 'b1', tenant: 'beta' }], key)).statusCode).toBe(200)
    const mixed = await native(a, [{ message: 'a1', tenant: 'acme' }, { message: 'b2', tenant: 'beta' }], key)
    expect(mixed.statusCode).toBe(429)
    expect(mixed.json().message).toMatch(/tenant beta/)
    // acme's bucket (3) is whole: three records go.
    expect((await native(a, [{ message: 'a2' }, { message: 'a3' }, { message: 'a4' }], key)).statusCode).toBe(200)
    expect(events().map((e) => e.message)).toEqual(['b1', 'a2', 'a3', 'a4'])
  })

  it('holds a tenant to its bytes per second, counting the records as written to Kafka', async () => {
    const { app: a, events, registry } = app({ tenants: { defaults: { ingest_bytes_per_second: 300, ingest_burst_seconds: 1 } } })
    const key = bearer('acme-secret')
    const first = await native(a, [{ message: 'x'.repeat(100) }], key)
    expect(first.statusCode).toBe(200)
    const second = await native(a, [{ message: 'y'.repeat(200) }], key)
    expect(second.statusCode).toBe(429)
    expect(second.json().message).toMatch(/limit of 300 bytes\/s/)
    expect(events()).toHaveLength(1)
    expect(await metric(registry, 'sluice_gateway_rate_limited_total', { tenant: 'acme', reason: 'bytes' })).toBe(1)
  })

  it('lets a request larger than the whole bucket through when the bucket is full, then refuses until it refilled', async () => {
    const { app: a, events } = app({ tenants: LIMITED })
    const big = Array.from({ length: 10 }, (_, i) => ({ message: `m${i}` }))
    expect((await native(a, big, bearer('acme-secret'))).statusCode).toBe(200)
    const next = await native(a, [{ message: 'late' }], bearer('acme-secret'))
    expect(next.statusCode).toBe(429)
    expect(next.headers['retry-after']).toBe('4')
    expect(events()).toHaveLength(10)
  })

  it('gives the tokens back when Kafka then fails, so the client’s retry is not refused for them', async () => {
    const { app: a, producer, events } = app({ tenants: LIMITED })
    producer.fail = true
    expect((await native(a, [{ message: 'a' }, { message: 'b' }, { message: 'c' }, { message: 'd' }], bearer('acme-secret'))).statusCode).toBe(503)
    producer.fail = false
    expect((await native(a, [{ message: 'a' }, { message: 'b' }, { message: 'c' }, { message: 'd' }], bearer('acme-secret'))).statusCode).toBe(200)
    expect(events()).toHaveLength(4)
  })

  it('does not count records refused as invalid against the limit', async () => {
    const { app: a, events } = app({ tenants: LIMITED })
    const res = await native(a, [{ message: 'ok1' }, { level: 'loud', message: 'bad' }, { message: 'ok2' }], bearer('acme-secret'))
    expect(res.statusCode).toBe(207)
    expect((await native(a, [{ message: 'ok3' }, { message: 'ok4' }], bearer('acme-secret'))).statusCode).toBe(200)
    expect(events().map((e) => e.message)).toEqual(['ok1', 'ok2', 'ok3', 'ok4'])
  })
})
