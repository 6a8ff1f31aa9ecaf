// POST /v1/deletions on embedded ClickHouse: exactly the selected records go (from logs and from
// error_events, their pattern samples blanked), other tenants' records of the same user stay, the
// task reaches `done` with the count, and it is audited; keys without the admin scope, selectors
// without a criterion and deletions naming no tenant are refused.
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProcessSecurity, hashKey } from '@sluice/auth'
import type { AuditRow, Security } from '@sluice/auth'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from './config.js'
import type { DeletionTask } from './deletions.js'
import { buildApp } from './service.js'
import { openTestStore } from './test-store.js'
import type { TestStore } from './test-store.js'

const DATABASE = `t_${randomBytes(4).toString('hex')}`
const KEYS = { admin: 'key-admin-a', query: 'key-query-a', ops: 'key-ops-all', adminB: 'key-admin-b' }
let store: TestStore
let ch: ClickHouseHandle
let app: FastifyInstance
let security: Security
const audited: AuditRow[] = []

beforeAll(async () => {
  store = await openTestStore('deletions-test', DATABASE)
  ch = store.ch
  const log = createLogger({ level: 'silent' })
  const keys = {
    keys: [
      { id: 'admin-a', sha256: hashKey(KEYS.admin), tenants: ['a'], scopes: ['admin' as const] },
      { id: 'query-a', sha256: hashKey(KEYS.query), tenants: ['a'], scopes: ['query' as const] },
      { id: 'ops', sha256: hashKey(KEYS.ops), tenants: ['*'], scopes: ['admin' as const] },
      { id: 'admin-b', sha256: hashKey(KEYS.adminB), tenants: ['b'], scopes: ['admin' as const] },
    ],
  }
  security = createProcessSecurity(
    { authEnabled: true, keys, keysFile: undefined, keysReloadMs: 60_000, tenants: undefined },
    { log, retentionDays: 30, auditWriter: async (rows) => void audited.push(...rows) },
  ).forService('query-api')
  app = buildApp(loadConfig({ CLICKHOUSE_DATABASE: DATABASE }), { logger: log, registry: createRegistry({ defaultMetrics: false }), checks: {}, clickhouse: ch.client, security })
  await app.ready()
  await seed()
})

afterAll(async () => {
  await app?.close()
  await ch?.client.command({ query: `DROP DATABASE IF EXISTS ${DATABASE} SYNC` })
  await store?.close()
})

const NOW_NS = BigInt(Date.now()) * 1_000_000n

/** Records of tenants a and b: user X (as UserId or as an attribute), user Y, an error code, one pattern. */
async function seed(): Promise<void> {
  const row = (id: string, tenant: string, over: { user?: string; attr?: string; error?: string; body?: string } = {}) => ({
    id,
    tenant,
    Timestamp: String(NOW_NS - 60_000_000_000n),
    ObservedTimestamp: String(NOW_NS),
    ServiceName: 'checkout',
    SeverityText: 'ERROR',
    SeverityNumber: 17,
    Body: over.body ?? `record ${id}`,
    LogAttributes: over.attr ? { user_id: over.attr } : {},
    ResourceAttributes: {},
    Source: 'http',
    PatternId: 'p1',
    UserId: over.user ?? '',
    ErrorCode: over.error ?? '',
  })
  // One insert each: separate parts, as records arriving over time make.
  for (const r of [
    row('a-x-1', 'a', { user: 'X', error: 'E1', body: 'card of X declined' }),
    row('a-x-2', 'a', { user: 'X' }),
    row('a-x-3', 'a', { attr: 'X' }),
    row('a-y-1', 'a', { user: 'Y', error: 'E1' }),
    row('a-y-2', 'a', { attr: 'Y' }),
    row('b-x-1', 'b', { user: 'X', error: 'E1', body: 'card of X declined (b)' }),
    row('b-x-2', 'b', { attr: 'X' }),
  ]) {
    await ch.client.insert({ table: `${DATABASE}.logs`, values: [r], format: 'JSONEachRow' })
  }
}

