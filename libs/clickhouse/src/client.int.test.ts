// The embedded client after a statement that fails part way: chdb keeps what the failed statement
// had written and hands it to the next statement of the session, so without oneAtATime the next
// answer is unreadable (JSON) or carries the failed statement's rows (a row format). And its
// sessions (sessionPool): a slow statement holds up only those of its kind (insert, command) or,
// when no read session is free, reads.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { drainStream } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClickHouse, paramsInSession } from './client.js'
import type { ClickHouseHandle } from './client.js'

let dataDir: string
let ch: ClickHouseHandle

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-client-test-'))
  ch = await createClickHouse({ dataDir })
})

afterAll(async () => {
  await ch?.client.close()
  rmSync(dataDir, { recursive: true, force: true })
})

// Fails on its 70 000th row, after ClickHouse wrote the first blocks of the answer (one thread,
// small blocks: in parallel the failing block can come first, and nothing is written before it).
const FAILING = "SELECT number, throwIf(number = 70000, 'refused part way') AS x FROM numbers(100000) SETTINGS max_threads = 1, max_block_size = 1000"

describe('the embedded client after a failed statement', () => {
  it('answers the next statements with their own rows, in every format', async () => {
    for (const format of ['JSON', 'JSONEachRow', 'JSONCompactEachRow'] as const) {
      await expect(ch.client.query({ query: FAILING, format }).then((r) => r.text())).rejects.toThrow(/refused part way/)
      const next = await ch.client.query({ query: 'SELECT 7 AS seven', format: 'JSONEachRow' })
      expect(await next.json()).toEqual([{ seven: 7 }])
    }
  })

  it('answers statements issued while a failing one runs, each with its own rows', async () => {
    const asked = Array.from({ length: 6 }, (_, i) => i)
    // Settled as soon as it is asked, so its failure is never an unhandled rejection meanwhile.
    const failing = Promise.allSettled([ch.client.query({ query: FAILING, format: 'JSONEachRow' }).then((r) => r.text())])
    // Running in the engine when the others are asked.
    await new Promise((resolve) => setTimeout(resolve, 5))
    const answers = await Promise.allSettled(asked.map((i) => ch.client.query({ query: `SELECT ${i} AS i`, format: 'JSONEachRow' }).then((r) => r.json())))
    expect((await failing)[0]!.status).toBe('rejected')
    expect(answers.map((a) => (a.status === 'fulfilled' ? a.value : a.reason))).toEqual(asked.map((i) => [{ i }]))
  })

  it('answers after a statement stopped by max_execution_time or a read limit', async () => {
    await expect(ch.client.command({ query: 'SELECT count() FROM numbers(100000000000) SETTINGS max_execution_time = 1, timeout_overflow_mode = \'throw\'' })).rejects.toThrow(/TIMEOUT_EXCEEDED|Timeout exceeded/)
    expect(await (await ch.client.query({ query: 'SELECT 1 AS one', format: 'JSONEachRow' })).json()).toEqual([{ one: 1 }])
    await expect(ch.client.query({ query: 'SELECT number FROM numbers(1000000) SETTINGS max_rows_to_read = 100000', format: 'JSONEachRow' }).then((r) => r.text())).rejects.toThrow(/TOO_MANY_ROWS|Limit for rows/)
    expect(await (await ch.client.query({ query: 'SELECT 2 AS two', format: 'JSONEachRow' })).json()).toEqual([{ two: 2 }])
  })

  // chdb is pinned (libs/clickhouse/package.json): when a new version no longer leaves a failed
  // statement's output behind, this fails, and oneAtATime can go.
  it('is needed: chdb 3.4.0 hands a failed statement’s output to the next statement of its session', async () => {
    const raw = createChdbConnection({ path: dataDir })
    try {
      // The connection takes the format in the statement, as @clickhouse/client writes it there.
      await expect(raw.query({ query: FAILING.replace(' SETTINGS', ' FORMAT JSONEachRow SETTINGS') } as Parameters<typeof raw.query>[0])).rejects.toThrow(/refused part way/)
      const next = await raw.query({ query: 'SELECT 7 AS seven FORMAT JSONEachRow' } as Parameters<typeof raw.query>[0])
      let text = ''
      for await (const chunk of next.stream) text += String(chunk)
      expect(text).not.toBe('{"seven":7}\n')
      expect(text).toMatch(/^\{"number":"?0"?,"x":0\}\n/)
    } finally {
      await raw.close()
    }
  })
})

// Two seconds in the engine, sleeping: slow whatever the machine.
const SLOW = 'SELECT sleepEachRow(0.5) FROM numbers(4) SETTINGS max_block_size = 1'

