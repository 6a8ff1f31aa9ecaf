// LogQL → ClickHouse statements over <db>.logs: log lines (newest or oldest `limit`), and range
// aggregations evaluated at every step, built from a stream selector (sql.ts) and a pipeline
// (pipeline.ts). evaluate.ts puts the rest of a metric query together; routes.ts runs them.
import { SluiceError } from '@sluice/core'
import type { Grouping, LogExpr, Matcher, RangeAggregation } from '../logql/ast.js'
import { matchesEmpty } from '../logql/parse.js'
import type { Labels } from './output.js'
import { Pipeline, namesLabel } from './pipeline.js'
import type { AttributeLookup, OutputRow } from './pipeline.js'
import { Params, builtin, bytesValue, durationSeconds, matchSql, unsupported } from './sql.js'

export interface Scope {
  db: string
  tenant: string
  /**
   * The attribute keys each label name stands for in the tenant's data (the attribute_keys table:
   * `user_agent` → `user-agent`; none: no attribute has that name). A label a parser extracts must
   * defer to an attribute of the same name, as Loki's do to structured metadata; knowing the keys
   * reads only the maps that hold them, and none at all when there are none. Names not settled
   * are looked up under themselves and with every `_` read as `.`, in both maps.
   */
  attributes?: AttributeLookup
}

/** WHERE clauses every statement starts with: tenant, time (on the sorting key too), selector. */
function base(scope: Scope, matchers: readonly Matcher[], fromNs: bigint, toNs: bigint, p: Params, pipe: Pipeline): string[] {
  // As Loki: a selector must narrow the data, with a matcher the empty value does not pass.
  if (!matchers.some((m) => !matchesEmpty(m))) {
    throw new SluiceError('VALIDATION_FAILED', 'queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will')
  }
  const clauses = [
    `tenant = ${p.bind(scope.tenant)}`,
    `TimestampTime >= toDateTime(${p.bind(Number(fromNs / 1_000_000_000n), 'Int64')})`,
    `TimestampTime <= toDateTime(${p.bind(Number(toNs / 1_000_000_000n) + 1, 'Int64')})`,
    `Timestamp >= fromUnixTimestamp64Nano(${p.bind(fromNs.toString(), 'Int64')})`,
    `Timestamp < fromUnixTimestamp64Nano(${p.bind(toNs.toString(), 'Int64')})`,
  ]
  for (const m of matchers) {
    const b = builtin(m.name)
    if (b) clauses.push(matchSql(b.column, m.op, m.value, p))
    else {
      const l = pipe.lookup(m.name)
      clauses.push(matchSql(l.val, m.op, m.value, p))
    }
  }
  return clauses
}

export interface LogStatement {
  /** Labels the statement looked up as possible attributes (a probe can settle them; see Scope.attributes). */
  attributes?: string[]
  query: string
  params: Record<string, unknown>
  /** Settings of this statement alone (guard.ts). */
  settings?: readonly string[]
  /** A range statement grouped `by` these labels: its rows' `labels` are their values, in this order (seriesLabels). */
  by?: readonly string[]
  /** A line filter reads Body with LIKE or ILIKE (Pipeline.bodyLike). */
  bodyLike?: true
  /** A line filter asks for a term that looks rare (Pipeline.rareTerm). */
  rareTerm?: true
}

/**
 * The labels of a range statement's series: its `labels` column, a map, or with `by` the labels'
 * values in order, the empty ones left out as Loki leaves them.
 */
export function seriesLabels(st: LogStatement, labels: Readonly<Record<string, string>> | readonly string[]): Record<string, string> {
  if (!Array.isArray(labels)) return labels as Record<string, string>
  const out: Record<string, string> = {}
  st.by?.forEach((name, j) => {
    const v = labels[j]
    if (v !== undefined && v !== '') out[name] = v
  })
  return out
}

