// Log headers: the prefix most line-oriented loggers write before the message — a timestamp,
// a level, a process id, a thread in brackets, a component or logger name — recognised by the
// shape of its parts, not by a list of known formats:
//
//   081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating
//   2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0.0.0.0:2181:Election@774] - Notification …
//   2015-10-18 18:01:47,978 INFO [RMCommunicator Allocator] org.apache.hadoop…MRAppMaster: Created …
//   17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered signal handlers …
//   [Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties
//   - 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO …
//   [10.30 16:49:06] chrome.exe - proxy.example.org:5070 open through proxy …
//
// A header is a run of time parts (dates, times, month and weekday names, epoch seconds), then
// optionally a level word; between the time and the level a few other fields may stand (pid,
// host, node, subsystem). After the level: threads in brackets, a separator, and a component
// ending in ':'. Without a level, a time followed by `program[pid]:` or `program -` is a header
// too, and so is a time alone. Nothing is a header without a time or a leading level word, so
// ordinary text ("Connection reset by peer", "2 users logged in") is never cut.
import { parseSeverity } from '@sluice/core'
import type { Severity } from '@sluice/core'

export interface LogHeader {
  /** Epoch ns, when the time parts make a date this parser reads; UTC unless the text says otherwise. */
  timestampNs: bigint | undefined
  level: Severity | undefined
  /** The level word as written ("INFO", "notice", "W"). */
  levelText: string | undefined
  component: string | undefined
  thread: string | undefined
  pid: string | undefined
  /** The message after the header. */
  content: string
}

interface Token {
  text: string
  start: number
  end: number
}

const LEVEL_WORDS = new Set(['TRACE', 'DEBUG', 'FINE', 'FINER', 'FINEST', 'INFO', 'NOTICE', 'WARN', 'WARNING', 'ERROR', 'ERR', 'SEVERE', 'FATAL', 'CRITICAL', 'CRIT', 'ALERT', 'EMERG', 'FAILURE', 'PANIC'])
const LEVEL_WORD_CHARS = { min: Math.min(...[...LEVEL_WORDS].map((w) => w.length)), max: Math.max(...[...LEVEL_WORDS].map((w) => w.length)) }
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']
const WEEKDAYS = new Set(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])
/** Fields that may stand between the time and the level. */
const MAX_BETWEEN = 6
/** Tokens a header may span at most. */
const MAX_HEADER_TOKENS = 16

