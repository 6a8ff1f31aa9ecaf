// label_values_mv as 0015 left it: the same rows as the view's definition of 0011 (kept below as a
// plain SELECT over logs), on resource attributes that exercise every part of it: service.name
// left out, empty values left out, names sanitised per character (two raw names that sanitise alike count as
// one), several tenants, hours and retentions, and counts that add up across inserts.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { schemasDir } from '@sluice/registry'
import { createClickHouse } from './client.js'
import type { ClickHouseHandle } from './client.js'
import { migrate } from './migrations.js'

const DB = 'label_values_test'
let dataDir: string
let ch: ClickHouseHandle

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-label-values-test-'))
  ch = await createClickHouse({ dataDir })
  await migrate(ch.client, { database: DB, ttlDays: 30, dir: path.join(schemasDir(), 'clickhouse') })
})

afterAll(async () => {
  await ch?.client.close()
  rmSync(dataDir, { recursive: true, force: true })
})

/** The view's query of migration 0011, evaluated over everything in logs. */
const DEFINITION_0011 = `
SELECT tenant, kv.1 AS Name, kv.2 AS Value, toStartOfHour(Timestamp) AS Hour, RetentionDays, count() AS Count
FROM ${DB}.logs
ARRAY JOIN arrayConcat(
    [('service_name', toString(ServiceName)), ('level', lower(SeverityText)), ('host', toString(HostName))],
    arrayMap(k -> (replaceRegexpAll(k, '[^a-zA-Z0-9_]', '_'), ResourceAttributes[k]), arrayFilter(k -> k != 'service.name', mapKeys(ResourceAttributes)))
) AS kv
WHERE kv.2 != ''
GROUP BY tenant, Name, Value, Hour, RetentionDays`

const RESOURCES: Array<Record<string, string>> = [
  {},
  { 'service.name': 'checkout', 'k8s.pod.name': 'pod-1', 'k8s.namespace.name': 'shop' },
  { 'service.name': 'checkout', 'k8s.pod.name': 'pod-2', 'deployment.environment': '' },
  { 'k8s_pod.name': 'pod-1', 'k8s.pod.name': 'pod-1', 'cloud.région': 'eu' },
  { 'host.arch': 'amd64', 'os-type': 'linux', 'a b': 'c d' },
]

async function insert(rows: number, offset: number): Promise<void> {
  const hour = 3_600_000
  // The last four whole hours: label_values drops rows past their retention as it writes them
  // (TTL Hour + RetentionDays), so fixed dates expire (hours of 2026-11-30 with 7 days did on 2026-12-07).
  const base = (Math.floor(Date.now() / hour) - 4) * hour
  const values = Array.from({ length: rows }, (_, i) => {
    const n = offset + i
    return {
      id: `r${n}`,
      tenant: n % 3 === 0 ? 'acme' : 'default',
      Timestamp: new Date(base + (n % 4) * hour + n).toISOString(),
      ServiceName: ['checkout', 'billing', ''][n % 3],
      HostName: n % 5 === 0 ? '' : `host-${n % 2}`,
      SeverityText: ['INFO', 'Warn', 'ERROR'][n % 3],
      ResourceAttributes: RESOURCES[n % RESOURCES.length],
      RetentionDays: n % 7 === 0 ? 7 : 30,
      Body: `line ${n}`,
    }
  })
  await ch.client.insert({ table: `${DB}.logs`, values, format: 'JSONEachRow', clickhouse_settings: { date_time_input_format: 'best_effort' } })
}

async function rows(query: string): Promise<string[]> {
  const rs = await ch.client.query({ query: `SELECT tenant, Name, Value, Hour, RetentionDays, toString(sum(Count)) AS n FROM (${query}) GROUP BY ALL ORDER BY ALL`, format: 'JSONEachRow' })
  return (await rs.json<Record<string, unknown>>()).map((r) => JSON.stringify(r))
}

it('holds the rows the 0011 definition gives, summed over inserts', async () => {
  await insert(700, 0)
  await insert(300, 700)
  const fromView = await rows(`SELECT * FROM ${DB}.label_values`)
  expect(fromView).toEqual(await rows(DEFINITION_0011))
  // What the data holds, so an empty or one-sided answer cannot pass.
  const names = new Set(fromView.map((r) => (JSON.parse(r) as { Name: string }).Name))
  expect([...names].sort()).toEqual(['a_b', 'cloud_r_gion', 'host', 'host_arch', 'k8s_namespace_name', 'k8s_pod_name', 'level', 'os_type', 'service_name'])
  const pod1 = fromView.map((r) => JSON.parse(r) as { Name: string; Value: string; n: string }).filter((r) => r.Name === 'k8s_pod_name' && r.Value === 'pod-1')
  // Records of the fourth resource carry pod-1 under two raw names: both are counted.
  expect(pod1.reduce((s, r) => s + Number(r.n), 0)).toBe(200 + 2 * 200)
})
