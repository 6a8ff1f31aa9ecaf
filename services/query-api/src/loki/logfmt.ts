// LogQL's `| logfmt` as Loki reads a line, as ClickHouse expressions: the labels it extracts and,
// with --strict, the error it stops at. Loki's decoder (pkg/logql/log/logfmt, adapted from
// go-logfmt) scans bytes; each call reads one token after any run of "garbage" (bytes ≤ 0x20):
//
//   key             up to '=', '"' or a byte ≤ 0x20; then garbage or the end: a standalone key
//   key=value       the value up to a byte ≤ 0x20 (empty when none); '=' or '"' inside it is an error
//   key="v \"q\""   up to the first '"' no '\' escapes; escapes as JSON's, and \'; the token ends
//                   at that quote (`a="x"b=1` is two pairs)
//
// and these errors (position: the offending byte's offset + 1, as Loki prints it):
//
//   unexpected '='  a token that starts with '=', or a second '=' in an unquoted value
//   unexpected '"'  a '"' in a key or an unquoted value
//   invalid key     a key holding U+FFFD or a byte that is not UTF-8 (at the byte after the key)
//   invalid quoted value        an escape it does not read (at the byte after the closing quote)
//   unterminated quoted value   no closing quote (at the end of the line)
//
// After an error the decoder skips to the next byte ≤ 0x20, quotes or not, except after the last
// two. Loki's parser then sanitises each key (Unicode spaces trimmed, a leading digit prefixed
// with `_`, characters outside [a-zA-Z0-9_] as `_`; an empty result is no label), replaces U+FFFD
// and bytes that are not UTF-8 in a value by spaces, and skips empty values unless --keep-empty.
// The first pair of a key it keeps wins (Loki 3.5+: a parser does not set a label it has set, as
// the LogfmtParser test "duplicate from line property" holds). --strict stops at the first error,
// keeping the pairs before it, and sets __error__=LogfmtParserErr and __error_details__ to
// `logfmt syntax error at pos <n> : <message>`.
//
// One regular expression splits a line into those tokens (ClickHouse's RE2 reads UTF-8, so a
// line that is not UTF-8 is read with each stray byte as U+FFFD first, as Go's decoder sees it).
//
// With extraction parameters (`| logfmt label="key", …`, logfmtExtractSql) the parser sets every
// label asked for, to the last pair whose key the label takes, empty or not ('' without one).
//
// The decoder costs ~7× what ClickHouse's extractKeyValuePairs does. That reader gives the
// decoder's pairs for a line of the shape PLAIN describes (most logfmt lines, most lines of text),
// once empty values are left out and where no key repeats; a line without '=' has no pair at all
// (JSON, most often); the decoder answers for the others alone (queries run with
// short_circuit_function_evaluation = 'force_enable'). logfmt.int.test.ts holds the two readings
// equal on generated lines of every kind of token.
import type { Params } from './sql.js'

