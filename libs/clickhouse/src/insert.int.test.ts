// insertRowBinary on embedded chdb (bytes through a temporary file and file()) and on the server
// path, whose HTTP request is caught by a stand-in for ClickHouse's HTTP interface: its body must
// be RowBinary that loads into the table.
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ClickHouseLogLevel, createClient } from '@clickhouse/client'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { SluiceError } from '@sluice/core'
import { createClickHouse } from './client.js'
import type { ClickHouseHandle } from './client.js'
import { insertRowBinary } from './insert.js'

// chdb binds one data directory per process: one handle for the file, a database per test.
let dataDir: string
let ch: ClickHouseHandle

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-insert-test-'))
  ch = await createClickHouse({ dataDir })
})

afterAll(async () => {
  await ch?.client.close()
  rmSync(dataDir, { recursive: true, force: true })
})

const tempFiles = () => {
  try {
    return readdirSync(path.join(dataDir, 'sluice-insert'))
  } catch {
    return [] // not created yet
  }
}

/** A database with `events`: LowCardinality, Nullable and Map columns, one with a default. */
async function database(): Promise<string> {
  const db = `t_${randomBytes(4).toString('hex')}`
  await ch.client.command({ query: `CREATE DATABASE ${db}` })
  await ch.client.command({
    query: `CREATE TABLE ${db}.events (id String, tag LowCardinality(String), n Nullable(UInt16), attrs Map(LowCardinality(String), String), note String DEFAULT 'default') ENGINE = MergeTree ORDER BY id`,
  })
  onTestFinished(async () => {
    await ch.client.command({ query: `DROP DATABASE ${db} SYNC` })
  })
  return db
}

// RowBinary by hand: String = LEB128 length + UTF-8 (lengths below 128 here), Nullable = 1 byte
// flag, UInt16 little-endian, Map = count then key/value pairs.
const str = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)])
const nullableU16 = (n: number | null) => (n === null ? Buffer.from([1]) : Buffer.from([0, n & 0xff, n >> 8]))
const map = (m: Record<string, string>) => Buffer.concat([Buffer.from([Object.keys(m).length]), ...Object.entries(m).flatMap(([k, v]) => [str(k), str(v)])])

/** Rows of (tag, id, n, attrs): deliberately not the table's column order. */
const COLUMNS = ['tag', 'id', 'n', 'attrs']
const rows = () =>
  Buffer.concat([
    Buffer.concat([str('blue'), str('a'), nullableU16(503), map({ 'k.1': 'v1', ключ: '日本' })]),
    Buffer.concat([str(''), str('b'), nullableU16(null), map({})]),
  ])
const EXPECTED = [
  { id: 'a', tag: 'blue', n: 503, attrs: { 'k.1': 'v1', ключ: '日本' }, note: 'default' },
  { id: 'b', tag: '', n: null, attrs: {}, note: 'default' },
]

async function select(table: string, orderBy = 'id'): Promise<unknown[]> {
  const rs = await ch.client.query({ query: `SELECT * FROM ${table} ORDER BY ${orderBy}`, format: 'JSONEachRow' })
  return rs.json()
}

async function rejection(p: Promise<unknown>): Promise<SluiceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(SluiceError)
  return err as SluiceError
}

