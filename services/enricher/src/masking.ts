// Masking of variable parts (ids, numbers, addresses) before template mining, like drain3's
// masking instructions: each rule is a regex and the placeholder that replaces its matches.
// Rules run in order, so the specific ones (URL, UUID, IP) come before the generic number rule
// that would otherwise eat their digits. Typed placeholders (<IP>, <NUM>) keep templates
// readable; `<*>` is Drain's own wildcard and counts as a parameter when matching.

export interface MaskRule {
  /** Short label for docs and config; not used for matching. */
  readonly name?: string
  /** A RegExp, or its source text (compiled with the `g` flag). */
  readonly pattern: RegExp | string
  readonly replacement: string
  /**
   * A substring every match contains (a cheap indexOf), or a short regex every match contains a
   * match of; text without it skips the rule's regex. A list: every one must be there, tested in
   * order (a character first, then the regex, which costs more).
   */
  readonly hint?: Hint | readonly Hint[]
  /**
   * A last test of each match: one it refuses is left as it is. For conditions a regex can only
   * state with look-aheads at every position (they cost more than a test of the few matches).
   */
  readonly accept?: (match: string) => boolean
  /**
   * The rule's work done without its regex: `text` with every match (that `accept` takes) replaced
   * by `replacement`, exactly as the regex would. For rules that run on every line, where a scan
   * by hand costs a fraction of the regex; `pattern` stays the definition, and a test holds the
   * two to the same result.
   */
  readonly scan?: (text: string, replacement: string) => string
}

export type Masker = (text: string) => string

type Hint = string | RegExp

const HEX = '[0-9a-fA-F]'
const H4 = `${HEX}{1,4}`
const HAS_DIGIT = /\d/
const HAS_HEX_LETTER = /[a-fA-F]/

// Character classes of the hex scan: a regex word character ([A-Za-z0-9_]), and a hex digit's kind.
const WORD = 1
const DIGIT = 2
const HEX_LETTER = 4
const CHAR_CLASS = new Uint8Array(128)
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c)
  if (/\w/.test(ch)) CHAR_CLASS[c] = WORD | (/\d/.test(ch) ? DIGIT : 0) | (/[a-fA-F]/.test(ch) ? HEX_LETTER : 0)
}

/**
 * The hex rule without its regex. `\b(?:0[xX]HEX+|HEX{8,})\b` can only match a whole word (a run of
 * regex word characters: there is no word boundary inside one), so each word is looked at once:
 * `0x` and hex digits, or 8 or more hex digits with a digit and a letter among them (its accept).
 */
function scanHexWords(text: string, replacement: string): string {
  let out = ''
  let copied = 0
  const n = text.length
  let i = 0
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c >= 128 || (CHAR_CLASS[c]! & WORD) === 0) {
      i++
      continue
    }
    const start = i
    let kinds = 0
    let allHex = true
    for (; i < n; i++) {
      const d = text.charCodeAt(i)
      const k = d < 128 ? CHAR_CLASS[d]! : 0
      if ((k & WORD) === 0) break
      if ((k & (DIGIT | HEX_LETTER)) === 0) allHex = false
      kinds |= k
    }
    const len = i - start
    let hit: boolean
    if (len >= 3 && text.charCodeAt(start) === 48 && (text.charCodeAt(start + 1) | 0x20) === 120) {
      hit = true
      for (let j = start + 2; j < i && hit; j++) {
        const d = text.charCodeAt(j)
        hit = d < 128 && (CHAR_CLASS[d]! & (DIGIT | HEX_LETTER)) !== 0
      }
    } else {
      hit = len >= 8 && allHex && (kinds & DIGIT) !== 0 && (kinds & HEX_LETTER) !== 0
    }
    if (hit) {
      out += text.slice(copied, start) + replacement
      copied = i
    }
  }
  return copied === 0 ? text : out + text.slice(copied)
}