/** Runs `slow`, then `meanwhile`; which of `meanwhile`'s statements finished before `slow` did. */
async function whileSlow(slow: () => Promise<unknown>, meanwhile: Record<string, () => Promise<unknown>>): Promise<Record<string, boolean>> {
  let slowDone = false
  const running = slow().then(() => (slowDone = true))
  await new Promise((resolve) => setTimeout(resolve, 100))
  const before = Object.fromEntries(await Promise.all(Object.entries(meanwhile).map(async ([name, run]) => [name, (await run(), !slowDone)] as const)))
  await running
  return before
}

describe('the embedded client over several engine sessions', () => {
  const statements = (handle: ClickHouseHandle) => ({
    insert: () => handle.client.insert({ table: 'pool_test.t', values: [{ n: 1 }], format: 'JSONEachRow' }),
    command: () => handle.client.command({ query: 'INSERT INTO pool_test.t VALUES (2)' }),
    query: async () => expect(await (await handle.client.query({ query: 'SELECT 7 AS seven', format: 'JSONEachRow' })).json()).toEqual([{ seven: 7 }]),
  })
  beforeAll(async () => {
    await ch.client.command({ query: 'CREATE DATABASE IF NOT EXISTS pool_test' })
    await ch.client.command({ query: 'CREATE TABLE IF NOT EXISTS pool_test.t (n UInt8) ENGINE = MergeTree ORDER BY n' })
  })

  it('answers writes and other queries while a slow query runs', async () => {
    expect(await whileSlow(() => ch.client.query({ query: SLOW, format: 'JSONEachRow' }).then((r) => r.json()), statements(ch))).toEqual({ insert: true, command: true, query: true })
  })

  it('keeps commands in order, apart from inserts: a command waits for the slow one before it', async () => {
    expect(await whileSlow(() => ch.client.command({ query: `INSERT INTO pool_test.t ${SLOW}` }), statements(ch))).toEqual({ insert: true, command: false, query: true })
  })

  it('keeps inserts in order, apart from commands: an insert waits for the slow one before it', async () => {
    const slowInsert = () => ch.client.exec({ query: `INSERT INTO pool_test.t ${SLOW}` }).then((r) => drainStream(r.stream))
    expect(await whileSlow(slowInsert, statements(ch))).toEqual({ insert: false, command: true, query: true })
  })

  it('answers a query with parameters while a slow one with parameters runs (chdb binds one at a time in the process)', async () => {
    const slow = () => ch.client.query({ query: SLOW.replace('numbers(4)', 'numbers({n:UInt8})'), query_params: { n: 4 }, format: 'JSONEachRow' }).then((r) => r.json())
    const quick = async () => expect(await (await ch.client.query({ query: 'SELECT {s:String} AS s', query_params: { s: 'quick' }, format: 'JSONEachRow' })).json()).toEqual([{ s: 'quick' }])
    expect(await whileSlow(slow, { quick })).toEqual({ quick: true })
  })

  it('reads every parameter value as chdb’s binding does, a long one too', async () => {
    const values: [string, unknown][] = [
      ['String', 'plain'],
      ['String', "quote ' and \\ backslash, tab\t, newline\n, return\r, NUL \u0000, \\N, {braces}, µ 😀"],
      ['String', ''],
      ['String', '\\'],
      ['Int64', '9223372036854775807'],
      ['Int64', -42],
      ['UInt32', 100],
      ['Float64', 0.1],
      ['Float64', 500],
      ['UInt8', 1],
      ['Array(String)', ["a'b", 'c\\d', 'e\tf', '']],
      ['Array(String)', []],
      ['Map(String, String)', { "k'1": 'v\\1', k2: '' }],
      ['Nullable(String)', null],
      // Longer than the engine reads in one statement: bound by chdb.
      ['String', `${'long '.repeat(60_000)}'\\`],
    ]
    const bound = createChdbConnection({ path: dataDir })
    const inSession = paramsInSession(createChdbConnection({ path: dataDir }))
    try {
      const text = async (c: typeof bound, type: string, value: unknown) => {
        const r = await c.query({ query: `SELECT {v:${type}} AS v FORMAT JSONEachRow`, query_params: { v: value } } as Parameters<typeof bound.query>[0])
        let out = ''
        for await (const chunk of r.stream) out += String(chunk)
        return out
      }
      for (const [type, value] of values) expect(await text(inSession, type, value), `${type} ${JSON.stringify(value)}`).toBe(await text(bound, type, value))
    } finally {
      await bound.close()
      await inSession.close()
    }
  })

  it('with CLICKHOUSE_READ_SESSIONS=1, a query waits for the slow one; inserts and commands do not', async () => {
    const one = await createClickHouse({ dataDir, readSessions: 1 })
    try {
      expect(await whileSlow(() => one.client.query({ query: SLOW, format: 'JSONEachRow' }).then((r) => r.json()), statements(one))).toEqual({ insert: true, command: true, query: false })
    } finally {
      await one.client.close()
    }
  })
})
