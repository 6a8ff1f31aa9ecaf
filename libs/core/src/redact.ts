// PII and secret redaction: the enricher applies it to the message and attribute values before
// anything is stored or mined (so templates never hold PII either); the AI endpoints apply it to
// everything they send to a language model. Kinds: emails, payment card numbers,
// secrets (bearer/basic credentials, key=value secrets, well-known key formats), and optionally
// IP addresses. Each kind is a compiled regex chosen once at construction.
//
// Cards: 13–19 digits, optionally grouped by spaces or dashes, that pass the Luhn check and start
// like a card (2–6, i.e. Mastercard 2-series, Amex/Diners/JCB, Visa, Mastercard, Discover/
// UnionPay/Maestro). Luhn alone passes one random number in ten; the leading-digit test keeps
// epoch timestamps (1…) and order numbers from being taken for cards.

import { INPUT_LIMITS, setOwn } from './input.js'

export const REDACTION_KINDS = ['email', 'card', 'secret', 'ipv4', 'ipv6'] as const
export type RedactionKind = (typeof REDACTION_KINDS)[number]

export type RedactOptions = Readonly<Record<RedactionKind, boolean>>

export const DEFAULT_REDACT_OPTIONS: RedactOptions = { email: true, card: true, secret: true, ipv4: false, ipv6: false }

export interface Redacted {
  text: string
  redacted: boolean
}

export interface Redactor {
  text(s: string): Redacted
  /** Redacts attribute values; values under secret-looking keys are replaced whole. */
  attributes(attrs: Readonly<Record<string, string>>): { attributes: Readonly<Record<string, string>>; redacted: boolean }
}

const MASK = {
  email: '[REDACTED_EMAIL]',
  card: '[REDACTED_CARD]',
  secret: '[REDACTED_SECRET]',
  ip: '[REDACTED_IP]',
} as const

