// The analyst endpoints (/v1/services, /v1/trends, /v1/patterns, /v1/sessions/{id},
// /v1/blast-radius, /v1/fields) and /v1/logs (filters, cursor pages, export) against the query API
// on embedded ClickHouse holding a fixture of two tenants laid out relative to the present: a
// service in trouble, a healthy one, one gone silent, one with a firing alert; a user session
// across services; an error code with its users and cities. Every expected value is computed from
// the fixture rows, with the same rules the endpoints document (minute buckets, windows).
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { formatNs } from '@sluice/core'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from './config.js'
import { patternIdOf, storedAlert, storedRow } from './loki-fixture.js'
import type { LogRow, RowSpec } from './loki-fixture.js'
import { buildApp } from './service.js'
import { openTestStore } from './test-store.js'
import type { TestStore } from './test-store.js'

const DATABASE = 'analysts'
const MS = 1_000_000n
const S = 1_000_000_000n
const MIN = 60n * S
const NOW = BigInt(Date.now()) * MS

// ---- the fixture ----------------------------------------------------------------------------------

type Spec = Omit<RowSpec, 'id' | 'atNs' | 'category' | 'resource'> & { ago: bigint }

let seq = 0
function row(s: Spec): LogRow {
  const n = seq++
  return storedRow({
    ...s,
    id: `0190a000-0000-7000-8000-${n.toString(16).padStart(12, '0')}`,
    atNs: NOW - s.ago,
    host: s.host ?? `${s.service}-pod-${n % 2}`,
    attributes: { ...(s.user ? { 'user.id': s.user } : {}), ...(s.attributes ?? {}) },
    resource: { 'service.name': s.service, 'deployment.environment': 'production' },
    category: s.severity === 'ERROR' ? 'payment' : 'application',
  })
}

const PAID = 'Payment processed for order <*>'
const DECLINED = 'Card declined for user <*>: "insufficient funds", retry <*>'
const SEARCH = 'Search query <*> took <*> ms'
const CITIES = ['Paris', 'Berlin', 'Lyon']

const rows: LogRow[] = []
// checkout: two records a minute for an hour; card declines (errors) in the last 20 minutes.
for (let m = 1n; m <= 60n; m++) {
  rows.push(row({ service: 'checkout', ago: m * MIN - 10n * S, body: `Payment processed for order o-${m}`, template: PAID }))
  if (m <= 20n) {
    const u = `u-${Number(m % 7n) + 1}`
    rows.push(
      row({
        service: 'checkout',
        ago: m * MIN - 40n * S,
        severity: 'ERROR',
        body: `Card declined for user ${u}: "insufficient funds", retry ${m % 3n}`,
        template: DECLINED,
        user: u,
        errorCode: 'E_CARD_DECLINED',
        attributes: { city: CITIES[Number(m % 3n)]!, plan: m % 2n === 0n ? 'pro' : 'free' },
        host: `checkout-pod-${m % 2n}`,
      }),
    )
  } else {
    rows.push(row({ service: 'checkout', ago: m * MIN - 40n * S, body: `Payment processed for order o-${m}b`, template: PAID }))
  }
}
// search: healthy; more queries in the last half hour than in the one before.
for (let m = 1n; m <= 60n; m++) {
  const perMinute = m <= 30n ? 3n : 1n
  for (let k = 0n; k < perMinute; k++) rows.push(row({ service: 'search', ago: m * MIN - (k + 1n) * 12n * S, body: `Search query q${m}-${k} took ${m + k} ms`, template: SEARCH }))
}
// legacy: nothing for the last 30 minutes.
for (let m = 30n; m <= 60n; m++) rows.push(row({ service: 'legacy', ago: m * MIN, body: `batch ${m} done` }))
// billing: healthy logs, but a critical alert is firing.
for (let m = 1n; m <= 60n; m += 2n) rows.push(row({ service: 'billing', ago: m * MIN, body: `invoice ${m} sent` }))
// A session of user u-1 across two services, with one error; one record re-delivered (a copy).
const SESSION = 's-0001'
const sessionRows = [
  row({ service: 'search', ago: 50n * MIN, body: 'Search query shoes took 12 ms', template: SEARCH, user: 'u-1', session: SESSION }),
  row({ service: 'checkout', ago: 48n * MIN, body: 'Cart opened', user: 'u-1', session: SESSION }),
  row({ service: 'checkout', ago: 47n * MIN, severity: 'ERROR', body: 'Card declined for user u-1: "insufficient funds", retry 0', template: DECLINED, user: 'u-1', session: SESSION, errorCode: 'E_CARD_DECLINED', attributes: { city: 'Paris' } }),
  row({ service: 'checkout', ago: 46n * MIN, body: 'Payment processed for order o-s1', template: PAID, user: 'u-1', session: SESSION }),
  row({ service: 'checkout', ago: 45n * MIN, severity: 'WARN', body: 'Receipt e-mail delayed, will retry', user: 'u-1', session: SESSION }),
]
rows.push(...sessionRows)
// The other tenant: the same names, none of which may show in acme's answers.
for (let m = 1n; m <= 10n; m++) {
  rows.push(row({ tenant: 'other', service: 'checkout', ago: m * MIN, severity: 'ERROR', body: `Card declined for user x-${m}`, template: DECLINED, user: `x-${m}`, session: SESSION, errorCode: 'E_CARD_DECLINED', attributes: { city: 'Oslo' } }))
}
const acme = rows.filter((r) => r.tenant === 'acme')
const DUPLICATE = sessionRows[2]!
/**
 * What the per-minute volume table counts: every stored copy (a re-delivered record counts twice
 * until ClickHouse merges it, as the README says of volumes).
 */
