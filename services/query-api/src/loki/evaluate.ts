// Metric queries: range aggregations run in ClickHouse (compile.ts); what sits on top of them —
// vector aggregations, binary operations, literals, label_replace — works on their few series
// here, step by step, with Prometheus' semantics. A `sum by (…)` over an additive range
// aggregation is pushed down into the SQL, so the series that leave ClickHouse are already grouped.
import { SluiceError } from '@sluice/core'
import type { BinaryOperation, Grouping, Matcher, MetricExpr, VectorAggregation } from '../logql/ast.js'
import { goQuote } from '../logql/format.js'
import { ADDITIVE, compileRange, seriesLabels, stepCount } from './compile.js'
import { expandParts, re2 } from '../logql/re2.js'
import { wordTag } from './go-errors.js'
import { unsupported } from './sql.js'
import type { LogStatement, Scope, Steps } from './compile.js'

export interface Series {
  metric: Record<string, string>
  /** step index → value */
  points: Map<number, number>
}

export type Value = { kind: 'vector'; series: Series[] } | { kind: 'scalar'; value: number }

export interface EvalContext {
  scope: Scope
  steps: Steps
  maxSeries: number
  /**
   * Rows of a range aggregation: one per series, its step indexes and values. Values not finite
   * come as ClickHouse writes them when asked to (see compile.ts): inf, -inf, nan. `failed`: 1 when
   * a line of the series is still marked with an error, where compileRange checks.
   */
  run(statement: LogStatement): Promise<{ labels: Record<string, string> | string[]; i: number[]; v: (number | string | null)[]; failed?: number }[]>
  /** Builds a statement for the scope, settling which of its labels are attributes first (routes.ts). */
  prepare(build: (scope: Scope) => LogStatement): Promise<LogStatement>
}

export async function evaluate(expr: MetricExpr, ctx: EvalContext): Promise<Value> {
  switch (expr.kind) {
    case 'number':
      return { kind: 'scalar', value: expr.value }
    case 'vector_literal':
      return { kind: 'vector', series: [{ metric: {}, points: new Map(Array.from({ length: stepCount(ctx.steps) }, (_, i) => [i, expr.value])) }] }
    case 'range':
      return { kind: 'vector', series: await range(expr, ctx, undefined) }
    case 'vector':
      return vector(expr, ctx)
    case 'binary':
      return binary(expr, ctx)
    case 'label_replace': {
      const inner = await evaluate(expr.inner, ctx)
      if (inner.kind === 'scalar') throw new SluiceError('VALIDATION_FAILED', 'label_replace needs a vector, not a scalar')
      // The regex was checked by the parser (Go's syntax); matched as Prometheus does, whole value.
      const re = re2(expr.regex)
      const groups = re.namedGroups()
      const parts = expandParts(expr.replacement)
      const series = inner.series.map((s) => {
        const src = s.metric[expr.src] ?? ''
        const m = re.matcher(src)
        if (!m.matches()) return s
        let value = ''
        // Go's ExpandString: a group that is not there (or did not take part) is empty.
        for (const part of parts) {
          if ('text' in part) value += part.text
          else {
            const i = 'group' in part ? part.group : groups[part.name]
            if (i !== undefined && i <= re.groupCount()) value += m.group(i) ?? ''
          }
        }
        const metric = { ...s.metric }
        if (value === '') delete metric[expr.dst]
        else metric[expr.dst] = value
        return { ...s, metric }
      })
      return { kind: 'vector', series: merge(series, ctx) }
    }
  }
}

/** How ClickHouse writes values that are not finite (output_format_json_quote_denormals). */
const NON_FINITE: Readonly<Record<string, number>> = { inf: Infinity, '-inf': -Infinity, nan: NaN }

async function range(expr: Extract<MetricExpr, { kind: 'range' }>, ctx: EvalContext, pushdown: Grouping | undefined): Promise<Series[]> {
  if (expr.op === 'absent_over_time') return absent(expr, ctx)
  const st = await ctx.prepare((scope) => compileRange(scope, expr, ctx.steps, pushdown))
  const rows = await ctx.run(st)
  if (rows.some((r) => r.failed)) {
    // Rare, and the end of the query: a second statement finds the labels the message names (its
    // __error_details__ may be a converter's tag, go-errors.ts, worded here).
    const failed = await ctx.prepare((scope) => compileRange(scope, expr, ctx.steps, undefined, true))
    const [line] = await ctx.run(failed)
    const labels = line ? seriesLabels(failed, line.labels) : {}
    throw pipelineError(labels.__error_details__ === undefined ? labels : { ...labels, __error_details__: wordTag(labels.__error_details__) })
  }
  if (rows.length > ctx.maxSeries) throw tooManySeries(ctx.maxSeries)
  return rows.map((r) => {
    const points = new Map<number, number>()
    r.i.forEach((i, k) => {
      const v = r.v[k]
      if (v !== null && v !== undefined) points.set(i, typeof v === 'number' ? v : NON_FINITE[v] ?? NaN)
    })
    return { metric: seriesLabels(st, r.labels), points }
  })
}

