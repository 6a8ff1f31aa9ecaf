// The Go text/template of LogQL's `line_format` and `label_format`, as one ClickHouse String
// expression: text, and actions of labels (`{{.path}}`), the line (`{{__line__}}`), the line's time
// (`{{__timestamp__}}`), literals and the string, comparison and time functions of Loki's template
// function list, chained with pipes (`{{ .path | replace " " "_" | trunc 5 | upper }}`: each
// command's result is the last argument of the next) or nested in parentheses, and if/else if/else
// blocks. Each function keeps Go's (and sprig's) semantics, byte offsets included; what has none
// here (range/with, variables, arithmetic, parsing times) is a 400 naming it.
import { SluiceError } from '@sluice/core'
import { unsupported } from './sql.js'
import type { Params } from './sql.js'

export interface TemplateScope {
  p: Params
  /** A label's value at this point of the pipeline, as a String expression ('' when it is absent). */
  label(name: string): string
  /** The line at this point of the pipeline. */
  line: string
  /** The line's time, a DateTime64(9) expression. */
  timestamp: string
}

/** A value in an action: a String expression, and its text or number when it is a literal. */
interface Value {
  sql: string
  text?: string
  int?: number
  /** `sql` is a condition (eq, contains, and, …), not a String. */
  bool?: true
  /** `sql` is a time (DateTime64(9), UTC), as __timestamp__ and now give. */
  time?: true
  /** When this condition holds, Go's template fails (a panic, a value a function refuses). */
  err?: string
}

/** String expressions one after another, as one String expression. */
const concatenated = (parts: readonly string[]) => (parts.length === 0 ? "''" : parts.length === 1 ? `toString(${parts[0]})` : `concat(${parts.join(', ')})`)

/** Either condition. */
const either = (a: string | undefined, b: string | undefined) => (a && b ? `(${a} OR ${b})` : a ?? b)

/** A template as a String expression, and the condition under which Go's template would fail ('0': never). */
export interface CompiledTemplate {
  sql: string
  error: string
}

type Token = { kind: 'field' | 'ident' | 'string' | 'int'; text: string } | { kind: '|' | '(' | ')'; text: string }
type Operand = { kind: 'field' | 'ident' | 'string' | 'int'; text: string } | { kind: 'pipeline'; commands: Operand[][] }

/** The largest count (width, repetition, offset) a template may name. */
export const MAX_COUNT = 100_000

const invalid = (text: string, why: string) => new SluiceError('VALIDATION_FAILED', `template ${JSON.stringify(text)}: ${why}`)

function tokenize(action: string, text: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < action.length) {
    const c = action[i]!
    if (/\s/.test(c)) {
      i++
    } else if (c === '|' || c === '(' || c === ')') {
      tokens.push({ kind: c, text: c })
      i++
    } else if (c === '"') {
      let j = i + 1
      while (j < action.length && action[j] !== '"') j += action[j] === '\\' ? 2 : 1
      if (j >= action.length) throw invalid(text, 'unterminated quoted string')
      let value: unknown
      try {
        value = JSON.parse(action.slice(i, j + 1))
      } catch {
        throw invalid(text, `cannot read the string ${action.slice(i, j + 1)}`)
      }
      tokens.push({ kind: 'string', text: value as string })
      i = j + 1
    } else if (c === '`') {
      const j = action.indexOf('`', i + 1)
      if (j < 0) throw invalid(text, 'unterminated raw string')
      tokens.push({ kind: 'string', text: action.slice(i + 1, j) })
      i = j + 1
    } else {
      const m = /^(?:\.[A-Za-z_][A-Za-z0-9_]*|-?\d+(?![\w.])|[A-Za-z_][A-Za-z0-9_]*)/.exec(action.slice(i))
      if (!m) throw unsupported(`template syntax at ${JSON.stringify(action.slice(i))} in ${JSON.stringify(text)}`)
      const word = m[0]
      tokens.push(word.startsWith('.') ? { kind: 'field', text: word.slice(1) } : /^-?\d/.test(word) ? { kind: 'int', text: word } : { kind: 'ident', text: word })
      i += word.length
    }
  }
  return tokens
}

