// The tenant rule and the per-tenant query limits (tenancy.ts) through app.inject, on a fake
// ClickHouse that records statements and can hold one open (a query "still running"), so the
// concurrency limit is shown without timing.
import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { TenantSettingsTable, createProcessSecurity, hashKey, loadSecurityConfig, openSecurity, securityEnv } from '@sluice/auth'
import type { Security, TenantsFile } from '@sluice/auth'
import { createLogger, createRegistry } from '@sluice/observability'
import type { Registry } from '@sluice/observability'
import { loadConfig } from './config.js'
import { buildApp } from './service.js'
import type { QueryDeps } from './service.js'
import { namedTenant } from './tenancy.js'

const log = createLogger({ level: 'silent' })
const HOUR_MS = 3_600_000

interface Asked {
  query: string
  query_params?: Record<string, unknown>
}

/** A fake ClickHouse: answers no rows; `hold()` makes the next statement wait until released. */
function fakeClickHouse() {
  const asked: Asked[] = []
  let held: { reached: () => void; release: Promise<void> } | undefined
  const clickhouse = {
    query: async (params: Asked) => {
      asked.push(params)
      const h = held
      held = undefined
      if (h) {
        h.reached()
        await h.release
      }
      return { json: async () => ({ data: [] }) }
    },
    command: async () => undefined,
  } as unknown as QueryDeps['clickhouse']
  const hold = () => {
    let reached!: () => void
    let release!: () => void
    const isReached = new Promise<void>((r) => (reached = r))
    held = { reached, release: new Promise<void>((r) => (release = r)) }
    return { reached: isReached, release: () => release() }
  }
  return { clickhouse, asked, hold }
}

function withTenants(file: TenantsFile): Security {
  return { ...openSecurity(log, 'query-api'), tenants: new TenantSettingsTable(file, { retentionDays: 30 }) }
}

function app(security: Security | undefined, registry: Registry = createRegistry({ defaultMetrics: false })) {
  const ch = fakeClickHouse()
  const a = buildApp(loadConfig({ CLICKHOUSE_DATABASE: 'db' }), { logger: log, registry, checks: {}, clickhouse: ch.clickhouse, ...(security && { security }) })
  onTestFinished(() => a.close())
  return { app: a, registry, ...ch }
}

const refused = async (registry: Registry, reason: string) => {
  const m = await registry.getSingleMetric('sluice_query_refused_total')?.get()
  return m?.values.find((v) => v.labels.reason === reason)?.value ?? 0
}

describe('the tenant a request names', () => {
  const req = (headers: Record<string, string>) => ({ headers })

  it('is the header or the parameter, undefined when neither names one', () => {
    expect(namedTenant(req({}))).toBeUndefined()
    expect(namedTenant(req({ 'x-sluice-tenant': 'acme' }))).toBe('acme')
    expect(namedTenant(req({ 'x-scope-orgid': 'acme' }))).toBe('acme')
    expect(namedTenant(req({}), 'acme')).toBe('acme')
    expect(namedTenant(req({ 'x-scope-orgid': 'acme', 'x-sluice-tenant': 'acme' }), 'acme')).toBe('acme')
  })

  it('refuses several tenants in X-Scope-OrgID, invalid names, and two different tenants', () => {
    expect(() => namedTenant(req({ 'x-scope-orgid': 'a|b' }))).toThrow(/several tenants/)
    expect(() => namedTenant(req({ 'x-scope-orgid': 'no spaces' }))).toThrow(/header x-scope-orgid: expected/)
    expect(() => namedTenant(req({}), 'no spaces')).toThrow(/parameter tenant: expected/)
    expect(() => namedTenant(req({ 'x-sluice-tenant': 'acme' }), 'globex')).toThrow('the request names two tenants: header x-sluice-tenant acme, parameter tenant globex')
  })

  it('answers 400 for two different tenants, on /v1 and on the Loki API', async () => {
    const { app: a, asked } = app(undefined)
    const v1 = await a.inject({ url: '/v1/logs?tenant=globex', headers: { 'x-sluice-tenant': 'acme' } })
    expect(v1.statusCode).toBe(400)
    expect(v1.json().message).toMatch(/names two tenants/)
    const loki = await a.inject({ url: '/loki/api/v1/labels', headers: { 'x-scope-orgid': 'acme', 'x-sluice-tenant': 'globex' } })
    expect(loki.statusCode).toBe(400)
    expect(loki.body).toMatch(/names two tenants/)
    expect(asked).toEqual([])
  })
})

