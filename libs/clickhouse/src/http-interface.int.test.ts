// ClickHouse's HTTP interface over a real embedded engine (chdb), spoken to by @clickhouse/client
// and by plain HTTP: answers, errors as ClickHouse sends them, read-only refusals, limits, streaming,
// compression, and a tenant scope. (clickhouse-connect and the JDBC driver: test/e2e/analyst-sql.)
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ClickHouseLogLevel, createClient } from '@clickhouse/client'
import type { ClickHouseClient } from '@clickhouse/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClickHouse } from './client.js'
import type { ClickHouseHandle } from './client.js'
import { createHttpInterface } from './http-interface.js'
import type { HttpInterface, HttpInterfaceOptions } from './http-interface.js'
import { cityHash128 } from './http/cityhash.js'

let dataDir: string
let ch: ClickHouseHandle
const servers: HttpInterface[] = []
let url: string
let client: ClickHouseClient

const ROWS = 1000
const LIMITS: HttpInterfaceOptions = {
  host: '127.0.0.1',
  port: 0,
  user: 'default',
  password: '',
  database: 'sluice',
  maxResultRows: 300_000,
  timeoutMs: 20_000,
  maxMemoryBytes: 1 << 30,
  maxConcurrentQueries: 2,
}

/** @clickhouse/client, quiet: the errors it would log are what these tests ask for. */
const jsClient = (config: Parameters<typeof createClient>[0]) => createClient({ ...config, log: { level: ClickHouseLogLevel.OFF } })

async function serve(opts: Partial<HttpInterfaceOptions> = {}): Promise<string> {
  const server = createHttpInterface(ch, { ...LIMITS, ...opts })
  servers.push(server)
  return server.listen()
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-http-test-'))
  ch = await createClickHouse({ dataDir })
  for (const query of [
    'CREATE DATABASE sluice',
    'CREATE TABLE sluice.logs (tenant LowCardinality(String), Timestamp DateTime64(9), ServiceName LowCardinality(String), Body String, SeverityNumber UInt8) ENGINE = ReplacingMergeTree ORDER BY (tenant, ServiceName, Timestamp, Body)',
    `INSERT INTO sluice.logs SELECT if(number % 4 = 0, 'acme', 'globex'), toDateTime64('2026-11-30 00:00:00', 9) + number, 'svc-' || toString(number % 3), 'line ' || toString(number), number % 24 FROM numbers(${ROWS})`,
    'CREATE TABLE sluice.alerts (Tenant String, Id String) ENGINE = MergeTree ORDER BY Id',
    "INSERT INTO sluice.alerts VALUES ('acme', 'a1'), ('globex', 'g1'), ('globex', 'g2')",
    'CREATE TABLE sluice.totals (tenant String, n UInt64) ENGINE = SummingMergeTree ORDER BY tenant',
    'CREATE MATERIALIZED VIEW sluice.totals_mv TO sluice.totals AS SELECT tenant, count() AS n FROM sluice.logs GROUP BY tenant',
    "INSERT INTO sluice.logs (tenant, Body) VALUES ('acme', 'late'), ('globex', 'late')",
  ]) {
    await ch.client.command({ query })
  }
  url = await serve()
  client = jsClient({ url, database: 'sluice' })
})

afterAll(async () => {
  await client?.close()
  for (const s of servers) await s.close()
  await ch?.client.close()
  rmSync(dataDir, { recursive: true, force: true })
})

async function post(query: string, params: Record<string, string> = {}, headers: Record<string, string> = {}, base = url) {
  const res = await fetch(`${base}/?${new URLSearchParams(params)}`, { method: 'POST', body: query, headers })
  return { status: res.status, headers: res.headers, text: await res.text() }
}

/** The code of a ClickHouse error answer, checking its shape on the way. */
async function errorCode(query: string, params: Record<string, string> = {}, base = url): Promise<{ status: number; code: number; text: string }> {
  const r = await post(query, params, {}, base)
  const code = Number(r.headers.get('x-clickhouse-exception-code'))
  expect(r.text, query).toMatch(new RegExp(`^Code: ${code}\\. DB::Exception: [\\s\\S]*\\(version \\d+\\.\\d+\\.\\d+\\.\\d+\\)\\n$`))
  return { status: r.status, code, text: r.text }
}