const lit = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`

const GARBAGE = '\\x00-\\x20'
/** The garbage bytes as a ClickHouse literal, for trim(). */
const GARBAGE_SET = `'${Array.from({ length: 33 }, (_, i) => `\\x${i.toString(16).padStart(2, '0')}`).join('')}'`
/** A key's characters: no U+FFFD, so that a key holding one falls to the last alternative. */
const KEY = `[^${GARBAGE}="\\x{FFFD}]+`
/**
 * One token and the garbage before it, as the first alternative that matches: key="quoted" (up to
 * the first unescaped quote), key="unterminated (the rest of the line), a key or key=value and the
 * garbage byte or end after it, anything else up to garbage (an error). Matches are contiguous, so
 * their lengths give each token's offset. Without capture groups RE2 answers with its DFA: groups
 * cost ~7× as much.
 */
const TOKEN = lit(`(?s)[${GARBAGE}]*(?:${KEY}="(?:[^"\\\\]|\\\\.)*"|${KEY}=".*|${KEY}(?:=[^${GARBAGE}="]*)?(?:[${GARBAGE}]|$)|[^${GARBAGE}]+)`)
/** A character of UTF-8, or one byte that is not part of one. */
const CHAR = lit('[\\x{0}-\\x{D7FF}\\x{E000}-\\x{10FFFF}]|\\C')
/** The escapes Loki's unquote reads: \" \\ \/ \' \b \f \n \r \t \uXXXX. */
const ESCAPED = lit(`^(?:[^\\\\]|\\\\["\\\\/'bfnrt]|\\\\u[0-9a-fA-F]{4})*$`)
/** A quoted value's pieces: a surrogate pair, a \u escape, another escape, plain text. */
const PIECES = lit('(?s)\\\\u[dD][89abAB][0-9a-fA-F]{2}\\\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\\\u[0-9a-fA-F]{4}|\\\\.|[^\\\\]+')
/** Go's unicode.IsSpace beyond ASCII (a key holds no byte ≤ 0x20), which TrimSpace trims. */
const SPACES = '[\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}]+'
const TRIM = lit(`^${SPACES}|${SPACES}$`)
const FFFD = "'\u{FFFD}'"

/** A quoted value as Loki unquotes it (JSON's escapes and \'; a lone surrogate is U+FFFD). */
function unquote(raw: string): string {
  const piece = `multiIf(NOT startsWith(t, '\\\\'), t,
    length(t) = 12, JSONExtractString(concat('"', t, '"')),
    match(t, '^\\\\\\\\u[dD][89a-fA-F]'), ${FFFD},
    length(t) = 6, JSONExtractString(concat('"', t, '"')),
    transform(t, ['\\\\"', '\\\\\\\\', '\\\\/', '\\\\\\'', '\\\\b', '\\\\f', '\\\\n', '\\\\r', '\\\\t'], ['"', '\\\\', '/', '\\'', '\\x08', '\\x0C', '\\n', '\\r', '\\t'], ''))`
  return `if(position(${raw}, '\\\\') = 0, ${raw}, arrayStringConcat(arrayMap(t -> ${piece}, extractAll(${raw}, ${PIECES}))))`
}

/** A key as Loki's sanitizeLabelKey names it (empty: no label); most keys need nothing done. */
function sanitise(key: string): string {
  const trimmed = `replaceRegexpAll(${key}, ${TRIM}, '')`
  const named = `replaceRegexpAll(if(match(${trimmed}, '^[0-9]'), concat('_', ${trimmed}), ${trimmed}), '[^a-zA-Z0-9_]', '_')`
  return `if(match(${key}, '^[a-zA-Z_][a-zA-Z0-9_]*$'), ${key}, ${named})`
}

export interface LogfmtSql {
  /** Map(String, String) of the labels extracted, one per key (the first pair's). */
  map: string
  /** With --strict: whether the line has an error, and `__error_details__` (meaningful where it has). */
  error?: { failed: string; details: string }
}

/**
 * What each token (garbage trimmed) is, by its first '=' or '"': tuple (outcome, key, value, at,
 * byte) — outcome 0 a pair, 1 an error at offset `at` of the token (`byte` the unexpected one, or
 * '' for an invalid key), 2 an invalid quoted value, 3 an unterminated one. The parts of a token
 * are worked out in steps, each a lambda over the tuples of the step before that adds a part:
 * ClickHouse's analyser and planner go over a named expression again at every mention, so each
 * step mentions the one before once (parts named apart and handed to one lambda together
 * mentioned the tokens 14 times).
 */
function classify(toks: string, name: (expr: string) => string): string {
  // (t, eq, qu): the token, its first '=' and first '"' (0: none).
  const found = name(`arrayMap(t -> (t, position(t, '='), position(t, '"')), ${toks})`)
  // … ke: where the key ends, its '=' or '"' (0 when the token is a key alone, and its garbage byte).
  const ended = name(`arrayMap(x -> (x.1, x.2, x.3, multiIf(x.3 = 0, x.2, x.2 = 0, x.3, least(x.2, x.3))), ${found})`)
  // … k, inn (a quoted value's inside), val (an unquoted value).
  const split = name(
    `arrayMap(x -> (x.1, x.2, x.3, x.4, if(x.4 = 0, trim(TRAILING ${GARBAGE_SET} FROM x.1), substring(x.1, 1, x.4 - 1)), substring(x.1, x.2 + 2, length(x.1) - x.2 - 2), substring(trim(TRAILING ${GARBAGE_SET} FROM x.1), x.2 + 1)), ${ended})`,
  )
  // … bad: where an unquoted value has its first '"' or '=' (0: none).
  const parts = `arrayMap(x -> (x.1, x.2, x.3, x.4, x.5, x.6, x.7, multiIf(position(x.7, '"') = 0, position(x.7, '='), position(x.7, '=') = 0, position(x.7, '"'), least(position(x.7, '='), position(x.7, '"')))), ${split})`
  // The parts by name: tuple elements of x, a few nodes wherever one is mentioned.
  const [t, eq, qu, ke, k, inn, val, bad] = ['x.1', 'x.2', 'x.3', 'x.4', 'x.5', 'x.6', 'x.7', 'x.8']
  const quoted = `substring(${t}, ${eq} + 1, 1) = '"'`
  // Closed by its last byte, a quote no backslash escapes (an even run of them before it).
  const closed = `(length(${t}) >= ${eq} + 2 AND endsWith(${t}, '"') AND (length(${inn}) - length(trim(TRAILING '\\\\' FROM ${inn}))) % 2 = 0)`
  const out = (outcome: number, key: string, v: string, at: string, byte: string) => `(toUInt8(${outcome}), ${key}, ${v}, toInt64(${at}), ${byte})`
  const fail = (outcome: number, at: string, byte = "''") => out(outcome, "''", "''", at, byte)
  return `arrayMap(x -> multiIf(
    position(${k}, ${FFFD}) > 0, ${fail(1, `length(${k})`, `if(${ke} = ${qu} AND ${ke} > 0, '"', '')`)},
    ${ke} = 0, ${out(0, k, "''", '0', "''")},
    ${ke} = ${qu}, ${fail(1, `${ke} - 1`, `'"'`)},
    ${ke} = 1, ${fail(1, '0', "'='")},
    ${quoted}, multiIf(NOT ${closed}, ${fail(3, '0')}, position(${inn}, '\\\\') > 0 AND NOT match(${inn}, ${ESCAPED}), ${fail(2, `length(${t})`)}, ${out(0, k, unquote(inn), '0', "''")}),
    ${bad} = 0, ${out(0, k, val, '0', "''")},
    ${fail(1, `${eq} + ${bad} - 1`, `substring(${val}, ${bad}, 1)`)}
  ), ${parts})`
}

const stray = (c: string) => `(length(${c}) = 1 AND NOT isValidUTF8(${c}))`

/**
 * A line's tokens as classify() tells them, and the steps before (named). `bind`, where given,
 * makes the matches and the tokens columns of their own (Pipeline.bind): for a reading every line
 * needs whole, mentioned many times after (--strict's error).
 */
function tokenise(line: string, name: (expr: string) => string, bind: (expr: string) => string = name) {
  const valid = name(`isValidUTF8(${line})`)
  const text = name(`if(${valid}, ${line}, arrayStringConcat(arrayMap(c -> if(${stray('c')}, ${FFFD}, c), extractAll(${line}, ${CHAR}))))`)
  const matches = bind(`extractAll(${text}, ${TOKEN})`)
  const tokens = bind(classify(name(`arrayMap(m -> trim(LEADING ${GARBAGE_SET} FROM m), ${matches})`), name))
  return { valid, text, matches, tokens }
}

/**
 * `| logfmt [--strict] [--keep-empty]` over the String expression `line`. `name` defines an
 * expression once in the statement's WITH clause and returns its name; `bind`, where given, binds
 * --strict's tokens to columns of their own (tokenise).
 */
export function logfmtSql(line: string, flags: { strict: boolean; keepEmpty: boolean }, name: (expr: string) => string, bind?: (expr: string) => string): LogfmtSql {
  const { valid, text, matches, tokens } = tokenise(line, name, flags.strict ? bind : undefined)
  let read = tokens
  let error: LogfmtSql['error']
  if (flags.strict) {
    const first = name(`arrayFirstIndex(t -> t.1 != 0, ${tokens})`)
    // The tokens before the first that fails (arraySlice to a computed length costs 4× as much).
    read = `arrayFilter((t, failed) -> failed = 0, ${tokens}, arrayCumSum(arrayMap(t -> t.1 != 0, ${tokens})))`
    error = { failed: `(${first} > 0)`, details: errorDetails(line, valid, text, matches, tokens, first) }
  }
  const kv = `arrayMap(t -> (${sanitise('t.2')}, replaceAll(t.3, ${FFFD}, ' ')), arrayFilter(t -> t.1 = 0, ${read}))`
  const pairs = name(`arrayFilter(kv -> kv.1 != ''${flags.keepEmpty ? '' : " AND kv.2 != ''"}, ${kv})`)
  // The first pair of a key wins: a pair joins the map when it has no pair of its key yet. (The
  // pairs are named once: ClickHouse's analyser pays for every mention of them again.)
  const map = `arrayFold((m, kv) -> if(mapContains(m, kv.1), m, mapUpdate(m, map(kv.1, kv.2))), ${pairs}, CAST(map(), 'Map(String, String)'))`
  return error ? { map, error } : { map }
}

/**
 * `logfmt syntax error at pos <n> : <message>` for the token at index `first` (1-based; 0: none
 * fails). Offsets are counted in `text`; in a line that is not UTF-8 each stray byte there took
 * three (U+FFFD), so two are taken off for each one before the offset.
 */
function errorDetails(line: string, valid: string, text: string, matches: string, tokens: string, first: string): string {
  const t = `${tokens}[${first}]`
  const m = `${matches}[${first}]`
  // Where the token starts: the matches' lengths up to its own end, less the token itself.
  const start = `(arrayCumSum(arrayMap(m -> length(m), ${matches}))[${first}] - length(trim(LEADING ${GARBAGE_SET} FROM ${m})))`
  const at = `multiIf(${t}.1 = 3, length(${text}), ${start} + ${t}.4)`
  const message = `multiIf(${t}.1 = 2, 'invalid quoted value', ${t}.1 = 3, 'unterminated quoted value', ${t}.5 = '', 'invalid key', concat('unexpected \\'', ${t}.5, '\\''))`
  const chars = `extractAll(${line}, ${CHAR})`
  // Where the U+FFFD that stand for stray bytes end in `text`.
  const strays = `arrayFilter((end, c) -> ${stray('c')}, arrayCumSum(arrayMap(c -> if(${stray('c')}, 3, length(c)), ${chars})), ${chars})`
  const offset = `if(${valid}, ${at}, ${at} - 2 * arrayCount(end -> end <= ${at}, ${strays}))`
  return `if(${first} = 0, '', concat('logfmt syntax error at pos ', toString(${offset} + 1), ' : ', ${message}))`
}

/** Bytes ≤ 0x20 that separate pairs for both readers (extractKeyValuePairs takes 8 at most). */
const SEPARATOR = '[\\t-\\r ]'
const SEPARATORS = "' \\x09\\x0A\\x0B\\x0C\\x0D'"
/** Characters of valid UTF-8 beyond ASCII but U+FFFD (RE2 matches surrogates and more with [^…]). */
const UNICODE = '\\x{80}-\\x{D7FF}\\x{E000}-\\x{FFFC}\\x{FFFE}-\\x{10FFFF}'
/** A run of characters but bytes ≤ 0x20, '"' and '=': an unquoted value, or a word alone. */
const WORD = `[!#-<>-\\x7F${UNICODE}]`
/** `key=value`, `key="quoted"` (no '"' or '\\' inside), with a key Loki keeps as written. */
const KEY_VALUE = `[A-Za-z_][A-Za-z0-9_]*=(?:"[\\x00-!#-[\\]-\\x7F${UNICODE}]*"|${WORD}*)`
const lineOf = (token: string) => lit(`^${SEPARATOR}*(?:${token}(?:${SEPARATOR}+${token})*)?${SEPARATOR}*$`)
/**
 * The lines extractKeyValuePairs(line, '=', SEPARATORS, '"') reads as the decoder does: pairs and
 * words alone (standalone keys, which neither reader keeps) apart by separators, in valid UTF-8
 * with no U+FFFD. Nothing in them needs unescaping or sanitising, no token is an error, a quoted
 * value ends where a separator or the line does (extractKeyValuePairs skips a pair glued to it:
 * `a="x"b=1`). Left to the reading: it keeps empty values (left out, as the decoder does) and
 * every pair of a repeated key. A line of text is one too, most often.
 */
const PLAIN = lineOf(`(?:${KEY_VALUE}|${WORD}+)`)
/** PLAIN without words alone, which extraction reads as ''. */
const PAIRS = lineOf(KEY_VALUE)
/** A line without '=' has no pair: its tokens are standalone keys or errors (JSON, most often). */
const NO_PAIRS = (text: string) => `position(${text}, '=') = 0`

export interface LogfmtPlainSql {
  /** Map(String, String): logfmtSql's map without flags. */
  map: string
  /** Whether the fast reading answered for the line (for tests and measurements). */
  fast: string
}

/** `| logfmt` without flags over the String expression `text`: logfmtSql's map, cheaper (see PLAIN). */
export function logfmtPlainSql(text: string, name: (expr: string) => string): LogfmtPlainSql {
  // A line without '=' has no pair: the fast reading reads '' in its place.
  const read = name(`if(${NO_PAIRS(text)}, '', ${text})`)
  const plain = name(`match(${read}, ${PLAIN})`)
  const fast = name(`mapFilter((k, v) -> v != '', extractKeyValuePairs(${read}, '=', ${SEPARATORS}, '"'))`)
  // A repeated key: the decoder's map has it once. (bitAnd, not AND: with AND's lazy argument
  // ClickHouse would build the fast map twice, for the condition and for the branch.)
  const once = `arrayUniq(mapKeys(${fast})) = length(${fast})`
  const chosen = name(`bitAnd(${plain}, ${once}) = 1`)
  const exact = logfmtSql(text, { strict: false, keepEmpty: false }, name).map
  return { map: `if(${chosen}, ${fast}, ${exact})`, fast: chosen }
}

export interface LogfmtExtractSql {
  /** Map(String, String): every label, with its value. */
  map: string
  /** Whether the fast reading answered for the line (for tests and measurements). */
  fast: string
  /** The map as the decoder alone reads it (for tests). */
  exact: string
}

/**
 * `| logfmt label="key", …` as Loki's LogfmtExpressionParser reads a line in a log query (it has
 * no flags but --strict): every label is set, to the value of the last pair whose key (sanitised)
 * the label takes, even an empty one or a standalone key's; '' when no pair has one, or when the
 * value holds U+FFFD or a byte that is not UTF-8 (Loki's nil value). `keys` gives each label its
 * keys (one or two). A line of the shape PAIRS with no key twice, and no two keys of one label,
 * is read by extractKeyValuePairs, ~4× faster; a line without '=' sets every label to ''.
 */
export function logfmtExtractSql(text: string, keys: ReadonlyMap<string, readonly string[]>, p: Params, name: (expr: string) => string): LogfmtExtractSql {
  const labels = [...keys.keys()].map((l) => p.bind(l))
  const mapOf = (values: string[]) => `map(${labels.flatMap((l, i) => [l, values[i]!]).join(', ')})`
  const { tokens } = tokenise(text, name)
  // Each pair's label (no two labels take one key), then the last pair of each label, in one pass
  // over the pairs. (Named once per label, the pairs were read for every line, not only for those
  // the decoder answers.)
  const label = `multiIf(${[...keys.values()].map((k, i) => `has(${p.bind(k, 'Array(String)')}, kv.1), ${labels[i]}`).join(', ')}, '')`
  const pairs = `arrayMap(kv -> (${label}, kv.2), arrayMap(t -> (${sanitise('t.2')}, t.3), arrayFilter(t -> t.1 = 0, ${tokens})))`
  const last = `arrayFold((m, kv) -> if(kv.1 = '', m, mapUpdate(m, map(kv.1, kv.2))), ${pairs}, ${mapOf(labels.map(() => "''"))})`
  const exact = name(`mapApply((l, v) -> (l, if(position(v, ${FFFD}) > 0, '', v)), ${last})`)
  // A line without '=' sets every label to '': the fast reading reads '' in its place.
  const read = name(`if(${NO_PAIRS(text)}, '', ${text})`)
  const raw = name(`extractKeyValuePairs(${read}, '=', ${SEPARATORS}, '"')`)
  const bound = [...keys.values()].map((k) => k.map((key) => p.bind(key)))
  const fast = bound.map((k) => (k.length === 1 ? `${raw}[${k[0]}]` : `concat(${k.map((key) => `${raw}[${key}]`).join(', ')})`))
  // Not AND, whose lazy arguments would build the map again: no key twice, one key of each label at most.
  const single = bound.filter((k) => k.length > 1).map((k) => `(${k.map((key) => `mapContains(${raw}, ${key})`).join(' + ')}) < 2`)
  const chosen = name(`least(match(${read}, ${PAIRS}), arrayUniq(mapKeys(${raw})) = length(${raw})${single.map((c) => `, ${c}`).join('')}) = 1`)
  return { map: `if(${chosen}, ${mapOf(fast)}, ${exact})`, fast: chosen, exact }
}
