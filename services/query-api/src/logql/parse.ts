// LogQL text → the syntax tree of ast.ts, written from the grammar in the Loki documentation
// (https://grafana.com/docs/loki/latest/query/). A hand-written recursive-descent parser over a
// lazy lexer, so the first error in reading order is the one reported, with its 1-based line and
// column, as Loki's `/loki/api/v1/query` would report it. Bad input only ever throws
// LogQLParseError: the lexer never reads past the text, and nesting is capped so a hostile query
// cannot exhaust the stack (here or in the formatter and compiler that walk the tree).
//
// Besides syntax it refuses what Loki refuses at parse time: a selector without a matcher that
// rejects the empty value, unwrap where it is not allowed or missing, grouping on range
// aggregations that do not support it, log queries used as vectors, and a regular expression
// Go's regexp cannot compile (re2.ts), in Go's words.
import { LogQLParseError, PRECEDENCE, RANGE_OPS, VECTOR_OPS } from './ast.js'
import { re2, re2Error } from './re2.js'
import type {
  BinaryOperation,
  BinaryOpName,
  CompareOp,
  DropKeepStage,
  Expr,
  Grouping,
  LabelFilterExpr,
  LabelFilterStage,
  LabelFormatStage,
  LabelValue,
  LineFilterOp,
  LineFilterStage,
  LogExpr,
  Matcher,
  MatchOp,
  MetricExpr,
  ParserStage,
  RangeAggregation,
  RangeOp,
  Stage,
  Unwrap,
  VectorAggregation,
  VectorOp,
} from './ast.js'

export function parseLogQL(text: string): Expr {
  return new Parser(text).query()
}

// ---- lexer -----------------------------------------------------------------------------------

interface At {
  text: string
  line: number
  col: number
}
type Token =
  | (At & { type: 'ident' | 'op' | 'flag' | 'eof' })
  | (At & { type: 'string'; value: string })
  | (At & { type: 'number'; value: number })
  | (At & { type: 'duration'; ns: bigint })
  | (At & { type: 'bytes'; bytes: number })

// Longest first, so `|=` wins over `|` and `>=` over `>`.
const OPS = ['|=', '|~', '|>', '!=', '!~', '!>', '=~', '==', '>=', '<=', '|', '=', '>', '<', '{', '}', '(', ')', '[', ']', ',', '+', '-', '*', '/', '%', '^']

// Durations accept both Prometheus (`1h30m`, `2d`, `1y`) and Go (`1.5h`, `300µs`) forms, as Loki does.
const SECOND_NS = 1_000_000_000n
const DURATION_UNITS_NS: Record<string, bigint> = {
  ns: 1n,
  us: 1000n,
  µs: 1000n,
  μs: 1000n,
  ms: 1_000_000n,
  s: SECOND_NS,
  m: 60n * SECOND_NS,
  h: 3600n * SECOND_NS,
  d: 86_400n * SECOND_NS,
  w: 7n * 86_400n * SECOND_NS,
  y: 365n * 86_400n * SECOND_NS,
}
// Go's time.Duration is an int64 of nanoseconds; Loki refuses anything longer.
const MAX_DURATION_NS = 2n ** 63n - 1n
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|μs|ms|s|m|h|d|w|y))+$/
const DURATION_PART_RE = /(\d+)(?:\.(\d+))?(ns|us|µs|μs|ms|s|m|h|d|w|y)/g

// Units of go-humanize's ParseBytes (case-insensitive): SI powers of 1000, IEC powers of 1024,
// and the one-letter short forms. A suffix that is also a duration (`5m`) is a duration.
const BYTE_UNITS: Record<string, number> = { b: 1 }
for (const [i, p] of ['k', 'm', 'g', 't', 'p', 'e'].entries()) {
  BYTE_UNITS[p] = BYTE_UNITS[`${p}b`] = 1000 ** (i + 1)
  BYTE_UNITS[`${p}i`] = BYTE_UNITS[`${p}ib`] = 1024 ** (i + 1)
}
const BYTES_RE = /^(\d+(?:\.\d+)?)([a-zA-Z]+)$/

const NUMBER_RE = /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y
const UNIT_TAIL_RE = /[0-9A-Za-zµμ.]*/y
const IDENT_RE = /[A-Za-z_][A-Za-z0-9_]*/y
const FLAG_RE = /--[a-z][a-z-]*/y

class Lexer {
  readonly #src: string
  #pos = 0
  #line = 1
  #col = 1

  constructor(src: string) {
    this.#src = src
  }

