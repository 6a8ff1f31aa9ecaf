// The SQL vocabulary of the Loki API: bound parameters, the Loki labels over Sluice's columns,
// and the expressions LogQL values become (Go durations, humanized sizes, json and logfmt fields,
// regexp and pattern captures). Every value from a query reaches ClickHouse as a bound parameter
// ({pN:Type}); only names chosen here (columns, functions) are spliced in.
//
// The Loki data model over Sluice's columns:
//   stream labels        service_name (ServiceName), level (lower-case SeverityText), host
//                        (HostName), and every resource attribute but service.name, under Loki's
//                        sanitised name (characters outside [a-zA-Z0-9_] become `_`)
//   structured metadata  detected_level, category, pattern_id, trace_id, span_id, user_id,
//                        session_id, error_code, and every log attribute (sanitised names)
//   line                 Body
// Both kinds of label may be used in selectors and label filters. An attribute label is looked
// up under its own name and with every `_` read as `.` (k8s_namespace_name → k8s.namespace.name).
import { isIPv4, isIPv6 } from 'node:net'
import { SluiceError } from '@sluice/core'
import type { LabelValue, Matcher } from '../logql/ast.js'

/** A request Sluice refuses: LogQL it does not implement, or a limit exceeded (HTTP 400, plain text). */
export function unsupported(what: string): SluiceError {
  return new SluiceError('VALIDATION_FAILED', `unsupported LogQL: ${what}`)
}

/** Bound parameters of one SQL statement. */
export class Params {
  readonly values: Record<string, unknown> = {}
  #n = 0
  bind(value: unknown, type = 'String'): string {
    const name = `p${this.#n++}`
    // A whole number beyond 2^53 (`| status > 1e29`) as its text: the embedded client refuses to
    // send it as a number, which could not hold its digits; ClickHouse reads the text as the type.
    this.values[name] = typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value) ? String(value) : value
    return `{${name}:${type}}`
  }
}

export interface Builtin {
  /** For comparisons (keeps ClickHouse's key and index analysis). */
  column: string
  /** As a String, for maps. */
  str: string
  /** The stored column an answered line reads it from (computed after the LIMIT, not before). */
  stored: string
  /** The label is the stored value in lower case (ASCII, as ClickHouse's `lower`). */
  lower?: true
}

export const STREAM: Record<string, Builtin> = {
  service_name: { column: 'ServiceName', str: 'toString(ServiceName)', stored: 'ServiceName' },
  level: { column: 'lower(SeverityText)', str: 'lower(SeverityText)', stored: 'SeverityText', lower: true },
  host: { column: 'HostName', str: 'toString(HostName)', stored: 'HostName' },
}
export const META: Record<string, Builtin> = {
  detected_level: { column: 'lower(SeverityText)', str: 'lower(SeverityText)', stored: 'SeverityText', lower: true },
  category: { column: 'Category', str: 'toString(Category)', stored: 'Category' },
  pattern_id: { column: 'PatternId', str: 'toString(PatternId)', stored: 'PatternId' },
  trace_id: { column: 'TraceId', str: 'TraceId', stored: 'TraceId' },
  span_id: { column: 'SpanId', str: 'SpanId', stored: 'SpanId' },
  user_id: { column: 'UserId', str: 'UserId', stored: 'UserId' },
  session_id: { column: 'SessionId', str: 'SessionId', stored: 'SessionId' },
  error_code: { column: 'ErrorCode', str: 'toString(ErrorCode)', stored: 'ErrorCode' },
}
export const STREAM_LABELS = Object.keys(STREAM)
export const META_LABELS = Object.keys(META)
export const builtin = (name: string): Builtin | undefined => (Object.hasOwn(STREAM, name) ? STREAM[name] : Object.hasOwn(META, name) ? META[name] : undefined)

const SANITISE = `replaceRegexpAll(k, '[^a-zA-Z0-9_]', '_')`
const sanitised = (map: string, without?: string) =>
  `CAST(mapApply((k, v) -> (${SANITISE}, v), ${without ? `mapFilter((k, v) -> k != '${without}', ${map})` : map}), 'Map(String, String)')`
