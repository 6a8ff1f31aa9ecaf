// Tenant isolation of every read path with SLUICE_AUTH=true, against the query API on embedded
// ClickHouse holding two tenants: acme (every text of it says "aardvark") and globex (every text
// says "zebra"), with the same service, session, trace and error-code names in both, and ids only
// globex has. A key of acme must get acme's rows only and be refused globex (403), whatever the
// request names: tenant headers, ?tenant=, LogQL label matchers, pattern, session, trace or alert
// ids. The routes are read from the app's OpenAPI document, so a new route without a check here
// fails the suite.
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { createProcessSecurity, hashKey, loadSecurityConfig, securityEnv } from '@sluice/auth'
import type { ProcessSecurity, Scope } from '@sluice/auth'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from './config.js'
import { patternIdOf, storedAlert, storedRow } from './loki-fixture.js'
import type { LogRow, RowSpec } from './loki-fixture.js'
import { buildApp } from './service.js'
import { openTestStore } from './test-store.js'
import type { TestStore } from './test-store.js'

const DATABASE = 'tenancy'
const MS = 1_000_000n
const MIN = 60_000n * MS
const NOW = BigInt(Date.now()) * MS

// ---- the keys -------------------------------------------------------------------------------------

const KEYS = {
  acme: { key: 'acme-reader-key', tenants: ['acme'], scopes: ['query'] },
  globex: { key: 'globex-reader-key', tenants: ['globex'], scopes: ['query'] },
  ops: { key: 'ops-reader-key', tenants: ['*'], scopes: ['query'] },
  multi: { key: 'multi-reader-key', tenants: ['acme', 'initech'], scopes: ['query'] },
  ingest: { key: 'acme-ingest-key', tenants: ['acme'], scopes: ['ingest'] },
} satisfies Record<string, { key: string; tenants: string[]; scopes: Scope[] }>
type KeyName = keyof typeof KEYS
const bearer = (k: KeyName) => ({ authorization: `Bearer ${KEYS[k].key}` })

// ---- the fixture ----------------------------------------------------------------------------------

let seq = 0
function row(s: Omit<RowSpec, 'id' | 'atNs'> & { ago: bigint; trace?: string }, extra: Record<string, unknown> = {}): LogRow {
  const n = seq++
  const { ago, trace, ...spec } = s
  return { ...storedRow({ ...spec, id: `0190b000-0000-7000-8000-${n.toString(16).padStart(12, '0')}`, atNs: NOW - ago }), TraceId: trace ?? '', ...extra }
}

const A_PAID = 'aardvark order <*> paid'
const A_DECLINED = 'aardvark card declined <*>'
const acmeRows = [
  ...Array.from({ length: 10 }, (_, i) =>
    row({ tenant: 'acme', service: 'checkout', ago: BigInt(i + 1) * MIN, body: `aardvark order ${i} paid`, template: A_PAID, user: 'u-shared', session: 's-shared', attributes: { city: 'Paris' }, resource: { 'service.name': 'checkout', 'aardvark.zone': 'a1' } }),
  ),
  ...Array.from({ length: 3 }, (_, i) =>
    row({ tenant: 'acme', service: 'checkout', ago: BigInt(i + 1) * MIN + 30_000n * MS, severity: 'ERROR', body: `aardvark card declined ${i}`, template: A_DECLINED, user: 'u-shared', session: 's-shared', errorCode: 'E_SHARED', trace: 't-shared', attributes: { city: 'Paris' }, resource: { 'service.name': 'checkout', 'aardvark.zone': 'a1' } }),
  ),
]
const A_DECLINED_ID = patternIdOf('acme', 'checkout', A_DECLINED)
const A_PATTERNS = new Set([patternIdOf('acme', 'checkout', A_PAID), A_DECLINED_ID])