/** pipeline := command ('|' command)*; command := operand+; operand := literal | .field | ident | '(' pipeline ')'. */
function parsePipeline(tokens: Token[], at: { i: number }, text: string): Operand[][] {
  const commands: Operand[][] = [[]]
  while (at.i < tokens.length) {
    const t = tokens[at.i]!
    if (t.kind === ')') break
    at.i++
    if (t.kind === '|') {
      if (commands[commands.length - 1]!.length === 0) throw invalid(text, 'missing command before |')
      commands.push([])
    } else if (t.kind === '(') {
      const inner = parsePipeline(tokens, at, text)
      if (tokens[at.i]?.kind !== ')') throw invalid(text, 'unclosed (')
      at.i++
      commands[commands.length - 1]!.push({ kind: 'pipeline', commands: inner })
    } else {
      commands[commands.length - 1]!.push(t as Operand)
    }
  }
  if (commands.some((c) => c.length === 0)) throw invalid(text, 'missing command')
  return commands
}

/** The characters of a Go cutset as an RE2 character class (each code point written \x{…}). */
const cutsetClass = (cutset: string) => `[${[...cutset].map((ch) => `\\x{${ch.codePointAt(0)!.toString(16)}}`).join('')}]`
// Go's unicode.IsSpace: \t \n \v \f \r, space, U+0085, U+00A0 and the Unicode space separators.
const SPACE = '[\\t\\n\\x{0B}\\f\\r\\x{85}\\p{Z}]'

interface Fn {
  /** Number of arguments, the piped value included as the last. */
  arity: number
  /** The result; with the condition under which Go panics, where it can. */
  apply(args: Value[], s: Helpers): string | { sql: string; err: string }
}

interface Helpers {
  bind(v: string): string
  /** A literal string argument (patterns, prefixes, formats must be written out). */
  text(v: Value, what: string): string
  int(v: Value, what: string): number
  /** A whole number, not negative (Go panics on a negative width or count). */
  natural(v: Value, what: string): number
}

const trimmed = (re: string) => (src: string, h: Helpers) => `replaceRegexpAll(${src}, ${h.bind(re)}, '')`
const both = (cls: string) => `^${cls}+|${cls}+$`

