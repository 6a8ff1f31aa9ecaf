// The texts Loki puts in `__error_details__`: the error message of the Go function that refused a
// value (strconv.ParseFloat, time.ParseDuration, go-humanize's ParseBytes) or a line (the JSON
// parsers), as String expressions over the refused value. A converter's message names what Go
// would say about a value Go refuses, not whether Go refuses it (sql.ts's convert decides that).
//
// Those messages take ClickHouse tens of milliseconds to analyse, and a statement pays that
// whether any row needs them or not. So a statement carries a converter's refusal as a tag
// (conversionDetails); only one that reads the text (a filter, a grouping) words it in SQL
// (wordDetails), and answers word the tags they hold here (wordTag), as Go's functions do: the
// test holds both to the texts Go prints. The SQL is built of plain string functions, a lambda
// only where none does the job (bytes beyond ASCII in the time package's quoting).
import { goQuote } from '../logql/format.js'
import { GO_SPACE, GO_SPACE_CLASS, SIZE_NAMES, SIZE_NAME_LIST } from './sql.js'

/** SQL string literal of a text with no backslash (quotes escaped by the caller). */
const literal = (text: string) => `'${text}'`

/**
 * strconv.Quote of a String expression, from ClickHouse's JSON quoting: its escapes are Go's but
 * for `\/` (Go leaves `/`), `\u0007` and `\u000B` (Go's `\a`, `\v`) and the other control
 * characters (Go's `\x01`, lower case); DEL, which JSON leaves, is `\x7f`. Escaped backslashes are
 * set aside as NUL (JSON writes a NUL as `\u0000`, never raw) while the others are rewritten.
 * Text beyond ASCII is kept as it is, as Go keeps printable Unicode.
 */
export function strconvQuote(v: string): string {
  let q = `replaceAll(toJSONString(${v}), '\\\\\\\\', char(0))`
  q = `replaceAll(replaceAll(replaceAll(${q}, '\\\\/', '/'), '\\\\u0007', '\\\\a'), '\\\\u000B', '\\\\v')`
  for (const hex of 'ABCDEF') q = `replaceRegexpAll(${q}, '\\\\\\\\u00([01])${hex}', '\\\\\\\\x\\\\1${hex.toLowerCase()}')`
  q = `replaceAll(replaceAll(${q}, '\\\\u00', '\\\\x'), char(127), '\\\\x7f')`
  return `replaceAll(${q}, char(0), '\\\\\\\\')`
}

/** The time package's own quote: `"` and `\` escaped, every byte below a space or beyond ASCII as `\xNN`. */
export function timeQuote(v: string): string {
  const escaped = `replaceRegexpAll(${v}, '(["\\\\\\\\])', '\\\\\\\\\\\\1')`
  const hex = `arrayStringConcat(arrayMap(_qt_c -> if(_qt_c < ' ' OR _qt_c >= char(128), concat('\\\\x', lower(hex(_qt_c))), _qt_c), splitByRegexp('', ${escaped})))`
  return `concat('"', if(match(${v}, '[\\\\x00-\\\\x1f\\\\x80-\\\\xff]'), ${hex}, ${escaped}), '"')`
}

/** strconv.ParseFloat's error for a text it cannot read. */
export function parseFloatError(v: string): string {
  return `concat('strconv.ParseFloat: parsing ', ${strconvQuote(v)}, ': invalid syntax')`
}

// Go's time.ParseDuration reads [-+]? then terms of digits, an optional point and digits, and a
// unit (the letters up to the next digit or point), and stops at the first term it cannot read.
// DURATION_TERMS reads the terms it accepts; the fault is where that reading stops: in the last
// term's unit if letters follow it, else in the next term. (A term read whose value overflows,
// followed by a later fault, is named by that fault where Go says invalid.)
const UNIT = '(?:ns|us|µs|μs|ms|s|m|h)'
const DURATION_TERMS = `'^(?:(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)${UNIT})*'`

