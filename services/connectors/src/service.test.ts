// The connections API with API keys (SLUICE_AUTH=true), without a broker: a fake producer stands in
// for the compacted topics, routes are driven through app.inject(). Who may see and change which
// tenant's connections, and the audit rows the changes leave; changes racing each other; records
// too large for Kafka left out of a page's produce.
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { createProcessSecurity, hashKey } from '@sluice/auth'
import type { AuditRow } from '@sluice/auth'
import type { LogEvent } from '@sluice/core'
import type { Kafka } from '@sluice/kafka'
import { createLogger, createRegistry } from '@sluice/observability'
import type { Codecs } from '@sluice/service'
import { loadConfig } from './config.js'
import { MAX_RECORD_BYTES, createService, rawMessages } from './service.js'

const AWS = { region: 'eu-west-1', logGroupName: '/ecs/payments-api', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }

/** `writeMs`: how long each write to the (fake) topics takes, so that concurrent requests interleave. */
function setup(writeMs = 0) {
  const rows: AuditRow[] = []
  const logger = createLogger({ level: 'silent' })
  const keys = [
    { id: 'acme-admin', sha256: hashKey('k-acme'), tenants: ['acme'], scopes: ['admin' as const] },
    { id: 'globex-admin', sha256: hashKey('k-globex'), tenants: ['globex'], scopes: ['admin' as const] },
    { id: 'acme-alerts', sha256: hashKey('k-alerts'), tenants: ['acme'], scopes: ['alerts' as const, 'query' as const] },
  ]
  const security = createProcessSecurity(
    { authEnabled: true, keys: { keys }, keysFile: undefined, keysReloadMs: 5000, tenants: undefined },
    { log: logger, retentionDays: 30, auditWriter: async (batch) => void rows.push(...batch) },
  ).forService('connectors')
  const config = loadConfig({ CONNECTORS_ENCRYPTION_KEY: 'b'.repeat(64), CONNECTORS_GROUP_ID: 'g' })
  const service = createService(config, {
    logger,
    registry: createRegistry({ defaultMetrics: false }),
    checks: {},
    clock: Date.now,
    security,
    kafka: undefined as unknown as Kafka,
    producer: { send: async () => void (writeMs > 0 && (await sleep(writeMs))) },
    codecs: {} as Codecs,
    registryUrl: 'http://registry.invalid',
  })
  const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, key: string | undefined, payload?: object, headers: Record<string, string> = {}) =>
    service.app.inject({ method, url, headers: { ...(key && { authorization: `Bearer ${key}` }), ...headers }, ...(payload && { payload }) })
  return { call, audit: async () => (await security.audit.flush(), rows) }
}

describe('concurrent changes to connections', () => {
  const post = (call: ReturnType<typeof setup>['call'], name: string, enabled = false) => call('POST', '/v1/connections', 'k-acme', { name, provider: 'aws-cloudwatch', settings: AWS, enabled })

  it('creates one connection of a name when many ask at once; the others are 409', async () => {
    const { call } = setup(5)
    const answers = await Promise.all(Array.from({ length: 10 }, () => post(call, 'same')))
    expect(answers.map((a) => a.statusCode).sort()).toEqual([201, ...Array<number>(9).fill(409)])
    expect((await call('GET', '/v1/connections', 'k-acme')).json().connections).toHaveLength(1)
  })

  it('does not bring back a connection deleted while a start was under way, nor delete it twice', async () => {
    const { call } = setup(5)
    const id = (await post(call, 'cw')).json().connection.id as string
    const [del, start] = await Promise.all([call('DELETE', `/v1/connections/${id}`, 'k-acme'), call('POST', `/v1/connections/${id}/start`, 'k-acme')])
    expect([del.statusCode, start.statusCode]).toEqual([204, 404])
    expect((await call('GET', `/v1/connections/${id}`, 'k-acme')).statusCode).toBe(404)

    const other = (await post(call, 'cw2')).json().connection.id as string
    const twice = await Promise.all([call('DELETE', `/v1/connections/${other}`, 'k-acme'), call('DELETE', `/v1/connections/${other}`, 'k-acme')])
    expect(twice.map((a) => a.statusCode)).toEqual([204, 404])
  })

  it('keeps both a PUT and a stop that race (the stop does not write over the PUT with what it read before)', async () => {
    const { call } = setup(20)
    const id = (await post(call, 'cw', true)).json().connection.id as string
    const { secretAccessKey: _, ...kept } = AWS
    const put = call('PUT', `/v1/connections/${id}`, 'k-acme', { name: 'cw', provider: 'aws-cloudwatch', settings: { ...kept, filterPattern: 'ERROR' } })
    // The stop comes while the PUT is being written.
    await sleep(5)
    const stop = call('POST', `/v1/connections/${id}/stop`, 'k-acme')
    expect([(await put).statusCode, (await stop).statusCode]).toEqual([200, 200])
    expect((await call('GET', `/v1/connections/${id}`, 'k-acme')).json().connection).toMatchObject({ enabled: false, settings: { filterPattern: 'ERROR' } })
  })
})