describe('query_max_concurrent', () => {
  const security = () => withTenants({ tenants: { acme: { query_max_concurrent: 1 } } })

  it('answers 429 with Retry-After while the tenant has its limit of queries running, other tenants unaffected, and admits again once one ends', async () => {
    const { app: a, hold, registry } = app(security())
    const held = hold()
    const first = a.inject({ url: '/v1/logs', headers: { 'x-sluice-tenant': 'acme' } })
    await held.reached

    const second = await a.inject({ url: '/v1/stats', headers: { 'x-sluice-tenant': 'acme' } })
    expect(second.statusCode).toBe(429)
    expect(second.headers['retry-after']).toBe('1')
    expect(second.json()).toMatchObject({ error: 'RATE_LIMITED', message: expect.stringMatching(/tenant acme .*query_max_concurrent/) })
    // Loki's form: plain text.
    const loki = await a.inject({ url: '/loki/api/v1/query_range?query={service_name="x"}', headers: { 'x-scope-orgid': 'acme' } })
    expect(loki.statusCode).toBe(429)
    expect(loki.headers['content-type']).toMatch(/^text\/plain/)
    expect(loki.headers['retry-after']).toBe('1')
    expect(loki.body).toMatch(/query_max_concurrent/)
    // A marker from outside is not the process's: it takes a slot like any request.
    const spoofed = await a.inject({ url: '/v1/logs', headers: { 'x-sluice-tenant': 'acme', 'x-sluice-inner': 'f'.repeat(48) } })
    expect(spoofed.statusCode).toBe(429)
    expect((await a.inject({ url: '/v1/logs', headers: { 'x-sluice-tenant': 'globex' } })).statusCode).toBe(200)

    held.release()
    expect((await first).statusCode).toBe(200)
    expect((await a.inject({ url: '/v1/stats', headers: { 'x-sluice-tenant': 'acme' } })).statusCode).toBe(200)
    expect(await refused(registry, 'concurrency')).toBe(3)
  })

  it('releases the slot of a refused or failed query', async () => {
    const { app: a } = app(security())
    const zeroStep = `/loki/api/v1/query_range?query=${encodeURIComponent('sum(count_over_time({service_name="x"}[1m]))')}&step=0`
    expect((await a.inject({ url: zeroStep, headers: { 'x-scope-orgid': 'acme' } })).statusCode).toBe(400)
    expect((await a.inject({ url: '/v1/trends?from=2020-01-01T00:00:00Z', headers: { 'x-sluice-tenant': 'acme' } })).statusCode).toBe(400)
    expect((await a.inject({ url: '/v1/logs', headers: { 'x-sluice-tenant': 'acme' } })).statusCode).toBe(200)
  })

  it('lets an AI endpoint read through its inner requests on its own slot', async () => {
    const { app: a } = app(security())
    const res = await a.inject({ url: '/v1/ai/insights?narrative=false', headers: { 'x-sluice-tenant': 'acme' } })
    expect(res.statusCode).toBe(200)
    expect(res.json().queries.map((q: { status: number }) => q.status)).toEqual([200, 200, 200, 200, 200])
  })
})

