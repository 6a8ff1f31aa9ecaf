// A line filter (and /v1/logs?q=) over few rows is read without the text index's dictionary scan,
// and over many with it (guard.ts, runTextSearch), a word the newest quarter of an hour first
// (searchNewestFirst): the same lines every way, on embedded ClickHouse. 1.2 million generated rows of one service over an hour, and a rare term on three of
// them; the statements the query API sent are recorded to show which way each query went.
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import type { ClickHouseClient } from '@sluice/clickhouse'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from '../config.js'
import { buildApp } from '../service.js'
import { openTestStore } from '../test-store.js'
import type { TestStore } from '../test-store.js'

const DATABASE = 'loki_text_scan'
const NS = 1_000_000_000n
const ROWS = 1_200_000
/** The hour of the rows: a whole hour two hours ago. */
const T0_S = Math.floor(Date.now() / 3_600_000) * 3600 - 7200

let store: TestStore
let app: FastifyInstance
let baseUrl: string
const sent: string[] = []

beforeAll(async () => {
  store = await openTestStore('text-scan', DATABASE)
  // ROWS lines spread over the hour (3 ms apart), three of them with the rare term.
  await store.ch.client.command({
    query: `INSERT INTO ${DATABASE}.logs (id, tenant, Timestamp, ObservedTimestamp, ServiceName, SeverityText, SeverityNumber, Body)
SELECT toString(number), 'default', fromUnixTimestamp64Nano(toInt64(${T0_S}) * 1000000000 + toInt64(number) * 3000000) AS t, t, 'busy', 'INFO', 9,
  if(number IN (10, 600000, 1199990), concat('request ', toString(number), ' hit the quarantine-zk7q'), concat('request ', toString(number), ' served'))
FROM numbers(${ROWS})`,
  })
  // A copy of one record, as a re-delivery stores it until ClickHouse merges the two.
  await store.ch.client.command({
    query: `INSERT INTO ${DATABASE}.logs (id, tenant, Timestamp, ObservedTimestamp, ServiceName, SeverityText, SeverityNumber, Body)
SELECT id, tenant, Timestamp, ObservedTimestamp, ServiceName, SeverityText, SeverityNumber, Body FROM ${DATABASE}.logs WHERE id = '1199995'`,
  })
  const client = store.ch.client
  const recording = {
    query: ((p: { query: string }) => {
      sent.push(p.query)
      return client.query(p as Parameters<ClickHouseClient['query']>[0])
    }) as ClickHouseClient['query'],
    command: client.command.bind(client),
  }
  app = buildApp(loadConfig({ CLICKHOUSE_DATABASE: DATABASE }), { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {}, clickhouse: recording as unknown as ClickHouseClient })
  await app.listen({ host: '127.0.0.1', port: 0 })
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}, 120_000)

afterAll(async () => {
  await app?.close()
  await store?.close()
})

/**
 * The lines of a query from T0 + `from` to T0 + `to` seconds, newest first, and the statements it
 * sent; `ordered`: the lines as answered (every line here is of one stream), in `direction`.
 */
async function lines(query: string, from: number, to: number, direction = 'backward'): Promise<{ lines: string[]; ordered: string[]; sent: string[] }> {
  sent.length = 0
  const params = new URLSearchParams({ query, start: String(BigInt(T0_S + from) * NS), end: String(BigInt(T0_S + to) * NS), limit: '10', direction })
  const res = await fetch(`${baseUrl}/loki/api/v1/query_range?${params}`)
  const body = await res.text()
  expect(res.status, body).toBe(200)
  const result = (JSON.parse(body) as { data: { result: { values: [string, string][] }[] } }).data.result
  expect(result).toHaveLength(1)
  return { lines: result.flatMap((s) => s.values).sort((a, b) => (a[0] < b[0] ? 1 : -1)).map((v) => v[1]), ordered: result[0]!.values.map((v) => v[1]), sent: [...sent] }
}

const withoutScan = (q: string) => q.includes('use_text_index_like_evaluation_by_dictionary_scan = 0')