const FUNCTIONS: Record<string, Fn> = {
  lower: { arity: 1, apply: ([s]) => `lowerUTF8(${s!.sql})` },
  ToLower: { arity: 1, apply: ([s]) => `lowerUTF8(${s!.sql})` },
  upper: { arity: 1, apply: ([s]) => `upperUTF8(${s!.sql})` },
  ToUpper: { arity: 1, apply: ([s]) => `upperUTF8(${s!.sql})` },
  replace: {
    arity: 3,
    apply: ([old, to, src], h) => {
      const o = h.text(old!, 'replace: the string to replace')
      if (o === '') throw unsupported('template replace of an empty string')
      return `replaceAll(${src!.sql}, ${h.bind(o)}, ${h.bind(h.text(to!, 'replace: the replacement'))})`
    },
  },
  Replace: {
    arity: 4,
    apply: ([src, old, to, n], h) => {
      const o = h.text(old!, 'Replace: the string to replace')
      const count = h.int(n!, 'Replace: the count')
      if (o === '' || (count !== -1 && count !== 0 && count !== 1)) throw unsupported('template Replace of an empty string, or of a count other than -1, 0 or 1')
      if (count === 0) return src!.sql
      return `${count === 1 ? 'replaceOne' : 'replaceAll'}(${src!.sql}, ${h.bind(o)}, ${h.bind(h.text(to!, 'Replace: the replacement'))})`
    },
  },
  trim: { arity: 1, apply: ([s], h) => trimmed(both(SPACE))(s!.sql, h) },
  TrimSpace: { arity: 1, apply: ([s], h) => trimmed(both(SPACE))(s!.sql, h) },
  trimAll: { arity: 2, apply: ([cut, s], h) => cutTrim(s!, h.text(cut!, 'trimAll: the characters'), 'both', h) },
  Trim: { arity: 2, apply: ([s, cut], h) => cutTrim(s!, h.text(cut!, 'Trim: the cutset'), 'both', h) },
  TrimLeft: { arity: 2, apply: ([s, cut], h) => cutTrim(s!, h.text(cut!, 'TrimLeft: the cutset'), 'left', h) },
  TrimRight: { arity: 2, apply: ([s, cut], h) => cutTrim(s!, h.text(cut!, 'TrimRight: the cutset'), 'right', h) },
  trimPrefix: { arity: 2, apply: ([p, s], h) => withoutPrefix(s!.sql, h.bind(h.text(p!, 'trimPrefix: the prefix'))) },
  TrimPrefix: { arity: 2, apply: ([s, p], h) => withoutPrefix(s!.sql, h.bind(h.text(p!, 'TrimPrefix: the prefix'))) },
  trimSuffix: { arity: 2, apply: ([p, s], h) => withoutSuffix(s!.sql, h.bind(h.text(p!, 'trimSuffix: the suffix'))) },
  TrimSuffix: { arity: 2, apply: ([s, p], h) => withoutSuffix(s!.sql, h.bind(h.text(p!, 'TrimSuffix: the suffix'))) },
  // Go slices bytes, as ClickHouse's substring does.
  trunc: {
    arity: 2,
    apply: ([n, s], h) => {
      const c = h.int(n!, 'trunc: the count')
      return c >= 0 ? `substring(${s!.sql}, 1, ${c})` : `if(length(${s!.sql}) > ${-c}, substring(${s!.sql}, ${c}), ${s!.sql})`
    },
  },
  // sprig's substr slices as Go does, and fails where Go's slicing panics (out of the string, start after end).
  substr: {
    arity: 3,
    apply: ([a, b, s], h) => {
      const start = h.int(a!, 'substr: the start')
      const end = h.int(b!, 'substr: the end')
      const len = `length(${s!.sql})`
      if (start < 0) return { sql: `substring(${s!.sql}, 1, ${Math.max(0, end)})`, err: end < 0 ? '1' : `${len} < ${end}` }
      if (end < 0) return { sql: `substring(${s!.sql}, ${start + 1})`, err: `${len} < ${start}` }
      return {
        sql: `if(${len} < ${end}, substring(${s!.sql}, ${start + 1}), substring(${s!.sql}, ${start + 1}, ${Math.max(0, end - start)}))`,
        err: `if(${len} < ${end}, ${len} < ${start}, ${start > end ? 1 : 0})`,
      }
    },
  },
  default: { arity: 2, apply: ([d, s]) => `if(${s!.sql} = '', ${d!.sql}, ${s!.sql})` },
  alignLeft: {
    arity: 2,
    apply: ([n, s], h) => {
      const c = h.natural(n!, 'alignLeft: the width')
      return `if(length(${s!.sql}) < ${c}, concat(${s!.sql}, repeat(' ', toUInt64(greatest(0, ${c} - toInt64(length(${s!.sql})))))), substring(${s!.sql}, 1, ${c}))`
    },
  },
  alignRight: {
    arity: 2,
    apply: ([n, s], h) => {
      const c = h.natural(n!, 'alignRight: the width')
      if (c === 0) return "''"
      return `if(length(${s!.sql}) < ${c}, concat(repeat(' ', toUInt64(greatest(0, ${c} - toInt64(length(${s!.sql}))))), ${s!.sql}), substring(${s!.sql}, ${-c}))`
    },
  },
  repeat: { arity: 2, apply: ([n, s], h) => `repeat(${s!.sql}, ${h.natural(n!, 'repeat: the count')})` },
  b64enc: { arity: 1, apply: ([s]) => `base64Encode(${s!.sql})` },
}

function cutTrim(s: Value, cutset: string, side: 'both' | 'left' | 'right', h: Helpers): string {
  if (cutset === '') return s.sql
  const cls = cutsetClass(cutset)
  return trimmed(side === 'both' ? both(cls) : side === 'left' ? `^${cls}+` : `${cls}+$`)(s.sql, h)
}
const withoutPrefix = (s: string, p: string) => `if(startsWith(${s}, ${p}), substring(${s}, length(${p}) + 1), ${s})`
const withoutSuffix = (s: string, p: string) => `if(endsWith(${s}, ${p}), substring(${s}, 1, length(${s}) - length(${p})), ${s})`

/**
 * printf with %s and %v (a string prints as itself), a width (`%10s`, right-aligned; `%-10s`, left)
 * and a precision (`%.5s`, at most five characters), counted in characters as Go counts runes; and
 * %%. Other verbs and flags are refused.
 */
