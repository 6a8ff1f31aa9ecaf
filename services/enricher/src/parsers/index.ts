// Message-body parsing: recognises the body's format from its first characters (so plain text,
// the common case, costs a few comparisons) and returns its fields in one shape — string
// fields to merge into attributes, the inner message worth mining, and any level it states.
import { parseSeverity, parseTimestampNs, severityFromPino, severityFromSyslog } from '@sluice/core'
import type { Severity } from '@sluice/core'
import type { ParsedFormat } from '../model.js'
import { parseAccessLog, routeTemplate } from './access-log.js'
import { parseHeader } from './header.js'
import type { LogHeader } from './header.js'
import type { AccessLogEntry } from './access-log.js'
import { parseJsonMessage } from './json.js'
import { parseLogfmt } from './logfmt.js'
import { parseSyslog } from './syslog.js'
import type { SyslogMessage } from './syslog.js'

export { parseAccessLog, parseClfTime, routeTemplate } from './access-log.js'
export type { AccessLogEntry } from './access-log.js'
export { parseHeader } from './header.js'
export type { LogHeader } from './header.js'
export { parseJsonMessage } from './json.js'
export { parseLogfmt } from './logfmt.js'
export { parseSyslog, SYSLOG_FACILITIES } from './syslog.js'
export type { SyslogMessage } from './syslog.js'

export interface ParsedBody {
  format: ParsedFormat
  fields: Record<string, string>
  /** The human message inside the body (JSON `msg`, syslog MSG); undefined when the body is it. */
  message: string | undefined
  /** A template known without mining (an access line's route shape). */
  template: string | undefined
  level: Severity | undefined
  timestampNs: bigint | undefined
  host: string | undefined
  app: string | undefined
}

const MESSAGE_KEYS = ['message', 'msg', '@message', 'log', 'event', 'text']
const TIME_KEYS = ['time', 'timestamp', '@timestamp', 'ts', 'datetime']
const LEVEL_KEYS = ['level', 'severity', 'lvl', 'loglevel', 'log.level', '@level', 'levelname', 'severity_text']
// Access lines start with a client address (IPv4, IPv6 or a hostname) and hold `] "`.
const ACCESS_START = /^[0-9a-fA-F:.]+ |^[\w.-]+ \S+ \S+ \[/
// RFC 3164 without PRI, as in /var/log files: "Oct 11 22:14:15 …".
const BSD_START = /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d /

function firstOf(fields: Readonly<Record<string, string>>, keys: readonly string[]): string | undefined {
  for (const k of keys) {
    const v = fields[k]
    if (v !== undefined && v !== '') return v
  }
  return undefined
}

// pino and bunyan write numeric levels 10…60 (trace…fatal), which are not OTel numbers.
function levelOf(fields: Readonly<Record<string, string>>): Severity | undefined {
  const raw = firstOf(fields, LEVEL_KEYS)
  if (raw === undefined) return undefined
  if (/^[1-6]0$/.test(raw)) return severityFromPino(Number(raw))
  return parseSeverity(raw)
}

function fromFields(format: 'json' | 'logfmt', fields: Record<string, string>): ParsedBody {
  const time = firstOf(fields, TIME_KEYS)
  return {
    format,
    fields,
    message: firstOf(fields, MESSAGE_KEYS),
    template: undefined,
    level: levelOf(fields),
    timestampNs: time === undefined ? undefined : parseTimestampNs(time),
    // Only `hostname` (pino, bunyan): a `host` field is as often the peer a message talks about.
    host: fields.hostname,
    app: undefined,
  }
}

function put(into: Record<string, string>, key: string, v: string | number | null | undefined): void {
  if (v !== null && v !== undefined && v !== '') into[key] = String(v)
}

function fromAccess(a: AccessLogEntry): ParsedBody {
  const fields: Record<string, string> = {}
  put(fields, 'client_ip', a.clientIp)
  put(fields, 'remote_user', a.user)
  put(fields, 'method', a.method)
  put(fields, 'path', a.path)
  put(fields, 'protocol', a.protocol)
  put(fields, 'status', a.status)
  put(fields, 'bytes', a.bytes)
  put(fields, 'referer', a.referer)
  put(fields, 'user_agent', a.userAgent)
  put(fields, 'request_time', a.requestTimeS)
  // 5xx is the server's failure; 4xx is the client's and stays at the record's level.
  const level = a.status >= 500 ? parseSeverity('error') : undefined
  return { format: 'access', fields, message: undefined, template: routeTemplate(a.method, a.path), level, timestampNs: a.timestampNs, host: undefined, app: undefined }
}

function fromSyslog(s: SyslogMessage): ParsedBody {
  const fields: Record<string, string> = {}
  put(fields, 'syslog.facility', s.facilityName)
  put(fields, 'syslog.severity', s.severity)
  put(fields, 'syslog.appname', s.appName)
  put(fields, 'syslog.procid', s.procId)
  put(fields, 'syslog.msgid', s.msgId)
  put(fields, 'syslog.timestamp', s.timestamp)
  const sd = s.sdParams
  for (let i = 0; i < sd.length; i += 3) fields[`sd.${sd[i]}.${sd[i + 1]}`] = sd[i + 2]!
  const level = s.severity === null ? undefined : severityFromSyslog(s.severity)
  return { format: 'syslog', fields, message: s.message, template: undefined, level, timestampNs: s.timestampNs, host: s.hostname ?? undefined, app: s.appName ?? undefined }
}

function fromHeader(h: LogHeader): ParsedBody {
  const fields: Record<string, string> = {}
  put(fields, 'component', h.component)
  put(fields, 'thread', h.thread)
  put(fields, 'pid', h.pid)
  return { format: 'header', fields, message: h.content, template: undefined, level: h.level, timestampNs: h.timestampNs, host: undefined, app: undefined }
}

/** Recognises and parses a message body; undefined for plain text. */
export function parseBody(message: string, referenceMs?: number): ParsedBody | undefined {
  const c = message.charCodeAt(0)
  if (c === 123 /* { */) {
    const fields = parseJsonMessage(message)
    if (fields) return fromFields('json', fields)
  }
  if (c === 60 /* < */ || BSD_START.test(message)) {
    const s = parseSyslog(message, referenceMs)
    if (s) return fromSyslog(s)
  }
  if (message.includes('] "') && ACCESS_START.test(message)) {
    const a = parseAccessLog(message)
    if (a) return fromAccess(a)
  }
  // A line with a logger's header (time, level, thread, component): only the rest is the message.
  const header = parseHeader(message, referenceMs)
  if (header) return fromHeader(header)
  if (message.includes('=')) {
    const fields = parseLogfmt(message)
    if (fields) return fromFields('logfmt', fields)
  }
  return undefined
}
