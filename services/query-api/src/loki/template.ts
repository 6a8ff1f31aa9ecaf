// The Go text/template of LogQL's `line_format` and `label_format`, as one ClickHouse String
// expression: text, and actions of labels (`{{.path}}`), the line (`{{__line__}}`), the line's time
// (`{{__timestamp__}}`), literals (strings, integers, floats) and the functions of Loki's template
// function list — strings, case, base64 and URLs, regular expressions, comparisons, sprig's
// arithmetic, times (printed, and parsed with Go layouts) — and text/template's own (len, index,
// slice, print, println, html, urlquery), chained with pipes
// (`{{ .path | replace " " "_" | trunc 5 | upper }}`: each command's result is the last argument of
// the next) or nested in parentheses, if/else if/else and with/else with/else blocks, and
// variables declared with := and assigned again with =, and sprig's fromJson with range over its
// maps and slices (see "JSON values") or an integer, with break and continue. Each function keeps
// Go's (and sprig's) semantics, byte offsets included, over valid UTF-8 text; where Go fails (a
// panic, a function's error) the template's error condition holds. What has none here (a regular
// expression that can match empty text, printf verbs beyond %s %v %d %f %e %t %b %o %O %x %X %c %U,
// a layout naming a zone abbreviation, a template beyond MAX_CALLS ClickHouse calls) is a 400 naming it.
import { SluiceError } from '@sluice/core'
import { expandParts } from '../logql/re2.js'
import { bytesValue, goSeconds, unsupported } from './sql.js'
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
  /** An integer literal as written (Go's int), for arithmetic; `sql` is its text. */
  intText?: string
  /** `sql` is a Go int64 (Int64) or float64 (Float64), as arithmetic answers. */
  num?: 'int' | 'float'
  /** A float literal's value. */
  float?: number
  /** `sql` is a condition (eq, contains, and, …), not a String. */
  bool?: true
  /** `sql` is a time (DateTime64(9), UTC), as __timestamp__ and now give. */
  time?: true
  /** A parsed time: ZERO_SENTINEL stands for Go's zero time. */
  zeroable?: true
  /** A parsed time whose Go location is not UTC (printed as it is, it would name another zone). */
  located?: true
  /** When this condition holds, Go's template fails (a panic, a value a function refuses). */
  err?: string
  /** `sql` is a JSON value as fromJson decodes it (see "JSON values" below). */
  json?: true
  /** A JSON value that can be Go's nil interface ('null', a missing key) until its pipeline ends. */
  maybeNil?: true
  /** A JSON value whose number is a Go int, not a float64: the key of a range over a slice (its index). */
  index?: true
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

// `dot` is `.` itself; a field is `.name`, or `$.name` (root: the labels, whatever `.` is).
// `var` is a variable, `$x` (`$` alone: the root).
// `chain` holds the fields after the first (`.a.b.c`, `$x.a.b`): keys of a fromJson map.
// A field right after `)` (`(fromJson .j).a`, no space between) is a field of the parenthesised
// pipeline's value, as Go's parser chains it: `afterParen`; after a space it is an argument of its own.
type Token = { kind: 'field' | 'ident' | 'string' | 'int' | 'float' | 'dot' | 'var'; text: string; root?: boolean; chain?: string[]; afterParen?: true } | { kind: '|' | '(' | ')' | ':=' | '=' | ','; text: string }
type Operand = { kind: 'field' | 'ident' | 'string' | 'int' | 'float' | 'dot' | 'var'; text: string; root?: boolean; chain?: string[] } | { kind: 'pipeline'; commands: Operand[][]; chain?: string[] }

/**
 * A variable: its value at this point of the template. `{{ $x = … }}` gives it another; one
 * declared again (`{{ $x := … }}` in an inner block) is another variable.
 */
interface Variable {
  name: string
  value: Value
}

/**
 * A template's scope: inside a {{with}}, `.` is the value its pipeline gave; `vars` are the
 * variables declared so far ({{ $x := … }}), each to the end of the block it was declared in.
 */
type Scope = TemplateScope & { dot?: Value; vars?: ReadonlyMap<string, Variable> }

/** The largest count (width, repetition, offset) a template may name. */
export const MAX_COUNT = 100_000
/**
 * The most function calls a template's expressions may hold: about a quarter of ClickHouse's
 * max_ast_elements (50 000), which counts some four elements a call (sprig's float arithmetic
 * writes a few hundred calls a function).
 */
export const MAX_CALLS = 6_000

const invalid = (text: string, why: string) => new SluiceError('VALIDATION_FAILED', `template ${JSON.stringify(text)}: ${why}`)
const throwing = (err: Error): never => {
  throw err
}

/** The fields `.b.c` after a variable or a first field, as a token's chain (none: nothing). */
const fieldChain = (rest: string): { chain?: string[] } => (rest === '' ? {} : { chain: rest.slice(1).split('.') })

