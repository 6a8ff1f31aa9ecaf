// The query section's child process. chdb binds one data directory per process, so the dataset,
// the query API on top of it and the timing loop live here, apart from the bench process:
//   1. open (or generate) the dataset (query-dataset.ts);
//   2. start the query API on the same ClickHouse handle, as `sluice run --target query-api`
//      would, listening on 127.0.0.1 and an OS-chosen port;
//   3. untimed passes over every question's API request (the server's code JIT-compiled, as in a
//      server that has been up for a while);
//   4. per question (query-cases.ts): warm-up rounds, then timed rounds alternating API-first and
//      SQL-first; then one more of each between two snapshots of system.events, whose
//      SelectedRows/SelectedBytes difference is what that execution read (chdb keeps no query_log);
//   5. write everything to $BENCH_QUERY_RESULT as JSON; the section turns it into rows.
// An API answer other than 200 is recorded, not thrown: the API may be unfinished. A failing SQL
// query is a failure of the section.
// Progress goes to stderr; stdout is the parent's stderr too.
import { writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import type { ClickHouseClient } from '@sluice/clickhouse'
import { createLogger, createRegistry } from '@sluice/observability'
import { buildApp, loadConfig } from '@sluice/query-api'
import { loadQueryBenchConfig } from './query-config.js'
import type { QueryBenchConfig } from './query-config.js'
import { queryCases } from './query-cases.js'
import type { QueryCase } from './query-cases.js'
import { TENANT } from './query-data.js'
import { openDataset, storage } from './query-dataset.js'
import type { DatasetFacts } from './query-dataset.js'

/** What one execution read, from system.events (ProfileEvents summed over the process). */
export interface Reads {
  rows: number
  bytes: number
  marks: number
  parts: number
}

export interface CaseResult {
  id: string
  title: string
  /** The GET request, path and query string, sent with X-Scope-OrgID. */
  request: string
  sql: string
  apiMs: number[]
  sqlMs: number[]
  /** The lines-only SQL's timings (line questions: time, service, level and body). */
  linesOnlyMs?: number[]
  /** First non-200 answer or network error; the API's rounds stop there. */
  apiError?: string
  sqlRead: Reads
  apiRead?: Reads
  /** The SQL the API sent for one request, as the handler passed it to the client. */
  apiQueries?: { query: string; params?: unknown }[]
  unit: string
  tolerance: number
  overheadTarget: boolean
  sqlFigure: number
  apiFigure?: number
}

/** An export streamed through the API, beside the same rows read by one SQL statement. */
export interface ExportResult {
  title: string
  /** Lines and bytes of the API's NDJSON, and the time to its last byte. */
  rows: number
  bytes: number
  ms: number
  /** The same newest rows as one JSONEachRow statement on the client, read whole. */
  sqlRows: number
  sqlMs: number
}

export interface QueryBenchResult {
  facts: DatasetFacts
  generated: boolean
  storage: Awaited<ReturnType<typeof storage>>
  cases: CaseResult[]
  export?: ExportResult
}

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`)

const EVENTS = { SelectedRows: 'rows', SelectedBytes: 'bytes', SelectedMarks: 'marks', SelectedParts: 'parts' } as const

async function events(client: ClickHouseClient): Promise<Reads> {
  const rs = await client.query({ query: `SELECT event, value FROM system.events WHERE event IN (${Object.keys(EVENTS).map((e) => `'${e}'`).join(', ')})`, format: 'JSONEachRow' })
  const out: Reads = { rows: 0, bytes: 0, marks: 0, parts: 0 }
  for (const r of await rs.json<{ event: keyof typeof EVENTS; value: string }>()) out[EVENTS[r.event]] = Number(r.value)
  return out
}

/** What `fn` read; nothing else may query ClickHouse meanwhile (nothing does in this process). */
async function reads(client: ClickHouseClient, fn: () => Promise<unknown>): Promise<Reads> {
  const before = await events(client)
  await fn()
  const after = await events(client)
  return { rows: after.rows - before.rows, bytes: after.bytes - before.bytes, marks: after.marks - before.marks, parts: after.parts - before.parts }
}

/**
 * The client the API gets: the same one, with `query` noting the SQL while a capture is on, so
 * the report can show what the API ran. The query API's dependency is `query` alone.
 */
function recordingClient(client: ClickHouseClient) {
  let sink: { query: string; params?: unknown }[] | undefined
  const query: ClickHouseClient['query'] = (params) => {
    sink?.push({ query: params.query, ...(params.query_params ? { params: params.query_params } : {}) })
    return client.query(params)
  }
  return {
    // Writes (service registrations) are not asked by the benchmark: passed through unrecorded.
    client: { query, command: client.command.bind(client) },
    async capture(fn: () => Promise<unknown>) {
      const queries: { query: string; params?: unknown }[] = []
      sink = queries
      try {
        await fn()
      } finally {
        sink = undefined
      }
      return queries
    },
  }
}

type ApiOutcome = { ok: true; ms: number; body: unknown } | { ok: false; ms: number; error: string }

async function callApi(base: string, c: QueryCase, timeoutMs: number): Promise<ApiOutcome> {
  const t0 = performance.now()
  try {
    const res = await fetch(base + c.request, { headers: { 'X-Scope-OrgID': TENANT }, signal: AbortSignal.timeout(timeoutMs) })
    if (!res.ok) {
      const text = await res.text()
      return { ok: false, ms: performance.now() - t0, error: `HTTP ${res.status}: ${text.replace(/\s+/g, ' ').slice(0, 300)}` }
    }
    const body: unknown = await res.json()
    return { ok: true, ms: performance.now() - t0, body }
  } catch (err) {
    return { ok: false, ms: performance.now() - t0, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }
  }
}

async function runSql(client: ClickHouseClient, c: Pick<QueryCase, 'sql'>) {
  const t0 = performance.now()
  const rs = await client.query({ query: c.sql, format: 'JSONEachRow' })
  const rows = await rs.json<Record<string, unknown>>()
  return { ms: performance.now() - t0, rows }
}

async function measure(cfg: QueryBenchConfig, client: ClickHouseClient, api: ReturnType<typeof recordingClient>, base: string, c: QueryCase): Promise<CaseResult> {
  const apiMs: number[] = []
  const sqlMs: number[] = []
  let apiError: string | undefined
  let apiBody: unknown
  let sqlRows: Record<string, unknown>[] = []
  const apiRound = async (timed: boolean) => {
    if (apiError !== undefined) return
    const r = await callApi(base, c, cfg.requestTimeoutMs)
    if (!r.ok) apiError = r.error
    else {
      apiBody = r.body
      if (timed) apiMs.push(r.ms)
    }
  }
  const linesOnlyMs: number[] = []
  const sqlRound = async (timed: boolean) => {
    const r = await runSql(client, c)
    sqlRows = r.rows
    if (timed) sqlMs.push(r.ms)
    if (c.linesOnlySql !== undefined) {
      const l = await runSql(client, { sql: c.linesOnlySql })
      if (timed) linesOnlyMs.push(l.ms)
    }
  }
  for (let i = 0; i < cfg.warmupRuns; i++) {
    await apiRound(false)
    await sqlRound(false)
  }
  const t0 = performance.now()
  for (let i = 0; i < cfg.runs; i++) {
    // Alternating who goes first, so neither always runs on the other's warm caches.
    if (i % 2 === 0) {
      await apiRound(true)
      await sqlRound(true)
    } else {
      await sqlRound(true)
      await apiRound(true)
    }
    if (i + 1 >= cfg.minRuns && performance.now() - t0 > cfg.caseMaxS * 1000) break
  }
  const sqlRead = await reads(client, () => runSql(client, c))
  let apiRead: Reads | undefined
  let apiQueries: CaseResult['apiQueries']
  if (apiError === undefined) {
    apiQueries = await api.capture(async () => {
      apiRead = await reads(client, () => callApi(base, c, cfg.requestTimeoutMs))
    })
  }
  const result: CaseResult = {
    id: c.id,
    title: c.title,
    request: c.request,
    sql: c.sql,
    apiMs,
    sqlMs,
    ...(c.linesOnlySql !== undefined && { linesOnlyMs }),
    sqlRead,
    unit: c.unit,
    tolerance: c.tolerance,
    overheadTarget: c.overheadTarget,
    sqlFigure: c.sqlFigure(sqlRows),
  }
  if (apiError !== undefined) result.apiError = apiError
  if (apiRead) result.apiRead = apiRead
  if (apiQueries) result.apiQueries = apiQueries
  if (apiBody !== undefined) result.apiFigure = c.apiFigure(apiBody)
  return result
}

/**
 * `limit` records of every service over the dataset's last 6 h exported as NDJSON, timed to the
 * last byte; beside it one statement selecting the same rows (every column), as an analyst
 * exporting with clickhouse-client would (FORMAT JSONEachRow), read whole on the client.
 */
async function measureExport(client: ClickHouseClient, base: string, facts: DatasetFacts, limit: number): Promise<ExportResult> {
  const endNs = BigInt(facts.endNs)
  const fromNs = endNs - 6n * 3_600_000_000_000n
  const t0 = performance.now()
  const res = await fetch(`${base}/v1/logs/export?${new URLSearchParams({ from: fromNs.toString(), to: endNs.toString(), limit: String(limit) })}`, { headers: { 'X-Scope-OrgID': TENANT } })
  if (!res.ok || !res.body) throw new Error(`export: HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`)
  let rows = 0
  let bytes = 0
  for await (const chunk of res.body) {
    bytes += chunk.length
    for (const b of chunk) if (b === 10) rows++
  }
  const ms = performance.now() - t0
  const t1 = performance.now()
  const rs = await client.query({
    query: `SELECT * FROM ${facts.database}.logs WHERE tenant = {t:String} AND Timestamp >= fromUnixTimestamp64Nano({f:Int64}) AND Timestamp < fromUnixTimestamp64Nano({e:Int64})
            ORDER BY TimestampTime DESC, Timestamp DESC, id DESC LIMIT {n:UInt32}`,
    query_params: { t: TENANT, f: fromNs.toString(), e: endNs.toString(), n: limit },
    format: 'JSONEachRow',
  })
  const sqlRows = (await rs.json()).length
  return { title: `${limit.toLocaleString('en-US')} newest records of every service, 6 h, NDJSON`, rows, bytes, ms, sqlRows, sqlMs: performance.now() - t1 }
}

async function main(): Promise<void> {
  const out = process.env.BENCH_QUERY_RESULT
  if (!out) throw new Error('BENCH_QUERY_RESULT (the result file) is not set')
  const cfg = loadQueryBenchConfig()
  const { handle, facts, generated } = await openDataset(cfg, log)
  const api = recordingClient(handle.client)
  const app = buildApp(loadConfig({ CLICKHOUSE_DATABASE: facts.database, HOST: '127.0.0.1', QUERY_API_PORT: '0' }), {
    logger: createLogger({ name: 'bench-query', level: 'warn' }),
    registry: createRegistry(),
    checks: {},
    clickhouse: api.client,
  })
  try {
    await app.listen({ host: '127.0.0.1', port: 0 })
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    const questions = queryCases(facts)
    for (let i = 0; i < cfg.serverWarmupRounds; i++) for (const c of questions) await callApi(base, c, cfg.requestTimeoutMs)
    const cases: CaseResult[] = []
    for (const c of questions) {
      log(`query: ${c.id}. ${c.title}`)
      const r = await measure(cfg, handle.client, api, base, c)
      if (r.apiError !== undefined) log(`query: ${c.id}. API: ${r.apiError.slice(0, 160)}`)
      cases.push(r)
    }
    let exported: ExportResult | undefined
    if (cfg.exportRows > 0) {
      log(`query: export of ${cfg.exportRows.toLocaleString('en-US')} records`)
      exported = await measureExport(handle.client, base, facts, cfg.exportRows)
    }
    const result: QueryBenchResult = { facts, generated, storage: await storage(handle.client, facts.database), cases, ...(exported && { export: exported }) }
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
  } finally {
    await app.close()
    await handle.client.close()
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`query: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    process.exit(1)
  },
)