const storedCopies = [...acme, DUPLICATE]

const ALERTS = [
  { Id: 'a1', Tenant: 'acme', ServiceName: 'billing', Severity: 'critical', Status: 'firing' },
  { Id: 'a2', Tenant: 'acme', ServiceName: 'search', Severity: 'info', Status: 'firing' },
  { Id: 'a3', Tenant: 'acme', ServiceName: 'checkout', Severity: 'warning', Status: 'acknowledged' },
  { Id: 'a4', Tenant: 'other', ServiceName: 'search', Severity: 'critical', Status: 'firing' },
].map((a) => storedAlert(NOW, a))

// ---- the running service --------------------------------------------------------------------------

let store: TestStore
let ch: ClickHouseHandle
let app: FastifyInstance

beforeAll(async () => {
  store = await openTestStore('analysts', DATABASE)
  ch = store.ch
  await ch.client.insert({ table: `${DATABASE}.logs`, values: rows, format: 'JSONEachRow' })
  await ch.client.insert({ table: `${DATABASE}.logs`, values: [DUPLICATE], format: 'JSONEachRow' })
  await ch.client.insert({ table: `${DATABASE}.alerts`, values: ALERTS, format: 'JSONEachRow' })
  app = buildApp(loadConfig({ CLICKHOUSE_DATABASE: DATABASE, QUERY_EXPORT_CHUNK_ROWS: '25' }), {
    logger: createLogger({ level: 'silent' }),
    registry: createRegistry({ defaultMetrics: false }),
    checks: {},
    clickhouse: ch.client,
  })
})

afterAll(async () => {
  await app?.close()
  await store?.close()
})

async function get(url: string, tenant = 'acme') {
  const res = await app.inject({ method: 'GET', url, headers: tenant ? { 'x-sluice-tenant': tenant } : {} })
  // Every answer checked here is JSON but the exports; those are read as text.
  const json = res.headers['content-type']?.toString().startsWith('application/json')
  return { status: res.statusCode, body: json ? res.json() : undefined, text: res.body, headers: res.headers }
}

const ns = (r: LogRow) => BigInt(r.Timestamp)
const newestFirst = (a: LogRow, b: LogRow) => (ns(a) === ns(b) ? (a.id < b.id ? 1 : -1) : ns(a) < ns(b) ? 1 : -1)
const isError = (r: LogRow) => r.SeverityNumber >= 17
const of = (service: string, from: LogRow[] = acme) => from.filter((r) => r.ServiceName === service)
const iso = (n: bigint) => formatNs(n)
const q = (params: Record<string, string | number>) => new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString()

