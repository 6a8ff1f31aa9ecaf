// The canonical single-line text of a LogQL syntax tree, served by `/loki/api/v1/format_query`
// and used in error messages. Contract: parseLogQL(formatLogQL(e)) deep-equals e for every tree
// the parser produces, so the tree has no parenthesis node: parentheses are printed exactly where
// precedence needs them. Strings are always double-quoted with Go escapes (backtick input is
// re-quoted); durations are printed in their largest units (`[90m]` → `[1h30m]`), while duration
// and bytes values of label filters keep the text they were written with.
import { PRECEDENCE } from './ast.js'
import type { Expr, Grouping, LabelFilterExpr, LabelValue, LogExpr, Matcher, MetricExpr, Stage, Unwrap } from './ast.js'

export function formatLogQL(expr: Expr): string {
  return formatExpr(expr)
}

function formatExpr(e: Expr): string {
  switch (e.kind) {
    case 'log':
      return formatLog(e)
    case 'number':
      return formatNumber(e.value)
    case 'vector_literal':
      return `vector(${formatNumber(e.value)})`
    case 'label_replace':
      return `label_replace(${[formatExpr(e.inner), ...[e.dst, e.replacement, e.src, e.regex].map(goQuote)].join(', ')})`
    case 'range': {
      const param = e.param === undefined ? '' : `${formatNumber(e.param)}, `
      const body = formatLog(e.log) + (e.unwrap ? formatUnwrap(e.unwrap) : '')
      const gap = e.log.pipeline.length || e.unwrap ? ' ' : ''
      const offset = e.offsetNs === undefined ? '' : ` offset ${formatDuration(e.offsetNs)}`
      const grouping = e.grouping ? ` ${formatGrouping(e.grouping)}` : ''
      return `${e.op}(${param}${body}${gap}[${formatDuration(e.rangeNs)}]${offset})${grouping}`
    }
    case 'vector': {
      const param = e.param === undefined ? '' : `${formatNumber(e.param)}, `
      const head = e.grouping ? `${e.op} ${formatGrouping(e.grouping)} ` : e.op
      return `${head}(${param}${formatExpr(e.inner)})`
    }
    case 'binary': {
      const prec = PRECEDENCE[e.op]
      const rightAssoc = e.op === '^'
      const left = operand(e.left, rightAssoc ? prec + 1 : prec)
      const right = operand(e.right, rightAssoc ? prec : prec + 1)
      let op = e.op as string
      if (e.bool) op += ' bool'
      if (e.matching) {
        const m = e.matching
        op += ` ${m.mode} (${m.labels.join(', ')})`
        if (m.group) op += ` group_${m.group}` + (m.include ? ` (${m.include.join(', ')})` : '')
      }
      return `${left} ${op} ${right}`
    }
  }
}

// An operand needs parentheses when its operator binds less tightly than `minPrec` allows.
function operand(e: MetricExpr, minPrec: number): string {
  const text = formatExpr(e)
  return e.kind === 'binary' && PRECEDENCE[e.op] < minPrec ? `(${text})` : text
}

function formatGrouping(g: Grouping): string {
  return `${g.mode} (${g.labels.join(', ')})`
}

// ---- log queries

function formatLog(e: LogExpr): string {
  const selector = `{${e.matchers.map(formatMatcher).join(', ')}}`
  return [selector, ...e.pipeline.map(formatStage)].join(' ')
}

function formatMatcher(m: Matcher): string {
  return `${m.name}${m.op}${goQuote(m.value)}`
}