export const nonEmpty = (map: string) => `mapFilter((k, v) -> v != '', ${map})`
const builtinMap = (set: Record<string, Builtin>) => `map(${Object.entries(set).flatMap(([k, b]) => [`'${k}'`, b.str]).join(', ')})`

/** The stream labels of a row, as Map(String, String). */
export const STREAM_MAP = nonEmpty(`mapUpdate(${sanitised('ResourceAttributes', 'service.name')}, ${builtinMap(STREAM)})`)
/** The structured metadata of a row. */
export const META_MAP = nonEmpty(`mapUpdate(${sanitised('LogAttributes')}, ${builtinMap(META)})`)

/**
 * Go durations (`1h2m3.5s`, `250ms`, `-1.5µs`, `0`, `.5s`): what Go's time.ParseDuration reads,
 * as Loki's label filters do, but for a point with no digit after it (`5.s`) or a leading point
 * after the first unit (`1h.5m`), which are taken for other text (LabelFilterErr).
 */
export const GO_DURATION_RE = /^[-+]?(0|([0-9]+(\.[0-9]+)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)([0-9]+(\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))*)$/
/** The same pattern as a ClickHouse string literal (RE2 reads the syntax alike). */
const GO_DURATION = `'${GO_DURATION_RE.source.replaceAll('\\', '\\\\')}'`

/**
 * Go durations: whether `v` is one, and its nanoseconds (0 when it is not), an Int128. ClickHouse's
 * parseTimeDelta reads the units but no sign, no lone `0` and no leading point, and throws on
 * anything else, so it is handed `v` unsigned, between a `0` and a `0s`, when the pattern passed,
 * '0s' otherwise: safe on every row, whatever the statement's short-circuit evaluation.
 * It sums float64 products (43ms is 43 · 0.001 = 0.043000000000000003 s), which Go does not: Go
 * sums integer nanoseconds. Rounded to the nanosecond, the float gives Go's count while its error
 * is under half of one: for any value up to ~6 days, for whole seconds beyond (a digit below the
 * nanosecond is rounded, where Go drops it).
 * (No rewrite adds a branch: a pattern for the other Go forms with a rewrite behind it cost ~6 %
 * on a `| json | duration > 1s` query over an hour, though no row took it.)
 */
export function duration(v: string, ok: string = `match(${v}, ${GO_DURATION})`): { ok: string; ns: string } {
  return { ok, ns: `toInt128(${durationNs(v, ok)})` }
}

/**
 * duration()'s nanoseconds as a Float64 holding a whole number, for a comparison with an Int64
 * (ClickHouse compares a float and an integer exactly): two functions fewer to analyse.
 */
function durationNs(v: string, ok: string): string {
  // A leading 0 changes no number (`01h30m`, `00.5s`) and gives a leading point its digit; a
  // trailing `0s` adds nothing and gives a lone `0` its unit (`000s`) without a test of its own.
  const parseable = `concat('0', trimLeft(${v}, '+-'), '0s')`
  return `round(parseTimeDelta(if(${ok}, ${parseable}, '0s')) * if(startsWith(${v}, '-'), -1e9, 1e9))`
}

/** time.Duration.Seconds() of a count of nanoseconds, as Go works it: whole seconds + the rest / 1e9. */
export const goSeconds = (ns: string) => `arrayMap(n -> toFloat64(intDiv(n, 1000000000)) + toFloat64(n % 1000000000) / 1e9, [${ns}])[1]`

/** Go durations as seconds; NULL when `v` is not one. */
export function durationSeconds(v: string): string {
  const d = duration(v)
  return `if(${d.ok}, ${goSeconds(d.ns)}, NULL)`
}

// go-humanize's size names (lower case; "" is plain bytes) and their bytes.
export const SIZE_NAME_LIST = ['b', 'kib', 'kb', 'mib', 'mb', 'gib', 'gb', 'tib', 'tb', 'pib', 'pb', 'eib', 'eb', '', 'ki', 'k', 'mi', 'm', 'gi', 'g', 'ti', 't', 'pi', 'p', 'ei', 'e'] as const
export const SIZE_NAMES = `[${SIZE_NAME_LIST.map((n) => `'${n}'`).join(', ')}]`
const SIZE_BYTES = '[1., 0x1p10, 1e3, 0x1p20, 1e6, 0x1p30, 1e9, 0x1p40, 1e12, 0x1p50, 1e15, 0x1p60, 1e18, 1., 0x1p10, 1e3, 0x1p20, 1e6, 0x1p30, 1e9, 0x1p40, 1e12, 0x1p50, 1e15, 0x1p60, 1e18]'
// Go's unicode.IsSpace, which strings.TrimSpace trims.
export const GO_SPACE_CLASS = '[\\t\\n\\v\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}]'
/** GO_SPACE_CLASS as it is written inside a SQL string literal. */
export const GO_SPACE = GO_SPACE_CLASS.replaceAll('\\', '\\\\')

