// Unwrapped range aggregations through the Loki API on embedded ClickHouse: the labels of their
// series.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { listenQueryApi, openTestStore } from '../test-store.js'
import type { TestStore } from '../test-store.js'

const DATABASE = 'loki_unwrap'
const NS = 1_000_000_000n
/** A whole minute an hour ago: the samples sit at T0 + a few seconds. */
const T0_S = Math.floor(Date.now() / 60_000) * 60 - 3600
const at = (s: number) => (BigInt(T0_S + s) * NS).toString()

// Two hosts' values, ten seconds apart.
const SAMPLES: [host: string, s: number, bytes: number][] = [
  ['h1', 10, 100],
  ['h1', 20, 150],
  ['h1', 30, 30],
  ['h1', 40, 60],
  ['h2', 35, 2],
  ['h2', 45, 12],
  ['h2', 55, 22],
]

let store: TestStore
let ch: ClickHouseHandle
let app: FastifyInstance
let baseUrl: string

beforeAll(async () => {
  store = await openTestStore('unwrap', DATABASE)
  ch = store.ch
  const rows = SAMPLES.map(([host, s, bytes], n) => ({
    id: `rc-${n}`,
    tenant: 'default',
    Timestamp: at(s),
    ObservedTimestamp: at(s),
    ServiceName: 'meter',
    HostName: host,
    SeverityText: 'INFO',
    SeverityNumber: 9,
    Body: `sent bytes=${bytes}`,
  }))
  await ch.client.insert({ table: `${DATABASE}.logs`, values: rows, format: 'JSONEachRow' })
  const api = await listenQueryApi(ch, DATABASE)
  app = api.app
  baseUrl = api.baseUrl
})

afterAll(async () => {
  await app?.close()
  await store?.close()
})

async function get(pathname: string, params: Record<string, string>): Promise<{ status: number; body: string }> {
  const res = await fetch(`${baseUrl}${pathname}?${new URLSearchParams(params)}`)
  return { status: res.status, body: await res.text() }
}

type Result = { metric: Record<string, string>; values: [number, string][] }[]

async function queryRange(query: string, from: number, to: number, stepS: number): Promise<Result> {
  const reply = await get('/loki/api/v1/query_range', { query, start: at(from), end: at(to), step: String(stepS) })
  expect(reply.status, reply.body).toBe(200)
  return (JSON.parse(reply.body) as { data: { result: Result } }).data.result
}

describe('unwrapped series', () => {
  it('are labelled with every label but the unwrapped one, as in Loki', async () => {
    const result = await queryRange('sum_over_time({service_name="meter"} | logfmt | unwrap bytes [1m])', 60, 60, 10)
    const labels = { service_name: 'meter', level: 'info', detected_level: 'info', category: 'unknown' }
    expect(Object.fromEntries(result.map((s) => [s.metric.host, s]))).toEqual({
      h1: { metric: { ...labels, host: 'h1' }, values: [[T0_S + 60, String(100 + 150 + 30 + 60)]] },
      h2: { metric: { ...labels, host: 'h2' }, values: [[T0_S + 60, String(2 + 12 + 22)]] },
    })
    // Unless `by` names it.
    const by = await queryRange('max_over_time({service_name="meter"} | logfmt | unwrap bytes [1m]) by (bytes)', 60, 60, 10)
    expect(by.map((s) => s.metric.bytes).sort()).toEqual(['100', '12', '150', '2', '22', '30', '60'])
  })
})