// Matches start only where a local part starts (look-behind), so long words stay linear.
const EMAIL = /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b/g
const NAME_EMAIL = new RegExp(EMAIL.source.replace('@', '@(?![0-9]+(?:[.]|$))'), 'g')
const CARD_CANDIDATE = /(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])/g
const CARD_PREFIX = /^(?:2[2-7]|3|4|5|6)/
// Credentials after an auth scheme: `Authorization: Bearer eyJ…`, `Basic dXNlcjpwYXNz`. The
// credential must hold a digit or symbol, so prose ("Token validation failed") stays.
const AUTH_SCHEME = /\b(Bearer|Basic|Token)(\s+)(?=[A-Za-z0-9\-._~+/]*[0-9\-._~+/])[A-Za-z0-9\-._~+/]{8,}=*/gi
// key=value, "key": "value" or key:value where the key names a secret (api_key, csrf_token,
// client_secret, db_password …); the key and quotes stay.
// A colon followed by a space counts only after a quoted key, so prose such as "invalid token:
// expired" is left alone.
// A match starts only where a run of key characters does (not at every word boundary inside one:
// a 32 KB run of `a-a-…` before the word "key" was rescanned from each boundary, 250 ms).
const SECRET_PAIR =
  /(?<![\w-])([\w-]*?(?:api[_-]?key|apikey|token|secret|secret[_-]?key|password|passwd)(?:"\s*:\s*"?|\s*=\s*"?|:"?(?=[^\s"])))([^\s"'&,;}]+)/gi
// Well-known key formats: Stripe, AWS access key ids, GitHub, GitLab, Slack, Google, OpenAI/Groq, JWTs.
const KNOWN_KEYS = new RegExp(
  [
    '\\b[sr]k_(?:live|test)_[0-9A-Za-z]{10,}',
    '\\b(?:AKIA|ASIA)[0-9A-Z]{16}\\b',
    '\\bgh[pousr]_[A-Za-z0-9]{30,}',
    '\\bgithub_pat_[A-Za-z0-9_]{22,}',
    '\\bglpat-[A-Za-z0-9_-]{20,}',
    '\\bxox[abprs]-[A-Za-z0-9-]{10,}',
    '\\bAIza[0-9A-Za-z_-]{35}',
    '\\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}',
    '\\bgsk_[A-Za-z0-9]{20,}',
    // Where a run of token characters starts, as for SECRET_PAIR (`eyJ-eyJ-…` was quadratic).
    '(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\\.eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}',
  ].join('|'),
  'g',
)
const IPV4 = /(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\w.])/g
const IPV6 = /(?<![\w:.])(?:(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|(?:[0-9a-fA-F]{1,4}:){1,6}:(?:[0-9a-fA-F]{1,4}:){0,5}[0-9a-fA-F]{1,4}|::1)(?![\w:])/g
// Prefilters: the words AUTH_SCHEME and SECRET_PAIR need; for a card, four digits in a row with
// at most one space or dash between them, which every CARD_CANDIDATE match holds (a card grouped
// in twos or threes has no four digits together).
const SECRET_WORDS = /bearer|basic|token|key|secret|passw/i
const DIGIT_RUN = /\d[ -]?\d[ -]?\d[ -]?\d/
// What a well-known key format (KNOWN_KEYS) starts with: a key (attribute name) is scanned only when it holds one.
const KEY_FORMAT = /[sr]k_|AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|xox[abprs]-|AIza|sk-|gsk_|eyJ/
// Text: one scan for both secret steps (SECRET_WORDS or KEY_FORMAT, in any case: a superset of
// what either needs), and for a card 13 digits with at most one space or dash between them, as
// every CARD_CANDIDATE match holds: most lines have a number of four digits, few one of thirteen.
const SECRET_HINT = new RegExp(`${SECRET_WORDS.source}|${KEY_FORMAT.source}`, 'i')
const CARD_RUN = /\d(?:[ -]?\d){12}/
// Distinct attribute names whose verdicts (SECRET_NAME, SCAN_KEY) are remembered, past which the
// memo starts over, and the longest name remembered (ingest bounds names to INPUT_LIMITS.keyChars).
const KEY_MEMO_MAX = 4096
const KEY_MEMO_MAX_CHARS = INPUT_LIMITS.keyChars
/** What a key asks of redaction: its value replaced whole (a secret's name), the key itself scanned. */
const SECRET_NAME = 1
const SCAN_KEY = 2
const SECRET_KEY = /(?:^|[._-])(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|authorization|cookie|set-cookie|credentials?|private[_-]?key)$/i

/** The Luhn (mod 10) check over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0
  let double = false
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48
    if (double) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
    double = !double
  }
  return sum % 10 === 0
}

function redactCard(match: string): string {
  const digits = match.replace(/[ -]/g, '')
  return digits.length >= 13 && digits.length <= 19 && CARD_PREFIX.test(digits) && luhnValid(digits) ? MASK.card : match
}

type Step = (s: string) => string

export function createRedactor(options: Partial<RedactOptions> = {}): Redactor {
  const o = { ...DEFAULT_REDACT_OPTIONS, ...options }
  // The steps for text, with `email` the pattern of an address. Secrets first: a JWT or key may
  // contain an '@' or digit runs the later kinds would split. Each step starts with a cheap test
  // that rules most text out before its regex scans.
  const stepsWith = (email: RegExp): Step[] => {
    const steps: Step[] = []
    if (o.secret) {
      steps.push((s) => {
        if (!SECRET_HINT.test(s)) return s
        const paired = SECRET_WORDS.test(s) ? s.replace(AUTH_SCHEME, `$1$2${MASK.secret}`).replace(SECRET_PAIR, `$1${MASK.secret}`) : s
        return paired.replace(KNOWN_KEYS, MASK.secret)
      })
    }
    if (o.email) steps.push((s) => (s.includes('@') ? s.replace(email, MASK.email) : s))
    if (o.card) steps.push((s) => (CARD_RUN.test(s) ? s.replace(CARD_CANDIDATE, redactCard) : s))
    if (o.ipv4) steps.push((s) => s.replace(IPV4, MASK.ip))
    if (o.ipv6) steps.push((s) => (s.includes(':') ? s.replace(IPV6, MASK.ip) : s))
    return steps
  }
  const steps = stepsWith(EMAIL)
  // Names, for an email whose domain starts with a number: that is an RFC 5424 structured-data
  // id (`origin@32473.ip`, an enterprise number), not an address.
  const nameSteps = stepsWith(NAME_EMAIL)

  // Which keys are worth a scan, cheaply: most keys are words that cannot hold an email (no `@`),
  // a card (no four digits together) or a known key format (none of their prefixes). With IP
  // redaction on, every key of six characters or more.
  // One pattern of what the kinds turned on need, one scan per key.
  const keyHint = new RegExp([...(o.secret ? [KEY_FORMAT.source] : []), ...(o.email ? ['@'] : []), ...(o.card ? [DIGIT_RUN.source] : [])].join('|') || '(?!)')
  const ips = o.ipv4 || o.ipv6
  const keyMayHold = (k: string): boolean => k.length >= 6 && (ips || keyHint.test(k))
  // Records repeat their attribute names, so each name's verdict is remembered rather than found
  // again by two regexes per record. Bounded in count and length: a stream of ever new names
  // starts the memo over now and then, and a longer name is judged every time.
  const verdicts = new Map<string, number>()
  const verdictOf = (k: string): number => {
    let v = verdicts.get(k)
    if (v === undefined) {
      v = (o.secret && SECRET_KEY.test(k) ? SECRET_NAME : 0) | (keyMayHold(k) ? SCAN_KEY : 0)
      if (k.length > KEY_MEMO_MAX_CHARS) return v
      if (verdicts.size >= KEY_MEMO_MAX) verdicts.clear()
      verdicts.set(k, v)
    }
    return v
  }

  const run = (s: string, all: readonly Step[]): string => {
    // Nothing shorter than "a@b.cd" can hold an email, a card or a secret.
    if (s.length < 6) return s
    let out = s
    for (const step of all) out = step(out)
    return out
  }
  const redact = (s: string): string => run(s, steps)
  const redactName = (s: string): string => run(s, nameSteps)

  return {
    text(s) {
      const out = redact(s)
      return { text: out, redacted: out !== s }
    },
    attributes(attrs) {
      // Copied only once a value changes: most maps have nothing to redact.
      let out: Record<string, string> | undefined
      let keys = false
      for (const k in attrs) {
        const verdict = verdictOf(k)
        keys ||= (verdict & SCAN_KEY) !== 0
        const v = attrs[k] ?? ''
        const next = v !== '' && (verdict & SECRET_NAME) !== 0 ? MASK.secret : redact(v)
        if (next === v) continue
        out ??= { ...attrs }
        setOwn(out, k, next)
      }
      if (keys) {
        // Keys too: a body's JSON can key a map by email ({"users": {"ann@example.com": …}}). A
        // key that redacts alike to an earlier one (two emails) is numbered (`[REDACTED_EMAIL]#2`),
        // so no value is lost.
        const from = out ?? attrs
        const renamed: Record<string, string> = {}
        let changed = false
        for (const k in from) {
          const redacted = (verdictOf(k) & SCAN_KEY) !== 0 ? redactName(k) : k
          let key = redacted
          if (key !== k) {
            changed = true
            for (let n = 2; Object.hasOwn(renamed, key) || Object.hasOwn(from, key); n++) key = `${redacted}#${n}`
          }
          setOwn(renamed, key, from[k] ?? '')
        }
        if (changed) out = renamed
      }
      return { attributes: out ?? attrs, redacted: out !== undefined }
    },
  }
}
