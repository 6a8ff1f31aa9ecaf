// The HTTP interface as the ClickHouse of Sluice's other processes: one embedded engine serves it
// with a service password, and a server-mode handle (@clickhouse/client over HTTP) runs what a
// Sluice process runs against a ClickHouse server — migrations, RowBinary and JSONEachRow inserts
// (compressed or not), commands with query parameters, reads — while analysts stay read-only.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { ClickHouseLogLevel, createClient } from '@clickhouse/client'
import type { ClickHouseClient } from '@clickhouse/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClickHouse } from './client.js'
import type { ClickHouseHandle } from './client.js'
import { createHttpInterface } from './http-interface.js'
import type { HttpInterface, HttpInterfaceOptions } from './http-interface.js'
import { insertRowBinary } from './insert.js'
import { loadMigrations, migrate } from './migrations.js'

const SCHEMAS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../schemas/clickhouse')
const SECRET = 'service-secret'
const OPTIONS: HttpInterfaceOptions = {
  host: '127.0.0.1',
  port: 0,
  user: 'default',
  password: '',
  database: 'sluice',
  maxResultRows: 1000,
  timeoutMs: 20_000,
  maxMemoryBytes: 1 << 30,
  maxConcurrentQueries: 2,
  serviceUser: 'sluice',
  servicePassword: SECRET,
}

let dataDir: string
let embedded: ClickHouseHandle
let remote: ClickHouseHandle
const servers: HttpInterface[] = []
const clients: ClickHouseClient[] = []
let url: string

const quiet = { log: { level: ClickHouseLogLevel.OFF } }

async function serve(opts: Partial<HttpInterfaceOptions> = {}): Promise<string> {
  const server = createHttpInterface(embedded, { ...OPTIONS, ...opts })
  servers.push(server)
  return server.listen()
}

function client(config: Parameters<typeof createClient>[0]): ClickHouseClient {
  const c = createClient({ ...quiet, ...config })
  clients.push(c)
  return c
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-http-service-test-'))
  embedded = await createClickHouse({ dataDir })
  url = await serve()
  remote = await createClickHouse({ url, username: 'sluice', password: SECRET, dataDir: path.join(dataDir, 'unused') })
  clients.push(remote.client)
})

afterAll(async () => {
  for (const c of clients) await c.close()
  for (const s of servers) await s.close()
  await embedded?.client.close()
  rmSync(dataDir, { recursive: true, force: true })
})

/** Rows of a table as the embedded engine itself sees them. */
async function rows<T>(query: string): Promise<T[]> {
  const rs = await embedded.client.query({ query, format: 'JSONEachRow' })
  return rs.json<T>()
}

async function post(query: string | undefined, body: string | Buffer, headers: Record<string, string> = {}, user = `sluice:${SECRET}`) {
  const search = query === undefined ? '' : `?${new URLSearchParams({ query })}`
  const res = await fetch(`${url}/${search}`, { method: 'POST', body, headers: { Authorization: `Basic ${Buffer.from(user).toString('base64')}`, ...headers } })
  return { status: res.status, code: Number(res.headers.get('x-clickhouse-exception-code') ?? 0), text: await res.text(), summary: res.headers.get('x-clickhouse-summary') }
}

