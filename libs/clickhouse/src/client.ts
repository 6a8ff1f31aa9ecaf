// ClickHouse client factory: a ClickHouse server over HTTP when a URL is configured, otherwise
// embedded ClickHouse (chdb) behind the same @clickhouse/client API — same code, same SQL.
// chdb binds one data directory per process, so every service of a process shares this client.
import { createClient } from '@clickhouse/client'
import type { ClickHouseClient } from '@clickhouse/client'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { SluiceError } from '@sluice/core'

export type { ClickHouseClient }

export interface ClickHouseOptions {
  url?: string | undefined
  username?: string
  password?: string
  dataDir: string
  requestTimeoutMs?: number
  /** CLICKHOUSE_CLUSTER (cluster.ts): a server's cluster; needs `url`. */
  cluster?: string | undefined
}

export interface ClickHouseHandle {
  client: ClickHouseClient
  mode: 'server' | 'embedded'
  /** Where the data is: the server URL, or the embedded data directory (absolute). */
  location: string
}

export async function createClickHouse(opts: ClickHouseOptions): Promise<ClickHouseHandle> {
  if (opts.url) {
    const client = createClient({
      url: opts.url,
      username: opts.username ?? 'default',
      password: opts.password ?? '',
      request_timeout: opts.requestTimeoutMs ?? 60_000,
      // A cluster's inserts go through Distributed tables, which by default queue rows on the
      // receiving node's disk and answer at once: the sink would commit Kafka offsets for rows no
      // shard holds yet. In the foreground, the insert answers once every row is on its shard.
      clickhouse_settings: { date_time_output_format: 'iso', ...(opts.cluster !== undefined && { distributed_foreground_insert: 1 }) },
    })
    return { client, mode: 'server', location: opts.url }
  }
  if (opts.cluster !== undefined) {
    throw new SluiceError('CONFIG_INVALID', `CLICKHOUSE_CLUSTER=${opts.cluster} needs CLICKHOUSE_URL: embedded ClickHouse is one node, with no cluster`)
  }
  const dataDir = path.resolve(opts.dataDir)
  // RowBinary inserts (insert.ts) hand ClickHouse's file() a path inside the data directory, and
  // file() reads `*`, `?` and `{` as globs with no way to escape them: refuse such a directory at
  // boot rather than fail (or read the wrong files) at the first insert.
  if (/[*?{]/.test(dataDir)) {
    throw new SluiceError('CONFIG_INVALID', `ClickHouse data directory ${dataDir} contains *, ? or {, which ClickHouse's file() reads as a glob`)
  }
  mkdirSync(dataDir, { recursive: true })
  // Loaded lazily: servers deployments never load the native library.
  const { createChdbConnection } = await import('chdb/connection')
  const client = createClient({
    connection: createChdbConnection({ path: dataDir }),
    clickhouse_settings: { date_time_output_format: 'iso' },
  } as Parameters<typeof createClient>[0])
  return { client, mode: 'embedded', location: dataDir }
}

/** Readiness probe: ClickHouse answers a trivial query. */
export async function pingClickHouse(client: ClickHouseClient): Promise<void> {
  const r = await client.ping()
  if (!r.success) throw r.error
}