function printf(args: Value[], h: Helpers, text: string): string {
  if (args.length === 0) throw invalid(text, 'printf needs a format')
  const format = h.text(args[0]!, 'printf: the format')
  const parts: string[] = []
  let literal = ''
  let next = 1
  const count = (digits: string | undefined, what: string) => {
    if (digits === undefined) return undefined
    const n = Number(digits)
    if (n > MAX_COUNT) throw invalid(text, `printf: the ${what} ${n} is beyond ${MAX_COUNT}`)
    return n
  }
  for (let i = 0; i < format.length; i++) {
    const c = format[i]
    if (c !== '%') {
      literal += c
      continue
    }
    if (format[i + 1] === '%') {
      literal += '%'
      i++
      continue
    }
    const spec = /^%(-)?(\d+)?(?:\.(\d+))?([a-zA-Z])/.exec(format.slice(i))
    if (!spec || (spec[4] !== 's' && spec[4] !== 'v')) {
      throw unsupported(`printf verb ${spec?.[0] ?? format.slice(i, i + 6)} (Sluice's printf takes %s and %v, with a width, a precision and -)`)
    }
    i += spec[0].length - 1
    if (next >= args.length) throw invalid(text, `printf: the format ${JSON.stringify(format)} needs more arguments`)
    if (literal) parts.push(h.bind(literal))
    literal = ''
    let v = args[next++]!.sql
    const precision = count(spec[3], 'precision')
    const width = count(spec[2], 'width')
    if (precision !== undefined) v = `substringUTF8(${v}, 1, ${precision})`
    // leftPad cuts a longer string; a width in Go never does.
    if (width !== undefined) v = `if(lengthUTF8(${v}) < ${width}, ${spec[1] ? 'rightPadUTF8' : 'leftPadUTF8'}(${v}, ${width}, ' '), ${v})`
    parts.push(v)
  }
  if (next < args.length) throw invalid(text, `printf: ${args.length - next} more argument(s) than the format ${JSON.stringify(format)} takes`)
  if (literal) parts.push(h.bind(literal))
  return concatenated(parts)
}

/** A value as an `if` reads it: a condition as it is; a string when not empty; a number when not 0. */
function truthy(v: Value): string {
  if (v.bool) return v.sql
  if (v.time) return '1'
  if (v.int !== undefined) return v.int === 0 ? '0' : '1'
  return `(${v.sql} != '')`
}

/** Strings compared as Go compares them (bytes, as ClickHouse does); a number literal has no string to compare with. */
function strings(name: string, args: Value[], text: string, min: number, max = min): string[] {
  if (args.length < min || args.length > max) throw invalid(text, `${name} takes ${min === max ? min : `${min} or more`} argument(s), got ${args.length}`)
  if (args.some((a) => a.bool || a.time || a.int !== undefined)) throw unsupported(`template ${name} of anything but strings (labels, quoted text)`)
  return args.map((a) => a.sql)
}

const CONDITIONS: Record<string, (args: Value[], text: string) => string> = {
  // eq a b c: a equals b or c, as Go's eq.
  eq: (args, text) => {
    const [a, ...rest] = strings('eq', args, text, 2, 16)
    return `(${rest.map((b) => `${a} = ${b}`).join(' OR ')})`
  },
  ne: (args, text) => strings('ne', args, text, 2).join(' != '),
  lt: (args, text) => strings('lt', args, text, 2).join(' < '),
  le: (args, text) => strings('le', args, text, 2).join(' <= '),
  gt: (args, text) => strings('gt', args, text, 2).join(' > '),
  ge: (args, text) => strings('ge', args, text, 2).join(' >= '),
  // contains "ErrTimeout" .err: .err holds "ErrTimeout" (sprig's argument order).
  contains: (args, text) => {
    const [sub, src] = strings('contains', args, text, 2)
    return `(position(${src}, ${sub}) > 0)`
  },
  hasPrefix: (args, text) => {
    const [prefix, src] = strings('hasPrefix', args, text, 2)
    return `startsWith(${src}, ${prefix})`
  },
  hasSuffix: (args, text) => {
    const [suffix, src] = strings('hasSuffix', args, text, 2)
    return `endsWith(${src}, ${suffix})`
  },
  not: (args, text) => {
    if (args.length !== 1) throw invalid(text, `not takes 1 argument, got ${args.length}`)
    return `NOT ${truthy(args[0]!)}`
  },
}