/**
 * Unwrapped samples can be infinite or NaN (a label saying `inf` or `NaN`, as Go's ParseFloat reads
 * it), and so can what is computed from them, which Loki answers as "+Inf", "-Inf" and "NaN".
 * ClickHouse's JSON writes such values as null unless asked to write them as strings.
 */
const NON_FINITE_AS_TEXT = ['output_format_json_quote_denormals = 1']

/**
 * Rows of a log query in [fromNs, toNs), shaped by `select` (which sees the pipeline's final state)
 * and finished by `tail` (ORDER BY, GROUP BY, LIMIT; parameters bound through `p`).
 */
export function compileSelect(
  scope: Scope,
  expr: LogExpr,
  fromNs: bigint,
  toNs: bigint,
  select: (pipe: Pipeline, p: Params) => string,
  tail: (p: Params) => string = () => '',
  more: (p: Params) => string[] = () => [],
  filter = true,
): LogStatement {
  const p = new Params()
  const pipe = new Pipeline(p, scope.attributes)
  const where = base(scope, expr.matchers, fromNs, toNs, p, pipe)
  for (const s of expr.pipeline) pipe.apply(s)
  const columns = select(pipe, p)
  const conditions = [...where, ...more(p), ...(filter ? pipe.where : [])].join('\n  AND ')
  const rest = `SELECT ${columns}
FROM ${scope.db}.logs
${pipe.bound}WHERE ${conditions}
${tail(p)}`
  const query = `${pipe.with(rest)}${rest}`
  return { query, params: p.values, attributes: [...pipe.attributeNames], ...(pipe.bodyLike && { bodyLike: true as const }), ...(pipe.rareTerm && { rareTerm: true as const }) }
}

/** A log line as answered: its time, line, stream labels, structured metadata and parsed labels. */
export interface LogLine {
  ts: string
  line: string
  stream: Labels
  meta: Labels
  parsed: Labels
}

/** A statement answering log lines, and how each of its rows becomes one. */
export interface LinesStatement extends LogStatement {
  shape(row: OutputRow): LogLine
  /**
   * Set when the statement leaves duplicate copies of a record to the caller. It reads no id (one
   * wide column less for every line answered), so it cannot tell a copy from another record with
   * the same time and line; a copy always has both. A page where no two rows share them holds no
   * copy and is the answer; otherwise `exact` (LIMIT 1 BY id in SQL) answers instead.
   */
  dedup?: { exact(): LinesStatement }
}

/** compileSelect for log lines: the output columns (plus `extra`), and the row shaper to match. */
export function compileLines(scope: Scope, expr: LogExpr, opts: { fromNs: bigint; toNs: bigint; extra?: string; tail?: (p: Params) => string; more?: (p: Params) => string[]; filter?: boolean }): LinesStatement {
  let shape: ((row: OutputRow) => { stream: Labels; meta: Labels; parsed: Labels }) | undefined
  const st = compileSelect(
    scope,
    expr,
    opts.fromNs,
    opts.toNs,
    (pipe) => {
      const o = pipe.output()
      shape = o.shape
      return opts.extra ? `${o.columns}, ${opts.extra}` : o.columns
    },
    opts.tail,
    opts.more,
    opts.filter,
  )
  return { ...st, shape: (row) => ({ ts: row.ts, line: row.line, ...shape!(row) }) }
}

/**
 * Newest (backward) or oldest (forward) `limit` lines of a log query in [fromNs, toNs). The label
 * columns are read raw and assembled per returned line (output.ts), so nothing per-row beyond the
 * filters runs in ClickHouse.
 *
 * A record re-delivered after a crash is stored twice until ClickHouse merges the copies: one line
 * per id. The statement run first has no LIMIT 1 BY id, because that step stands between the sort
 * and the LIMIT and so keeps ClickHouse from reading the wide columns (maps, line) of the `limit`
 * rows answered only (lazy materialisation): it reads every column of every row in the range
 * instead. Nor does it read the id: copies are rare, and the caller sees them (see `dedup`).
 */