/** A stand-in for ClickHouse's HTTP interface: records each request, answers with `reply`. */
async function fakeServer(reply: (res: ServerResponse) => void = (res) => res.end()) {
  const requests: { url: URL; body: Buffer }[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      requests.push({ url: new URL(req.url ?? '/', 'http://localhost'), body: Buffer.concat(chunks) })
      reply(res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  // Quiet: the client logs every error response, which one test asks for.
  const client = createClient({ url, request_timeout: 10_000, log: { level: ClickHouseLogLevel.OFF } })
  onTestFinished(async () => {
    await client.close()
    await new Promise((resolve) => server.close(resolve))
  })
  const handle: ClickHouseHandle = { client, mode: 'server', location: url }
  return { handle, requests }
}

describe('insertRowBinary, embedded', () => {
  it('inserts RowBinary rows of the given columns in their order, the others taking their defaults, and removes its temporary file', async () => {
    const db = await database()
    await insertRowBinary(ch, { table: `${db}.events`, columns: COLUMNS, bytes: rows() })
    expect(await select(`${db}.events`)).toEqual(EXPECTED)
    expect(tempFiles()).toEqual([])
    // Again, now with the table's structure cached.
    await insertRowBinary(ch, { table: `${db}.events`, columns: COLUMNS, bytes: rows() })
    expect(await ch.client.query({ query: `SELECT toUInt32(count()) AS c FROM ${db}.events`, format: 'JSONEachRow' }).then((r) => r.json())).toEqual([{ c: 4 }])
  })

  it('reads rows given in several blocks one after the other, an empty block among them', async () => {
    const db = await database()
    const bytes = rows()
    // Cut inside a row as well as between rows: the blocks are one byte stream.
    await insertRowBinary(ch, { table: `${db}.events`, columns: COLUMNS, bytes: [bytes.subarray(0, 5), Buffer.alloc(0), bytes.subarray(5, 20), bytes.subarray(20)] })
    expect(await select(`${db}.events`)).toEqual(EXPECTED)
    expect(tempFiles()).toEqual([])
    await insertRowBinary(ch, { table: `${db}.events`, columns: COLUMNS, bytes: [Buffer.alloc(0), Buffer.alloc(0)] })
    expect(await select(`${db}.events`)).toEqual(EXPECTED)
  })

  it('quotes identifiers: a database, table and column named with spaces and back quotes', async () => {
    const db = await database()
    await ch.client.command({ query: `CREATE TABLE ${db}.\`odd \\\` table\` (\`the id\` String, \`we\\\`ird\` String) ENGINE = MergeTree ORDER BY tuple()` })
    await insertRowBinary(ch, { table: `${db}.odd \` table`, columns: ['the id', 'we`ird'], bytes: Buffer.concat([str('x'), str("it's")]) })
    expect(await select(`${db}.\`odd \\\` table\``, '`the id`')).toEqual([{ 'the id': 'x', 'we`ird': "it's" }])
  })

  it('removes temporary files an earlier process left behind, at its first insert', async () => {
    const db = await database()
    const dir = path.join(dataDir, 'sluice-insert')
    mkdirSync(dir, { recursive: true })
    writeFileSync(path.join(dir, '1-0123456789abcdef.rowbinary'), 'left by a crashed process')
    // A second handle on the same data directory, as a restarted process would have.
    const again = await createClickHouse({ dataDir })
    onTestFinished(() => again.client.close())
    await insertRowBinary(again, { table: `${db}.events`, columns: COLUMNS, bytes: rows() })
    expect(tempFiles()).toEqual([])
    expect(await select(`${db}.events`)).toEqual(EXPECTED)
  })

  it('writes a batch spanning more partitions than one insert block may create by default (old files replayed)', async () => {
    const db = await database()
    await ch.client.command({ query: `CREATE TABLE ${db}.daily (id String, day Date) ENGINE = MergeTree PARTITION BY day ORDER BY id` })
    // 150 days, one row each: Date is a UInt16 of days since 1970-01-01.
    const bytes = Buffer.concat(Array.from({ length: 150 }, (_, i) => Buffer.concat([str(`r${i}`), Buffer.from([(12_000 + i) & 0xff, (12_000 + i) >> 8])])))
    await insertRowBinary(ch, { table: `${db}.daily`, columns: ['id', 'day'], bytes })
    expect(await ch.client.query({ query: `SELECT toUInt32(uniqExact(day)) AS d FROM ${db}.daily`, format: 'JSONEachRow' }).then((r) => r.json())).toEqual([{ d: 150 }])
  })

  it('does nothing for no bytes', async () => {
    const db = await database()
    await insertRowBinary(ch, { table: `${db}.events`, columns: COLUMNS, bytes: Buffer.alloc(0) })
    expect(await select(`${db}.events`)).toEqual([])
  })

  it('rejects with a retryable CLICKHOUSE_INSERT_FAILED while the table is missing, and inserts once it exists', async () => {
    const db = await database()
    const err = await rejection(insertRowBinary(ch, { table: `${db}.missing`, columns: COLUMNS, bytes: rows() }))
    expect(err.code).toBe('CLICKHOUSE_INSERT_FAILED')
    expect(err.canRetry).toBe(true)
    expect(err.message).toMatch(/missing does not exist/)
    expect(tempFiles()).toEqual([])
    // Once the table exists, the retry goes through: the failed lookup was not cached.
    await ch.client.command({ query: `CREATE TABLE ${db}.missing AS ${db}.events` })
    await insertRowBinary(ch, { table: `${db}.missing`, columns: COLUMNS, bytes: rows() })
    expect(await select(`${db}.missing`)).toEqual(EXPECTED)
  })

  it('rejects bytes that are not whole rows, retryably, inserting none of them and leaving no temporary file', async () => {
    const db = await database()
    const bytes = rows()
    const err = await rejection(insertRowBinary(ch, { table: `${db}.events`, columns: COLUMNS, bytes: bytes.subarray(0, bytes.length - 3) }))
    expect(err.code).toBe('CLICKHOUSE_INSERT_FAILED')
    expect(err.canRetry).toBe(true)
    expect(tempFiles()).toEqual([])
    expect(await select(`${db}.events`)).toEqual([])
  })
})

describe('insertRowBinary, server', () => {
  it('posts the rows as the body of INSERT … FORMAT RowBinary, and that body loads into the table', async () => {
    const db = await database()
    const { handle, requests } = await fakeServer()
    const bytes = rows()
    await insertRowBinary(handle, { table: `${db}.events`, columns: COLUMNS, bytes })
    expect(requests).toHaveLength(1)
    const [request] = requests
    expect(request!.url.searchParams.get('query')).toBe(`INSERT INTO \`${db}\`.\`events\` (\`tag\`, \`id\`, \`n\`, \`attrs\`) SETTINGS optimize_on_insert = 0, throw_on_max_partitions_per_insert_block = 0 FORMAT RowBinary`)
    expect(request!.body.equals(bytes)).toBe(true)
    // What the server would have read: through the embedded path (a file read by file()).
    await insertRowBinary(ch, { table: `${db}.events`, columns: COLUMNS, bytes: request!.body })
    expect(await select(`${db}.events`)).toEqual(EXPECTED)
  })

  it('posts rows given in several blocks as one body', async () => {
    const { handle, requests } = await fakeServer()
    const bytes = rows()
    await insertRowBinary(handle, { table: 'db.events', columns: COLUMNS, bytes: [bytes.subarray(0, 7), bytes.subarray(7)] })
    expect(requests).toHaveLength(1)
    expect(requests[0]!.body.equals(bytes)).toBe(true)
  })

  it('turns an error response into a retryable CLICKHOUSE_INSERT_FAILED', async () => {
    const { handle } = await fakeServer((res) => {
      res.writeHead(500, { 'X-ClickHouse-Exception-Code': '60' })
      res.end('Code: 60. DB::Exception: Table db.events does not exist. (UNKNOWN_TABLE)\n')
    })
    const err = await rejection(insertRowBinary(handle, { table: 'db.events', columns: COLUMNS, bytes: rows() }))
    expect(err.code).toBe('CLICKHOUSE_INSERT_FAILED')
    expect(err.canRetry).toBe(true)
    expect(err.message).toMatch(/UNKNOWN_TABLE|does not exist/)
  })
})