/** time.ParseDuration's error for a text it cannot read. */
export function parseDurationError(v: string): string {
  const body = `replaceRegexpOne(${v}, '^[-+]', '')`
  const read = `extract(${body}, ${DURATION_TERMS})`
  const rest = `substring(${body}, length(${read}) + 1)`
  // The next term's number as Go reads it, its integer part without leading zeros, and its unit.
  const num = `extract(${rest}, '^[0-9]*(?:[.][0-9]*)?')`
  const int = `trimLeft(extract(${rest}, '^[0-9]*'), '0')`
  const unit = `extract(substring(${rest}, length(${num}) + 1), '^[^0-9.]*')`
  const letters = `extract(${rest}, '^[^0-9.]*')`
  const quoted = timeQuote(v)
  const unknown = (u: string) => `concat('time: unknown unit ', ${timeQuote(u)}, ' in duration ', ${quoted})`
  const invalid = `concat('time: invalid duration ', ${quoted})`
  return (
    `multiIf(${rest} = '' OR (${read} = '' AND ${letters} != ''), ${invalid}, ` +
    // Letters right after a unit the terms read: Go's unit runs on through them.
    `${letters} != '', ${unknown(`concat(extract(${read}, '[^0-9.]*$'), ${letters})`)}, ` +
    `NOT match(${num}, '[0-9]') OR (length(${int}), ${int}) > (19, '9223372036854775808'), ${invalid}, ` +
    `${unit} = '', concat('time: missing unit in duration ', ${quoted}), ${unknown(unit)})`
  )
}

/**
 * go-humanize's ParseBytes error for a text it cannot read: strconv.ParseFloat's over the leading
 * digits, points and commas (commas dropped), else the size name it does not know (trimmed, lower
 * case), else too large.
 */
export function parseBytesError(v: string): string {
  const lead = `extract(${v}, '^[0-9.,]*')`
  const num = `replaceAll(${lead}, ',', '')`
  const name = `lowerUTF8(replaceRegexpAll(substring(${v}, length(${lead}) + 1), '^${GO_SPACE}+|${GO_SPACE}+$', ''))`
  return `multiIf(NOT match(${num}, '^(?:[0-9]+[.]?[0-9]*|[.][0-9]+)$'), ${parseFloatError(num)}, NOT has(${SIZE_NAMES}, ${name}), concat('unhandled size name: ', ${name}), concat('too large: ', ${v}))`
}

const CONVERTERS = { number: 'F', duration: 'D', bytes: 'B' } as const
export type Converter = keyof typeof CONVERTERS

/**
 * The __error_details__ of a value a label filter or `unwrap` could not convert: a tag (NUL, the
 * converter's letter, the value), worded by wordDetails where the text is needed.
 */
export function conversionDetails(kind: Converter, v: string): string {
  return `concat(char(0), '${CONVERTERS[kind]}', ${v})`
}

/** The tag conversionDetails makes of a value, made here (for answered lines, pipeline.ts). */
export const conversionTag = (kind: Converter, v: string): string => `\u0000${CONVERTERS[kind]}${v}`

/** Whether a value of __error_details__ is a tag conversionDetails made, still to be worded. */
const isTagged = (v: unknown): v is string => typeof v === 'string' && v.charCodeAt(0) === 0

/** __error_details__ `t` as Loki words it: a tag becomes its converter's error, other text stays. */
export function wordDetails(t: string): string {
  // Bound once: the words read the tag many times, and every copy of an expression is analysed.
  const kind = `substring(_wd_t, 2, 1)`
  const value = `substring(_wd_t, 3)`
  return `arrayMap(_wd_t -> if(startsWith(_wd_t, char(0)), multiIf(${kind} = 'F', ${parseFloatError(value)}, ${kind} = 'D', ${parseDurationError(value)}, ${parseBytesError(value)}), _wd_t), [${t}])[1]`
}