const Z_PAID = 'zebra order <*> paid'
const Z_INVOICE = 'zebra invoice <*>'
const globexRows = [
  // The same service, session, trace and error code as acme's; one record claims acme's pattern as an alias of its own.
  ...Array.from({ length: 5 }, (_, i) =>
    row(
      { tenant: 'globex', service: 'checkout', ago: BigInt(i + 1) * MIN + 10_000n * MS, severity: 'ERROR', body: `zebra order ${i} paid`, template: Z_PAID, user: 'zebra-user', session: 's-shared', errorCode: 'E_SHARED', trace: 't-shared', attributes: { city: 'zebra-city' }, resource: { 'service.name': 'checkout', 'zebra.zone': 'z1' } },
      i === 0 ? { PatternAliases: [A_DECLINED_ID] } : {},
    ),
  ),
  // What only globex has: a service, a session, a trace, an error code; attributes naming tenants.
  ...Array.from({ length: 5 }, (_, i) =>
    row({ tenant: 'globex', service: 'zebra-billing', ago: BigInt(i + 1) * MIN + 20_000n * MS, severity: 'ERROR', body: `zebra invoice ${i}`, template: Z_INVOICE, user: 'zebra-user', session: 'sess-b-only', errorCode: 'E_B_ONLY', trace: 'trace-b-only', attributes: { tenant: 'globex', city: 'zebra-city' }, resource: { 'service.name': 'zebra-billing', 'zebra.zone': 'z1' } }),
  ),
]
const B_PATTERN = patternIdOf('globex', 'zebra-billing', Z_INVOICE)

const ALERTS = [
  { Id: 'alert-a-only', Tenant: 'acme', Summary: 'aardvark alert' },
  { Id: 'alert-shared', Tenant: 'acme', Summary: 'aardvark shared alert' },
  { Id: 'alert-b-only', Tenant: 'globex', Summary: 'zebra alert' },
  { Id: 'alert-shared', Tenant: 'globex', Summary: 'zebra shared alert' },
].map((a) => storedAlert(NOW, a))

// ---- the running service --------------------------------------------------------------------------

let store: TestStore
let ch: ClickHouseHandle
let security: ProcessSecurity
let app: FastifyInstance
let wsUrl: string

