// The RowBinary path stores exactly what the JSONEachRow path (toRow + client.insert) stores: the
// same records go through each into their own migrated database, and every column of every row
// reads back the same — the bench's records plus hand-made edge cases. The server path's request
// body, caught by a stand-in HTTP endpoint, loads into a third database to the same rows.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import type { EnrichedLog } from '@sluice/core'
import { createClickHouse, insertRowBinary, migrate } from '@sluice/clickhouse'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { schemasDir } from '@sluice/registry'
import { EnrichedGenerator } from '../../../test/benchmarks/enriched.js'
import { LOG_COLUMN_NAMES, LogRowBinaryEncoder } from './row-binary.js'
import { toRow } from './row.js'
import { TenantRetention } from './retention.js'

// chdb binds one data directory per process: one handle for the file, databases per test.
let dataDir: string
let ch: ClickHouseHandle

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-row-binary-test-'))
  ch = await createClickHouse({ dataDir })
})

afterAll(async () => {
  await ch?.client.close()
  rmSync(dataDir, { recursive: true, force: true })
})

async function logsTable(): Promise<string> {
  const database = `t_${randomBytes(4).toString('hex')}`
  await migrate(ch.client, { database, ttlDays: 3650, dir: path.join(schemasDir(), 'clickhouse') })
  // No background merges: what each insert wrote stays as written (FINAL still collapses).
  await ch.client.command({ query: `SYSTEM STOP MERGES ${database}.logs` })
  onTestFinished(async () => {
    await ch.client.command({ query: `DROP DATABASE ${database} SYNC` })
  })
  return `${database}.logs`
}

async function lines(query: string): Promise<string[]> {
  const rs = await ch.client.query({ query, format: 'JSONEachRow' })
  return (await rs.text()).split('\n').filter(Boolean)
}

/** Every column of every row, FINAL (one row per id), as ClickHouse prints them. */
const rowsOf = (table: string) => lines(`SELECT * FROM ${table} FINAL ORDER BY id`)

async function count(table: string): Promise<number> {
  const [line] = await lines(`SELECT toUInt32(count()) AS c FROM ${table}`)
  return (JSON.parse(line!) as { c: number }).c
}

/** Asserts two row listings equal, showing the first differing row rather than two huge arrays. */
function expectSameRows(actual: string[], expected: string[]): void {
  expect(actual.length).toBe(expected.length)
  const i = actual.findIndex((line, j) => line !== expected[j])
  if (i >= 0) expect(actual[i]).toBe(expected[i])
}

// 2026-11-30T12:00:00Z: 19-digit nanoseconds, which both paths read the same.
const T0_MS = Date.UTC(2026, 10, 30, 12)

function edgeCases(base: EnrichedLog): EnrichedLog[] {
  const at = (i: number, over: Partial<EnrichedLog>): EnrichedLog => ({ ...base, id: `edge-${String(i).padStart(2, '0')}`, ...over })
  return [
    at(1, { message: 'Grüße, 日本語, עברית, emoji 😀👍🏽, combining é, zero-width\u200bjoin', service: 'sérvice-ü', host: 'höst-😀', attributes: { 'ключ': 'значение', '😀': '👍' } }),
    at(2, { message: '', service: '', host: '', trace_id: '', span_id: '', template: '', pattern_id: '', user_id: '', session_id: '', error_code: '', attributes: { '': '' } }),
    at(3, { host: null, trace_id: null, span_id: null, http_status: null, duration_ms: null, user_id: null, session_id: null, error_code: null, parsed_format: null, attributes: {}, resource: {} }),
    at(4, { message: 'a long body '.repeat(10_000), template: 'é'.repeat(20_000) }),
    at(5, { attributes: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`attr.${i}`, `value ${i} ${'x'.repeat(i)}`])), resource: { 'service.name': 'x', 'k8s.pod': 'p-1' } }),
    at(6, { message: 'quotes " and \' and \\ backslash, \t tab, \n newline, \r return, \u0000 nul, \u001f unit separator, \u007f del', attributes: { 'k"ey\\': 'v\n"al' } }),
    at(7, { severity_number: 0, http_status: 0, duration_ms: 0, is_error: false, redacted: true, truncated: true }),
    // 2090: far out, but inside what TimestampTime (a DateTime, DEFAULT toDateTime(Timestamp)) and
    // its TTL arithmetic can hold (see the report on timestamps past 2106 - ttl days).
    at(8, { severity_number: 255, http_status: 65_535, duration_ms: 1e308, timestamp: 3_786_912_000_123_456_789n, observed_timestamp: 2n ** 63n - 1n }),
    at(16, { observed_timestamp: 1_000_000_000_000_000_000n }),
    at(9, { duration_ms: 5e-324 }),
    at(10, { duration_ms: -123.456 }),
    // JSONEachRow gets null for these from JSON.stringify, RowBinary writes NULL by its rule.
    at(11, { duration_ms: Number.NaN }),
    at(12, { duration_ms: Number.POSITIVE_INFINITY }),
    // JSON.stringify writes -0 as 0.
    at(13, { duration_ms: -0 }),
    at(14, { category: 'unknown', classifier: 'llm', parsed_format: 'json', source: 'otlp', severity_text: 'FATAL', severity_number: 21 }),
    // Integer-like map keys: JavaScript orders them first, the same for both paths.
    at(15, { attributes: { b: '1', '2': 'two', a: '3', '1': 'one' } }),
  ]
}

