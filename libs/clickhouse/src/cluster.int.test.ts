// Cluster mode (cluster.ts) against embedded ClickHouse. No ClickHouse server or Keeper runs here,
// so ON CLUSTER (a Keeper-backed DDL queue) and Replicated engines cannot execute. What can be
// checked is checked:
//   1. ClickHouse's own parser reads every statement of the cluster DDL of every migration file
//      (formatQuery), and the statements have the shape cluster mode promises.
//   2. The same DDL, with ON CLUSTER removed and Replicated<X>('path', 'replica', args) turned into
//      <X>(args), builds a working schema on a one-shard cluster: this engine, started with a
//      remote_servers config naming itself, creates the Distributed tables, inserts through them
//      reach the local tables, the materialised views fill the local targets, reads through the
//      Distributed tables see it all, and the deletion mutations (clusterTarget) remove a tenant's rows.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Session } from 'chdb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { schemasDir } from '@sluice/registry'
import { createClickHouse } from './client.js'
import type { ClickHouseHandle } from './client.js'
import { LOCAL_SUFFIX, SHARDING_KEYS, clusterTarget } from './cluster.js'
import { loadMigrations, migrationPlan } from './migrations.js'

const DIR = path.join(schemasDir(), 'clickhouse')
const CLUSTER = 'sluice_test'
const DB = 'sluice_cluster_test'
const plan = migrationPlan({ database: DB, ttlDays: 30, dir: DIR, cluster: CLUSTER })
const everyStatement = [...plan.bootstrap, ...plan.migrations.flatMap((m) => m.statements), ...plan.retention.map((s) => s.query)]

let tmp: string
let session: Session
let ch: ClickHouseHandle

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'sluice-cluster-test-'))
  // One shard, one replica: this engine itself (a local address on tcp_port: the Distributed engine
  // runs such a shard in process, no network). The config must be given when the engine starts,
  // so a chdb session opens the data directory with it before createClickHouse shares it.
  const config = path.join(tmp, 'cluster.xml')
  writeFileSync(
    config,
    `<clickhouse><tcp_port>9000</tcp_port><remote_servers><${CLUSTER}><shard><internal_replication>true</internal_replication>` +
      `<replica><host>localhost</host><port>9000</port></replica></shard></${CLUSTER}></remote_servers></clickhouse>`,
  )
  session = new Session(path.join(tmp, 'data'), { connectionArgs: [`--config-file=${config}`] })
  ch = await createClickHouse({ dataDir: path.join(tmp, 'data') })
})

afterAll(async () => {
  await ch?.client.close()
  session?.close()
  rmSync(tmp, { recursive: true, force: true })
})

async function rows<T>(query: string, params?: Record<string, unknown>): Promise<T[]> {
  const rs = await ch.client.query({ query, query_params: params, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })
  return rs.json<T>()
}

const canonical = async (q: string) => (await rows<{ f: string }>('SELECT formatQuery({q:String}) AS f', { q }))[0]!.f