/**
 * go-humanize's ParseBytes, which Loki's bytes filters, `unwrap bytes()` and template `bytes` use:
 * the leading digits, points and commas (commas dropped) read by strconv.ParseFloat, times the
 * size the rest names once trimmed (Unicode spaces) and lower-cased, truncated to a whole number
 * of bytes (a Float64); NULL where it reads none (no number, an unknown size name, 2^64 or more).
 * Lambdas hold each part once: ClickHouse plans every copy of an expression written out twice
 * (this way ~1.5 ms more to plan than a plain toFloat64, against ~4 ms with the parts repeated).
 */
export function bytesValue(v: string): string {
  const prefix = "extract(_b_s, '^[0-9.,]*')"
  const size = `transform(lowerUTF8(replaceRegexpAll(substring(_b_s, length(${prefix}) + 1), '^${GO_SPACE}+|${GO_SPACE}+$', '')), ${SIZE_NAMES}, ${SIZE_BYTES}, 0.)`
  const read = "if(match(_b_num, '^(?:[0-9]+[.]?[0-9]*|[.][0-9]+)$') AND _b_size > 0 AND _b_bytes < 18446744073709551616., floor(_b_bytes), NULL)"
  return `arrayMap(_b_s -> arrayMap((_b_num, _b_size) -> arrayMap(_b_bytes -> ${read}, [toFloat64OrZero(_b_num) * _b_size])[1], [replaceAll(${prefix}, ',', '')], [${size}])[1], [${v}])[1]`
}

/**
 * A JSON object's fields as (name, value) pairs, nested objects flattened into `a_b` names as
 * Loki's json parser does (three levels deep; deeper objects stay JSON text), strings unquoted,
 * names sanitised.
 */
export function jsonFlat(line: string, depth = 1): string {
  const kv = `kv${depth}`
  const name = depth === 1 ? `${kv}.1` : `concat(prefix${depth - 1}, '_', ${kv}.1)`
  // A null is no label (Loki skips it): an empty value, which the caller's nonEmpty leaves out.
  const leaf = `[(replaceRegexpAll(${name}, '[^a-zA-Z0-9_]', '_'), multiIf(startsWith(${kv}.2, '"'), JSONExtractString(${kv}.2), ${kv}.2 = 'null', '', ${kv}.2))]`
  const nested = depth < 3 ? `if(startsWith(${kv}.2, '{'), ${jsonFlat(`${kv}.2`, depth + 1).replaceAll(`prefix${depth}`, name)}, ${leaf})` : leaf
  return `arrayFlatten(arrayMap(${kv} -> ${nested}, JSONExtractKeysAndValuesRaw(${line})))`
}

export function matchSql(expr: string, op: Matcher['op'], value: string, p: Params): string {
  switch (op) {
    case '=':
      return `${expr} = ${p.bind(value)}`
    case '!=':
      return `${expr} != ${p.bind(value)}`
    case '=~':
      return `match(${expr}, ${p.bind(anchored(value))})`
    case '!~':
      return `NOT match(${expr}, ${p.bind(anchored(value))})`
  }
}

/** Loki anchors label regular expressions at both ends. */
export const anchored = (re: string) => `^(?:${re})$`

/** LIKE pattern matching `s` literally. */
const likePattern = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

/** Where the body's text index splits tokens (splitByNonAlpha, as hasToken): ASCII but letters and digits. */
const TOKEN_SEPARATORS = /[^A-Za-z0-9\u0080-\uffff]+/
/** Pieces shorter than this narrow nothing (ClickHouse's text_index_like_min_pattern_length). */
const MIN_PIECE = 4