// ---- service health --------------------------------------------------------------------------------

describe('GET /v1/services', () => {
  it('rates every service of the tenant: down when silent, degraded on errors or a firing alert, healthy otherwise', async () => {
    const r = await get('/v1/services?window=15m')
    expect(r.status).toBe(200)
    const nowNs = BigInt(Date.parse(r.body.now)) * MS
    const windowFromS = ((nowNs - 15n * MIN) / S / 60n) * 60n
    const byName = Object.fromEntries(r.body.services.map((s: { service: string }) => [s.service, s]))
    expect(Object.keys(byName).sort()).toEqual(['billing', 'checkout', 'legacy', 'search'])
    for (const name of ['billing', 'checkout', 'legacy', 'search']) {
      const mine = of(name, storedCopies)
      const inWindow = mine.filter((x) => (ns(x) / S / 60n) * 60n >= windowFromS)
      const s = byName[name]
      expect(s.events, name).toBe(inWindow.length)
      expect(s.errors, name).toBe(inWindow.filter(isError).length)
      const last = mine.reduce((m, x) => (ns(x) > m ? ns(x) : m), 0n)
      expect(s.last_seen, name).toBe(iso(last))
    }
    expect(byName.legacy.status).toBe('down')
    expect(byName.legacy.reasons[0]).toMatch(/^no logs for 30 min/)
    expect(byName.checkout.status).toBe('degraded')
    expect(byName.checkout.error_rate).toBeGreaterThan(0.05)
    expect(byName.checkout.open_alerts).toEqual({ firing: 0, acknowledged: 1 })
    expect(byName.billing.status).toBe('degraded')
    expect(byName.billing.reasons).toEqual(['1 firing alert'])
    // An info alert does not degrade a service.
    expect(byName.search.status).toBe('healthy')
    expect(byName.search.open_alerts).toEqual({ firing: 1, acknowledged: 0 })
    expect(r.body.summary).toEqual({ healthy: 1, degraded: 2, down: 1 })
    expect(r.body.services.map((s: { status: string }) => s.status)).toEqual(['down', 'degraded', 'degraded', 'healthy'])
  })

  it('keeps tenants apart and narrows to one service', async () => {
    const r = await get('/v1/services?service=checkout', 'other')
    expect(r.body.services).toHaveLength(1)
    expect(r.body.services[0].events).toBeLessThanOrEqual(10)
    expect(r.body.services[0].errors).toBe(r.body.services[0].events)
  })

  it('lists a registered service that never logged as down, with its registration; deleting it removes it', async () => {
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/services/ledger',
      headers: { 'x-sluice-tenant': 'acme' },
      payload: { owner: 'payments-team', tier: 'critical', tags: { repo: 'ledger-svc' } },
    })
    expect(put.statusCode).toBe(200)
    await app.inject({ method: 'PUT', url: '/v1/services/checkout', headers: { 'x-sluice-tenant': 'acme' }, payload: { owner: 'shop-team' } })
    const r = await get('/v1/services')
    const byName = Object.fromEntries(r.body.services.map((s: { service: string }) => [s.service, s]))
    expect(byName.ledger).toMatchObject({ status: 'down', last_seen: null, events: 0, registration: { owner: 'payments-team', tier: 'critical', tags: { repo: 'ledger-svc' } } })
    expect(byName.ledger.reasons[0]).toMatch(/^no logs in the last 168 h/)
    expect(byName.checkout.registration).toMatchObject({ owner: 'shop-team' })
    expect(byName.search.registration).toBeNull()
    // Another tenant sees none of it.
    expect((await get('/v1/services', 'other')).body.services.map((s: { service: string }) => s.service)).toEqual(['checkout'])
    expect((await app.inject({ method: 'DELETE', url: '/v1/services/ledger', headers: { 'x-sluice-tenant': 'acme' } })).statusCode).toBe(204)
    expect((await get('/v1/services')).body.services.map((s: { service: string }) => s.service)).not.toContain('ledger')
    const bad = await app.inject({ method: 'PUT', url: '/v1/services/x', headers: { 'x-sluice-tenant': 'acme' }, payload: { owner: 'o', colour: 'red' } })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().message).toBe('unknown body field(s): colour')
    // Registrations are kept out of the other tests' answers.
    await app.inject({ method: 'DELETE', url: '/v1/services/checkout', headers: { 'x-sluice-tenant': 'acme' } })
  })

  it('answers 400 naming a bad window, and a window that is not whole minutes', async () => {
    const r = await get('/v1/services?window=soon')
    expect(r.status).toBe(400)
    expect(r.body.message).toMatch(/^parameter window:/)
    for (const window of ['1', '0.0001m', '90s']) {
      const odd = await get(`/v1/services?window=${window}`)
      expect(odd.status, window).toBe(400)
      expect(odd.body.message, window).toBe('parameter window: must be a whole number of minutes (counts are kept per minute)')
    }
  })
})

