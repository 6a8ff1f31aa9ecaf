// The query benchmark's dataset on disk: an embedded ClickHouse data directory under
// .cache/bench-query/<key>/clickhouse with dataset.json beside it. The key hashes the generator
// version, the row count and every schemas/clickhouse/*.sql file, so a new migration or a new
// generator regenerates it, and anything else reuses it. dataset.json is written last: a
// directory without it is an interrupted generation and is started over.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClickHouse, migrate } from '@sluice/clickhouse'
import type { ClickHouseClient, ClickHouseHandle } from '@sluice/clickhouse'
import { REPO_ROOT } from '../infra/providers.js'
import type { QueryBenchConfig } from './query-config.js'
import { BLAST_ERROR_CODE, GENERATOR_VERSION, JSON_SERVICE, QUERY_SERVICE, RARE_TERM, TENANT, generateSql } from './query-data.js'

const SCHEMA_DIR = path.join(REPO_ROOT, 'schemas', 'clickhouse')
const DAY_NS = 86_400_000_000_000n
const HOUR_NS = 3_600_000_000_000n

/** dataset.json: what the queries and the report need to know about the rows. */
export interface DatasetFacts {
  key: string
  generatorVersion: number
  database: string
  rows: number
  tenant: string
  /** Epoch nanoseconds as decimal strings: the day covered is [startNs, endNs). */
  startNs: string
  endNs: string
  generatedAt: string
  generationS: number
  rareTerm: string
  rareRows: number
  queryService: { name: string; rowsDay: number; rowsLastHour: number }
  jsonService: { name: string; rowsLastHour: number; over1sLastHour: number }
  /** The busiest session of the last three hours, for the session timeline. */
  session: { id: string; rows: number }
  /** The error code of the blast-radius question and its records over the day. */
  errorCode: { code: string; rows: number }
  migrations: string[]
}

export interface OpenDataset {
  handle: ClickHouseHandle
  facts: DatasetFacts
  /** Set when this run generated the rows. */
  generated: boolean
}

export function datasetKey(rows: number): string {
  const h = createHash('sha256').update(`generator ${GENERATOR_VERSION}\nrows ${rows}\n`)
  for (const file of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.sql')).sort()) {
    h.update(`${file}\n`).update(readFileSync(path.join(SCHEMA_DIR, file)))
  }
  return h.digest('hex').slice(0, 16)
}

function readFacts(file: string, key: string, cfg: QueryBenchConfig): DatasetFacts | undefined {
  if (!existsSync(file)) return undefined
  try {
    const facts = JSON.parse(readFileSync(file, 'utf8')) as DatasetFacts
    // Retention drops whole parts once their day is older than the TTL: regenerate well before.
    const ageDays = (Date.now() - Number(BigInt(facts.endNs) / 1_000_000n)) / 86_400_000
    return facts.key === key && ageDays < (cfg.ttlDays * 2) / 3 ? facts : undefined
  } catch {
    return undefined
  }
}

async function one<T>(client: ClickHouseClient, query: string): Promise<T> {
  const rs = await client.query({ query, format: 'JSONEachRow' })
  const rows = await rs.json<T>()
  if (!rows[0]) throw new Error(`no row from: ${query}`)
  return rows[0]
}

/** Opens the cached dataset, or generates it (and drops datasets of other keys). */
export async function openDataset(cfg: QueryBenchConfig, log: (m: string) => void): Promise<OpenDataset> {
  const key = datasetKey(cfg.rows)
  const dir = path.join(cfg.cacheDir, key)
  const factsFile = path.join(dir, 'dataset.json')
  const cached = readFacts(factsFile, key, cfg)
  if (!cached) {
    mkdirSync(cfg.cacheDir, { recursive: true })
    for (const other of readdirSync(cfg.cacheDir)) {
      log(`query: removing dataset ${other} (${other === key ? 'incomplete or too old' : 'other generator, schema or row count'})`)
      rmSync(path.join(cfg.cacheDir, other), { recursive: true, force: true })
    }
  }
  const handle = await createClickHouse({ dataDir: path.join(dir, 'clickhouse') })
  const applied = await migrate(handle.client, { database: cfg.database, ttlDays: cfg.ttlDays, dir: SCHEMA_DIR })
  if (cached) {
    log(`query: dataset ${key} (${cached.rows.toLocaleString('en-US')} rows, generated ${cached.generatedAt}) from the cache`)
    return { handle, facts: cached, generated: false }
  }
  const facts = await generate(handle.client, cfg, key, applied, log)
  writeFileSync(factsFile, `${JSON.stringify(facts, null, 2)}\n`)
  return { handle, facts, generated: true }
}

