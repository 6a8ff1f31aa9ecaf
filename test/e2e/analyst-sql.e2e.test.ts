// SQL for analysts while Sluice ingests: the real runtime (gateway → enricher → sink → ClickHouse,
// embedded) serves ClickHouse's HTTP interface read-only, and the clients analysts use — pandas
// through clickhouse-connect, and the JDBC driver DBeaver uses — query the logs table while logs
// are posted; every posted record still arrives once.
import { beforeAll, describe, expect, it } from 'vitest'
import { hashKey } from '@sluice/auth'
import { clickhouseConnect, jdbcDriver, setupJdbc, setupPython } from '../analysts/clients.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'
import { freePort } from '../infra/ports.js'

const BATCHES = 20
const PER_BATCH = 250
const TOTAL = BATCHES * PER_BATCH
// Recent event times: older ones would fall outside the table's TTL.
const BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 600_000
const LEVELS = ['info', 'warn', 'error'] as const

const record = (i: number) => ({
  id: `an-${i}`,
  timestamp: BASE_MS + i,
  level: LEVELS[i % LEVELS.length],
  service: `svc-${i % 4}`,
  message: `order ${i} shipped in ${i % 90} ms`,
  attributes: { region: i % 2 ? 'eu' : 'us' },
})

describe('SQL for analysts (ClickHouse HTTP interface of the embedded engine)', () => {
  beforeAll(async () => {
    // Installed on first use into .cache/ (a fresh clone downloads them once).
    await Promise.all([setupPython(), setupJdbc()])
  })

  it('serves pandas (clickhouse-connect) and the JDBC driver while logs are posted, read-only', async () => {
    const port = await freePort()
    // Embedded ClickHouse whatever the environment says: the interface exists only there.
    const iso = isolation({ CLICKHOUSE_HTTP_PORT: String(port), CLICKHOUSE_URL: '' })
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], iso)
    expect(rt.addresses['clickhouse-http']).toBe(`http://127.0.0.1:${port}`)
    const gateway = rt.addresses.gateway!

    // Posting starts once pandas is connected and polling, and goes on while the analysts query.
    let connected!: () => void
    const polling = new Promise<void>((resolve) => (connected = resolve))
    const posting = (async () => {
      await polling
      for (let b = 0; b < BATCHES; b++) {
        const body = Array.from({ length: PER_BATCH }, (_, k) => JSON.stringify(record(b * PER_BATCH + k))).join('\n')
        const res = await fetch(`${gateway}/v1/logs`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } })
        expect(res.status).toBe(200)
        await new Promise((r) => setTimeout(r, 100))
      }
    })()

    const [connect, ...steps] = await clickhouseConnect(
      {
        host: '127.0.0.1',
        port,
        database: iso.database,
        steps: [
          { op: 'poll', sql: 'SELECT count() FROM logs FINAL', at_least: TOTAL, timeout_s: 90 },
          { op: 'query_df', sql: 'SELECT ServiceName, SeverityText, count() AS n FROM logs FINAL GROUP BY ServiceName, SeverityText ORDER BY ServiceName, SeverityText', limit: 20 },
          { op: 'query_df', sql: "SELECT id, Timestamp, Body, LogAttributes['region'] AS region, SeverityNumber FROM logs WHERE id = 'an-4242'" },
          { op: 'command', sql: "INSERT INTO logs (id, Body) VALUES ('forged', 'x')" },
          { op: 'query', sql: 'DROP TABLE logs' },
        ],
      },
      { onLine: (line) => line.step === 'connect' && connected() },
    )
    await posting
    expect(connect).toMatchObject({ ok: true, server_version: expect.stringMatching(/^\d+\.\d+/) })
    const [poll, byService, one, insert, drop] = steps
    // The counts pandas saw grew while records were still arriving, up to all of them.
    const seen = (poll!.seen as number[]) ?? []
    expect(seen.at(-1)).toBe(TOTAL)
    expect(seen.some((n) => n < TOTAL)).toBe(true)
    expect(seen).toEqual([...seen].sort((a, b) => a - b))
    expect(byService).toMatchObject({ ok: true, columns: ['ServiceName', 'SeverityText', 'n'], len: 12 })
    expect((byService!.rows as Array<{ n: number }>).reduce((s, r) => s + r.n, 0)).toBe(TOTAL)
    expect(one).toMatchObject({ ok: true, len: 1, rows: [{ id: 'an-4242', Body: 'order 4242 shipped in 12 ms', region: 'us' }] })
    expect((one!.dtypes as string[])[1]).toMatch(/^datetime64/)
    expect(insert).toMatchObject({ ok: false, code: 164 })
    expect(drop).toMatchObject({ ok: false, code: 164 })

    const jdbc = await jdbcDriver(`jdbc:clickhouse://127.0.0.1:${port}/${iso.database}`, 'default', '', [
      'meta:product',
      'meta:tables',
      'SELECT count() AS n, uniqExact(id) AS ids FROM logs FINAL',
      "SELECT id, Timestamp, SeverityText, LogAttributes FROM logs WHERE id = 'an-7'",
      'SELECT * FROM logs FINAL ORDER BY id',
      'ALTER TABLE logs DELETE WHERE 1',
    ])
    expect(jdbc[0]).toMatchObject({ ok: true, step: 'connect' })
    expect(jdbc[1]).toMatchObject({ ok: true, product: 'ClickHouse' })
    expect((jdbc[2]!.rows as string[][]).map((r) => r[2])).toContain('logs')
    expect(jdbc[3]).toMatchObject({ ok: true, rows: [[String(TOTAL), String(TOTAL)]] })
    expect(jdbc[4]).toMatchObject({ ok: true, types: ['String', 'DateTime64(9)', 'LowCardinality(String)', 'Map(LowCardinality(String), String)'], rows: [['an-7', expect.any(String), 'WARN', '{region=eu}']] })
    expect(jdbc[5]).toMatchObject({ ok: true })
    expect((jdbc[5]!.rows as unknown[]).length).toBe(TOTAL)
    expect(jdbc[6]).toMatchObject({ ok: false, code: 164 })

    // Nothing the analysts did reached the pipeline: every record is stored once, and the sink still writes.
    const stats = await waitFor('all records through the query API', async () => {
      const s = (await (await fetch(`${rt.addresses['query-api']}/v1/stats`)).json()) as { total: number }
      return s.total >= TOTAL ? s : undefined
    })
    expect(stats.total).toBe(TOTAL)
    const late = await fetch(`${gateway}/v1/logs`, { method: 'POST', body: JSON.stringify(record(TOTAL)), headers: { 'content-type': 'application/json' } })
    expect(late.status).toBe(200)
    const [, after] = await clickhouseConnect({ host: '127.0.0.1', port, database: iso.database, steps: [{ op: 'poll', sql: 'SELECT count() FROM logs FINAL', at_least: TOTAL + 1, timeout_s: 30 }] })
    expect((after!.seen as number[]).at(-1)).toBe(TOTAL + 1)
  })

  it('takes API keys as passwords with SLUICE_AUTH: a key reads its tenant only, a key without the query scope is refused', async () => {
    const port = await freePort()
    const keys = {
      keys: [
        { id: 'acme-ship', sha256: hashKey('k-ship-acme'), tenants: ['acme'], scopes: ['ingest'] },
        { id: 'globex-ship', sha256: hashKey('k-ship-globex'), tenants: ['globex'], scopes: ['ingest'] },
        { id: 'acme-read', sha256: hashKey('k-read-acme'), tenants: ['acme'], scopes: ['query'] },
        { id: 'ops', sha256: hashKey('k-ops'), tenants: ['acme', 'globex'], scopes: ['query'] },
        { id: 'root', sha256: hashKey('k-root'), tenants: ['*'], scopes: ['admin'] },
      ],
    }
    const iso = isolation({ CLICKHOUSE_HTTP_PORT: String(port), CLICKHOUSE_URL: '', SLUICE_AUTH: 'true', SLUICE_API_KEYS: JSON.stringify(keys) })
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], iso)
    for (const [key, n] of [['k-ship-acme', 30], ['k-ship-globex', 20]] as const) {
      const body = Array.from({ length: n }, (_, i) => JSON.stringify({ ...record(i), id: `${key}-${i}` })).join('\n')
      const res = await fetch(`${rt.addresses.gateway}/v1/logs`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${key}` } })
      expect(res.status).toBe(200)
    }
    const count = (username: string, password: string) =>
      clickhouseConnect({ host: '127.0.0.1', port, database: iso.database, username, password, steps: [{ op: 'poll', sql: 'SELECT count() FROM logs FINAL', at_least: 1, timeout_s: 60 }] })
    // Every row stored, as the operator's key sees them.
    const [, all] = await clickhouseConnect({ host: '127.0.0.1', port, database: iso.database, username: 'default', password: 'k-root', steps: [{ op: 'poll', sql: 'SELECT count() FROM logs FINAL', at_least: 50, timeout_s: 90 }] })
    expect((all!.seen as number[]).at(-1)).toBe(50)
    const [, acme] = await count('default', 'k-read-acme')
    expect((acme!.seen as number[]).at(-1)).toBe(30)
    // A key of several tenants: the user name chooses one of them.
    const [, globex] = await count('globex', 'k-ops')
    expect((globex!.seen as number[]).at(-1)).toBe(20)
    const [refused] = await count('default', 'k-ship-acme')
    expect(refused).toMatchObject({ ok: false, step: 'connect' })
    expect(String(refused!.error)).toMatch(/lacks the query scope|Authentication failed/)
    const [wrong] = await count('default', 'not-a-key')
    expect(wrong).toMatchObject({ ok: false, step: 'connect' })
  })
})