/**
 * Go's and/or: the first argument that decides (and: the first empty one, or the last; or: the
 * first non-empty one, or the last). Over conditions that is AND/OR; over strings, a string.
 */
function logical(name: 'and' | 'or', args: Value[]): Value {
  if (args.every((a) => a.bool)) return { sql: `(${args.map((a) => a.sql).join(name === 'and' ? ' AND ' : ' OR ')})`, bool: true }
  if (args.some((a) => a.bool || a.time || a.int !== undefined)) throw unsupported(`template ${name} of conditions and strings together`)
  let sql = args[args.length - 1]!.sql
  for (let i = args.length - 2; i >= 0; i--) sql = name === 'and' ? `if(${truthy(args[i]!)}, ${sql}, ${args[i]!.sql})` : `if(${truthy(args[i]!)}, ${args[i]!.sql}, ${sql})`
  return { sql }
}

// ---- times ---------------------------------------------------------------------------------------
// __timestamp__ and now are times in UTC (a Loki server's zone in a container); date formats one
// with a Go layout (the reference time Mon Jan 2 15:04:05 MST 2006), unixEpoch* print one as a
// number. Printed as it is, a time reads as Go's Time.String().

const TIME_STRING = '2006-01-02 15:04:05.999999999 -0700 MST'
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December']
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday']

/** Go's layout elements, longest first where one is the start of another, as Go's layout reader tries them. */
const LAYOUT: [string, (t: string) => string][] = [
  ['January', (t) => `arrayElement([${MONTHS.map((m) => `'${m}'`).join(', ')}], toMonth(${t}))`],
  ['Jan', (t) => `arrayElement([${MONTHS.map((m) => `'${m.slice(0, 3)}'`).join(', ')}], toMonth(${t}))`],
  ['Monday', (t) => `arrayElement([${DAYS.map((d) => `'${d}'`).join(', ')}], toDayOfWeek(${t}))`],
  ['Mon', (t) => `arrayElement([${DAYS.map((d) => `'${d.slice(0, 3)}'`).join(', ')}], toDayOfWeek(${t}))`],
  ['MST', () => "'UTC'"],
  ['2006', (t) => `leftPad(toString(toYear(${t})), 4, '0')`],
  ['_2', (t) => `leftPad(toString(toDayOfMonth(${t})), 2, ' ')`],
  ['002', (t) => `leftPad(toString(toDayOfYear(${t})), 3, '0')`],
  ['01', (t) => `leftPad(toString(toMonth(${t})), 2, '0')`],
  ['02', (t) => `leftPad(toString(toDayOfMonth(${t})), 2, '0')`],
  ['03', (t) => `leftPad(toString((toHour(${t}) + 11) % 12 + 1), 2, '0')`],
  ['04', (t) => `leftPad(toString(toMinute(${t})), 2, '0')`],
  ['05', (t) => `leftPad(toString(toSecond(${t})), 2, '0')`],
  ['06', (t) => `leftPad(toString(toYear(${t}) % 100), 2, '0')`],
  ['15', (t) => `leftPad(toString(toHour(${t})), 2, '0')`],
  ['1', (t) => `toString(toMonth(${t}))`],
  ['2', (t) => `toString(toDayOfMonth(${t}))`],
  ['3', (t) => `toString((toHour(${t}) + 11) % 12 + 1)`],
  ['4', (t) => `toString(toMinute(${t}))`],
  ['5', (t) => `toString(toSecond(${t}))`],
  ['PM', (t) => `if(toHour(${t}) < 12, 'AM', 'PM')`],
  ['pm', (t) => `if(toHour(${t}) < 12, 'am', 'pm')`],
  // Zones: UTC, as Go prints it.
  ['-07:00:00', () => "'+00:00:00'"],
  ['-070000', () => "'+000000'"],
  ['-07:00', () => "'+00:00'"],
  ['-0700', () => "'+0000'"],
  ['-07', () => "'+00'"],
  ['Z07:00:00', () => "'Z'"],
  ['Z070000', () => "'Z'"],
  ['Z07:00', () => "'Z'"],
  ['Z0700', () => "'Z'"],
  ['Z07', () => "'Z'"],
]