describe('a Sluice process in server mode against the interface', () => {
  it('applies every migration through it, once, with the defaults of schema_migrations', async () => {
    const all = loadMigrations(SCHEMAS, {}).map((m) => m.name)
    expect(await migrate(remote.client, { database: 'sluice', ttlDays: 30, dir: SCHEMAS })).toEqual(all)
    expect(await migrate(remote.client, { database: 'sluice', ttlDays: 30, dir: SCHEMAS })).toEqual([])
    const applied = await rows<{ name: string; year: number }>('SELECT name, toYear(applied_at) AS year FROM sluice.schema_migrations ORDER BY version')
    expect(applied.map((r) => r.name)).toEqual(all)
    // applied_at is left to its DEFAULT now64(3): the rows went in as the table's own INSERT reads them.
    expect(applied.every((r) => r.year >= 2025)).toBe(true)
    const tables = await rows<{ name: string }>("SELECT name FROM system.tables WHERE database = 'sluice'")
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['logs', 'alerts', 'audit', 'deletions']))
  })

  it('takes RowBinary rows from insertRowBinary and reads them back over the same connection', async () => {
    const columns = ['id', 'tenant', 'Timestamp', 'ServiceName', 'Body', 'LogAttributes', 'HttpStatus', 'RetentionDays']
    // RowBinary made by the engine itself, in the column order the insert names; rows of two hours
    // ago, well inside their 30 days of retention whatever the date the test runs on.
    const rs = await embedded.client.exec({
      query: `SELECT 'rb-' || toString(number) AS id, 'acme' AS tenant, toDateTime64(toStartOfHour(now()) - INTERVAL 2 HOUR, 9) + number AS Timestamp, 'svc' AS ServiceName,
              'line ' || toString(number) AS Body, map('k', toString(number)) AS LogAttributes, toNullable(toUInt16(200 + number % 3)) AS HttpStatus, toUInt16(30) AS RetentionDays
              FROM numbers(2500) FORMAT RowBinary`,
    })
    const parts: Buffer[] = []
    for await (const chunk of rs.stream) parts.push(chunk as Buffer)
    await insertRowBinary(remote, { table: 'sluice.logs', columns, bytes: Buffer.concat(parts) })

    const read = await remote.client.query({
      query: "SELECT count() AS n, sum(HttpStatus = 202) AS s, any(LogAttributes['k']) != '' AS attrs FROM sluice.logs FINAL WHERE tenant = {tenant:String} AND startsWith(id, 'rb-')",
      query_params: { tenant: 'acme' },
      format: 'JSONEachRow',
    })
    expect(await read.json()).toEqual([{ n: 2500, s: 833, attrs: 1 }])
    // No temporary file outlives its insert.
    expect(readdirSync(path.join(dataDir, 'sluice-insert'))).toEqual([])
  })

  it('takes JSONEachRow rows from client.insert, plain and gzip-compressed, filling the table defaults', async () => {
    await remote.client.command({ query: "CREATE TABLE sluice.notes (id String, note String DEFAULT 'default note', n UInt32, doubled UInt32 DEFAULT n * 2) ENGINE = MergeTree ORDER BY id" })
    const summary = await remote.client.insert({ table: 'sluice.notes', values: [{ id: 'plain-1', n: 1 }, { id: 'plain-2', n: 2, note: 'given' }], format: 'JSONEachRow' })
    expect(summary.summary?.written_rows).toBe('2')
    const gzip = client({ url, username: 'sluice', password: SECRET, compression: { request: true, response: true } })
    await gzip.insert({ table: 'sluice.notes', values: [{ id: 'gzip-1', n: 3 }], format: 'JSONEachRow' })
    await gzip.insert({ table: 'sluice.notes', columns: ['id', 'n'], values: [['gzip-2', 4]], format: 'JSONCompactEachRow' })
    // A command with its rows inline, as a whole statement in the body.
    await remote.client.command({ query: 'INSERT INTO sluice.notes FORMAT JSONEachRow\n{"id":"inline-1","n":5}' })
    expect(await rows('SELECT id, note, n, doubled FROM sluice.notes ORDER BY id')).toEqual([
      { id: 'gzip-1', note: 'default note', n: 3, doubled: 6 },
      { id: 'gzip-2', note: 'default note', n: 4, doubled: 8 },
      { id: 'inline-1', note: 'default note', n: 5, doubled: 10 },
      { id: 'plain-1', note: 'default note', n: 1, doubled: 2 },
      { id: 'plain-2', note: 'given', n: 2, doubled: 4 },
    ])
    const back = await gzip.query({ query: 'SELECT count() AS n FROM sluice.notes', format: 'JSONEachRow' })
    expect(await back.json()).toEqual([{ n: 5 }])
  })

  it('runs commands with query parameters: INSERT … SELECT, mutations, settings', async () => {
    await remote.client.command({
      query: 'INSERT INTO sluice.notes (id, n) SELECT {prefix:String} || toString(number), toUInt32(number) FROM numbers({count:UInt32})',
      query_params: { prefix: 'sel-', count: 3 },
    })
    await remote.client.command({ query: 'ALTER TABLE sluice.notes DELETE WHERE startsWith(id, {prefix:String})', query_params: { prefix: 'sel-' }, clickhouse_settings: { mutations_sync: '1' } })
    expect(await rows("SELECT count() AS n FROM sluice.notes WHERE startsWith(id, 'sel-')")).toEqual([{ n: 0 }])
    // No readonly and no analyst limits: a result larger than maxResultRows comes back whole.
    const big = await remote.client.query({ query: 'SELECT number FROM numbers(5000)', format: 'JSONEachRow' })
    expect(await big.json()).toHaveLength(5000)
  })
})