  next(): Token {
    this.#skipBlanks()
    const at = { line: this.#line, col: this.#col }
    const src = this.#src
    const c = src[this.#pos]
    if (c === undefined) return { type: 'eof', text: '', ...at }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[this.#pos + 1] ?? ''))) return this.#numeric(at)
    if (c === '"' || c === '`') {
      const [value, text] = c === '"' ? this.#quoted(at) : this.#raw(at)
      return { type: 'string', value, text, ...at }
    }
    const ident = this.#sticky(IDENT_RE)
    if (ident) return { type: 'ident', text: this.#take(ident.length), ...at }
    const flag = this.#sticky(FLAG_RE)
    if (flag) return { type: 'flag', text: this.#take(flag.length), ...at }
    const op = OPS.find((o) => src.startsWith(o, this.#pos))
    if (op) return { type: 'op', text: this.#take(op.length), ...at }
    throw new LogQLParseError(`syntax error: unexpected character ${JSON.stringify(String.fromCodePoint(src.codePointAt(this.#pos) ?? 0))}`, at.line, at.col)
  }

  #sticky(re: RegExp): string | undefined {
    re.lastIndex = this.#pos
    return re.exec(this.#src)?.[0]
  }

  // Advances over n code units, keeping line and column (a surrogate pair is one column).
  #take(n: number): string {
    const s = this.#src.slice(this.#pos, this.#pos + n)
    for (let i = 0; i < s.length; i++) {
      const code = s.charCodeAt(i)
      if (code === 10) {
        this.#line++
        this.#col = 1
      } else if (code < 0xdc00 || code > 0xdfff) this.#col++
    }
    this.#pos += n
    return s
  }

  #skipBlanks(): void {
    for (;;) {
      const c = this.#src[this.#pos]
      if (c === undefined) return
      if (/\s/.test(c)) this.#take(1)
      else if (c === '#') {
        const end = this.#src.indexOf('\n', this.#pos)
        this.#take((end < 0 ? this.#src.length : end) - this.#pos)
      } else return
    }
  }

  // A number, or a duration (`5m`, `1h30m`) or bytes (`10KB`) when letters follow without a space.
  #numeric(at: { line: number; col: number }): Token {
    const num = this.#sticky(NUMBER_RE) ?? ''
    const next = this.#src[this.#pos + num.length] ?? ''
    if (!/[A-Za-zµμ]/.test(next)) {
      const value = Number(num)
      if (!Number.isFinite(value)) throw new LogQLParseError(`syntax error: number out of range: ${num}`, at.line, at.col)
      return { type: 'number', value, text: this.#take(num.length), ...at }
    }
    UNIT_TAIL_RE.lastIndex = this.#pos + num.length
    const text = num + (UNIT_TAIL_RE.exec(this.#src)?.[0] ?? '')
    const ns = parseDurationNs(text)
    if (ns !== undefined && ns > MAX_DURATION_NS) throw new LogQLParseError(`syntax error: duration out of range: ${text}`, at.line, at.col)
    if (ns !== undefined) return { type: 'duration', ns, text: this.#take(text.length), ...at }
    const m = BYTES_RE.exec(text)
    const unit = m && BYTE_UNITS[m[2]?.toLowerCase() ?? '']
    if (m && unit) return { type: 'bytes', bytes: Math.trunc(Number(m[1]) * unit), text: this.#take(text.length), ...at }
    throw new LogQLParseError(`syntax error: invalid duration or bytes value ${JSON.stringify(text)}`, at.line, at.col)
  }

  // Backtick strings are raw: no escapes, newlines allowed.
  #raw(at: { line: number; col: number }): [string, string] {
    const end = this.#src.indexOf('`', this.#pos + 1)
    if (end < 0) throw new LogQLParseError('syntax error: unterminated raw string', at.line, at.col)
    const text = this.#take(end + 1 - this.#pos)
    return [text.slice(1, -1), text]
  }

  // Double-quoted strings follow Go's rules: `\xNN` and octal escapes are bytes, decoded as UTF-8.
  #quoted(at: { line: number; col: number }): [string, string] {
    const src = this.#src
    const bytes: number[] = []
    let i = this.#pos + 1
    const fail = (msg: string): never => {
      throw new LogQLParseError(`syntax error: ${msg}`, at.line, at.col)
    }
    const hex = (from: number, len: number): number => {
      const digits = src.slice(from, from + len)
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(digits)) fail('invalid escape sequence in string')
      return parseInt(digits, 16)
    }
    for (;;) {
      const c = src[i]
      if (c === undefined || c === '\n') fail('unterminated string')
      if (c === '"') break
      if (c !== '\\') {
        const cp = src.codePointAt(i) ?? 0
        pushUtf8(bytes, cp)
        i += cp > 0xffff ? 2 : 1
        continue
      }
      const e = src[i + 1] ?? ''
      const simple = SIMPLE_ESCAPES[e]
      if (simple !== undefined) {
        bytes.push(simple)
        i += 2
      } else if (e === 'x') {
        bytes.push(hex(i + 2, 2))
        i += 4
      } else if (e === 'u' || e === 'U') {
        const len = e === 'u' ? 4 : 8
        const cp = hex(i + 2, len)
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) fail('invalid Unicode code point in escape sequence')
        pushUtf8(bytes, cp)
        i += 2 + len
      } else if (/^[0-7]{3}$/.test(src.slice(i + 1, i + 4))) {
        const v = parseInt(src.slice(i + 1, i + 4), 8)
        if (v > 255) fail('octal escape value > 255')
        bytes.push(v)
        i += 4
      } else fail(`unknown escape sequence ${JSON.stringify(`\\${e}`)} in string`)
    }
    const text = this.#take(i + 1 - this.#pos)
    return [new TextDecoder().decode(new Uint8Array(bytes)), text]
  }
}

const SIMPLE_ESCAPES: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34 }

function pushUtf8(out: number[], cp: number): void {
  if (cp < 0x80) out.push(cp)
  else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63))
  else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63))
  else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63))
}

