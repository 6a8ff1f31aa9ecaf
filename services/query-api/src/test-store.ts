// What the query API's integration tests run against: embedded ClickHouse in a temporary data
// directory, with Sluice's schema migrated into one database, and the query API over it.
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClickHouse, migrate } from '@sluice/clickhouse'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { createLogger, createRegistry } from '@sluice/observability'
import type { FastifyInstance } from 'fastify'
import { loadConfig } from './config.js'
import { buildApp } from './service.js'

const SCHEMAS_DIR = fileURLToPath(new URL('../../../schemas/clickhouse', import.meta.url))

export interface TestStore {
  ch: ClickHouseHandle
  /** Closes the client and removes the data directory. */
  close(): Promise<void>
}

/** A fresh store named `name` (its directory's prefix) with the schema in `database` (none without one). */
export async function openTestStore(name: string, database?: string): Promise<TestStore> {
  const dataDir = mkdtempSync(path.join(tmpdir(), `sluice-${name}-`))
  const ch = await createClickHouse({ dataDir })
  if (database !== undefined) await migrate(ch.client, { database, ttlDays: 30, dir: SCHEMAS_DIR })
  return {
    ch,
    async close() {
      await ch.client.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** The query API over `database` of `ch` (`env`: more settings), silent, listening on an OS-chosen port of 127.0.0.1. */
export async function listenQueryApi(ch: ClickHouseHandle, database: string, env: Record<string, string> = {}): Promise<{ app: FastifyInstance; baseUrl: string }> {
  const app = buildApp(loadConfig({ ...env, CLICKHOUSE_DATABASE: database }), {
    logger: createLogger({ level: 'silent' }),
    registry: createRegistry({ defaultMetrics: false }),
    checks: {},
    clickhouse: ch.client,
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, baseUrl: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

/** A test store with `rows` in `database`.logs and the query API over it. */
export interface ServedLogs {
  ch: ClickHouseHandle
  baseUrl: string
  /** Closes the query API, then the store. */
  close(): Promise<void>
}

/** openTestStore, `rows` inserted into `database`.logs, and listenQueryApi over them. */
export async function serveTestLogs(name: string, database: string, rows: readonly object[]): Promise<ServedLogs> {
  const store = await openTestStore(name, database)
  await store.ch.client.insert({ table: `${database}.logs`, values: [...rows], format: 'JSONEachRow' })
  const { app, baseUrl } = await listenQueryApi(store.ch, database)
  return {
    ch: store.ch,
    baseUrl,
    async close() {
      await app.close()
      await store.close()
    },
  }
}
