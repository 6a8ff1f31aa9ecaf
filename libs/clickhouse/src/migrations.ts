// Versioned migrations: schemas/clickhouse/NNNN_<name>.sql files applied in order, once each,
// recorded in <db>.schema_migrations. A file may hold several statements separated by `;` at a
// line end. `{database}` and `{ttl_days}` are substituted (validated identifiers and integers;
// ttl_days as RetentionDays holds it, see retentionDaysColumnValue).
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { SluiceError } from '@sluice/core'
import type { ClickHouseClient } from './client.js'

/** The tables whose rows carry RetentionDays, each with the time column its TTL counts from. */
export const RETENTION_TABLES = [
  ['logs', 'TimestampTime'],
  ['error_events', 'TimestampTime'],
  ['patterns', 'Bucket'],
  ['volume', 'Minute'],
  ['label_values', 'Hour'],
] as const

/** Retention days as the RetentionDays column (UInt16) holds them: whole days, 1 to 65535. */
export function retentionDaysColumnValue(days: number): number {
  return Math.min(65_535, Math.max(1, Math.trunc(days)))
}

export interface MigrationOptions {
  database: string
  ttlDays: number
  dir: string
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

/** Applies pending migrations; returns the names applied. */
export async function migrate(client: ClickHouseClient, opts: MigrationOptions): Promise<string[]> {
  const db = opts.database
  const vars = { database: db, ttl_days: String(retentionDaysColumnValue(opts.ttlDays)) }
  try {
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` })
    await client.command({
      query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (version UInt32, name String, applied_at DateTime64(3) DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version`,
    })
    const rs = await client.query({ query: `SELECT version FROM ${db}.schema_migrations`, format: 'JSONEachRow' })
    const applied = new Set((await rs.json<{ version: number }>()).map((r) => Number(r.version)))
    const done: string[] = []
    for (const m of loadMigrations(opts.dir, vars)) {
      if (applied.has(m.version)) continue
      for (const query of m.statements) await client.command({ query })
      await client.insert({ table: `${db}.schema_migrations`, values: [{ version: m.version, name: m.name }], format: 'JSONEachRow' })
      done.push(m.name)
    }
    // Retention: each row's RetentionDays (0011) decides when it expires; the sink writes it from the
    // tenant's settings. The default follows CLICKHOUSE_TTL_DAYS on every start, for rows written
    // without one. Metadata only: existing parts are neither rewritten nor re-evaluated.
    for (const [table, column] of RETENTION_TABLES) {
      await client.command({ query: `ALTER TABLE ${db}.${table} MODIFY COLUMN RetentionDays DEFAULT ${vars.ttl_days}` })
      await client.command({
        query: `ALTER TABLE ${db}.${table} MODIFY TTL ${column} + toIntervalDay(RetentionDays)`,
        clickhouse_settings: { materialize_ttl_after_modify: 0 },
      })
    }
    return done
  } catch (err) {
    throw new SluiceError('MIGRATION_FAILED', `ClickHouse migration failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err, canRetry: true })
  }
}
