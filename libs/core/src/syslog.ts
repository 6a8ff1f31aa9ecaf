// Syslog messages in both wire formats, shared by the gateway's syslog listeners (whole frames
// from the network) and the enricher (syslog lines that relays left inside a message body), so
// the two read a line the same way:
//
//   RFC 5424  <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
//             <165>1 2003-10-11T22:14:15.003Z host evntslog - ID47 [exampleSDID@32473 iut="3"] An event
//             SD is "-" or one or more [SD-ID SP PARAM="VALUE" …]; VALUE escapes `"`, `\` and `]`
//             with a backslash; SD-ID and PARAM are 1-32 printable ASCII characters but `= ] "` and
//             space. MSG may start with a UTF-8 BOM, which is not part of the text.
//   RFC 3164  <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG
//             <34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8
//
// PRI = facility × 8 + severity, at most 191. "-" is the 5424 NILVALUE. A 3164 line may lack PRI
// (as in /var/log files) or HOSTNAME, and its timestamp has no year and no zone: the year is the
// reference time's (the previous one when that would put the line more than a day ahead) and the
// zone UTC; a fraction of a second some senders add is kept; a day that does not exist leaves
// timestampNs undefined. Some senders put an RFC 3339 timestamp in its place, which is read as
// such. What is neither format is undefined: the caller decides what an unreadable line is.
import { parseTimestampNs } from './timestamp.js'

export const SYSLOG_FACILITIES = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp',
  'ntp', 'security', 'console', 'solaris-cron', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7',
] as const

export interface SyslogMessage {
  protocol: 'rfc5424' | 'rfc3164'
  facility: number | null
  facilityName: string | null
  /** Syslog severity 0 (emergency) … 7 (debug). */
  severity: number | null
  timestamp: string | null
  timestampNs: bigint | undefined
  hostname: string | null
  appName: string | null
  procId: string | null
  msgId: string | null
  /**
   * RFC 5424 structured data as flat (SD-ID, PARAM-NAME, PARAM-VALUE) triples in wire order:
   * `[a x="1"][b y="2"]` is ['a', 'x', '1', 'b', 'y', '2']. Flat, because readers write each
   * parameter somewhere of their own (an attribute), and objects keyed by the sender's names cost
   * more to build than the rest of the message. A repeated SD-ID or parameter (allowed by neither
   * RFC, sent by some) is listed again; a reader writing `id.name` keys keeps the last value.
   */
  sdParams: string[]
  message: string
}

export interface SyslogPri {
  facility: number
  facilityName: string | null
  severity: number
}

const HEADER_5424 = /^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) ?/
const PRI = /^<(\d{1,3})>/
const BSD_TIME = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)? /
const ISO_TIME = /^(\d{4}-\d{2}-\d{2}T\S+) /
const TAG = /^([^\s:[\]]+)(?:\[([^\]]*)\])?: ?/
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const DAY_MS = 86_400_000
const SD_NAME_MAX = 32

const nil = (s: string | undefined): string | null => (s === undefined || s === '-' ? null : s)

function decodePri(value: string): SyslogPri | undefined {
  const n = Number(value)
  if (n > 191) return undefined
  const facility = n >> 3
  return { facility, facilityName: SYSLOG_FACILITIES[facility] ?? null, severity: n & 7 }
}

/** The `<PRI>` a line starts with, and its length; undefined when it has none or a bad one. */
export function parseSyslogPri(line: string): { pri: SyslogPri; length: number } | undefined {
  const m = PRI.exec(line)
  const pri = m?.[1] === undefined ? undefined : decodePri(m[1])
  return pri && m ? { pri, length: m[0].length } : undefined
}

/** SD-NAME: printable US-ASCII but `=`, space, `]` and `"`. */
function isSdNameChar(c: number): boolean {
  return c > 32 && c < 127 && c !== 61 && c !== 93 && c !== 34
}

/** The end of the SD-NAME starting at `i`, or -1 when there is none or it is too long. */
function sdNameEnd(s: string, i: number): number {
  let j = i
  while (j < s.length && isSdNameChar(s.charCodeAt(j))) j++
  return j === i || j - i > SD_NAME_MAX ? -1 : j
}

/**
 * Parses `[id k="v" …][id2 …]` from `i`, pushing (id, name, value) triples to `out`; returns the
 * index after them, or -1 when they are malformed.
 */