export function compileLogQuery(scope: Scope, expr: LogExpr, range: { fromNs: bigint; toNs: bigint; limit: number; direction: 'backward' | 'forward' }): LinesStatement {
  const dir = range.direction === 'forward' ? 'ASC' : 'DESC'
  const build = (limitById: boolean) =>
    compileLines(scope, expr, {
      fromNs: range.fromNs,
      toNs: range.toNs,
      tail: (p) => `ORDER BY TimestampTime ${dir}, Timestamp ${dir}\n${limitById ? 'LIMIT 1 BY id\n' : ''}LIMIT ${p.bind(range.limit, 'UInt32')}`,
    })
  // A line filter too: LIMIT BY would read every column of every matching line before the LIMIT
  // (a term found on many lines: `{service_name=~".+"} |= "declined"` over a day of the bench's
  // 10 M rows took 1.35 s with it, 0.20 s without); a rare term costs the same either way.
  return { ...build(false), dedup: { exact: () => build(true) } }
}

/**
 * The lines of a statement's rows, in order; undefined when two rows share their time and line,
 * which every pair of copies of one record does: the statement's `dedup.exact` must answer then.
 * The rows are sorted by time, so rows of one time are neighbours.
 */
export function uniqueLines(st: LinesStatement, rows: readonly OutputRow[]): LogLine[] | undefined {
  if (st.dedup) {
    for (let i = 1, first = 0; i < rows.length; i++) {
      if (rows[i]!.ts !== rows[first]!.ts) first = i
      else for (let j = first; j < i; j++) if (rows[j]!.line === rows[i]!.line) return undefined
    }
  }
  return rows.map(st.shape)
}

export interface Steps {
  startNs: bigint
  endNs: bigint
  stepNs: bigint
}

export const stepCount = (s: Steps) => Number((s.endNs - s.startNs) / s.stepNs) + 1

/**
 * A range aggregation evaluated at every step t = start + i·step in [start, end]: the samples in
 * (t − offset − range, t − offset] of each series. Rows are (labels, [i…], [value…]). `grouping` is the
 * series' labels: the aggregation's own `by`/`without`, or one pushed down from an enclosing
 * `sum by (…)` where summing first gives the same answer.
 */