/**
 * `Body` contains `s` (LogQL `|=`, /v1/logs `q`), as SQL. The text index on Body (migration 0014)
 * answers `Body LIKE '%s%'` by itself only where `s` is one run of letters and digits. A term
 * across separators (`quarantine-zk7q`, `connection refused`, an address) gets conditions the
 * index answers, each implied by the match: every piece between two separators of `s` is a whole
 * token of the line (hasToken: a look-up in the index's dictionary); failing those, the longest
 * piece at an end of `s` is part of one (a LIKE of its own: a scan of the dictionary, so one only).
 */
export function bodyContains(s: string, p: Params): string {
  const like = `Body LIKE ${p.bind(likePattern(s))}`
  const pieces = s.split(TOKEN_SEPARATORS)
  if (pieces.length < 2) return like
  const whole = pieces.slice(1, -1).filter((piece) => piece.length >= MIN_PIECE)
  const narrowing = whole.map((piece) => `hasToken(Body, ${p.bind(piece)})`)
  if (narrowing.length === 0) {
    const end = [pieces[0]!, pieces[pieces.length - 1]!].reduce((a, b) => (b.length > a.length ? b : a))
    if (end.length >= MIN_PIECE) narrowing.push(`Body LIKE ${p.bind(likePattern(end))}`)
  }
  return narrowing.length === 0 ? like : `(${[...narrowing, like].join(' AND ')})`
}

/**
 * Whether a searched term looks like an identifier (a digit in it: an id, an address, an error
 * code), likely on few lines, rather than words, likely on many (guard.ts, searchNewestFirst).
 */
export const looksRare = (term: string): boolean => /[0-9]/.test(term)

