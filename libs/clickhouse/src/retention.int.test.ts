// Per-tenant retention (schemas/clickhouse/0011): the migration keeps every row of logs and of the
// tables derived from it, the materialised views fire on inserts into the new logs, and TTL drops
// one tenant's expired parts whole while another tenant's rows of the same day stay.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { schemasDir } from '@sluice/registry'
import { createClickHouse } from './client.js'
import type { ClickHouseHandle } from './client.js'
import { RETENTION_TABLES, loadMigrations, migrate } from './migrations.js'

const DIR = path.join(schemasDir(), 'clickhouse')
let dataDir: string
let ch: ClickHouseHandle

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-retention-test-'))
  ch = await createClickHouse({ dataDir })
})

afterAll(async () => {
  await ch?.client.close()
  rmSync(dataDir, { recursive: true, force: true })
})

async function rows<T>(query: string): Promise<T[]> {
  const rs = await ch.client.query({ query, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })
  return rs.json<T>()
}

function newDatabase(): string {
  const db = `t_${randomBytes(4).toString('hex')}`
  onTestFinished(async () => {
    await ch.client.command({ query: `DROP DATABASE IF EXISTS ${db} SYNC` })
  })
  return db
}

/** A database as the release before 0011 left it: migrations up to `version` applied, recorded as migrate() records them. */
async function migratedUpTo(db: string, version: number, ttlDays: number): Promise<void> {
  await ch.client.command({ query: `CREATE DATABASE ${db}` })
  await ch.client.command({ query: `CREATE TABLE ${db}.schema_migrations (version UInt32, name String, applied_at DateTime64(3) DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version` })
  for (const m of loadMigrations(DIR, { database: db, ttl_days: String(ttlDays) })) {
    if (m.version > version) break
    for (const query of m.statements) await ch.client.command({ query })
    await ch.client.insert({ table: `${db}.schema_migrations`, values: [{ version: m.version, name: m.name }], format: 'JSONEachRow' })
  }
}

const DAY_NS = 86_400_000_000_000n
const nowNs = () => BigInt(Date.now()) * 1_000_000n

interface Seed {
  id: string
  tenant: string
  ageDays?: number
  retention?: number
  errorCode?: string
}

/** Rows of logs with what every derived table reads: a pattern, an error code, a resource attribute, an alias. */
async function insertLogs(db: string, seeds: Seed[]): Promise<void> {
  const values = seeds.map((s) => ({
    id: s.id,
    tenant: s.tenant,
    Timestamp: String(nowNs() - BigInt(s.ageDays ?? 0) * DAY_NS),
    ObservedTimestamp: String(nowNs()),
    ServiceName: 'checkout',
    HostName: 'h1',
    SeverityText: 'ERROR',
    SeverityNumber: 17,
    Body: `body of ${s.id}`,
    TraceId: '',
    SpanId: '',
    LogAttributes: { user_id: 'u1' },
    ResourceAttributes: { 'k8s.pod.name': 'pod-1' },
    Source: 'http',
    PatternId: 'p1',
    ErrorCode: s.errorCode ?? 'E1',
    UserId: 'u1',
    PatternAliases: ['old-p'],
    ...(s.retention !== undefined && { RetentionDays: s.retention }),
  }))
  await ch.client.insert({ table: `${db}.logs`, values, format: 'JSONEachRow' })
}

/** What each table holds, as the read paths sum it. */
async function contents(db: string) {
  const one = async (q: string) => (await rows<Record<string, unknown>>(q)).map((r) => JSON.stringify(r)).sort()
  return {
    logs: await one(`SELECT id, tenant, Body, toString(Timestamp) AS t FROM ${db}.logs FINAL`),
    errorEvents: await one(`SELECT id, tenant, ErrorCode FROM ${db}.error_events FINAL`),
    volume: await one(`SELECT tenant, ServiceName, Level, Minute, sum(Count) AS c, sum(Bytes) AS b FROM ${db}.volume GROUP BY tenant, ServiceName, Level, Minute`),
    labels: await one(`SELECT tenant, Name, Value, Hour, sum(Count) AS c FROM ${db}.label_values GROUP BY tenant, Name, Value, Hour`),
    patterns: await one(`SELECT tenant, PatternId, Bucket, countMerge(Count) AS c, anyMerge(Sample) AS s FROM ${db}.patterns GROUP BY tenant, PatternId, Bucket`),
    aliases: await one(`SELECT tenant, Alias, PatternId FROM ${db}.pattern_aliases FINAL`),
  }
}