const TIME_OF_DAY = /^\d{1,2}:\d{2}(?::\d{2}(?:[.,:]\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?,?$/
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T-]\d{2}[:.]\d{2}[:.]\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)?,?$/
const SLASH_DATE = /^\d{2,4}[/.]\d{1,2}[/.]\d{2,4}$/
const MONTH_DAY = /^\d{2}[.-]\d{2}$/
/** One-letter levels (Android logcat, glog-style), read only right after a time and ids. */
const LETTER_LEVELS: Readonly<Record<string, string>> = { V: 'TRACE', D: 'DEBUG', I: 'INFO', W: 'WARN', E: 'ERROR', F: 'FATAL' }
const COMPACT = /^\d{6}$|^\d{8}$/
const EPOCH = /^\d{10}(?:\d{3})?(?:\.\d+)?$/
const COMPONENT = /^[A-Za-z_$][\w.$@#/[\]-]*:$/
const PROGRAM = /^([A-Za-z_][\w./-]*)(?:\[(\d+)\])?:$/

/** Splits on blanks, keeping a bracketed group ("[RMCommunicator Allocator]") as one token. */
function tokenize(line: string, limit: number): Token[] {
  const out: Token[] = []
  let i = 0
  const n = line.length
  while (i < n && out.length < limit) {
    while (i < n && (line[i] === ' ' || line[i] === '\t')) i++
    if (i >= n) break
    const start = i
    let depth = 0
    while (i < n) {
      const c = line[i]
      if (c === '[') depth++
      else if (c === ']') depth = Math.max(0, depth - 1)
      else if ((c === ' ' || c === '\t') && depth === 0) break
      i++
      // An unbalanced bracket group stops at a sane length.
      if (depth > 0 && i - start > 200) break
    }
    out.push({ text: line.slice(start, i), start, end: i })
  }
  return out
}

const bracketed = (t: string): boolean => t.length >= 2 && t.startsWith('[') && t.endsWith(']')
const inner = (t: string): string => (bracketed(t) ? t.slice(1, -1).trim() : t)

function levelWord(raw: string): string | undefined {
  const isBracketed = bracketed(raw)
  let t = inner(raw)
  if (t.charCodeAt(t.length - 1) === 58 /* : */) t = t.slice(0, -1)
  // Most tokens are refused by their length, before an upper-case copy is made.
  if (t.length < LEVEL_WORD_CHARS.min || t.length > LEVEL_WORD_CHARS.max) return undefined
  const upper = t.toUpperCase()
  if (!LEVEL_WORDS.has(upper)) return undefined
  // Bare level words are written in capitals; lower case counts only in brackets ("[notice]").
  return isBracketed || t === upper ? t : undefined
}

const monthIndex = (t: string): number => MONTHS.indexOf(t.slice(0, 3).toLowerCase())

type TimeKind = 'strong' | 'weak' | undefined

/** Whether a token is a time part: 'strong' when it alone says "timestamp", 'weak' when only beside one. */
function timePart(t: string, index: number, afterMonth = true): TimeKind {
  // Every numeric part starts with a digit, and a name is three letters, a capital first ("Dec",
  // "Sun,"): other tokens (most of a line's words) are refused without trying the patterns.
  const c = t.charCodeAt(0)
  if (!(c >= 48 && c <= 57) && !(c >= 65 && c <= 90 && (t.length === 3 || (t.length === 4 && t.charCodeAt(3) === 44)))) return undefined
  if (TIME_OF_DAY.test(t) || ISO_DATE.test(t)) return 'strong'
  if (SLASH_DATE.test(t)) return 'strong'
  if (EPOCH.test(t) && index <= 1) return 'strong'
  if (COMPACT.test(t) && index <= 1) return 'weak'
  const word = t.replace(/,$/, '')
  if (word.length === 3 && (monthIndex(word) >= 0 || WEEKDAYS.has(word.toLowerCase())) && /^[A-Z]/.test(word)) return 'weak'
  // A day of the month or a year only beside a month name ("Dec 04 … 2005"), not ids after a time.
  if (afterMonth && (/^\d{1,2}$/.test(word) || /^\d{4}$/.test(word))) return 'weak'
  if (MONTH_DAY.test(t)) return 'weak'
  return undefined
}

/** A bracketed group of time parts ("[Sun Dec 04 04:47:44 2005]", "[10.30 16:49:06]"). */
function bracketedTime(t: string): boolean {
  if (!bracketed(t)) return false
  const parts = inner(t).split(/\s+/)
  let strong = false
  for (const [i, p] of parts.entries()) {
    const k = timePart(p, i)
    if (!k) return false
    if (k === 'strong') strong = true
  }
  return strong
}

export function parseHeader(line: string, referenceMs: number = Date.now()): LogHeader | undefined {
  const c = line.charCodeAt(0)
  // Headers start with a digit, a bracket, a dash or a capital letter: anything else is text.
  if (!((c >= 48 && c <= 57) || c === 91 || c === 45 || (c >= 65 && c <= 90))) return undefined
  // Most text starts with a word: decided from the first token, before splitting the line.
  if (c !== 91) {
    const space = line.indexOf(' ')
    const first = space < 0 ? line : line.slice(0, space)
    if (first !== '-' && first !== '|' && levelWord(first) === undefined && timePart(first, 0) === undefined) {
      // Only a tag in capitals followed by a time ("APPREAD 1117869872 …") goes on; "GET /x" does not.
      if (!/^[A-Z][A-Z0-9_]{1,23}$/.test(first)) return undefined
      const next = line.slice(space + 1, line.indexOf(' ', space + 1) >>> 0)
      if (timePart(next, 1) === undefined) return undefined
    }
  }
  const tokens = tokenize(line, MAX_HEADER_TOKENS)
  const time: string[] = []
  let strongTime = false
  let i = 0
  let level: string | undefined
  const between: string[] = []
  let afterTime = 0
  for (; i < tokens.length; i++) {
    const t = tokens[i]!.text
    if (t === '-' || t === '|') continue
    const lw = levelWord(t) ?? (strongTime && t.length === 1 ? LETTER_LEVELS[t] : undefined)
    if (lw !== undefined) {
      level = lw
      i++
      break
    }
    // One tag in capitals may open the line before the time (BGL's alert type).
    if (i === 0 && /^[A-Z][A-Z0-9_]{1,23}$/.test(t) && timePart(tokens[1]?.text ?? '', 1) !== undefined) continue
    if (between.length === 0 && bracketedTime(t)) {
      time.push(...inner(t).split(/\s+/))
      strongTime = true
      afterTime = i + 1
      continue
    }
    const k = between.length === 0 ? timePart(t, i, time.some((p) => monthIndex(p) >= 0 && /^[A-Z][a-z]{2}$/.test(p))) : undefined
    if (k) {
      // yymmdd hhmmss: two compact parts make a timestamp together.
      if (k === 'strong' || (COMPACT.test(t) && time.length === 1 && COMPACT.test(time[0]!))) strongTime = true
      time.push(t.replace(/,$/, ''))
      afterTime = i + 1
      continue
    }
    // Other fields between the time and a level: ids, hosts, logger names, a thread in brackets.
    if (strongTime && between.length < MAX_BETWEEN && (/^[\w:.@$/-]+$/.test(t) || bracketed(t)) && !COMPONENT.test(t)) {
      between.push(t)
      continue
    }
    break
  }
  if (level === undefined) {
    if (!strongTime) return undefined
    return withoutLevel(line, tokens, afterTime, time, referenceMs)
  }
  // A level word needs a time before it, or must open the line.
  if (!strongTime && tokens[0]?.text !== undefined && levelWord(tokens[0].text) === undefined) return undefined
  let thread: string | undefined
  let component: string | undefined
  for (; i < tokens.length; i++) {
    const t = tokens[i]!.text
    if (t === '-' || t === '|') continue
    if (bracketed(t) && thread === undefined && component === undefined) {
      thread = inner(t)
      continue
    }
    if (component === undefined && COMPONENT.test(t) && i + 1 < tokens.length) {
      component = t.slice(0, -1)
      i++
    } else if (component === undefined && tokens[i + 1]?.text === '-' && /^[A-Za-z_$][\w.$@#/-]*$/.test(t)) {
      // A logger name before " - " (logback's and log4j's default layouts).
      component = t
      i++
    }
    break
  }
  // A " - " right after the component closes the header (Zookeeper's layout).
  if (tokens[i]?.text === '-') i++
  const content = i < tokens.length ? line.slice(tokens[i]!.start) : line.slice(tokens[tokens.length - 1]?.end ?? line.length)
  if (content.trim() === '') return undefined
  const pid = between.find((b) => /^\d{1,7}$/.test(b))
  const named = [...between].reverse().find((b) => !bracketed(b) && /^[A-Za-z_]/.test(b) && !/\d/.test(b))
  const threadBefore = between.find(bracketed)
  return {
    timestampNs: timestampOf(time, referenceMs),
    level: parseSeverity(level),
    levelText: level,
    component: component ?? named,
    thread: thread ?? (threadBefore === undefined ? undefined : inner(threadBefore)),
    pid,
    content: content.trimStart(),
  }
}

function withoutLevel(line: string, tokens: readonly Token[], from: number, time: string[], referenceMs: number): LogHeader | undefined {
  let i = from
  let component: string | undefined
  let pid: string | undefined
  // program[pid]: (a host may stand before it), or a program named before " - ".
  for (let j = i; j < Math.min(tokens.length, i + 2); j++) {
    const m = PROGRAM.exec(tokens[j]!.text)
    if (m && j + 1 < tokens.length) {
      component = m[1]
      pid = m[2]
      i = j + 1
      break
    }
  }
  if (component === undefined) {
    for (let j = i + 1; j < Math.min(tokens.length - 1, i + 3); j++) {
      if (tokens[j]!.text !== '-') continue
      component = line.slice(tokens[i]!.start, tokens[j - 1]!.end)
      i = j + 1
      break
    }
  }
  if (i >= tokens.length) return undefined
  return { timestampNs: timestampOf(time, referenceMs), level: undefined, levelText: undefined, component, thread: undefined, pid, content: line.slice(tokens[i]!.start) }
}

const NS_PER_MS = 1_000_000n

function utc(year: number, month: number, day: number, h: number, m: number, s: number, fraction: string): bigint | undefined {
  if (month < 1 || month > 12 || day < 1 || day > 31 || h > 23 || m > 59 || s > 60) return undefined
  const ms = Date.UTC(year, month - 1, day, h, m, s)
  if (Number.isNaN(ms) || ms < 0) return undefined
  return BigInt(ms) * NS_PER_MS + BigInt((fraction.replace(/\D/g, '') + '000000000').slice(0, 9))
}

const fullYear = (y: number): number => (y < 100 ? 2000 + y : y)

/**
 * The time parts as an instant, for the layouts above: ISO dates (with `T`, a space or a dash
 * before the time), y/m/d and y.m.d (two-digit years read as 20yy), yymmdd hhmmss, month names
 * with or without a year (the reference year when absent), mm.dd, and epoch seconds.
 */
function timestampOf(parts: readonly string[], referenceMs: number): bigint | undefined {
  const text = parts.join(' ')
  const clock = /(\d{1,2})[:.](\d{2})[:.](\d{2})(?:[.,:](\d{1,9}))?/
  let m = /^(\d{4})-(\d{2})-(\d{2})[T -](\d{2})[:.](\d{2})[:.](\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?/.exec(text)
  if (m) {
    const at = utc(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), m[7] ?? '')
    if (at === undefined || !m[8] || m[8] === 'Z') return at
    const sign = m[8][0] === '-' ? -1 : 1
    const offsetMin = sign * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(-2)))
    return at - BigInt(offsetMin) * 60_000n * NS_PER_MS
  }
  const year = new Date(referenceMs).getUTCFullYear()
  m = /^(\d{2,4})[/.](\d{1,2})[/.](\d{2,4}) (\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?/.exec(text)
  if (m) {
    // 4-digit year first, or last (m/d/yyyy); two-digit fields are read y/m/d, as log4j's yy/MM/dd.
    const [a, b, d] = [m[1]!, m[2]!, m[3]!]
    if (d.length === 4) return utc(Number(d), Number(a), Number(b), Number(m[4]), Number(m[5]), Number(m[6]), m[7] ?? '')
    return utc(fullYear(Number(a)), Number(b), Number(d), Number(m[4]), Number(m[5]), Number(m[6]), m[7] ?? '')
  }
  m = /^(\d{2})(\d{2})(\d{2}) (\d{2})(\d{2})(\d{2})$/.exec(text)
  if (m) return utc(fullYear(Number(m[1])), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), '')
  const words = text.split(' ')
  const monthAt = words.findIndex((w) => w.length === 3 && monthIndex(w) >= 0 && /^[A-Z]/.test(w))
  if (monthAt >= 0) {
    const day = Number(words[monthAt + 1])
    const t = clock.exec(words[monthAt + 2] ?? '')
    const y = words.slice(monthAt + 3).find((w) => /^\d{4}$/.test(w))
    if (t) return utc(y ? Number(y) : year, monthIndex(words[monthAt]!) + 1, day, Number(t[1]), Number(t[2]), Number(t[3]), t[4] ?? '')
  }
  m = /^(\d{2})[.-](\d{2}) (\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?$/.exec(text)
  if (m) return utc(year, Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), m[6] ?? '')
  // Epoch seconds, and a later full timestamp when there is one (BGL: epoch, date, …, timestamp).
  const iso = parts.find((p) => ISO_DATE.test(p) && p.length > 10)
  if (iso) return timestampOf([iso.replace(/^(\d{4}-\d{2}-\d{2})-/, '$1 ')], referenceMs)
  m = /^(\d{10})(\d{3})?/.exec(text)
  if (m) return BigInt(m[1]!) * 1_000_000_000n + BigInt(m[2] ?? '0') * NS_PER_MS
  return undefined
}