function records(): EnrichedLog[] {
  const gen = new EnrichedGenerator({ seed: 11 })
  const generated = Array.from({ length: 5000 }, (_, i) => gen.next(T0_MS + i * 7))
  const edges = edgeCases(generated[0]!)
  // An exact re-delivery within one insert: ReplacingMergeTree keeps one copy under FINAL either way.
  return [...generated, ...edges, { ...edges[2]! }]
}

const BATCH = 1000

async function insertJson(table: string, all: EnrichedLog[]): Promise<void> {
  for (let i = 0; i < all.length; i += BATCH) await ch.client.insert({ table, values: all.slice(i, i + BATCH).map(toRow), format: 'JSONEachRow' })
}

async function insertRows(handle: ClickHouseHandle, table: string, all: EnrichedLog[]): Promise<void> {
  // The table's default RetentionDays (ttlDays), which the JSONEachRow rows (no RetentionDays) get.
  const encoder = new LogRowBinaryEncoder(4096, TenantRetention.uniform(3650))
  for (let i = 0; i < all.length; i += BATCH) {
    const { bytes, rejected } = encoder.encodeBatch(all.slice(i, i + BATCH))
    expect(rejected).toEqual([])
    await insertRowBinary(handle, { table, columns: LOG_COLUMN_NAMES, bytes })
  }
}

describe('RowBinary logs insert', () => {
  it('creates logs and the tables its views fill to merge about ten parts of a size at once (migration 0017)', async () => {
    const [database] = (await logsTable()).split('.')
    const rows = await lines(`SELECT name, engine, create_table_query AS ddl FROM system.tables WHERE database = '${database}' ORDER BY name`)
    const tables = rows.map((l) => JSON.parse(l) as { name: string; engine: string; ddl: string })
    const views = tables.filter((t) => t.engine === 'MaterializedView').map((t) => /\bTO \S+?\.`?(\w+)`?\s/.exec(t.ddl)?.[1])
    expect(views.length).toBeGreaterThanOrEqual(6)
    const wide = tables.filter((t) => /SETTINGS .*\bmerge_selector_base = 10\b/.test(t.ddl)).map((t) => t.name)
    expect(wide).toEqual(['logs', ...views].sort())
  })

  it('stores the same rows as toRow + JSONEachRow, column for column', async () => {
    const all = records()
    const [viaJson, viaRowBinary] = [await logsTable(), await logsTable()]
    await insertJson(viaJson, all)
    await insertRows(ch, viaRowBinary, all)
    const expected = await rowsOf(viaJson)
    expect(expected).toHaveLength(all.length - 1)
    expectSameRows(await rowsOf(viaRowBinary), expected)
    // optimize_on_insert = 0: the re-delivered copy is collapsed at merges and under FINAL, not
    // within the insert as JSONEachRow's insert (optimize_on_insert = 1) does.
    expect(await count(viaJson)).toBe(all.length - 1)
    expect(await count(viaRowBinary)).toBe(all.length)
  })

  it('sends a server the same rows: the request body loads to what JSONEachRow stores', async () => {
    const bodies: Buffer[] = []
    const queries: string[] = []
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        queries.push(new URL(req.url ?? '/', 'http://localhost').searchParams.get('query') ?? '')
        bodies.push(Buffer.concat(chunks))
        res.end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const viaHttp = await createClickHouse({ url, dataDir })
    onTestFinished(async () => {
      await viaHttp.client.close()
      await new Promise((resolve) => server.close(resolve))
    })

    const all = records()
    const [viaJson, viaServerBody] = [await logsTable(), await logsTable()]
    await insertJson(viaJson, all)
    await insertRows(viaHttp, viaServerBody, all)
    expect(bodies).toHaveLength(Math.ceil(all.length / BATCH))
    const [database] = viaServerBody.split('.')
    expect(new Set(queries)).toEqual(new Set([`INSERT INTO \`${database}\`.\`logs\` (${LOG_COLUMN_NAMES.map((c) => `\`${c}\``).join(', ')}) SETTINGS optimize_on_insert = 0, throw_on_max_partitions_per_insert_block = 0 FORMAT RowBinary`]))
    // What the server would have stored: each body through the embedded path (a file read by file()).
    for (const bytes of bodies) await insertRowBinary(ch, { table: viaServerBody, columns: LOG_COLUMN_NAMES, bytes })
    expectSameRows(await rowsOf(viaServerBody), await rowsOf(viaJson))
  })
})