/** The cluster DDL as one node without Keeper can run it: no ON CLUSTER, no replication. */
const singleNode = (q: string) =>
  q.replaceAll(` ON CLUSTER ${CLUSTER}`, '').replace(/\bReplicated(\w*MergeTree)\('\/clickhouse\/tables\/[^']*', '[^']*'(?:, )?/g, '$1(')

describe('cluster DDL of every migration', () => {
  it('covers every migration file', () => {
    expect(plan.migrations.map((m) => m.name)).toEqual(loadMigrations(DIR, { database: DB, ttl_days: '30' }).map((m) => m.name))
    expect(plan.migrations.length).toBeGreaterThanOrEqual(13)
  })

  it("is read by ClickHouse's parser, statement by statement, with every DDL ON CLUSTER", async () => {
    for (const statement of everyStatement) {
      const text = await canonical(statement) // throws on a syntax error, naming the statement
      if (/^INSERT/.test(text)) expect(text).toContain('distributed_foreground_insert = 1')
      else expect(text, text).toContain(`ON CLUSTER ${CLUSTER}`)
    }
  })

  it('creates every MergeTree table as a Replicated local table with a Distributed twin under the original name, sharded by its key', async () => {
    const creates = await Promise.all(everyStatement.filter((s) => /^CREATE TABLE/.test(s)).map(canonical))
    const engines = new Map<string, string>()
    for (const c of creates) {
      const m = /^CREATE TABLE (?:IF NOT EXISTS )?(\S+) ON CLUSTER \S+[\s\S]*?ENGINE = (\w+)\(([\s\S]*)\)/.exec(c)
      expect(m, c).not.toBeNull()
      engines.set(m![1]!, `${m![2]}(${m![3]})`)
    }
    const locals = [...engines.keys()].filter((t) => t.endsWith(LOCAL_SUFFIX))
    expect(locals.length).toBeGreaterThanOrEqual(Object.keys(SHARDING_KEYS).length)
    for (const [table, engine] of engines) {
      if (table === `${DB}.schema_migrations`) {
        expect(engine).toMatch(/^ReplicatedMergeTree\('\/clickhouse\/tables\/\{uuid\}\/all', '\{shard\}-\{replica\}'\)/)
      } else if (table.endsWith(LOCAL_SUFFIX)) {
        expect(engine, table).toMatch(/^Replicated\w*MergeTree\('\/clickhouse\/tables\/\{uuid\}\/\{shard\}', '\{replica\}'/)
        const twin = engines.get(table.slice(0, -LOCAL_SUFFIX.length))
        expect(twin, `Distributed twin of ${table}`).toMatch(new RegExp(`^Distributed\\('${CLUSTER}', '${DB}', '${table.split('.')[1]}', cityHash64\\(`))
      } else {
        expect(engine, table).toMatch(/^Distributed\(/)
      }
    }
    // The key of each table of the migrations, as SHARDING_KEYS says.
    for (const [t, key] of Object.entries(SHARDING_KEYS)) expect(engines.get(`${DB}.${t}`)).toBe(`Distributed('${CLUSTER}', '${DB}', '${t}_local', ${key})`)
  })

  it('has every materialised view read and write local tables', async () => {
    const views = await Promise.all(everyStatement.filter((s) => /^CREATE MATERIALIZED VIEW/.test(s)).map(canonical))
    expect(views.length).toBeGreaterThanOrEqual(10) // five in 0004/0005/0007, again in 0011
    for (const v of views) {
      expect(v).toMatch(new RegExp(`TO ${DB}\\.\\w+_local\\n`))
      const sources = [...v.matchAll(new RegExp(`FROM ${DB}\\.(\\w+)`, 'g'))].map((m) => m[1])
      expect(sources.length, v).toBeGreaterThan(0)
      for (const s of sources) expect(s, v).toMatch(/_local$/)
    }
  })

  it('sends every ALTER of the stored rows to the local tables, and column changes to the Distributed table too', async () => {
    const alters = await Promise.all(everyStatement.filter((s) => /^ALTER/.test(s)).map(canonical))
    for (const a of alters) {
      const [, table] = /^ALTER TABLE (\S+)/.exec(a)!
      if (/\(MODIFY QUERY/.test(a)) {
        // A view's new query (each host's view reads its local table, as when it was created).
        expect(a).toMatch(new RegExp(`FROM ${DB}\\.logs${LOCAL_SUFFIX}\\b`))
        expect(a).not.toMatch(new RegExp(`FROM ${DB}\\.logs\\b(?!${LOCAL_SUFFIX})`))
      } else if (!table!.endsWith(LOCAL_SUFFIX)) expect(a, 'only column changes reach a Distributed table').toMatch(/\((ADD|MODIFY) COLUMN/)
    }
    const retention = plan.retention.map((s) => s.query)
    expect(retention).toContain(`ALTER TABLE ${DB}.logs_local ON CLUSTER ${CLUSTER} MODIFY COLUMN RetentionDays DEFAULT 30`)
    expect(retention).toContain(`ALTER TABLE ${DB}.logs ON CLUSTER ${CLUSTER} MODIFY COLUMN RetentionDays DEFAULT 30`)
    expect(retention.filter((q) => q.includes('MODIFY TTL')).every((q) => q.includes(`${LOCAL_SUFFIX} ON CLUSTER`))).toBe(true)
  })
})

describe('the cluster schema on a one-shard cluster (ON CLUSTER and replication left out)', () => {
  const T = clusterTarget(DB, CLUSTER)
  const now = () => String(BigInt(Date.now()) * 1_000_000n)
  const log = (id: string, tenant: string, user: string) => ({
    id,
    tenant,
    Timestamp: now(),
    ObservedTimestamp: now(),
    ServiceName: 'checkout',
    HostName: 'h1',
    SeverityText: 'ERROR',
    SeverityNumber: 17,
    Body: `body of ${id}`,
    ResourceAttributes: { 'k8s.pod.name': 'pod-1' },
    PatternId: 'p1',
    PatternAliases: ['p0'],
    ErrorCode: 'E42',
    UserId: user,
  })

  beforeAll(async () => {
    // Twice: the retention statements run on every start, the rest is skipped as applied.
    for (const q of [...plan.bootstrap, ...plan.migrations.flatMap((m) => m.statements), ...plan.retention.map((s) => s.query)]) await ch.client.command({ query: singleNode(q) })
    for (const s of plan.retention) await ch.client.command({ query: singleNode(s.query), clickhouse_settings: s.settings })
  })

  it('creates the local tables, Distributed tables over them and views between local tables', async () => {
    const tables = await rows<{ name: string; engine: string; create: string }>(
      `SELECT name, engine, create_table_query AS create FROM system.tables WHERE database = {db:String} ORDER BY name`,
      { db: DB },
    )
    const byName = new Map(tables.map((t) => [t.name, t]))
    for (const t of Object.keys(SHARDING_KEYS)) {
      expect(byName.get(`${t}_local`)?.engine, t).toMatch(/MergeTree$/)
      expect(byName.get(t)?.engine, t).toBe('Distributed')
    }
    // 0011's copies are gone, with their Distributed tables.
    expect(tables.filter((t) => t.name.includes('0011'))).toEqual([])
    const views = tables.filter((t) => t.engine === 'MaterializedView')
    expect(views.map((v) => v.name).sort()).toEqual(['attribute_keys_mv', 'error_events_mv', 'label_values_mv', 'pattern_aliases_mv', 'patterns_mv', 'volume_mv'])
    for (const v of views) expect(v.create).toMatch(new RegExp(`TO ${DB}\\.\\w+_local[\\s\\S]*FROM ${DB}\\.logs_local`))
  })

  it('stores an insert into the Distributed logs in logs_local, with the Distributed default retention, and the views fill every derived table', async () => {
    await ch.client.insert({ table: `${DB}.logs`, values: [log('r1', 'a', 'u1'), log('r2', 'a', 'u2'), log('r3', 'b', 'u1')], format: 'JSONEachRow' })
    expect(await rows(`SELECT id, RetentionDays FROM ${DB}.logs_local ORDER BY id`)).toEqual([
      { id: 'r1', RetentionDays: 30 },
      { id: 'r2', RetentionDays: 30 },
      { id: 'r3', RetentionDays: 30 },
    ])
    expect(await rows(`SELECT count() AS n FROM ${DB}.logs FINAL WHERE tenant = 'a'`)).toEqual([{ n: 2 }])
    expect(await rows(`SELECT count() AS n FROM ${DB}.error_events WHERE ErrorCode = 'E42'`)).toEqual([{ n: 3 }])
    expect(await rows(`SELECT tenant, countMerge(Count) AS n FROM ${DB}.patterns GROUP BY tenant ORDER BY tenant`)).toEqual([
      { tenant: 'a', n: 2 },
      { tenant: 'b', n: 1 },
    ])
    expect(await rows(`SELECT sum(Count) AS n FROM ${DB}.volume`)).toEqual([{ n: 3 }])
    expect(await rows(`SELECT Value FROM ${DB}.label_values WHERE Name = 'k8s_pod_name' GROUP BY Value`)).toEqual([{ Value: 'pod-1' }])
    expect(await rows(`SELECT Kind, Key FROM ${DB}.attribute_keys WHERE Name = 'k8s_pod_name' GROUP BY ALL`)).toEqual([{ Kind: 'resource', Key: 'k8s.pod.name' }])
    expect(await rows(`SELECT DISTINCT PatternId FROM ${DB}.pattern_aliases WHERE Alias = 'p0'`)).toEqual([{ PatternId: 'p1' }])
  })

  it("deletes a tenant's user through the local tables, as query-api's deletions do in cluster mode", async () => {
    const where = `tenant = 'a' AND UserId = 'u1'`
    const settings = T.mutationSettings.replace(/, distributed_ddl_task_timeout = \d+/, '') // an ON CLUSTER setting
    await ch.client.command({ query: singleNode(`ALTER TABLE ${T.mutate('error_events')} DELETE WHERE tenant = 'a' AND id IN (SELECT id FROM ${T.local('logs')} WHERE ${where}) SETTINGS ${settings}`) })
    await ch.client.command({ query: singleNode(`ALTER TABLE ${T.mutate('logs')} DELETE WHERE ${where} SETTINGS ${settings}`) })
    expect(await rows(`SELECT id FROM ${DB}.logs ORDER BY id`)).toEqual([{ id: 'r2' }, { id: 'r3' }])
    expect(await rows(`SELECT id FROM ${DB}.error_events ORDER BY id`)).toEqual([{ id: 'r2' }, { id: 'r3' }])
  })
})