export function compileRange(scope: Scope, r: RangeAggregation, steps: Steps, grouping: Grouping | undefined, failedLines = false): LogStatement {
  const p = new Params()
  // Loki's parser hints: a metric of one series (a sum without `by` over count_over_time, rate,
  // bytes_over_time, bytes_rate or sum_over_time; absent_over_time) needs no label unless its
  // pipeline or unwrap names one, and then its parsers do not run: they mark no line with an error.
  const outer = grouping ?? r.grouping
  const noLabels = outer?.mode === 'by' && outer.labels.length === 0 && !r.unwrap && !r.log.pipeline.some(namesLabel)
  const pipe = new Pipeline(p, scope.attributes, { metric: true, noLabels })
  const offset = r.offsetNs ?? 0n
  const fromNs = steps.startNs - offset - r.rangeNs + 1n
  // A window exactly one step long holds each row once, at the step `first` names (count_over_time(…[1m])
  // at a 1m step, Grafana's usual): read up to the end of the last window, and every row read is
  // in one, with no step bound to check per row.
  const exact = r.rangeNs === steps.stepNs
  const last = stepCount(steps) - 1
  const toNs = (exact ? steps.startNs + BigInt(last) * steps.stepNs : steps.endNs) - offset + 1n
  const where = base(scope, r.log.matchers, fromNs, toNs, p, pipe)
  for (const s of r.log.pipeline) pipe.apply(s)
  let value = '1'
  if (r.unwrap) {
    const l = pipe.lookup(r.unwrap.label)
    const kind = r.unwrap.conversion === 'bytes' ? 'bytes' : r.unwrap.conversion ? 'duration' : 'number'
    value = pipe.alias(kind === 'bytes' ? bytesValue(l.val) : kind === 'duration' ? durationSeconds(l.val) : `toFloat64OrNull(${l.val})`)
    // As Loki: a line without the label gives no sample; one whose value does not convert gives a
    // sample marked SampleExtractionErr (over any earlier error), for a filter after unwrap to drop.
    const failed = pipe.alias(`(${l.val} != '' AND ${value} IS NULL)`)
    pipe.replaceError(failed, 'SampleExtractionErr', pipe.conversionDetails(kind, l.val))
    for (const f of r.unwrap.post) pipe.apply(f)
    where.push(`(${value} IS NOT NULL OR ${failed})`)
  } else if (UNWRAPPED.has(r.op)) {
    throw new SluiceError('VALIDATION_FAILED', `${r.op} needs an unwrapped label: … | unwrap <label> [range]`)
  }
  const agg = aggregate(r, steps, p)
  const k = (r.rangeNs + steps.stepNs - 1n) / steps.stepNs + 1n
  // Without an offset (nearly every query) no sum to compute per row: ~4 % of a day's count by level.
  const t = offset === 0n ? 'toUnixTimestamp64Nano(Timestamp)' : `(toUnixTimestamp64Nano(Timestamp) + ${p.bind(offset.toString(), 'Int64')})`
  // Step i's window is (start + i·step − range, start + i·step] in `t`: with the origin P = start − k·step
  // (k steps back, so every operand is positive and intDiv's truncation is a floor), a row is in
  // the steps from ceil((t − P) / step) − k to floor((t − P + range − 1) / step) − k, each written
  // as one intDiv of t less a constant.
  const origin = steps.startNs - k * steps.stepNs
  const step = p.bind(steps.stepNs.toString(), 'Int64')
  const back = p.bind(k.toString(), 'Int64')
  const first = `intDiv(${t} - ${p.bind((origin - steps.stepNs + 1n).toString(), 'Int64')}, ${step}) - ${back}`
  const lo = exact ? first : `greatest(toInt64(0), ${first})`
  const hi = exact ? '' : `least(toInt64(${p.bind(last, 'Int64')}), intDiv(${t} - ${p.bind((origin - r.rangeNs + 1n).toString(), 'Int64')}, ${step}) - ${back})`
  // `by` labels are grouped on as plain columns, and a series' labels are their values in order,
  // named in JavaScript (seriesLabels): a map built in SQL costs the analyser a lambda. A window no
  // longer than the step holds each row at most once, so no row is repeated per step.
  // As Loki: a series of unwrapped samples has every label but the unwrapped one, unless `by` names it.
  const own = failedLines ? undefined : (grouping ?? r.grouping)
  const g: Grouping | undefined = r.unwrap && own?.mode !== 'by' ? { mode: 'without', labels: [...(own?.labels ?? []), r.unwrap.label] } : own
  const by = g?.mode === 'by' ? [...new Set(g.labels)] : undefined
  const byCols = by?.map((l, j) => `${pipe.lookup(l).val} AS g${j}`)
  const series = byCols ? byCols.join(', ') : `${pipe.seriesMap(g)} AS labels`
  const labels = byCols ? `CAST([${byCols.map((_, j) => `g${j}`).join(', ')}], 'Array(String)')` : 'labels'
  const keys = byCols ? byCols.map((_, j) => `g${j}`) : ['labels']
  // As Loki: a line in a window still marked with an error after the pipeline fails the query
  // (evaluate.ts), unless the query groups by __error__: `failed` says so. With `failedLines`, the
  // statement answers the series of those lines only, under all their labels, for the message.
  const error = pipe.visibleError
  const checked = error !== "''" && !failedLines && !(g?.mode === 'by' && g.labels.includes('__error__'))
  const single = r.rangeNs <= steps.stepNs
  const conditions = [...where, ...pipe.where, ...(failedLines ? [`${error} != ''`] : [])].join('\n    AND ')
  // One row per series, its steps and values as arrays: a few rows to hand to JavaScript, not one per point.
  const inner = `SELECT ${[series, `${t} AS t`, r.unwrap ? `ifNull(${value}, 0) AS x` : '', r.op.startsWith('bytes') ? `length(${pipe.line}) AS b` : '', `${lo} AS lo`, hi && `${hi} AS hi`, checked ? `${error} != '' AS failed` : ''].filter(Boolean).join(', ')}
  FROM ${scope.db}.logs
  ${pipe.bound}WHERE ${conditions}`
  const query = `SELECT labels, groupArray(toUInt32(i)) AS i, groupArray(v) AS v${checked ? ', max(failed) AS failed' : ''} FROM (
SELECT ${labels} AS labels, i, ${[...(agg.columns ?? []), `${agg.value} AS v`, checked ? 'max(failed) AS failed' : ''].filter(Boolean).join(', ')} FROM (
  ${pipe.with(inner)}${inner}
)
${exact ? '' : single ? 'WHERE lo <= hi' : 'ARRAY JOIN range(lo, hi + 1) AS i'}
GROUP BY ${[...keys, single ? 'lo AS i' : 'i'].join(', ')}
)
GROUP BY labels`
  return { query, params: p.values, attributes: [...pipe.attributeNames], ...(by && { by }), ...(r.unwrap && { settings: NON_FINITE_AS_TEXT }) }
}