async function generate(client: ClickHouseClient, cfg: QueryBenchConfig, key: string, migrations: string[], log: (m: string) => void): Promise<DatasetFacts> {
  const db = cfg.database
  const endNs = BigInt(Date.now()) * 1_000_000n
  log(`query: generating ${cfg.rows.toLocaleString('en-US')} rows into ${db}.logs (dataset ${key})`)
  const t0 = performance.now()
  for (let offset = 0; offset < cfg.rows; offset += cfg.chunkRows) {
    const t1 = performance.now()
    const count = Math.min(cfg.chunkRows, cfg.rows - offset)
    await client.command({ query: generateSql({ database: db, rows: cfg.rows, offset, count, endNs }) })
    log(`query: ${(offset + count).toLocaleString('en-US')} rows (${((performance.now() - t1) / 1000).toFixed(1)} s for ${count.toLocaleString('en-US')})`)
  }
  // Whatever merges ClickHouse starts on its own finish before anything is timed.
  for (let quiet = 0, waited = 0; quiet < 3 && waited < 300; waited++) {
    const { merges } = await one<{ merges: string }>(client, `SELECT count() AS merges FROM system.merges WHERE database = '${db}'`)
    quiet = Number(merges) === 0 ? quiet + 1 : 0
    await sleep(1000)
  }
  const generationS = (performance.now() - t0) / 1000
  log(`query: generated in ${generationS.toFixed(1)} s`)

  const hourStart = endNs - HOUR_NS
  const c = await one<Record<string, string>>(
    client,
    `SELECT count() AS rows,
            countIf(Body LIKE '%${RARE_TERM}%') AS rare,
            countIf(ServiceName = '${QUERY_SERVICE}') AS svc_day,
            countIf(ServiceName = '${QUERY_SERVICE}' AND Timestamp >= fromUnixTimestamp64Nano(${hourStart})) AS svc_hour,
            countIf(ServiceName = '${JSON_SERVICE}' AND Timestamp >= fromUnixTimestamp64Nano(${hourStart})) AS json_hour,
            countIf(ServiceName = '${JSON_SERVICE}' AND Timestamp >= fromUnixTimestamp64Nano(${hourStart})
                    AND (JSONExtractString(Body, 'duration') AS d) != '' AND parseTimeDelta(d) > 1) AS json_slow
     FROM ${db}.logs WHERE tenant = '${TENANT}'`,
  )
  if (Number(c.rows) !== cfg.rows) throw new Error(`generated ${c.rows} rows, expected ${cfg.rows}`)
  const s = await one<{ id: string; rows: string; errors: string }>(
    client,
    `SELECT SessionId AS id, count() AS rows, countIf(ErrorCode = '${BLAST_ERROR_CODE}') AS errors FROM ${db}.logs
     WHERE tenant = '${TENANT}' AND SessionId != '' AND Timestamp >= fromUnixTimestamp64Nano(${endNs - 3n * HOUR_NS})
     GROUP BY id ORDER BY rows DESC, id LIMIT 1`,
  )
  const e = await one<{ rows: string }>(client, `SELECT count() AS rows FROM ${db}.logs WHERE tenant = '${TENANT}' AND ErrorCode = '${BLAST_ERROR_CODE}'`)
  return {
    key,
    generatorVersion: GENERATOR_VERSION,
    database: db,
    rows: cfg.rows,
    tenant: TENANT,
    startNs: String(endNs - DAY_NS),
    endNs: String(endNs),
    generatedAt: new Date().toISOString(),
    generationS,
    rareTerm: RARE_TERM,
    rareRows: Number(c.rare),
    queryService: { name: QUERY_SERVICE, rowsDay: Number(c.svc_day), rowsLastHour: Number(c.svc_hour) },
    jsonService: { name: JSON_SERVICE, rowsLastHour: Number(c.json_hour), over1sLastHour: Number(c.json_slow) },
    session: { id: s.id, rows: Number(s.rows) },
    errorCode: { code: BLAST_ERROR_CODE, rows: Number(e.rows) },
    migrations,
  }
}

/** Parts and size of every table of the dataset's database, as they stand now. */
export async function storage(client: ClickHouseClient, database: string) {
  const rs = await client.query({
    query: `SELECT table, count() AS parts, sum(rows) AS rows, sum(bytes_on_disk) AS bytes_on_disk, sum(data_uncompressed_bytes) AS bytes_uncompressed
            FROM system.parts WHERE database = '${database}' AND active GROUP BY table ORDER BY table`,
    format: 'JSONEachRow',
  })
  const rows = await rs.json<Record<string, string>>()
  return Object.fromEntries(rows.map((r) => [r.table!, { parts: Number(r.parts), rows: Number(r.rows), bytesOnDisk: Number(r.bytes_on_disk), bytesUncompressed: Number(r.bytes_uncompressed) }]))
}
