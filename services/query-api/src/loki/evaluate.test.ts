// Metric evaluation above the range aggregations, with a stand-in for ClickHouse that answers
// each range aggregation with fixed (labels, step, value) rows: vector aggregations, topk,
// binary operations, the sum-by push-down and the series limit.
import { describe, expect, it } from 'vitest'
import { parseLogQL } from '../logql/parse.js'
import type { MetricExpr } from '../logql/ast.js'
import type { LogStatement } from './compile.js'
import { absentLabels, evaluate } from './evaluate.js'
import type { EvalContext, Value } from './evaluate.js'

const S = 1_000_000_000n
type Row = { labels: Record<string, string>; i: number; v: number }

/** Points as ClickHouse answers a range aggregation: one row per series, steps and values in arrays. */
function bySeries(rows: Row[]) {
  const out = new Map<string, { labels: Record<string, string>; i: number[]; v: number[] }>()
  for (const r of rows) {
    const key = JSON.stringify(r.labels)
    const s = out.get(key) ?? { labels: r.labels, i: [], v: [] }
    s.i.push(r.i)
    s.v.push(r.v)
    out.set(key, s)
  }
  return [...out.values()]
}

function ctx(rows: Row[], maxSeries = 100) {
  const asked: LogStatement[] = []
  const c: EvalContext = {
    scope: { db: 'db', tenant: 't' },
    steps: { startNs: 100n * S, endNs: 102n * S, stepNs: S },
    maxSeries,
    run: async (st) => {
      asked.push(st)
      return bySeries(rows)
    },
    prepare: async (build) => build({ db: 'db', tenant: 't' }),
  }
  return { c, asked }
}

const run = async (q: string, rows: Row[], maxSeries?: number) => {
  const { c, asked } = ctx(rows, maxSeries)
  return { value: await evaluate(parseLogQL(q) as MetricExpr, c), asked }
}

/** series as { labels-json: [values by step] } for compact assertions */
function table(v: Value): Record<string, (number | undefined)[]> {
  if (v.kind === 'scalar') throw new Error('scalar')
  return Object.fromEntries(v.series.map((s) => [JSON.stringify(s.metric), [0, 1, 2].map((i) => s.points.get(i))]))
}

const rows: Row[] = [
  { labels: { app: 'a', level: 'info' }, i: 0, v: 1 },
  { labels: { app: 'a', level: 'info' }, i: 1, v: 2 },
  { labels: { app: 'a', level: 'error' }, i: 1, v: 5 },
  { labels: { app: 'b', level: 'info' }, i: 0, v: 4 },
  { labels: { app: 'b', level: 'info' }, i: 2, v: 8 },
]

