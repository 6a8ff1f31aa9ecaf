// ClickHouse client factory: a ClickHouse server over HTTP when a URL is configured, otherwise
// embedded ClickHouse (chdb) behind the same @clickhouse/client API — same code, same SQL.
// chdb binds one data directory per process, so every service of a process shares this client;
// its statements go to several engine sessions (sessionPool), which the engine runs at once.
import { createClient } from '@clickhouse/client'
import type { ClickHouseClient } from '@clickhouse/client'
import type { ChdbConnection } from 'chdb/connection'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { SluiceError } from '@sluice/core'
import { quoteString } from './sql-quote.js'

export type { ClickHouseClient }

export interface ClickHouseOptions {
  url?: string | undefined
  username?: string
  password?: string
  dataDir: string
  requestTimeoutMs?: number
  /** CLICKHOUSE_CLUSTER (cluster.ts): a server's cluster; needs `url`. */
  cluster?: string | undefined
  /** Embedded only (CLICKHOUSE_READ_SESSIONS, at least 1): the engine sessions reads spread over; inserts and commands have one each of their own. */
  readSessions?: number | undefined
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
  const session = () => oneAtATime(paramsInSession(createChdbConnection({ path: dataDir })))
  const client = createClient({
    connection: sessionPool({ inserts: session(), commands: session(), reads: Array.from({ length: opts.readSessions ?? DEFAULT_READ_SESSIONS }, session) }),
    clickhouse_settings: { date_time_output_format: 'iso' },
  } as Parameters<typeof createClient>[0])
  return { client, mode: 'embedded', location: dataDir }
}

/** The statements of chdb's Connection (what @clickhouse/client calls on it). */
const STATEMENTS = ['query', 'exec', 'command', 'insert', 'ping'] as const
type Statement = (typeof STATEMENTS)[number]

/**
 * `target` with the properties of `own` in place of its own of those names (getters read when
 * asked); its other methods bound to it, as they read its private fields.
 */
function overriding<T extends object>(target: T, own: object): T {
  return new Proxy(target, {
    get(t, name) {
      if (Object.hasOwn(own, name)) return Reflect.get(own, name)
      const value: unknown = Reflect.get(t, name, t)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(t) : value
    },
  })
}

/** CLICKHOUSE_READ_SESSIONS' default. */
export const DEFAULT_READ_SESSIONS = 3

/** A session's connection whose statements are issued one at a time (oneAtATime), and how many are issued and not done. */
export type SessionConnection = ChdbConnection & { readonly pending: number }

/**
 * One connection over several engine sessions of the data directory. The engine runs one
 * statement of a session at a time but the statements of different sessions at the same time, so
 * with one session a slow statement held up everything the process sent ClickHouse after it: the
 * sink's inserts, every other dashboard panel, the readiness probe. Here inserts (insert, exec: the
 * sink's rows, audit rows) and commands (command: DDL, mutations such as a deletion's, which waits
 * for them, small writes) each keep a session of their own, issued in order as before; reads
 * (query, ping) go to the least busy of the `reads` sessions. A session starts in the engine's
 * defaults, and the client sends its default settings with every statement (chdb's connection
 * prefixes them as SETs), so any session answers a statement alike.
 */
export function sessionPool(lanes: { inserts: SessionConnection; commands: SessionConnection; reads: readonly SessionConnection[] }): ChdbConnection {
  const { inserts, commands, reads } = lanes
  const leastBusy = () => reads.reduce((a, b) => (b.pending < a.pending ? b : a))
  const laneOf: Record<Statement, () => SessionConnection> = { query: leastBusy, ping: leastBusy, insert: () => inserts, exec: () => inserts, command: () => commands }
  const to = (name: Statement) => (...args: unknown[]) => (laneOf[name]()[name] as (...a: unknown[]) => Promise<unknown>)(...args)
  return overriding<ChdbConnection>(inserts, {
    ...Object.fromEntries(STATEMENTS.map((name) => [name, to(name)])),
    close: async () => void (await Promise.all([inserts, commands, ...reads].map((c) => c.close()))),
  })
}

/** The longest parameter SET made (UTF-16 units, at most 3 bytes each in UTF-8): well under the engine's max_query_size of 256 KiB. */
const MAX_SET_LENGTH = 32_768

const ESCAPES: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r', "'": "\\'", '\\': '\\\\' }

/**
 * A query parameter's value as the text ClickHouse reads for `param_<name>` (the HTTP interface's
 * form, @clickhouse/client's for a server): a string escaped, quoted inside arrays and maps;
 * undefined for a value it has no text for.
 */
