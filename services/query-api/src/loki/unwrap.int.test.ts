// Unwrapped range aggregations through the Loki API on embedded ClickHouse: the labels of their
// series, and rate_counter — samples read as a counter, each expected value worked out by hand
// with Loki's extrapolatedRate (resets, extrapolation to the window's edges, the zero point) and
// written as the same Float64 arithmetic, so the answers must match to the last digit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveTestLogs } from '../test-store.js'
import type { ServedLogs } from '../test-store.js'

const DATABASE = 'loki_unwrap'
const NS = 1_000_000_000n
/** A whole minute an hour ago: the samples sit at T0 + a few seconds. */
const T0_S = Math.floor(Date.now() / 60_000) * 60 - 3600
const at = (s: number) => (BigInt(T0_S + s) * NS).toString()

// host h1: 100, 150, then a reset to 30, then 60, ten seconds apart.
// host h2: 2, 12, 22, starting low: the extrapolation towards the start stops at zero.
const SAMPLES: [host: string, s: number, bytes: number][] = [
  ['h1', 10, 100],
  ['h1', 20, 150],
  ['h1', 30, 30],
  ['h1', 40, 60],
  ['h2', 35, 2],
  ['h2', 45, 12],
  ['h2', 55, 22],
]

let served: ServedLogs
let baseUrl: string

beforeAll(async () => {
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
  served = await serveTestLogs('unwrap', DATABASE, rows)
  baseUrl = served.baseUrl
})

afterAll(() => served?.close())

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

/** Each series' points (by host) of a range query from T0 + `from` to T0 + `to` seconds. */
async function matrix(query: string, from: number, to: number, stepS = 10): Promise<Record<string, [number, string][]>> {
  const result = await queryRange(query, from, to, stepS)
  return Object.fromEntries(result.map((s) => [s.metric.host ?? JSON.stringify(s.metric), s.values.map(([t, v]): [number, string] => [t - T0_S, v])]))
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

const QUERY = 'rate_counter({service_name="meter"} | logfmt | unwrap bytes [1m])'

describe('rate_counter', () => {
  it('adds the value before each drop and extrapolates to the window edges as Loki does', async () => {
    expect(await matrix(QUERY, 30, 60)).toEqual({
      h1: [
        // (−30, 30]: 100, 150, 30 — increase 30 − 100 + 150 (the reset) = 80 over 20 s; the first
        // sample 40 s from the start (≥ 1.1 × 10 s spacing: half a spacing, 5 s), the last at the end.
        [30, String((80 * ((20 + 5 + 0) / 20)) / 60)],
        // (−20, 40]: all four — increase 60 − 100 + 150 = 110 over 30 s, 5 s added at the start.
        [40, String((110 * ((30 + 5 + 0) / 30)) / 60)],
        // (−10, 50]: the last sample 10 s before the end (< 11 s): extrapolated the whole 10 s.
        [50, String((110 * ((30 + 5 + 10) / 30)) / 60)],
        // (0, 60]: the first sample 10 s from the start (extrapolated all of it); the end 20 s away: 5 s.
        [60, String((110 * ((30 + 10 + 5) / 30)) / 60)],
      ],
      h2: [
        // (−20, 40]: one sample, which is no rate: 0.
        [40, '0'],
        // (−10, 50]: 2, 12 — increase 10 over 10 s; the start 45 s away (5 s), but the counter
        // reaches zero 10 × 2 / 10 = 2 s before the first sample: 2 s; the end 5 s away.
        [50, String((10 * ((10 + 2 + 5) / 10)) / 60)],
        // (0, 60]: 2, 12, 22 — increase 20 over 20 s; zero 20 × 2 / 20 = 2 s back; the end 5 s away.
        [60, String((20 * ((20 + 2 + 5) / 20)) / 60)],
      ],
    })
  })

  it('gives no point where a window holds no sample, and reads offset windows', async () => {
    const later = await matrix(QUERY, 100, 130)
    // (40, 100]: h2's 45 s and 55 s samples (the 40 s one is on the open edge) — increase 10 over
    // 10 s; the start 5 s away (the zero point, 12 s back, is further); the end 45 s away (5 s).
    // (50, 110]: one sample, 0; later windows hold none and give no point.
    expect(later).toEqual({ h2: [[100, String((10 * ((10 + 5 + 5) / 10)) / 60)], [110, '0']] })
    const offset = await matrix('rate_counter({service_name="meter"} | logfmt | unwrap bytes [1m] offset 10s)', 50, 50)
    expect(offset.h1).toEqual([[50, String((110 * ((30 + 5 + 0) / 30)) / 60)]])
  })

  it('is computed per series, then aggregated', async () => {
    const sum = await matrix(`sum(${QUERY})`, 60, 60)
    expect(Object.values(sum)).toEqual([[[60, String((110 * ((30 + 10 + 5) / 30)) / 60 + (20 * ((20 + 2 + 5) / 20)) / 60)]]])
    const instant = await get('/loki/api/v1/query', { query: QUERY, time: at(40) })
    expect(instant.status, instant.body).toBe(200)
    const vector = (JSON.parse(instant.body) as { data: { result: { metric: { host: string }; value: [number, string] }[] } }).data.result
    expect(Object.fromEntries(vector.map((s) => [s.metric.host, s.value[1]]))).toEqual({ h1: String((110 * ((30 + 5 + 0) / 30)) / 60), h2: '0' })
  })

  it('refuses by/without, as Loki does', async () => {
    const reply = await get('/loki/api/v1/query_range', { query: `${QUERY} by (host)`, start: at(30), end: at(60), step: '10' })
    expect(reply.status).toBe(400)
    expect(reply.body).toMatch(/grouping not allowed for rate_counter aggregation/)
  })
})