/**
 * absent_over_time: 1 at each step whose window holds no sample, nothing at a step whose window
 * holds one — the samples counted in ClickHouse as one series over everything the selector and the
 * pipeline keep (unwrapped values that convert, with `unwrap`).
 */
async function absent(expr: Extract<MetricExpr, { kind: 'range' }>, ctx: EvalContext): Promise<Series[]> {
  const counted = await range({ ...expr, op: 'count_over_time' }, ctx, { mode: 'by', labels: [] })
  const points = new Map<number, number>()
  for (let i = 0; i < stepCount(ctx.steps); i++) if (!counted.some((s) => (s.points.get(i) ?? 0) > 0)) points.set(i, 1)
  return points.size === 0 ? [] : [{ metric: absentLabels(expr.log.matchers), points }]
}

/**
 * The labels of an absent series, as Loki and Prometheus give them: those the selector fixes with
 * `=`; a label matched any other way, or more than once, is left out, and so is an empty value.
 */
export function absentLabels(matchers: readonly Matcher[]): Record<string, string> {
  const fixed = new Map<string, string>()
  const unsure = new Set<string>()
  for (const m of matchers) {
    if (m.op === '=' && !fixed.has(m.name) && !unsure.has(m.name)) fixed.set(m.name, m.value)
    else unsure.add(m.name)
  }
  for (const name of unsure) fixed.delete(name)
  return Object.fromEntries([...fixed].filter(([, v]) => v !== ''))
}