const UNWRAPPED = new Set(['sum_over_time', 'avg_over_time', 'min_over_time', 'max_over_time', 'stddev_over_time', 'stdvar_over_time', 'quantile_over_time', 'first_over_time', 'last_over_time', 'rate_counter'])

/** A duration in seconds as Go's Duration.Seconds() computes it (whole seconds plus the fraction). */
export const goSeconds = (ns: bigint) => Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9

/** The value of one series at a step, and columns of the grouped SELECT it reads (named, before it). */
interface Aggregate {
  columns?: string[]
  value: string
}

/**
 * The value of one series at step i over its samples in the window: `t` (nanoseconds, the offset
 * added: the step's time is the window's end) and, unwrapped, `x`.
 */
function aggregate(r: RangeAggregation, steps: Steps, p: Params): Aggregate {
  const perSecond = p.bind(goSeconds(r.rangeNs), 'Float64')
  if (r.op === 'rate_counter') return rateCounter(r, steps, p, perSecond)
  if (r.op === 'quantile_over_time') {
    const q = r.param ?? NaN
    if (Number.isNaN(q)) throw new SluiceError('VALIDATION_FAILED', `quantile_over_time: φ must be a number, got ${r.param}`)
    // As Loki: below 0 is -Inf, above 1 +Inf, for every window with a sample.
    return q < 0 ? { value: '-inf' } : q > 1 ? { value: 'inf' } : quantile(q, p)
  }
  return { value: aggregateValue(r, perSecond) }
}

/** Loki's running variance turns NaN at the first sample that is not finite; ClickHouse's varPop leaves such samples out. */
const allFiniteOrNaN = (variance: string) => `if(countIf(NOT isFinite(x)) > 0, nan, ${variance})`

function aggregateValue(r: RangeAggregation, perSecond: string): string {
  switch (r.op) {
    case 'count_over_time':
      return 'toFloat64(count())'
    case 'rate':
      return r.unwrap ? `sum(x) / ${perSecond}` : `count() / ${perSecond}`
    case 'bytes_over_time':
      return 'toFloat64(sum(b))'
    case 'bytes_rate':
      return `sum(b) / ${perSecond}`
    case 'sum_over_time':
      return 'sum(x)'
    case 'avg_over_time':
      return 'avg(x)'
    case 'min_over_time':
      return 'min(x)'
    case 'max_over_time':
      return 'max(x)'
    case 'stddev_over_time':
      return allFiniteOrNaN('stddevPop(x)')
    case 'stdvar_over_time':
      return allFiniteOrNaN('varPop(x)')
    case 'first_over_time':
      return 'argMin(x, t)'
    case 'last_over_time':
      return 'argMax(x, t)'
    // quantile answers quantile_over_time, rateCounter rate_counter; evaluate.ts answers
    // absent_over_time from a count_over_time.
    case 'quantile_over_time':
    case 'rate_counter':
    case 'absent_over_time':
      throw unsupported(r.op)
  }
}