function structuredData(s: string, i: number, out: string[]): number {
  // The next backslash at or after the value being read, -1 for none: one native search covers
  // every value of a line without escapes (most lines), instead of a loop over each value.
  let backslash = s.indexOf('\\', i)
  while (s.charCodeAt(i) === 91 /* [ */) {
    const idEnd = sdNameEnd(s, i + 1)
    if (idEnd < 0) return -1
    const id = s.slice(i + 1, idEnd)
    i = idEnd
    while (s.charCodeAt(i) === 32) {
      const nameEnd = sdNameEnd(s, i + 1)
      if (nameEnd < 0 || s.charCodeAt(nameEnd) !== 61 /* = */ || s.charCodeAt(nameEnd + 1) !== 34 /* " */) return -1
      const name = s.slice(i + 1, nameEnd)
      // PARAM-VALUE escapes exactly `"`, `\` and `]` with a backslash; any other backslash is kept.
      const from = nameEnd + 2
      const close = s.indexOf('"', from)
      if (close < 0) return -1
      if (backslash >= 0 && backslash < from) backslash = s.indexOf('\\', from)
      if (backslash < 0 || backslash > close) {
        // No escapes (the common case): the value is the text up to the quote.
        out.push(id, name, s.slice(from, close))
        i = close + 1
        continue
      }
      let value = ''
      let start = from
      let j = from
      for (; j < s.length && s.charCodeAt(j) !== 34; j++) {
        const next = s.charCodeAt(j + 1)
        if (s.charCodeAt(j) === 92 && (next === 34 || next === 92 || next === 93)) {
          value += s.slice(start, j)
          start = ++j
        }
      }
      if (j >= s.length) return -1
      out.push(id, name, value + s.slice(start, j))
      i = j + 1
    }
    if (s.charCodeAt(i) !== 93 /* ] */) return -1
    i++
  }
  return i
}

function parse5424(line: string): SyslogMessage | undefined {
  const h = HEADER_5424.exec(line)
  if (!h?.[1]) return undefined
  const p = decodePri(h[1])
  if (!p) return undefined
  let rest = line.slice(h[0].length)
  const sdParams: string[] = []
  if (rest.startsWith('-')) rest = rest.slice(1)
  else if (rest.startsWith('[')) {
    const end = structuredData(rest, 0, sdParams)
    if (end < 0) return undefined
    rest = rest.slice(end)
  } else return undefined
  const timestamp = nil(h[3])
  // MSG after its separating space, without the BOM a UTF-8 MSG may start with.
  let at = rest.charCodeAt(0) === 32 ? 1 : 0
  if (rest.charCodeAt(at) === 0xfeff) at++
  return {
    protocol: 'rfc5424',
    facility: p.facility,
    facilityName: p.facilityName,
    severity: p.severity,
    timestamp,
    timestampNs: timestamp === null ? undefined : parseTimestampNs(timestamp),
    hostname: nil(h[4]),
    appName: nil(h[5]),
    procId: nil(h[6]),
    msgId: nil(h[7]),
    sdParams,
    message: at === 0 ? rest : rest.slice(at),
  }
}

/** A BSD timestamp's time, undefined when it names no real time ("Feb 30", "25:00:00"). */
function bsdTimeNs(m: RegExpExecArray, referenceMs: number): bigint | undefined {
  const month = MONTHS.indexOf(m[1] ?? '')
  const [day, hour, minute, second] = [m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number]
  if (month < 0 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined
  const at = (year: number) => Date.UTC(year, month, day, hour, minute, second)
  const year = new Date(referenceMs).getUTCFullYear()
  let y = at(year) > referenceMs + DAY_MS ? year - 1 : year
  // Feb 29 of a year that has none: the last leap year's.
  while (new Date(at(y)).getUTCDate() !== day && y > year - 8) y--
  if (new Date(at(y)).getUTCDate() !== day) return undefined
  return BigInt(at(y)) * 1_000_000n + BigInt((m[6] ?? '').padEnd(9, '0'))
}

function parse3164(line: string, referenceMs: number): SyslogMessage | undefined {
  let p: SyslogPri | { facility: null; facilityName: null; severity: null } = { facility: null, facilityName: null, severity: null }
  let rest = line
  if (line.startsWith('<')) {
    const pri = parseSyslogPri(line)
    if (!pri) return undefined
    p = pri.pri
    rest = line.slice(pri.length)
  }
  let timestamp: string
  let timestampNs: bigint | undefined
  const bsd = BSD_TIME.exec(rest)
  const iso = bsd ? null : ISO_TIME.exec(rest)
  if (bsd) {
    timestamp = bsd[0].trimEnd()
    timestampNs = bsdTimeNs(bsd, referenceMs)
  } else if (iso?.[1]) {
    timestamp = iso[1]
    timestampNs = parseTimestampNs(timestamp)
  } else return undefined
  rest = rest.slice((bsd ?? iso)?.[0].length ?? 0)
  // HOSTNAME is present unless the first token is already the TAG ("su:").
  let hostname: string | null = null
  if (!/^[^\s:[\]]+(?:\[[^\]]*\])?:(?: |$)/.test(rest)) {
    const sp = rest.indexOf(' ')
    hostname = sp < 0 ? rest : rest.slice(0, sp)
    rest = sp < 0 ? '' : rest.slice(sp + 1)
  }
  const tag = TAG.exec(rest)
  return {
    protocol: 'rfc3164',
    ...p,
    timestamp,
    timestampNs,
    hostname,
    appName: tag?.[1] ?? null,
    procId: tag?.[2] ?? null,
    msgId: null,
    sdParams: [],
    message: tag ? rest.slice(tag[0].length) : rest,
  }
}

/** Parses an RFC 5424 or RFC 3164 line; undefined when `line` is neither. */
export function parseSyslog(line: string, referenceMs: number = Date.now()): SyslogMessage | undefined {
  return parse5424(line) ?? parse3164(line, referenceMs)
}
