// The matrix answer written as JSON text (matrixBody) against the same answer built as objects and
// printed by JSON.stringify, Loki's shape: [unix seconds with milliseconds, "value"] per point.
// Log lines grouped into streams (streams) against a grouping by the sorted labels.
import { describe, expect, it } from 'vitest'
import { matrixBody, num, streams } from './answer.js'
import type { LogLine, Steps } from './compile.js'
import type { Series } from './evaluate.js'
import { prng as random } from '../loki-fixture.js'

/** The answer as objects, each time (startMs + i·stepMs) / 1000 printed by JSON.stringify. */
function reference(series: Series[], steps: Steps, stats: object): unknown {
  const startMs = Number(steps.startNs / 1_000_000n)
  const stepMs = Number(steps.stepNs / 1_000_000n)
  const result = series.map((s) => ({
    metric: s.metric,
    values: [...s.points.keys()].sort((a, b) => a - b).map((i) => [(startMs + i * stepMs) / 1000, num(s.points.get(i)!)]),
  }))
  return JSON.stringify({ status: 'success', data: { resultType: 'matrix', result, stats } })
}

const MS = 1_000_000n
const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 0.1 + 0.2, 1e21, 5e-7, -3.25]

function seriesFor(next: () => number, count: number): Series[] {
  return Array.from({ length: 1 + Math.floor(next() * 4) }, (_, n) => {
    const points = new Map<number, number>()
    for (let i = 0; i < count; i++) {
      const r = next()
      if (r < 0.2) continue // a step without a sample
      points.set(i, r < 0.3 ? SPECIAL[Math.floor(next() * SPECIAL.length)]! : r < 0.7 ? Math.floor(next() * 1e6) : next() * 1000)
    }
    const metric: Record<string, string> = n === 0 ? {} : { level: ['info', 'error', 'a "quoted" \\ value', 'ünïcödé'][n]! }
    return { metric, points }
  })
}

describe('matrixBody', () => {
  const cases: Array<[string, Steps]> = [
    ['a day at 60 s, the start on a millisecond', { startNs: 1_796_065_909_256n * MS, endNs: 1_796_152_309_256n * MS, stepNs: 60_000n * MS }],
    ['a start on a whole second', { startNs: 1_796_065_909_000n * MS, endNs: 1_796_069_509_000n * MS, stepNs: 15_000n * MS }],
    ['a start on 10 ms and 250 ms', { startNs: 1_796_065_909_250n * MS, endNs: 1_796_065_999_250n * MS, stepNs: 1_000n * MS }],
    ['a start on 10 ms', { startNs: 1_796_065_909_010n * MS, endNs: 1_796_065_999_010n * MS, stepNs: 2_000n * MS }],
    ['sub-second steps', { startNs: 1_796_065_909_123n * MS, endNs: 1_796_065_919_123n * MS, stepNs: 250n * MS }],
    ['a start and step with nanoseconds', { startNs: 1_796_065_909_123_456_789n, endNs: 1_796_065_979_123_456_789n, stepNs: 7_000_000_001n }],
    ['the epoch', { startNs: 0n, endNs: 600_000n * MS, stepNs: 60_000n * MS }],
  ]
  for (const [name, steps] of cases) {
    it(`prints what JSON.stringify prints: ${name}`, () => {
      const next = random(name.length)
      const count = Number((steps.endNs - steps.startNs) / steps.stepNs) + 1
      for (let round = 0; round < 20; round++) {
        const series = seriesFor(next, count)
        const stats = { summary: { execTime: next(), totalLinesProcessed: 0 } }
        const body = matrixBody(series, steps, stats)
        expect(body).toBe(reference(series, steps, stats))
        expect(JSON.parse(body)).toMatchObject({ status: 'success', data: { resultType: 'matrix' } })
      }
    })
  }

  it('answers no series as an empty result', () => {
    const steps = { startNs: 1_000n * MS, endNs: 61_000n * MS, stepNs: 60_000n * MS }
    expect(JSON.parse(matrixBody([], steps, {}))).toEqual({ status: 'success', data: { resultType: 'matrix', result: [], stats: {} } })
  })
})

describe('streams', () => {
  /** Loki's grouping written plainly: a stream per set of labels (parsed ones renamed), first seen first. */
  function reference(rows: LogLine[], categorize: boolean) {
    const out = new Map<string, { stream: Record<string, string>; values: unknown[][] }>()
    for (const r of rows) {
      const parsed = Object.fromEntries(Object.entries(r.parsed).map(([k, v]) => [k in r.stream || k in r.meta ? `${k}_extracted` : k, v]))
      const labels = categorize ? r.stream : { ...r.stream, ...r.meta, ...parsed }
      const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      const s = out.get(key) ?? out.set(key, { stream: labels, values: [] }).get(key)!
      const extra = { ...(Object.keys(r.meta).length && { structuredMetadata: r.meta }), ...(Object.keys(parsed).length && { parsed }) }
      s.values.push(categorize ? [r.ts, r.line, extra] : [r.ts, r.line])
    }
    return [...out.values()]
  }

  /** Labels from few names and values, in a shuffled order: the same set often, written differently. */
  function labels(next: () => number, names: string[], count: number): Record<string, string> {
    const picked = names.filter(() => next() < count / names.length)
    for (let i = picked.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1))
      ;[picked[i], picked[j]] = [picked[j]!, picked[i]!]
    }
    return Object.fromEntries(picked.map((k) => [k, ['a', 'b', '', 'ab', 'a\u0000b', 'ü'][Math.floor(next() * 6)]!]))
  }

  it('puts the lines of one label set in one stream, whatever the order of its labels', () => {
    const next = random(7)
    for (let round = 0; round < 200; round++) {
      const rows: LogLine[] = Array.from({ length: 1 + Math.floor(next() * 40) }, (_, i) => ({
        ts: String(1_796_065_909_000_000_000 + i),
        line: `line ${i}`,
        stream: labels(next, ['service_name', 'host', 'level'], 2),
        meta: labels(next, ['trace_id', 'user', 'ab'], 1),
        // Parsed names that collide with stream labels or metadata become <name>_extracted.
        parsed: labels(next, ['host', 'user', 'status', 'a', 'b'], 2),
      }))
      for (const categorize of [false, true]) expect(streams(rows, categorize), `round ${round}`).toEqual(reference(rows, categorize))
    }
  })

  it('tells apart sets whose names and values join alike', () => {
    const row = (stream: Record<string, string>): LogLine => ({ ts: '1', line: 'x', stream, meta: {}, parsed: {} })
    const answer = streams([row({ ab: 'c' }), row({ a: 'bc' }), row({ a: 'b', c: '' }), row({ a: 'bc' })], false)
    expect(answer.map((s) => [s.stream, s.values.length])).toEqual([
      [{ ab: 'c' }, 1],
      [{ a: 'bc' }, 2],
      [{ a: 'b', c: '' }, 1],
    ])
  })
})