// ---- trends -----------------------------------------------------------------------------------------

describe('GET /v1/trends', () => {
  it('counts by level and error rate per step-aligned bucket, per service, zeros included', async () => {
    const from = NOW - 60n * MIN
    const r = await get(`/v1/trends?${q({ service: 'checkout', from: from.toString(), to: NOW.toString(), step: '5m' })}`)
    expect(r.status).toBe(200)
    expect(r.body.step_seconds).toBe(300)
    const [series] = r.body.services
    expect(series.service).toBe('checkout')
    const firstS = (from / S / 300n) * 300n
    const expected = new Map<number, { total: number; errors: number }>()
    for (const x of of('checkout', storedCopies)) {
      const minute = (ns(x) / S / 60n) * 60n
      if (minute < (from / S / 60n) * 60n || ns(x) >= NOW) continue
      const i = Number((minute - firstS) / 300n)
      const e = expected.get(i) ?? { total: 0, errors: 0 }
      e.total++
      if (isError(x)) e.errors++
      expected.set(i, e)
    }
    expect(series.points[0].t).toBe(iso(firstS * S))
    series.points.forEach((p: { total: number; errors: number; error_rate: number; levels: Record<string, number> }, i: number) => {
      const e = expected.get(i) ?? { total: 0, errors: 0 }
      expect(p.total, `bucket ${i}`).toBe(e.total)
      expect(p.errors, `bucket ${i}`).toBe(e.errors)
      expect(p.error_rate).toBeCloseTo(e.total ? e.errors / e.total : 0, 10)
      expect(Object.values(p.levels).reduce((a, b) => a + b, 0)).toBe(e.total)
    })
    expect(series.total).toBe([...expected.values()].reduce((n, e) => n + e.total, 0))
  })

  it('counts the minute holding `to` when `to` lies in its first second', async () => {
    // A minute of checkout's with records, ending the window half a second into it.
    const minutes = of('checkout', storedCopies).map((x) => (ns(x) / S / 60n) * 60n).filter((m) => m * S < NOW - 5n * MIN)
    const last = minutes.reduce((a, b) => (a > b ? a : b))
    const to = last * S + 500n * MS
    const from = to - 10n * MIN
    const r = await get(`/v1/trends?${q({ service: 'checkout', from: from.toString(), to: to.toString(), step: '1m' })}`)
    expect(r.status).toBe(200)
    const [series] = r.body.services
    const inWindow = minutes.filter((m) => m >= (from / S / 60n) * 60n && m <= last)
    expect(series.points.map((p: { t: string }) => p.t).at(-1)).toBe(iso(last * S))
    expect(series.points.at(-1).total).toBe(minutes.filter((m) => m === last).length)
    expect(series.total).toBe(inWindow.length)
  })

  it('refuses a step that is not whole minutes, and a range over the limit', async () => {
    expect((await get('/v1/trends?step=90s')).body.message).toMatch(/whole number of minutes/)
    const r = await get(`/v1/trends?${q({ from: '2020-01-01T00:00:00Z', to: '2021-01-01T00:00:00Z' })}`)
    expect(r.status).toBe(400)
    expect(r.body.message).toMatch(/QUERY_MAX_RANGE_HOURS/)
  })
})

// ---- top patterns -------------------------------------------------------------------------------------

