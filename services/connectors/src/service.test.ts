// The connections API with API keys (SLUICE_AUTH=true), without a broker: a fake producer stands in
// for the compacted topics, routes are driven through app.inject(). Who may see and change which
// tenant's connections, and the audit rows the changes leave.
import { describe, expect, it } from 'vitest'
import { createProcessSecurity, hashKey } from '@sluice/auth'
import type { AuditRow } from '@sluice/auth'
import type { Kafka } from '@sluice/kafka'
import { createLogger, createRegistry } from '@sluice/observability'
import type { Codecs } from '@sluice/service'
import { loadConfig } from './config.js'
import { createService } from './service.js'

const AWS = { region: 'eu-west-1', logGroupName: '/ecs/payments-api', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }

function setup() {
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
    producer: { send: async () => undefined },
    codecs: {} as Codecs,
    registryUrl: 'http://registry.invalid',
  })
  const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, key: string | undefined, payload?: object, headers: Record<string, string> = {}) =>
    service.app.inject({ method, url, headers: { ...(key && { authorization: `Bearer ${key}` }), ...headers }, ...(payload && { payload }) })
  return { call, audit: async () => (await security.audit.flush(), rows) }
}

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
