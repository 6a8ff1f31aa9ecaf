// The guard as every service has it: createHttpApp with access, ops routes open, API routes keyed.
import { describe, expect, it } from 'vitest'
import { createHttpApp, createLogger, createRegistry } from '@sluice/observability'
import { AuditLog } from './audit.js'
import type { AuditRow } from './audit.js'
import { hashKey } from './keys.js'
import { requestedTenant } from './fastify.js'
import { createProcessSecurity, loadSecurityConfig } from './security.js'

const KEYS = {
  keys: [
    { id: 'acme-q', sha256: hashKey('qa'), tenants: ['acme'], scopes: ['query'] },
    { id: 'acme-i', sha256: hashKey('ia'), tenants: ['acme'], scopes: ['ingest'] },
    { id: 'root', sha256: hashKey('root'), tenants: ['*'], scopes: ['admin'] },
  ],
}

function app(enabled: boolean, rows: AuditRow[] = []) {
  const log = createLogger({ level: 'silent' })
  const config = loadSecurityConfig({ SLUICE_AUTH: enabled, SLUICE_API_KEYS: JSON.stringify(KEYS), SLUICE_API_KEYS_RELOAD_MS: 5000 })
  const security = createProcessSecurity(config, { log, retentionDays: 30, auditWriter: async (r) => void rows.push(...r) }).forService('test')
  const a = createHttpApp({ name: 'test', logger: log, registry: createRegistry({ defaultMetrics: false }), checks: {}, access: { security, scope: 'query' } })
  void a.register(async (api) => {
    api.get('/v1/things', async (req) => ({ tenant: req.access.tenant(requestedTenant(req, ['x-scope-orgid'], (req.query as { tenant?: string }).tenant), 'default'), key: req.access.keyId }))
    api.delete('/v1/things', { config: { scope: 'admin' } }, async () => ({ deleted: true }))
  })
  return { app: a, audit: security.audit }
}

describe('the guard on every app', () => {
  it('keeps health, readiness, metrics and the OpenAPI document open and asks for a key elsewhere', async () => {
    const { app: a } = app(true)
    for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json']) expect((await a.inject({ url })).statusCode, url).toBe(200)
    const res = await a.inject({ url: '/v1/things' })
    expect(res.statusCode).toBe(401)
    expect(res.headers['www-authenticate']).toEqual(['Bearer realm="sluice"', 'Basic realm="sluice", charset="UTF-8"'])
    expect(res.json()).toMatchObject({ error: 'UNAUTHORIZED' })
  })

  it("answers with the key's tenant, refuses another tenant and a scope the key lacks, and audits the refusals", async () => {
    const rows: AuditRow[] = []
    const { app: a, audit } = app(true, rows)
    expect((await a.inject({ url: '/v1/things', headers: { authorization: 'Bearer qa' } })).json()).toEqual({ tenant: 'acme', key: 'acme-q' })
    const other = await a.inject({ url: '/v1/things?tenant=globex', headers: { authorization: 'Bearer qa' } })
    expect(other.statusCode).toBe(403)
    expect(other.json().message).toMatch(/acme-q may not act as tenant globex/)
    expect((await a.inject({ url: '/v1/things', headers: { 'x-api-key': 'ia' } })).statusCode).toBe(403)
    expect((await a.inject({ method: 'DELETE', url: '/v1/things', headers: { 'x-api-key': 'qa' } })).statusCode).toBe(403)
    expect((await a.inject({ method: 'DELETE', url: '/v1/things', headers: { 'x-api-key': 'root' } })).statusCode).toBe(200)
    expect((await a.inject({ url: '/v1/things', headers: { 'x-api-key': 'root', 'x-scope-orgid': 'globex' } })).json()).toEqual({ tenant: 'globex', key: 'root' })
    expect((await a.inject({ url: '/v1/things', headers: { 'x-api-key': 'root', 'x-scope-orgid': 'not valid' } })).statusCode).toBe(400)
    await audit.flush()
    expect(rows.map((r) => [r.action, r.outcome, r.key_id, r.target])).toEqual([
      ['auth.refused', 'refused', 'acme-q', 'GET /v1/things'],
      ['auth.refused', 'refused', '', 'GET /v1/things'],
      ['auth.refused', 'refused', '', 'DELETE /v1/things'],
    ])
    expect(JSON.stringify(rows)).not.toMatch(/"qa"|"ia"/)
  })

  it('with authentication off works as before: no key, the named tenant, else the default', async () => {
    const { app: a } = app(false)
    expect((await a.inject({ url: '/v1/things' })).json()).toEqual({ tenant: 'default', key: 'anonymous' })
    expect((await a.inject({ url: '/v1/things?tenant=globex' })).json()).toEqual({ tenant: 'globex', key: 'anonymous' })
  })
})

describe('the audit log', () => {
  it('retries rows a failed write held, in order, and counts a flood of refusals instead of storing each', async () => {
    const stored: string[] = []
    let fail = true
    const audit = new AuditLog({
      service: 's',
      log: createLogger({ level: 'silent' }),
      maxRefusalsPerSecond: 2,
      clock: () => 1000,
      writer: async (rows) => {
        if (fail) throw new Error('down')
        stored.push(...rows.map((r) => r.target))
      },
    })
    audit.record({ action: 'alert.ack', outcome: 'ok', tenant: 't', keyId: 'k', target: 'a1' })
    await audit.flush()
    fail = false
    audit.record({ action: 'alert.ack', outcome: 'ok', tenant: 't', keyId: 'k', target: 'a2' })
    for (let i = 0; i < 5; i++) audit.record({ action: 'auth.refused', outcome: 'refused', tenant: '', keyId: '', target: `r${i}` })
    await audit.close()
    expect(stored).toEqual(['a1', 'a2', 'r0', 'r1'])
  })
})

describe('the keys file', () => {
  it('is read again when it changes: a new key works, a removed one stops, a broken file keeps the last good keys', async () => {
    const { mkdtempSync, writeFileSync, utimesSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const path = await import('node:path')
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'sluice-keys-')), 'keys.json')
    const write = (keys: object | string, mtimeS: number) => {
      writeFileSync(file, typeof keys === 'string' ? keys : JSON.stringify(keys))
      utimesSync(file, mtimeS, mtimeS)
    }
    write({ keys: [KEYS.keys[0]] }, 1000)
    const security = createProcessSecurity(loadSecurityConfig({ SLUICE_AUTH: true, SLUICE_API_KEYS_FILE: file, SLUICE_API_KEYS_RELOAD_MS: 20 }), { log: createLogger({ level: 'silent' }), retentionDays: 30 })
    const accepts = (key: string) => {
      try {
        return security.auth.authenticate({ 'x-api-key': key }, 'query') !== null
      } catch {
        return false
      }
    }
    expect([accepts('qa'), accepts('root')]).toEqual([true, false])
    write({ keys: [KEYS.keys[2]] }, 2000)
    await expect.poll(() => accepts('root'), { timeout: 2000 }).toBe(true)
    expect(accepts('qa')).toBe(false)
    write('{"keys": [', 3000)
    await new Promise((r) => setTimeout(r, 100))
    expect(accepts('root')).toBe(true)
    await security.close()
  })
})