describe('who may write', () => {
  it('refuses a wrong service password as ClickHouse does, and writes nothing', async () => {
    const r = await post('INSERT INTO sluice.notes FORMAT JSONEachRow', '{"id":"wrong","n":1}', {}, 'sluice:not-the-secret')
    expect([r.status, r.code]).toEqual([403, 516])
    expect(r.text).toMatch(/^Code: 516\. DB::Exception: sluice: Authentication failed/)
    const wrong = client({ url, username: 'sluice', password: 'nope' })
    await expect(wrong.query({ query: 'SELECT 1' })).rejects.toMatchObject({ code: '516' })
    expect(await rows("SELECT count() AS n FROM sluice.notes WHERE id = 'wrong'")).toEqual([{ n: 0 }])
  })

  it('keeps the analyst user read-only: its INSERTs and DDL are refused', async () => {
    const analyst = client({ url, database: 'sluice' })
    await expect(analyst.insert({ table: 'sluice.notes', values: [{ id: 'analyst', n: 1 }], format: 'JSONEachRow' })).rejects.toMatchObject({ code: '164' })
    await expect(analyst.command({ query: 'DROP TABLE sluice.notes' })).rejects.toMatchObject({ code: '164' })
    expect((await analyst.query({ query: 'SELECT count() AS n FROM sluice.notes', format: 'JSONEachRow' }).then((r) => r.json()))).toEqual([{ n: 5 }])
  })

  it('has no service user while the service password is empty', async () => {
    const off = await serve({ servicePassword: '' })
    for (const credentials of [{ username: 'sluice', password: '' }, { username: 'sluice', password: SECRET }]) {
      const c = client({ url: off, ...credentials })
      await expect(c.command({ query: 'CREATE TABLE sluice.never (x UInt8) ENGINE = Memory' })).rejects.toMatchObject({ code: '516' })
    }
    expect(await rows("SELECT count() AS n FROM system.tables WHERE database = 'sluice' AND name = 'never'")).toEqual([{ n: 0 }])
  })
})

describe('bad inserts', () => {
  it('answers 4xx with the engine code for rows the body cannot hold', async () => {
    const cases: Array<[string, string | Buffer, Record<string, string>, number, number]> = [
      // RowBinary cut short: a String length with too few bytes behind it.
      ['INSERT INTO sluice.notes (id, n) FORMAT RowBinary', Buffer.from([5, 0x61]), {}, 400, 33],
      ['INSERT INTO sluice.notes FORMAT JSONEachRow', '{"id": "x", "n": "not a number"}', {}, 400, 27],
      ['INSERT INTO sluice.notes (id, missing) FORMAT JSONEachRow', '{"id":"x"}', {}, 400, 16],
      ['INSERT INTO sluice.nowhere FORMAT JSONEachRow', '{"id":"x"}', {}, 404, 60],
      ['INSERT INTO sluice.notes FORMAT NoSuchFormat', 'x', {}, 404, 73],
      ['INSERT INTO sluice.notes FORMAT JSONEachRow', 'not gzip', { 'Content-Encoding': 'gzip' }, 400, 354],
      ['INSERT INTO sluice.notes FORMAT JSONEachRow', 'x', { 'Content-Encoding': 'compress' }, 415, 779],
      ['INSERT INTO sluice.notes FORMAT JSONEachRow {"id":"y","n":1}', gzipSync('{"id":"z","n":1}'), { 'Content-Encoding': 'gzip' }, 400, 36],
    ]
    for (const [query, body, headers, status, code] of cases) {
      const r = await post(query, body, headers)
      expect([r.status, r.code], `${query} ${r.text}`).toEqual([status, code])
      expect(r.text).toMatch(new RegExp(`^Code: ${code}\\. DB::Exception: `))
    }
    expect(await rows("SELECT count() AS n FROM sluice.notes WHERE id IN ('x', 'y', 'z')")).toEqual([{ n: 0 }])
    expect(readdirSync(path.join(dataDir, 'sluice-insert'))).toEqual([])
  })

  it('answers a syntax error in a service statement with 400', async () => {
    const r = await post(undefined, 'CREAT TABLE nope')
    expect([r.status, r.code]).toEqual([400, 62])
  })

  it('inserts nothing, successfully, for an empty body', async () => {
    const r = await post('INSERT INTO sluice.notes FORMAT RowBinary', '')
    expect(r.status).toBe(200)
    expect(JSON.parse(r.summary!)).toMatchObject({ written_rows: '0' })
  })
})

describe('GET', () => {
  it('never writes, as ClickHouse answers a GET, even for the service user', async () => {
    const res = await fetch(`${url}/?${new URLSearchParams({ query: 'CREATE TABLE sluice.by_get (x UInt8) ENGINE = Memory', user: 'sluice', password: SECRET })}`)
    expect([res.status, res.headers.get('x-clickhouse-exception-code')]).toEqual([500, '164'])
    const read = await fetch(`${url}/?${new URLSearchParams({ query: 'SELECT count() FROM sluice.notes', user: 'sluice', password: SECRET })}`)
    expect(await read.text()).toBe('5\n')
  })
})