describe('ClickHouse HTTP interface (embedded, read-only)', () => {
  it('answers health checks as ClickHouse does', async () => {
    for (const p of ['/ping', '/', '/replicas_status']) {
      const res = await fetch(`${url}${p}`)
      expect([p, res.status, await res.text()]).toEqual([p, 200, 'Ok.\n'])
    }
    expect((await fetch(`${url}/play`)).status).toBe(404)
    expect(await client.ping()).toEqual({ success: true })
  })

  it('serves @clickhouse/client: rows, documents, query parameters (in the URL and multipart)', async () => {
    const rows = await (await client.query({ query: 'SELECT ServiceName, count() AS n FROM logs WHERE tenant = {t:String} AND ServiceName != \'\' GROUP BY ServiceName ORDER BY ServiceName', query_params: { t: 'acme' }, format: 'JSONEachRow' })).json<{ ServiceName: string; n: number }>()
    expect(rows).toEqual([
      { ServiceName: 'svc-0', n: 84 },
      { ServiceName: 'svc-1', n: 83 },
      { ServiceName: 'svc-2', n: 83 },
    ])
    const doc = await (await client.query({ query: 'SELECT count() AS n FROM logs', format: 'JSON' })).json<{ data: Array<{ n: number }>; meta: unknown[] }>()
    expect(doc.data).toEqual([{ n: ROWS + 2 }])
    const multipart = jsClient({ url, database: 'sluice', use_multipart_params: true })
    try {
      const r = await (await multipart.query({ query: 'SELECT {s:String} AS s', query_params: { s: "it's\na test" }, format: 'JSONEachRow' })).json()
      expect(r).toEqual([{ s: "it's\na test" }])
    } finally {
      await multipart.close()
    }
  })

  it('sends ClickHouse headers, and takes the database and format from the request', async () => {
    const r = await post('SELECT currentDatabase() AS db, 1 AS x', { database: 'system', query_id: 'q-1' }, { 'X-ClickHouse-Format': 'JSONEachRow' })
    expect(r.text).toBe('{"db":"system","x":1}\n')
    expect(r.headers.get('x-clickhouse-query-id')).toBe('q-1')
    expect(r.headers.get('x-clickhouse-format')).toBe('JSONEachRow')
    expect(r.headers.get('x-clickhouse-timezone')).toBeTruthy()
    expect(r.headers.get('x-clickhouse-server-display-name')).toBeTruthy()
    expect(JSON.parse(r.headers.get('x-clickhouse-summary')!)).toMatchObject({ read_rows: expect.any(String), elapsed_ns: expect.any(String) })
    const get = await fetch(`${url}/?query=${encodeURIComponent('SELECT 2 FORMAT CSV')}`)
    expect([get.headers.get('x-clickhouse-format'), await get.text()]).toEqual(['CSV', '2\n'])
    expect((await post('SELECT 1', { database: 'nope' })).status).toBe(404)
  })

  it('answers bad SQL with ClickHouse errors and 4xx statuses, and stays up', async () => {
    expect(await errorCode('SELEC 1')).toMatchObject({ status: 400, code: 62 })
    expect(await errorCode('SELECT * FROM no_such_table')).toMatchObject({ status: 404, code: 60 })
    expect(await errorCode('SELECT no_such_function(1)')).toMatchObject({ status: 404, code: 46 })
    expect(await errorCode('SELECT 1', { default_format: 'NoSuchFormat' })).toMatchObject({ status: 404, code: 73 })
    expect(await errorCode('')).toMatchObject({ status: 400, code: 62 })
    expect(await errorCode('SELECT 1\0; DROP TABLE logs')).toMatchObject({ status: 400, code: 62 })
    expect(await errorCode('SELECT 1', { no_such_setting: '1' })).toMatchObject({ status: 404, code: 115 })
    const e = await client.query({ query: 'SELECT * FROM missing', format: 'JSONEachRow' }).catch((err: unknown) => err)
    expect(e).toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' })
    expect((await post('SELECT 1')).text).toBe('1\n')
  })

  it('refuses writes, DDL, SYSTEM, KILL, SET and lifting readonly, through every door', async () => {
    const refused = [
      ["INSERT INTO logs (tenant, Body) VALUES ('x', 'y')", 164],
      ['DROP TABLE logs', 164],
      ['TRUNCATE TABLE logs', 164],
      ['ALTER TABLE logs DELETE WHERE 1', 164],
      ['CREATE TABLE t (a UInt8) ENGINE = Memory', 164],
      ['CREATE TEMPORARY TABLE t (a UInt8)', 164],
      ['OPTIMIZE TABLE logs FINAL', 164],
      ['SYSTEM FLUSH LOGS', 164],
      ['KILL QUERY WHERE 1', 164],
      ['SET readonly = 0', 164],
      ['SELECT 1 SETTINGS readonly = 0', 164],
      ['SELECT 1 SETTINGS max_result_rows = 10000000', 164],
      ["SELECT 1 SETTINGS additional_table_filters = {'sluice.logs': '1'}", 164],
      ['SELECT 1 PARALLEL WITH KILL QUERY WHERE 1', 164],
      ['SELECT 1; DROP TABLE logs', 62],
    ] as const
    for (const [query, code] of refused) expect((await errorCode(query)).code, query).toBe(code)
    expect((await errorCode('SELECT 1', { readonly: '0' })).code).toBe(164)
    expect((await post("SELECT getSetting('max_result_rows')", { max_result_rows: '0' })).text).toBe('300000\n')
    expect((await errorCode('SELECT 1', { allow_ddl: '1' })).code).toBe(164)
    const drop = await client.command({ query: 'DROP TABLE logs' }).catch((err: unknown) => err)
    expect(drop).toMatchObject({ code: '164' })
    const insert = await client.insert({ table: 'logs', values: [{ tenant: 'x', Body: 'y' }], format: 'JSONEachRow' }).catch((err: unknown) => err)
    expect(insert).toMatchObject({ code: '164' })
    expect(await count('SELECT count() FROM sluice.logs')).toBe(ROWS + 2)
  })

  it('reads no files and reaches no other server: file(), url(), s3(), remote(), INTO OUTFILE', async () => {
    const outfile = path.join(dataDir, 'outfile.tsv')
    expect((await errorCode(`SELECT * FROM logs INTO OUTFILE '${outfile}'`)).code).toBe(358)
    expect((await errorCode(`SELECT 1 INTO OUTFILE '${outfile}' TRUNCATE FORMAT TSV`)).code).toBe(358)
    expect((await errorCode(`EXPLAIN SELECT 1 INTO OUTFILE '${outfile}'`)).code).toBe(358)
    expect(existsSync(outfile)).toBe(false)
    expect((await errorCode("SELECT * FROM file('/etc/hostname', 'LineAsString')")).code).toBe(497)
    expect((await errorCode("SELECT file('/etc/hostname')")).code).toBe(497)
    expect((await errorCode("SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'a String')")).code).toBe(164)
    // s3() refuses the address before the read-only check: refused either way.
    expect([36, 164]).toContain((await errorCode("SELECT * FROM s3('http://127.0.0.1:9/b/k.csv', 'CSV', 'a String')")).code)
    expect((await errorCode("SELECT * FROM remote('127.0.0.1:9', system.one)")).code).toBe(164)
    expect((await errorCode("DESCRIBE TABLE file('/etc/hostname', 'LineAsString')")).code).toBe(497)
    expect((await errorCode("SELECT * FROM executable('id', 'TSV', 'a String')")).code).toBe(164)
    expect((await errorCode('SELECT 1', { output_format_schema: outfile })).code).toBe(164)
  })

  it('keeps every query its own: nothing an analyst sets reaches the next query or the sink session', async () => {
    expect((await post("SELECT getSetting('max_result_rows')", { max_result_rows: '7' })).text).toBe('7\n')
    expect((await post("SELECT getSetting('max_result_rows'), getSetting('readonly')")).text).toBe('300000\t1\n')
    const sink = await (await ch.client.query({ query: "SELECT getSetting('readonly') AS ro, getSetting('max_result_rows') AS rows", format: 'JSONEachRow' })).json()
    expect(sink.map((r) => Object.values(r as object).map(String))).toEqual([['0', '0']])
    await ch.client.command({ query: "INSERT INTO sluice.alerts VALUES ('initech', 'i1')" })
  })

  it('limits result rows (a client may lower the limit) and streams large results whole', async () => {
    const over = await client
      .query({ query: 'SELECT number FROM numbers(400000)', format: 'JSONEachRow' })
      .then(async (rs) => rs.json())
      .catch((err: unknown) => err)
    expect(over).toMatchObject({ code: '396', type: 'TOO_MANY_ROWS_OR_BYTES' })
    expect((await errorCode('SELECT number FROM numbers(100)', { max_result_rows: '10' })).code).toBe(396)
    expect((await post('SELECT number FROM numbers(100)', { max_result_rows: '10', result_overflow_mode: 'break' })).status).toBe(200)
    // 250 000 rows cross several of the engine's chunks: each format arrives as the engine writes it whole.
    const query = "SELECT number AS n, toString(number) AS s, 'a\"b' AS q FROM numbers(250000)"
    for (const format of ['TSV', 'JSONEachRow', 'RowBinaryWithNamesAndTypes', 'CSVWithNames', 'TSVWithNamesAndTypes', 'JSONCompactEachRowWithNamesAndTypes', 'Native', 'JSON']) {
      const served = Buffer.from(await (await fetch(`${url}/?default_format=${format}`, { method: 'POST', body: query })).arrayBuffer())
      const whole = Buffer.from(await (await ch.client.exec({ query: `${query} FORMAT ${format}` })).stream.toArray().then((parts: Buffer[]) => Buffer.concat(parts)))
      if (format === 'JSON') expect(JSON.parse(served.toString()).rows, format).toBe(250000)
      else expect(served.equals(whole), format).toBe(true)
    }
  })

  it('ends an answer that fails midway with ClickHouse exception block, and drops the connection', async () => {
    // Fails in the fourth of the engine's 65 409-row blocks, half a second late: the engine runs a few
    // blocks ahead of its reader and reports an error before the rows it holds, so without the pause a
    // busy machine could see the error before the first rows went out (and rightly answer 500).
    const query = "SELECT number, throwIf(number = 240000 AND sleepEachRow(0.5) = 0, 'boom') FROM numbers(250000) FORMAT JSONEachRow"
    const raw = await new Promise<{ status: number; tag: string; body: string; complete: boolean }>((resolve, reject) => {
      const req = request(`${url}/`, { method: 'POST' }, (res) => {
        const parts: Buffer[] = []
        res.on('data', (d: Buffer) => parts.push(d))
        const done = () => resolve({ status: res.statusCode!, tag: String(res.headers['x-clickhouse-exception-tag']), body: Buffer.concat(parts).toString(), complete: res.complete })
        res.on('end', done)
        res.on('error', done)
        res.on('aborted', done)
      })
      req.on('error', reject)
      req.end(query)
    })
    expect(raw.status).toBe(200)
    expect(raw.body.startsWith('{"number":"0"') || raw.body.startsWith('{"number":0')).toBe(true)
    expect(raw.body).toMatch(new RegExp(`\\r\\n__exception__\\r\\n${raw.tag}\\r\\nCode: 395\\. DB::Exception: [^\\n]*boom[^\\n]*\\n\\d+ ${raw.tag}\\r\\n__exception__\\r\\n$`))
    expect(raw.complete).toBe(false)
    // @clickhouse/client reads the block as the query's error, after the rows before it.
    let rows = 0
    const rs = await client.query({ query: query.replace(' FORMAT JSONEachRow', ''), format: 'JSONEachRow' })
    const err = await (async () => {
      for await (const batch of rs.stream()) rows += batch.length
    })().catch((e: unknown) => e)
    expect(rows).toBeGreaterThan(0)
    expect(err).toMatchObject({ code: '395' })
  })

  it('compresses as asked: ClickHouse framing (compress=1) and HTTP gzip', async () => {
    const query = 'SELECT number FROM numbers(50000)'
    const plain = Buffer.from(await (await fetch(`${url}/`, { method: 'POST', body: query })).arrayBuffer())
    const framed = Buffer.from(await (await fetch(`${url}/?compress=1`, { method: 'POST', body: query })).arrayBuffer())
    const payload: Buffer[] = []
    for (let p = 0; p < framed.length; ) {
      const size = framed.readUInt32LE(p + 17)
      const block = framed.subarray(p + 16, p + 16 + size)
      const [low, high] = cityHash128(block)
      expect([framed.readBigUInt64LE(p), framed.readBigUInt64LE(p + 8)]).toEqual([low, high])
      expect(block[0]).toBe(0x82)
      payload.push(literalsOf(block.subarray(9), block.readUInt32LE(5)))
      p += 16 + size
    }
    expect(Buffer.concat(payload).equals(plain)).toBe(true)
    const gz = await fetch(`${url}/`, { method: 'POST', body: query, headers: { 'Accept-Encoding': 'gzip' } })
    expect(gz.headers.get('content-encoding')).toBe('gzip')
    const text = await gz.text() // fetch decodes gzip
    expect(text).toBe(plain.toString())
    const identity = await fetch(`${url}/?enable_http_compression=0`, { method: 'POST', body: query, headers: { 'Accept-Encoding': 'gzip' } })
    expect(identity.headers.get('content-encoding')).toBeNull()
    const compressed = jsClient({ url, database: 'sluice', compression: { response: true } })
    try {
      expect(await (await compressed.query({ query: 'SELECT count() AS n FROM numbers(10)', format: 'JSONEachRow' })).json()).toEqual([{ n: 10 }])
    } finally {
      await compressed.close()
    }
  })

  it('stops queries at the time limit with 408', async () => {
    const quick = await serve({ timeoutMs: 1000 })
    const t = Date.now()
    expect(await errorCode('SELECT sum(cityHash64(number)) FROM numbers(100000000000)', {}, quick)).toMatchObject({ status: 408, code: 159 })
    expect(Date.now() - t).toBeLessThan(5000)
  })

  it('asks for the password when one is set, from basic auth, X-ClickHouse headers or parameters', async () => {
    const locked = await serve({ user: 'analyst', password: 's3cret' })
    expect(await errorCode('SELECT 1', { user: 'analyst' }, locked)).toMatchObject({ status: 401, code: 194 })
    expect(await errorCode('SELECT 1', {}, locked)).toMatchObject({ status: 403, code: 516 })
    expect(await errorCode('SELECT 1', { user: 'analyst', password: 'wrong' }, locked)).toMatchObject({ status: 403, code: 516 })
    expect((await post('SELECT 1', { user: 'analyst', password: 's3cret' }, {}, locked)).text).toBe('1\n')
    expect((await post('SELECT 2', {}, { 'X-ClickHouse-User': 'analyst', 'X-ClickHouse-Key': 's3cret' }, locked)).text).toBe('2\n')
    const js = jsClient({ url: locked, username: 'analyst', password: 's3cret', database: 'sluice' })
    try {
      expect(await (await js.query({ query: 'SELECT 3 AS x', format: 'JSONEachRow' })).json()).toEqual([{ x: 3 }])
    } finally {
      await js.close()
    }
    expect((await fetch(`${locked}/ping`)).status).toBe(200)
  })

  it('scopes a tenant: its rows only, in every table with a tenant column, through subqueries, joins, views and FINAL', async () => {
    const acme = await serve({ tenant: 'acme' })
    const q = async (query: string) => (await post(query, {}, {}, acme)).text.trim()
    expect(await q('SELECT count() FROM logs')).toBe(String(ROWS / 4 + 1))
    expect(await q('SELECT count() FROM sluice.logs FINAL')).toBe(String(ROWS / 4 + 1))
    expect(await q("SELECT count() FROM logs WHERE tenant = 'globex'")).toBe('0')
    expect(await q('SELECT groupUniqArray(tenant) FROM (SELECT tenant FROM logs) AS l JOIN alerts AS a ON l.tenant = a.Tenant')).toBe("['acme']")
    expect(await q('SELECT Id FROM alerts ORDER BY Id')).toBe('a1')
    expect(await q('SELECT tenant, sum(n) FROM totals_mv GROUP BY tenant')).toBe('acme\t1')
    expect(await q('SELECT count() FROM view(SELECT * FROM logs)')).toBe(String(ROWS / 4 + 1))
    expect(await q('SELECT count() FROM system.processes')).toBe('0')
    expect((await errorCode("SELECT count() FROM merge('sluice', '^logs$')", {}, acme)).code).toBe(497)
    expect((await errorCode("SELECT * FROM mergeTreeIndex('sluice', 'logs')", {}, acme)).code).toBe(497)
    expect((await errorCode("SELECT 1", { additional_table_filters: "{'sluice.logs': '1'}" }, acme)).code).toBe(164)
    // The unscoped interface still sees everyone.
    expect((await post('SELECT count() FROM logs')).text).toBe(`${ROWS + 2}\n`)
  })

  it('runs a bounded number of queries at once; the rest wait for a turn', async () => {
    const one = await serve({ maxConcurrentQueries: 1 })
    const t = Date.now()
    const answers = await Promise.all([0, 1, 2].map(() => post('SELECT sleep(0.4)', {}, {}, one)))
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200])
    expect(Date.now() - t).toBeGreaterThanOrEqual(1100)
  })
})

async function count(query: string): Promise<number> {
  const rows = await (await ch.client.query({ query, format: 'JSONCompactEachRow' })).json<[string]>()
  return Number(rows[0]![0])
}

/** The data of an LZ4 block written as one literal run (what compressed.ts writes). */
function literalsOf(lz4: Buffer, size: number): Buffer {
  let p = 1
  if (lz4[0]! >> 4 === 15) while (lz4[p++] === 255);
  return lz4.subarray(p, p + size)
}
