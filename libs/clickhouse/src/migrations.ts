// Versioned migrations: schemas/clickhouse/NNNN_<name>.sql files applied in order, once each,
// recorded in <db>.schema_migrations. A file may hold several statements separated by `;` at a
// line end. `{database}` and `{ttl_days}` are substituted (validated identifiers and integers).
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { SluiceError } from '@sluice/core'
import type { ClickHouseClient } from './client.js'

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
  const vars = { database: db, ttl_days: String(Math.trunc(opts.ttlDays)) }
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
    // Retention follows configuration on every start; metadata only, existing parts are not rewritten.
    for (const [table, column] of [['logs', 'TimestampTime'], ['patterns', 'Bucket'], ['volume', 'Minute'], ['label_values', 'Hour'], ['error_events', 'TimestampTime']] as const) {
      await client.command({
        query: `ALTER TABLE ${db}.${table} MODIFY TTL ${column} + toIntervalDay(${vars.ttl_days})`,
        clickhouse_settings: { materialize_ttl_after_modify: 0 },
      })
    }
    return done
  } catch (err) {
    throw new SluiceError('MIGRATION_FAILED', `ClickHouse migration failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err, canRetry: true })
  }
}