/** A time as Go's Time.Format(layout) prints it, in UTC. */
function goTime(layout: string, t: string, h: Helpers): string {
  const parts: string[] = []
  let literal = ''
  const nanos = `leftPad(toString(toUnixTimestamp64Nano(${t}) % 1000000000), 9, '0')`
  for (let i = 0; i < layout.length; ) {
    // A fractional second: . or , then a run of 0s (that many digits) or 9s (at most that many, trailing zeros cut), not followed by a digit.
    const frac = /^[.,](0+|9+)(?![0-9])/.exec(layout.slice(i))
    if (frac) {
      if (literal) parts.push(h.bind(literal))
      literal = ''
      const digits = frac[1]!.length
      const sep = h.bind(layout[i]!)
      parts.push(frac[1]![0] === '0' ? `concat(${sep}, substring(${nanos}, 1, ${digits}))` : `if(trimRight(substring(${nanos}, 1, ${digits}), '0') = '', '', concat(${sep}, trimRight(substring(${nanos}, 1, ${digits}), '0')))`)
      i += frac[0].length
      continue
    }
    const element = LAYOUT.find(([name]) => layout.startsWith(name, i))
    if (!element) {
      literal += layout[i]
      i++
      continue
    }
    if (literal) parts.push(h.bind(literal))
    literal = ''
    parts.push(element[1](t))
    i += element[0].length
  }
  if (literal) parts.push(h.bind(literal))
  return concatenated(parts)
}

const timeArg = (v: Value | undefined, name: string): string => {
  if (!v?.time) throw unsupported(`template ${name} of anything but a time (__timestamp__, now)`)
  return v.sql
}
const epoch = (name: string, unit: bigint) => (args: Value[], _h: Helpers, text: string): Value => {
  if (args.length !== 1) throw invalid(text, `${name} takes 1 argument, got ${args.length}`)
  return { sql: `toString(intDiv(toUnixTimestamp64Nano(${timeArg(args[0], name)}), ${unit}))` }
}
const TIMES: Record<string, (args: Value[], h: Helpers, text: string, scope: TemplateScope) => Value> = {
  __timestamp__: (args, _h, text, scope) => {
    if (args.length) throw invalid(text, '__timestamp__ takes no arguments')
    return { sql: scope.timestamp, time: true }
  },
  now: (args, _h, text) => {
    if (args.length) throw invalid(text, 'now takes no arguments')
    return { sql: 'now64(9)', time: true }
  },
  date: (args, h, text) => {
    if (args.length !== 2) throw invalid(text, `date takes 2 arguments, got ${args.length}`)
    return { sql: goTime(h.text(args[0]!, 'date: the layout'), timeArg(args[1], 'date'), h) }
  },
  // Loki's unixToTime: an integer of 5 (days), 10 (s), 13 (ms), 16 (µs) or 19 (ns) characters; anything else fails.
  unixToTime: (args, _h, text) => {
    if (args.length !== 1) throw invalid(text, `unixToTime takes 1 argument, got ${args.length}`)
    const v = args[0]!
    if (v.bool || v.time) throw invalid(text, 'unixToTime takes a string')
    const s = v.sql
    const n = `ifNull(toInt64OrNull(${s}), 0)`
    const unit = `multiIf(length(${s}) = 5, 86400000000000, length(${s}) = 10, 1000000000, length(${s}) = 13, 1000000, length(${s}) = 16, 1000, 1)`
    // Within a DateTime64(9) (years 1900–2262): Go's times reach further, Sluice answers those as failed.
    const ok = `(match(${s}, '^[+-]?[0-9]+$') AND length(${s}) IN (5, 10, 13, 16, 19) AND isNotNull(toInt64OrNull(${s})) AND ${n} BETWEEN intDiv(-2208988800000000000, ${unit}) AND intDiv(9223372036854775807, ${unit}))`
    return { sql: `fromUnixTimestamp64Nano(if(${ok}, ${n} * ${unit}, 0), 'UTC')`, time: true, err: `NOT ${ok}` }
  },
  unixEpoch: epoch('unixEpoch', 1_000_000_000n),
  unixEpochMillis: epoch('unixEpochMillis', 1_000_000n),
  unixEpochNanos: epoch('unixEpochNanos', 1n),
}

