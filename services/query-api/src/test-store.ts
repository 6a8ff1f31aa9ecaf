// What the query API's integration tests run against: embedded ClickHouse in a temporary data
// directory, with Sluice's schema migrated into one database.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClickHouse, migrate } from '@sluice/clickhouse'
import type { ClickHouseHandle } from '@sluice/clickhouse'

const SCHEMAS_DIR = fileURLToPath(new URL('../../../schemas/clickhouse', import.meta.url))

export interface TestStore {
  ch: ClickHouseHandle
  /** Closes the client and removes the data directory. */
  close(): Promise<void>
}

/** A fresh store named `name` (its directory's prefix) with the schema in `database`. */
export async function openTestStore(name: string, database: string): Promise<TestStore> {
  const dataDir = mkdtempSync(path.join(tmpdir(), `sluice-${name}-`))
  const ch = await createClickHouse({ dataDir })
  await migrate(ch.client, { database, ttlDays: 30, dir: SCHEMAS_DIR })
  return {
    ch,
    async close() {
      await ch.client.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
