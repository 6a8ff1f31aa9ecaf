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

// service odd, samples 10 s apart from T0 + 10 s: values Go's ParseFloat reads as NaN and +Inf
// among numbers, and three whose quantile shows how the interpolation is written.
const ODD: [host: string, values: string[]][] = [
  ['n1', ['1', 'NaN', '5']],
  ['n2', ['inf', '5', '2']],
  ['n3', ['0.1', '0.2', '0.3']],
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
  const odd = ODD.flatMap(([host, values]) =>
    values.map((v, n) => ({
      id: `odd-${host}-${n}`,
      tenant: 'default',
      Timestamp: at(10 * (n + 1)),
      ObservedTimestamp: at(10 * (n + 1)),
      ServiceName: 'odd',
      HostName: host,
      SeverityText: 'INFO',
      SeverityNumber: 9,
      Body: `sent bytes=${v}`,
    })),
  )
  served = await serveTestLogs('unwrap', DATABASE, [...rows, ...odd])
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

// Loki's range aggregations over one window's samples (pkg/logql/range_vector.go), written out as
// Go runs them, for the expected answers; the answers as Loki prints floats.
const goText = (v: number) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v))
const LOKI: Record<string, (xs: number[]) => number> = {
  sum_over_time: (xs) => xs.reduce((a, x) => a + x, 0),
  avg_over_time: (xs) => {
    let mean = 0
    let count = 0
    for (const x of xs) {
      count++
      if (!Number.isFinite(mean) && !Number.isNaN(mean)) {
        if (!Number.isFinite(x) && !Number.isNaN(x) && mean > 0 === x > 0) continue
        if (Number.isFinite(x)) continue
      }
      mean += x / count - mean / count
    }
    return mean
  },
  min_over_time: (xs) => xs.reduce((m, x) => (x < m || Number.isNaN(m) ? x : m)),
  max_over_time: (xs) => xs.reduce((m, x) => (x > m || Number.isNaN(m) ? x : m)),
  stdvar_over_time: (xs) => {
    let aux = 0
    let count = 0
    let mean = 0
    for (const x of xs) {
      count++
      const delta = x - mean
      mean += delta / count
      aux += delta * (x - mean)
    }
    return aux / count
  },
  first_over_time: (xs) => xs[0]!,
  last_over_time: (xs) => xs[xs.length - 1]!,
}
LOKI.stddev_over_time = (xs) => Math.sqrt(LOKI.stdvar_over_time!(xs))
const goQuantile = (q: number, xs: number[]) => {
  // Sorted with NaN first, as Loki's HeapByMaxValue orders them.
  const v = [...xs].sort((a, b) => (Number.isNaN(a) ? -1 : Number.isNaN(b) ? 1 : a - b))
  const rank = q * (v.length - 1)
  const lower = Math.max(0, Math.floor(rank))
  const upper = Math.min(v.length - 1, lower + 1)
  const weight = rank - Math.floor(rank)
  return v[lower]! * (1 - weight) + v[upper]! * weight
}

describe('samples that are not finite numbers', () => {
  // As Go's ParseFloat reads them (JavaScript's Number does not read `inf`).
  const samples = Object.fromEntries(ODD.map(([host, values]) => [host, values.map((v) => (v === 'inf' ? Infinity : Number(v)))]))

  // n1 and n2: every answer is NaN, ±Inf or a sample, whatever the order of the arithmetic.
  it.each(Object.keys(LOKI))('%s answers NaN and ±Inf as Loki does, rather than leaving the point out', async (op) => {
    const got = await matrix(`${op}({service_name="odd", host!="n3"} | logfmt | unwrap bytes [1m])`, 60, 60)
    expect(got).toEqual({ n1: [[60, goText(LOKI[op]!(samples.n1!))]], n2: [[60, goText(LOKI[op]!(samples.n2!))]] })
  })

  it('quantile_over_time sorts NaN first and interpolates as Go writes it, to the last digit', async () => {
    for (const q of [0, 0.1, 0.5, 0.9, 1]) {
      const got = await matrix(`quantile_over_time(${q}, {service_name="odd"} | logfmt | unwrap bytes [1m])`, 60, 60)
      expect(got, `φ = ${q}`).toEqual(Object.fromEntries(ODD.map(([host]) => [host, [[60, goText(goQuantile(q, samples[host]!))]]])))
    }
    // 0.1·0.9 + 0.3·0.9 … : Go's lower·(1 − w) + upper·w, where lower + w·(upper − lower) differs in the last digit.
    expect(goText(goQuantile(0.9, samples.n3!))).toBe('0.27999999999999997')
    // Outside [0, 1], as Loki: -Inf and +Inf.
    expect(await matrix('quantile_over_time(1.5, {service_name="odd"} | logfmt | unwrap bytes [1m])', 60, 60)).toEqual({ n1: [[60, '+Inf']], n2: [[60, '+Inf']], n3: [[60, '+Inf']] })
  })
})