function evaluate(commands: Operand[][], scope: TemplateScope, h: Helpers, text: string): Value {
  let piped: Value | undefined
  for (const command of commands) piped = call(command, piped, scope, h, text)
  return piped!
}

function operand(o: Operand, scope: TemplateScope, h: Helpers, text: string): Value {
  switch (o.kind) {
    case 'field':
      return { sql: scope.label(o.text) }
    case 'string':
      return { sql: h.bind(o.text), text: o.text }
    case 'int':
      return { sql: h.bind(o.text), int: Number(o.text) }
    case 'pipeline':
      return evaluate(o.commands, scope, h, text)
    case 'ident':
      return call([o], undefined, scope, h, text)
  }
}

function call(command: Operand[], piped: Value | undefined, scope: TemplateScope, h: Helpers, text: string): Value {
  const head = command[0]!
  if (head.kind !== 'ident') {
    if (command.length > 1 || piped) throw invalid(text, `${head.kind === 'field' ? `.${head.text}` : 'a value'} is not a function: it takes no arguments`)
    return operand(head, scope, h, text)
  }
  const args = command.slice(1).map((o) => operand(o, scope, h, text))
  if (piped) args.push(piped)
  const result = apply(head.text, args, scope, h, text)
  // A failing argument fails the call.
  const err = args.reduce<string | undefined>((e, a) => either(e, a.err), result.err)
  return err ? { ...result, err } : result
}

function apply(name: string, args: Value[], scope: TemplateScope, h: Helpers, text: string): Value {
  if (name === '__line__') {
    if (args.length) throw invalid(text, '__line__ takes no arguments')
    return { sql: scope.line }
  }
  if (Object.hasOwn(TIMES, name)) return TIMES[name]!(args, h, text, scope)
  if (Object.hasOwn(CONDITIONS, name)) return { sql: CONDITIONS[name]!(args, text), bool: true }
  if ((name === 'and' || name === 'or') && args.length >= 2) return logical(name, args)
  if (args.some((a) => a.bool || a.time)) throw invalid(text, `${name} takes strings, not a ${args.some((a) => a.bool) ? 'condition' : 'time (format it with date)'}`)
  if (name === 'printf') return { sql: printf(args, h, text) }
  if (!Object.hasOwn(FUNCTIONS, name)) throw unsupported(`template function ${name} (Sluice's templates take ${[...Object.keys(FUNCTIONS), 'printf', ...Object.keys(CONDITIONS), 'and', 'or'].join(', ')}, ${Object.keys(TIMES).join(', ')}, if/else and __line__)`)
  const fn = FUNCTIONS[name]!
  if (args.length !== fn.arity) throw invalid(text, `${name} takes ${fn.arity} argument(s), got ${args.length}`)
  const out = fn.apply(args, h)
  return typeof out === 'string' ? { sql: out } : out
}