describe('query_max_range_hours', () => {
  const security = () => withTenants({ tenants: { acme: { query_max_range_hours: 2 } } })
  const ACME = { 'x-sluice-tenant': 'acme' }
  const ago = (ms: number) => new Date(Date.now() - ms).toISOString()

  it('refuses a /v1 range longer than the tenant limit with a 400 naming it, and cuts an open range to it', async () => {
    const { app: a, asked, registry } = app(security())
    const long = await a.inject({ url: `/v1/logs?from=${ago(3 * HOUR_MS)}`, headers: ACME })
    expect(long.statusCode).toBe(400)
    expect(long.json().message).toMatch(/exceeds the limit of 2 h of tenant acme \(query_max_range_hours\)/)
    for (const url of [`/v1/stats?from=${ago(3 * HOUR_MS)}`, `/v1/logs/export?from=${ago(3 * HOUR_MS)}`, `/v1/trends?from=${ago(3 * HOUR_MS)}`, '/v1/services?window=3h']) {
      const r = await a.inject({ url, headers: ACME })
      expect(r.statusCode, url).toBe(400)
      expect(r.json().message, url).toMatch(/query_max_range_hours/)
    }
    expect(asked).toEqual([])
    // Another tenant has no limit.
    expect((await a.inject({ url: `/v1/logs?from=${ago(3 * HOUR_MS)}`, headers: { 'x-sluice-tenant': 'globex' } })).statusCode).toBe(200)

    const before = Date.now()
    expect((await a.inject({ url: '/v1/logs', headers: ACME })).statusCode).toBe(200)
    const from = Object.values(asked.at(-1)!.query_params ?? {}).find((v) => typeof v === 'string' && /^\d{19}$/.test(v)) as string
    expect(Number(BigInt(from) / 1_000_000n)).toBeGreaterThanOrEqual(before - 2 * HOUR_MS - 1000)
    expect(await refused(registry, 'range')).toBe(5)
  })

  it('cuts the analysts\' default windows to the limit instead of refusing them', async () => {
    const { app: a } = app(security())
    const res = await a.inject({ url: '/v1/sessions/s-1', headers: ACME })
    expect(res.statusCode).toBe(404)
    const [from, to] = [...(res.json().message as string).matchAll(/\d{4}-\d\d-\d\dT[\d:.]+Z/g)].map((m) => Date.parse(m[0]))
    expect(to! - from!).toBe(2 * HOUR_MS)
  })

  it('refuses Loki range and instant queries longer than the limit in Loki\'s form, and cuts the default range', async () => {
    const { app: a } = app(security())
    const headers = { 'x-scope-orgid': 'acme' }
    const start = (BigInt(Date.now() - 3 * HOUR_MS) * 1_000_000n).toString()
    const range = await a.inject({ url: `/loki/api/v1/query_range?query={service_name="x"}&start=${start}`, headers })
    expect(range.statusCode).toBe(400)
    expect(range.headers['content-type']).toMatch(/^text\/plain/)
    expect(range.body).toMatch(/limit of 2 h of tenant acme \(query_max_range_hours\)/)
    const instant = await a.inject({ url: `/loki/api/v1/query?query=${encodeURIComponent('count_over_time({service_name="x"}[3h])')}`, headers })
    expect(instant.statusCode).toBe(400)
    expect(instant.body).toMatch(/query_max_range_hours/)
    expect((await a.inject({ url: `/loki/api/v1/query?query=${encodeURIComponent('count_over_time({service_name="x"}[1h])')}`, headers })).statusCode).toBe(200)
    // Labels default to six hours: cut to two.
    expect((await a.inject({ url: '/loki/api/v1/labels', headers })).statusCode).toBe(200)
    const limits = await a.inject({ url: '/loki/api/v1/drilldown-limits', headers })
    expect(limits.json().limits.max_query_length).toBe('2h')
  })
})

describe('with SLUICE_AUTH=true', () => {
  function secured() {
    const keys = { keys: [{ id: 'acme-reader', sha256: hashKey('acme-key'), tenants: ['acme'], scopes: ['query' as const] }] }
    const env = securityEnv.parse({ SLUICE_AUTH: 'true', SLUICE_API_KEYS: JSON.stringify(keys) })
    const process = createProcessSecurity(loadSecurityConfig(env), { log, retentionDays: 30 })
    onTestFinished(() => process.close())
    return process.forService('query-api')
  }

  it("answers the Loki API's 401 and 403 in its plain-text form, with WWW-Authenticate", async () => {
    const { app: a } = app(secured())
    const none = await a.inject({ url: '/loki/api/v1/labels' })
    expect(none.statusCode).toBe(401)
    expect(none.headers['content-type']).toMatch(/^text\/plain/)
    expect(none.headers['www-authenticate']).toBeDefined()
    const other = await a.inject({ url: '/loki/api/v1/labels', headers: { authorization: 'Bearer acme-key', 'x-scope-orgid': 'globex' } })
    expect(other.statusCode).toBe(403)
    expect(other.body).toMatch(/may not act as tenant globex/)
    expect((await a.inject({ url: '/loki/api/v1/labels', headers: { authorization: 'Bearer acme-key' } })).statusCode).toBe(200)
  })

  it('reads the key\'s tenant where the request names none, with Basic auth as Grafana sends it', async () => {
    const { app: a, asked } = app(secured())
    const basic = `Basic ${Buffer.from('grafana:acme-key').toString('base64')}`
    expect((await a.inject({ url: '/v1/logs', headers: { authorization: basic } })).statusCode).toBe(200)
    expect(Object.values(asked.at(-1)!.query_params ?? {})).toContain('acme')
    expect((await a.inject({ url: '/loki/api/v1/labels', headers: { authorization: basic } })).statusCode).toBe(200)
    expect(Object.values(asked.at(-1)!.query_params ?? {})).toContain('acme')
  })

  it('ends the socket of a live tail refused before the upgrade, so neither side waits on it', async () => {
    const { app: a } = app(secured())
    await a.listen({ host: '127.0.0.1', port: 0 })
    const ws = new WebSocket(`ws://127.0.0.1:${(a.server.address() as AddressInfo).port}/loki/api/v1/tail?query=${encodeURIComponent('{service_name="x"}')}`)
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage]
    expect(res.statusCode).toBe(401)
    res.resume()
    await once(res.socket, 'close')
    await a.close()
  })
})