function parseDurationNs(text: string): bigint | undefined {
  if (!DURATION_RE.test(text)) return undefined
  let ns = 0n
  for (const [, int = '0', frac = '', unit = 's'] of text.matchAll(DURATION_PART_RE)) {
    const scale = DURATION_UNITS_NS[unit] ?? 0n
    ns += BigInt(int) * scale + (frac ? (BigInt(frac) * scale) / 10n ** BigInt(frac.length) : 0n)
  }
  return ns
}

// ---- parser ----------------------------------------------------------------------------------

const MAX_DEPTH = 100
const MAX_OPERATORS = 1000

const PRECEDENCE_OF = new Map<string, number>(Object.entries(PRECEDENCE))
const SET_OPS = new Set<string>(['or', 'and', 'unless'])
const COMPARISONS = new Set<string>(['==', '!=', '>', '>=', '<', '<='])
const COMPARE_OPS = new Set<string>(['=', '!=', '=~', '!~', '>', '>=', '<', '<=', '=='])
const MATCH_OPS = new Set<string>(['=', '!=', '=~', '!~'])
const LINE_FILTER_OPS = new Set<string>(['|=', '!=', '|~', '!~', '|>', '!>'])
const STAGE_KEYWORDS = new Set(['json', 'logfmt', 'regexp', 'pattern', 'unpack', 'line_format', 'label_format', 'drop', 'keep', 'decolorize'])
const LOGFMT_FLAGS = new Set(['strict', 'keep-empty'])
const UNWRAP_CONVERSIONS = new Set(['duration', 'duration_seconds', 'bytes'])

// From the metric-queries page: which range aggregations take an unwrapped range, and which of
// those accept `by`/`without` ("except for sum_over_time, absent_over_time, rate and rate_counter").
const UNWRAP_REQUIRED = new Set<RangeOp>([
  ...['sum_over_time', 'avg_over_time', 'min_over_time', 'max_over_time', 'stddev_over_time', 'stdvar_over_time'] as const,
  ...['quantile_over_time', 'first_over_time', 'last_over_time', 'rate_counter'] as const,
])
const UNWRAP_OPTIONAL = new Set<RangeOp>(['rate', 'absent_over_time'])
const GROUPING_ALLOWED = new Set<RangeOp>([...UNWRAP_REQUIRED].filter((op) => op !== 'sum_over_time' && op !== 'rate_counter'))
const RANGE_OP_SET = new Set<string>(RANGE_OPS)
const VECTOR_OP_SET = new Set<string>(VECTOR_OPS)

function describe(t: Token): string {
  const text = t.text.length > 40 ? `${t.text.slice(0, 40)}…` : t.text
  switch (t.type) {
    case 'eof':
      return 'end of input'
    case 'op':
      return JSON.stringify(t.text)
    case 'ident':
      return `IDENTIFIER ${text}`
    default:
      return `${t.type.toUpperCase()} ${text}`
  }
}

/** `[5m]` and its optional `offset 1h`. */
interface Range {
  ns: bigint
  offset?: bigint
}

