// Syslog lines in both wire formats, as relays (rsyslog, syslog-ng, journald forwarders) pass
// them on:
//
//   RFC 5424  <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID k="v" …] MSG
//             <165>1 2003-10-11T22:14:15.003Z host evntslog - ID47 [exampleSDID@32473 iut="3"] An event
//   RFC 3164  <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG
//             <34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8
//
// PRI = facility × 8 + severity. "-" is the 5424 NILVALUE. A 3164 line may lack PRI (as in
// /var/log files) or HOSTNAME, and its timestamp has no year and no zone: the year is the
// reference time's (the previous one when that would put the line more than a day ahead) and
// the zone UTC.
import { parseTimestampNs } from '@sluice/core'

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
  /** SD-ID → parameters. */
  structuredData: Record<string, Record<string, string>>
  message: string
}

const HEADER_5424 = /^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) ?/
const PRI = /^<(\d{1,3})>/
const BSD_TIME = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)? /
const ISO_TIME = /^(\d{4}-\d{2}-\d{2}T\S+) /
const TAG = /^([^\s:[\]]+)(?:\[([^\]]*)\])?: ?/
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const DAY_MS = 86_400_000

const nil = (s: string | undefined): string | null => (s === undefined || s === '-' ? null : s)

function pri(value: string | undefined): { facility: number | null; facilityName: string | null; severity: number | null } | undefined {
  if (value === undefined) return { facility: null, facilityName: null, severity: null }
  const n = Number(value)
  if (n > 191) return undefined
  const facility = n >> 3
  return { facility, facilityName: SYSLOG_FACILITIES[facility] ?? null, severity: n & 7 }
}

/** Parses `[id k="v" …][id2 …]` from `i`; returns the elements and the index after them. */
function structuredData(s: string, i: number): { sd: Record<string, Record<string, string>>; end: number } | undefined {
  const sd: Record<string, Record<string, string>> = {}
  while (s[i] === '[') {
    const idEnd = s.slice(i + 1).search(/[ \]]/)
    if (idEnd < 0) return undefined
    const params: Record<string, string> = {}
    sd[s.slice(i + 1, i + 1 + idEnd)] = params
    i += 1 + idEnd
    while (s[i] === ' ') {
      const eq = s.indexOf('="', i)
      if (eq < 0) return undefined
      const name = s.slice(i + 1, eq)
      let value = ''
      let j = eq + 2
      // PARAM-VALUE escapes exactly `"`, `\` and `]` with a backslash.
      for (; j < s.length && s[j] !== '"'; j++) value += s[j] === '\\' && '"\\]'.includes(s[j + 1] ?? '') ? s[++j] : s[j]
      if (j >= s.length) return undefined
      params[name] = value
      i = j + 1
    }
    if (s[i] !== ']') return undefined
    i++
  }
  return { sd, end: i }
}

function parse5424(line: string): SyslogMessage | undefined {
  const h = HEADER_5424.exec(line)
  if (!h) return undefined
  const p = pri(h[1])
  if (!p) return undefined
  let rest = line.slice(h[0].length)
  let sd: Record<string, Record<string, string>> = {}
  if (rest.startsWith('-')) rest = rest.slice(1)
  else if (rest.startsWith('[')) {
    const parsed = structuredData(rest, 0)
    if (!parsed) return undefined
    sd = parsed.sd
    rest = rest.slice(parsed.end)
  } else return undefined
  const timestamp = nil(h[3])
  return {
    protocol: 'rfc5424',
    ...p,
    timestamp,
    timestampNs: timestamp === null ? undefined : parseTimestampNs(timestamp),
    hostname: nil(h[4]),
    appName: nil(h[5]),
    procId: nil(h[6]),
    msgId: nil(h[7]),
    structuredData: sd,
    message: rest.replace(/^ ?\uFEFF?/, ''),
  }
}

function bsdTimeNs(m: RegExpExecArray, referenceMs: number): bigint | undefined {
  const month = MONTHS.indexOf(m[1] ?? '')
  if (month < 0) return undefined
  const at = (year: number) => Date.UTC(year, month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]))
  const year = new Date(referenceMs).getUTCFullYear()
  const ms = at(year) > referenceMs + DAY_MS ? at(year - 1) : at(year)
  return BigInt(ms) * 1_000_000n
}

function parse3164(line: string, referenceMs: number): SyslogMessage | undefined {
  const pm = PRI.exec(line)
  const p = pri(pm?.[1])
  if (!p) return undefined
  let rest = pm ? line.slice(pm[0].length) : line
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
    structuredData: {},
    message: tag ? rest.slice(tag[0].length) : rest,
  }
}

/** Parses an RFC 5424 or RFC 3164 line; undefined when `line` is neither. */
export function parseSyslog(line: string, referenceMs: number = Date.now()): SyslogMessage | undefined {
  return parse5424(line) ?? parse3164(line, referenceMs)
}