function tokenize(action: string, text: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < action.length) {
    const c = action[i]!
    if (/\s/.test(c)) {
      i++
    } else if (c === '|' || c === '(' || c === ')' || c === ',') {
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
    } else if (/^\.(?![\w.])/.test(action.slice(i))) {
      tokens.push({ kind: 'dot', text: '.' })
      i++
    } else if (/^\$\.[A-Za-z_]/.test(action.slice(i))) {
      const word = /^\$\.([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)/.exec(action.slice(i))!
      tokens.push({ kind: 'field', text: word[1]!, root: true, ...fieldChain(word[2]!) })
      i += word[0].length
    } else if (c === '$') {
      const word = /^\$([A-Za-z_][A-Za-z0-9_]*)?((?:\.[A-Za-z_][A-Za-z0-9_]*)*)/.exec(action.slice(i))!
      tokens.push({ kind: 'var', text: word[1] ?? '', ...fieldChain(word[2]!) })
      i += word[0].length
    } else if (action.startsWith(':=', i)) {
      tokens.push({ kind: ':=', text: ':=' })
      i += 2
    } else if (c === '=') {
      tokens.push({ kind: '=', text: '=' })
      i++
    } else {
      // Decimal floats (1.5, .5, 1e3) before integers and fields, as Go's lexer reads a number.
      const float = /^-?(?:\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)(?![\w.])/.exec(action.slice(i))
      const m = float ?? /^(?:(?:\.[A-Za-z_][A-Za-z0-9_]*)+|-?\d+(?![\w.])|[A-Za-z_][A-Za-z0-9_]*)/.exec(action.slice(i))
      if (!m) throw unsupported(`template syntax at ${JSON.stringify(action.slice(i))} in ${JSON.stringify(text)}`)
      const word = m[0]
      if (float) tokens.push({ kind: 'float', text: word })
      else if (word.startsWith('.')) {
        const [first, ...chain] = word.slice(1).split('.')
        // Right after a literal or a function name Go's parser refuses the field or chains it to a
        // call of no arguments: neither is read here.
        const before = i > 0 ? action[i - 1]! : ' '
        if (/[\w"`]/.test(before)) throw unsupported(`template field ${word} right after ${JSON.stringify(action.slice(0, i).split(/\s/).pop())} in ${JSON.stringify(text)}`)
        tokens.push({ kind: 'field', text: first!, ...(chain.length > 0 && { chain }), ...(before === ')' && { afterParen: true as const }) })
      } else tokens.push(/^-?\d/.test(word) ? { kind: 'int', text: word } : { kind: 'ident', text: word })
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
    } else if (t.kind === ':=' || t.kind === '=' || t.kind === ',') {
      throw invalid(text, `unexpected ${t.kind}`)
    } else if (t.kind === '(') {
      const inner = parsePipeline(tokens, at, text)
      if (tokens[at.i]?.kind !== ')') throw invalid(text, 'unclosed (')
      at.i++
      const next = tokens[at.i]
      const chain = next?.kind === 'field' && next.afterParen ? [next.text, ...(next.chain ?? [])] : undefined
      if (chain) at.i++
      commands[commands.length - 1]!.push({ kind: 'pipeline', commands: inner, ...(chain && { chain }) })
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
  /** A value bound as a ClickHouse type (Int64, Float64). */
  typed(v: string, type: string): string
  /** A String constant of this module (a pattern, a table), bound once per template. */
  constant(v: string): string
  /** A literal string argument (patterns, prefixes, formats must be written out). */
  text(v: Value, what: string): string
  int(v: Value, what: string): number
  /** A whole number, not negative (Go panics on a negative width or count). */
  natural(v: Value, what: string): number
}

const trimmed = (re: string) => (src: string, h: Helpers) => `replaceRegexpAll(${src}, ${h.bind(re)}, '')`
const both = (cls: string) => `^${cls}+|${cls}+$`

const FUNCTIONS: Record<string, Fn> = {
  lower: { arity: 1, apply: ([s], h) => goCase(s!.sql, LOWER, h) },
  ToLower: { arity: 1, apply: ([s], h) => goCase(s!.sql, LOWER, h) },
  upper: { arity: 1, apply: ([s], h) => goCase(s!.sql, UPPER, h) },
  ToUpper: { arity: 1, apply: ([s], h) => goCase(s!.sql, UPPER, h) },
  title: { arity: 1, apply: ([s], h) => goTitle(s!.sql, h) },
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
  b64dec: { arity: 1, apply: ([s], h) => b64dec(s!.sql, h) },
  // url.QueryEscape / QueryUnescape; a % without two hex digits fails Go's unescaping.
  urlencode: { arity: 1, apply: ([s]) => `encodeURLFormComponent(${s!.sql})` },
  urldecode: {
    arity: 1,
    apply: ([s], h) => ({ sql: `decodeURLFormComponent(${s!.sql})`, err: `NOT match(${s!.sql}, ${h.constant('^(?:[^%]|%[0-9A-Fa-f]{2})*$')})` }),
  },
  indent: { arity: 2, apply: ([n, s], h) => indent(h.natural(n!, 'indent: the width'), s!.sql, h) },
  nindent: { arity: 2, apply: ([n, s], h) => `concat('\\n', ${indent(h.natural(n!, 'nindent: the width'), s!.sql, h)})` },
  // Loki's own (regex, src, replacement), Go's Regexp.ReplaceAllString and ReplaceAllLiteralString.
  regexReplaceAll: {
    arity: 3,
    apply: ([re, src, repl], h) => {
      const r = clickhouseRegexp(h.text(re!, 'regexReplaceAll: the pattern'), 'regexReplaceAll')
      const to = expansion(h.text(repl!, 'regexReplaceAll: the replacement'), r, 'regexReplaceAll')
      return `replaceRegexpAll(${src!.sql}, ${h.bind(r.pattern)}, ${h.bind(to)})`
    },
  },
  regexReplaceAllLiteral: {
    arity: 3,
    apply: ([re, src, repl], h) => {
      const r = clickhouseRegexp(h.text(re!, 'regexReplaceAllLiteral: the pattern'), 'regexReplaceAllLiteral')
      const to = repl!.text !== undefined ? h.bind(repl!.text.replaceAll('\\', '\\\\')) : `replaceAll(${repl!.sql}, ${h.constant('\\')}, ${h.constant('\\\\')})`
      return `replaceRegexpAll(${src!.sql}, ${h.bind(r.pattern)}, ${to})`
    },
  },
}

function cutTrim(s: Value, cutset: string, side: 'both' | 'left' | 'right', h: Helpers): string {
  if (cutset === '') return s.sql
  const cls = cutsetClass(cutset)
  return trimmed(side === 'both' ? both(cls) : side === 'left' ? `^${cls}+` : `${cls}+$`)(s.sql, h)
}
const withoutPrefix = (s: string, p: string) => `if(startsWith(${s}, ${p}), substring(${s}, length(${p}) + 1), ${s})`
const withoutSuffix = (s: string, p: string) => `if(endsWith(${s}, ${p}), substring(${s}, 1, length(${s}) - length(${p})), ${s})`

// ---- case, base64, URLs --------------------------------------------------------------------------
// Go maps case one code point at a time with Unicode 15's simple mappings (unicode.ToUpper,
// ToLower, ToTitle); ClickHouse's upperUTF8/lowerUTF8 use ICU's full, newer mappings (ß → SS,
// İ → i̇, a final Σ → ς). The code points where the two differ, found by comparing every code point,
// are mapped here as Go maps them: [first, last, what Go adds to each].
type CaseRanges = readonly (readonly [number, number, number])[]
const GREEK_EXTENDED: CaseRanges = [
  [0x1f50, 0x1f50, 0], [0x1f52, 0x1f52, 0], [0x1f54, 0x1f54, 0], [0x1f56, 0x1f56, 0], [0x1f80, 0x1f87, 8], [0x1f88, 0x1f8f, 0],
  [0x1f90, 0x1f97, 8], [0x1f98, 0x1f9f, 0], [0x1fa0, 0x1fa7, 8], [0x1fa8, 0x1faf, 0], [0x1fb2, 0x1fb2, 0], [0x1fb3, 0x1fb3, 9],
  [0x1fb4, 0x1fb4, 0], [0x1fb6, 0x1fb7, 0], [0x1fbc, 0x1fbc, 0], [0x1fc2, 0x1fc2, 0], [0x1fc3, 0x1fc3, 9], [0x1fc4, 0x1fc4, 0],
  [0x1fc6, 0x1fc7, 0], [0x1fcc, 0x1fcc, 0], [0x1fd2, 0x1fd3, 0], [0x1fd6, 0x1fd7, 0], [0x1fe2, 0x1fe4, 0], [0x1fe6, 0x1fe7, 0],
  [0x1ff2, 0x1ff2, 0], [0x1ff3, 0x1ff3, 9], [0x1ff4, 0x1ff4, 0], [0x1ff6, 0x1ff7, 0], [0x1ffc, 0x1ffc, 0],
]
const UPPER_NEWER: CaseRanges = [
  [0xa7cd, 0xa7cd, 0], [0xa7cf, 0xa7cf, 0], [0xa7d3, 0xa7d3, 0], [0xa7d5, 0xa7d5, 0], [0xa7db, 0xa7db, 0], [0xfb00, 0xfb06, 0],
  [0xfb13, 0xfb17, 0], [0x10d70, 0x10d85, 0], [0x16ebb, 0x16ed3, 0],
]
const UPPER_EXCEPTIONS: CaseRanges = [
  [0xdf, 0xdf, 0], [0x149, 0x149, 0], [0x19b, 0x19b, 0], [0x1f0, 0x1f0, 0], [0x264, 0x264, 0], [0x390, 0x390, 0], [0x3b0, 0x3b0, 0],
  [0x587, 0x587, 0], [0x1c8a, 0x1c8a, 0], [0x1e96, 0x1e9a, 0], ...GREEK_EXTENDED, ...UPPER_NEWER,
]
const LOWER_EXCEPTIONS: CaseRanges = [
  [0x130, 0x130, -199], [0x3a3, 0x3a3, 32], [0x1c89, 0x1c89, 0], [0xa7cb, 0xa7cc, 0], [0xa7ce, 0xa7ce, 0], [0xa7d2, 0xa7d2, 0],
  [0xa7d4, 0xa7d4, 0], [0xa7da, 0xa7da, 0], [0xa7dc, 0xa7dc, 0], [0x10d50, 0x10d65, 0], [0x16ea0, 0x16eb8, 0],
]
const TITLE_EXCEPTIONS: CaseRanges = [
  [0xdf, 0xdf, 0], [0x149, 0x149, 0], [0x19b, 0x19b, 0], [0x1c4, 0x1c4, 1], [0x1c5, 0x1c5, 0], [0x1c6, 0x1c6, -1],
  [0x1c7, 0x1c7, 1], [0x1c8, 0x1c8, 0], [0x1c9, 0x1c9, -1], [0x1ca, 0x1ca, 1], [0x1cb, 0x1cb, 0], [0x1cc, 0x1cc, -1],
  [0x1f0, 0x1f0, 0], [0x1f1, 0x1f1, 1], [0x1f2, 0x1f2, 0], [0x1f3, 0x1f3, -1], [0x264, 0x264, 0], [0x390, 0x390, 0],
  [0x3b0, 0x3b0, 0], [0x587, 0x587, 0], [0x10d0, 0x10fa, 0], [0x10fd, 0x10ff, 0], [0x1c8a, 0x1c8a, 0], [0x1e96, 0x1e9a, 0],
  ...GREEK_EXTENDED, ...UPPER_NEWER,
]

/** A case mapping: the exceptions as an RE2 class, and as the from/to strings of a transform. */
interface CaseMap {
  fn: 'upperUTF8' | 'lowerUTF8'
  cls: string
  from: string
  to: string
}
function caseMap(fn: CaseMap['fn'], ranges: CaseRanges): CaseMap {
  let cls = ''
  let from = ''
  let to = ''
  for (const [lo, hi, delta] of ranges) {
    cls += lo === hi ? `\\x{${lo.toString(16)}}` : `\\x{${lo.toString(16)}}-\\x{${hi.toString(16)}}`
    for (let c = lo; c <= hi; c++) {
      from += String.fromCodePoint(c)
      to += String.fromCodePoint(c + delta)
    }
  }
  return { fn, cls: `[${cls}]`, from, to }
}
const UPPER = caseMap('upperUTF8', UPPER_EXCEPTIONS)
const LOWER = caseMap('lowerUTF8', LOWER_EXCEPTIONS)
const TITLE = caseMap('upperUTF8', TITLE_EXCEPTIONS)

/** A code point (a one-character String) as Go maps it. */
const mappedChar = (c: string, m: CaseMap, h: Helpers) =>
  `if(match(${c}, ${h.constant(`^${m.cls}$`)}), transform(${c}, extractAll(${h.constant(m.from)}, '.'), extractAll(${h.constant(m.to)}, '.'), ${c}), ${m.fn}(${c}))`

/** strings.ToUpper / ToLower over valid UTF-8: ClickHouse's mapping, but where Go's differs. */
const goCase = (s: string, m: CaseMap, h: Helpers) =>
  `if(match(${s}, ${h.constant(m.cls)}), arrayStringConcat(arrayMap(x -> ${mappedChar('x', m, h)}, extractAll(${s}, ${h.constant(`(?s)${m.cls}|[^${m.cls.slice(1)}+`)}))), ${m.fn}(${s}))`

// strings.Title's separators: ASCII but letters, digits and _; beyond ASCII, Unicode's spaces.
const SEPARATOR = '[\\x00-\\x2f\\x3a-\\x40\\x5b-\\x5e\\x60\\x7b-\\x7f\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}]'
/** strings.Title: the first letter of each word (after a separator, or first) as unicode.ToTitle maps it. */
const goTitle = (s: string, h: Helpers) =>
  `arrayStringConcat(arrayMap(x -> if(match(x, ${h.constant(`^${SEPARATOR}`)}), x, concat(${mappedChar('substringUTF8(x, 1, 1)', TITLE, h)}, substringUTF8(x, 2))), extractAll(${s}, ${h.constant(`(?s)${SEPARATOR}+|[^${SEPARATOR.slice(1)}+`)})))`

/**
 * sprig's b64dec: base64.StdEncoding.DecodeString, which skips \r and \n and needs the padding;
 * on bad input sprig prints the error, "illegal base64 data at input byte N", N as Go's decoder
 * counts it (the first bad byte, a misplaced =, trailing data after the padding, or the end).
 */
function b64dec(s: string, h: Helpers): string {
  const t = `replaceRegexpAll(${s}, ${h.constant('[\\r\\n]')}, '')`
  const valid = `match(${t}, ${h.constant('^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$')})`
  // Where Go's decoder stops: k, the first byte of t outside the alphabet; offsets are in s, where
  // the skipped newlines count (positions of t's bytes in s only when s has any).
  const len = `length(${t})`
  const k = `length(extract(${t}, ${h.constant('^[A-Za-z0-9+/]*')}))`
  const at = (i: string) => `substring(${t}, ${i} + 1, 1)`
  const inS = (i: string) => `if(${len} = length(${s}), ${i}, arrayFilter(x -> NOT substring(${s}, x, 1) IN ('\\r', '\\n'), range(1, length(${s}) + 1))[${i} + 1] - 1)`
  const offset = `multiIf(${k} = ${len}, length(${s}) - ${len} % 4, ${at(k)} != '=' OR ${k} % 4 < 2, ${inS(k)}, ${k} % 4 = 3, ${inS(`${k} + 1`)}, ${k} + 1 = ${len}, length(${s}), ${at(`${k} + 1`)} != '=', ${inS(`${k} + 1`)} - 1, ${inS(`${k} + 2`)})`
  return `if(${valid}, base64Decode(if(${valid}, ${t}, '')), concat('illegal base64 data at input byte ', toString(${offset})))`
}

const indent = (n: number, s: string, h: Helpers) => {
  const pad = h.bind(' '.repeat(n))
  return `concat(${pad}, replaceAll(${s}, '\\n', concat('\\n', ${pad})))`
}

// ---- regular expressions -------------------------------------------------------------------------
// Go's regexp and ClickHouse's RE2 read the same syntax with the same leftmost-first matches, but
// for three things handled here: ClickHouse's `.` also matches a newline (so every pattern runs
// inside `(?-s:…)`, Go's default); after an empty match the two resume differently (so a pattern
// that can match empty text is refused); and ClickHouse's replacement reads \0–\9 where Go reads
// $1, ${name} (translated, or refused beyond \9). The checker below accepts the syntax both read
// alike and refuses the rest (octal escapes, \C, \Z, look-arounds, nested repetitions).

interface GoRegexp {
  /** Capturing groups, and the number of each named one. */
  groups: number
  names: Map<string, number>
}

const PERL_CLASSES = 'dDsSwW'
const POSIX_CLASSES = new Set(['alnum', 'alpha', 'ascii', 'blank', 'cntrl', 'digit', 'graph', 'lower', 'print', 'punct', 'space', 'upper', 'word', 'xdigit'])
// Go's (1.24, Unicode 15) unicode.Categories and Scripts, and "Any": what \p{…} may name.
const CATEGORIES = 'Any C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs'
const SCRIPTS =
  'Adlam Ahom Anatolian_Hieroglyphs Arabic Armenian Avestan Balinese Bamum Bassa_Vah Batak Bengali ' +
  'Bhaiksuki Bopomofo Brahmi Braille Buginese Buhid Canadian_Aboriginal Carian Caucasian_Albanian ' +
  'Chakma Cham Cherokee Chorasmian Common Coptic Cuneiform Cypriot Cypro_Minoan Cyrillic Deseret ' +
  'Devanagari Dives_Akuru Dogra Duployan Egyptian_Hieroglyphs Elbasan Elymaic Ethiopic Georgian ' +
  'Glagolitic Gothic Grantha Greek Gujarati Gunjala_Gondi Gurmukhi Han Hangul Hanifi_Rohingya ' +
  'Hanunoo Hatran Hebrew Hiragana Imperial_Aramaic Inherited Inscriptional_Pahlavi ' +
  'Inscriptional_Parthian Javanese Kaithi Kannada Katakana Kawi Kayah_Li Kharoshthi ' +
  'Khitan_Small_Script Khmer Khojki Khudawadi Lao Latin Lepcha Limbu Linear_A Linear_B Lisu Lycian ' +
  'Lydian Mahajani Makasar Malayalam Mandaic Manichaean Marchen Masaram_Gondi Medefaidrin ' +
  'Meetei_Mayek Mende_Kikakui Meroitic_Cursive Meroitic_Hieroglyphs Miao Modi Mongolian Mro Multani ' +
  'Myanmar Nabataean Nag_Mundari Nandinagari New_Tai_Lue Newa Nko Nushu Nyiakeng_Puachue_Hmong ' +
  'Ogham Ol_Chiki Old_Hungarian Old_Italic Old_North_Arabian Old_Permic Old_Persian Old_Sogdian ' +
  'Old_South_Arabian Old_Turkic Old_Uyghur Oriya Osage Osmanya Pahawh_Hmong Palmyrene Pau_Cin_Hau ' +
  'Phags_Pa Phoenician Psalter_Pahlavi Rejang Runic Samaritan Saurashtra Sharada Shavian Siddham ' +
  'SignWriting Sinhala Sogdian Sora_Sompeng Soyombo Sundanese Syloti_Nagri Syriac Tagalog Tagbanwa ' +
  'Tai_Le Tai_Tham Tai_Viet Takri Tamil Tangsa Tangut Telugu Thaana Thai Tibetan Tifinagh Tirhuta ' +
  'Toto Ugaritic Vai Vithkuqi Wancho Warang_Citi Yezidi Yi Zanabazar_Square '
const UNICODE_CLASSES = new Set(`${CATEGORIES} ${SCRIPTS}`.split(' ').filter(Boolean))

/**
 * A Go regular expression as both engines read it: its groups, and whether it can match empty
 * text. Throws a 400 naming what it refuses.
 */
function goRegexp(re: string, fn: string): GoRegexp & { nullable: boolean } {
  const refuse = (why: string) => unsupported(`template ${fn} pattern ${JSON.stringify(re)}: ${why}`)
  if (/[\uD800-\uDFFF]/.test(re.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) throw refuse('a lone surrogate')
  const cps = [...re]
  let i = 0
  let groups = 0
  const names = new Map<string, number>()
  const peek = (k = 0) => cps[i + k]
  /** A code point written with an escape inside or outside a class; undefined for a class escape (\d, \pL). */
  const escape = (inClass: boolean): number | undefined => {
    const c = cps[i + 1]
    if (c === undefined) throw refuse('a trailing backslash')
    i += 2
    if (PERL_CLASSES.includes(c)) return undefined
    if (c === 'p' || c === 'P') {
      let name: string
      if (peek() === '{') {
        const close = cps.indexOf('}', i)
        if (close < 0) throw refuse('an unclosed \\p{')
        name = cps.slice(i + 1, close).join('')
        i = close + 1
      } else {
        name = peek() ?? ''
        i++
      }
      const bare = name.startsWith('^') ? name.slice(1) : name
      if (!UNICODE_CLASSES.has(bare)) throw refuse(`the class \\p{${name}}`)
      return undefined
    }
    const simple: Record<string, number> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 }
    if (c in simple) return simple[c]
    if (c === 'x') {
      const m = peek() === '{' ? /^\{([0-9a-fA-F]{1,6})\}/.exec(cps.slice(i, i + 9).join('')) : /^[0-9a-fA-F]{2}/.exec(cps.slice(i, i + 2).join(''))
      if (!m) throw refuse('a malformed \\x escape')
      i += m[0].length
      const cp = parseInt(m[1] ?? m[0], 16)
      if (cp > 0x10ffff) throw refuse('a code point beyond U+10FFFF')
      return cp
    }
    if (!inClass && 'bBAz'.includes(c)) return -1
    // Escaped ASCII punctuation (and space, _) is itself in both.
    if (/^[ -/:-@[-`{-~]$/.test(c)) return c.codePointAt(0)
    throw refuse(`the escape \\${c}`)
  }
  const charClass = () => {
    i++ // [
    if (peek() === '^') i++
    let first = true
    while (true) {
      const c = peek()
      if (c === undefined) throw refuse('an unclosed [')
      if (c === ']' && !first) break
      first = false
      let lo: number | undefined
      if (c === '[' && peek(1) === ':') {
        const m = /^\[:\^?([a-z]+):\]/.exec(cps.slice(i, i + 12).join(''))
        if (!m || !POSIX_CLASSES.has(m[1]!)) throw refuse('an unknown [:class:]')
        i += m[0].length
        continue
      } else if (c === '\\') {
        lo = escape(true)
        if (lo === undefined) continue
      } else {
        lo = c.codePointAt(0)!
        i++
      }
      if (peek() === '-' && peek(1) !== ']' && peek(1) !== undefined) {
        i++
        const h = peek()!
        const hi = h === '\\' ? escape(true) : (i++, h.codePointAt(0)!)
        if (hi === undefined || hi < lo) throw refuse('a bad range in a class')
      }
    }
    i++ // ]
  }
  /** {n}, {n,}, {n,m} at i, or undefined when the { is a literal. */
  const repeat = (): number | undefined => {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(cps.slice(i, i + 12).join(''))
    if (!m) return undefined
    const min = Number(m[1])
    const max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3])
    if (min > 1000 || max > 1000 || (max >= 0 && max < min)) throw refuse(`the repetition ${m[0]}`)
    i += m[0].length
    return min
  }
  /** alternation; returns whether it can match empty text. */
  const alternation = (depth: number): boolean => {
    let nullable = concatenation(depth)
    while (peek() === '|') {
      i++
      nullable = concatenation(depth) || nullable
    }
    return nullable
  }
  const concatenation = (depth: number): boolean => {
    let nullable = true
    while (i < cps.length && peek() !== '|' && peek() !== ')') {
      const c = peek()!
      let atom: boolean // can match empty text
      let assertion = false
      if (c === '(') {
        const rest = cps.slice(i, i + 200).join('')
        if (rest.startsWith('(?')) {
          const flags = /^\(\?([imsU]*)(?:-([imsU]+))?([:)])/.exec(rest)
          const named = /^\(\?P?<([A-Za-z0-9_]+)>/.exec(rest)
          if (flags?.[3] === ')' && (flags[1] || flags[2])) {
            // (?i): flags for the rest of the group, no atom.
            i += flags[0].length
            continue
          }
          if (flags?.[3] === ':') {
            i += flags[0].length
          } else if (named) {
            if (names.has(named[1]!)) throw refuse(`the group name ${named[1]} twice`)
            names.set(named[1]!, ++groups)
            i += named[0].length
          } else {
            throw refuse(`the group ${rest.slice(0, 4)}…`)
          }
        } else {
          groups++
          i++
        }
        atom = alternation(depth + 1)
        if (peek() !== ')') throw refuse('an unclosed (')
        i++
      } else if (c === '[') {
        charClass()
        atom = false
      } else if (c === '\\') {
        if (peek(1) === 'Q') {
          const end = cps.indexOf('\\', i + 2)
          const close = end >= 0 && cps[end + 1] === 'E' ? end : -1
          if (close < 0 && cps.slice(i + 2).includes('\\')) throw refuse('a backslash inside \\Q…\\E')
          const quoted = close < 0 ? cps.length - (i + 2) : close - (i + 2)
          i = close < 0 ? cps.length : close + 2
          atom = quoted === 0
        } else {
          const cp = escape(false)
          assertion = cp === -1
          atom = assertion
        }
      } else if (c === '^' || c === '$') {
        i++
        atom = true
        assertion = true
      } else if ('*+?'.includes(c) || (c === '{' && repeat() !== undefined)) {
        throw refuse('a repetition of nothing')
      } else {
        i++
        atom = false
      }
      // A quantifier, then at most a ? that makes it lazy; a second quantifier Go refuses.
      const q = peek()
      let min: number | undefined
      if (q === '*' || q === '?' || q === '+') {
        i++
        min = q === '+' ? 1 : 0
      } else if (q === '{') {
        min = repeat()
      }
      if (min !== undefined) {
        if (assertion) throw refuse('a repetition of an assertion')
        if (peek() === '?') i++
        const again = peek()
        if (again === '*' || again === '+' || again === '?' || (again === '{' && /^\{\d+(,\d*)?\}/.test(cps.slice(i, i + 12).join('')))) throw refuse('a nested repetition')
        atom = atom || min === 0
      }
      nullable = nullable && atom
    }
    if (depth === 0 && peek() === ')') throw refuse('an unmatched )')
    return nullable
  }
  const nullable = alternation(0)
  return { groups, names, nullable }
}

/** Go's Regexp.Expand template ($1, ${1}, $name, ${name}, $$) as ClickHouse's replacement (\1, \\). */
function expansion(template: string, re: GoRegexp, fn: string): string {
  let out = ''
  const group = (n: number) => {
    if (n > 9) throw unsupported(`template ${fn} replacement ${JSON.stringify(template)}: group ${n} (ClickHouse reads \\0 to \\9)`)
    out += `\\${n}`
  }
  for (const part of expandParts(template)) {
    if ('text' in part) out += part.text.replaceAll('\\', '\\\\')
    else if ('group' in part) {
      if (part.group <= re.groups) group(part.group)
    } else if (re.names.has(part.name)) group(re.names.get(part.name)!)
  }
  return out
}

/** A pattern ClickHouse runs as Go does; one that can match empty text is refused. */
function clickhouseRegexp(re: string, fn: string): GoRegexp & { pattern: string } {
  const parsed = goRegexp(re, fn)
  if (parsed.nullable) throw unsupported(`template ${fn} pattern ${JSON.stringify(re)}: a pattern that can match empty text (Go and ClickHouse resume differently after an empty match)`)
  return { ...parsed, pattern: `(?-s:${re})` }
}

// ---- numbers ------------------------------------------------------------------------------------
// sprig's arithmetic takes anything and converts it with spf13/cast: a label (a string) through
// cast.ToInt64 (strconv.ParseInt base 0 after a trailing ".0…" is cut: "0x1F", "010" octal, "1_000";
// anything else, or out of range, is 0) or cast.ToFloat64 (strconv.ParseFloat: "1e3", "inf", hex
// "0x1p-2"; anything else, or out of range, is 0). add/sub/mul/div/mod/max/min answer Go int64s
// (wrapping as Go does, dividing by zero fails); addf/subf/mulf/divf convert each float64 to its
// shortest decimal and compute exactly in decimals (divf to 16 places, half away from zero) before
// the nearest float64, as shopspring/decimal does. Here that is Int256: a sum keeps 73 places below
// its first digit and a sticky one, a product is exact while its digits fit 75, a quotient too
// large for them keeps 56 digits and a sticky one (beyond those, the float64 operation stands in).
// A number prints as Go's fmt prints it (a float64 as strconv's shortest 'g': 0.30000000000000004,
// 1e+06, +Inf).
//
// Each lambda costs ClickHouse about a millisecond to analyse: `bound` names what would otherwise
// be written out many times (a label's conversion), small pieces are written out.

/** `body` over `values`, each computed once: a lambda (ClickHouse has no let). */
let lambdas = 0
function bound(values: string[], body: (...names: string[]) => string): string {
  const names = values.map(() => `_v${lambdas++}`)
  return `arrayMap((${names.join(', ')}) -> ${body(...names)}, ${values.map((v) => `[${v}]`).join(', ')})[1]`
}

const INT64_MIN = '-9223372036854775808'
// Go's ParseInt, base 0: a sign, then a 0x/0o/0b prefix, a leading 0 (octal) or a decimal; _ between digits.
const GO_INT = '^[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+|0[oO](?:_?[0-7])+|0(?:_?[0-7])*|[1-9](?:_?[0-9])*)$'
// Go's ParseFloat: decimal (digits and _ between them, a point, an exponent), hex with a p exponent, inf, nan.
const DIGITS = '[0-9]+(?:_[0-9]+)*'
const HEX_DIGITS = '[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*'
const GO_FLOAT = `^[+-]?(?:${DIGITS}(?:\\.(?:${DIGITS})?)?|\\.${DIGITS})(?:[eE][+-]?${DIGITS})?$`
const GO_HEX_FLOAT = `^[+-]?0[xX](?:_?${HEX_DIGITS}(?:\\.(?:${HEX_DIGITS})?)?|\\.${HEX_DIGITS})[pP][+-]?${DIGITS}$`

/** cast.ToInt64 of a String expression. */
function stringToInt64(s: string, h: Helpers): string {
  return bound([s], (v) => {
    // trimZeroDecimal: "5.00" → "5" (and, as it scans from the end past points, "5.0." → "5").
    const points = `trimRight(${v}, '.')`
    const zeros = `trimRight(${points}, '0')`
    const cut = `if(length(${zeros}) < length(${points}) AND endsWith(${zeros}, '.'), substring(${zeros}, 1, length(${zeros}) - 1), ${v})`
    return bound([cut], (t) => {
      const fast = `match(${t}, '^[+-]?(?:0|[1-9][0-9]{0,17})$')`
      // ClickHouse computes both branches of an if: the slow one reads '' where the fast one answers.
      const u = `if(${fast}, '', ${t})`
      const slow = bound([`replaceRegexpOne(${u}, '^[+-]', '')`, `match(${u}, ${h.constant(GO_INT)})`, `startsWith(${u}, '-')`], (body, valid, neg) => {
        const base = `multiIf(match(${body}, '^0[xX]'), 16, match(${body}, '^0[bB]'), 2, startsWith(${body}, '0'), 8, 10)`
        const d = `trimLeft(replaceAll(replaceRegexpOne(${body}, '^0[xXbBoO]', ''), '_', ''), '0')`
        return bound([base, d], (b, d) => {
          // At most 64 bits of digits, read as a UInt128: hex and binary by unhex/unbin, octal as binary.
          const fits = `length(${d}) <= multiIf(${b} = 16, 16, ${b} = 8, 22, ${b} = 2, 64, 20)`
          const digits = `if(${fits}, ${d}, '')`
          const octal = [...'01234567'].reduce((x, c, i) => `replaceAll(${x}, '${'abcdefgh'[i]}', '${i.toString(2).padStart(3, '0')}')`, `translate(${digits}, '01234567', 'abcdefgh')`)
          const bits = (x: string) => `reinterpretAsUInt128(reverse(unbin(leftPad(${x}, 128, '0'))))`
          const value = `multiIf(${b} = 16, reinterpretAsUInt128(reverse(unhex(leftPad(${digits}, 32, '0')))), ${b} = 2, ${bits(digits)}, ${b} = 8, ${bits(octal)}, toUInt128OrZero(${digits}))`
          return bound([value], (n) => `toInt64(if(${valid} AND ${fits} AND ${n} <= if(${neg}, 9223372036854775808, 9223372036854775807), if(${neg}, -toInt128(${n}), toInt128(${n})), 0))`)
        })
      })
      return `if(${fast}, toInt64OrZero(${t}), ${slow})`
    })
  })
}

/** Go's int64(f) on amd64: truncated; NaN and what int64 cannot hold give the smallest int64. */
const floatToInt64 = (f: string) => bound([f], (x) => `if(${x} >= ${INT64_MIN}. AND ${x} < 9223372036854775808., toInt64(if(${x} >= ${INT64_MIN}. AND ${x} < 9223372036854775808., ${x}, 0)), ${INT64_MIN})`)

/** cast.ToFloat64 of a String expression. */
function stringToFloat64(s: string, h: Helpers): string {
  return bound([s], (v) => {
    const plain = `replaceAll(${v}, '_', '')`
    const hex = `match(${v}, ${h.constant(GO_HEX_FLOAT)})`
    return bound([`multiIf(match(${v}, ${h.constant(GO_FLOAT)}), toFloat64OrZero(${plain}), ${hex}, ${hexFloat(`if(${hex}, ${plain}, '')`)}, 0.)`], (x) =>
      // Out of range is a ParseFloat error: 0; written infinities and NaN are read.
      `multiIf(match(${v}, ${h.constant('^(?i:[+-]?inf(?:inity)?)$')}), if(startsWith(${v}, '-'), -inf, inf), match(${v}, ${h.constant('^(?i:nan)$')}), nan, isInfinite(${x}), 0., ${x})`,
    )
  })
}

/**
 * A hex float (validated, no _) as ParseFloat reads it: the first 16 significant hex digits (a
 * later non-zero one rounds as a sticky bit), scaled by its power of two. Exact where the result
 * is a normal float64; a subnormal one may be rounded twice.
 */
function hexFloat(u: string): string {
  return bound([`replaceRegexpOne(${u}, '^[+-]?0[xX]', '')`], (b) => {
    const mant = `extract(${b}, '^([0-9a-fA-F.]*)[pP]')`
    const expDigits = `extract(${b}, '[pP][+-]?0*([0-9]+)$')`
    const digits = `trimLeft(replaceAll(${mant}, '.', ''), '0')`
    const frac = `if(position(${mant}, '.') > 0, splitByChar('.', ${mant})[2], '')`
    const exp = `if(length(${expDigits}) > 6, 1000000, toInt64OrZero(${expDigits})) * if(match(${b}, '[pP]-'), -1, 1)`
    const sticky = `if(trimRight(substring(${digits}, 17), '0') = '', 0, 1)`
    const m = `toFloat64(bitOr(reinterpretAsUInt64(reverse(unhex(leftPad(substring(${digits}, 1, 16), 16, '0')))), ${sticky}))`
    const k = `greatest(-3300, least(3300, ${exp} - 4 * length(${frac}) + 4 * greatest(length(${digits}) - 16, 0)))`
    return `if(startsWith(${u}, '-'), -1, 1) * ${m} * exp2(intDiv(${k}, 3)) * exp2(intDiv(${k}, 3)) * exp2(${k} - 2 * intDiv(${k}, 3))`
  })
}

/** The shortest digits of a float64 printed by toString (1.25e-7, 1250000, 0.00125): [digits, power of ten of the first]. */
function shortest(a: string): [string, string] {
  const m = `splitByChar('e', ${a})[1]`
  const all = `replaceAll(${m}, '.', '')`
  const e10 = `if(position(${a}, 'e') > 0, toInt32(splitByChar('e', ${a})[2]), 0)`
  return [`trimRight(trimLeft(${all}, '0'), '0')`, `${e10} + length(splitByChar('.', ${m})[1]) - 1 - (length(${all}) - length(trimLeft(${all}, '0')))`]
}

/** A float64 as Go's %v prints it: strconv's shortest digits, in %e form below 1e-4 and from 1e6 on. */
function floatText(f: string): string {
  return bound([f], (x) => {
    // ClickHouse prints the same shortest digits: to d.ddde±XX.
    const exponential = bound(shortest(`toString(abs(${x}))`), (digits, exp) => `concat(if(${x} < 0, '-', ''), substring(${digits}, 1, 1), if(length(${digits}) > 1, concat('.', substring(${digits}, 2)), ''), 'e', if(${exp} < 0, '-', '+'), if(abs(${exp}) < 10, '0', ''), toString(abs(${exp})))`)
    return `multiIf(isNaN(${x}), 'NaN', isInfinite(${x}), if(${x} > 0, '+Inf', '-Inf'), ${x} = 0 OR (abs(${x}) >= 0.0001 AND abs(${x}) < 1e6), toString(${x}), ${exponential})`
  })
}

// shopspring/decimal's arithmetic over tuples (coefficient Int256, exponent, digits) of exact decimals.
/** NewFromFloat of a Float64 (0 for NaN and infinities, which fail): its shortest digits, as ClickHouse prints them too. */
const decimal = (x: string) => {
  const [digits, first] = shortest(`toString(abs(if(isFinite(${x}), ${x}, 0)))`)
  return `tuple(toInt256(if(${digits} = '', '0', ${digits})) * if(${x} < 0, -1, 1), toInt64(${first} - length(${digits}) + 1), toInt64(length(${digits})))`
}
const coef = (d: string) => `tupleElement(${d}, 1)`
const expOf = (d: string) => `tupleElement(${d}, 2)`
const digitsOf = (d: string) => `tupleElement(${d}, 3)`
/** 10^k as an Int256, k in 0..75 (1 where `ok` does not hold: nothing out of range is built on any row). */
const pow10 = (k: string, ok: string) => `toInt256(concat('1', repeat('0', toUInt64(greatest(0, least(75, if(${ok}, ${k}, 0)))))))`
/** An exact decimal (coefficient, exponent) as the nearest float64, as big.Rat.Float64 gives it. */
const nearest = (c: string, e: string) => `toFloat64(concat(toString(${c}), 'e', toString(${e})))`

/**
 * A float operation over values each written once: `op` of their names, and the condition under
 * which Go fails: NewFromFloat panics on NaN and infinities (`decimal`), a decimal division on a
 * zero divisor (`zero`).
 */
function floatOp(args: Value[], h: Helpers, name: string, op: (xs: string[]) => string, fails: { decimal?: boolean; zero?: boolean } = {}): { sql: string; err?: string } {
  const fs = args.map((a) => asFloat64(a, h, name))
  if (fs.length === 0) return { sql: op([]) }
  const sql = bound(fs, (...xs) => op(xs))
  if (!fails.decimal) return { sql }
  // A label converts to NaN or an infinity only when it says so (out of range is 0): no conversion needed.
  const special = args.map((a, i) =>
    a.num === 'float' ? `NOT isFinite(${fs[i]})` : a.num || a.intText !== undefined || a.bool ? '' : `match(${a.sql}, ${h.constant('^(?i:[+-]?inf(?:inity)?|nan)$')})`,
  )
  const zero = fails.zero ? fs.slice(1).map((f) => `${f} = 0`) : []
  const err = [...special, ...zero].filter(Boolean)
  return err.length ? { sql, err: err.join(' OR ') } : { sql }
}

/**
 * addf/subf over float64 names: the first term, then the others added (signs[i] = 1) or subtracted
 * (-1). The digits within 73 places of the largest term's first are summed exactly; what lies
 * below them stands as a sticky digit of its sign (it can move the nearest float64 only from a tie).
 * Where those parts cancel down to fewer than 40 digits, or have both signs, the float64 sum stands in.
 */
function decimalSum(xs: string[], signs: number[]): string {
  if (xs.length === 0) return '0.'
  return bound(xs.map(decimal), (...ds) =>
    bound(
      [
        `least(${ds.map((d) => `if(${digitsOf(d)} = 0, 100000, ${expOf(d)})`).join(', ')})`,
        `greatest(${ds.map((d) => `if(${digitsOf(d)} = 0, -100000, ${expOf(d)} + ${digitsOf(d)})`).join(', ')})`,
      ],
      (lo, hi) =>
        bound([`greatest(${lo}, ${hi} - 73)`], (low) => {
          // Each term's part from 10^low up, exact, and the sign of what it has below.
          const signed = (d: string, i: number) => (signs[i]! < 0 ? `-${coef(d)}` : coef(d))
          const shift = (d: string) => `${expOf(d)} - ${low}`
          const parts = ds.map((d, i) => `if(${shift(d)} >= 0, ${signed(d, i)} * ${pow10(shift(d), `${shift(d)} >= 0`)}, intDiv(${signed(d, i)}, ${pow10(`-(${shift(d)})`, `${shift(d)} < 0`)}))`)
          const below = ds.map((d, i) => `if(${shift(d)} < 0 AND ${signed(d, i)} % ${pow10(`-(${shift(d)})`, `${shift(d)} < 0`)} != 0, sign(${signed(d, i)}), 0)`)
          return bound([parts.join(' + '), `[${below.join(', ')}]`], (sum, sticky) => {
            const up = `has(${sticky}, 1)`
            const down = `has(${sticky}, -1)`
            const fallback = xs.map((x, i) => `${i && signs[i]! < 0 ? '-' : '+'} ${x}`).join(' ')
            return `multiIf(NOT ${up} AND NOT ${down}, ${nearest(sum, low)}, ${up} != ${down} AND abs(${sum}) >= ${pow10('40', '1')}, ${nearest(`${sum} * 10 + if(${up}, 1, -1)`, `${low} - 1`)}, 0. ${fallback})`
          })
        }),
    ),
  )
}

/** mulf: the exact product, while its digits fit. */
function decimalProduct(xs: string[]): string {
  return bound(xs.map(decimal), (...ds) => {
    const exact = `${ds.map(digitsOf).join(' + ')} <= 75`
    const product = ds.map((d) => `if(${exact}, ${coef(d)}, toInt256(1))`).join(' * ')
    return `if(${exact}, ${nearest(product, ds.map(expOf).join(' + '))}, ${xs.join(' * ')})`
  })
}

/**
 * divf: each division DivRound(x, y, 16) — the quotient to 16 decimal places, half away from
 * zero (one below 5e-17 is 0) — exactly while the scaled operands fit 75 digits; a quotient too
 * large for that keeps its first 56 or more digits and a sticky one (what rounding to 16 places
 * changes lies beyond them).
 */
function decimalQuotient(xs: string[]): string {
  // The running value: (coefficient, exponent, digits, computed).
  let x = bound([decimal(xs[0]!)], (d) => `tuple(${coef(d)}, ${expOf(d)}, ${digitsOf(d)}, 1)`)
  for (const y of xs.slice(1)) {
    x = bound([x, decimal(y)], (a, b) =>
      bound([`${expOf(a)} - ${expOf(b)} + 16`], (k) => {
        const fits = `(${digitsOf(a)} + greatest(${k}, 0) <= 75 AND ${digitsOf(b)} + greatest(-${k}, 0) <= 75)`
        // Below one half in the 16th place whatever the digits: 0. Too large: the dividend scaled to 75 digits.
        const tiny = `(${k} < 0 AND ${digitsOf(a)} + 2 <= ${digitsOf(b)} - ${k})`
        const large = `(NOT ${fits} AND ${k} > 0 AND ${digitsOf(a)} <= 74 AND ${digitsOf(b)} <= 75)`
        return bound([fits, tiny, large], (fit, small, big) => {
          const scale = `if(${big}, 74 - ${digitsOf(a)}, greatest(${k}, 0))`
          const num = `abs(${coef(a)}) * ${pow10(scale, `${fit} OR ${big}`)}`
          const den = `if(${coef(b)} = 0, toInt256(1), abs(${coef(b)}) * ${pow10(`greatest(-${k}, 0)`, fit)})`
          return bound([num, den], (n, d) => {
            const q = `if(${big}, intDiv(${n}, ${d}) * 10 + if(${n} % ${d} > 0, 1, 0), intDiv(${n}, ${d}) + if(2 * (${n} % ${d}) >= ${d}, 1, 0))`
            return bound([`if(${coef(a)} = 0 OR ${small} OR NOT (${fit} OR ${big}), toInt256(0), ${q} * if((${coef(a)} < 0) != (${coef(b)} < 0), -1, 1))`], (r) =>
              `tuple(${r}, toInt64(if(${big}, ${k} - 16 - ${scale} - 1, -16)), toInt64(length(toString(abs(${r})))), tupleElement(${a}, 4) AND (${fit} OR ${small} OR ${big} OR ${coef(a)} = 0))`,
            )
          })
        })
      }),
    )
  }
  return bound([x], (r) => `if(tupleElement(${r}, 4), ${nearest(coef(r), expOf(r))}, ${xs.join(' / ')})`)
}

/** math.Max / math.Min of float64s, folded from the left as sprig's maxf/minf do. */
function floatExtreme(xs: string[], max: boolean): string {
  const sign = (v: string) => `bitTest(reinterpretAsUInt64(${v}), 63)`
  return xs.slice(1).reduce(
    (acc, f) =>
      bound([acc, f], (x, y) =>
        max
          ? `multiIf(${x} = inf OR ${y} = inf, inf, isNaN(${x}) OR isNaN(${y}), nan, ${x} = 0 AND ${y} = 0, if(${sign(x)}, ${y}, ${x}), ${x} > ${y}, ${x}, ${y})`
          : `multiIf(${x} = -inf OR ${y} = -inf, -inf, isNaN(${x}) OR isNaN(${y}), nan, ${x} = 0 AND ${y} = 0, if(${sign(x)}, ${x}, ${y}), ${x} < ${y}, ${x}, ${y})`,
      ),
    xs[0]!,
  )
}

/** A Go int's Int64 expression (what arithmetic gave, or an integer literal); undefined for any other value. */
const goInt = (v: Value, h: Helpers): string | undefined => (v.num === 'int' ? v.sql : v.intText !== undefined ? h.typed(v.intText, 'Int64') : undefined)
/** A range's key over a fromJson value as an Int64 (a slice's index; see indexNotInt for a map's key). */
const indexInt = (v: Value): string | undefined => (v.json && v.index ? `toInt64OrZero(${v.sql})` : undefined)
/** When a range's key is a map's (a string), which Go cannot index or slice by. */
const indexNotInt = (v: Value): string | undefined => (v.json && v.index ? `(${jsonType(v.sql)} NOT IN ${JSON_NUMBER})` : undefined)

/** cast.ToInt64 of any value (a time is refused: Go's cast makes it 0). */
function asInt64(v: Value, h: Helpers, name: string): string {
  if (v.json) return jsonNumber(v, h, 'int')
  const int = goInt(v, h)
  if (int !== undefined) return int
  if (v.num === 'float') return floatToInt64(v.sql)
  if (v.bool) return `toInt64(${v.sql})`
  if (v.time) throw unsupported(`template ${name} of a time (unixEpoch gives its seconds)`)
  return stringToInt64(v.sql, h)
}
/** cast.ToFloat64 of any value. */
function asFloat64(v: Value, h: Helpers, name: string): string {
  if (v.json) return jsonNumber(v, h, 'float')
  if (v.num === 'float') return v.sql
  if (v.num === 'int') return `toFloat64(${v.sql})`
  if (v.intText !== undefined) return h.typed(BigInt(v.intText).toString(), 'Float64')
  if (v.bool) return `toFloat64(${v.sql})`
  if (v.time) throw unsupported(`template ${name} of a time (unixEpoch gives its seconds)`)
  return stringToFloat64(v.sql, h)
}

/** The one argument of a function of a string (Go's template fails on any other, on every line: a 400 here). */
function stringArg(name: string, args: Value[], text: string): string {
  takes(name, args, text, 1)
  const a = args[0]!
  if (a.num || a.bool || a.time || a.intText !== undefined || a.float !== undefined) throw invalid(text, `${name} takes a string`)
  return a.sql
}

const TWO_63 = 'toUInt128(9223372036854775808)'
// Go's time.ParseDuration reads a sign, then "0" or numbers (digits on either side of a point),
// each followed by a unit.
const GO_DURATION_TEXT = '^[+-]?(?:0|(?:(?:[0-9]+[.]?[0-9]*|[.][0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+)$'
const GO_DURATION_PART = '([0-9]*[.]?[0-9]*)(ns|us|µs|μs|ms|s|m|h)'
const GO_DURATION_UNITS = "['ns', 'us', 'µs', 'μs', 'ms', 's', 'm', 'h'], [1, 1000, 1000, 1000, 1000000, 1000000000, 60000000000, 3600000000000]"

/**
 * One part of a Go duration (`1.5h`) in nanoseconds, a UInt128, as ParseDuration works it out: the
 * whole number times the unit, plus uint64(float64(f) · (float64(unit) / scale)) where f is the
 * fraction's digits while they fit in 2^63 and scale is 10 to the digits read, multiplied up one
 * by one as Go does. Beyond 2^63 it failed in Go (a whole number past 19 digits included).
 */
function goDurationPart(num: string, unitName: string): string {
  return bound([`splitByChar('.', ${num})`, `transform(${unitName}, ${GO_DURATION_UNITS}, 0)`], (pieces, unit) => {
    const whole = `trimLeft(${pieces}[1], '0')`
    const v = `if(length(${whole}) > 19, toUInt128(18446744073709551616), toUInt128(toUInt64OrZero(${whole})))`
    return bound([`if(length(${pieces}) > 1, ${pieces}[2], '')`], (frac) =>
      bound([`trimLeft(${frac}, '0')`], (sig) =>
        bound([`multiIf(length(${sig}) < 19, length(${sig}), toUInt64(substring(${sig}, 1, 19)) <= 9223372036854775808, 19, 18)`], (k) =>
          bound([`toUInt64OrZero(substring(${sig}, 1, ${k}))`, `length(${frac}) - length(${sig}) + ${k}`], (f, n) => {
            // 10^n is exact as a float64 to 22; past it Go's repeated ·10 rounds at each step.
            const scale = `if(${n} <= 22, toFloat64(intExp10(least(${n}, 18))) * toFloat64(intExp10(greatest(${n}, 18) - 18)), arrayFold((acc, x) -> acc * 10., range(greatest(${n}, 22) - 22), 1e22))`
            const fraction = `if(${f} = 0, toUInt128(0), toUInt128(toUInt64(toFloat64(${f}) * (toFloat64(${unit}) / ${scale}))))`
            return `${v} * toUInt128(${unit}) + ${fraction}`
          }),
        ),
      ),
    )
  })
}

/**
 * Loki's `duration` (and `duration_seconds`): time.ParseDuration(s).Seconds() — the parts' sum, an
 * int64 of nanoseconds, as whole seconds plus the rest / 1e9 — failing where Go does: no unit, an
 * unknown one, a part or the total beyond 2^63 ns (2^63 − 1 without a minus).
 */
function goDurationSeconds(s: string, h: Helpers): { sql: string; err: string } {
  const parts = (v: string) => `arrayMap(g -> ${goDurationPart('g[1]', 'g[2]')}, extractAllGroupsVertical(${v}, ${h.constant(GO_DURATION_PART)}))`
  const total = (v: string) => `arraySum(${parts(v)})`
  return {
    sql: bound([s], (v) => goSeconds(`toInt128(${total(v)}) * if(startsWith(${v}, '-'), -1, 1)`)),
    err: bound([s], (v) =>
      bound([parts(v)], (ps) => `(NOT match(${v}, ${h.constant(GO_DURATION_TEXT)}) OR arrayExists(x -> x > ${TWO_63}, ${ps}) OR arraySum(${ps}) > if(startsWith(${v}, '-'), ${TWO_63}, toUInt128(9223372036854775807)))`),
    ),
  }
}

type NumberFn = (args: Value[], h: Helpers, text: string) => Value
const takes = (name: string, args: Value[], text: string, min: number, max = min) => {
  if (args.length < min || args.length > max) throw invalid(text, `${name} takes ${min === max ? min : max === Infinity ? `${min} or more` : `${min} to ${max}`} argument(s), got ${args.length}`)
}
const int64 = (sql: string, err?: string): Value => (err ? { sql, num: 'int', err } : { sql, num: 'int' })
const float64 = (r: { sql: string; err?: string } | string): Value => (typeof r === 'string' ? { sql: r, num: 'float' } : r.err ? { sql: r.sql, num: 'float', err: r.err } : { sql: r.sql, num: 'float' })
const ints = (name: string, args: Value[], h: Helpers) => args.map((a) => asInt64(a, h, name))
/** A literal whole number (round's places). */
const literalInt = (v: Value, what: string, text: string): number => {
  if (v.intText === undefined) throw unsupported(`${what} as anything but a whole number`)
  if (Math.abs(v.int!) > 22) throw invalid(text, `${what} ${v.int} is beyond ±22`)
  return v.int!
}

const NUMBERS: Record<string, NumberFn> = {
  int: (args, h, text) => (takes('int', args, text, 1), int64(asInt64(args[0]!, h, 'int'))),
  float64: (args, h, text) => (takes('float64', args, text, 1), float64(asFloat64(args[0]!, h, 'float64'))),
  add: (args, h) => int64(args.length ? `(${ints('add', args, h).join(' + ')})` : 'toInt64(0)'),
  sub: (args, h, text) => (takes('sub', args, text, 2), int64(`(${ints('sub', args, h).join(' - ')})`)),
  mul: (args, h, text) => (takes('mul', args, text, 1, Infinity), int64(`(${ints('mul', args, h).join(' * ')})`)),
  // Go's integer division truncates, as intDiv; x / -1 wraps (ClickHouse throws on the smallest int64); / 0 panics.
  div: (args, h, text) => {
    takes('div', args, text, 2)
    const [a, b] = ints('div', args, h)
    return int64(bound([a!, b!], (x, y) => `if(${y} = -1, -${x}, intDiv(${x}, if(${y} = 0, 1, ${y})))`), `${b} = 0`)
  },
  mod: (args, h, text) => {
    takes('mod', args, text, 2)
    const [a, b] = ints('mod', args, h)
    return int64(bound([a!, b!], (x, y) => `if(${y} = -1, toInt64(0), ${x} % if(${y} = 0, 1, ${y}))`), `${b} = 0`)
  },
  max: (args, h, text) => (takes('max', args, text, 1, Infinity), int64(args.length === 1 ? asInt64(args[0]!, h, 'max') : `greatest(${ints('max', args, h).join(', ')})`)),
  min: (args, h, text) => (takes('min', args, text, 1, Infinity), int64(args.length === 1 ? asInt64(args[0]!, h, 'min') : `least(${ints('min', args, h).join(', ')})`)),
  addf: (args, h) => float64(floatOp(args, h, 'addf', (xs) => decimalSum(xs, xs.map(() => 1)), { decimal: true })),
  subf: (args, h, text) => (takes('subf', args, text, 1, Infinity), float64(floatOp(args, h, 'subf', (xs) => decimalSum(xs, xs.map((_, i) => (i ? -1 : 1))), { decimal: true }))),
  mulf: (args, h, text) => (takes('mulf', args, text, 1, Infinity), float64(floatOp(args, h, 'mulf', decimalProduct, { decimal: true }))),
  divf: (args, h, text) => (takes('divf', args, text, 1, 4), float64(floatOp(args, h, 'divf', decimalQuotient, { decimal: true, zero: true }))),
  maxf: (args, h, text) => (takes('maxf', args, text, 1, Infinity), float64(floatOp(args, h, 'maxf', (xs) => floatExtreme(xs, true)))),
  minf: (args, h, text) => (takes('minf', args, text, 1, Infinity), float64(floatOp(args, h, 'minf', (xs) => floatExtreme(xs, false)))),
  ceil: (args, h, text) => (takes('ceil', args, text, 1), float64(`ceil(${asFloat64(args[0]!, h, 'ceil')})`)),
  floor: (args, h, text) => (takes('floor', args, text, 1), float64(`floor(${asFloat64(args[0]!, h, 'floor')})`)),
  // sprig's round: x·10^p, its ceiling when the fraction (math.Modf's, negative below 0) reaches roundOn, else its floor.
  round: (args, h, text) => {
    takes('round', args, text, 2, 3)
    const places = literalInt(args[1]!, 'round: the places', text)
    const on = args[2]
    if (on && on.float === undefined && on.intText === undefined) throw unsupported('round: the roundOn as anything but a number')
    // math.Pow(10, p) is exact to ±22 places: 10^p, or 1/10^-p.
    const pow = h.typed(String(places >= 0 ? 10 ** places : 1 / 10 ** -places), 'Float64')
    const roundOn = h.typed(String(on ? (on.float ?? Number(on.intText)) : 0.5), 'Float64')
    return float64(bound([`${pow} * ${asFloat64(args[0]!, h, 'round')}`], (d) => `if(${d} - trunc(${d}) >= ${roundOn}, ceil(${d}), floor(${d})) / ${pow}`))
  },
  // Loki's conversions of a string: a Go duration's seconds, a go-humanize size's bytes (float64s).
  duration: (args, h, text) => float64(goDurationSeconds(stringArg('duration', args, text), h)),
  duration_seconds: (args, h, text) => float64(goDurationSeconds(stringArg('duration_seconds', args, text), h)),
  bytes: (args, _h, text) => {
    const s = stringArg('bytes', args, text)
    return float64({ sql: `ifNull(${bytesValue(s)}, 0.)`, err: `isNull(${bytesValue(s)})` })
  },
  // Loki's count: the matches of a regular expression (none of them empty).
  count: (args, h, text) => {
    takes('count', args, text, 2)
    const r = clickhouseRegexp(h.text(args[0]!, 'count: the pattern'), 'count')
    if (args[1]!.num || args[1]!.bool || args[1]!.time || args[1]!.int !== undefined) throw invalid(text, 'count takes a string to search')
    return int64(`toInt64(countMatches(${args[1]!.sql}, ${h.bind(r.pattern)}))`)
  },
}

/** Digits of an unsigned integer, as fmt writes them for %b, %o, %x, %X: no leading zero (0 is "0"). */
function unsignedDigits(u: string, base: 2 | 8 | 16, upper: boolean): string {
  // bin and hex write whole bytes; octal is read three bits at a time (22 digits hold a UInt64).
  const padded = base === 2 ? `bin(${u})` : base === 16 ? `${upper ? '' : 'lower'}(hex(${u}))` : `arrayStringConcat(arrayMap(k -> toString(bitAnd(bitShiftRight(${u}, toUInt8(3 * k)), 7)), arrayReverse(range(22))))`
  return `if(${u} = 0, '0', trimLeft(${padded}, '0'))`
}

/**
 * An int64 as Go's fmt prints it with %b, %o, %O, %x or %X (fmtInteger): the digits of its
 * magnitude, zeros up to the precision (or, with the 0 flag and no precision, up to the width less
 * a sign), the # prefix (0b, a leading 0, 0x/0X) and %O's 0o, the sign (-, or + / space as the flags
 * ask), then spaces to the width, on the right with -. A precision of 0 prints 0 as nothing.
 */
function goInteger(x: string, verb: string, flags: string, width: number | undefined, precision: number | undefined): string {
  const base = verb === 'b' ? 2 : verb === 'x' || verb === 'X' ? 16 : 8
  const minus = flags.includes('-')
  const plus = flags.includes('+')
  const space = flags.includes(' ')
  const sharp = flags.includes('#')
  const zero = flags.includes('0') && !minus
  return bound([x], (v) => {
    // The magnitude as a UInt64: -(v + 1) + 1 reaches -2^63 without overflowing.
    const u = `if(${v} < 0, toUInt64(-(${v} + 1)) + 1, toUInt64(${v}))`
    return bound([u], (m) => {
      const digits = unsignedDigits(m, base, verb === 'X')
      const prec = precision ?? (zero && width !== undefined ? (plus || space ? `${width - 1}` : `if(${v} < 0, ${width - 1}, ${width})`) : undefined)
      let body = prec === undefined ? digits : bound([digits], (d) => `leftPad(${d}, greatest(length(${d}), ${prec}), '0')`)
      if (sharp && base === 2) body = `concat('0b', ${body})`
      if (sharp && base === 16) body = `concat('${verb === 'X' ? '0X' : '0x'}', ${body})`
      if (sharp && base === 8) body = bound([body], (b) => `if(startsWith(${b}, '0'), ${b}, concat('0', ${b}))`)
      if (verb === 'O') body = `concat('0o', ${body})`
      const signed = `concat(if(${v} < 0, '-', '${plus ? '+' : space ? ' ' : ''}'), ${body})`
      const printed = precision === 0 ? `if(${m} = 0, '', ${signed})` : signed
      return width === undefined ? printed : bound([printed], (t) => `${minus ? 'rightPad' : 'leftPad'}(${t}, greatest(length(${t}), ${width}), ' ')`)
    })
  })
}

/** An int64 as the character %c prints: its UTF-8, U+FFFD where it is no rune (negative, a surrogate, past U+10FFFF). */
function goRune(x: string): string {
  return bound([x], (v) =>
    bound([`if(${v} >= 0 AND ${v} <= 0x10FFFF AND NOT (${v} >= 0xD800 AND ${v} <= 0xDFFF), ${v}, 0xFFFD)`], (r) => {
      const cont = (shift: number) => `0x80 + bitAnd(bitShiftRight(${r}, ${shift}), 0x3F)`
      return `multiIf(${r} < 0x80, char(${r}), ${r} < 0x800, char(0xC0 + bitShiftRight(${r}, 6), ${cont(0)}), ${r} < 0x10000, char(0xE0 + bitShiftRight(${r}, 12), ${cont(6)}, ${cont(0)}), char(0xF0 + bitShiftRight(${r}, 18), ${cont(12)}, ${cont(6)}, ${cont(0)}))`
    }),
  )
}

/**
 * printf with %s and %v of strings (a width, `%10s` right-aligned or `%-10s` left, and a precision,
 * `%.5s` at most five characters, counted in characters as Go counts runes); %d of integers and
 * %f, %F, %e, %E of floats (flags - + space 0, a width, a precision: exact decimal rounding, as
 * ClickHouse's printf rounds it, and Go's +Inf, -Inf, NaN); %v of numbers (a width and -); %v
 * and %t of conditions (true, false; a width and -); %b, %o, %O, %x, %X of integers (all of fmt's
 * integer flags, a width and a precision: goInteger); %c (the character) and %U (U+0061, a
 * precision more digits) of integers; %x and %X of strings, their bytes in hex (a
 * width, -, a precision: at most that many bytes); %%.
 * A verb Go would print as %!d(string=…) is refused, as are other verbs and flags.
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
    const spec = /^%([-+ 0#]*)(\d+)?(?:\.(\d+))?([a-zA-Z])/.exec(format.slice(i))
    const verb = spec?.[4] ?? ''
    const refuse = (why: string) => unsupported(`printf verb ${spec?.[0] ?? format.slice(i, i + 6)} ${why}`)
    if (!spec || !'svdfFeEtboOxXcU'.includes(verb)) throw refuse("(Sluice's printf takes %s and %v, %d, %b, %o, %O, %x, %X, %c and %U of integers, %f and %e of floats, %x and %X of strings, %t of conditions)")
    i += spec[0].length - 1
    if (next >= args.length) throw invalid(text, `printf: the format ${JSON.stringify(format)} needs more arguments`)
    if (literal) parts.push(h.bind(literal))
    literal = ''
    const arg = args[next++]!
    const flags = spec[1]!
    const precision = count(spec[3], 'precision')
    const width = count(spec[2], 'width')
    const pad = (v: string) => (width === undefined ? v : `if(lengthUTF8(${v}) < ${width}, ${flags.includes('-') ? 'rightPadUTF8' : 'leftPadUTF8'}(${v}, ${width}, ' '), ${v})`)
    const isInt = arg.num === 'int' || arg.intText !== undefined
    const isFloat = arg.num === 'float'
    if (arg.json) {
      // %v prints a fromJson value as Sprint does; %s a string's text, %f and %e a number's (Go
      // prints %!s(float64=…), %!f(string=…) of anything else: refused where it occurs, see refuseWhere).
      if ('fFeE'.includes(verb)) {
        if (arg.index) throw refuse(`of a range's key over a fromJson value (Go prints %!${verb}(int=…) of a slice's index)`)
        if (flags.includes('#')) throw refuse('with the flag # (Sluice takes it with %b, %o, %x and %X of integers)')
        const cFormat = h.bind(`%${flags}${spec[2] ?? ''}${spec[3] === undefined ? '' : `.${spec[3]}`}${verb === 'F' ? 'f' : verb}`)
        const notNumber = (x: string) => `${jsonType(x)} NOT IN ${JSON_NUMBER}`
        // A decoded number is a finite float64: no infinities or NaN to print.
        parts.push(bound([arg.sql], (x) => `if(${notNumber(x!)}, ${refuseWhere(notNumber(x!), `a value printed with printf %${verb} that is no number (Go prints %!${verb}(…); %v prints it)`)}, printf(${cFormat}, toFloat64OrZero(${x})))`))
        continue
      }
      if (verb !== 'v' && verb !== 's') throw refuse('of a fromJson value (%v and %s print it; %f and %e a number)')
      if (flags.replace('-', '') !== '' || flags.length > 1 || (verb === 'v' && precision !== undefined)) throw refuse('of a fromJson value with a flag other than - or, for %v, a precision')
      if (verb === 'v') {
        parts.push(pad(jsonText(arg.sql, false, 0, arg.index)))
        continue
      }
      const text = bound([arg.sql], (x) => `if(${jsonType(x)} = 'String', JSONExtractString(${x}), ${refuseWhere(`${jsonType(x)} != 'String'`, 'a value printed with printf %s that is no string (Go prints %!s(…); %v prints it)')})`)
      parts.push(pad(precision === undefined ? text : `substringUTF8(${text}, 1, ${precision})`))
      continue
    }
    if (arg.bool || verb === 't') {
      // Go prints a bool as true or false for %v and %t, padded to a width; %!s(bool=true) and the like otherwise.
      if (!arg.bool) throw refuse(`of anything but a condition (Go prints %!t(…))`)
      if (verb !== 'v' && verb !== 't') throw refuse(`of a condition (Go prints %!${verb}(bool=…); %v and %t print it)`)
      if (flags.replace('-', '') !== '' || flags.length > 1 || precision !== undefined) throw refuse('of a condition with a flag other than - or a precision')
      parts.push(pad(`if(${arg.sql}, 'true', 'false')`))
      continue
    }
    if (verb === 'c' || verb === 'U') {
      if (!isInt) throw refuse(`of anything but an integer (Go prints %!${verb}(…); int converts a label)`)
      const x = goInt(arg, h)!
      if (verb === 'c') {
        // The 0 flag pads with zeros here (fmt.pad), unless - pads on the right.
        const zero = flags.includes('0') && !flags.includes('-')
        parts.push(zero && width !== undefined ? bound([goRune(x)], (c) => `leftPadUTF8(${c}, greatest(lengthUTF8(${c}), ${width}), '0')`) : pad(goRune(x)))
        continue
      }
      // %#U adds the character when Go deems it printable (unicode.IsPrint), which is not worked out here.
      if (flags.includes('#')) throw refuse('with the flag # (it prints the character where Unicode deems it printable)')
      const digits = Math.max(4, precision ?? 0)
      // The bits as Go's uint64 (a negative int64 is its two's complement), at least `digits` hex digits.
      parts.push(pad(bound([unsignedDigits(`reinterpretAsUInt64(${x})`, 16, true)], (d) => `concat('U+', leftPad(${d}, greatest(length(${d}), ${digits}), '0'))`)))
      continue
    }
    if ('boOxX'.includes(verb)) {
      if (isFloat) throw refuse(`of a float64 (Go prints it in its own hexadecimal or binary notation)`)
      if (isInt) {
        parts.push(goInteger(goInt(arg, h)!, verb, flags, width, precision))
        continue
      }
      if (verb !== 'x' && verb !== 'X') throw refuse(`of a string (Go prints %!${verb}(string=…); int converts it)`)
      if (flags.replace('-', '') !== '' || flags.length > 1) throw refuse('of a string with a flag other than -')
      // Each byte as two hex digits; a precision counts bytes of the string, not digits.
      const bytes = precision === undefined ? arg.sql : `substring(${arg.sql}, 1, ${precision})`
      parts.push(pad(verb === 'x' ? `lower(hex(${bytes}))` : `hex(${bytes})`))
      continue
    }
    if (flags.includes('#')) throw refuse('with the flag # (Sluice takes it with %b, %o, %x and %X of integers)')
    if (verb === 'd' || 'fFeE'.includes(verb)) {
      if (verb === 'd' ? !isInt : !isFloat) {
        const type = isInt ? 'int' : isFloat ? 'float64' : 'string'
        throw refuse(`of a ${type === 'string' ? 'string' : type} (Go prints %!${verb}(${type}=…); ${verb === 'd' ? 'int' : 'float64'} converts it)`)
      }
      const cFormat = h.bind(`%${flags}${spec[2] ?? ''}${spec[3] === undefined ? '' : `.${spec[3]}`}${verb === 'F' ? 'f' : verb}`)
      if (verb === 'd') {
        parts.push(`printf(${cFormat}, ${goInt(arg, h)!})`)
        continue
      }
      // Go prints infinities and NaN with a sign (NaN's only when asked for), padded with spaces.
      const plus = flags.includes('+')
      const space = flags.includes(' ')
      parts.push(
        bound([arg.sql], (x) => `if(isFinite(${x}), printf(${cFormat}, ${x}), ${pad(`multiIf(isNaN(${x}), '${plus ? '+' : space ? ' ' : ''}NaN', ${x} > 0, '${plus || !space ? '+' : ' '}Inf', '-Inf')`)})`),
      )
      continue
    }
    if (flags.replace('-', '') !== '' || flags.length > 1) throw refuse('(with %s and %v Sluice takes the flag -)')
    if (isInt || isFloat) {
      if (verb === 's') throw refuse(`of a number (Go prints %!s(${isInt ? 'int' : 'float64'}=…); %v prints it)`)
      if (precision !== undefined) throw refuse('of a number with a precision')
      parts.push(pad(isFloat ? floatText(arg.sql) : arg.num ? `toString(${arg.sql})` : arg.sql))
      continue
    }
    let v = arg.sql
    if (precision !== undefined) v = `substringUTF8(${v}, 1, ${precision})`
    // leftPad cuts a longer string; a width in Go never does.
    parts.push(pad(v))
  }
  if (next < args.length) throw invalid(text, `printf: ${args.length - next} more argument(s) than the format ${JSON.stringify(format)} takes`)
  if (literal) parts.push(h.bind(literal))
  return concatenated(parts)
}

/** A value as Go's template prints it (`operand`: as fmt.Sprint prints an operand of print). */
function printed(v: Value, h: Helpers, operand = false): string {
  if (v.json) return jsonText(v.sql, !operand, 0, v.index)
  if (v.bool) return `if(${v.sql}, 'true', 'false')`
  if (v.located) throw unsupported('printing a time parsed with a zone as it is (Go prints its zone): date formats it')
  if (v.time) return formatTime(TIME_STRING, v, h)
  if (v.num === 'int') return `toString(${v.sql})`
  if (v.num === 'float') return floatText(v.sql)
  return v.sql
}

/** A value as an `if` reads it: a condition as it is; a string when not empty; a number when not 0. */
function truthy(v: Value): string {
  if (v.json) return jsonTruthy(v.sql)
  if (v.bool) return v.sql
  if (v.time) return '1'
  if (v.num) return `(${v.sql} != 0)`
  if (v.int !== undefined) return v.int === 0 ? '0' : '1'
  return `(${v.sql} != '')`
}

/** Strings compared as Go compares them (bytes, as ClickHouse does); a number literal has no string to compare with. */
function strings(name: string, args: Value[], text: string, min: number, max = min): string[] {
  if (args.length < min || args.length > max) throw invalid(text, `${name} takes ${min === max ? min : `${min} or more`} argument(s), got ${args.length}`)
  if (args.some((a) => a.bool || a.time || a.num || a.int !== undefined)) throw unsupported(`template ${name} of anything but strings (labels, quoted text)`)
  return args.map((a) => a.sql)
}

/** Go's eq, lt, …: strings with strings (bytes), integers with integers, floats with floats; Go fails on other pairs. */
function comparable(name: string, args: Value[], text: string, min: number, max = min): string[] {
  if (args.length < min || args.length > max) throw invalid(text, `${name} takes ${min === max ? min : `${min} or more`} argument(s), got ${args.length}`)
  if (args.every((a) => !a.bool && !a.time && !a.num && a.int === undefined)) return args.map((a) => a.sql)
  if (args.every((a) => a.num === 'int' || a.intText !== undefined)) return args.map((a) => (a.num ? a.sql : `toInt64(${a.sql})`))
  if (args.every((a) => a.num === 'float')) return args.map((a) => a.sql)
  throw unsupported(`template ${name} of a string and a number, or an integer and a float (Go's comparison fails on them; int and float64 convert)`)
}

const CONDITIONS: Record<string, (args: Value[], text: string) => string> = {
  // eq a b c: a equals b or c, as Go's eq.
  eq: (args, text) => {
    const [a, ...rest] = comparable('eq', args, text, 2, 16)
    return `(${rest.map((b) => `${a} = ${b}`).join(' OR ')})`
  },
  ne: (args, text) => comparable('ne', args, text, 2).join(' != '),
  lt: (args, text) => comparable('lt', args, text, 2).join(' < '),
  le: (args, text) => comparable('le', args, text, 2).join(' <= '),
  gt: (args, text) => comparable('gt', args, text, 2).join(' > '),
  ge: (args, text) => comparable('ge', args, text, 2).join(' >= '),
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
  if (args.some((a) => a.bool || a.time || a.num || a.int !== undefined)) throw unsupported(`template ${name} of conditions and strings together`)
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
  ['__2', (t) => `leftPad(toString(toDayOfYear(${t})), 3, ' ')`],
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
  const nanos = `leftPad(toString(toUnixTimestamp64Nano(${t}) % 1000000000), 9, '0')`
  return concatenated(
    layoutElements(layout).map((e) => {
      if (!e.std) return h.bind(e.text)
      // A fractional second: . or , then a run of 0s (that many digits) or 9s (at most that many, trailing zeros cut).
      if (/^[.,][09]/.test(e.std)) {
        const digits = e.std.length - 1
        const sep = h.bind(e.std[0]!)
        return e.std[1] === '0' ? `concat(${sep}, substring(${nanos}, 1, ${digits}))` : `if(trimRight(substring(${nanos}, 1, ${digits}), '0') = '', '', concat(${sep}, trimRight(substring(${nanos}, 1, ${digits}), '0')))`
      }
      return LAYOUT_BY_NAME.get(e.std)!(t)
    }),
  )
}
const LAYOUT_BY_NAME = new Map(LAYOUT)

/** A time Value as a layout prints it (Go's zero time where a parse failed). */
function formatTime(layout: string, v: Value, h: Helpers): string {
  if (!v.zeroable) return goTime(layout, v.sql, h)
  return bound([v.sql], (t) => `if(${t} = ${ZERO_SENTINEL}, ${h.bind(zeroTime(layout))}, ${goTime(layout, t, h)})`)
}

const timeArg = (v: Value | undefined, name: string): Value => {
  if (!v?.time) throw unsupported(`template ${name} of anything but a time (__timestamp__, now, unixToTime, toDate)`)
  return v
}
// Go's Unix, UnixMilli: floored (a time before 1970 with a fraction is a second earlier).
const epoch = (name: 'unixEpoch' | 'unixEpochMillis' | 'unixEpochNanos', unit: bigint) => (args: Value[], h: Helpers, text: string): Value => {
  if (args.length !== 1) throw invalid(text, `${name} takes 1 argument, got ${args.length}`)
  const v = timeArg(args[0], name)
  const at = (t: string) => bound([`toUnixTimestamp64Nano(${t})`], (n) => `toString(intDiv(${n}, ${unit}) - if(${n} % ${unit} < 0, 1, 0))`)
  return { sql: v.zeroable ? bound([v.sql], (t) => `if(${t} = ${ZERO_SENTINEL}, ${h.bind(ZERO_EPOCH[name]!)}, ${at(t)})`) : at(v.sql) }
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
    return { sql: formatTime(h.text(args[0]!, 'date: the layout'), timeArg(args[1], 'date'), h) }
  },
  // Loki's unixToTime: an integer of 5 (days), 10 (s), 13 (ms), 16 (µs) or 19 (ns) characters; anything else fails.
  unixToTime: (args, _h, text) => {
    if (args.length !== 1) throw invalid(text, `unixToTime takes 1 argument, got ${args.length}`)
    const v = args[0]!
    if (v.bool || v.time || v.num) throw invalid(text, 'unixToTime takes a string')
    const s = v.sql
    const n = `ifNull(toInt64OrNull(${s}), 0)`
    const unit = `multiIf(length(${s}) = 5, 86400000000000, length(${s}) = 10, 1000000000, length(${s}) = 13, 1000000, length(${s}) = 16, 1000, 1)`
    // Within a DateTime64(9) (years 1900–2262): Go's times reach further, Sluice answers those as failed.
    const ok = `(match(${s}, '^[+-]?[0-9]+$') AND length(${s}) IN (5, 10, 13, 16, 19) AND isNotNull(toInt64OrNull(${s})) AND ${n} BETWEEN intDiv(-2208988800000000000, ${unit}) AND intDiv(9223372036854775807, ${unit}))`
    return { sql: `fromUnixTimestamp64Nano(if(${ok}, ${n} * ${unit}, 0), 'UTC')`, time: true, err: `NOT ${ok}` }
  },
  toDate: (args, h, text) => {
    if (args.length !== 2) throw invalid(text, `toDate takes 2 arguments, got ${args.length}`)
    return parseTime(h.text(args[0]!, 'toDate: the layout'), 'Local', args[1]!, h, 'toDate')
  },
  toDateInZone: (args, h, text) => {
    if (args.length !== 3) throw invalid(text, `toDateInZone takes 3 arguments, got ${args.length}`)
    return parseTime(h.text(args[0]!, 'toDateInZone: the layout'), h.text(args[1]!, 'toDateInZone: the zone'), args[2]!, h, 'toDateInZone')
  },
  unixEpoch: epoch('unixEpoch', 1_000_000_000n),
  unixEpochMillis: epoch('unixEpochMillis', 1_000_000n),
  unixEpochNanos: epoch('unixEpochNanos', 1n),
}

// ---- parsing times -------------------------------------------------------------------------------
// sprig's toDate and Loki's toDateInZone: Go's time.ParseInLocation with a layout, in the Loki
// server's zone (UTC) or a named one. What does not parse is Go's zero time (0001-01-01 00:00:00
// UTC), as their errors are dropped. The layout is a literal, read into one regular expression
// whose groups are its fields: years, months (numbers or names), days, 24- and 12-hour clocks,
// minutes, seconds and their fractions, weekday names (checked, then ignored) and numeric zones.
// A day of the year (002, __2) sets the month and the day; a zone abbreviation (MST) is read in
// UTC. Refused: zone abbreviations with a named zone, a layout without a year (Go's year 0), and
// fields run together so that Go's reader (no going back) and a regular expression could split them apart.

/** Go's zero time as each layout element prints it. */
const ZERO_TIME: Record<string, string> = {
  January: 'January', Jan: 'Jan', Monday: 'Monday', Mon: 'Mon', MST: 'UTC', '2006': '0001', _2: ' 1', '002': '001', '01': '01', '02': '01', '03': '12',
  '04': '00', '05': '00', '06': '01', '15': '00', '1': '1', '2': '1', '3': '12', '4': '0', '5': '0', PM: 'AM', pm: 'am', __2: '  1',
}
const ZERO_EPOCH: Record<string, string> = { unixEpoch: '-62135596800', unixEpochMillis: '-62135596800000', unixEpochNanos: '-6795364578871345152' }

/** A layout's elements as Go's nextStdChunk reads them (Jan and Mon only when no lower-case letter follows). */
function layoutElements(layout: string): { std?: string; text: string }[] {
  const out: { std?: string; text: string }[] = []
  const lower = (i: number) => /[a-z]/.test(layout[i] ?? '')
  for (let i = 0; i < layout.length; ) {
    const rest = layout.slice(i)
    const frac = /^[.,](0+|9+)(?![0-9])/.exec(rest)
    const std = frac
      ? frac[0]
      : rest.startsWith('_2006')
        ? undefined
        : LAYOUT.map(([name]) => name).find((name) => rest.startsWith(name) && !((name === 'Jan' || name === 'Mon') && lower(i + 3)))
    if (std === undefined) {
      const last = out[out.length - 1]
      if (last && last.std === undefined) last.text += layout[i]
      else out.push({ text: layout[i]! })
      i++
      continue
    }
    out.push({ std, text: std })
    i += std.length
  }
  return out
}

const monthNames = (long: boolean) => MONTHS.map((m) => (long ? m : m.slice(0, 3)))
const dayNames = (long: boolean) => DAYS.map((d) => (long ? d : d.slice(0, 3)))
/** Names matched as Go's lookup does: ASCII letters in either case (no Unicode folding). */
const names = (list: string[]) => list.map((n) => [...n].map((c) => `[${c.toUpperCase()}${c.toLowerCase()}]`).join('')).join('|')
const escapeRe = (s: string) => [...s].map((c) => `\\x{${c.codePointAt(0)!.toString(16)}}`).join('')
const VARIABLE = new Set(['1', '2', '_2', '3', '4', '5', '15'])

/** toDate / toDateInZone: the parsed time (or Go's zero time) of `value`. */
function parseTime(layout: string, location: string, value: Value, h: Helpers, fn: string): Value {
  const refuse = (why: string) => unsupported(`template ${fn} layout ${JSON.stringify(layout)}: ${why}`)
  if (value.num || value.bool || value.time) throw unsupported(`template ${fn} of anything but a string`)
  const elements = layoutElements(layout)
  // What may start with a digit: always (numbers but 06 and _2, a literal digit), or also not (06's sign, _2's space).
  const digitFirst = (e: { std?: string; text: string } | undefined): 'always' | 'maybe' | 'never' =>
    e === undefined ? 'never' : !e.std ? (/^[0-9]/.test(e.text) ? 'always' : 'never') : ['06', '_2', '__2'].includes(e.std) ? 'maybe' : /^[.,JMPpZ_-]/.test(e.std) ? 'never' : 'always'
  const utc = location === '' || location === 'UTC' || location === 'Local'
  let re = '^'
  let group = 0
  const fields: Record<string, { g: number; std: string }> = {}
  const capture = (field: string, std: string, pattern: string) => {
    if (fields[field]) throw refuse(`two ${field} fields`)
    fields[field] = { g: ++group, std }
    re += pattern
  }
  elements.forEach((e, i) => {
    const next = elements[i + 1]
    if (!e.std) {
      // Go's skip: a run of spaces matches one or more, or the end of the value.
      re += e.text.split(/( +)/).map((t) => (t.startsWith(' ') ? '(?: +|$)' : escapeRe(t))).join('')
      return
    }
    const std = e.std
    // Go reads 1 or 2 digits (2 when the second is one): before a field that needs a digit, always 2.
    const width = digitFirst(next)
    if (VARIABLE.has(std) && width === 'maybe') throw refuse(`the field ${std} runs into the next`)
    const variable = width === 'always' ? '([0-9]{2})' : '([0-9]{1,2})'
    if (std === '2006') capture('year', std, '([0-9]{4})')
    else if (std === '06') capture('year', std, '([+-][0-9]|[0-9]{2})')
    else if (std === '01' || std === '1') capture('month', std, std === '01' ? '([0-9]{2})' : variable)
    else if (std === 'Jan' || std === 'January') capture('month', std, `(${names(monthNames(std === 'January'))})`)
    else if (std === 'Mon' || std === 'Monday') capture('weekday', std, `(${names(dayNames(std === 'Monday'))})`)
    else if (std === '02' || std === '2' || std === '_2') capture('day', std, std === '02' ? '([0-9]{2})' : std === '_2' ? ` ?${variable}` : variable)
    else if (std === '002') capture('yday', std, '([0-9]{3})')
    else if (std === '__2') {
      // Go skips up to two spaces, then reads one to three digits, as many as there are.
      if (width !== 'never') throw refuse(`the field ${std} runs into the next`)
      capture('yday', std, ' {0,2}([0-9]{1,3})')
    }
    else if (std === '15') capture('hour', std, variable)
    else if (std === '03' || std === '3') capture('hour', std, std === '03' ? '([0-9]{2})' : variable)
    else if (std === '04' || std === '4') capture('minute', std, std === '04' ? '([0-9]{2})' : variable)
    else if (std === '05' || std === '5') {
      capture('second', std, std === '05' ? '([0-9]{2})' : variable)
      // Go reads a fraction after the seconds even where the layout has none (its next element is no fraction).
      if (!elements.slice(i + 1).find((x) => x.std)?.std?.match(/^[.,]/)) {
        if (digitFirst(next) !== 'never' || /^[.,][0-9]/.test(next?.text ?? '')) throw refuse('the seconds run into the next field')
        capture('fraction', '9', '(?:[.,]([0-9]+))?')
      }
    } else if (std === 'PM' || std === 'pm') capture('pm', std, std === 'PM' ? '(AM|PM)' : '(am|pm)')
    else if (/^[.,]0+$/.test(std)) {
      if (std.length > 10) throw refuse('more than 9 fractional digits')
      capture('fraction', '0', `[.,]([0-9]{${std.length - 1}}|[+-][0-9]{${std.length - 2}})`)
    } else if (/^[.,]9+$/.test(std)) {
      if (digitFirst(next) !== 'never') throw refuse('the fraction runs into the next field')
      capture('fraction', '9', '(?:[.,]([0-9]+))?')
    } else if (/^[Z-]07/.test(std)) {
      const parts = std.slice(3).match(/:?00/g) ?? []
      const offset = `[+-][0-9]{2}${parts.map((p) => (p.startsWith(':') ? ':[0-9]{2}' : '[0-9]{2}')).join('')}`
      capture('zone', std, std.startsWith('Z') ? `(Z|${offset})` : `(${offset})`)
    } else if (std === 'MST') {
      // Go's zone abbreviation (parseTimeZone): UTC; GMT with an hour offset up to 23; a signed hour
      // offset; three upper-case letters, or four or five ending in T (and WITA, ChST, MeST). In the
      // UTC location no other abbreviation is known, so the time is the wall time in UTC, under a
      // made-up zone of that name. What a named zone makes of its own abbreviations is refused.
      if (!utc) throw refuse(`a zone abbreviation with the zone ${location} (Sluice reads abbreviations in UTC only)`)
      // What follows must not be read as part of the abbreviation (a regular expression would backtrack into it).
      if (next && (next.std || /^[A-Za-z0-9+-]/.test(next.text))) throw refuse('the zone abbreviation runs into the next field')
      capture('zoneName', std, '(UTC|ChST|MeST|WITA|GMT(?:[+-]0*(?:2[0-3]|1[0-9]|[0-9]))?|[+-]0*(?:2[0-3]|1[0-9]|[0-9])|[A-Z]{3}|[A-Z]{3}T|[A-Z]{4}T)')
    } else throw refuse(`the element ${std}`)
  })
  re += '$'
  if (!fields.year) throw refuse("no year (Go's year 0 is beyond what Sluice holds)")
  if (fields.zoneName && fields.zone) throw refuse('a zone abbreviation and a numeric zone both')
  if (!utc) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: location })
    } catch {
      throw unsupported(`template ${fn} zone ${JSON.stringify(location)} (an IANA zone name, UTC or Local)`)
    }
  }
  const s = value.sql
  const sql = bound([`extractGroups(${s}, ${h.bind(re)})`, `match(${s}, ${h.bind(re)})`], (g, matched) => {
    const at = (f: string) => `${g}[${fields[f]!.g}]`
    const int = (f: string, otherwise: string) => (fields[f] ? `toInt64OrZero(${at(f)})` : otherwise)
    const y = int('year', '0')
    const year = fields.year!.std === '06' ? `(${y} + if(${y} >= 69, 1900, 2000))` : y
    const month = fields.month && /^Jan/.test(fields.month.std) ? `indexOf([${monthNames(fields.month.std === 'January').map((m) => `'${m.toLowerCase()}'`).join(', ')}], lower(${at('month')}))` : int('month', '1')
    const twelve = fields.hour && ['03', '3'].includes(fields.hour.std)
    // The fraction's first 9 digits (a sign reads as 0, though a - before other digits is out of range).
    const frac = fields.fraction ? `replaceRegexpOne(${at('fraction')}, '^[+-]', '0')` : "''"
    const zone = fields.zone ? at('zone') : "''"
    const zoneField = (from: number) => `toInt64OrZero(substring(replaceAll(${zone}, ':', ''), ${from}, 2))`
    const values = [year, month, int('day', '1'), int('hour', '0'), int('minute', '0'), int('second', '0'), `toInt64OrZero(rightPad(substring(${frac}, 1, 9), 9, '0'))`, int('yday', '0')]
    return bound(values, (yr, givenMonth, givenDay, hr, min, sec, nanos, yday) => {
      const leap = `(${yr} % 4 = 0 AND (${yr} % 100 != 0 OR ${yr} % 400 = 0))`
      // A day of the year names the month and the day (which, where the layout has them too, must agree).
      const ydate = `makeDate32(if(${yr} BETWEEN 1901 AND 2261, ${yr}, 2000), 1, 1) + toIntervalDay(least(greatest(${yday}, 1), 366) - 1)`
      const mo = fields.yday ? `toInt64(toMonth(${ydate}))` : givenMonth
      const day = fields.yday ? `toInt64(toDayOfMonth(${ydate}))` : givenDay
      const pm = fields.pm ? `upper(${at('pm')}) = 'PM'` : '0'
      const am = fields.pm ? `upper(${at('pm')}) = 'AM'` : '0'
      const hour = `multiIf(${pm} AND ${hr} < 12, ${hr} + 12, ${am} AND ${hr} = 12, 0, ${hr})`
      const days = `arrayElement([31, if(${leap}, 29, 28), 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], ${mo})`
      const checks = [
        matched,
        `${mo} BETWEEN 1 AND 12`,
        `${day} BETWEEN 1 AND ${days}`,
        fields.yday ? `${yday} BETWEEN 1 AND if(${leap}, 366, 365)` : '',
        fields.yday && fields.month ? `${givenMonth} = ${mo}` : '',
        fields.yday && fields.day ? `${givenDay} = ${day}` : '',
        fields.hour ? `${hr} <= ${twelve ? 12 : 23}` : '',
        fields.minute ? `${min} <= 59` : '',
        fields.second ? `${sec} <= 59` : '',
        fields.fraction ? `NOT (startsWith(${at('fraction')}, '-') AND toInt64OrZero(${at('fraction')}) != 0)` : '',
        fields.zone ? `(${zone} = 'Z' OR (${zoneField(2)} <= 24 AND ${zoneField(4)} <= 60 AND ${zoneField(6)} <= 60))` : '',
        // Go takes UTC and GMT first, whatever follows them (UTCT or GMTT does not parse).
        fields.zoneName ? `NOT (startsWith(${at('zoneName')}, 'UTC') AND ${at('zoneName')} != 'UTC') AND NOT (startsWith(${at('zoneName')}, 'GMT') AND NOT match(${at('zoneName')}, '^GMT([+-]|$)'))` : '',
      ]
      const offset = fields.zone ? `if(${zone} = 'Z', 0, if(startsWith(${zone}, '-'), -1, 1) * (${zoneField(2)} * 3600 + ${zoneField(4)} * 60 + ${zoneField(6)}))` : '0'
      return bound([checks.filter(Boolean).join(' AND '), `${yr} BETWEEN 1901 AND 2261`], (parsed, held) => {
        // The wall time less the layout's offset, or else the location's, found as Go's Date finds it: the
        // offset in effect at the wall time read as UTC, then at that instant less it (so a time skipped
        // or repeated by daylight saving reads as Go reads it).
        const ok = `(${parsed} AND ${held})`
        const wall = `makeDateTime64(if(${ok}, ${yr}, 1970), if(${ok}, ${mo}, 1), if(${ok}, ${day}, 1), if(${ok}, ${hour}, 0), if(${ok}, ${min}, 0), if(${ok}, ${sec}, 0), if(${ok}, ${nanos}, 0), 9, 'UTC')`
        const offsetAt = (t: string) => `timeZoneOffset(toTimeZone(${t}, ${h.constant(location)}))`
        const instant = fields.zone || utc ? `${wall} - toIntervalSecond(if(${ok}, ${offset}, 0))` : bound([wall], (w) => `${w} - toIntervalSecond(${offsetAt(`${w} - toIntervalSecond(${offsetAt(w)})`)})`)
        return `multiIf(NOT ${parsed}, ${ZERO_SENTINEL}, NOT ${held}, ${UNHELD_SENTINEL}, ${instant})`
      })
    })
  })
  // Printed as it is, Go's time names its location (-0700 -0700, CET): Sluice prints UTC only.
  const located = fields.zone !== undefined || fields.zoneName !== undefined || !utc
  return { sql, time: true, zeroable: true, ...(located ? { located: true } : {}), err: `${sql} = ${UNHELD_SENTINEL}` }
}

/** Go's zero time, and a time Go holds but a DateTime64 does not, among parsed times (which are from 1901 on). */
const ZERO_SENTINEL = "toDateTime64('1900-01-01 00:00:00', 9, 'UTC')"
const UNHELD_SENTINEL = "toDateTime64('1900-01-01 00:00:01', 9, 'UTC')"

/** Go's zero time as a layout prints it. */
function zeroTime(layout: string): string {
  return layoutElements(layout)
    .map((e) => (!e.std ? e.text : /^[.,]0+$/.test(e.std) ? e.std : /^[.,]9+$/.test(e.std) ? '' : /^-07/.test(e.std) ? e.std.replace('-07', '+00') : /^Z07/.test(e.std) ? 'Z' : (ZERO_TIME[e.std] ?? e.std)))
    .join('')
}

// ---- JSON values: sprig's fromJson ---------------------------------------------------------------
// fromJson decodes a JSON text into Go values: maps (map[string]interface{}), slices, float64s,
// strings, bools and nil. Here such a value is its JSON text as ClickHouse writes it (JSONExtractRaw's
// form), 'null' for Go's nil interface (a JSON null, a key the map lacks) and '' for an invalid value:
// what text/template makes of nil once a pipeline ends (fromJson's nil, a variable given nil). A field
// of an invalid value is invalid; a field of nil, or of anything but a map, fails the line. Printed
// as fmt prints them: map[k:v …] with the keys sorted, [a b …], a number as %v prints a float64, nil
// inside a container as <nil>, and <no value> for nil or invalid on its own. Compared as Go's eq, lt,
// … compare them, with each other or with a string or a number written out: strings as bytes,
// numbers as float64s, bools for equality; nil equals only nil and orders nothing; any other pair
// fails the line. A field of a parenthesised pipeline's value, `(fromJson .j).a`, is read as Go
// chains it. Where ClickHouse's JSON
// reader could read a text otherwise than Go's decoder (an integer beyond 64 bits, a whole float
// from 2^64 to 1e21, a lone UTF-16 surrogate escape, invalid UTF-8, a negative zero), where a
// container nested more than MAX_JSON_DEPTH deep is printed, and for printf's %s of a value that is
// no string (or %f and %e of one that is no number), the query fails with a 400 (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO, worded by the guard)
// instead of answering otherwise than Loki. ClickHouse may evaluate a template on lines the query's
// other filters drop: such a text beside the selected lines can refuse the query too.

/** Containers printed inside one another at most; one deeper refuses the query. */
export const MAX_JSON_DEPTH = 4
/** The start of the message ClickHouse's throwIf raises for a JSON text this module cannot read as Go does. */
const JSON_REFUSED = 'unsupported LogQL: fromJson of'

let jsonLambdas = 0
const jsonName = () => `_j${jsonLambdas++}`
const jsonType = (j: string) => `JSONType(${j})`
const JSON_NUMBER = "('Int64', 'UInt64', 'Double')"
/** Fails the query where `cond` holds, with a message the guard answers as a 400 (a String expression, '0' elsewhere). */
const refuseWhere = (cond: string, why: string) => `toString(throwIf(${cond}, '${JSON_REFUSED} ${why}'))`

/** fromJson: the value of a JSON text; '' (invalid) where Go's decoder fails or reads null. */
function fromJson(s: string): string {
  return bound([s], (x) => {
    const doubtful = `(NOT isValidUTF8(${x}) OR match(${x}, '[0-9]{20}') OR match(${x}, '\\\\\\\\u[dD][89a-fA-F]'))`
    const minusZero = `match(${x}, '(?:^|[\\\\[,:\\\\s])-0(?:[.]0*)?(?:[eE][+-]?[0-9]+)?(?:[\\\\]},\\\\s]|$)')`
    // ClickHouse writes a whole double from 2^64 up to 1e21 as digits it then cannot read back.
    const written = bound([`JSONExtractRaw(${x})`], (raw) => `if(isValidJSON(${raw}), replaceRegexpOne(${raw}, '^null$', ''), ${refuseWhere(`NOT isValidJSON(${raw})`, 'a text with a whole number from 2^64 up to 1e21 written as a float (1e20)')})`)
    return `multiIf(NOT isValidJSON(${x}), if(${doubtful}, ${refuseWhere(doubtful, 'a text ClickHouse cannot read as Go does (an integer beyond 64 bits, a lone surrogate escape, invalid UTF-8)')}, ''), ${minusZero}, ${refuseWhere(minusZero, 'a text with a negative zero (-0, -0.0)')}, ${written})`
  })
}

/**
 * A map's entries as Go's map holds them (the last value of a repeated key), sorted by key, as fmt
 * prints them and range visits them; each key followed by `suffix`. One lambda: ClickHouse takes
 * about a millisecond to analyse each, and a printed value holds this once per level of nesting.
 */
function jsonEntries(j: string, suffix = ''): string {
  const k = jsonName()
  return `arrayMap(${k} -> tuple(${suffix ? `concat(${k}, '${suffix}')` : k}, ${lastValue(j, k)}), arraySort(arrayDistinct(${jsonKeys(j)})))`
}

/** A map's keys as written, repeated ones included. */
const jsonKeys = (j: string) => `tupleElement(JSONExtractKeysAndValuesRaw(${j}), 1)`
/** The value of the last of a map's entries with key `k` (Go's decoder keeps the last), for a key it has. */
const lastValue = (j: string, k: string) => `tupleElement(JSONExtractKeysAndValuesRaw(${j}), 2)[length(${jsonKeys(j)}) + 1 - indexOf(arrayReverse(${jsonKeys(j)}), ${k})]`

/** A field of a JSON value: its map's value for `key` ('null' where the map lacks it); invalid stays invalid; anything else fails. */
function jsonField(v: Value, k: string): Value {
  const sql = bound([v.sql], (j) => `multiIf(${j} = '', '', ${jsonType(j)} = 'Object' AND has(${jsonKeys(j)}, ${k}), ${lastValue(j, k)}, 'null')`)
  return { sql, json: true, maybeNil: true, err: either(v.err, `(${v.sql} != '' AND ${jsonType(v.sql)} != 'Object')`) }
}

/**
 * A JSON value as fmt prints it (`top`: on its own, where nil and invalid print <no value>). A
 * container's elements, a map's prefixed with `key:`, are printed by one expression for both
 * kinds, so each level of nesting costs one copy of the printer, not two. `ints`: a number is a
 * Go int (a range's index), printed as its digits.
 */
function jsonText(j: string, top: boolean, depth = 0, ints = false): string {
  const print = (x: string) => {
    const e = jsonName()
    const t = jsonType(x)
    const elements = `if(${t} = 'Object', ${jsonEntries(x, ':')}, arrayZip(arrayWithConstant(JSONLength(${x}), ''), JSONExtractArrayRaw(${x})))`
    const container = depth < MAX_JSON_DEPTH
      ? `concat(if(${t} = 'Object', 'map[', '['), arrayStringConcat(arrayMap(${e} -> concat(tupleElement(${e}, 1), ${jsonText(`tupleElement(${e}, 2)`, false, depth + 1)}), ${elements}), ' '), ']')`
      : refuseWhere(`${t} IN ('Object', 'Array')`, `JSON nested more than ${MAX_JSON_DEPTH} deep, printed`)
    return `multiIf(${x} = '' OR ${x} = 'null', '${top ? '<no value>' : '<nil>'}', ${t} = 'String', JSONExtractString(${x}), ${t} = 'Bool', ${x}, ${t} IN ('Object', 'Array'), ${container}, ${ints ? x : floatText(`toFloat64OrZero(${x})`)})`
  }
  // An element is named by its lambda already; a value from elsewhere is named once here.
  return depth > 0 ? print(j) : bound([j], print)
}

/** A JSON value as `if`, `with` and `and`/`or` read it: nil, invalid, an empty map, slice or string, 0 and false are false. */
const jsonTruthy = (j: string) =>
  bound([j], (x) => `multiIf(${x} = '' OR ${x} = 'null', 0, ${jsonType(x)} IN ('Object', 'Array'), JSONLength(${x}) > 0, ${jsonType(x)} = 'String', ${x} != '""', ${jsonType(x)} = 'Bool', ${x} = 'true', toFloat64OrZero(${x}) != 0)`)

/** A JSON value passed where Go's function takes a string: a string's text; anything else fails ("expected string"). */
const jsonAsString = (v: Value): Value => ({ sql: `JSONExtractString(${v.sql})`, err: either(v.err, `(${jsonType(v.sql)} != 'String')`) })

/** cast.ToInt64 / cast.ToFloat64 of a JSON value, as sprig's arithmetic converts it (a map, a slice or nil: 0). */
function jsonNumber(v: Value, h: Helpers, to: 'int' | 'float'): string {
  return bound([v.sql], (x) => {
    const t = jsonType(x)
    const text = `JSONExtractString(${x})`
    const [fromText, fromFloat, fromBool, zero] =
      to === 'int' ? [stringToInt64(text, h), floatToInt64(`toFloat64OrZero(${x})`), `toInt64(${x} = 'true')`, 'toInt64(0)'] : [stringToFloat64(text, h), `toFloat64OrZero(${x})`, `toFloat64(${x} = 'true')`, 'toFloat64(0)']
    return `multiIf(${t} = 'String', ${fromText}, ${t} IN ${JSON_NUMBER}, ${fromFloat}, ${t} = 'Bool', ${fromBool}, ${zero})`
  })
}

/**
 * `index` of a JSON value by each key in turn: a map's value by a string (nil where it lacks it), a
 * slice's element or a string's byte by an integer; indexing nil, invalid or anything else, or out of range, fails.
 */
function jsonIndex(item: Value, keys: Value[], h: Helpers): Value {
  const byInt = (v: Value, at: string): Value => {
    // A string's byte is a uint8, here the JSON number it prints as.
    const sql = bound([v.sql], (x) => `multiIf(${jsonType(x)} = 'Array', JSONExtractArrayRaw(${x})[${at} + 1], ${jsonType(x)} = 'String', toString(reinterpretAsUInt8(substring(JSONExtractString(${x}), ${at} + 1, 1))), '')`)
    const size = `if(${jsonType(v.sql)} = 'String', length(JSONExtractString(${v.sql})), JSONLength(${v.sql}))`
    return { sql, json: true, maybeNil: true, err: either(v.err, `(${jsonType(v.sql)} NOT IN ('Array', 'String') OR ${at} < 0 OR ${at} >= ${size})`) }
  }
  const byString = (v: Value, k: Value): Value => {
    const found = jsonField(v, k.sql)
    return { ...found, err: either(either(found.err, k.err), `(${v.sql} = '')`) }
  }
  return keys.reduce<Value>((v, key) => {
    const at = goInt(key, h)
    if (at !== undefined) return byInt(v, at)
    if (!isString(key) && !key.json) throw unsupported('template index of a fromJson value by anything but a string or an integer')
    if (key.index) {
      // A range's key: a slice's index (an int) or a map's key (a string), as the line has it.
      const isInt = `(${jsonType(key.sql)} IN ${JSON_NUMBER})`
      const [n, str] = [byInt(v, `toInt64OrZero(${key.sql})`), byString(v, jsonAsString(key))]
      return { sql: `if(${isInt}, ${n.sql}, ${str.sql})`, json: true, maybeNil: true, err: `if(${isInt}, ${n.err ?? '0'}, ${str.err ?? '0'})` }
    }
    return byString(v, key.json ? jsonAsString(key) : key)
  }, item)
}

/**
 * Go's eq of a JSON value and a string or a number written out: equal where both are strings or
 * both floats (an integer literal is Go's int, which eq cannot compare with a float64); other
 * kinds fail (errBadComparison), except nil and invalid, which equal nothing. `fails` leaves out
 * the errors of the values themselves.
 */
function jsonEquals(j: Value, other: Value, h: Helpers): { sql: string; fails: string } {
  const t = jsonType(j.sql)
  const valid = `(${j.sql} != '' AND ${j.sql} != 'null')`
  if (isString(other)) return { sql: `(${t} = 'String' AND JSONExtractString(${j.sql}) = ${other.sql})`, fails: `(${valid} AND ${t} != 'String')` }
  if (j.index) {
    // A slice's index is a Go int: equal to an int, failing against a float (or as a map's key, a string).
    const int = goInt(other, h)
    if (int !== undefined) return { sql: `(${t} IN ${JSON_NUMBER} AND toInt64OrZero(${j.sql}) = ${int})`, fails: `(${valid} AND ${t} NOT IN ${JSON_NUMBER})` }
    if (other.num === 'float') return { sql: '0', fails: valid }
  }
  if (other.num === 'float') return { sql: `(${t} IN ${JSON_NUMBER} AND toFloat64OrZero(${j.sql}) = ${other.sql})`, fails: `(${valid} AND ${t} NOT IN ${JSON_NUMBER})` }
  if (other.num === 'int' || other.intText !== undefined) return { sql: '0', fails: valid }
  // A decoded bool and a condition (true, eq …): equal when they agree.
  if (other.bool) return { sql: `(${t} = 'Bool' AND (${j.sql} = 'true') = (${other.sql}))`, fails: `(${valid} AND ${t} != 'Bool')` }
  throw unsupported('template eq or ne of a fromJson value and a time')
}

/**
 * One comparison of Go's eq (its first argument with one of the others), a JSON value among them:
 * whether they are equal, and when Go's eq fails on them.
 */
function equalPair(a: Value, b: Value, text: string, h: Helpers): { sql: string; fails: string } {
  if (a.json && b.json) return jsonEqualsBoth(a, b)
  if (a.json || b.json) return jsonEquals(a.json ? a : b, a.json ? b : a, h)
  return { sql: comparable('eq', [a, b], text, 2).join(' = '), fails: '0' }
}

/**
 * Go's eq and ne with a JSON value among the arguments. eq a b c compares a with b, then with c:
 * true at the first equal one, failing at the first pair Go cannot compare before that.
 */
function jsonEq(name: string, args: Value[], text: string, h: Helpers): Value {
  if (args.length < 2 || args.length > (name === 'eq' ? 16 : 2)) throw invalid(text, `${name} takes ${name === 'eq' ? '2 or more' : 2} argument(s), got ${args.length}`)
  const [first, ...rest] = args as [Value, ...Value[]]
  const pairs = rest.map((b) => equalPair(first, b, text, h))
  const sql = pairs.length === 1 ? pairs[0]!.sql : `(${pairs.map((p) => p.sql).join(' OR ')})`
  const fails = pairs.map((p, i) => (p.fails === '0' ? undefined : i === 0 ? p.fails : `(${p.fails} AND NOT (${pairs.slice(0, i).map((q) => q.sql).join(' OR ')}))`)).reduce(either, undefined)
  return compared({ sql: name === 'eq' ? sql : `NOT ${sql}`, fails: fails ?? '0' }, args)
}

const ORDER: Record<string, string> = { lt: '<', le: '<=', gt: '>', ge: '>=' }

/**
 * Go's lt, le, gt and ge of a JSON value and a string or a number written out, in either order:
 * a decoded string with a string (bytes), a decoded number with a float. Anything else fails the
 * line: an integer literal (Go's int against a float64), another kind, and nil too (unlike eq, lt
 * cannot order an invalid value); le, gt and ge fail where lt fails, as Go builds them on it.
 */
function jsonOrder(name: string, a: Value, b: Value, h: Helpers): { sql: string; fails: string } {
  const j = a.json ? a : b
  const other = a.json ? b : a
  const int = goInt(other, h)
  if (j.index && int !== undefined) {
    // A slice's index is a Go int, ordered against an int (a map's key, a string, fails).
    const sql = bound([j.sql], (v) => (a.json ? `toInt64OrZero(${v}) ${ORDER[name]} ${int}` : `${int} ${ORDER[name]} toInt64OrZero(${v})`))
    return { sql, fails: bound([j.sql], (v) => `${v} = '' OR ${jsonType(v!)} NOT IN ${JSON_NUMBER}`) }
  }
  // Go orders no bools (nor an int against a float64).
  if (int !== undefined || other.bool || (j.index && other.num === 'float')) return { sql: '0', fails: '1' }
  if (!isString(other) && other.num !== 'float') throw unsupported(`template ${name} of a fromJson value and a time`)
  const kinds = isString(other) ? "('String')" : JSON_NUMBER
  const sql = bound([j.sql], (v) => {
    const value = isString(other) ? `JSONExtractString(${v})` : `toFloat64OrZero(${v})`
    return a.json ? `${value} ${ORDER[name]} ${other.sql}` : `${other.sql} ${ORDER[name]} ${value}`
  })
  return { sql, fails: bound([j.sql], (v) => `${v} = '' OR ${jsonType(v!)} NOT IN ${kinds}`) }
}

/** Go's nil in a comparison: a nil interface, or what text/template makes of one once a pipeline ends. */
const jsonNil = (x: string) => `(${x} = '' OR ${x} = 'null')`

/**
 * Both strings, both numbers (float64 once decoded), both bools: the pairs Go compares. A slice's
 * index (an int) and a decoded number (a float64) are not such a pair: `ints` says whether the two
 * numbers are the same kind.
 */
function jsonKinds(x: string, y: string, ints: boolean) {
  const [tx, ty] = [jsonType(x), jsonType(y)]
  return {
    strings: `(${tx} = 'String' AND ${ty} = 'String')`,
    numbers: ints ? `(${tx} IN ${JSON_NUMBER} AND ${ty} IN ${JSON_NUMBER})` : '0',
    bools: `(${tx} = 'Bool' AND ${ty} = 'Bool')`,
  }
}

/**
 * Go's eq of two JSON values: two strings, two numbers or two bools compare; nil equals nil and
 * nothing else; any other pair fails (different kinds, and maps and slices, which Go cannot
 * compare). Each value is bound once (it is read several times).
 */
function jsonEqualsBoth(a: Value, b: Value): { sql: string; fails: string } {
  const sql = bound([a.sql, b.sql], (x, y) => {
    const k = jsonKinds(x!, y!, !a.index === !b.index)
    return `multiIf(${jsonNil(x!)} OR ${jsonNil(y!)}, ${jsonNil(x!)} AND ${jsonNil(y!)}, ${k.strings}, JSONExtractString(${x}) = JSONExtractString(${y}), ${k.numbers}, toFloat64OrZero(${x}) = toFloat64OrZero(${y}), ${k.bools}, JSONExtractBool(${x}) = JSONExtractBool(${y}), 0)`
  })
  const fails = bound([a.sql, b.sql], (x, y) => {
    const k = jsonKinds(x!, y!, !a.index === !b.index)
    return `NOT (${jsonNil(x!)} OR ${jsonNil(y!)}) AND NOT (${k.strings} OR ${k.numbers} OR ${k.bools})`
  })
  return { sql, fails }
}

/** Go's lt, le, gt and ge of two JSON values: two strings (bytes) or two numbers; anything else fails the line, nil too. */
function jsonOrderBoth(name: string, a: Value, b: Value): { sql: string; fails: string } {
  const op = ORDER[name]
  const sql = bound([a.sql, b.sql], (x, y) => {
    const k = jsonKinds(x!, y!, !a.index === !b.index)
    return `multiIf(${k.strings}, JSONExtractString(${x}) ${op} JSONExtractString(${y}), ${k.numbers}, toFloat64OrZero(${x}) ${op} toFloat64OrZero(${y}), 0)`
  })
  const fails = bound([a.sql, b.sql], (x, y) => {
    const k = jsonKinds(x!, y!, !a.index === !b.index)
    return `${x} = '' OR ${y} = '' OR NOT (${k.strings} OR ${k.numbers})`
  })
  return { sql, fails }
}

/** A comparison of two arguments, a JSON value among them, with the errors of the arguments themselves. */
function compared(pair: { sql: string; fails: string }, args: readonly Value[]): Value {
  const err = [...args.map((a) => a.err), pair.fails === '0' ? undefined : pair.fails].reduce(either, undefined)
  return { sql: pair.sql, bool: true, ...(err && { err }) }
}

/** `len` of a JSON value: a map's keys, a slice's elements, a string's bytes; anything else fails. */
const jsonLen = (v: Value): Value =>
  int64(
    bound([v.sql], (x) => `toInt64(multiIf(${jsonType(x)} = 'Object', length(arrayDistinct(JSONExtractKeys(${x}))), ${jsonType(x)} = 'Array', JSONLength(${x}), length(JSONExtractString(${x}))))`),
    either(v.err, `(${jsonType(v.sql)} NOT IN ('Object', 'Array', 'String'))`),
  )

/**
 * What `range` iterates over a JSON value: (key, value) pairs, the key a JSON string (a map's key,
 * in order) or number (a slice's index); none for nil or invalid (the {{else}} runs); anything else
 * fails ("range can't iterate over 5").
 */
function jsonItems(v: Value): { items: string; err: string } {
  const e = jsonName()
  const i = jsonName()
  const items = bound([v.sql], (x) =>
    `multiIf(${jsonType(x)} = 'Object', arrayMap(${e} -> tuple(toJSONString(tupleElement(${e}, 1)), tupleElement(${e}, 2)), ${jsonEntries(x)}), ${jsonType(x)} = 'Array', arrayZip(arrayMap(${i} -> toString(${i} - 1), arrayEnumerate(JSONExtractArrayRaw(${x}))), JSONExtractArrayRaw(${x})), CAST([], 'Array(Tuple(String, String))'))`)
  return { items, err: either(v.err, `(${v.sql} != '' AND ${v.sql} != 'null' AND ${jsonType(v.sql)} NOT IN ('Object', 'Array'))`)! }
}

function evaluate(commands: Operand[][], scope: Scope, h: Helpers, text: string): Value {
  let piped: Value | undefined
  for (const command of commands) piped = call(command, piped, scope, h, text)
  return piped!
}

/** `.a.b` of a JSON value: each field of the one before. */
const fields = (v: Value, names: readonly string[], h: Helpers): Value => names.reduce((x, name) => jsonField(x, h.bind(name)), v)

function operand(o: Operand, scope: Scope, h: Helpers, text: string): Value {
  switch (o.kind) {
    case 'field': {
      // A field of a fromJson value inside {{with}} or {{range}} is its map's; of any other value
      // of theirs (a string, a number, a bool) it fails in Go wherever it runs ("can't evaluate
      // field … in type string"): on the lines that take that branch. So does a field of a label.
      if (scope.dot?.json && !o.root) return fields(scope.dot, [o.text, ...(o.chain ?? [])], h)
      if ((scope.dot && !o.root) || o.chain) return { sql: "''", err: '1' }
      return { sql: scope.label(o.text) }
    }
    case 'dot':
      if (!scope.dot) throw unsupported(`{{.}} outside {{with}} and {{range}}, the whole label set (Go prints it as map[…])`)
      return scope.dot
    case 'var': {
      if (o.text === '') throw unsupported(`{{$}}, the whole label set (Go prints it as map[…]; $.label is a label)`)
      const v = scope.vars?.get(o.text)
      if (!v) throw invalid(text, `undefined variable $${o.text}`)
      if (!o.chain) return v.value
      return v.value.json ? fields(v.value, o.chain, h) : { sql: "''", err: '1' }
    }
    case 'string':
      return { sql: h.bind(o.text), text: o.text }
    case 'int': {
      // Go reads 010 as octal: Sluice reads no such literal.
      if (/^-?0\d/.test(o.text)) throw unsupported(`template number ${o.text} (a leading 0 is octal in Go)`)
      const n = BigInt(o.text)
      if (n < -(2n ** 63n) || n >= 2n ** 63n) throw invalid(text, `the number ${o.text} overflows int`)
      return { sql: h.bind(n.toString()), int: Number(n), intText: n.toString() }
    }
    case 'float': {
      const f = Number(o.text)
      if (!Number.isFinite(f)) throw invalid(text, `the number ${o.text} is out of range`)
      return { sql: h.typed(String(f), 'Float64'), num: 'float', float: f }
    }
    case 'pipeline': {
      const v = evaluate(o.commands, scope, h, text)
      if (!o.chain) return v
      // Fields of a fromJson map; of anything else Go fails ("can't evaluate field … in type string").
      return v.json ? fields(v, o.chain, h) : { sql: "''", err: either(v.err, '1')! }
    }
    case 'ident':
      return call([o], undefined, scope, h, text)
  }
}

function call(command: Operand[], piped: Value | undefined, scope: Scope, h: Helpers, text: string): Value {
  const head = command[0]!
  if (head.kind !== 'ident') {
    if (command.length > 1 || piped) throw invalid(text, `${head.kind === 'field' ? `.${head.text}` : head.kind === 'dot' ? '.' : head.kind === 'var' ? `$${head.text}` : 'a value'} is not a function: it takes no arguments`)
    return operand(head, scope, h, text)
  }
  const args = command.slice(1).map((o) => operand(o, scope, h, text))
  if (piped) args.push(piped)
  const result = apply(head.text, args, scope, h, text)
  // A failing argument fails the call. and/or (Go 1.18) evaluate their arguments left to right and
  // stop where the answer is known: a later one fails the call only where it is reached (a piped
  // value was evaluated before the call).
  const lazy = (head.text === 'and' || head.text === 'or') && args.length >= 2
  let reached: string | undefined
  let err = result.err
  for (const [i, a] of args.entries()) {
    const counts = !lazy || (piped !== undefined && i === args.length - 1) ? undefined : reached
    if (a.err) err = either(err, counts ? `(${counts} AND ${a.err})` : a.err)
    if (lazy) {
      const goesOn = head.text === 'and' ? `(${truthy(a)})` : `NOT (${truthy(a)})`
      reached = reached ? `(${reached} AND ${goesOn})` : goesOn
    }
  }
  return err ? { ...result, err } : result
}

/** Whether Go holds `v` as a string (a label, a literal string, what string functions give). */
const isString = (v: Value) => !v.json && !v.bool && !v.time && v.num === undefined && v.intText === undefined

/**
 * fmt.Sprint: each operand as Go prints it, a space between two operands where neither is a
 * string; fmt.Sprintln (`line`): a space between every two, and a newline after.
 */
function sprint(args: Value[], h: Helpers, line = false, printable = false): string {
  // A fromJson value is a string or not only on the line. text/template's escapers (`printable`)
  // hand fmt "<no value>", a string, for nil, as they print it.
  const nil = (a: Value) => `${a.sql} = '' OR ${a.sql} = 'null'`
  const str = (a: Value) => (a.json ? `${jsonType(a.sql)} = 'String'${printable ? ` OR ${nil(a)}` : ''}` : isString(a) ? '1' : '0')
  const space = (i: number): string[] => {
    if (i === 0) return []
    if (line) return ["' '"]
    const [a, b] = [str(args[i - 1]!), str(args[i]!)]
    if (a === '1' || b === '1') return []
    return a === '0' && b === '0' ? ["' '"] : [`if(${a === '0' ? '' : `${a} OR `}${b === '0' ? '0' : b}, '', ' ')`]
  }
  return concatenated([...args.flatMap((a, i) => [...space(i), printed(a, h, !printable)]), ...(line ? ["'\\n'"] : [])])
}

/** The text an escaper (html, urlquery) reads: one string as it is, anything else as fmt.Sprint prints it. */
const escaped = (args: Value[], h: Helpers) => (args.length === 1 && isString(args[0]!) ? args[0]!.sql : sprint(args, h, false, true))

/**
 * text/template's own functions, there beside Loki's list: len, index and slice of strings
 * (bytes, as Go indexes them; out of range fails the line), print and println (fmt.Sprint,
 * fmt.Sprintln), html and urlquery (HTMLEscapeString, QueryEscape of what Sprint prints).
 */
const BUILTINS: Record<string, NumberFn> = {
  len: (args, h, text) => {
    takes('len', args, text, 1)
    if (args[0]!.json) return jsonLen(args[0]!)
    // Go's len of a number or a condition fails ("len of type int").
    return isString(args[0]!) ? int64(`toInt64(length(${args[0]!.sql}))`) : int64('0', '1')
  },
  index: (args, h, text) => {
    takes('index', args, text, 1, Infinity)
    const [item, i] = args as [Value, Value | undefined]
    if (i === undefined) return item
    if (item.json) return jsonIndex(item, args.slice(1), h)
    // A second index would index the byte, which Go cannot.
    if (args.length > 2) return int64('0', '1')
    const at = goInt(i, h) ?? indexInt(i)
    // A string's byte, a uint8; anything else Go cannot index here.
    if (!isString(item) || at === undefined) return int64('0', '1')
    return int64(`toInt64(reinterpretAsUInt8(substring(${item.sql}, ${at} + 1, 1)))`, either(indexNotInt(i), `(${at} < 0 OR ${at} >= length(${item.sql}))`)!)
  },
  slice: (args, h, text) => {
    takes('slice', args, text, 1, Infinity)
    const [item, ...bounds] = args as [Value, ...Value[]]
    if (bounds.length === 0) return item
    if (item.json) throw unsupported('template slice of a fromJson value')
    const at = bounds.map((b) => goInt(b, h) ?? indexInt(b))
    // A string takes at most two indexes ("cannot 3-index slice a string", "too many slice indexes").
    if (!isString(item) || at.includes(undefined) || at.length > 2) return { sql: "''", err: '1' }
    const [from, to] = at as [string, string | undefined]
    const len = `length(${item.sql})`
    // A range's key that is a map's (a string) is no index.
    const keys = bounds.map(indexNotInt).reduce(either, undefined)
    if (to === undefined) return { sql: `substring(${item.sql}, ${from} + 1)`, err: either(keys, `(${from} < 0 OR ${from} > ${len})`)! }
    return { sql: `substring(${item.sql}, ${from} + 1, greatest(${to} - ${from}, 0))`, err: either(keys, `(${from} < 0 OR ${to} > ${len} OR ${from} > ${to})`)! }
  },
  print: (args, h) => ({ sql: sprint(args, h) }),
  println: (args, h) => ({ sql: sprint(args, h, true) }),
  html: (args, h) => ({
    sql: [['&', '&amp;'], ['<', '&lt;'], ['>', '&gt;'], ['"', '&#34;'], ["'", '&#39;'], ['\u0000', '\uFFFD']].reduce((x, [from, to]) => `replaceAll(${x}, ${h.constant(from!)}, ${h.constant(to!)})`, escaped(args, h)),
  }),
  urlquery: (args, h) => ({ sql: `encodeURLFormComponent(${escaped(args, h)})` }),
}

function apply(name: string, args: Value[], scope: Scope, h: Helpers, text: string): Value {
  // Go's boolean constants.
  if (name === 'true' || name === 'false') {
    if (args.length) throw invalid(text, `can't give argument to non-function ${name}`)
    return { sql: name === 'true' ? '1' : '0', bool: true }
  }
  if (name === '__line__') {
    if (args.length) throw invalid(text, '__line__ takes no arguments')
    return { sql: scope.line }
  }
  if (name === 'fromJson') {
    takes('fromJson', args, text, 1)
    const [s] = args.map((a) => (a.json ? jsonAsString(a) : a))
    if (!isString(s!)) throw invalid(text, 'fromJson takes a string')
    return { sql: fromJson(s!.sql), json: true, ...(s!.err && { err: s!.err }) }
  }
  if ((name === 'eq' || name === 'ne') && args.some((a) => a.json)) return jsonEq(name, args, text, h)
  if (Object.hasOwn(ORDER, name) && args.length === 2 && args.some((a) => a.json)) {
    const [a, b] = args as [Value, Value]
    return compared(a.json && b.json ? jsonOrderBoth(name, a, b) : jsonOrder(name, a, b, h), args)
  }
  // not: whether the value is empty, as if and with read it (nil and invalid are).
  if (name === 'not' && args.length === 1 && args[0]!.json) return { sql: `NOT ${jsonTruthy(args[0]!.sql)}`, bool: true }
  if (args.some((a) => a.json)) {
    // Where Go hands the value on as it is (other comparisons, and/or), its type is known only on
    // the line: not compiled here.
    if (name === 'default' && args.length === 2 && isString(args[0]!) && args[1]!.json) {
      // sprig's default: the given value unless it is empty (nil, "", 0, false, an empty map or slice).
      const [d, given] = args as [Value, Value]
      return { sql: `if(${jsonTruthy(given.sql)}, ${given.sql}, toJSONString(${d.sql}))`, json: true }
    }
    if (Object.hasOwn(CONDITIONS, name) || name === 'and' || name === 'or' || name === 'default' || Object.hasOwn(TIMES, name)) {
      throw unsupported(`template ${name} of a fromJson value (print it, range over it, take its fields, or pass a string or number of it to a function)`)
    }
  }
  if (Object.hasOwn(TIMES, name)) return TIMES[name]!(args, h, text, scope)
  if (Object.hasOwn(CONDITIONS, name)) return { sql: CONDITIONS[name]!(args, text), bool: true }
  if ((name === 'and' || name === 'or') && args.length >= 2) return logical(name, args)
  if (Object.hasOwn(NUMBERS, name)) return NUMBERS[name]!(args, h, text)
  if (Object.hasOwn(BUILTINS, name)) return BUILTINS[name]!(args, h, text)
  // printf formats conditions too (%v, %t).
  if (name === 'printf' && !args.some((a) => a.time)) return { sql: printf(args, h, text) }
  if (args.some((a) => a.bool || a.time)) throw invalid(text, `${name} takes strings, not a ${args.some((a) => a.bool) ? 'condition' : 'time (format it with date)'}`)
  if (name === 'printf') return { sql: printf(args, h, text) }
  if (args.some((a) => a.num)) throw invalid(text, `${name} takes strings, not a number (printf formats one)`)
  if (!Object.hasOwn(FUNCTIONS, name)) throw unsupported(`template function ${name} (Sluice's templates take ${[...Object.keys(FUNCTIONS), 'printf', ...Object.keys(NUMBERS), ...Object.keys(CONDITIONS), ...Object.keys(BUILTINS), 'and', 'or', 'fromJson'].join(', ')}, ${Object.keys(TIMES).join(', ')}, if/else, with, range and __line__)`)
  const fn = FUNCTIONS[name]!
  if (args.length !== fn.arity) throw invalid(text, `${name} takes ${fn.arity} argument(s), got ${args.length}`)
  // A fromJson value passed for a string: its text where it is one; Go's call fails otherwise.
  const strings = args.map((a) => (a.json ? jsonAsString(a) : a))
  const out = fn.apply(strings, h)
  const result: Value = typeof out === 'string' ? { sql: out } : out
  const err = strings.reduce<string | undefined>((e, a, i) => (args[i]!.json ? either(e, a.err) : e), undefined)
  return err ? { ...result, err: either(result.err, err) } : result
}

/**
 * Where the action opened before `from` closes: the first }} outside quoted and raw strings, as
 * Go's lexer reads it (a string left open: the first }}, for the tokenizer to name; -1: none).
 */
function actionEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text[i]
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++
    } else if (c === '`') {
      i = text.indexOf('`', i + 1)
    } else if (c === '}' && text[i + 1] === '}') {
      return i
    }
    if (i < 0 || i >= text.length) return text.indexOf('}}', from)
  }
  return -1
}

/** The template as a String expression. */
export function compileTemplate(text: string, scope: TemplateScope): CompiledTemplate {
  const constants = new Map<string, string>()
  const h: Helpers = {
    bind: (v) => scope.p.bind(v),
    typed: (v, type) => scope.p.bind(v, type),
    constant: (v) => {
      let bound = constants.get(v)
      if (bound === undefined) constants.set(v, (bound = scope.p.bind(v)))
      return bound
    },
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
    const close = actionEnd(rest, open + 2)
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
    return evaluate(commands, current, h, text)
  }
  // What `.` is (the labels, or inside a {{with}} its value) and the variables in scope.
  let current: Scope = scope
  /**
   * `$x := pipeline` at the head of `tokens`: declares $x in the current scope; `$x = pipeline`
   * gives the $x in scope another value from here on. Either gives the value.
   */
  const declaration = (tokens: Token[]): Value | undefined => {
    if (tokens[0]?.kind !== 'var') return undefined
    const op = tokens[1]?.kind
    if (op !== ':=' && op !== '=') return undefined
    const name = tokens[0].text
    if (name === '') throw invalid(text, op === ':=' ? 'cannot declare $' : 'cannot assign to $')
    if (tokens[0].chain) throw invalid(text, `unexpected ${op} after $${name}.${tokens[0].chain.join('.')}`)
    const value = invalidNil(pipeline(tokens.slice(2)))
    if (op === '=') {
      const v = current.vars?.get(name)
      // Go parses an assignment to a variable never declared, and fails where it runs.
      if (!v) return { sql: "''", err: '1' }
      v.value = value
    } else current = { ...current, vars: new Map([...(current.vars ?? []), [name, { name, value }]]) }
    return value
  }
  /** A pipeline's value as a variable holds it: Go's nil interface becomes invalid once the pipeline ends. */
  const invalidNil = (v: Value): Value => (v.json && v.maybeNil ? { ...v, sql: `replaceRegexpOne(${v.sql}, '^null$', '')`, maybeNil: undefined } : v)
  /** The values of the variables in scope now, to restore or compare after a branch. */
  const snapshot = (): Map<Variable, Value> => new Map([...(current.vars?.values() ?? [])].map((v) => [v, v.value]))
  const restore = (values: ReadonlyMap<Variable, Value>) => values.forEach((value, v) => (v.value = value))
  /**
   * After an {{if}}'s branches: each variable of the enclosing scope holds what the branch taken
   * gave it (`then` when `cond` holds, what it holds now otherwise).
   */
  const merge = (cond: string, then: ReadonlyMap<Variable, Value>, where = 'the branches of {{if}} or {{with}}') => {
    then.forEach((value, v) => {
      const other = v.value
      if (value === other) return
      if (kind(value) !== kind(other)) throw unsupported(`template variable $${v.name} given values of different types in ${where}`)
      const err = value.err || other.err ? `if(${cond}, ${value.err ?? '0'}, ${other.err ?? '0'})` : undefined
      v.value = { ...typed(value, `if(${cond}, ${sqlOf(value)}, ${sqlOf(other)})`), ...(err && { err }) }
    })
  }
  // An integer literal is Go's int too, though its expression is its text.
  const num = (x: Value) => x.num ?? (x.intText !== undefined ? 'int' : undefined)
  /** What a variable's value is, as far as the SQL that holds it goes. */
  const kind = (x: Value) => [num(x), x.bool, x.time, x.zeroable, x.located, x.json, x.index].join()
  const sqlOf = (x: Value) => (num(x) === 'int' ? goInt(x, h)! : x.sql)
  /** A value of x's kind held by `sql`. */
  const typed = (x: Value, sql: string): Value => ({ sql, num: num(x), bool: x.bool, time: x.time, zeroable: x.zeroable, located: x.located, json: x.json, index: x.index })
  /**
   * x as a value of `target`'s kind, where the same Go value has both: a string as a decoded JSON
   * string, an int as a range's index over a slice; undefined where it has not.
   */
  const promoted = (x: Value, target: Value): Value | undefined => {
    if (kind(x) === kind(target)) return x
    if (!target.json || target.maybeNil) return undefined
    if (isString(x)) return { sql: `toJSONString(${x.sql})`, json: true, index: target.index, ...(x.err && { err: x.err }) }
    if (target.index && num(x) === 'int') return { sql: `toString(${sqlOf(x)})`, json: true, index: true, ...(x.err && { err: x.err }) }
    return undefined
  }
  /** x's SQL with one type per kind, as a fold's accumulator holds it from one element to the next. */
  const carried = (x: Value, name: string) => {
    if (x.time) throw unsupported(`template variable $${name} given a time inside {{range}}`)
    return x.bool ? `toUInt8(${x.sql})` : num(x) === 'int' ? `toInt64(${sqlOf(x)})` : num(x) === 'float' ? `toFloat64(${x.sql})` : `toString(${x.sql})`
  }
  let at = 0
  /**
   * A part of the output: its String expression, when Go's template fails there, and when control
   * leaves the enclosing {{range}}'s element there: by {{break}} (`brk`) or {{continue}} (`cont`).
   */
  type Part = { sql: string; err?: string; brk?: string; cont?: string }
  /** How many {{range}} bodies enclose the segment being compiled: {{break}} and {{continue}} need one. */
  let loops = 0
  /** The parts of the segments up to an {{else}} or {{end}} (left for the caller). */
  const block = (): Part[] => {
    const out: Part[] = []
    // When control has left the block by {{break}} or {{continue}}: what follows runs only otherwise.
    let left: string | undefined
    const add = (part: Part) => {
      // After an unconditional {{break}} or {{continue}}: never runs (Go still parses it).
      if (left === '1') return
      const guard = (cond: string | undefined) => (cond && left ? `(NOT ${left} AND ${cond})` : cond)
      const guarded: Part = { sql: left ? `if(${left}, '', ${part.sql})` : part.sql }
      for (const k of ['err', 'brk', 'cont'] as const) if (part[k]) guarded[k] = guard(part[k])
      out.push(guarded)
      left = either(left, either(part.brk, part.cont))
    }
    /**
     * Compiles an action that may give variables values: after a {{break}} or {{continue}} it runs
     * only where control has not left, so each keeps its value where it has (and after an
     * unconditional one, everywhere).
     */
    const unlessLeft = <T>(compile: () => T): T => {
      if (!left) return compile()
      const cond = left
      const prior = snapshot()
      const result = compile()
      const after = new Map([...prior.keys()].map((v) => [v, v.value]))
      restore(prior)
      if (cond !== '1') merge(`NOT ${cond}`, after, 'a {{range}} after a {{break}} or {{continue}}')
      return result
    }
    for (; at < segments.length; at++) {
      const seg = segments[at]!
      if ('text' in seg) {
        if (seg.text !== '') add({ sql: h.bind(seg.text) })
        continue
      }
      const word = keyword(seg)
      if (word === 'else' || word === 'end') return out
      const declared = unlessLeft(() => declaration(seg.tokens))
      if (declared) {
        // {{ $x := … }} prints nothing; its value (and failure) counts where it is declared.
        add({ sql: "''", ...(declared.err && { err: declared.err }) })
        continue
      }
      if (word === 'if' || word === 'with') {
        add(unlessLeft(() => conditional(seg.tokens.slice(1), word)))
        continue
      }
      if (word === 'range') {
        add(unlessLeft(() => ranged(seg.tokens.slice(1))))
        continue
      }
      if (word === 'break' || word === 'continue') {
        // Go's parser: nothing may follow the keyword, and only inside a {{range}}'s body.
        if (seg.tokens.length > 1) throw invalid(text, `unexpected ${JSON.stringify(seg.tokens[1]!.text)} in {{${word}}}`)
        if (loops === 0) throw invalid(text, `{{${word}}} outside {{range}}`)
        add(word === 'break' ? { sql: "''", brk: '1' } : { sql: "''", cont: '1' })
        continue
      }
      if (word && ['define', 'template', 'block'].includes(word)) {
        throw unsupported(`template action {{${word}}} (Sluice's templates take labels, __line__, literals, string functions, if/else, with and range)`)
      }
      const v = pipeline(seg.tokens)
      add({ sql: printed(v, h), ...(v.err && { err: v.err }) })
    }
    return out
  }
  const joined = (parts: Part[]) => concatenated(parts.map((x) => x.sql))
  const failed = (parts: Part[]) => parts.reduce<string | undefined>((e, x) => either(e, x.err), undefined)
  /** When control leaves the enclosing {{range}}'s element in a block: by {{break}}; by {{continue}}. */
  const broken = (parts: Part[]) => parts.reduce<string | undefined>((e, x) => either(e, x.brk), undefined)
  const continued = (parts: Part[]) => parts.reduce<string | undefined>((e, x) => either(e, x.cont), undefined)
  /** A block as one part. */
  const whole = (parts: Part[]): Part => {
    const [err, brk, cont] = [failed(parts), broken(parts), continued(parts)]
    return { sql: joined(parts), ...(err && { err }), ...(brk && { brk }), ...(cont && { cont }) }
  }
  /** `then` where `cond` holds, else `other`, of an optional condition ('0' for none). */
  const branch = (cond: string, then: string | undefined, other: string | undefined) => (then || other ? `if(${cond}, ${then ?? '0'}, ${other ?? '0'})` : undefined)
  /**
   * {{if c}} … [{{else if c}} … ] [{{else}} …] {{end}}, from just after the {{if}}; `at` ends on its
   * {{end}}. Only the branch taken can fail. {{with c}} is the same with `.` set to c's value in its
   * first branch (Go takes the same values for empty: '', 0, false); its chain continues with
   * {{else with}} (Go 1.23) or {{else}}.
   */
  const conditional = (condition: Token[], word: 'if' | 'with'): Part => {
    const outer = current
    // {{if $x := …}}: $x is declared for the whole chain, to its {{end}}.
    const c = declaration(condition) ?? pipeline(condition)
    const chain = current
    const cond = truthy(c)
    at++
    if (word === 'with') current = { ...chain, dot: c }
    const before = snapshot()
    const then = block()
    current = chain
    const thenValues = new Map([...before.keys()].map((v) => [v, v.value]))
    restore(before)
    const seg = segments[at]
    if (!seg || !('tokens' in seg)) throw invalid(text, `{{${word}}} without {{end}}`)
    let otherwise: Part
    const next = seg.tokens[1]?.kind === 'ident' ? seg.tokens[1].text : undefined
    if (keyword(seg) === 'end') {
      if (seg.tokens.length > 1) throw invalid(text, '{{end}} takes nothing')
      otherwise = { sql: "''" }
    } else if (next === word) {
      // {{else if …}} / {{else with …}}: the rest of the chain, ending on the same {{end}}.
      otherwise = conditional(seg.tokens.slice(2), word)
    } else {
      if (seg.tokens.length > 1) throw invalid(text, `{{else}} takes nothing but ${word === 'if' ? 'an if' : 'a with'}`)
      at++
      const parts = block()
      const end = segments[at]
      if (!end || keyword(end) !== 'end') throw invalid(text, `{{${word}}} without {{end}}`)
      otherwise = whole(parts)
    }
    merge(cond, thenValues)
    current = outer
    const err = either(c.err, branch(cond, failed(then), otherwise.err))
    const brk = branch(cond, broken(then), otherwise.brk)
    const cont = branch(cond, continued(then), otherwise.cont)
    return { sql: `if(${cond}, ${joined(then)}, ${otherwise.sql})`, ...(err && { err }), ...(brk && { brk }), ...(cont && { cont }) }
  }
  /**
   * {{range [$k,] [$v :=] pipeline}} … [{{else}} …] {{end}}, from just after the {{range}}; `at`
   * ends on its {{end}}. Over a fromJson map (its values in key order, $k the key) or slice ($k the
   * index), or an integer literal (0 … n−1, Go 1.22): the body once per element, `.` the element,
   * as arrayMap over the elements; {{else}} where there are none (nil, invalid, empty). Anything
   * else (a label, a number) fails the line, as Go's "range can't iterate over". A variable of the
   * enclosing scope given a value inside (it would carry from one element to the next) is a 400.
   */
  const ranged = (tokens: Token[]): Part => {
    const outer = current
    let names: string[] = []
    if (tokens[0]?.kind === 'var') {
      const decl = tokens[1]?.kind === ',' ? [tokens[0], tokens[2]] : [tokens[0]]
      const op = tokens[decl.length === 2 ? 3 : 1]?.kind
      if (op === '=') throw unsupported('{{range}} assigning to variables (declare them with :=)')
      if (op === ':=') {
        if (decl.some((t) => t?.kind !== 'var' || t.text === '' || t.chain)) throw invalid(text, 'range declares variables such as $i, $e')
        names = decl.map((t) => t!.text)
        tokens = tokens.slice(decl.length === 2 ? 4 : 2)
      } else if (decl.length === 2) throw invalid(text, 'range declares two variables with :=')
    }
    const v = pipeline(tokens)
    const item = `_r${jsonLambdas++}`
    // `ints`: over an integer, whose elements (and keys) are Go ints.
    let over: { items: string; err?: string; ints?: true }
    if (v.json) over = jsonItems(v)
    else if (v.intText !== undefined && v.int !== undefined) {
      if (names.length > 1) throw invalid(text, `can't use ${v.intText} to iterate over more than one variable`)
      // A negative count ranges over nothing, as Go's for range does.
      const n = v.int < 0 ? 0 : h.natural(v, 'range: the count')
      over = { items: `arrayMap(${item} -> tuple(toString(${item}), toString(${item})), range(${n}))`, ints: true }
    } else if (num(v) === 'int') {
      // An int worked out on the line (len, add, a variable): 0 … n−1 as for a literal, none where it
      // is negative; beyond MAX_COUNT the query is refused (a 400), as a literal that large is.
      if (names.length > 1) throw unsupported(`{{range}} over an integer with two variables (Go's range fails on every line)`)
      const count = bound([sqlOf(v)], (x) => `toUInt32(least(greatest(${x}, 0), ${MAX_COUNT})) + throwIf(${x} > ${MAX_COUNT}, 'unsupported LogQL: template range over an integer above ${MAX_COUNT}')`)
      over = { items: `arrayMap(${item} -> tuple(toString(${item}), toString(${item})), range(${count}))`, ints: true }
    } else {
      // Go cannot range over a string, a number, a condition or a time: every line fails.
      over = { items: "CAST([], 'Array(Tuple(String, String))')", err: '1' }
    }
    // A map's key is a string, a slice's index an int; so is each element of a range over an integer.
    const key: Value = over.ints ? { sql: `toInt64(tupleElement(${item}, 1))`, num: 'int' } : { sql: `tupleElement(${item}, 1)`, json: true, index: true }
    const element: Value = over.ints ? { sql: `toInt64(tupleElement(${item}, 2))`, num: 'int' } : { sql: `tupleElement(${item}, 2)`, json: true, maybeNil: true }
    const declared = names.length === 2 ? [[names[0]!, key], [names[1]!, element]] : names.length === 1 ? [[names[0]!, element]] : []
    const before = snapshot()
    const start = ++at
    const compileBody = () => {
      current = { ...outer, dot: element, vars: new Map([...(outer.vars ?? []), ...declared.map(([name, value]) => [name, { name, value }] as [string, Variable])]) }
      at = start
      loops++
      const parts = block()
      loops--
      current = outer
      return parts
    }
    let body = compileBody()
    // Variables of the enclosing scope given a value inside: carried from one element to the next,
    // by a fold over the elements whose accumulator holds the text so far, whether a {{break}}
    // stopped it, whether Go's template failed, and those variables. The body is compiled again
    // with them read from the accumulator.
    const carry = [...before].filter(([variable, value]) => variable.value !== value).map(([variable]) => variable)
    const acc = `_a${jsonLambdas++}`
    // Each is carried as a value of one kind: what it held before, or what the body gives it where
    // that kind holds the value before too (`{{ $last := "" }}` … `{{ $last = $k }}`).
    const otherType = (variable: Variable) => unsupported(`template variable $${variable.name} given a value of another type inside {{range}}`)
    const kinds = carry.map((variable) => {
      const start = before.get(variable)!
      if (promoted(variable.value, start)) return start
      if (promoted(start, variable.value)) return typed(variable.value, '')
      throw otherType(variable)
    })
    if (carry.length) {
      restore(before)
      carry.forEach((variable, k) => (variable.value = typed(kinds[k]!, `tupleElement(${acc}, ${k + 4})`)))
      body = compileBody()
    }
    const ends = carry.map((variable, k) => promoted(variable.value, kinds[k]!) ?? throwing(otherType(variable)))
    const starts = carry.map((variable, k) => promoted(before.get(variable)!, kinds[k]!)!)
    restore(before)
    let seg = segments[at]
    if (!seg || !('tokens' in seg)) throw invalid(text, '{{range}} without {{end}}')
    // The {{else}} is outside the loop: only inside an enclosing range may it {{break}} or {{continue}}.
    let otherwise: Part = { sql: "''" }
    let elseValues: ReadonlyMap<Variable, Value> | undefined
    if (keyword(seg) === 'else') {
      if (seg.tokens.length > 1) throw invalid(text, '{{else}} of {{range}} takes nothing')
      at++
      const parts = block()
      elseValues = new Map([...before.keys()].map((v) => [v, v.value]))
      restore(before)
      otherwise = whole(parts)
      seg = segments[at]
    }
    if (!seg || !('tokens' in seg) || keyword(seg) !== 'end') throw invalid(text, '{{range}} without {{end}}')
    if (seg.tokens.length > 1) throw invalid(text, '{{end}} takes nothing')
    const stop = broken(body)
    const bodyErr = failed(body)
    let sql: string
    let loopErr: string | undefined
    if (carry.length) {
      const folded = (items: string) => {
        const next = [`concat(tupleElement(${acc}, 1), ${joined(body)})`, `toUInt8(${stop ?? '0'})`, `toUInt8(tupleElement(${acc}, 3) OR ${bodyErr ?? '0'})`, ...ends.map((v, k) => carried(v, carry[k]!.name))]
        const first = ["''", 'toUInt8(0)', 'toUInt8(0)', ...starts.map((v, k) => carried(v, carry[k]!.name))]
        return `arrayFold((${acc}, ${item}) -> if(tupleElement(${acc}, 2) = 1, ${acc}, tuple(${next.join(', ')})), ${items}, tuple(${first.join(', ')}))`
      }
      sql = bound([over.items], (items) => `if(empty(${items}), ${otherwise.sql}, tupleElement(${folded(items)}, 1))`)
      loopErr = bound([over.items], (items) => `if(empty(${items}), ${otherwise.err ?? '0'}, tupleElement(${folded(items)}, 3) = 1)`)
      // After the loop, each holds what the last element that ran gave it (its value before, where none ran).
      carry.forEach((variable, k) => (variable.value = typed(kinds[k]!, bound([over.items], (items) => `tupleElement(${folded(items)}, ${k + 4})`))))
    } else {
      // The elements that run: all of them, or up to the first whose body reaches a {{break}}.
      const running = (items: string, then: (run: string) => string) =>
        stop ? bound([`arrayFirstIndex(${item} -> ${stop}, ${items})`], (k) => bound([`if(${k} = 0, ${items}, arraySlice(${items}, 1, ${k}))`], then)) : then(items)
      sql = bound([over.items], (items) => `if(empty(${items}), ${otherwise.sql}, ${running(items, (run) => `arrayStringConcat(arrayMap(${item} -> ${joined(body)}, ${run}))`)})`)
      loopErr = bodyErr || otherwise.err ? bound([over.items], (items) => `if(empty(${items}), ${otherwise.err ?? '0'}, ${bodyErr ? running(items, (run) => `arrayExists(${item} -> ${bodyErr}, ${run})`) : '0'})`) : undefined
    }
    // The {{else}} runs where there is nothing to range over: what it gave a variable holds then.
    if (elseValues) merge(bound([over.items], (items) => `empty(${items})`), elseValues, 'the body and the {{else}} of {{range}}')
    const err = either(either(v.err, over.err), loopErr)
    // Go's range recovers a {{break}} of its {{else}} too (it ends the else); a {{continue}} there is the enclosing range's.
    const cont = otherwise.cont && bound([over.items], (items) => `(empty(${items}) AND ${otherwise.cont})`)
    return { sql, ...(err && { err }), ...(cont && { cont }) }
  }
  const parts = block()
  if (at < segments.length) throw invalid(text, `{{${keyword(segments[at])}}} without {{if}}, {{with}} or {{range}}`)
  const compiled = { sql: joined(parts), error: failed(parts) ?? '0' }
  const calls = (compiled.sql + compiled.error).split('(').length - 1
  if (calls > MAX_CALLS) throw unsupported(`template ${JSON.stringify(text)}: ${calls} ClickHouse function calls, more than one expression takes (at most ${MAX_CALLS})`)
  return compiled
}