describe('metric evaluation', () => {
  it('pushes sum by (…) of a count into the SQL and keeps its series as ClickHouse grouped them', async () => {
    const { value, asked } = await run('sum by (level) (count_over_time({app=~".+"}[1s]))', [
      { labels: { level: 'info' }, i: 0, v: 5 },
      { labels: { level: 'error' }, i: 1, v: 5 },
    ])
    expect(asked).toHaveLength(1)
    expect(asked[0]!.query).toMatch(/lower\(SeverityText\) AS g0/)
    expect(asked[0]!.query).toMatch(/GROUP BY g0, lo AS i/)
    expect(table(value)).toEqual({ '{"level":"info"}': [5, undefined, undefined], '{"level":"error"}': [undefined, 5, undefined] })
  })

  it('aggregates per step with avg, max and count, grouping by or without labels', async () => {
    expect(table((await run('avg by (app) (count_over_time({app=~".+"}[1s]))', rows)).value)).toEqual({
      '{"app":"a"}': [1, 3.5, undefined],
      '{"app":"b"}': [4, undefined, 8],
    })
    expect(table((await run('max without (app) (count_over_time({app=~".+"}[1s]))', rows)).value)).toEqual({
      '{"level":"info"}': [4, 2, 8],
      '{"level":"error"}': [undefined, 5, undefined],
    })
    expect(table((await run('count(count_over_time({app=~".+"}[1s]))', rows)).value)).toEqual({ '{}': [2, 2, 1] })
  })

  it('keeps the k largest series at each step with topk, grouped', async () => {
    expect(table((await run('topk(1, count_over_time({app=~".+"}[1s]))', rows)).value)).toEqual({
      '{"app":"a","level":"error"}': [undefined, 5, undefined],
      '{"app":"b","level":"info"}': [4, undefined, 8],
    })
    expect(table((await run('bottomk(1, count_over_time({app=~".+"}[1s])) by (app)', rows)).value)).toEqual({
      '{"app":"a","level":"info"}': [1, 2, undefined],
      '{"app":"b","level":"info"}': [4, undefined, 8],
    })
  })

  it('answers approx_topk exactly, as topk', async () => {
    expect(table((await run('approx_topk(1, count_over_time({app=~".+"}[1s]))', rows)).value)).toEqual(table((await run('topk(1, count_over_time({app=~".+"}[1s]))', rows)).value))
    expect(table((await run('approx_topk(2, count_over_time({app=~".+"}[1s]))', rows)).value)).toEqual(table((await run('topk(2, count_over_time({app=~".+"}[1s]))', rows)).value))
  })

  it('applies arithmetic with scalars, filters with comparisons, and gives 0/1 with bool', async () => {
    const r = [{ labels: { app: 'a' }, i: 0, v: 2 }, { labels: { app: 'a' }, i: 1, v: 6 }]
    expect(table((await run('count_over_time({app="a"}[1s]) * 10 + 1', r)).value)).toEqual({ '{"app":"a"}': [21, 61, undefined] })
    expect(table((await run('count_over_time({app="a"}[1s]) > 3', r)).value)).toEqual({ '{"app":"a"}': [undefined, 6, undefined] })
    expect(table((await run('count_over_time({app="a"}[1s]) > bool 3', r)).value)).toEqual({ '{"app":"a"}': [0, 1, undefined] })
    expect(await run('2 * 3 + 1', [])).toMatchObject({ value: { kind: 'scalar', value: 7 } })
    expect(table((await run('vector(3)', [])).value)).toEqual({ '{}': [3, 3, 3] })
  })

  it('matches series one-to-one between two vectors, on (…) when asked', async () => {
    const { c } = ctx([])
    let call = 0
    c.run = async () =>
      bySeries(call++ === 0
        ? [
            { labels: { app: 'a', level: 'error' }, i: 0, v: 3 },
            { labels: { app: 'b', level: 'error' }, i: 0, v: 1 },
          ]
        : [
            { labels: { app: 'a' }, i: 0, v: 6 },
            { labels: { app: 'c' }, i: 0, v: 2 },
          ])
    const v = await evaluate(parseLogQL('sum by (app, level) (count_over_time({level="error"}[1s])) / on (app) sum by (app) (count_over_time({app=~".+"}[1s]))') as MetricExpr, c)
    expect(table(v)).toEqual({ '{"app":"a"}': [0.5, undefined, undefined] })
  })

  it('answers 400 when a query would return more series than allowed', async () => {
    await expect(run('count_over_time({app=~".+"}[1s])', rows, 2)).rejects.toThrow(/maximum number of series \(2\)/)
  })

  it('answers absent_over_time with 1 where the window holds no sample, labelled by the selector\'s = matchers', async () => {
    // The stand-in answers the count as ClickHouse would, summed into one series; steps 0 and 2 have samples.
    const { value, asked } = await run('absent_over_time({app="a", level=~"err.*", env="prod"} |= "timeout" [1s])', [
      { labels: {}, i: 0, v: 3 },
      { labels: {}, i: 2, v: 1 },
    ])
    expect(asked).toHaveLength(1)
    // One count per step over everything the selector and the pipeline keep: no labels grouped on.
    expect(asked[0]!.query).toMatch(/toFloat64\(count\(\)\) AS v/)
    expect(asked[0]!.query).toMatch(/GROUP BY lo AS i\n/)
    expect(asked[0]!.query).toMatch(/Body LIKE/)
    // level is matched by a regex: not a label of the absent series.
    expect(table(value)).toEqual({ '{"app":"a","env":"prod"}': [undefined, 1, undefined] })
    // Samples at every step: no series at all.
    expect((await run('absent_over_time({app="a"}[1s])', [0, 1, 2].map((i) => ({ labels: {}, i, v: 2 })))).value).toEqual({ kind: 'vector', series: [] })
    // None: 1 at every step; on top of it the other operations work as on any vector.
    expect(table((await run('absent_over_time({app="a"}[1s])', [])).value)).toEqual({ '{"app":"a"}': [1, 1, 1] })
    expect(table((await run('absent_over_time({app="a"} | unwrap bytes [1s]) * 5', [])).value)).toEqual({ '{"app":"a"}': [5, 5, 5] })
  })

  it('labels an absent series as Prometheus does: a label matched twice or not by =, or with an empty value, is left out', () => {
    expect(absentLabels([{ name: 'a', op: '=', value: '1' }, { name: 'b', op: '=', value: '2' }])).toEqual({ a: '1', b: '2' })
    expect(absentLabels([{ name: 'a', op: '=', value: '1' }, { name: 'a', op: '=', value: '2' }])).toEqual({})
    expect(absentLabels([{ name: 'a', op: '!=', value: '1' }, { name: 'a', op: '=', value: '2' }, { name: 'c', op: '=', value: '' }])).toEqual({})
    expect(Object.getPrototypeOf(absentLabels([{ name: '__proto__', op: '=', value: 'x' }]))).toBe(Object.prototype)
  })

  /** Evaluates `q` with the first range aggregation answered by `left`, the second by `right`. */
  const twoSided = async (q: string, left: Row[], right: Row[]) => {
    const { c } = ctx([])
    let call = 0
    c.run = async () => bySeries(call++ === 0 ? left : right)
    return evaluate(parseLogQL(q) as MetricExpr, c)
  }
  const perLevel: Row[] = [
    { labels: { app: 'a', level: 'info' }, i: 0, v: 4 },
    { labels: { app: 'a', level: 'error' }, i: 0, v: 2 },
    { labels: { app: 'b', level: 'info' }, i: 0, v: 9 },
    { labels: { app: 'b', level: 'info' }, i: 1, v: 3 },
  ]
  const perApp: Row[] = [
    { labels: { app: 'a', team: 'red', region: 'eu' }, i: 0, v: 8 },
    { labels: { app: 'b', team: 'blue', region: 'us' }, i: 0, v: 10 },
    { labels: { app: 'b', team: 'blue', region: 'us' }, i: 1, v: 6 },
  ]

  it('matches many to one with group_left, copying the named labels from the one side', async () => {
    const v = await twoSided('count_over_time({app=~".+"}[1s]) / on (app) group_left (team) count_over_time({app=~".+"}[1s])', perLevel, perApp)
    expect(table(v)).toEqual({
      '{"app":"a","level":"info","team":"red"}': [0.5, undefined, undefined],
      '{"app":"a","level":"error","team":"red"}': [0.25, undefined, undefined],
      '{"app":"b","level":"info","team":"blue"}': [0.9, 0.5, undefined],
    })
    // group_right: the many side is on the right; values keep the operands' order.
    const r = await twoSided('count_over_time({app=~".+"}[1s]) - on (app) group_right count_over_time({app=~".+"}[1s])', perApp, perLevel)
    expect(table(r)).toEqual({
      '{"app":"a","level":"info"}': [4, undefined, undefined],
      '{"app":"a","level":"error"}': [6, undefined, undefined],
      '{"app":"b","level":"info"}': [1, 3, undefined],
    })
    // A filtering comparison keeps the left operand's value.
    const f = await twoSided('count_over_time({app=~".+"}[1s]) > on (app) group_left count_over_time({app=~".+"}[1s])', perApp, perLevel.filter((x) => x.labels.level === 'info'))
    expect(table(f)).toEqual({ '{"app":"a","team":"red","region":"eu"}': [8, undefined, undefined], '{"app":"b","team":"blue","region":"us"}': [10, 6, undefined] })
  })

  it('labels one-to-one results as Prometheus does: on keeps the matched labels, ignoring drops the ignored ones', async () => {
    const l: Row[] = [{ labels: { app: 'a', host: 'h1', level: 'info' }, i: 0, v: 6 }]
    const r: Row[] = [{ labels: { app: 'a', host: 'h2', level: 'info' }, i: 0, v: 3 }]
    expect(table(await twoSided('count_over_time({app="a"}[1s]) / ignoring (host) count_over_time({app="a"}[1s])', l, r))).toEqual({ '{"app":"a","level":"info"}': [2, undefined, undefined] })
    expect(table(await twoSided('count_over_time({app="a"}[1s]) > on (app, level) count_over_time({app="a"}[1s])', l, r))).toEqual({ '{"app":"a","level":"info"}': [6, undefined, undefined] })
  })

  it('matches step by step: a match group may repeat across steps, never within one', async () => {
    // Two right series of app a, at different steps: each step has one.
    const right: Row[] = [
      { labels: { app: 'a', host: 'h1' }, i: 0, v: 2 },
      { labels: { app: 'a', host: 'h2' }, i: 1, v: 4 },
    ]
    const left: Row[] = [0, 1].map((i) => ({ labels: { app: 'a' }, i, v: 8 }))
    expect(table(await twoSided('count_over_time({app="a"}[1s]) / on (app) count_over_time({app="a"}[1s])', left, right))).toEqual({ '{"app":"a"}': [4, 2, undefined] })
    const both = right.map((x) => ({ ...x, i: 0 }))
    await expect(twoSided('count_over_time({app="a"}[1s]) / on (app) count_over_time({app="a"}[1s])', left, both)).rejects.toThrow(/duplicate series for the match group .* on the right hand-side/)
    await expect(twoSided('count_over_time({app="a"}[1s]) / on (app) count_over_time({app="a"}[1s])', both, left)).rejects.toThrow(/many-to-one matching must be explicit \(group_left\/group_right\)/)
    // group_left (team) gives both left series team=z: one label set twice.
    const teams: Row[] = [{ labels: { app: 'a', team: 'x' }, i: 0, v: 1 }, { labels: { app: 'a', team: 'y' }, i: 0, v: 1 }]
    await expect(twoSided('count_over_time({app="a"}[1s]) / on (app) group_left (team) count_over_time({app="a"}[1s])', teams, [{ labels: { app: 'a', team: 'z' }, i: 0, v: 1 }])).rejects.toThrow(/grouping labels must ensure unique matches/)
  })
})