/** The production defaults. Order matters: the first rule to claim a span wins. */
export const DEFAULT_MASKS: readonly MaskRule[] = [
  // The scheme starts where a run of scheme characters does: from every word boundary inside a
  // long `a.a.a…` run, each start rescanned the run (quadratic).
  { name: 'url', pattern: /(?<![\w+.-])[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s"'<>]+/g, replacement: '<URL>', hint: '://' },
  // The look-behind starts a match only where a run of local-part characters starts: without it a
  // long word before an '@' is rescanned from every position (quadratic).
  { name: 'email', pattern: /(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g, replacement: '<EMAIL>', hint: '@' },
  // The hint finds a UUID's inner group by its first character, where the rule itself tries a word
  // boundary at every position: in text with dashes but no UUID it costs a fraction.
  { name: 'uuid', pattern: new RegExp(`\\b${HEX}{8}-${HEX}{4}-${HEX}{4}-${HEX}{4}-${HEX}{12}\\b`, 'g'), replacement: '<UUID>', hint: ['-', new RegExp(`-${HEX}{4}-`)] },
  { name: 'timestamp', pattern: /\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?/g, replacement: '<TS>', hint: ':' },
  // The hints are what every match holds (a digit, a dot, a digit), not merely a character most
  // lines have: the rules' look-behinds make each text they scan cost a test at every position.
  { name: 'ipv4', pattern: /(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w.])/g, replacement: '<IP>', hint: ['.', /\d\.\d/] },
  {
    name: 'ipv6',
    // Full form, or a compressed form with `::` between at least two groups; the look-arounds
    // keep C++/Rust paths (std::string) and times of day (12:30:45) out.
    pattern: new RegExp(`(?<![\\w:.])(?:(?:${H4}:){7}${H4}|(?:${H4}:){1,6}:(?:${H4}:){0,5}${H4}|::1)(?![\\w:])`, 'g'),
    replacement: '<IP>',
    // The compressed forms hold `::`, the full form three groups between colons.
    hint: [':', new RegExp(`::|:${H4}:${H4}:${H4}:`)],
  },
  { name: 'path', pattern: /(?<![\w/.~-])(?:\/[\w.@%+~-]+){2,}\/?/g, replacement: '<PATH>', hint: '/' },
  // 0x-prefixed, or a whole word of 8+ hex digits with a digit and a letter among them (so neither
  // "deadbeef" nor "12345678" is taken for an id here; the number rule masks the second).
  {
    name: 'hex',
    pattern: new RegExp(`\\b(?:0[xX]${HEX}+|${HEX}{8,})\\b`, 'g'),
    replacement: '<HEX>',
    accept: (m) => m.charCodeAt(1) === 120 || m.charCodeAt(1) === 88 || (HAS_DIGIT.test(m) && HAS_HEX_LETTER.test(m)),
    // Every line goes through this rule (it has no hint): the scan costs about half the regex on
    // lines with hex ids (the regex calls accept for each), a little less on lines without.
    scan: scanHexWords,
  },
  {
    name: 'number',
    // A number standing alone (not inside a word like "user42" or a version like "1.2.3"), with
    // an optional unit so "15ms" and "2.5MB" mask too, and a size or time unit after a space
    // ("2.5 MB", "3 sec") is part of the quantity; "blk_123" and "worker-7" mask their digits.
    pattern: /(?<![A-Za-z0-9.])[-+]?\d+(?:\.\d+)?(?:ms|us|µs|ns|s|m|h|d|[KMGT]i?B|B|%| (?:[KMGTP]?i?B|ms|sec|secs)(?![A-Za-z0-9]))?(?![A-Za-z0-9]|\.\d)/g,
    replacement: '<NUM>',
  },
]

function allPresent(hints: readonly Hint[], text: string): boolean {
  for (const h of hints) if (typeof h === 'string' ? !text.includes(h) : !h.test(text)) return false
  return true
}

function toGlobal(pattern: RegExp | string): RegExp {
  if (typeof pattern === 'string') return new RegExp(pattern, 'g')
  return pattern.global ? new RegExp(pattern.source, pattern.flags) : new RegExp(pattern.source, `${pattern.flags}g`)
}

/**
 * Compiles the rules once into one function. Regexes are copied (so a caller's `lastIndex` is
 * never shared) and `$` in placeholders is escaped, since `String.replace` gives it meaning.
 */
export function compileMasks(rules: readonly MaskRule[]): Masker {
  const compiled = rules.map((r) => {
    const re = toGlobal(r.pattern)
    const { accept, replacement } = r
    // A string replacement gives `$` a meaning (escaped here); a function's return value is used as it is.
    const escaped = replacement.replaceAll('$', '$$$$')
    const { scan } = r
    const replace = scan
      ? (s: string) => scan(s, replacement)
      : accept
        ? (s: string) => s.replace(re, (m) => (accept(m) ? replacement : m))
        : (s: string) => s.replace(re, escaped)
    // A hint regex is tested, never used globally: no lastIndex to carry between texts.
    const hints = (r.hint === undefined ? [] : Array.isArray(r.hint) ? r.hint : [r.hint as Hint]).map((h) =>
      h instanceof RegExp ? new RegExp(h.source, h.flags.replace(/[gy]/g, '')) : h,
    )
    return { replace, hints }
  })
  if (compiled.length === 0) return (text) => text
  return (text) => {
    let out = text
    for (const { replace, hints } of compiled) {
      if (allPresent(hints, out)) out = replace(out)
    }
    return out
  }
}
