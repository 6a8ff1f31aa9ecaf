// The texts Loki puts in `__error_details__`: the error message of the Go function that refused a
// value (strconv.ParseFloat, time.ParseDuration, go-humanize's ParseBytes) or a line (the JSON
// parsers), as String expressions over the refused value. Each is meant for the rows where the
// conversion failed (under an if(), which ClickHouse evaluates for those rows only): it names what
// Go would say about a value Go refuses, not whether Go refuses it (sql.ts's convert decides that).
import { GO_SPACE, SIZE_NAMES } from './sql.js'

/** SQL string literal of a text with no quote or backslash. */
const literal = (text: string) => `'${text}'`

/** `c` (one byte, a String) as `\xNN`. */
const hexEscape = (c: string) => `concat('\\\\x', lower(hex(${c})))`

/**
 * strconv.Quote of a String expression: `"`, `\` and the ASCII control characters escaped as Go
 * escapes them (`\n`, `\t`, …, else `\xNN`, DEL too). Text beyond ASCII is kept as it is, which is
 * what Go does for printable Unicode; Go would escape the few characters it deems unprintable.
 */
export function strconvQuote(v: string): string {
  const named = (
    [
      [7, 'a'],
      [8, 'b'],
      [12, 'f'],
      [10, 'n'],
      [13, 'r'],
      [9, 't'],
      [11, 'v'],
    ] as const
  ).map(([code, name]) => `_qs_c = char(${code}), '\\\\${name}'`)
  const escaped = `multiIf(_qs_c IN ('"', '\\\\'), concat('\\\\', _qs_c), ${named.join(', ')}, _qs_c < ' ' OR _qs_c = char(127), ${hexEscape('_qs_c')}, _qs_c)`
  return `concat('"', arrayStringConcat(arrayMap(_qs_c -> ${escaped}, splitByRegexp('', ${v}))), '"')`
}

/** The time package's own quote: `"` and `\` escaped, every byte below a space or beyond ASCII as `\xNN`. */
export function timeQuote(v: string): string {
  const escaped = `multiIf(_qt_c IN ('"', '\\\\'), concat('\\\\', _qt_c), _qt_c < ' ' OR _qt_c >= char(128), ${hexEscape('_qt_c')}, _qt_c)`
  return `concat('"', arrayStringConcat(arrayMap(_qt_c -> ${escaped}, splitByRegexp('', ${v}))), '"')`
}

/** strconv.ParseFloat's error for a text it cannot read. */
export function parseFloatError(v: string): string {
  return `concat('strconv.ParseFloat: parsing ', ${strconvQuote(v)}, ': invalid syntax')`
}

// Go's time.ParseDuration reads [-+]? then terms of digits, an optional point and digits, and a
// unit (the letters up to the next digit or point); it stops at the first term it cannot read.
const UNITS = "['ns', 'us', 'µs', 'μs', 'ms', 's', 'm', 'h']"
/** What is wrong with one term (`_pd_t`), '' where nothing is: a kind, or `u` and the unknown unit. */
const TERM_NUMBER = "extract(_pd_t, '^[0-9]*(?:[.][0-9]*)?')"
const TERM_FAULT =
  `arrayMap((_pd_n, _pd_i, _pd_u) -> multiIf(` +
  // No digit at all (`.s`), or an integer beyond 2^63 (leadingInt's overflow).
  `NOT match(_pd_n, '[0-9]') OR length(_pd_i) > 19 OR (length(_pd_i) = 19 AND _pd_i > '9223372036854775808'), 'i', ` +
  // The unit: what follows the number up to the next digit or point.
  `_pd_u = '', 'm', NOT has(${UNITS}, _pd_u), concat('u', _pd_u), ''), ` +
  `[${TERM_NUMBER}], [trimLeft(extract(_pd_t, '^[0-9]*'), '0')], [extract(substring(_pd_t, length(${TERM_NUMBER}) + 1), '^[^0-9.]*')])[1]`

/** time.ParseDuration's error for a text it cannot read. */
export function parseDurationError(v: string): string {
  const body = `if(substring(${v}, 1, 1) IN ('-', '+'), substring(${v}, 2), ${v})`
  // Terms in order; a term that starts with anything but a digit or a point (only the first can) is invalid.
  const terms = `extractAll(${body}, '[0-9.]+[^0-9.]*|[^0-9.]+')`
  const fault = `if(${body} = '', 'i', arrayFirst(_pd_f -> _pd_f != '', arrayMap(_pd_t -> if(match(_pd_t, '^[0-9.]'), ${TERM_FAULT}, 'i'), ${terms})))`
  const quoted = timeQuote(v)
  return `arrayMap(_pd_e -> multiIf(_pd_e = 'm', concat('time: missing unit in duration ', ${quoted}), startsWith(_pd_e, 'u'), concat('time: unknown unit ', ${timeQuote('substring(_pd_e, 2)')}, ' in duration ', ${quoted}), concat('time: invalid duration ', ${quoted})), [${fault}])[1]`
}

/**
 * go-humanize's ParseBytes error for a text it cannot read: strconv.ParseFloat's over the leading
 * digits, points and commas (commas dropped), else the size name it does not know (trimmed, lower
 * case), else too large.
 */
export function parseBytesError(v: string): string {
  const num = `replaceAll(extract(_pb_s, '^[0-9.,]*'), ',', '')`
  const name = `lowerUTF8(replaceRegexpAll(substring(_pb_s, length(extract(_pb_s, '^[0-9.,]*')) + 1), '^${GO_SPACE}+|${GO_SPACE}+$', ''))`
  return `arrayMap(_pb_s -> arrayMap((_pb_num, _pb_name) -> multiIf(NOT match(_pb_num, '^(?:[0-9]+[.]?[0-9]*|[.][0-9]+)$'), ${parseFloatError('_pb_num')}, NOT has(${SIZE_NAMES}, _pb_name), concat('unhandled size name: ', _pb_name), concat('too large: ', _pb_s)), [${num}], [${name}])[1], [${v}])[1]`
}

/** The error of the converter a label filter or `unwrap` uses for a value of this kind. */
export function conversionError(kind: 'number' | 'duration' | 'bytes', v: string): string {
  return kind === 'bytes' ? parseBytesError(v) : kind === 'duration' ? parseDurationError(v) : parseFloatError(v)
}

/** jsonparser's error for a line whose first token is no `{` (Loki's `| json`). */
export const JSON_NOT_OBJECT = literal("Value looks like object, but can\\'t find closing \\'}\\' symbol")

/** Loki's error for an `| unpack` line that does not start with `{` (jsoniter's ObjectValue is 6). */
export const UNPACK_NOT_OBJECT = literal('expecting json object(6), but it is not')