describe('records for logs.raw', () => {
  it('leaves out a record larger than a Kafka message may be, keeping the others of its page', () => {
    const event = (id: string, message: string) => ({ id, tenant: 'acme', service: 'payments', message }) as unknown as LogEvent
    const encode = (e: LogEvent) => Buffer.from(JSON.stringify(e))
    const { messages, refused } = rawMessages([event('a', 'small'), event('b', 'B'.repeat(3_000_000)), event('c', 'small')], encode)
    expect(messages.map((m) => JSON.parse(String(m.value)).id)).toEqual(['a', 'c'])
    expect(messages[0]!.key).toBe('acme/payments')
    expect(refused).toEqual([{ id: 'b', bytes: expect.any(Number) as number, limit: MAX_RECORD_BYTES }])
    expect(refused[0]!.bytes).toBeGreaterThan(3_000_000)
  })
})

describe('connections API with API keys', () => {
  it('answers 401 without a key and 403 to a key without the admin scope', async () => {
    const { call } = setup()
    const none = await call('GET', '/v1/connections', undefined)
    expect(none.statusCode).toBe(401)
    expect(none.headers['www-authenticate']).toBeDefined()
    expect((await call('GET', '/v1/connections', 'k-alerts')).statusCode).toBe(403)
    expect((await call('POST', '/v1/connections', 'k-alerts', { name: 'cw', provider: 'aws-cloudwatch', settings: AWS })).statusCode).toBe(403)
  })

  it("keeps a tenant's connections out of another key's reach, and refuses a request naming another tenant", async () => {
    const { call } = setup()
    const created = await call('POST', '/v1/connections', 'k-acme', { name: 'cw', provider: 'aws-cloudwatch', settings: AWS, enabled: false })
    expect(created.statusCode).toBe(201)
    expect(created.json().connection).toMatchObject({ tenant: 'acme', name: 'cw' })
    const id = created.json().connection.id as string

    expect((await call('GET', '/v1/connections', 'k-globex')).json().connections).toEqual([])
    for (const [method, url] of [
      ['GET', `/v1/connections/${id}`],
      ['GET', `/v1/connections/${id}/status`],
      ['POST', `/v1/connections/${id}/start`],
      ['POST', `/v1/connections/${id}/test`],
      ['DELETE', `/v1/connections/${id}`],
    ] as const) {
      expect((await call(method, url, 'k-globex')).statusCode, `${method} ${url}`).toBe(404)
    }
    expect((await call('PUT', `/v1/connections/${id}`, 'k-globex', { name: 'cw', provider: 'aws-cloudwatch', settings: AWS })).statusCode).toBe(404)
    // Naming the other tenant, by header or parameter: 403, not a look at its connections.
    expect((await call('GET', '/v1/connections', 'k-globex', undefined, { 'x-sluice-tenant': 'acme' })).statusCode).toBe(403)
    expect((await call('GET', `/v1/connections/${id}?tenant=acme`, 'k-globex')).statusCode).toBe(403)
    expect((await call('GET', '/v1/connections', 'k-acme', undefined, { 'x-scope-orgid': 'not a tenant!' })).statusCode).toBe(400)
    // Its own key still sees it, stopped as created.
    expect((await call('GET', `/v1/connections/${id}`, 'k-acme')).json().connection).toMatchObject({ id, enabled: false })
  })

  it('audits create, update, start, stop and delete with the key id and tenant, never the credentials', async () => {
    const { call, audit } = setup()
    const id = (await call('POST', '/v1/connections', 'k-acme', { name: 'cw', provider: 'aws-cloudwatch', settings: AWS, enabled: false })).json().connection.id as string
    expect((await call('PUT', `/v1/connections/${id}`, 'k-acme', { name: 'cw2', provider: 'aws-cloudwatch', settings: { ...AWS, secretAccessKey: undefined }, enabled: false })).statusCode).toBe(200)
    expect((await call('POST', `/v1/connections/${id}/start`, 'k-acme')).statusCode).toBe(200)
    expect((await call('POST', `/v1/connections/${id}/stop`, 'k-acme')).statusCode).toBe(200)
    // Already stopped: nothing changes, nothing audited.
    expect((await call('POST', `/v1/connections/${id}/stop`, 'k-acme')).statusCode).toBe(200)
    expect((await call('DELETE', `/v1/connections/${id}`, 'k-acme')).statusCode).toBe(204)
    const rows = (await audit()).filter((r) => r.action.startsWith('connection.'))
    expect(rows.map((r) => [r.action, r.outcome, r.tenant, r.key_id, r.target, r.service])).toEqual([
      ['connection.create', 'ok', 'acme', 'acme-admin', id, 'connectors'],
      ['connection.update', 'ok', 'acme', 'acme-admin', id, 'connectors'],
      ['connection.start', 'ok', 'acme', 'acme-admin', id, 'connectors'],
      ['connection.stop', 'ok', 'acme', 'acme-admin', id, 'connectors'],
      ['connection.delete', 'ok', 'acme', 'acme-admin', id, 'connectors'],
    ])
    expect(JSON.parse(rows[1]!.details)).toEqual({ name: 'cw2', provider: 'aws-cloudwatch' })
    expect(JSON.stringify(rows)).not.toContain(AWS.secretAccessKey)
    expect(JSON.stringify(rows)).not.toContain('k-acme')
  })
})