/** The template as a String expression. */
export function compileTemplate(text: string, scope: TemplateScope): CompiledTemplate {
  const h: Helpers = {
    bind: (v) => scope.p.bind(v),
    text: (v, what) => {
      if (v.text === undefined) throw unsupported(`${what} as anything but a quoted string`)
      return v.text
    },
    int: (v, what) => {
      if (v.int === undefined) throw unsupported(`${what} as anything but a whole number`)
      // A count is a width or a repetition of a line: bounded, so no template asks ClickHouse for gigabytes per row.
      if (Math.abs(v.int) > MAX_COUNT) throw invalid(text, `${what} ${v.int} is beyond ±${MAX_COUNT}`)
      return v.int
    },
    natural: (v, what) => {
      const n = h.int(v, what)
      if (n < 0) throw invalid(text, `${what} ${n} is negative`)
      return n
    },
  }
  // The template as text and actions; `{{- ` and ` -}}` trim the white space of the text beside
  // them, as Go's trim markers do (`{{-3}}` is the number -3).
  const segments: ({ text: string } | { tokens: Token[] })[] = []
  let rest = text
  let trimNext = false
  while (rest.length) {
    const open = rest.indexOf('{{')
    let before = open < 0 ? rest : rest.slice(0, open)
    if (trimNext) before = before.replace(/^\s+/, '')
    if (open < 0) {
      segments.push({ text: before })
      break
    }
    const close = rest.indexOf('}}', open)
    if (close < 0) throw invalid(text, 'unclosed {{')
    let action = rest.slice(open + 2, close)
    if (/^-\s/.test(action)) {
      before = before.replace(/\s+$/, '')
      action = action.slice(1)
    }
    trimNext = /\s-$/.test(action)
    if (trimNext) action = action.slice(0, -1)
    segments.push({ text: before })
    const tokens = tokenize(action.trim(), text)
    if (tokens.length === 0) throw invalid(text, 'empty action {{}}')
    segments.push({ tokens })
    rest = rest.slice(close + 2)
  }

  const keyword = (seg: (typeof segments)[number] | undefined) => (seg && 'tokens' in seg && seg.tokens[0]!.kind === 'ident' ? seg.tokens[0]!.text : undefined)
  const pipeline = (tokens: Token[]): Value => {
    if (tokens.length === 0) throw invalid(text, 'missing condition')
    const at = { i: 0 }
    const commands = parsePipeline(tokens, at, text)
    if (at.i < tokens.length) throw invalid(text, 'unexpected )')
    return evaluate(commands, scope, h, text)
  }
  let at = 0
  type Part = { sql: string; err?: string }
  /** The parts of the segments up to an {{else}} or {{end}} (left for the caller). */
  const block = (): Part[] => {
    const out: Part[] = []
    for (; at < segments.length; at++) {
      const seg = segments[at]!
      if ('text' in seg) {
        if (seg.text !== '') out.push({ sql: h.bind(seg.text) })
        continue
      }
      const word = keyword(seg)
      if (word === 'else' || word === 'end') return out
      if (word === 'if') {
        out.push(conditional(seg.tokens.slice(1)))
        continue
      }
      if (word && ['range', 'with', 'define', 'template', 'block', 'break', 'continue'].includes(word)) {
        throw unsupported(`template action {{${word}}} (Sluice's templates take labels, __line__, literals, string functions and if/else)`)
      }
      const v = pipeline(seg.tokens)
      out.push({ sql: v.bool ? `if(${v.sql}, 'true', 'false')` : v.time ? goTime(TIME_STRING, v.sql, h) : v.sql, err: v.err })
    }
    return out
  }
  const joined = (parts: Part[]) => concatenated(parts.map((x) => x.sql))
  const failed = (parts: Part[]) => parts.reduce<string | undefined>((e, x) => either(e, x.err), undefined)
  /** {{if c}} … [{{else if c}} … ] [{{else}} …] {{end}}, from just after the {{if}}; `at` ends on its {{end}}. Only the branch taken can fail. */
  const conditional = (condition: Token[]): Part => {
    const c = pipeline(condition)
    const cond = truthy(c)
    at++
    const then = block()
    const seg = segments[at]
    if (!seg || !('tokens' in seg)) throw invalid(text, '{{if}} without {{end}}')
    let otherwise: Part
    if (keyword(seg) === 'end') {
      if (seg.tokens.length > 1) throw invalid(text, '{{end}} takes nothing')
      otherwise = { sql: "''" }
    } else if (seg.tokens[1]?.kind === 'ident' && seg.tokens[1].text === 'if') {
      // {{else if …}}: the rest of the chain, ending on the same {{end}}.
      otherwise = conditional(seg.tokens.slice(2))
    } else {
      if (seg.tokens.length > 1) throw invalid(text, '{{else}} takes nothing but an if')
      at++
      const parts = block()
      const end = segments[at]
      if (!end || keyword(end) !== 'end') throw invalid(text, '{{if}} without {{end}}')
      otherwise = { sql: joined(parts), err: failed(parts) }
    }
    const thenErr = failed(then)
    const branchErr = thenErr || otherwise.err ? `if(${cond}, ${thenErr ?? '0'}, ${otherwise.err ?? '0'})` : undefined
    return { sql: `if(${cond}, ${joined(then)}, ${otherwise.sql})`, err: either(c.err, branchErr) }
  }
  const parts = block()
  if (at < segments.length) throw invalid(text, `{{${keyword(segments[at])}}} without {{if}}`)
  return { sql: joined(parts), error: failed(parts) ?? '0' }
}