/** Loki's PipelineError: a metric over lines its pipeline left marked with an error, word for word. */
function pipelineError(labels: Record<string, string>): SluiceError {
  const kind = labels.__error__ ?? ''
  const series = `{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${goQuote(labels[k]!)}`)
    .join(', ')}}`
  return new SluiceError(
    'VALIDATION_FAILED',
    `pipeline error: '${kind}' for series: '${series}'.\n` +
      `Use a label filter to intentionally skip this error. (e.g | __error__!=${goQuote(kind)}).\n` +
      'To skip all potential errors you can match empty errors.(e.g __error__="")\n' +
      'The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__="" )\n',
  )
}

const tooManySeries = (max: number) =>
  new SluiceError('VALIDATION_FAILED', `maximum number of series (${max}) reached for a single query; aggregate with sum by (…) or narrow the selector (QUERY_MAX_SERIES)`)

export const labelKey = (labels: Record<string, string>) =>
  JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]),
  )

function merge(series: Series[], ctx: EvalContext): Series[] {
  const byKey = new Map<string, Series>()
  for (const s of series) {
    const key = labelKey(s.metric)
    const have = byKey.get(key)
    if (!have) {
      if (byKey.size >= ctx.maxSeries) throw tooManySeries(ctx.maxSeries)
      byKey.set(key, { metric: s.metric, points: new Map(s.points) })
      continue
    }
    for (const [i, v] of s.points) {
      if (have.points.has(i)) throw new SluiceError('VALIDATION_FAILED', `vector cannot contain metrics with the same labelset ${key}`)
      have.points.set(i, v)
    }
  }
  return [...byKey.values()]
}

function project(metric: Record<string, string>, g: Grouping | undefined): Record<string, string> {
  if (!g) return {}
  const out: Record<string, string> = {}
  if (g.mode === 'by') {
    for (const l of g.labels) if (metric[l] !== undefined && metric[l] !== '') out[l] = metric[l]
  } else {
    for (const [k, v] of Object.entries(metric)) if (!g.labels.includes(k)) out[k] = v
  }
  return out
}

async function vector(expr: VectorAggregation, ctx: EvalContext): Promise<Value> {
  const inner = expr.inner
  const pushdown = expr.op === 'sum' && inner.kind === 'range' && ADDITIVE.has(inner.op) && !inner.grouping
  const value = pushdown ? { kind: 'vector' as const, series: await range(inner, ctx, expr.grouping ?? { mode: 'by', labels: [] }) } : await evaluate(inner, ctx)
  if (value.kind === 'scalar') throw new SluiceError('VALIDATION_FAILED', `${expr.op}: expected a vector, got a scalar`)
  // ClickHouse grouped and summed already.
  if (pushdown) return value
  const n = stepCount(ctx.steps)
  // approx_topk (Loki: a count-min sketch over shards, instant queries only) is answered exactly.
  if (expr.op === 'topk' || expr.op === 'bottomk' || expr.op === 'approx_topk') {
    const k = expr.param ?? NaN
    if (!Number.isInteger(k) || k < 1) throw new SluiceError('VALIDATION_FAILED', `${expr.op}: k must be a positive integer, got ${expr.param}`)
    const out = value.series.map((s) => ({ metric: s.metric, points: new Map<number, number>() }))
    for (let i = 0; i < n; i++) {
      const groups = new Map<string, { idx: number; v: number }[]>()
      value.series.forEach((s, idx) => {
        const v = s.points.get(i)
        if (v === undefined) return
        const key = labelKey(project(s.metric, expr.grouping))
        let g = groups.get(key)
        if (!g) groups.set(key, (g = []))
        g.push({ idx, v })
      })
      for (const g of groups.values()) {
        g.sort((a, b) => (expr.op === 'bottomk' ? a.v - b.v : b.v - a.v))
        for (const { idx, v } of g.slice(0, k)) out[idx]!.points.set(i, v)
      }
    }
    return { kind: 'vector', series: out.filter((s) => s.points.size > 0) }
  }
  if (expr.op === 'sort' || expr.op === 'sort_desc') return value
  const groups = new Map<string, { metric: Record<string, string>; members: Series[] }>()
  for (const s of value.series) {
    const metric = project(s.metric, expr.grouping)
    const key = labelKey(metric)
    let g = groups.get(key)
    if (!g) groups.set(key, (g = { metric, members: [] }))
    g.members.push(s)
  }
  const out: Series[] = []
  for (const g of groups.values()) {
    const points = new Map<number, number>()
    for (let i = 0; i < n; i++) {
      const vs = g.members.map((s) => s.points.get(i)).filter((v): v is number => v !== undefined)
      if (vs.length === 0) continue
      points.set(i, reduce(expr.op, vs))
    }
    if (points.size) out.push({ metric: g.metric, points })
  }
  return { kind: 'vector', series: out }
}

function reduce(op: VectorAggregation['op'], vs: number[]): number {
  const sum = vs.reduce((a, b) => a + b, 0)
  const mean = sum / vs.length
  switch (op) {
    case 'sum':
      return sum
    case 'avg':
      return mean
    case 'min':
      return Math.min(...vs)
    case 'max':
      return Math.max(...vs)
    case 'count':
      return vs.length
    case 'stddev':
      return Math.sqrt(vs.reduce((a, v) => a + (v - mean) ** 2, 0) / vs.length)
    case 'stdvar':
      return vs.reduce((a, v) => a + (v - mean) ** 2, 0) / vs.length
    default:
      throw unsupported(op)
  }
}

const COMPARISONS = new Set(['==', '!=', '>', '>=', '<', '<='])

function arith(op: BinaryOperation['op'], a: number, b: number): number {
  switch (op) {
    case '+':
      return a + b
    case '-':
      return a - b
    case '*':
      return a * b
    case '/':
      return a / b
    case '%':
      return a % b
    case '^':
      return a ** b
    case '==':
      return a === b ? 1 : 0
    case '!=':
      return a !== b ? 1 : 0
    case '>':
      return a > b ? 1 : 0
    case '>=':
      return a >= b ? 1 : 0
    case '<':
      return a < b ? 1 : 0
    case '<=':
      return a <= b ? 1 : 0
    default:
      throw unsupported(`${op} between numbers`)
  }
}

async function binary(expr: BinaryOperation, ctx: EvalContext): Promise<Value> {
  const [l, r] = await Promise.all([evaluate(expr.left, ctx), evaluate(expr.right, ctx)])
  const cmp = COMPARISONS.has(expr.op)
  if (l.kind === 'scalar' && r.kind === 'scalar') {
    if (cmp && !expr.bool) throw new SluiceError('VALIDATION_FAILED', 'comparisons between scalars must use the bool modifier')
    return { kind: 'scalar', value: arith(expr.op, l.value, r.value) }
  }
  if (['and', 'or', 'unless'].includes(expr.op)) {
    if (l.kind === 'scalar' || r.kind === 'scalar') throw new SluiceError('VALIDATION_FAILED', `set operator "${expr.op}" not allowed in binary scalar expression`)
    return { kind: 'vector', series: setOp(expr, l.series, r.series) }
  }
  // A series value v paired with the other side's w: arithmetic, or a comparison that filters (or gives 0/1 with bool).
  const apply = (v: number, w: number, keepLeft: boolean): number | undefined => {
    const x = arith(expr.op, v, w)
    if (!cmp || expr.bool) return x
    return x === 1 ? (keepLeft ? v : w) : undefined
  }
  if (l.kind === 'scalar' || r.kind === 'scalar') {
    const [vec, scalar, left] = l.kind === 'vector' ? [l, (r as { value: number }).value, true] : [r as Extract<Value, { kind: 'vector' }>, l.value, false]
    const series = vec.series.map((s) => {
      const points = new Map<number, number>()
      for (const [i, v] of s.points) {
        const x = left ? apply(v, scalar, true) : apply(scalar, v, false)
        if (x !== undefined) points.set(i, x)
      }
      return { metric: s.metric, points }
    })
    return { kind: 'vector', series: series.filter((s) => s.points.size > 0) }
  }
  return { kind: 'vector', series: matchVectors(expr, l.series, r.series, stepCount(ctx.steps), (a, b) => apply(a, b, true)) }
}

/**
 * Two vectors matched step by step as Prometheus matches them: by all labels, `on (…)` some or
 * `ignoring (…)` some; one to one, or many to one with `group_left (…)` (`group_right`: one to
 * many), the "one" side's series unique per match group at each step. A result is labelled by the
 * left (the "many") side: one to one, with `on` only the matched labels and with `ignoring` less
 * the ignored ones; grouped, the labels named in `group_x (…)` copied from the "one" side.
 */
function matchVectors(expr: BinaryOperation, left: Series[], right: Series[], steps: number, apply: (l: number, r: number) => number | undefined): Series[] {
  const m = expr.matching
  const group = m?.group
  const names = m?.labels ?? []
  const sig = (metric: Record<string, string>) => labelKey(project(metric, { mode: m?.mode === 'on' ? 'by' : 'without', labels: names }))
  const [many, one] = group === 'right' ? [right, left] : [left, right]
  const manySigs = many.map((s) => sig(s.metric))
  const oneSigs = one.map((s) => sig(s.metric))
  const metricOf = (manyMetric: Record<string, string>, oneMetric: Record<string, string>): Record<string, string> => {
    let out: Record<string, string> = { ...manyMetric }
    if (!group && m?.mode === 'on') out = project(out, { mode: 'by', labels: names })
    else if (!group) for (const n of names) delete out[n]
    for (const n of m?.include ?? []) {
      if (oneMetric[n]) out[n] = oneMetric[n]
      else delete out[n]
    }
    return out
  }
  const out = new Map<string, Series>()
  for (let i = 0; i < steps; i++) {
    const ones = new Map<string, { metric: Record<string, string>; v: number }>()
    one.forEach((s, k) => {
      const v = s.points.get(i)
      if (v === undefined) return
      if (ones.has(oneSigs[k]!)) {
        throw new SluiceError('VALIDATION_FAILED', `found duplicate series for the match group ${oneSigs[k]} on the ${group === 'right' ? 'left' : 'right'} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side`)
      }
      ones.set(oneSigs[k]!, { metric: s.metric, v })
    })
    const matched = new Set<string>()
    const inserted = new Set<string>()
    many.forEach((s, k) => {
      const v = s.points.get(i)
      const o = v === undefined ? undefined : ones.get(manySigs[k]!)
      if (!o) return
      if (!group) {
        if (matched.has(manySigs[k]!)) throw new SluiceError('VALIDATION_FAILED', `multiple matches for labels ${manySigs[k]}: many-to-one matching must be explicit (group_left/group_right)`)
        matched.add(manySigs[k]!)
      }
      const x = group === 'right' ? apply(o.v, v!) : apply(v!, o.v)
      if (x === undefined) return
      const metric = metricOf(s.metric, o.metric)
      const key = labelKey(metric)
      if (group) {
        if (inserted.has(key)) throw new SluiceError('VALIDATION_FAILED', `multiple matches for labels ${key}: grouping labels must ensure unique matches`)
        inserted.add(key)
      }
      let series = out.get(key)
      if (!series) out.set(key, (series = { metric, points: new Map() }))
      series.points.set(i, x)
    })
  }
  return [...out.values()]
}

function setOp(expr: BinaryOperation, l: Series[], r: Series[]): Series[] {
  const sig = (m: Record<string, string>) => labelKey(expr.matching ? project(m, { mode: expr.matching.mode === 'on' ? 'by' : 'without', labels: expr.matching.labels }) : m)
  const present = (side: Series[]) => {
    const at = new Map<string, Set<number>>()
    for (const s of side) {
      const k = sig(s.metric)
      const set = at.get(k) ?? new Set<number>()
      for (const i of s.points.keys()) set.add(i)
      at.set(k, set)
    }
    return at
  }
  if (expr.op === 'or') {
    const left = present(l)
    const extra = r.map((s) => ({ metric: s.metric, points: new Map([...s.points].filter(([i]) => !left.get(sig(s.metric))?.has(i))) }))
    return [...l, ...extra.filter((s) => s.points.size > 0)]
  }
  const right = present(r)
  const keep = expr.op === 'and'
  return l
    .map((s) => ({ metric: s.metric, points: new Map([...s.points].filter(([i]) => (right.get(sig(s.metric))?.has(i) ?? false) === keep)) }))
    .filter((s) => s.points.size > 0)
}
