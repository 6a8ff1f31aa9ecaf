// Versioned migrations: schemas/clickhouse/NNNN_<name>.sql files applied in order, once each,
// recorded in <db>.schema_migrations. A file may hold several statements separated by `;` at a
// line end. `{database}` and `{ttl_days}` are substituted (validated identifiers and integers;
// ttl_days as RetentionDays holds it, see retentionDaysColumnValue). With a cluster name, every
// statement is rewritten for the cluster (cluster.ts): ON CLUSTER, Replicated local tables,
// Distributed tables under the original names.
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import type { ClickHouseSettings } from '@clickhouse/client'
import { SluiceError } from '@sluice/core'
import type { ClickHouseClient } from './client.js'
import { createClusterDdl, schemaMigrationsDdl } from './cluster.js'

/** The tables whose rows carry RetentionDays, each with the time column its TTL counts from. */
export const RETENTION_TABLES = [
  ['logs', 'TimestampTime'],
  ['error_events', 'TimestampTime'],
  ['patterns', 'Bucket'],
  ['volume', 'Minute'],
  ['label_values', 'Hour'],
  ['attribute_keys', 'Day'],
] as const

/** Retention days as the RetentionDays column (UInt16) holds them: whole days, 1 to 65535. */
export function retentionDaysColumnValue(days: number): number {
  return Math.min(65_535, Math.max(1, Math.trunc(days)))
}

export interface MigrationOptions {
  database: string
  ttlDays: number
  dir: string
  /** CLICKHOUSE_CLUSTER: the cluster (remote_servers) the schema is created on. */
  cluster?: string | undefined
}

export interface Migration {
  version: number
  name: string
  statements: string[]
}

export function loadMigrations(dir: string, vars: Record<string, string>): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const sql = readFileSync(path.join(dir, file), 'utf8')
        .replace(/^--.*$/gm, '')
        .replace(/\{(\w+)\}/g, (m, k: string) => vars[k] ?? m)
      return {
        version: Number(file.slice(0, 4)),
        name: file.replace(/\.sql$/, ''),
        statements: sql.split(/;\s*$/m).map((s) => s.trim()).filter(Boolean),
      }
    })
}

export interface Statement {
  query: string
  settings?: ClickHouseSettings
}

/** Every statement migrate() may run, in order: what `sluice clickhouse ddl` prints. */
export interface MigrationPlan {
  /** The database and schema_migrations, run on every start. */
  bootstrap: string[]
  migrations: Migration[]
  /** Run on every start after the migrations (see migrate()). */
  retention: Statement[]
}

export function migrationPlan(opts: MigrationOptions): MigrationPlan {
  const db = opts.database
  const vars = { database: db, ttl_days: String(retentionDaysColumnValue(opts.ttlDays)) }
  const migrations = loadMigrations(opts.dir, vars)
  // Retention: each row's RetentionDays (0011) decides when it expires; the sink writes it from the
  // tenant's settings. The default follows CLICKHOUSE_TTL_DAYS on every start, for rows written
  // without one. Metadata only: existing parts are neither rewritten nor re-evaluated.
  const retention: Statement[] = RETENTION_TABLES.flatMap(([table, column]) => [
    { query: `ALTER TABLE ${db}.${table} MODIFY COLUMN RetentionDays DEFAULT ${vars.ttl_days}` },
    { query: `ALTER TABLE ${db}.${table} MODIFY TTL ${column} + toIntervalDay(RetentionDays)`, settings: { materialize_ttl_after_modify: 0 } },
  ])
  const bootstrap = [`CREATE DATABASE IF NOT EXISTS ${db}`, schemaMigrationsDdl(db, opts.cluster)]
  if (opts.cluster === undefined) return { bootstrap, migrations, retention }
  // Every migration is rewritten, applied or not: the rewrite of one depends on the tables the
  // earlier ones created. (Settings of an ON CLUSTER statement travel with it to every host.)
  const ddl = createClusterDdl({ cluster: opts.cluster, database: db })
  return {
    bootstrap: [...ddl.transform(bootstrap[0]!), bootstrap[1]!],
    migrations: migrations.map((m) => ({ ...m, statements: m.statements.flatMap((s) => ddl.transform(s)) })),
    retention: retention.flatMap((s) => ddl.transform(s.query).map((query) => ({ ...s, query }))),
  }
}

/** The oldest ClickHouse the schema runs on: text indexes (0014) are generally available from 26.2. */
export const MIN_CLICKHOUSE_VERSION = '26.2'

/** Whether `version`, as version() answers it ("26.7.2.1"), is `min` ("26.2") or newer. */
export function versionAtLeast(version: string, min: string): boolean {
  const have = version.split('.').map(Number)
  const want = min.split('.').map(Number)
  for (const [i, w] of want.entries()) {
    const h = have[i] ?? 0
    if (h !== w) return h > w
  }
  return true
}

async function serverVersion(client: ClickHouseClient): Promise<string> {
  const rs = await client.query({ query: 'SELECT version() AS version', format: 'JSONEachRow' })
  const [row] = await rs.json<{ version: string }>()
  return row?.version ?? ''
}

/** Applies pending migrations; returns the names applied. */
export async function migrate(client: ClickHouseClient, opts: MigrationOptions): Promise<string[]> {
  const db = opts.database
  const plan = migrationPlan(opts) // a statement with no cluster form fails here, not retried
  try {
    const version = await serverVersion(client)
    if (!versionAtLeast(version, MIN_CLICKHOUSE_VERSION)) {
      throw new SluiceError('MIGRATION_FAILED', `ClickHouse ${version} is older than ${MIN_CLICKHOUSE_VERSION}, the oldest release Sluice's schema runs on (the body's text index); upgrade the server`)
    }
    for (const query of plan.bootstrap) await client.command({ query })
    const rs = await client.query({ query: `SELECT version FROM ${db}.schema_migrations`, format: 'JSONEachRow' })
    const applied = new Set((await rs.json<{ version: number }>()).map((r) => Number(r.version)))
    const done: string[] = []
    for (const m of plan.migrations) {
      if (applied.has(m.version)) continue
      for (const query of m.statements) await client.command({ query })
      await client.insert({ table: `${db}.schema_migrations`, values: [{ version: m.version, name: m.name }], format: 'JSONEachRow' })
      done.push(m.name)
    }
    for (const { query, settings } of plan.retention) await client.command({ query, ...(settings && { clickhouse_settings: settings }) })
    return done
  } catch (err) {
    if (err instanceof SluiceError && err.code === 'MIGRATION_FAILED') throw err
    throw new SluiceError('MIGRATION_FAILED', `ClickHouse migration failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err, canRetry: true })
  }
}