export function paramText(v: unknown, nested = false): string | undefined {
  if (v === null) return nested ? 'NULL' : '\\N'
  if (typeof v === 'number') return Number.isNaN(v) ? 'nan' : v === Infinity ? '+inf' : v === -Infinity ? '-inf' : String(v)
  if (typeof v === 'bigint') return String(v)
  if (typeof v === 'boolean') return nested ? (v ? 'TRUE' : 'FALSE') : v ? '1' : '0'
  if (typeof v === 'string') {
    const escaped = v.replace(/[\t\n\r'\\]/g, (c) => ESCAPES[c]!)
    return nested ? `'${escaped}'` : escaped
  }
  const list = (items: unknown[], open: string, close: string) => {
    const texts = items.map((x) => paramText(x, true))
    return texts.every((t) => t !== undefined) ? `${open}${texts.join(',')}${close}` : undefined
  }
  if (Array.isArray(v)) return list(v, '[', ']')
  const entries = v instanceof Map ? [...v.entries()] : v !== undefined && Object.getPrototypeOf(v) === Object.prototype ? Object.entries(v as object) : undefined
  if (!entries) return undefined
  const pairs = entries.map(([k, x]) => [paramText(k, true), paramText(x, true)])
  return pairs.every(([k, x]) => k !== undefined && x !== undefined) ? `{${pairs.map(([k, x]) => `${k}:${x}`).join(',')}}` : undefined
}

/**
 * A statement's query parameters set on its session (`SET param_<name> = …;` before it) rather
 * than bound by chdb: chdb (3.4.0) runs every statement with bound parameters one at a time across
 * the whole process (its C API's parameter state is not kept apart per session), so the query
 * API's statements, all parameterised, never ran at the same time in different sessions. A
 * session answers one statement at a time (oneAtATime), and each statement sets the parameters it
 * is given (one it names but is not given reads what an earlier statement of the session set,
 * where chdb's binding would refuse it). Names other than identifiers, values with no text, and
 * parameters too long for one statement stay with chdb's binding. The values are read as a server
 * reads them over HTTP.
 */
export function paramsInSession(connection: ChdbConnection): ChdbConnection {
  const inSession = <P extends { query: string; query_params?: Record<string, unknown> }>(params: P): P => {
    const entries = Object.entries(params.query_params ?? {})
    if (entries.length === 0) return params
    const sets: string[] = []
    for (const [name, value] of entries) {
      const text = /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? paramText(value) : undefined
      if (text === undefined) return params
      sets.push(`param_${name} = ${quoteString(text)}`)
    }
    const set = `SET ${sets.join(', ')};\n`
    // The engine reads no statement longer than max_query_size (256 KiB): a longer one is bound.
    return set.length > MAX_SET_LENGTH ? params : { ...params, query: `${set}${params.query}`, query_params: undefined }
  }
  type Run = (params: { query: string; query_params?: Record<string, unknown> }) => Promise<unknown>
  return overriding(connection, Object.fromEntries((['query', 'exec', 'command'] as const).map((name) => [name, (params: Parameters<Run>[0]) => (connection[name] as Run).call(connection, inSession(params))])))
}

/**
 * chdb (3.4.0) keeps what a statement wrote before it failed — a JSON header, rows — in its
 * session's output, and the next statement's answer starts with it: the client then misreads
 * that answer (a JSON parse error) or, in a row format, hands over the failed statement's rows
 * as its own, whoever asked. The engine runs one statement of a session at a time anyway; here
 * they are also issued one at a time, and after a failure (an error, a timeout, a refused row, an
 * aborted request) a throwaway SELECT takes what was left before the next statement is issued.
 * An aborted statement still runs to its end in the engine: the SELECT queues behind it there.
 */
export function oneAtATime(connection: ChdbConnection): SessionConnection {
  let last: Promise<unknown> = Promise.resolve()
  // Issued and not done, a drain after a failure included: while an aborted statement still runs
  // in the engine, its session counts as busy.
  let pending = 0
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
    pending++
    const run = last.then(async () => {
      try {
        return await statement(...args)
      } catch (err) {
        await drain()
        throw err
      } finally {
        pending--
      }
    })
    last = run.catch(() => undefined)
    return run
  }
  // Everything else (close, the engine's facts, chdb's own calls) is the connection's.
  return overriding(connection as SessionConnection, {
    ...Object.fromEntries(STATEMENTS.map((name) => [name, issued((connection[name] as (...args: unknown[]) => Promise<unknown>).bind(connection))])),
    get pending() {
      return pending
    },
  })
}

/** Readiness probe: ClickHouse answers a trivial query. */
export async function pingClickHouse(client: ClickHouseClient): Promise<void> {
  const r = await client.ping()
  if (!r.success) throw r.error
}
