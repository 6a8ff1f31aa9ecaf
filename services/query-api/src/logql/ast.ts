// The LogQL syntax tree: what parse.ts produces, format.ts prints and compile.ts turns into
// ClickHouse SQL. It follows the grammar of the Loki documentation (log queries: a stream
// selector and a pipeline; metric queries: range aggregations, vector aggregations, binary
// operations and literals). Durations are held in nanoseconds as bigint, so `[1h]` and
// `offset 5m` keep their exact value; numbers compared in label filters are plain numbers.

export type MatchOp = '=' | '!=' | '=~' | '!~'

/** `name op "value"` inside `{…}`, or in `drop`/`keep` (`drop level="debug"`). */
export interface Matcher {
  name: string
  op: MatchOp
  value: string
}

// ---- pipeline stages -------------------------------------------------------------------------

export type LineFilterOp = '|=' | '!=' | '|~' | '!~' | '|>' | '!>'

/** `|= "a"`, `|~ "re"`, `|= "a" or "b"` (values or-ed), `|= ip("10.0.0.0/8")`, `|> "<_> x <_>"`. */
export interface LineFilterStage {
  kind: 'line_filter'
  op: LineFilterOp
  /** Or-ed alternatives (Loki 3: `|= "a" or "b"`); one element in the common case. */
  values: string[]
  /** `ip("…")` instead of a string: the value is a CIDR, range or address. */
  ip?: boolean
}

export type ParserName = 'json' | 'logfmt' | 'regexp' | 'pattern' | 'unpack'

/** `| json`, `| json a="b.c", d`, `| logfmt --strict a`, `| regexp "…"`, `| pattern "…"`, `| unpack`. */
export interface ParserStage {
  kind: 'parser'
  parser: ParserName
  /** The regexp or pattern string of `regexp`/`pattern`. */
  param?: string
  /** Extraction parameters of `json`/`logfmt`: `label="expression"`, or a bare label (expression = its name). */
  extract?: { label: string; expr: string }[]
  /** logfmt flags without the dashes: `strict`, `keep-empty`. */
  flags?: string[]
}

export type CompareOp = '=' | '!=' | '=~' | '!~' | '>' | '>=' | '<' | '<=' | '=='

export type LabelValue =
  | { type: 'string'; value: string }
  | { type: 'number'; value: number }
  /** `1s`, `250ms`, `1h30m`: compared in nanoseconds, as Loki compares Go's time.Duration. */
  | { type: 'duration'; ns: bigint; text: string }
  /** `10KB`, `1.5MiB`: compared as bytes. */
  | { type: 'bytes'; bytes: number; text: string }

export type LabelFilterExpr =
  | { kind: 'compare'; label: string; op: CompareOp; value: LabelValue }
  | { kind: 'and' | 'or'; left: LabelFilterExpr; right: LabelFilterExpr }
  /** `ip("…")`: `| addr = ip("10.0.0.0/8")`. */
  | { kind: 'ip'; label: string; op: '=' | '!='; value: string }

/** `| status >= 400 and duration > 1s`, `| level="error" or level="warn"`, `| (a="1", b="2")`. */
export interface LabelFilterStage {
  kind: 'label_filter'
  expr: LabelFilterExpr
}

/** `| line_format "{{.status}} {{.path}}"`: the Go template, unparsed. */
export interface LineFormatStage {
  kind: 'line_format'
  template: string
}

/** `| label_format new=old, msg="{{.a}}"`: rename (`source` is a label) or template (`template`). */
export interface LabelFormatStage {
  kind: 'label_format'
  ops: ({ label: string; source: string } | { label: string; template: string })[]
}

/** `| drop a, b="v"` / `| keep a, b`: bare names, or a matcher that limits it to some values. */
export interface DropKeepStage {
  kind: 'drop' | 'keep'
  labels: ({ name: string } | Matcher)[]
}

/** `| decolorize` */
export interface DecolorizeStage {
  kind: 'decolorize'
}

export type Stage = LineFilterStage | ParserStage | LabelFilterStage | LineFormatStage | LabelFormatStage | DropKeepStage | DecolorizeStage

/** `{service_name="api", level=~"error|warn"} |= "timeout" | json | status >= 500` */
export interface LogExpr {
  kind: 'log'
  matchers: Matcher[]
  pipeline: Stage[]
}