describe('GET /v1/patterns', () => {
  const from = NOW - 30n * MIN
  const prev = NOW - 60n * MIN
  // Pattern counts, like volumes, count every stored copy until ClickHouse merges them.
  const counted = (template: string, service: string) => {
    const mine = of(service, storedCopies).filter((x) => x.Template === template)
    return {
      count: mine.filter((x) => ns(x) >= from && ns(x) < NOW).length,
      previous: mine.filter((x) => ns(x) >= prev && ns(x) < from).length,
      errors: mine.filter((x) => ns(x) >= from && ns(x) < NOW && isError(x)).length,
      firstEver: mine.reduce((m, x) => (ns(x) < m ? ns(x) : m), NOW),
    }
  }

  it('lists templates with counts, errors, the previous window, a sample and the trend', async () => {
    const r = await get(`/v1/patterns?${q({ from: from.toString(), to: NOW.toString() })}`)
    expect(r.status).toBe(200)
    const byTemplate = Object.fromEntries(r.body.patterns.map((p: { template: string }) => [p.template, p]))
    for (const [template, service] of [[PAID, 'checkout'], [DECLINED, 'checkout'], [SEARCH, 'search']] as const) {
      const e = counted(template, service)
      const p = byTemplate[template]
      expect(p, template).toBeDefined()
      expect(p.pattern_id).toBe(patternIdOf('acme', service, template))
      expect([p.count, p.previous, p.errors]).toEqual([e.count, e.previous, e.errors])
      expect(p.first_seen).toBe(iso(e.firstEver))
      expect(typeof p.sample).toBe('string')
    }
    expect(byTemplate[DECLINED].trend).toBe('rising')
    expect(byTemplate[SEARCH].trend).toBe('rising')
    expect(byTemplate[PAID].trend).toBe('steady')
    const counts = r.body.patterns.map((p: { count: number }) => p.count)
    expect(counts).toEqual([...counts].sort((a, b) => b - a))
  })

  it('calls a template first seen inside the window new, and sorts by errors or growth', async () => {
    const recent = NOW - 15n * MIN
    const r = await get(`/v1/patterns?${q({ from: recent.toString(), to: NOW.toString(), sort: 'errors', limit: 1 })}`)
    expect(r.body.patterns).toHaveLength(1)
    expect(r.body.patterns[0].template).toBe(DECLINED)
    expect(r.body.patterns[0].trend).toBe('rising')
    // From 50 minutes back, the first decline (47 minutes ago) is inside the window.
    const r2 = await get(`/v1/patterns?${q({ from: (NOW - 50n * MIN).toString(), to: NOW.toString(), sort: 'growth' })}`)
    expect(r2.body.patterns[0].template).toBe(DECLINED)
    expect(r2.body.patterns[0].trend).toBe('new')
    expect(r2.body.patterns[0].growth).toBeNull()
  })
})

// ---- session timeline ----------------------------------------------------------------------------------

describe('GET /v1/sessions/{id}', () => {
  it('answers every record of the session in order, once each, with its duration and first error', async () => {
    const r = await get(`/v1/sessions/${SESSION}`)
    expect(r.status).toBe(200)
    const sorted = [...sessionRows].sort((a, b) => -newestFirst(a, b))
    expect(r.body.events.map((e: { id: string }) => e.id)).toEqual(sorted.map((x) => x.id))
    expect(r.body.event_count).toBe(sessionRows.length)
    expect(r.body.error_count).toBe(1)
    expect(r.body.first_error.id).toBe(DUPLICATE.id)
    expect(r.body.first_error.message).toBe(DUPLICATE.Body)
    expect(r.body.duration_ms).toBe(Number((ns(sorted.at(-1)!) - ns(sorted[0]!)) / MS))
    expect(r.body.services).toEqual(['checkout', 'search'])
    expect(r.body.user_ids).toEqual(['u-1'])
    expect(r.body.truncated).toBe(false)
  })

  it('caps the events at limit and says so; 404 names an unknown session', async () => {
    const r = await get(`/v1/sessions/${SESSION}?limit=2`)
    expect(r.body.events).toHaveLength(2)
    expect(r.body.truncated).toBe(true)
    expect(r.body.event_count).toBe(sessionRows.length)
    // Exactly as many as the limit (a copy among them): all of them, nothing truncated.
    const all = await get(`/v1/sessions/${SESSION}?limit=${sessionRows.length}`)
    expect(all.body).toMatchObject({ event_count: sessionRows.length, error_count: 1, truncated: false, services: ['checkout', 'search'] })
    expect(all.body.events).toHaveLength(sessionRows.length)
    const missing = await get('/v1/sessions/s-nope')
    expect(missing.status).toBe(404)
    expect(missing.body.message).toContain('"s-nope"')
  })
})