async function ids(query: string): Promise<string[]> {
  const rs = await ch.client.query({ query, format: 'JSONEachRow' })
  return (await rs.json<{ id: string }>()).map((r) => r.id)
}

const auth = (key: string) => ({ authorization: `Bearer ${key}` })

async function untilFinished(id: string, key: string): Promise<DeletionTask> {
  for (let i = 0; i < 600; i++) {
    const res = await app.inject({ method: 'GET', url: `/v1/deletions/${id}`, headers: auth(key) })
    expect(res.statusCode).toBe(200)
    const task = res.json<DeletionTask>()
    if (task.status === 'done' || task.status === 'failed') return task
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`deletion ${id} did not finish`)
}

describe('POST /v1/deletions', () => {
  it("deletes exactly the tenant's records of the user, keeps another tenant's of the same user, and the task reaches done with the count", async () => {
    const samplesOf = async (tenant: string) => {
      const rs = await ch.client.query({ query: `SELECT finalizeAggregation(Sample) AS s FROM ${DATABASE}.patterns WHERE tenant = '${tenant}'`, format: 'JSONEachRow' })
      return (await rs.json<{ s: string }>()).map((r) => r.s)
    }
    expect(await samplesOf('a')).toContain('card of X declined')
    const res = await app.inject({ method: 'POST', url: '/v1/deletions', headers: auth(KEYS.admin), payload: { selector: { user_id: 'X' } } })
    expect(res.statusCode).toBe(202)
    const created = res.json<DeletionTask>()
    expect(created).toMatchObject({ tenant: 'a', status: 'pending', selector: { user_id: 'X' }, rows_matched: 0, finished_at: null, error: null })

    const task = await untilFinished(created.id, KEYS.admin)
    expect(task).toMatchObject({ id: created.id, status: 'done', rows_matched: 3, error: null })
    expect(Date.parse(task.finished_at!)).toBeGreaterThanOrEqual(Date.parse(task.created_at))

    expect(await ids(`SELECT id FROM ${DATABASE}.logs ORDER BY id`)).toEqual(['a-y-1', 'a-y-2', 'b-x-1', 'b-x-2'])
    expect(await ids(`SELECT id FROM ${DATABASE}.error_events ORDER BY id`)).toEqual(['a-y-1', 'b-x-1'])
    // The pattern hours of the deleted records keep their counts but no sample of them.
    expect((await samplesOf('a')).filter((s) => s.includes('X'))).toEqual([])
    expect(await samplesOf('b')).toContain('card of X declined (b)')

    // Listed for its tenant, and audited: who asked (key id) and how it ended.
    const list = await app.inject({ method: 'GET', url: '/v1/deletions', headers: auth(KEYS.admin) })
    expect(list.json<{ tasks: DeletionTask[] }>().tasks.map((t) => [t.id, t.status])).toEqual([[created.id, 'done']])
    await security.audit.flush()
    const mine = audited.filter((r) => r.target === created.id)
    expect(mine.map((r) => [r.action, r.outcome, r.tenant, r.key_id])).toEqual([
      ['deletion.create', 'ok', 'a', 'admin-a'],
      ['deletion.complete', 'ok', 'a', 'admin-a'],
    ])
    expect(JSON.parse(mine[1]!.details)).toEqual({ rows_matched: 3 })
  })

  it('deletes by service and time range, and by attribute, leaving records outside them', async () => {
    const before = await ids(`SELECT id FROM ${DATABASE}.logs WHERE tenant = 'b' ORDER BY id`)
    const from = new Date(Date.now() - 3_600_000).toISOString()
    const outside = await app.inject({ method: 'POST', url: '/v1/deletions', headers: auth(KEYS.ops), payload: { tenant: 'b', selector: { service: 'checkout', from, to: new Date(Date.now() - 1_800_000).toISOString() } } })
    expect(outside.statusCode).toBe(202)
    expect(await untilFinished(outside.json<DeletionTask>().id, KEYS.ops)).toMatchObject({ status: 'done', rows_matched: 0 })
    expect(await ids(`SELECT id FROM ${DATABASE}.logs WHERE tenant = 'b' ORDER BY id`)).toEqual(before)

    const byAttribute = await app.inject({ method: 'POST', url: '/v1/deletions', headers: { ...auth(KEYS.ops), 'x-scope-orgid': 'b' }, payload: { selector: { attributes: { user_id: 'X' }, from } } })
    expect(await untilFinished(byAttribute.json<DeletionTask>().id, KEYS.ops)).toMatchObject({ tenant: 'b', status: 'done', rows_matched: 1 })
    expect(await ids(`SELECT id FROM ${DATABASE}.logs WHERE tenant = 'b' ORDER BY id`)).toEqual(['b-x-1'])
  })

  it('refuses a key without the admin scope (403), another tenant (403), no tenant (400) and a selector without a criterion (400)', async () => {
    const post = (headers: Record<string, string>, payload: unknown) => app.inject({ method: 'POST', url: '/v1/deletions', headers, payload: payload as object })
    const status = async (headers: Record<string, string>, payload: unknown) => {
      const res = await post(headers, payload)
      return [res.statusCode, res.json<{ message: string }>().message]
    }
    expect(await status(auth(KEYS.query), { selector: { user_id: 'Y' } })).toEqual([403, expect.stringMatching(/admin scope/)])
    expect(await status({}, { selector: { user_id: 'Y' } })).toEqual([401, expect.any(String)])
    expect(await status(auth(KEYS.admin), { tenant: 'b', selector: { user_id: 'Y' } })).toEqual([403, expect.stringMatching(/tenant b/)])
    expect(await status(auth(KEYS.ops), { selector: { user_id: 'Y' } })).toEqual([400, expect.stringMatching(/names exactly one tenant/)])
    expect(await status({ ...auth(KEYS.ops), 'x-sluice-tenant': 'a' }, { tenant: 'b', selector: { user_id: 'Y' } })).toEqual([400, expect.stringMatching(/two tenants/)])
    expect(await status(auth(KEYS.admin), { selector: {} })).toEqual([400, expect.stringMatching(/no criterion/)])
    expect(await status(auth(KEYS.admin), { selector: { attributes: {} } })).toEqual([400, expect.stringMatching(/no criterion/)])
    expect(await status(auth(KEYS.admin), {})).toEqual([400, expect.stringMatching(/selector/)])
    expect(await status(auth(KEYS.admin), { selector: { userid: 'Y' } })).toEqual([400, expect.stringMatching(/userid/)])
    expect(await status(auth(KEYS.admin), { selector: { level: 'loud' } })).toEqual([400, expect.stringMatching(/level/)])
    expect(await status(auth(KEYS.admin), { selector: { from: '2026-12-02T00:00:00Z', to: '2026-12-01T00:00:00Z' } })).toEqual([400, expect.stringMatching(/after from/)])
    // Nothing was deleted by any of them.
    expect(await ids(`SELECT id FROM ${DATABASE}.logs WHERE tenant = 'a' ORDER BY id`)).toEqual(['a-y-1', 'a-y-2'])
  })

  it("answers another tenant's task as missing", async () => {
    const created = await app.inject({ method: 'POST', url: '/v1/deletions', headers: auth(KEYS.admin), payload: { selector: { trace_id: 'none' } } })
    const id = created.json<DeletionTask>().id
    await untilFinished(id, KEYS.admin)
    expect((await app.inject({ method: 'GET', url: `/v1/deletions/${id}`, headers: auth(KEYS.adminB) })).statusCode).toBe(404)
    expect((await app.inject({ method: 'GET', url: `/v1/deletions/${id}`, headers: auth(KEYS.ops) })).statusCode).toBe(200)
    const listB = await app.inject({ method: 'GET', url: '/v1/deletions', headers: auth(KEYS.adminB) })
    expect(listB.json<{ tasks: DeletionTask[] }>().tasks.every((t) => t.tenant === 'b')).toBe(true)
  })
})
