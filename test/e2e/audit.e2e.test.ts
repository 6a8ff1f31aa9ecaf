// The audit table through real runtimes with SLUICE_AUTH=true: a refused request ends up as a row
// of <db>.audit, read back with GET /v1/audit — written directly by a process holding ClickHouse
// (`--target all`), and through the audit topic from a process without it (the gateway alone) to
// the ClickHouse sink of another.
import { describe, expect, it } from 'vitest'
import { hashKey } from '@sluice/auth'
import type { AuditRow } from '@sluice/auth'
import { TARGETS } from '@sluice/runner'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

const KEYS = JSON.stringify({
  keys: [
    { id: 'ops', sha256: hashKey('ops-admin-key'), tenants: ['*'], scopes: ['admin'] },
    { id: 'acme-read', sha256: hashKey('acme-query-key'), tenants: ['acme'], scopes: ['query'] },
  ],
})
const OPS = { authorization: 'Bearer ops-admin-key' }

async function auditRows(queryApi: string, query: string): Promise<AuditRow[]> {
  const res = await fetch(`${queryApi}/v1/audit?${query}`, { headers: OPS })
  expect(res.status).toBe(200)
  return ((await res.json()) as { entries: AuditRow[] }).entries
}

describe('audit table', () => {
  it('stores a refusal of a process holding ClickHouse, read back with GET /v1/audit', async () => {
    const rt = await startSluice([...TARGETS], isolation({ SLUICE_AUTH: 'true', SLUICE_API_KEYS: KEYS, WS_AUTH_SECRET: 'audit-suite-stream-secret-0123' }))
    const api = rt.addresses['query-api']!
    // A query key on an admin route: 403, audited with the key's id.
    const refused = await fetch(`${api}/v1/deletions`, { method: 'POST', headers: { authorization: 'Bearer acme-query-key', 'content-type': 'application/json' }, body: JSON.stringify({ selector: { user_id: 'u-1' } }) })
    expect(refused.status).toBe(403)
    const badKey = await fetch(`${api}/v1/logs`, { headers: { authorization: 'Bearer not-a-key' } })
    expect(badKey.status).toBe(401)

    const rows = await waitFor('the refusals in the audit table', async () => {
      const r = await auditRows(api, 'action=auth.refused&limit=10')
      return r.length >= 2 ? r : undefined
    })
    expect(rows.map((r) => [r.service, r.outcome, r.target, r.key_id]).sort()).toEqual([
      ['query-api', 'refused', 'GET /v1/logs', ''],
      ['query-api', 'refused', 'POST /v1/deletions', ''],
    ])
    expect(rows.find((r) => r.target === 'POST /v1/deletions')!.reason).toMatch(/acme-read lacks the admin scope/)
    // Filters narrow; a key without the admin scope may not read the audit log at all.
    expect(await auditRows(api, 'action=deletion.create')).toEqual([])
    expect((await fetch(`${api}/v1/audit`, { headers: { authorization: 'Bearer acme-query-key' } })).status).toBe(403)
  })

  it('carries the refusals of a process without ClickHouse through the audit topic to the sink', async () => {
    const iso = isolation({ SLUICE_AUTH: 'true', SLUICE_API_KEYS: KEYS })
    const store = await startSluice(['clickhouse-sink', 'query-api'], iso)
    const edge = await startSluice(['gateway'], iso)
    expect(edge.clickhouse).toBeUndefined()
    const refused = await fetch(`${edge.addresses.gateway!}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'm' }) })
    expect(refused.status).toBe(401)

    const [row] = await waitFor('the gateway’s refusal in the audit table', async () => {
      const r = await auditRows(store.addresses['query-api']!, 'action=auth.refused')
      const fromGateway = r.filter((x) => x.service === 'gateway')
      return fromGateway.length > 0 ? fromGateway : undefined
    })
    expect(row).toMatchObject({ action: 'auth.refused', outcome: 'refused', tenant: '', key_id: '', target: 'POST /v1/logs' })
    expect(Date.parse(row!.time)).toBeGreaterThan(Date.now() - 600_000)
  })
})