describe('a line filter and the text index', () => {
  it('reads a few rows without the dictionary scan', async () => {
    // A minute: 20 000 rows, one of them with the term.
    const r = await lines('{service_name="busy"} |= "quarantine-zk7q"', 0, 60)
    expect(r.lines).toEqual(['request 10 hit the quarantine-zk7q'])
    expect(r.sent.filter((q) => q.includes('Body LIKE'))).toHaveLength(1)
    expect(withoutScan(r.sent.find((q) => q.includes('Body LIKE'))!)).toBe(true)
  })

  it('reads many rows with it, after ClickHouse refused to read them all without', async () => {
    // The whole hour: 1.2 million rows.
    const r = await lines('{service_name="busy"} |= "quarantine-zk7q"', 0, 3600)
    expect(r.lines).toEqual(['request 1199990 hit the quarantine-zk7q', 'request 600000 hit the quarantine-zk7q', 'request 10 hit the quarantine-zk7q'])
    const statements = r.sent.filter((q) => q.includes('Body LIKE'))
    expect(statements.map(withoutScan)).toEqual([true, false])
  })

  it('searches /v1/logs?q= the same way', async () => {
    const v1 = async (from: number, to: number) => {
      sent.length = 0
      const params = new URLSearchParams({ q: 'quarantine-zk7q', from: new Date((T0_S + from) * 1000).toISOString(), to: new Date((T0_S + to) * 1000).toISOString() })
      const res = await fetch(`${baseUrl}/v1/logs?${params}`)
      const body = await res.text()
      expect(res.status, body).toBe(200)
      return { messages: (JSON.parse(body) as { logs: { message: string }[] }).logs.map((l) => l.message), sent: sent.filter((q) => q.includes('Body LIKE')) }
    }
    const few = await v1(0, 60)
    expect(few.messages).toEqual(['request 10 hit the quarantine-zk7q'])
    expect(few.sent.map(withoutScan)).toEqual([true])
    const many = await v1(0, 3600)
    expect(many.messages).toEqual(['request 1199990 hit the quarantine-zk7q', 'request 600000 hit the quarantine-zk7q', 'request 10 hit the quarantine-zk7q'])
    expect(many.sent.map(withoutScan)).toEqual([true, false])
  })

  it('searches /v1/logs?q= for a word the newest quarter of an hour first, page after page', async () => {
    const v1 = async (q: string, extra: Record<string, string> = {}) => {
      sent.length = 0
      const params = new URLSearchParams({ q, from: new Date(T0_S * 1000).toISOString(), to: new Date((T0_S + 3600) * 1000).toISOString(), ...extra })
      const res = await fetch(`${baseUrl}/v1/logs?${params}`)
      const body = await res.text()
      expect(res.status, body).toBe(200)
      const page = JSON.parse(body) as { logs: { message: string }[]; next_cursor: string | null }
      return { messages: page.logs.map((l) => l.message), cursor: page.next_cursor, sent: sent.filter((s) => s.includes('Body LIKE')) }
    }
    const served = (...n: number[]) => n.map((i) => `request ${i} served`)
    // The slice holds the copy of 1 199 995: read again with LIMIT 1 BY id.
    const first = await v1('served', { limit: '4' })
    expect(first.messages).toEqual(served(1199999, 1199998, 1199997, 1199996))
    expect(first.sent.map(withoutScan)).toEqual([true, true])
    const second = await v1('served', { limit: '4', cursor: first.cursor! })
    expect(second.messages).toEqual(served(1199995, 1199994, 1199993, 1199992))
    expect(second.sent.map(withoutScan)).toEqual([true, true, true])
    expect(second.sent[2]).toMatch(/LIMIT 1 BY id/)
    const few = await v1('quarantine')
    expect(few.messages).toEqual(['request 1199990 hit the quarantine-zk7q', 'request 600000 hit the quarantine-zk7q', 'request 10 hit the quarantine-zk7q'])
    expect(few.sent.map(withoutScan)).toEqual([true, true, false])
  })

  it('reads a word on many lines from the newest quarter of an hour, without the scan', async () => {
    const r = await lines('{service_name="busy"} |= "served"', 0, 3600)
    // The newest ten lines that say "served" (1 199 990 has the rare term instead).
    expect(r.ordered).toEqual([1199999, 1199998, 1199997, 1199996, 1199995, 1199994, 1199993, 1199992, 1199991, 1199989].map((n) => `request ${n} served`))
    // The whole hour refused without the scan, then the last quarter of an hour; it holds the copy
    // of 1 199 995, so it is read again with LIMIT 1 BY id.
    const statements = r.sent.filter((q) => q.includes('Body LIKE'))
    expect(statements.map(withoutScan)).toEqual([true, true, true])
    expect(statements[2]).toMatch(/LIMIT 1 BY id/)
  })

  it('reads the rest of the range with the scan for a word on fewer lines than the limit, either direction', async () => {
    const backward = await lines('{service_name="busy"} |= "quarantine"', 0, 3600)
    expect(backward.ordered).toEqual(['request 1199990 hit the quarantine-zk7q', 'request 600000 hit the quarantine-zk7q', 'request 10 hit the quarantine-zk7q'])
    expect(backward.sent.filter((q) => q.includes('Body LIKE')).map(withoutScan)).toEqual([true, true, false])
    const forward = await lines('{service_name="busy"} |= "quarantine"', 0, 3600, 'forward')
    expect(forward.ordered).toEqual(['request 10 hit the quarantine-zk7q', 'request 600000 hit the quarantine-zk7q', 'request 1199990 hit the quarantine-zk7q'])
    expect(forward.sent.filter((q) => q.includes('Body LIKE')).map(withoutScan)).toEqual([true, true, false])
  })

  it('answers a term on many lines either way', async () => {
    const few = await lines('{service_name="busy"} |= "served"', 0, 60)
    const many = await lines('{service_name="busy"} |= "served"', 0, 3600)
    expect(few.lines).toHaveLength(10)
    expect(many.lines).toHaveLength(10)
    expect(many.lines[0]).toBe('request 1199999 served')
    expect(few.lines[0]).toBe('request 19999 served')
  })
})
