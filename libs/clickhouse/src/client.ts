// ClickHouse client factory: a ClickHouse server over HTTP when a URL is configured, otherwise
// embedded ClickHouse (chdb) behind the same @clickhouse/client API — same code, same SQL.
// chdb binds one data directory per process, so every service of a process shares this client.
import { createClient } from '@clickhouse/client'
import type { ClickHouseClient } from '@clickhouse/client'
import type { ChdbConnection } from 'chdb/connection'
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
    connection: oneAtATime(createChdbConnection({ path: dataDir })),
    clickhouse_settings: { date_time_output_format: 'iso' },
  } as Parameters<typeof createClient>[0])
  return { client, mode: 'embedded', location: dataDir }
}

/** The statements of chdb's Connection (what @clickhouse/client calls on it). */
const STATEMENTS = ['query', 'exec', 'command', 'insert', 'ping'] as const

/**
 * chdb (3.4.0) keeps what a statement wrote before it failed — a JSON header, rows — in its
 * session's output, and the next statement's answer starts with it: the client then misreads
 * that answer (a JSON parse error) or, in a row format, hands over the failed statement's rows
 * as its own, whoever asked. The engine runs one statement of a session at a time anyway; here
 * they are also issued one at a time, and after a failure (an error, a timeout, a refused row, an
 * aborted request) a throwaway SELECT takes what was left before the next statement is issued.
 * An aborted statement still runs to its end in the engine: the SELECT queues behind it there.
 */
export function oneAtATime(connection: ChdbConnection): ChdbConnection {
  let last: Promise<unknown> = Promise.resolve()
  const drain = async () => {
    try {
      const r = await connection.query({ query: 'SELECT 1', format: 'CSV' } as Parameters<ChdbConnection['query']>[0])
      for await (const _ of r.stream) {
        // read and dropped
      }
    } catch {
      // nothing was left, or the session is closing
    }
  }
  const issued = <A extends unknown[], R>(statement: (...args: A) => Promise<R>) => (...args: A): Promise<R> => {
    const run = last.then(async () => {
      try {
        return await statement(...args)
      } catch (err) {
        await drain()
        throw err
      }
    })
    last = run.catch(() => undefined)
    return run
  }
  const statements = new Map<PropertyKey, unknown>(STATEMENTS.map((name) => [name, issued((connection[name] as (...args: unknown[]) => Promise<unknown>).bind(connection))]))
  // Everything else (close, the engine's facts, chdb's own calls) is the connection's, on the
  // connection itself: its methods read private fields.
  return new Proxy(connection, {
    get(target, name) {
      if (statements.has(name)) return statements.get(name)
      const value: unknown = Reflect.get(target, name, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}

/** Readiness probe: ClickHouse answers a trivial query. */
export async function pingClickHouse(client: ClickHouseClient): Promise<void> {
  const r = await client.ping()
  if (!r.success) throw r.error
}