describe('per-tenant retention', () => {
  it('0011 keeps every row of logs and of the tables derived from it, and the views fire on inserts into the new logs', async () => {
    const db = newDatabase()
    await migratedUpTo(db, 10, 45)
    await insertLogs(db, [
      { id: 'a1', tenant: 'acme' },
      { id: 'a2', tenant: 'acme', ageDays: 2 },
      { id: 'b1', tenant: 'beta', errorCode: 'E2' },
    ])
    const before = await contents(db)
    expect(before.logs).toHaveLength(3)

    expect(await migrate(ch.client, { database: db, ttlDays: 45, dir: DIR })).toContain('0011_tenant_retention')
    expect(await contents(db)).toEqual(before)
    // Rows stored before get the retention configured when the migration ran.
    for (const [table] of RETENTION_TABLES) {
      expect(await rows(`SELECT DISTINCT RetentionDays AS d FROM ${db}.${table}`), table).toEqual([{ d: 45 }])
    }
    const keys = await rows<{ name: string; partition_key: string }>(`SELECT name, partition_key FROM system.tables WHERE database = '${db}' AND name IN ('logs', 'error_events', 'volume', 'label_values', 'patterns', 'attribute_keys') ORDER BY name`)
    for (const k of keys) expect(k.partition_key, k.name).toMatch(/, RetentionDays\)$/)
    expect(await rows(`SELECT name FROM system.tables WHERE database = '${db}' AND name LIKE '%_0011'`)).toEqual([])

    // Inserts into the new logs reach every derived table, with the row's RetentionDays.
    await insertLogs(db, [{ id: 'n1', tenant: 'new', retention: 7 }])
    const derived = await Promise.all(
      ['error_events', 'volume', 'label_values', 'patterns', 'attribute_keys'].map(async (t) => [t, await rows(`SELECT DISTINCT RetentionDays AS d FROM ${db}.${t} WHERE tenant = 'new'`)]),
    )
    expect(Object.fromEntries(derived)).toEqual({ error_events: [{ d: 7 }], volume: [{ d: 7 }], label_values: [{ d: 7 }], patterns: [{ d: 7 }], attribute_keys: [{ d: 7 }] })
    expect(await rows(`SELECT Alias FROM ${db}.pattern_aliases WHERE tenant = 'new'`)).toEqual([{ Alias: 'old-p' }])
    const after = await contents(db)
    expect(after.volume.filter((r) => r.includes('"new"'))).toEqual([expect.stringContaining('"c":1')])

    // A restart with another CLICKHOUSE_TTL_DAYS: the default of rows written without one follows it.
    expect(await migrate(ch.client, { database: db, ttlDays: 90, dir: DIR })).toEqual([])
    await insertLogs(db, [{ id: 'd1', tenant: 'defaulted' }])
    expect(await rows(`SELECT RetentionDays AS d FROM ${db}.logs WHERE id = 'd1'`)).toEqual([{ d: 90 }])
    expect(await rows(`SELECT RetentionDays AS d FROM ${db}.volume WHERE tenant = 'defaulted'`)).toEqual([{ d: 90 }])
  })

  it("drops one tenant's expired parts whole and keeps another tenant's rows of the same day", async () => {
    const db = newDatabase()
    await migrate(ch.client, { database: db, ttlDays: 30, dir: DIR })
    // TTL merges held back until the parts are inspected: ClickHouse would otherwise drop A's
    // expired parts as soon as they are written.
    for (const t of ['logs', 'error_events', 'volume']) await ch.client.command({ query: `SYSTEM STOP TTL MERGES ${db}.${t}` })
    // Two inserts per tenant: two parts each in the 3-day-old partitions.
    await insertLogs(db, [{ id: 'a-old-1', tenant: 'a', ageDays: 3, retention: 1 }])
    await insertLogs(db, [{ id: 'a-old-2', tenant: 'a', ageDays: 3, retention: 1 }])
    await insertLogs(db, [{ id: 'b-old-1', tenant: 'b', ageDays: 3, retention: 30 }])
    await insertLogs(db, [{ id: 'b-old-2', tenant: 'b', ageDays: 3, retention: 30 }])
    await insertLogs(db, [{ id: 'a-new', tenant: 'a', ageDays: 0, retention: 1 }])

    interface Part {
      partition_id: string
      name: string
      rows: number
    }
    const parts = (table: string) => rows<Part>(`SELECT partition_id, name, toUInt32(rows) AS rows FROM system.parts WHERE database = '${db}' AND table = '${table}' AND active ORDER BY name`)
    const [expired] = await rows<{ p: string }>(`SELECT DISTINCT _partition_id AS p FROM ${db}.logs WHERE id LIKE 'a-old-%'`)
    const aOld = (p: Part) => p.partition_id === expired!.p
    const before = await parts('logs')
    expect(before.filter(aOld).map((p) => p.rows)).toEqual([1, 1])
    const kept = before.filter((p) => !aOld(p))
    expect(kept.map((p) => p.rows)).toEqual([1, 1, 1])

    for (const t of ['logs', 'error_events', 'volume']) await ch.client.command({ query: `SYSTEM START TTL MERGES ${db}.${t}` })
    // ClickHouse's background TTL merges drop the expired parts whole: no rows of A's old
    // partition remain in an active part, and every other part is the very part written (same
    // name: neither merged nor rewritten).
    const emptied = async () => {
      for (let i = 0; i < 600; i++) {
        const now = await parts('logs')
        if (now.filter(aOld).every((p) => p.rows === 0)) return now
        await new Promise((r) => setTimeout(r, 100))
      }
      throw new Error('the expired parts were not dropped')
    }
    const after = await emptied()
    expect(after.filter((p) => !aOld(p))).toEqual(kept)
    expect(await rows(`SELECT id FROM ${db}.logs ORDER BY id`)).toEqual([{ id: 'a-new' }, { id: 'b-old-1' }, { id: 'b-old-2' }])

    // The derived tables follow the same rule.
    await ch.client.command({ query: `OPTIMIZE TABLE ${db}.error_events FINAL` })
    await ch.client.command({ query: `OPTIMIZE TABLE ${db}.volume FINAL` })
    expect(await rows(`SELECT id FROM ${db}.error_events FINAL ORDER BY id`)).toEqual([{ id: 'a-new' }, { id: 'b-old-1' }, { id: 'b-old-2' }])
    expect(await rows(`SELECT tenant, sum(Count) AS c FROM ${db}.volume GROUP BY tenant ORDER BY tenant`)).toEqual([
      { tenant: 'a', c: 1 },
      { tenant: 'b', c: 2 },
    ])
  })
})