beforeAll(async () => {
  store = await openTestStore('tenancy', DATABASE)
  ch = store.ch
  await ch.client.insert({ table: `${DATABASE}.logs`, values: [...acmeRows, ...globexRows], format: 'JSONEachRow' })
  await ch.client.insert({ table: `${DATABASE}.alerts`, values: ALERTS, format: 'JSONEachRow' })
  const keys = { keys: Object.entries(KEYS).map(([id, k]) => ({ id, sha256: hashKey(k.key), tenants: k.tenants, scopes: k.scopes })) }
  const log = createLogger({ level: 'silent' })
  security = createProcessSecurity(loadSecurityConfig(securityEnv.parse({ SLUICE_AUTH: 'true', SLUICE_API_KEYS: JSON.stringify(keys) })), { log, retentionDays: 30 })
  app = buildApp(loadConfig({ CLICKHOUSE_DATABASE: DATABASE }), {
    logger: log,
    registry: createRegistry({ defaultMetrics: false }),
    checks: {},
    clickhouse: ch.client,
    security: security.forService('query-api'),
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  wsUrl = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await app?.close()
  await security?.close()
  await store?.close()
})

// ---- helpers ----------------------------------------------------------------------------------------

type Req = Pick<InjectOptions, 'method' | 'url' | 'payload' | 'headers'>

async function call(key: KeyName | undefined, req: Req, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return app.inject({ ...req, headers: { ...(req.headers as Record<string, string> | undefined), ...(key ? bearer(key) : {}), ...headers } } as InjectOptions)
}

/** acme's answer: the status expected, nothing of globex in it. */
async function asAcme(req: Req, status = 200): Promise<LightMyRequestResponse> {
  const res = await call('acme', req)
  expect(res.statusCode, `${req.method ?? 'GET'} ${req.url}: ${res.body.slice(0, 300)}`).toBe(status)
  expect(res.body, `${req.url} answers globex's data`).not.toMatch(/zebra/i)
  return res
}

const q = (params: Record<string, string | number>) => new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString()
const LOKI = '/loki/api/v1'
const ANY = '{service_name=~".+"}'
const SINCE = { start: (NOW - 2n * 60n * MIN).toString(), end: (NOW + MIN).toString() }
const form = (params: Record<string, string>) => ({ payload: q(params), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
const lokiLines = (res: LightMyRequestResponse): string[] => (res.json().data.result as Array<{ values: [string, string][] }>).flatMap((s) => s.values.map((v) => v[1]))

interface RouteCheck {
  /** A valid request of the route, for the generic checks (403 naming globex). */
  sample: Req
  /** Whether the route reads `?tenant=` (the /v1 routes). */
  tenantParam: boolean
  /** acme's key gets acme's data only. */
  isolated(): Promise<void>
}

const v1 = (sample: Req, isolated: () => Promise<void>): RouteCheck => ({ sample, tenantParam: true, isolated })
const loki = (sample: Req, isolated: () => Promise<void>): RouteCheck => ({ sample, tenantParam: false, isolated })

/** Every documented route a query key may call, by `METHOD /path` as in the OpenAPI document. */
const ROUTES: Record<string, RouteCheck> = {
  'GET /v1/logs': v1({ url: '/v1/logs' }, async () => {
    const all = (await asAcme({ url: '/v1/logs?limit=1000' })).json().logs as Array<{ tenant: string }>
    expect(all).toHaveLength(acmeRows.length)
    expect(new Set(all.map((l) => l.tenant))).toEqual(new Set(['acme']))
    expect((await asAcme({ url: '/v1/logs?trace_id=t-shared' })).json().logs).toHaveLength(3)
    expect((await asAcme({ url: '/v1/logs?session_id=sess-b-only' })).json().logs).toEqual([])
    expect((await asAcme({ url: `/v1/logs?pattern_id=${B_PATTERN}` })).json().logs).toEqual([])
    // globex's alias of acme's pattern does not bring its records in.
    expect((await asAcme({ url: `/v1/logs?pattern_id=${A_DECLINED_ID}` })).json().logs).toHaveLength(3)
    expect((await asAcme({ url: '/v1/logs?attr.tenant=globex' })).json().logs).toEqual([])
  }),
  'GET /v1/logs/export': v1({ url: '/v1/logs/export' }, async () => {
    const lines = (await asAcme({ url: '/v1/logs/export' })).body.trim().split('\n').map((l) => JSON.parse(l) as { tenant: string })
    expect(lines).toHaveLength(acmeRows.length)
    expect(lines.every((l) => l.tenant === 'acme')).toBe(true)
    const csv = (await asAcme({ url: '/v1/logs/export?format=csv&trace_id=t-shared' })).body.trim().split('\r\n')
    expect(csv).toHaveLength(1 + 3)
  }),
  'GET /v1/stats': v1({ url: '/v1/stats' }, async () => {
    expect((await asAcme({ url: '/v1/stats' })).json()).toMatchObject({ total: acmeRows.length, byService: { checkout: { total: acmeRows.length } } })
  }),
  'GET /v1/alerts': v1({ url: '/v1/alerts' }, async () => {
    const alerts = (await asAcme({ url: '/v1/alerts' })).json().alerts as Array<{ id: string; tenant: string }>
    expect(alerts.map((a) => a.id).sort()).toEqual(['alert-a-only', 'alert-shared'])
    expect(alerts.every((a) => a.tenant === 'acme')).toBe(true)
  }),
  'GET /v1/alerts/{id}': v1({ url: '/v1/alerts/alert-shared' }, async () => {
    expect((await asAcme({ url: '/v1/alerts/alert-shared' })).json().alert).toMatchObject({ tenant: 'acme', summary: 'aardvark shared alert' })
    expect((await asAcme({ url: '/v1/alerts/alert-b-only' }, 404)).json().error).toBe('NOT_FOUND')
  }),
  'GET /v1/services': v1({ url: '/v1/services' }, async () => {
    expect(((await asAcme({ url: '/v1/services' })).json().services as Array<{ service: string }>).map((s) => s.service)).toEqual(['checkout'])
  }),
  'PUT /v1/services/{name}': v1({ method: 'PUT', url: '/v1/services/registered-by-acme', payload: { owner: 'aardvark team' } }, async () => {
    const put = await asAcme({ method: 'PUT', url: '/v1/services/registered-by-acme', payload: { owner: 'aardvark team' } })
    expect(put.json().service).toMatchObject({ tenant: 'acme', owner: 'aardvark team' })
    const globex = (await call('globex', { url: '/v1/services' })).json().services as Array<{ service: string }>
    expect(globex.map((s) => s.service)).not.toContain('registered-by-acme')
  }),
  'DELETE /v1/services/{name}': v1({ method: 'DELETE', url: '/v1/services/registered-by-acme' }, async () => {
    await asAcme({ method: 'DELETE', url: '/v1/services/registered-by-acme' }, 204)
  }),
  'GET /v1/trends': v1({ url: '/v1/trends' }, async () => {
    const services = (await asAcme({ url: '/v1/trends' })).json().services as Array<{ service: string; total: number }>
    expect(services.map((s) => [s.service, s.total])).toEqual([['checkout', acmeRows.length]])
  }),
  'GET /v1/patterns': v1({ url: '/v1/patterns' }, async () => {
    const patterns = (await asAcme({ url: '/v1/patterns' })).json().patterns as Array<{ pattern_id: string }>
    expect(patterns.length).toBe(2)
    expect(patterns.every((p) => A_PATTERNS.has(p.pattern_id))).toBe(true)
  }),
  'GET /v1/sessions/{session_id}': v1({ url: '/v1/sessions/s-shared' }, async () => {
    const s = (await asAcme({ url: '/v1/sessions/s-shared' })).json()
    expect(s.event_count).toBe(acmeRows.length)
    expect(s.user_ids).toEqual(['u-shared'])
    await asAcme({ url: '/v1/sessions/sess-b-only' }, 404)
  }),
  'GET /v1/blast-radius': v1({ url: '/v1/blast-radius?error_code=E_SHARED' }, async () => {
    expect((await asAcme({ url: '/v1/blast-radius?error_code=E_SHARED' })).json()).toMatchObject({ occurrences: 3, affected_users: 1 })
    expect((await asAcme({ url: '/v1/blast-radius?error_code=E_B_ONLY' })).json().occurrences).toBe(0)
    expect((await asAcme({ url: `/v1/blast-radius?pattern_id=${B_PATTERN}` })).json().occurrences).toBe(0)
  }),
  'GET /v1/fields': v1({ url: '/v1/fields' }, async () => {
    const f = (await asAcme({ url: '/v1/fields' })).json()
    expect(f.sampled_records).toBe(acmeRows.length)
    expect((f.fields as Array<{ name: string }>).map((x) => x.name)).toContain('resource.aardvark.zone')
  }),
  'POST /v1/ai/search': v1({ method: 'POST', url: '/v1/ai/search', payload: { question: 'why are card payments declined?' } }, async () => {
    const res = (await asAcme({ method: 'POST', url: '/v1/ai/search', payload: { question: 'why are card payments declined?' } })).json()
    // The inner requests ran as the caller (its key forwarded), for acme.
    expect((res.queries as Array<{ status: number }>).every((x) => x.status === 200)).toBe(true)
    expect(res.topPatterns.map((p: { pattern_id: string }) => p.pattern_id)).toEqual([A_DECLINED_ID])
  }),
  'GET /v1/ai/explain': v1({ url: '/v1/ai/explain?session_id=s-shared' }, async () => {
    const res = (await asAcme({ url: '/v1/ai/explain?session_id=s-shared' })).json()
    expect(res.impact.session.events).toBe(acmeRows.length)
    expect(res.timeline.every((t: { message: string }) => t.message.startsWith('aardvark'))).toBe(true)
    await asAcme({ url: '/v1/ai/explain?session_id=sess-b-only' }, 404)
  }),
  'GET /v1/ai/insights': v1({ url: '/v1/ai/insights?narrative=false' }, async () => {
    const res = (await asAcme({ url: '/v1/ai/insights?narrative=false' })).json()
    expect(res.tenant).toBe('acme')
    expect((res.queries as Array<{ status: number }>).every((x) => x.status === 200)).toBe(true)
  }),
  'GET /loki/api/v1/query_range': loki({ url: `${LOKI}/query_range?${q({ query: ANY, ...SINCE })}` }, async () => {
    const lines = lokiLines(await asAcme({ url: `${LOKI}/query_range?${q({ query: ANY, limit: 1000, ...SINCE })}` }))
    expect(lines).toHaveLength(acmeRows.length)
    expect(lines.every((l) => l.startsWith('aardvark'))).toBe(true)
    // A label named tenant is an attribute like any other: it narrows, never widens.
    for (const query of [`{service_name=~".+", tenant="globex"}`, `{service_name=~".+", tenant=~".+"}`, `${ANY} | tenant="globex"`, `{tenant="globex"}`, `{session_id="sess-b-only"}`, `{trace_id="trace-b-only"}`]) {
      expect(lokiLines(await asAcme({ url: `${LOKI}/query_range?${q({ query, limit: 1000, ...SINCE })}` })), query).toEqual([])
    }
    const metric = await asAcme({ url: `${LOKI}/query_range?${q({ query: `sum(count_over_time(${ANY}[3h]))`, step: 60, ...SINCE })}` })
    expect(Math.max(...(metric.json().data.result[0].values as [number, string][]).map((v) => Number(v[1])))).toBe(acmeRows.length)
  }),
  'POST /loki/api/v1/query_range': loki({ method: 'POST', url: `${LOKI}/query_range`, ...form({ query: ANY, ...SINCE }) }, async () => {
    expect(lokiLines(await asAcme({ method: 'POST', url: `${LOKI}/query_range`, ...form({ query: `{service_name=~".+", tenant="globex"}`, ...SINCE }) }))).toEqual([])
    expect(lokiLines(await asAcme({ method: 'POST', url: `${LOKI}/query_range`, ...form({ query: ANY, limit: '1000', ...SINCE }) }))).toHaveLength(acmeRows.length)
  }),
  'GET /loki/api/v1/query': loki({ url: `${LOKI}/query?${q({ query: `sum(count_over_time(${ANY}[3h]))` })}` }, async () => {
    const res = await asAcme({ url: `${LOKI}/query?${q({ query: `sum(count_over_time(${ANY}[3h]))` })}` })
    expect(Number(res.json().data.result[0].value[1])).toBe(acmeRows.length)
    const byTenant = await asAcme({ url: `${LOKI}/query?${q({ query: `sum by (tenant) (count_over_time({tenant=~".+"}[3h]))` })}` })
    expect(byTenant.json().data.result).toEqual([])
  }),
  'POST /loki/api/v1/query': loki({ method: 'POST', url: `${LOKI}/query`, ...form({ query: `sum(count_over_time(${ANY}[3h]))` }) }, async () => {
    const res = await asAcme({ method: 'POST', url: `${LOKI}/query`, ...form({ query: `sum(count_over_time(${ANY}[3h]))` }) })
    expect(Number(res.json().data.result[0].value[1])).toBe(acmeRows.length)
  }),
  'GET /loki/api/v1/labels': loki({ url: `${LOKI}/labels` }, async () => {
    expect((await asAcme({ url: `${LOKI}/labels` })).json().data).toContain('aardvark_zone')
    expect((await asAcme({ url: `${LOKI}/labels?${q({ query: ANY, ...SINCE })}` })).json().data).toContain('aardvark_zone')
  }),
  'POST /loki/api/v1/labels': loki({ method: 'POST', url: `${LOKI}/labels`, ...form(SINCE) }, async () => {
    expect((await asAcme({ method: 'POST', url: `${LOKI}/labels`, ...form(SINCE) })).json().data).toContain('aardvark_zone')
  }),
  'GET /loki/api/v1/label/{name}/values': loki({ url: `${LOKI}/label/service_name/values` }, async () => {
    expect((await asAcme({ url: `${LOKI}/label/service_name/values` })).json().data).toEqual(['checkout'])
    expect((await asAcme({ url: `${LOKI}/label/session_id/values?${q(SINCE)}` })).json().data).toEqual(['s-shared'])
  }),
  'GET /loki/api/v1/series': loki({ url: `${LOKI}/series?${q({ 'match[]': ANY })}` }, async () => {
    const series = (await asAcme({ url: `${LOKI}/series?${q({ 'match[]': ANY, ...SINCE })}` })).json().data as Array<Record<string, string>>
    expect(series.map((s) => s.service_name)).toEqual(['checkout', 'checkout'])
  }),
  'POST /loki/api/v1/series': loki({ method: 'POST', url: `${LOKI}/series`, ...form({ 'match[]': ANY }) }, async () => {
    expect((await asAcme({ method: 'POST', url: `${LOKI}/series`, ...form({ 'match[]': ANY, ...SINCE }) })).json().data).toHaveLength(2)
  }),
  'GET /loki/api/v1/index/stats': loki({ url: `${LOKI}/index/stats?${q({ query: ANY })}` }, async () => {
    expect((await asAcme({ url: `${LOKI}/index/stats?${q({ query: ANY, ...SINCE })}` })).json().entries).toBe(acmeRows.length)
    expect((await asAcme({ url: `${LOKI}/index/stats?${q({ query: '{service_name=~".+", tenant="globex"}', ...SINCE })}` })).json().entries).toBe(0)
  }),
  'GET /loki/api/v1/index/volume': loki({ url: `${LOKI}/index/volume?${q({ query: ANY })}` }, async () => {
    const v = (await asAcme({ url: `${LOKI}/index/volume?${q({ query: ANY, ...SINCE })}` })).json().data.result as Array<{ metric: Record<string, string> }>
    expect(v.map((s) => s.metric.service_name)).toEqual(['checkout'])
  }),
  'GET /loki/api/v1/index/volume_range': loki({ url: `${LOKI}/index/volume_range?${q({ query: ANY })}` }, async () => {
    const v = (await asAcme({ url: `${LOKI}/index/volume_range?${q({ query: ANY, step: 60, ...SINCE })}` })).json().data.result as Array<{ metric: Record<string, string> }>
    expect(v.map((s) => s.metric.service_name)).toEqual(['checkout'])
  }),
  'GET /loki/api/v1/patterns': loki({ url: `${LOKI}/patterns?${q({ query: ANY })}` }, async () => {
    const patterns = (await asAcme({ url: `${LOKI}/patterns?${q({ query: ANY, ...SINCE })}` })).json().data as Array<{ pattern: string }>
    expect(patterns.map((p) => p.pattern).sort()).toEqual(['aardvark card declined <_>', 'aardvark order <_> paid'])
  }),
  'GET /loki/api/v1/detected_labels': loki({ url: `${LOKI}/detected_labels` }, async () => {
    const labels = (await asAcme({ url: `${LOKI}/detected_labels?${q(SINCE)}` })).json().detectedLabels as Array<{ label: string }>
    expect(labels.map((l) => l.label)).toContain('aardvark_zone')
    await asAcme({ url: `${LOKI}/detected_labels?${q({ query: ANY, ...SINCE })}` })
  }),
  'GET /loki/api/v1/detected_fields': loki({ url: `${LOKI}/detected_fields?${q({ query: ANY })}` }, async () => {
    const fields = (await asAcme({ url: `${LOKI}/detected_fields?${q({ query: ANY, ...SINCE })}` })).json().fields as Array<{ label: string; cardinality: number }>
    expect(fields.find((f) => f.label === 'session_id')?.cardinality).toBe(1)
  }),
  'GET /loki/api/v1/detected_field/{name}/values': loki({ url: `${LOKI}/detected_field/city/values?${q({ query: ANY })}` }, async () => {
    expect((await asAcme({ url: `${LOKI}/detected_field/city/values?${q({ query: ANY, ...SINCE })}` })).json().values).toEqual(['Paris'])
  }),
  'GET /loki/api/v1/tail': loki({ url: `${LOKI}/tail?${q({ query: ANY })}` }, async () => {
    expect(await tailFrame('acme', { query: ANY, start: SINCE.start, limit: '1000' })).toEqual(acmeRows.map((r) => r.Body).sort())
    // Refused before the upgrade, as an HTTP answer.
    await expect(tailFrame('acme', { query: ANY }, { 'x-scope-orgid': 'globex' })).rejects.toThrow(/403/)
    await expect(tailFrame(undefined, { query: ANY })).rejects.toThrow(/401/)
  }),
  'GET /loki/api/v1/format_query': loki({ url: `${LOKI}/format_query?${q({ query: ANY })}` }, async () => {
    await asAcme({ url: `${LOKI}/format_query?${q({ query: ANY })}` })
  }),
  // The same reads POSTed as forms (Loki answers both methods).
  'POST /loki/api/v1/label/{name}/values': loki({ method: 'POST', url: `${LOKI}/label/service_name/values`, ...form(SINCE) }, async () => {
    expect((await asAcme({ method: 'POST', url: `${LOKI}/label/service_name/values`, ...form(SINCE) })).json().data).toEqual(['checkout'])
  }),
  'POST /loki/api/v1/index/stats': loki({ method: 'POST', url: `${LOKI}/index/stats`, ...form({ query: ANY }) }, async () => {
    expect((await asAcme({ method: 'POST', url: `${LOKI}/index/stats`, ...form({ query: ANY, ...SINCE }) })).json().entries).toBe(acmeRows.length)
  }),
  'POST /loki/api/v1/index/volume': loki({ method: 'POST', url: `${LOKI}/index/volume`, ...form({ query: ANY }) }, async () => {
    const v = (await asAcme({ method: 'POST', url: `${LOKI}/index/volume`, ...form({ query: ANY, ...SINCE }) })).json().data.result as Array<{ metric: Record<string, string> }>
    expect(v.map((s) => s.metric.service_name)).toEqual(['checkout'])
  }),
  'POST /loki/api/v1/index/volume_range': loki({ method: 'POST', url: `${LOKI}/index/volume_range`, ...form({ query: ANY }) }, async () => {
    const v = (await asAcme({ method: 'POST', url: `${LOKI}/index/volume_range`, ...form({ query: ANY, step: '60', ...SINCE }) })).json().data.result as Array<{ metric: Record<string, string> }>
    expect(v.map((s) => s.metric.service_name)).toEqual(['checkout'])
  }),
  'POST /loki/api/v1/patterns': loki({ method: 'POST', url: `${LOKI}/patterns`, ...form({ query: ANY }) }, async () => {
    const patterns = (await asAcme({ method: 'POST', url: `${LOKI}/patterns`, ...form({ query: ANY, ...SINCE }) })).json().data as Array<{ pattern: string }>
    expect(patterns.map((p) => p.pattern).sort()).toEqual(['aardvark card declined <_>', 'aardvark order <_> paid'])
  }),
  'POST /loki/api/v1/detected_labels': loki({ method: 'POST', url: `${LOKI}/detected_labels`, ...form(SINCE) }, async () => {
    const labels = (await asAcme({ method: 'POST', url: `${LOKI}/detected_labels`, ...form(SINCE) })).json().detectedLabels as Array<{ label: string }>
    expect(labels.map((l) => l.label)).toContain('aardvark_zone')
  }),
  'POST /loki/api/v1/detected_fields': loki({ method: 'POST', url: `${LOKI}/detected_fields`, ...form({ query: ANY }) }, async () => {
    const fields = (await asAcme({ method: 'POST', url: `${LOKI}/detected_fields`, ...form({ query: ANY, ...SINCE }) })).json().fields as Array<{ label: string; cardinality: number }>
    expect(fields.find((f) => f.label === 'session_id')?.cardinality).toBe(1)
  }),
  'POST /loki/api/v1/detected_field/{name}/values': loki({ method: 'POST', url: `${LOKI}/detected_field/city/values`, ...form({ query: ANY }) }, async () => {
    expect((await asAcme({ method: 'POST', url: `${LOKI}/detected_field/city/values`, ...form({ query: ANY, ...SINCE }) })).json().values).toEqual(['Paris'])
  }),
  'POST /loki/api/v1/format_query': loki({ method: 'POST', url: `${LOKI}/format_query`, ...form({ query: ANY }) }, async () => {
    await asAcme({ method: 'POST', url: `${LOKI}/format_query`, ...form({ query: ANY }) })
  }),
  'GET /loki/api/v1/status/buildinfo': loki({ url: `${LOKI}/status/buildinfo` }, async () => {
    await asAcme({ url: `${LOKI}/status/buildinfo` })
  }),
  'GET /loki/api/v1/drilldown-limits': loki({ url: `${LOKI}/drilldown-limits` }, async () => {
    await asAcme({ url: `${LOKI}/drilldown-limits` })
  }),
}

/** Routes answered without a key: probes, scrapers, the OpenAPI document. */
const PUBLIC = new Set(['GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /ready'])

/** The first frame of a live tail, as its sorted lines; rejects when the upgrade is refused. */
async function tailFrame(key: KeyName | undefined, params: Record<string, string>, headers: Record<string, string> = {}): Promise<string[]> {
  const ws = new WebSocket(`${wsUrl}${LOKI}/tail?${q(params)}`, { headers: { ...(key ? bearer(key) : {}), ...headers } })
  try {
    const [data] = (await once(ws, 'message')) as [Buffer]
    const frame = JSON.parse(data.toString()) as { streams: Array<{ values: [string, string][] }> }
    return frame.streams.flatMap((s) => s.values.map((v) => v[1])).sort()
  } finally {
    ws.terminate()
  }
}

async function documentedRoutes(): Promise<Array<{ route: string; method: string; url: string }>> {
  const doc = (await app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> }
  return Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.keys(ops).map((m) => ({ route: `${m.toUpperCase()} ${p}`, method: m.toUpperCase(), url: p.replace(/\{[^}]+\}/g, 'x') })),
  )
}

// ---- the door -----------------------------------------------------------------------------------------

describe('the door of every documented route', () => {
  it('answers 401 with WWW-Authenticate without a key, and with an unknown key, on every route but the public ones', async () => {
    const routes = await documentedRoutes()
    expect(routes.length).toBeGreaterThan(30)
    for (const r of routes) {
      const none = await call(undefined, { method: r.method as InjectOptions['method'], url: r.url })
      if (PUBLIC.has(r.route)) {
        expect(none.statusCode, r.route).toBeLessThan(400)
        continue
      }
      expect(none.statusCode, r.route).toBe(401)
      expect(none.headers['www-authenticate'], r.route).toBeDefined()
      expect((await call(undefined, { method: r.method as InjectOptions['method'], url: r.url }, { 'x-api-key': 'not-a-key' })).statusCode, r.route).toBe(401)
    }
  })

  it('answers 403 to a key without the query scope on every route', async () => {
    for (const r of await documentedRoutes()) {
      if (PUBLIC.has(r.route)) continue
      const res = await call('ingest', { method: r.method as InjectOptions['method'], url: r.url })
      expect(res.statusCode, r.route).toBe(403)
    }
  })

  it('has an isolation check below for every route a query key may call', async () => {
    const missing: string[] = []
    for (const r of await documentedRoutes()) {
      if (PUBLIC.has(r.route) || ROUTES[r.route]) continue
      // A route asking another scope (admin) is its owner's to test; any other is a read path here.
      const probe = await call('acme', { method: r.method as InjectOptions['method'], url: r.url })
      if (probe.statusCode === 403 && /lacks the \w+ scope/.test(probe.body)) continue
      missing.push(r.route)
    }
    expect(missing).toEqual([])
  })
})

// ---- isolation ------------------------------------------------------------------------------------------

describe('a key of one tenant', () => {
  for (const [route, check] of Object.entries(ROUTES)) {
    it(`${route}: reads its tenant only, and is refused another one (403) by header${check.tenantParam ? ' or ?tenant=' : ''}`, async () => {
      await check.isolated()
      const refusals: Array<[string, LightMyRequestResponse]> = [
        ['X-Scope-OrgID', await call('acme', check.sample, { 'x-scope-orgid': 'globex' })],
        ['x-sluice-tenant', await call('acme', check.sample, { 'x-sluice-tenant': 'globex' })],
      ]
      if (check.tenantParam) {
        const url = `${check.sample.url}${String(check.sample.url).includes('?') ? '&' : '?'}tenant=globex`
        refusals.push(['?tenant=', await call('acme', { ...check.sample, url })])
      }
      for (const [how, res] of refusals) {
        expect(res.statusCode, `${route} naming globex by ${how}: ${res.body.slice(0, 200)}`).toBe(403)
        expect(res.body, how).not.toMatch(/zebra/i)
      }
      // Naming its own tenant is no different from naming none.
      const own = await call('acme', check.sample, { 'x-scope-orgid': 'acme' })
      // (The live tail answers plain HTTP with 426, Upgrade Required.)
      if (route.endsWith('/tail')) expect(own.statusCode).toBe(426)
      else expect(own.statusCode, `${route} naming acme`).toBeLessThan(400)
    })
  }

  it('of globex reads globex, the mirror of acme', async () => {
    const logs = (await call('globex', { url: '/v1/logs?limit=1000' })).json().logs as Array<{ tenant: string }>
    expect(logs).toHaveLength(globexRows.length)
    expect(logs.every((l) => l.tenant === 'globex')).toBe(true)
    expect((await call('globex', { url: '/v1/alerts/alert-a-only' })).statusCode).toBe(404)
  })
})

describe('keys of several tenants', () => {
  it('a `*` key reads every tenant on /v1 without naming one, the named one otherwise, and `default` on the Loki API', async () => {
    expect((await call('ops', { url: '/v1/logs?limit=1000' })).json().logs).toHaveLength(acmeRows.length + globexRows.length)
    const globex = (await call('ops', { url: '/v1/logs?limit=1000' }, { 'x-scope-orgid': 'globex' })).json().logs as Array<{ tenant: string }>
    expect(globex).toHaveLength(globexRows.length)
    expect(lokiLines(await call('ops', { url: `${LOKI}/query_range?${q({ query: ANY, ...SINCE })}` }))).toEqual([])
    expect(lokiLines(await call('ops', { url: `${LOKI}/query_range?${q({ query: ANY, limit: 1000, ...SINCE })}` }, { 'x-scope-orgid': 'globex' }))).toHaveLength(globexRows.length)
  })

  it('a key of a list reads its first tenant unless it names another of them, and is refused the rest', async () => {
    expect((await call('multi', { url: '/v1/stats' })).json().total).toBe(acmeRows.length)
    expect((await call('multi', { url: '/v1/stats' }, { 'x-scope-orgid': 'initech' })).json().total).toBe(0)
    expect((await call('multi', { url: '/v1/stats?tenant=globex' })).statusCode).toBe(403)
    expect((await call('multi', { url: `${LOKI}/labels` }, { 'x-scope-orgid': 'globex' })).statusCode).toBe(403)
  })
})