/** jsonparser's error for a line whose first token is no `{` (Loki's `| json`). */
export const JSON_NOT_OBJECT_TEXT = "Value looks like object, but can't find closing '}' symbol"
/** JSON_NOT_OBJECT_TEXT as a SQL string literal. */
export const JSON_NOT_OBJECT = literal(JSON_NOT_OBJECT_TEXT.replaceAll("'", "\\'"))

/** Loki's error for an `| unpack` line that does not start with `{` (jsoniter's ObjectValue is 6). */
export const UNPACK_NOT_OBJECT = literal('expecting json object(6), but it is not')

// ---- the same texts in TypeScript, for the tags of answered lines and series -------------------

/** The time package's quote of a text (its UTF-8 bytes). */
function timeQuoteText(text: string): string {
  let out = '"'
  for (const b of Buffer.from(text, 'utf8')) {
    if (b === 0x22 || b === 0x5c) out += `\\${String.fromCharCode(b)}`
    else if (b < 0x20 || b >= 0x80) out += `\\x${b.toString(16).padStart(2, '0')}`
    else out += String.fromCharCode(b)
  }
  return `${out}"`
}

const parseFloatText = (v: string) => `strconv.ParseFloat: parsing ${goQuote(v)}: invalid syntax`

const DURATION_UNITS: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['µs', 1_000n],
  ['μs', 1_000n],
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
])
const MAX_DURATION = 1n << 63n

/** time.ParseDuration's error for `orig`, read term by term as Go reads it ('invalid' for a text Go reads but Sluice does not, `5.s`). */
function parseDurationText(orig: string): string {
  const invalid = `time: invalid duration ${timeQuoteText(orig)}`
  let s = orig.replace(/^[-+]/, '')
  if (s === '') return invalid
  let total = 0n
  while (s !== '') {
    const term = /^([0-9]*)(?:\.([0-9]*))?/.exec(s)!
    const [read, int = '', frac] = term
    if (read === '' || (int === '' && !frac)) return invalid
    if (BigInt(int || '0') > MAX_DURATION) return invalid
    s = s.slice(read.length)
    const unit = /^[^0-9.]*/.exec(s)![0]
    if (unit === '') return `time: missing unit in duration ${timeQuoteText(orig)}`
    const scale = DURATION_UNITS.get(unit)
    if (scale === undefined) return `time: unknown unit ${timeQuoteText(unit)} in duration ${timeQuoteText(orig)}`
    s = s.slice(unit.length)
    // Go's overflow checks: the term's whole part, its fraction added, the sum.
    let v = BigInt(int || '0')
    if (v > MAX_DURATION / scale) return invalid
    v = v * scale + BigInt(Math.trunc(Number(`0.${frac ?? ''}`) * Number(scale)))
    total += v
    if (v > MAX_DURATION || total > MAX_DURATION) return invalid
  }
  return invalid
}

const SIZE_NAME_SET: ReadonlySet<string> = new Set(SIZE_NAME_LIST)
const GO_SPACE_EDGES = new RegExp(`^${GO_SPACE_CLASS}+|${GO_SPACE_CLASS}+$`.replaceAll('\\x{', '\\u{'), 'gu')

/** go-humanize's ParseBytes error for `v`. */
function parseBytesText(v: string): string {
  const lead = /^[0-9.,]*/.exec(v)![0]
  const num = lead.replaceAll(',', '')
  if (!/^(?:[0-9]+[.]?[0-9]*|[.][0-9]+)$/.test(num)) return parseFloatText(num)
  const name = v.slice(lead.length).replace(GO_SPACE_EDGES, '').toLowerCase()
  return SIZE_NAME_SET.has(name) ? `too large: ${v}` : `unhandled size name: ${name}`
}

/** A value of __error_details__ as Loki words it: a tag (conversionDetails) becomes its converter's error, other text stays. */
export function wordTag(details: string): string {
  if (!isTagged(details)) return details
  const value = details.slice(2)
  switch (details[1]) {
    case CONVERTERS.number:
      return parseFloatText(value)
    case CONVERTERS.duration:
      return parseDurationText(value)
    default:
      return parseBytesText(value)
  }
}