// ---- blast radius ------------------------------------------------------------------------------------------

describe('GET /v1/blast-radius', () => {
  const declined = acme.filter((x) => x.ErrorCode === 'E_CARD_DECLINED')
  const count = (xs: LogRow[], key: (x: LogRow) => string) => {
    const m = new Map<string, { n: number; users: Set<string> }>()
    for (const x of xs) {
      const e = m.get(key(x)) ?? { n: 0, users: new Set<string>() }
      e.n++
      if (x.UserId) e.users.add(x.UserId)
      m.set(key(x), e)
    }
    return m
  }

  it('counts occurrences, users, sessions and the breakdowns of an error code', async () => {
    const r = await get('/v1/blast-radius?error_code=E_CARD_DECLINED&by=city,plan&top=2')
    expect(r.status).toBe(200)
    expect(r.body.occurrences).toBe(declined.length)
    expect(r.body.affected_users).toBe(new Set(declined.map((x) => x.UserId)).size)
    expect(r.body.affected_sessions).toBe(1)
    expect(r.body.first_seen).toBe(iso(declined.map(ns).reduce((a, b) => (a < b ? a : b))))
    expect(r.body.last_seen).toBe(iso(declined.map(ns).reduce((a, b) => (a > b ? a : b))))
    const cities = count(declined, (x) => x.LogAttributes.city ?? '')
    const top = [...cities.entries()].filter(([k]) => k).sort((a, b) => b[1].n - a[1].n || a[0].localeCompare(b[0])).slice(0, 2)
    expect(r.body.breakdown.city.distinct).toBe(cities.size)
    expect(r.body.breakdown.city.top).toEqual(top.map(([value, e]) => ({ value, occurrences: e.n, users: e.users.size })))
    expect(r.body.breakdown.service.top).toEqual([{ value: 'checkout', occurrences: declined.length, users: r.body.affected_users }])
    expect(r.body.breakdown.plan.distinct).toBe(2)
    expect(r.body.breakdown.host.distinct).toBe(2)
  })

  it('answers the same for the pattern id, and 400 when neither is named', async () => {
    const byPattern = await get(`/v1/blast-radius?pattern_id=${patternIdOf('acme', 'checkout', DECLINED)}`)
    expect(byPattern.body.occurrences).toBe(acme.filter((x) => x.Template === DECLINED && x.ServiceName === 'checkout').length)
    const none = await get('/v1/blast-radius?by=city')
    expect(none.status).toBe(400)
    expect(none.body.message).toMatch(/error_code or pattern_id/)
  })
})

// ---- field facets ---------------------------------------------------------------------------------------------

describe('GET /v1/fields', () => {
  it('lists the fields of a selection with their top values', async () => {
    const from = NOW - 60n * MIN
    const r = await get(`/v1/fields?${q({ service: 'checkout', level: 'error', from: from.toString(), to: NOW.toString() })}`)
    expect(r.status).toBe(200)
    // Each record once: the re-delivered copy is not counted twice.
    const sel = of('checkout').filter((x) => isError(x) && ns(x) >= from)
    expect(r.body.sampled_records).toBe(sel.length)
    const byName = Object.fromEntries(r.body.fields.map((f: { name: string }) => [f.name, f]))
    expect(byName['attr.city'].kind).toBe('attribute')
    expect(byName['attr.city'].records).toBe(sel.filter((x) => x.LogAttributes.city).length)
    const cities = count(sel, (x) => x.LogAttributes.city ?? '')
    expect(byName['attr.city'].top).toEqual(
      [...cities.entries()].filter(([k]) => k).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([value, n]) => ({ value, count: n })),
    )
    expect(byName.error_code).toMatchObject({ kind: 'column', distinct: 1, top: [{ value: 'E_CARD_DECLINED', count: sel.length }] })
    expect(byName['resource.deployment.environment'].kind).toBe('resource')
  })

  it('reads at most `sample` newest records', async () => {
    const r = await get('/v1/fields?service=checkout&sample=10')
    expect(r.body.sampled_records).toBe(10)
  })

  function count(xs: LogRow[], key: (x: LogRow) => string): Map<string, number> {
    const m = new Map<string, number>()
    for (const x of xs) m.set(key(x), (m.get(key(x)) ?? 0) + 1)
    return m
  }
})

