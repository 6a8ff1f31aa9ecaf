// Per-tenant retention through a real pipeline: records posted to the gateway reach ClickHouse
// with their tenant's RetentionDays (SLUICE_TENANTS_FILE retention_days, else CLICKHOUSE_TTL_DAYS),
// which puts each tenant's rows in parts of their own retention.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

describe('per-tenant retention', () => {
  it("stores each tenant's records with its retention_days, and the default for the others", async () => {
    const base = isolation({ CLICKHOUSE_TTL_DAYS: '45' })
    const tenantsFile = path.join(base.dataDir, 'tenants.json')
    writeFileSync(tenantsFile, JSON.stringify({ tenants: { brief: { retention_days: 2 }, ample: { retention_days: 400 } } }))
    const iso = { ...base, env: { ...base.env, SLUICE_TENANTS_FILE: tenantsFile } }
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink'], iso)
    const records = ['brief', 'ample', 'other', 'brief'].map((tenant, i) => ({ id: `r-${i}`, tenant, service: 'svc', message: `record ${i}` }))
    const res = await fetch(`${rt.addresses.gateway!}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(records) })
    expect(res.status).toBeLessThan(300)

    const query = `SELECT id, tenant, RetentionDays AS days, _partition_id AS part FROM ${iso.database}.logs ORDER BY id`
    const rows = await waitFor('the records in ClickHouse', async () => {
      const rs = await rt.clickhouse!.client.query({ query, format: 'JSONEachRow' })
      const r = await rs.json<{ id: string; tenant: string; days: number; part: string }>()
      return r.length === 4 ? r : undefined
    })
    expect(rows.map((r) => [r.id, r.tenant, r.days])).toEqual([
      ['r-0', 'brief', 2],
      ['r-1', 'ample', 400],
      ['r-2', 'other', 45],
      ['r-3', 'brief', 2],
    ])
    // Same day, three retentions: three partitions.
    expect(new Set(rows.map((r) => r.part)).size).toBe(3)
  })
})