function formatStage(s: Stage): string {
  switch (s.kind) {
    case 'line_filter': {
      const value = s.ip ? (v: string) => `ip(${goQuote(v)})` : goQuote
      return `${s.op} ${s.values.map(value).join(' or ')}`
    }
    case 'parser': {
      const parts = [`| ${s.parser}`]
      for (const flag of s.flags ?? []) parts.push(`--${flag}`)
      if (s.param !== undefined) parts.push(goQuote(s.param))
      if (s.extract?.length) parts.push(s.extract.map((x) => (x.expr === x.label ? x.label : `${x.label}=${goQuote(x.expr)}`)).join(', '))
      return parts.join(' ')
    }
    case 'label_filter':
      return `| ${formatLabelFilter(s.expr)}`
    case 'line_format':
      return `| line_format ${goQuote(s.template)}`
    case 'label_format':
      return `| label_format ${s.ops.map((o) => `${o.label}=${'source' in o ? o.source : goQuote(o.template)}`).join(', ')}`
    case 'drop':
    case 'keep':
      return `| ${s.kind} ${s.labels.map((l) => ('op' in l ? formatMatcher(l) : l.name)).join(', ')}`
    case 'decolorize':
      return '| decolorize'
  }
}

function formatUnwrap(u: Unwrap): string {
  const label = u.conversion ? `${u.conversion}(${u.label})` : u.label
  return [` | unwrap ${label}`, ...u.post.map((s) => `| ${formatLabelFilter(s.expr)}`)].join(' ')
}

// `and` binds tighter than `or` and both associate to the left, so only a right operand of the
// same operator, or an `or` under an `and`, needs parentheses to keep the tree's shape.
function formatLabelFilter(e: LabelFilterExpr): string {
  switch (e.kind) {
    case 'compare':
      return e.value.type === 'string' ? `${e.label}${e.op}${goQuote(e.value.value)}` : `${e.label} ${e.op} ${formatLabelValue(e.value)}`
    case 'ip':
      return `${e.label} ${e.op} ip(${goQuote(e.value)})`
    case 'and':
    case 'or': {
      const wrap = (x: LabelFilterExpr, when: (k: LabelFilterExpr['kind']) => boolean) => (when(x.kind) ? `(${formatLabelFilter(x)})` : formatLabelFilter(x))
      const left = wrap(e.left, (k) => e.kind === 'and' && k === 'or')
      const right = wrap(e.right, (k) => k === e.kind || (e.kind === 'and' && k === 'or'))
      return `${left} ${e.kind} ${right}`
    }
  }
}

function formatLabelValue(v: Exclude<LabelValue, { type: 'string' }>): string {
  switch (v.type) {
    case 'number':
      return formatNumber(v.value)
    case 'duration':
    case 'bytes':
      return v.text
  }
}

// ---- literals

// String(-0) is "0", which would not read back as -0.
function formatNumber(n: number): string {
  return Object.is(n, -0) ? '-0' : String(n)
}

const DURATION_UNITS: [string, bigint][] = [
  ['y', 365n * 86_400n * 1_000_000_000n],
  ['w', 7n * 86_400n * 1_000_000_000n],
  ['d', 86_400n * 1_000_000_000n],
  ['h', 3600n * 1_000_000_000n],
  ['m', 60n * 1_000_000_000n],
  ['s', 1_000_000_000n],
  ['ms', 1_000_000n],
  ['us', 1000n],
  ['ns', 1n],
]

function formatDuration(ns: bigint): string {
  if (ns === 0n) return '0s'
  let rest = ns < 0n ? -ns : ns
  let out = ns < 0n ? '-' : ''
  for (const [unit, size] of DURATION_UNITS) {
    if (rest < size) continue
    out += `${rest / size}${unit}`
    rest %= size
  }
  return out
}

const ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' }

/** What Go's strconv.IsPrint refuses beyond ASCII: separators (spaces but the ASCII one) and other characters (controls, format, unassigned, surrogates, private use). */
const UNPRINTABLE = /[\p{Z}\p{C}]/u

/** Go's strconv.Quote (printable non-ASCII characters stay as they are; the rest as \u or \U escapes). */
export function goQuote(s: string): string {
  let out = '"'
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0
    const escape = ESCAPES[ch]
    if (escape) out += escape
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`
    else if (cp > 0x7f && UNPRINTABLE.test(ch)) out += cp > 0xffff ? `\\U${cp.toString(16).padStart(8, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`
    else out += ch
  }
  return `${out}"`
}