/** What RE2 (and Go) accept after a backslash as the character itself: ASCII punctuation. */
const ESCAPABLE = /^[!-/:-@[-`{-~]$/

/**
 * What a regular expression (RE2) matches when it is a plain text: its characters, each
 * punctuation escape (`\.`) read as the character, and whether it starts with `(?i)`. Undefined
 * for anything else (classes, repetition, alternation, anchors, `\d`-style escapes).
 */
export function regexLiteral(re: string): { text: string; ignoreCase: boolean } | undefined {
  const ignoreCase = re.startsWith('(?i)')
  let text = ''
  for (let i = ignoreCase ? 4 : 0; i < re.length; i++) {
    const c = re[i]!
    if ('.+*?()|[]{}^$'.includes(c)) return undefined
    if (c === '\\') {
      const next = re[++i]
      if (next === undefined || !ESCAPABLE.test(next)) return undefined
      text += next
    } else text += c
  }
  return text === '' ? undefined : { text, ignoreCase }
}

/**
 * What splits a case-insensitive text into pieces ILIKE reads as RE2's `(?i)` does: separators
 * (the index's tokens), characters beyond ASCII, and k and s, which RE2 also matches with the
 * Kelvin sign and the long s where ILIKE does not.
 */
const FOLD_UNSAFE = /[^A-JL-RT-Za-jl-rt-z0-9]+/

/**
 * `Body` matches the regular expression `re`, as SQL. A plain text (regexLiteral) is searched as
 * bodyContains searches it; `(?i)` and a plain text (Grafana's "line contains, case insensitive")
 * keeps the match and adds the longest piece of the text as an ILIKE the index answers.
 */
export function bodyMatches(re: string, p: Params): string {
  const literal = regexLiteral(re)
  if (literal && !literal.ignoreCase) return bodyContains(literal.text, p)
  const match = `match(Body, ${p.bind(re)})`
  if (!literal) return match
  const piece = literal.text.split(FOLD_UNSAFE).reduce((a, b) => (b.length > a.length ? b : a), '')
  return piece.length >= MIN_PIECE ? `(Body ILIKE ${p.bind(likePattern(piece))} AND ${match})` : match
}

/**
 * The filter's value bound as the statement compares it: a duration as integer nanoseconds, as
 * Loki compares time.Durations; a number or a size as a float64.
 */
export function bindNumeric(v: Exclude<LabelValue, { type: 'string' }>, p: Params): string {
  return v.type === 'duration' ? p.bind(v.ns.toString(), 'Int64') : p.bind(v.type === 'number' ? v.value : v.bytes, 'Float64')
}

/**
 * A label's value as the number a filter compares: `ok` whether it converts, `num` the number
 * (meaningless where `ok` is false). `name` names an expression in the statement's WITH clause.
 */
export function convert(val: string, v: Exclude<LabelValue, { type: 'string' }>, name: (expr: string) => string): { ok: string; num: string } {
  if (v.type === 'duration') {
    const ok = name(`match(${val}, ${GO_DURATION})`)
    return { ok, num: name(durationNs(val, ok)) }
  }
  const n = name(v.type === 'bytes' ? bytesValue(val) : `toFloat64OrNull(${val})`)
  return { ok: `isNotNull(${n})`, num: n }
}

/** `a.b[0].c` or `a["b c"]` → path segments (indexes as digit strings). */
export function jsonPath(expr: string): string[] {
  const out: string[] = []
  const re = /([^.[\]]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g
  for (const m of expr.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3]!.replace(/\\(.)/g, '$1'))
  if (out.length === 0) throw new SluiceError('VALIDATION_FAILED', `json expression ${JSON.stringify(expr)} names no field`)
  return out
}

/** The names of `(?P<name>…)` / `(?<name>…)` groups in order; unnamed groups are not allowed between (they would shift indexes). */
export function groupNames(re: string): string[] {
  const names: string[] = []
  for (let i = 0; i < re.length; i++) {
    const c = re[i]
    if (c === '\\') {
      i++
      continue
    }
    if (c === '[') {
      // skip a character class
      for (i++; i < re.length && re[i] !== ']'; i++) if (re[i] === '\\') i++
      continue
    }
    if (c !== '(') continue
    const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(re.slice(i))
    if (named) names.push(named[1]!)
    else if (re[i + 1] !== '?') names.push('') // an unnamed capturing group still takes an index
  }
  return names
}

/** Loki's pattern parser (`<ip> - <_> [<ts>] "<method> <path>"`) as an anchored regular expression. */
export function patternRegex(pattern: string): { re: string; names: string[] } {
  const names: string[] = []
  let re = ''
  const parts = pattern.split(/(<[A-Za-z_][A-Za-z0-9_]*>)/)
  parts.forEach((part, i) => {
    if (i % 2 === 0) {
      re += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      return
    }
    const name = part.slice(1, -1)
    // Loki matches a capture lazily up to the next literal; the last one takes the rest of the line.
    const last = i === parts.length - 2 && parts[parts.length - 1] === ''
    const body = last ? '.*' : '.*?'
    if (name === '_') re += `(?:${body})`
    else {
      names.push(name)
      re += `(?P<${name}>${body})`
    }
  })
  // Refused as Loki's pattern parser refuses them, in its order and words.
  if (names.length === 0) throw new SluiceError('VALIDATION_FAILED', 'at least one capture is required')
  const adjacent = parts.findIndex((part, i) => i % 2 === 0 && i > 0 && i < parts.length - 1 && part === '')
  if (adjacent > 0) throw new SluiceError('VALIDATION_FAILED', `found consecutive capture '${parts[adjacent - 1]}${parts[adjacent + 1]}': invalid expression`)
  const twice = names.find((n, i) => names.indexOf(n) !== i)
  if (twice !== undefined) throw new SluiceError('VALIDATION_FAILED', `duplicate capture name (${twice}): invalid expression`)
  return { re: `^${re}`, names }
}

/** A `|>` pattern filter as a regular expression over the whole line: `<_>` and `<name>` match anything. */
export function patternFilterRegex(pattern: string): string {
  const parts = pattern.split(/<[A-Za-z_][A-Za-z0-9_]*>/)
  return `^${parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`
}

/** Tenant and hours of the per-hour dictionaries (label_values). */
export function hourScope(p: Params, t: string, startNs: bigint, endNs: bigint): string {
  return `tenant = ${p.bind(t)} AND Hour >= toStartOfHour(toDateTime(${p.bind(Number(startNs / 1_000_000_000n), 'Int64')})) AND Hour <= toDateTime(${p.bind(Number(endNs / 1_000_000_000n), 'Int64')})`
}

// ---- ip("…") filters ---------------------------------------------------------------------------

const IPV4_BITS = 32n
const IPV6_BITS = 128n

function ipv4Value(text: string): bigint | undefined {
  if (!isIPv4(text)) return undefined
  return text.split('.').reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n)
}

function ipv6Value(text: string): bigint | undefined {
  if (!isIPv6(text) || text.includes('%')) return undefined
  let s = text
  // An IPv4 tail (::ffff:10.0.0.1) is two groups.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)
  if (tail) {
    const v = ipv4Value(tail[1]!)!
    s = `${s.slice(0, -tail[1]!.length)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`
  }
  const [head, rest] = s.split('::') as [string, string | undefined]
  const left = head ? head.split(':') : []
  const right = rest === undefined ? [] : rest ? rest.split(':') : []
  const groups = rest === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n)
}

function ipv6Text(v: bigint): string {
  const groups: string[] = []
  for (let i = 7n; i >= 0n; i--) groups.push(((v >> (i * 16n)) & 0xffffn).toString(16))
  return groups.join(':')
}

/**
 * `ip("…")` of LogQL — an address, a range `a-b` or a CIDR, IPv4 or IPv6 — as a condition on a
 * String expression holding one address: true when it is an address of the same family in range
 * (as Go's netip, an IPv4 address is never in an IPv6 range). A value that is no address is false.
 */
export function ipCondition(spec: string, p: Params): (x: string) => string {
  const bad = () => new SluiceError('VALIDATION_FAILED', `ip(${JSON.stringify(spec)}): not an IP address, range (a-b) or CIDR (a/n)`)
  const family = (t: string) => (isIPv4(t) ? 4 : isIPv6(t) && !t.includes('%') ? 6 : 0)
  let lo: bigint
  let hi: bigint
  let v6: boolean
  const slash = spec.indexOf('/')
  const dash = spec.indexOf('-')
  if (slash >= 0) {
    const addr = spec.slice(0, slash)
    const bitsText = spec.slice(slash + 1)
    v6 = family(addr) === 6
    if (family(addr) === 0 || !/^\d{1,3}$/.test(bitsText)) throw bad()
    const total = v6 ? IPV6_BITS : IPV4_BITS
    const bits = BigInt(bitsText)
    if (bits > total) throw bad()
    const host = (1n << (total - bits)) - 1n
    lo = (v6 ? ipv6Value(addr)! : ipv4Value(addr)!) & ~host & ((1n << total) - 1n)
    hi = lo | host
  } else if (dash >= 0) {
    const a = spec.slice(0, dash)
    const b = spec.slice(dash + 1)
    if (family(a) === 0 || family(a) !== family(b)) throw bad()
    v6 = family(a) === 6
    lo = v6 ? ipv6Value(a)! : ipv4Value(a)!
    hi = v6 ? ipv6Value(b)! : ipv4Value(b)!
    if (lo > hi) throw bad()
  } else {
    if (family(spec) === 0) throw bad()
    v6 = family(spec) === 6
    lo = hi = v6 ? ipv6Value(spec)! : ipv4Value(spec)!
  }
  if (!v6) {
    const [l, h] = [p.bind(Number(lo), 'UInt32'), p.bind(Number(hi), 'UInt32')]
    return (x) => `(position(${x}, ':') = 0 AND ifNull(toUInt32(toIPv4OrNull(${x})) BETWEEN ${l} AND ${h}, 0))`
  }
  const [l, h] = [p.bind(ipv6Text(lo)), p.bind(ipv6Text(hi))]
  return (x) => `(position(${x}, ':') > 0 AND ifNull(toIPv6OrNull(${x}) BETWEEN toIPv6(${l}) AND toIPv6(${h}), 0))`
}

/**
 * Whether a text holds an address `ip(…)` takes, found as Loki finds one: at each place, an IPv4
 * hint (a digit, a dot within the next three characters) and the run of digits and dots from it;
 * else an IPv6 hint (`::` and a hex digit, or one to four hex digits and a colon) and the run of
 * hex digits, colons and dots from it. A run that is no address is passed over whole.
 */
export const lineHasIp = (text: string, inRange: (x: string) => string) =>
  `arrayExists(x -> ${inRange('x')}, extractAll(${text}, '[0-9]{1,3}\\.[0-9.]*|(?:::[0-9A-Fa-f]|[0-9A-Fa-f]{1,4}:)[0-9A-Fa-f:.]*'))`