// ---- /v1/logs: filters, cursor pages, export ----------------------------------------------------------------

describe('GET /v1/logs', () => {
  it('pages through every record of a selection with the cursor, newest first, none twice', async () => {
    const expected = of('checkout').sort(newestFirst).map((x) => x.id)
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const r = await get(`/v1/logs?${q({ service: 'checkout', limit: 40, ...(cursor ? { cursor } : {}) })}`)
      expect(r.status).toBe(200)
      seen.push(...r.body.logs.map((l: { id: string }) => l.id))
      cursor = r.body.next_cursor
      pages++
    } while (cursor && pages < 20)
    expect(seen).toEqual(expected)
    expect(pages).toBe(Math.ceil(expected.length / 40) + (expected.length % 40 === 0 ? 1 : 0))
  })

  it('filters by attribute, user, session and error code', async () => {
    const paris = await get('/v1/logs?attr.city=Paris&limit=1000')
    expect(paris.body.logs.map((l: { id: string }) => l.id).sort()).toEqual(acme.filter((x) => x.LogAttributes.city === 'Paris').map((x) => x.id).sort())
    const user = await get('/v1/logs?user_id=u-1&error_code=E_CARD_DECLINED&limit=1000')
    expect(user.body.logs).toHaveLength(acme.filter((x) => x.UserId === 'u-1' && x.ErrorCode === 'E_CARD_DECLINED').length)
    const session = await get(`/v1/logs?session_id=${SESSION}&limit=1000`)
    expect(session.body.logs).toHaveLength(sessionRows.length)
    const resource = await get('/v1/logs?resource.service.name=legacy&limit=1000')
    expect(resource.body.logs).toHaveLength(of('legacy').length)
  })

  it('reads from and to given as epoch nanoseconds to the nanosecond', async () => {
    // Odd times: a double holds epoch nanoseconds of today only to a multiple of 256.
    const at = NOW - 90n * MIN + 1n
    const precise = [0n, 1n, 2n].map((i) => row({ tenant: 'ns-precision', service: 'clock', ago: NOW - (at + i), body: `tick ${i}` }))
    await ch.client.insert({ table: `${DATABASE}.logs`, values: precise, format: 'JSONEachRow' })
    const messages = async (from: bigint, to: bigint) => (await get(`/v1/logs?${q({ from: from.toString(), to: to.toString() })}`, 'ns-precision')).body.logs.map((l: { message: string }) => l.message)
    expect(await messages(at, at + 1n)).toEqual(['tick 0'])
    expect(await messages(at + 1n, at + 2n)).toEqual(['tick 1'])
    expect(await messages(at + 1n, at + 3n)).toEqual(['tick 2', 'tick 1'])
  })

  it('answers 400 naming an unknown parameter or a bad cursor', async () => {
    const unknown = await get('/v1/logs?colour=red')
    expect(unknown.status).toBe(400)
    expect(unknown.body.message).toBe('unknown parameter(s): colour')
    const bad = await get('/v1/logs?cursor=bm9wZQ')
    expect(bad.status).toBe(400)
    expect(bad.body.message).toMatch(/^parameter cursor:/)
    // Times past Int64 (ClickHouse would wrap them): forged, like any cursor the API did not return.
    for (const forged of ['99999999999999999999|a', '18446744073709551616|a']) {
      const r = await get(`/v1/logs?limit=2&cursor=${Buffer.from(forged).toString('base64url')}`)
      expect(r.status, forged).toBe(400)
      expect(r.body.message, forged).toBe(bad.body.message)
    }
  })

  it('reads every record without `from`, and refuses a range over QUERY_MAX_RANGE_HOURS on logs, stats and export', async () => {
    const all = await get('/v1/logs?limit=1000')
    expect(all.body.logs).toHaveLength(acme.length)
    expect((await get('/v1/stats')).body.total).toBe(acme.length)
    for (const url of ['/v1/logs?from=0', '/v1/stats?from=0', '/v1/logs/export?from=0']) {
      const r = await get(url)
      expect(r.status, url).toBe(400)
      expect(r.body.message, url).toMatch(/exceeds the limit of 721 h \(QUERY_MAX_RANGE_HOURS\)$/)
    }
  })

  it('exports every record of a selection as NDJSON, in chunks', async () => {
    const r = await get('/v1/logs/export?service=checkout')
    expect(r.status).toBe(200)
    expect(r.headers['content-type']).toBe('application/x-ndjson')
    const lines = r.text.trimEnd().split('\n').map((l) => JSON.parse(l) as { id: string })
    expect(lines.map((l) => l.id)).toEqual(of('checkout').sort(newestFirst).map((x) => x.id))
    const limited = await get('/v1/logs/export?service=checkout&limit=30')
    expect(limited.text.trimEnd().split('\n')).toHaveLength(30)
  })

  it('exports every record of a tenant across time windows, each once, newest first', async () => {
    // Chunks of 25 rows over services in turn (the ORDER BY is not the table's): a burst of 60 at
    // one instant (more than a chunk), a row a minute for half an hour, a few 20 h back, and a
    // copy of a record ClickHouse has not merged yet.
    const tenant = 'export-windows'
    const burst = Array.from({ length: 60 }, (_, i) => row({ tenant, service: `svc-${i % 3}`, ago: 5n * MIN, body: `burst ${i}` }))
    const steady = Array.from({ length: 30 }, (_, i) => row({ tenant, service: `svc-${i % 4}`, ago: BigInt(i + 1) * MIN + BigInt(i) * MS, body: `minute ${i}` }))
    const old = Array.from({ length: 5 }, (_, i) => row({ tenant, service: 'svc-old', ago: 20n * 60n * MIN + BigInt(i) * S, body: `old ${i}` }))
    const all = [...burst, ...steady, ...old]
    await ch.client.insert({ table: `${DATABASE}.logs`, values: all, format: 'JSONEachRow' })
    await ch.client.insert({ table: `${DATABASE}.logs`, values: [steady[7]!], format: 'JSONEachRow' })
    const expected = all.sort(newestFirst).map((x) => x.id)
    const ids = async (url: string) => (await get(url, tenant)).text.trimEnd().split('\n').map((l) => (JSON.parse(l) as { id: string }).id)
    const from = iso(NOW - 24n * 60n * MIN)
    expect(await ids(`/v1/logs/export?${q({ from })}`)).toEqual(expected)
    expect(await ids(`/v1/logs/export?${q({ from, limit: 70 })}`)).toEqual(expected.slice(0, 70))
    // Without `from` (a tenant without a range limit): the windows reach back to the epoch.
    expect(await ids('/v1/logs/export')).toEqual(expected)
  })

  it('exports CSV with a header and RFC 4180 quoting', async () => {
    const r = await get('/v1/logs/export?format=csv&error_code=E_CARD_DECLINED&service=checkout&limit=3')
    expect(r.headers['content-type']).toBe('text/csv; charset=utf-8')
    const [header, first] = r.text.split('\r\n')
    expect(header!.split(',').slice(0, 4)).toEqual(['timestamp', 'observed_timestamp', 'tenant', 'service'])
    const newest = declinedNewest()
    expect(first).toContain(`"${newest.Body.replace(/"/g, '""')}"`)
    expect(r.text.split('\r\n').filter(Boolean)).toHaveLength(4)
  })
})

function declinedNewest(): LogRow {
  return acme.filter((x) => x.ErrorCode === 'E_CARD_DECLINED' && x.ServiceName === 'checkout').sort(newestFirst)[0]!
}