class Parser {
  readonly #lexer: Lexer
  readonly #ahead: Token[] = []
  #depth = 0
  #operators = 0

  constructor(text: string) {
    this.#lexer = new Lexer(text)
  }

  query(): Expr {
    const expr = this.#binary(1)
    const t = this.#peek()
    if (t.type !== 'eof') this.#fail(t, expr.kind === 'log' ? 'expecting "|", a line filter or end of input' : 'expecting a binary operator or end of input')
    return expr
  }

  // ---- token access

  #peek(k = 0): Token {
    for (;;) {
      const t = this.#ahead[k]
      if (t) return t
      const last = this.#ahead[this.#ahead.length - 1]
      if (last?.type === 'eof') return last
      this.#ahead.push(this.#lexer.next())
    }
  }

  #next(): Token {
    const t = this.#peek()
    if (t.type !== 'eof') this.#ahead.shift()
    return t
  }

  #isOp(text: string, k = 0): boolean {
    const t = this.#peek(k)
    return t.type === 'op' && t.text === text
  }

  #isWord(text: string, k = 0): boolean {
    const t = this.#peek(k)
    return t.type === 'ident' && t.text === text
  }

  #error(t: At, message: string): never {
    throw new LogQLParseError(message, t.line, t.col)
  }

  #fail(t: Token, expecting: string): never {
    this.#error(t, `syntax error: unexpected ${describe(t)}, ${expecting}`)
  }

  /** Consumes the operator if it is next. */
  #accept(text: string): boolean {
    if (!this.#isOp(text)) return false
    this.#next()
    return true
  }

  #expectOp(text: string): Token {
    const t = this.#peek()
    if (t.type !== 'op' || t.text !== text) this.#fail(t, `expecting ${JSON.stringify(text)}`)
    return this.#next()
  }

  #expectIdent(what = 'IDENTIFIER'): string {
    const t = this.#peek()
    if (t.type !== 'ident') this.#fail(t, `expecting ${what}`)
    return this.#next().text
  }

  #expectString(): string {
    const t = this.#next()
    if (t.type !== 'string') this.#fail(t, 'expecting STRING')
    return t.value
  }

  /** A string that is a regular expression: one Go's regexp refuses is an error at it, in Go's words, as Loki's. */
  #expectRegex(): string {
    const t = this.#peek()
    const value = this.#expectString()
    const err = re2Error(value)
    if (err !== undefined) this.#error(t, err)
    return value
  }

  #expectDuration(): bigint {
    const t = this.#next()
    if (t.type !== 'duration') this.#fail(t, 'expecting a duration such as 5m')
    return t.ns
  }

  // A number with an optional sign (`-1`, `+2.5e3`), or undefined without consuming anything.
  #signedNumber(): number | undefined {
    const sign = this.#isOp('-') ? -1 : this.#isOp('+') ? 1 : 0
    const t = this.#peek(sign ? 1 : 0)
    if (t.type !== 'number') return undefined
    if (sign) this.#next()
    this.#next()
    return sign < 0 ? -t.value : t.value
  }

  #expectNumber(): number {
    const n = this.#signedNumber()
    if (n === undefined) this.#fail(this.#peek(), 'expecting NUMBER')
    return n
  }

  #enter(t: Token): void {
    if (++this.#depth > MAX_DEPTH) this.#error(t, `syntax error: query nested deeper than ${MAX_DEPTH} levels`)
  }

  #countOperator(t: Token): void {
    if (++this.#operators > MAX_OPERATORS) this.#error(t, `syntax error: query has more than ${MAX_OPERATORS} operators`)
  }

  #labelList(): string[] {
    this.#expectOp('(')
    const labels: string[] = []
    if (!this.#isOp(')')) {
      do labels.push(this.#expectIdent('a label name'))
      while (this.#accept(','))
    }
    this.#expectOp(')')
    return labels
  }

  #grouping(): Grouping | undefined {
    const t = this.#peek()
    if (t.type !== 'ident' || (t.text !== 'by' && t.text !== 'without')) return undefined
    this.#next()
    return { mode: t.text, labels: this.#labelList() }
  }

  // ---- metric expressions: precedence climbing, `^` right-associative

  #binary(minPrec: number): Expr {
    this.#enter(this.#peek())
    let left = this.#unary()
    for (;;) {
      const opTok = this.#peek()
      const prec = opTok.type === 'op' || (opTok.type === 'ident' && SET_OPS.has(opTok.text)) ? PRECEDENCE_OF.get(opTok.text) : undefined
      if (prec === undefined || prec < minPrec) break
      const op = opTok.text as BinaryOpName
      if (left.kind === 'log') this.#fail(opTok, 'log queries cannot be used in binary operations; wrap them in a range aggregation')
      this.#next()
      this.#countOperator(opTok)
      const bool = this.#boolModifier(op)
      const matching = this.#vectorMatching()
      const rightTok = this.#peek()
      const right = this.#binary(op === '^' ? prec : prec + 1)
      if (right.kind === 'log') this.#error(rightTok, 'syntax error: log queries cannot be used in binary operations; wrap them in a range aggregation')
      left = { kind: 'binary', op, bool, left, right, ...(matching && { matching }) }
    }
    this.#depth--
    return left
  }

  #boolModifier(op: BinaryOpName): boolean {
    if (!this.#isWord('bool')) return false
    if (!COMPARISONS.has(op)) this.#fail(this.#peek(), 'bool is only allowed after comparison operators')
    this.#next()
    return true
  }

  // `on (…)` / `ignoring (…)`, then optionally `group_left [(…)]` / `group_right [(…)]`.
  #vectorMatching(): BinaryOperation['matching'] {
    const mode = this.#peek()
    if (mode.type !== 'ident' || (mode.text !== 'on' && mode.text !== 'ignoring')) return undefined
    this.#next()
    const matching: NonNullable<BinaryOperation['matching']> = { mode: mode.text, labels: this.#labelList() }
    const group = this.#peek()
    if (group.type === 'ident' && (group.text === 'group_left' || group.text === 'group_right')) {
      this.#next()
      matching.group = group.text === 'group_left' ? 'left' : 'right'
      if (this.#isOp('(')) matching.include = this.#labelList()
    }
    return matching
  }

  #unary(): Expr {
    const n = this.#signedNumber()
    return n === undefined ? this.#primary() : { kind: 'number', value: n }
  }

  #primary(): Expr {
    const t = this.#peek()
    if (t.type === 'op' && t.text === '{') return this.#logQuery()
    if (t.type === 'op' && t.text === '(') {
      this.#next()
      const inner = this.#binary(1)
      this.#expectOp(')')
      return inner
    }
    if (t.type === 'ident') {
      const call = this.#isOp('(', 1)
      if (call && RANGE_OP_SET.has(t.text)) return this.#rangeAggregation()
      if (VECTOR_OP_SET.has(t.text) && (call || this.#isWord('by', 1) || this.#isWord('without', 1))) return this.#vectorAggregation()
      if (call && t.text === 'vector') {
        this.#next()
        this.#next()
        const value = this.#expectNumber()
        this.#expectOp(')')
        return { kind: 'vector_literal', value }
      }
      if (call && t.text === 'label_replace') return this.#labelReplace()
    }
    this.#fail(t, 'expecting a stream selector, a number, "(" or a function such as rate or sum')
  }

  #metric(start: Token, expr: Expr): MetricExpr {
    if (expr.kind === 'log') this.#error(start, 'syntax error: log queries cannot be aggregated; wrap them in a range aggregation such as count_over_time')
    return expr
  }

  #vectorAggregation(): VectorAggregation {
    const op = this.#next().text as VectorOp
    let groupedAt = this.#peek()
    let grouping = this.#grouping()
    this.#expectOp('(')
    let param: number | undefined
    if (op === 'topk' || op === 'bottomk' || op === 'approx_topk') {
      const at = this.#peek()
      param = this.#expectNumber()
      if (!Number.isInteger(param)) this.#error(at, `syntax error: the parameter of ${op} must be an integer`)
      this.#expectOp(',')
    }
    const start = this.#peek()
    const inner = this.#metric(start, this.#binary(1))
    this.#expectOp(')')
    if (!grouping) groupedAt = this.#peek()
    grouping ??= this.#grouping()
    // As Loki: an inner `sum by` groups instead.
    if (op === 'approx_topk' && grouping) this.#error(groupedAt, 'grouping not allowed for approx_topk aggregation')
    const node: VectorAggregation = { kind: 'vector', op, inner }
    if (param !== undefined) node.param = param
    if (grouping) node.grouping = grouping
    return node
  }

  #labelReplace(): MetricExpr {
    this.#next()
    this.#expectOp('(')
    const start = this.#peek()
    const inner = this.#metric(start, this.#binary(1))
    const arg = () => {
      this.#expectOp(',')
      return this.#expectString()
    }
    const dst = arg()
    const replacement = arg()
    const src = arg()
    this.#expectOp(',')
    const regex = this.#expectRegex()
    this.#expectOp(')')
    return { kind: 'label_replace', inner, dst, replacement, src, regex }
  }

  // `op([φ,] <log range>) [by|without (…)]`; the range may follow the selector, the pipeline, or
  // a parenthesised log query: `rate({a="b"}[5m] | json)`, `rate({a="b"} | json [5m])`, `rate(({…} | json)[5m])`.
  #rangeAggregation(): RangeAggregation {
    const opTok = this.#next()
    const op = opTok.text as RangeOp
    this.#expectOp('(')
    let param: number | undefined
    if (op === 'quantile_over_time') {
      param = this.#expectNumber()
      this.#expectOp(',')
    }
    const { log, unwrap, range } = this.#logRange()
    this.#expectOp(')')
    const grouping = this.#grouping()

    if (unwrap && !UNWRAP_REQUIRED.has(op) && !UNWRAP_OPTIONAL.has(op)) this.#error(opTok, `syntax error: invalid aggregation ${op} with unwrap`)
    if (!unwrap && UNWRAP_REQUIRED.has(op)) this.#error(opTok, `syntax error: invalid aggregation ${op} without unwrap`)
    if (grouping && !GROUPING_ALLOWED.has(op)) this.#error(opTok, `syntax error: grouping not allowed for ${op} aggregation`)

    const node: RangeAggregation = { kind: 'range', op, log, rangeNs: range.ns }
    if (unwrap) node.unwrap = unwrap
    if (range.offset !== undefined) node.offsetNs = range.offset
    if (param !== undefined) node.param = param
    if (grouping) node.grouping = grouping
    return node
  }

  #logRange(): { log: LogExpr; unwrap?: Unwrap; range: Range } {
    if (this.#isOp('(')) {
      this.#enter(this.#next())
      const inner = this.#logWithPipeline(true)
      this.#expectOp(')')
      this.#depth--
      return { ...inner, range: this.#range() }
    }
    const matchers = this.#selector()
    const early = this.#isOp('[') ? this.#range() : undefined
    const { stages, unwrap } = this.#pipeline(true)
    return { log: { kind: 'log', matchers, pipeline: stages }, ...(unwrap && { unwrap }), range: early ?? this.#range() }
  }

  #range(): Range {
    this.#expectOp('[')
    const ns = this.#expectDuration()
    this.#expectOp(']')
    if (!this.#isWord('offset')) return { ns }
    this.#next()
    return { ns, offset: this.#expectDuration() }
  }

  // ---- log queries

  #logQuery(): LogExpr {
    return this.#logWithPipeline(false).log
  }

  #logWithPipeline(allowUnwrap: boolean): { log: LogExpr; unwrap?: Unwrap } {
    const matchers = this.#selector()
    const { stages, unwrap } = this.#pipeline(allowUnwrap)
    return { log: { kind: 'log', matchers, pipeline: stages }, ...(unwrap && { unwrap }) }
  }

  #selector(): Matcher[] {
    const open = this.#expectOp('{')
    const matchers: Matcher[] = []
    if (!this.#isOp('}')) {
      do matchers.push(this.#matcher())
      while (this.#accept(','))
    }
    this.#expectOp('}')
    if (!matchers.some((m) => !matchesEmpty(m))) {
      this.#error(
        open,
        'queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will',
      )
    }
    return matchers
  }

  #matcher(): Matcher {
    const name = this.#expectIdent('a label name')
    const t = this.#next()
    if (t.type !== 'op' || !MATCH_OPS.has(t.text)) this.#fail(t, 'expecting one of "=", "!=", "=~", "!~"')
    return { name, op: t.text as MatchOp, value: t.text === '=~' || t.text === '!~' ? this.#expectRegex() : this.#expectString() }
  }

  #pipeline(allowUnwrap: boolean): { stages: Stage[]; unwrap?: Unwrap } {
    const stages: Stage[] = []
    let unwrap: Unwrap | undefined
    for (;;) {
      const t = this.#peek()
      if (t.type !== 'op') break
      if (LINE_FILTER_OPS.has(t.text)) {
        if (unwrap) this.#fail(t, 'only label filters are allowed after unwrap')
        stages.push(this.#lineFilter())
      } else if (t.text === '|') {
        this.#next()
        const s = this.#peek()
        if (unwrap) {
          if (!this.#startsLabelFilter()) this.#fail(s, 'only label filters are allowed after unwrap')
          unwrap.post.push(this.#labelFilterStage())
        } else if (s.type === 'ident' && s.text === 'unwrap') {
          if (!allowUnwrap) this.#error(s, 'syntax error: unwrap is only allowed inside a range aggregation such as sum_over_time')
          unwrap = this.#unwrap()
        } else stages.push(this.#stage())
      } else break
    }
    return unwrap ? { stages, unwrap } : { stages }
  }

  #lineFilter(): LineFilterStage {
    const opTok = this.#next()
    const op = opTok.text as LineFilterOp
    const regex = op === '|~' || op === '!~'
    const first = this.#lineFilterValue(regex)
    const values = [first.value]
    while (this.#isWord('or')) {
      this.#next()
      const at = this.#peek()
      const alt = this.#lineFilterValue(regex)
      if (alt.ip !== first.ip) this.#error(at, 'syntax error: cannot mix ip() and strings in one line filter')
      values.push(alt.value)
    }
    if (first.ip && op !== '|=' && op !== '!=') this.#error(opTok, `syntax error: ip() line filters only support "|=" and "!=", not ${JSON.stringify(op)}`)
    return first.ip ? { kind: 'line_filter', op, values, ip: true } : { kind: 'line_filter', op, values }
  }

  #lineFilterValue(regex: boolean): { value: string; ip: boolean } {
    if (this.#isWord('ip') && this.#isOp('(', 1)) return { value: this.#ipCall(), ip: true }
    return { value: regex ? this.#expectRegex() : this.#expectString(), ip: false }
  }

  #ipCall(): string {
    this.#next()
    this.#expectOp('(')
    const value = this.#expectString()
    this.#expectOp(')')
    return value
  }

  #unwrap(): Unwrap {
    this.#next()
    const t = this.#peek()
    if (t.type === 'ident' && UNWRAP_CONVERSIONS.has(t.text) && this.#isOp('(', 1)) {
      this.#next()
      this.#next()
      const label = this.#expectIdent('a label name')
      this.#expectOp(')')
      return { label, conversion: t.text as 'duration' | 'duration_seconds' | 'bytes', post: [] }
    }
    return { label: this.#expectIdent('a label name'), post: [] }
  }

  // One stage after `|`. Stage names are keywords here, as in Loki: `| json` never filters a label named json.
  #stage(): Stage {
    const t = this.#peek()
    if (t.type === 'ident' && STAGE_KEYWORDS.has(t.text)) {
      this.#next()
      switch (t.text) {
        case 'json':
          return this.#parserStage('json', [])
        case 'logfmt': {
          const flags: string[] = []
          for (let f = this.#peek(); f.type === 'flag'; f = this.#peek()) {
            const name = f.text.slice(2)
            if (!LOGFMT_FLAGS.has(name)) this.#fail(f, 'expecting --strict or --keep-empty')
            flags.push(name)
            this.#next()
          }
          return this.#parserStage('logfmt', flags)
        }
        case 'regexp':
          return { kind: 'parser', parser: t.text, param: this.#expectRegex() }
        case 'pattern':
          return { kind: 'parser', parser: t.text, param: this.#expectString() }
        case 'unpack':
          return { kind: 'parser', parser: 'unpack' }
        case 'line_format':
          return { kind: 'line_format', template: this.#expectString() }
        case 'label_format':
          return this.#labelFormat()
        case 'drop':
        case 'keep':
          return this.#dropKeep(t.text)
        case 'decolorize':
          return { kind: 'decolorize' }
      }
    }
    // Anything else that starts like a label filter is one, so its errors point past the label name.
    if (t.type === 'ident' || (t.type === 'op' && t.text === '(')) return this.#labelFilterStage()
    this.#fail(t, 'expecting a parser, a label filter, line_format, label_format, drop, keep or decolorize')
  }

  #parserStage(parser: 'json' | 'logfmt', flags: string[]): ParserStage {
    const node: ParserStage = { kind: 'parser', parser }
    if (flags.length) node.flags = flags
    if (this.#peek().type !== 'ident') return node
    const extract: { label: string; expr: string }[] = []
    do {
      const label = this.#expectIdent('a label name')
      extract.push({ label, expr: this.#accept('=') ? this.#expectString() : label })
    } while (this.#accept(','))
    node.extract = extract
    return node
  }

  #labelFormat(): LabelFormatStage {
    const ops: LabelFormatStage['ops'] = []
    const seen = new Set<string>()
    do {
      const at = this.#peek()
      const label = this.#expectIdent('a label name')
      if (seen.has(label)) this.#error(at, `syntax error: multiple label name '${label}' not allowed in a single format operation`)
      seen.add(label)
      this.#expectOp('=')
      const v = this.#next()
      if (v.type === 'ident') ops.push({ label, source: v.text })
      else if (v.type === 'string') ops.push({ label, template: v.value })
      else this.#fail(v, 'expecting IDENTIFIER or STRING')
    } while (this.#accept(','))
    return { kind: 'label_format', ops }
  }

  #dropKeep(kind: 'drop' | 'keep'): DropKeepStage {
    const labels: DropKeepStage['labels'] = []
    do {
      const next = this.#peek(1)
      labels.push(next.type === 'op' && MATCH_OPS.has(next.text) ? this.#matcher() : { name: this.#expectIdent('a label name') })
    } while (this.#accept(','))
    return { kind, labels }
  }

  // ---- label filters: `or` below `and`; `,` and plain juxtaposition mean `and`

  #startsLabelFilter(): boolean {
    const t = this.#peek()
    if (t.type === 'op') return t.text === '('
    const op = this.#peek(1)
    return t.type === 'ident' && op.type === 'op' && COMPARE_OPS.has(op.text)
  }

  #labelFilterStage(): LabelFilterStage {
    return { kind: 'label_filter', expr: this.#labelOr() }
  }

  #labelOr(): LabelFilterExpr {
    let left = this.#labelAnd()
    while (this.#isWord('or')) {
      this.#countOperator(this.#next())
      left = { kind: 'or', left, right: this.#labelAnd() }
    }
    return left
  }

  #labelAnd(): LabelFilterExpr {
    let left = this.#labelPrimary()
    for (;;) {
      if (this.#isWord('and')) this.#next()
      else if (!this.#accept(',') && !this.#startsLabelFilter()) return left
      this.#countOperator(this.#peek())
      left = { kind: 'and', left, right: this.#labelPrimary() }
    }
  }

  #labelPrimary(): LabelFilterExpr {
    const t = this.#peek()
    if (t.type === 'op' && t.text === '(') {
      this.#enter(this.#next())
      const inner = this.#labelOr()
      this.#expectOp(')')
      this.#depth--
      return inner
    }
    const label = this.#expectIdent('a label name or "("')
    const opTok = this.#next()
    if (opTok.type !== 'op' || !COMPARE_OPS.has(opTok.text)) this.#fail(opTok, 'expecting a comparison operator')
    const op = opTok.text as CompareOp
    const v = this.#peek()
    if (v.type === 'ident' && v.text === 'ip' && this.#isOp('(', 1)) {
      if (op !== '=' && op !== '!=') this.#error(opTok, `syntax error: ip() label filters only support "=" and "!=", not ${JSON.stringify(op)}`)
      return { kind: 'ip', label, op, value: this.#ipCall() }
    }
    if (v.type === 'string') {
      if (!MATCH_OPS.has(op)) this.#fail(v, `expecting a number, duration or bytes value after ${JSON.stringify(op)}`)
      if (op === '=~' || op === '!~') this.#expectRegex()
      else this.#next()
      return { kind: 'compare', label, op, value: { type: 'string', value: v.value } }
    }
    if (op === '=~' || op === '!~') this.#fail(v, 'expecting STRING')
    return { kind: 'compare', label, op, value: this.#labelValue() }
  }

  #labelValue(): LabelValue {
    const n = this.#signedNumber()
    if (n !== undefined) return { type: 'number', value: n }
    const t = this.#next()
    if (t.type === 'duration') return { type: 'duration', ns: t.ns, text: t.text }
    if (t.type === 'bytes') return { type: 'bytes', bytes: t.bytes, text: t.text }
    this.#fail(t, 'expecting STRING, NUMBER, DURATION or BYTES')
  }
}

// ---- the empty-matcher rule ------------------------------------------------------------------

// Loki refuses selectors that would match every stream: at least one matcher must reject the
// empty value, read as Go reads the regex (the parser has refused one Go cannot compile).
export function matchesEmpty(m: Matcher): boolean {
  switch (m.op) {
    case '=':
      return m.value === ''
    case '!=':
      return m.value !== ''
    case '=~':
      return regexMatchesEmpty(m.value) ?? false
    case '!~': {
      const r = regexMatchesEmpty(m.value)
      return r === undefined ? false : !r
    }
  }
}

function regexMatchesEmpty(re: string): boolean | undefined {
  return re2Error(re) === undefined ? re2(re).matches('') : undefined
}