// ---- metric queries --------------------------------------------------------------------------

/** `| unwrap latency`, `| unwrap duration(took)`, `| unwrap bytes(size)`, followed by its own label filters. */
export interface Unwrap {
  label: string
  conversion?: 'duration' | 'duration_seconds' | 'bytes'
  /** Label filters written after the unwrap (`| unwrap x | __error__=""`). */
  post: LabelFilterStage[]
}

export const RANGE_OPS = [
  'count_over_time',
  'rate',
  'rate_counter',
  'bytes_over_time',
  'bytes_rate',
  'absent_over_time',
  'sum_over_time',
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'stddev_over_time',
  'stdvar_over_time',
  'quantile_over_time',
  'first_over_time',
  'last_over_time',
] as const
export type RangeOp = (typeof RANGE_OPS)[number]

export interface Grouping {
  /** `by (a, b)` or `without (a, b)`; `by ()` groups everything into one series. */
  mode: 'by' | 'without'
  labels: string[]
}

/** `count_over_time({…} |= "x" [5m] offset 1h)`, `quantile_over_time(0.99, {…} | unwrap d [1m]) by (svc)` */
export interface RangeAggregation {
  kind: 'range'
  op: RangeOp
  log: LogExpr
  unwrap?: Unwrap
  rangeNs: bigint
  offsetNs?: bigint
  /** The φ of `quantile_over_time`. */
  param?: number
  grouping?: Grouping
}

export const VECTOR_OPS = ['sum', 'avg', 'min', 'max', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'sort', 'sort_desc', 'approx_topk'] as const
export type VectorOp = (typeof VECTOR_OPS)[number]

/** `sum by (level) (…)`, `topk(5, …)`, `avg(…) without (host)` */
export interface VectorAggregation {
  kind: 'vector'
  op: VectorOp
  /** The k of `topk`/`bottomk`/`approx_topk`. */
  param?: number
  grouping?: Grouping
  inner: MetricExpr
}

export const BINARY_OPS = ['or', 'and', 'unless', '==', '!=', '>', '>=', '<', '<=', '+', '-', '*', '/', '%', '^'] as const
export type BinaryOpName = (typeof BINARY_OPS)[number]

/** Loki's binary-operator precedence, lowest first; `^` is right-associative. */
export const PRECEDENCE: Readonly<Record<BinaryOpName, number>> = {
  or: 1,
  and: 2,
  unless: 2,
  '==': 3,
  '!=': 3,
  '>': 3,
  '>=': 3,
  '<': 3,
  '<=': 3,
  '+': 4,
  '-': 4,
  '*': 5,
  '/': 5,
  '%': 5,
  '^': 6,
}

/** `a / b`, `sum(…) > 10`, `x > bool 1`, `a / on (x) b` */
export interface BinaryOperation {
  kind: 'binary'
  op: BinaryOpName
  /** The `bool` modifier of comparisons. */
  bool: boolean
  /** `on (…)` / `ignoring (…)`, and `group_left`/`group_right`: parsed so they can be refused by name. */
  matching?: { mode: 'on' | 'ignoring'; labels: string[]; group?: 'left' | 'right'; include?: string[] }
  left: MetricExpr
  right: MetricExpr
}

export interface NumberLiteral {
  kind: 'number'
  value: number
}

/** `vector(0)` */
export interface VectorLiteral {
  kind: 'vector_literal'
  value: number
}

/** `label_replace(expr, "dst", "replacement", "src", "regex")` */
export interface LabelReplace {
  kind: 'label_replace'
  inner: MetricExpr
  dst: string
  replacement: string
  src: string
  regex: string
}

export type MetricExpr = RangeAggregation | VectorAggregation | BinaryOperation | NumberLiteral | VectorLiteral | LabelReplace

export type Expr = LogExpr | MetricExpr

/** A query Loki would refuse to parse: HTTP 400 with Loki's `parse error at line L, col C: …` text. */
export class LogQLParseError extends Error {
  readonly line: number
  readonly col: number
  constructor(message: string, line: number, col: number) {
    super(`parse error at line ${line}, col ${col}: ${message}`)
    this.name = 'LogQLParseError'
    this.line = line
    this.col = col
  }
}