/**
 * quantile_over_time as Loki computes it (Prometheus' quantile): the samples sorted with NaN first,
 * the rank φ·(n − 1), and the two samples around it weighted as Go weighs them —
 * lower·(1 − w) + upper·w, the same Float64 operations in the same order, so answers agree to the
 * last digit (ClickHouse's own quantiles interpolate as lower + w·(upper − lower), and leave NaN out).
 */
function quantile(q: number, p: Params): Aggregate {
  return {
    columns: [
      'arraySort(e -> (NOT isNaN(e), e), groupArray(x)) AS q_s',
      `${p.bind(q, 'Float64')} * (length(q_s) - 1) AS q_rank`,
      'floor(q_rank) AS q_lower',
      'q_rank - q_lower AS q_weight',
    ],
    value: 'q_s[toUInt64(q_lower) + 1] * (1 - q_weight) + q_s[least(length(q_s), toUInt64(q_lower) + 2)] * q_weight',
  }
}

/**
 * rate_counter: the samples read as a counter, as Loki computes it (Prometheus' extrapolatedRate
 * with isCounter and isRate, over the window's own bounds rather than Prometheus' guess at them):
 * the last value less the first, plus the value before each drop (a counter reset); extrapolated
 * to the window's start and end by the distance from the first and last sample, or by half the
 * average spacing where that distance is 1.1 spacings or more, and towards the start no further
 * than where the counter would reach zero; divided by the range in seconds. Fewer than two
 * samples give 0. Samples are taken in time order (then by value, for equal times). Each step is
 * the Float64 operation Go performs, in Go's order, so the answers are Loki's to the last bit.
 * Named columns of the grouped SELECT (`rc_…`), the value last.
 */
function rateCounter(r: RangeAggregation, steps: Steps, p: Params, perSecond: string): Aggregate {
  const end = `(${p.bind(steps.startNs.toString(), 'Int64')} + toInt64(i) * ${p.bind(steps.stepNs.toString(), 'Int64')})`
  const start = `(${end} - ${p.bind(r.rangeNs.toString(), 'Int64')})`
  const defs: [string, string][] = [
    ['rc_s', 'arraySort(groupArray((t, x)))'],
    ['rc_n', 'length(rc_s)'],
    ['rc_increase', 'arrayFold((acc, cur, prev) -> if(cur.2 < prev.2, acc + prev.2, acc), arrayPopFront(rc_s), arrayPopBack(rc_s), rc_s[rc_n].2 - rc_s[1].2)'],
    ['rc_sampled', '(rc_s[rc_n].1 - rc_s[1].1) / 1e9'],
    ['rc_spacing', 'rc_sampled / (rc_n - 1)'],
    ['rc_to_start', `if((rc_s[1].1 - ${start}) / 1e9 >= rc_spacing * 1.1, rc_spacing / 2, (rc_s[1].1 - ${start}) / 1e9)`],
    ['rc_to_zero', 'if(rc_increase > 0 AND rc_s[1].2 >= 0, rc_sampled * (rc_s[1].2 / rc_increase), rc_to_start)'],
    ['rc_to_end', `if((${end} - rc_s[rc_n].1) / 1e9 >= rc_spacing * 1.1, rc_spacing / 2, (${end} - rc_s[rc_n].1) / 1e9)`],
  ]
  const toStart = 'if(rc_to_zero < rc_to_start, rc_to_zero, rc_to_start)'
  return {
    columns: defs.map(([name, expr]) => `${expr} AS ${name}`),
    value: `if(rc_n < 2, 0, rc_increase * ((rc_sampled + ${toStart} + rc_to_end) / rc_sampled) / ${perSecond})`,
  }
}

/** Ops whose per-series results may be summed before or after grouping with the same answer. */
export const ADDITIVE = new Set(['count_over_time', 'rate', 'bytes_over_time', 'bytes_rate', 'sum_over_time'])
