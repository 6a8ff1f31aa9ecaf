// Which lines each step of a metric query counts, to the nanosecond, through the Loki API on
// embedded ClickHouse: Loki's window of step t is (t − offset − range, t − offset], and every step
// from start to end (the last one at or before end) is evaluated. Lines sit on and beside the
// edges of the windows; the expected counts are worked out here by brute force, line by line and
// step by step, for windows as long as the step (Grafana's usual), shorter, longer, with an offset,
// and with start and end off the step's grid.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveTestLogs } from '../test-store.js'
import type { ServedLogs } from '../test-store.js'

const DATABASE = 'loki_windows'
const NS = 1_000_000_000n
/** A whole minute two hours ago. */
const T0 = BigInt(Math.floor(Date.now() / 60_000) * 60 - 7200) * NS

interface Line {
  ns: bigint
  level: string
  host: string
}

// Lines at whole seconds, one nanosecond either side of them, and between (T0 + 0 … T0 + 130 s),
// under two levels and three hosts, one of them empty (no host label).
const LINES: Line[] = []
for (let s = 0n; s <= 130n; s += 5n) {
  for (const d of [-1n, 0n, 1n, 500_000_000n]) {
    const n = LINES.length
    LINES.push({ ns: T0 + s * NS + d, level: n % 3 === 0 ? 'error' : 'info', host: ['h1', 'h2', ''][n % 3 === 1 ? 2 : n % 2]! })
  }
}

let served: ServedLogs

beforeAll(async () => {
  const rows = LINES.map((l, n) => ({
    id: `w-${n}`,
    tenant: 'default',
    Timestamp: l.ns.toString(),
    ObservedTimestamp: l.ns.toString(),
    ServiceName: 'edges',
    HostName: l.host,
    SeverityText: l.level.toUpperCase(),
    SeverityNumber: l.level === 'error' ? 17 : 9,
    Body: `line ${n}`,
  }))
  served = await serveTestLogs('windows', DATABASE, rows)
})

afterAll(() => served?.close())

type Matrix = Record<string, Record<string, string>>

/** A series' labels as a key, whatever their order. */
const key = (labels: Record<string, string>) => JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))

/** The API's answer as { labels: { step time in ns: value } }. */
async function ask(query: string, startNs: bigint, endNs: bigint, stepNs: bigint): Promise<Matrix> {
  const params = new URLSearchParams({ query, start: startNs.toString(), end: endNs.toString(), step: `${Number(stepNs) / 1e9}s` })
  const res = await fetch(`${served.baseUrl}/loki/api/v1/query_range?${params}`)
  const body = await res.text()
  expect(res.status, body).toBe(200)
  const result = (JSON.parse(body) as { data: { result: { metric: Record<string, string>; values: [number, string][] }[] } }).data.result
  const out: Matrix = {}
  for (const s of result) {
    // Loki writes a step's time as seconds with up to three decimals.
    out[key(s.metric)] = Object.fromEntries(s.values.map(([t, v]) => [String(BigInt(Math.round(t * 1000)) * 1_000_000n), v]))
  }
  return out
}

/** The same answer, counted line by line. */
function bruteForce(labelsOf: (l: Line) => Record<string, string>, startNs: bigint, endNs: bigint, stepNs: bigint, rangeNs: bigint, offsetNs: bigint): Matrix {
  const out: Matrix = {}
  for (let t = startNs; t <= endNs; t += stepNs) {
    for (const l of LINES) {
      if (l.ns <= t - offsetNs - rangeNs || l.ns > t - offsetNs) continue
      const series = (out[key(labelsOf(l))] ??= {})
      const at = String((t / 1_000_000n) * 1_000_000n)
      series[at] = String(Number(series[at] ?? 0) + 1)
    }
  }
  return out
}

const byLevel = (l: Line) => ({ level: l.level })
const byLevelHost = (l: Line) => ({ level: l.level, ...(l.host && { host: l.host }) })

const s = (n: number) => BigInt(Math.round(n * 1e9))

describe('metric windows', () => {
  // [start, end, step, range, offset] in seconds from T0.
  const cases: [number, number, number, number, number][] = [
    [10, 120, 10, 10, 0], // range = step, on the grid
    [10.5, 118.25, 10, 10, 0], // range = step, start and end off the grid: the last step is before end
    [10, 120, 5, 5, 15], // range = step, with an offset
    [10, 120, 20, 5, 0], // range < step: lines between windows count nowhere
    [10, 120, 5, 15, 0], // range > step: a line in three windows
    [12.000000001, 121, 7, 13, 3], // range > step, off the grid, with an offset
  ]
  for (const [start, end, step, range, offset] of cases) {
    it(`counts each line in the steps whose window holds it: start +${start}s, end +${end}s, step ${step}s, range ${range}s, offset ${offset}s`, async () => {
      const startNs = T0 + s(start)
      const endNs = T0 + s(end)
      const sel = `{service_name="edges"}[${range}s]${offset ? ` offset ${offset}s` : ''}`
      const want = bruteForce(byLevel, startNs, endNs, s(step), s(range), s(offset))
      expect(await ask(`sum by (level) (count_over_time(${sel}))`, startNs, endNs, s(step))).toEqual(want)
      // Two labels, one of them empty on some lines: no host label on their series.
      expect(await ask(`sum by (level, host) (count_over_time(${sel}))`, startNs, endNs, s(step))).toEqual(bruteForce(byLevelHost, startNs, endNs, s(step), s(range), s(offset)))
      // `by` on the range aggregation itself (an unwrapped one, of a 1 per line: 1 wherever a window holds a line).
      const ones = `{service_name="edges"} | label_format one="1" | unwrap one [${range}s]${offset ? ` offset ${offset}s` : ''}`
      const anyLine = Object.fromEntries(
        Object.entries(bruteForce(byLevelHost, startNs, endNs, s(step), s(range), s(offset))).map(([k, points]) => [k, Object.fromEntries(Object.keys(points).map((t) => [t, '1']))]),
      )
      expect(await ask(`max_over_time(${ones}) by (level, host)`, startNs, endNs, s(step))).toEqual(anyLine)
      // No labels at all: one series.
      expect(await ask(`sum(count_over_time(${sel}))`, startNs, endNs, s(step))).toEqual(bruteForce(() => ({}), startNs, endNs, s(step), s(range), s(offset)))
    })
  }
})
