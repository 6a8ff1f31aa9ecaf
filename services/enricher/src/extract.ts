// Pulls the fields every consumer filters on out of a record's attributes (including what the
// body parsers found), whatever the logger called them: http_status, duration_ms, user_id,
// session_id, error_code, trace_id / span_id. The first name present wins, in the order below
// (specific names before generic ones). Durations end up in milliseconds.

export interface ExtractedFields {
  http_status: number | null
  duration_ms: number | null
  user_id: string | null
  session_id: string | null
  error_code: string | null
  trace_id: string | null
  span_id: string | null
}

type Fields = Readonly<Record<string, string>>

const STATUS_KEYS = ['http_status', 'http.status_code', 'http.response.status_code', 'status_code', 'statusCode', 'http.status', 'response.status', 'response_status', 'status']
const USER_KEYS = ['user_id', 'userId', 'user.id', 'enduser.id', 'usr.id', 'uid', 'user', 'username', 'user_name', 'remote_user']
const SESSION_KEYS = ['session_id', 'sessionId', 'session.id', 'sid', 'session']
const ERROR_CODE_KEYS = ['error_code', 'errorCode', 'err_code', 'error.code', 'errno']
const TRACE_KEYS = ['trace_id', 'traceId', 'trace.id', 'traceid', 'otel.trace_id']
const SPAN_KEYS = ['span_id', 'spanId', 'span.id', 'spanid', 'otel.span_id']

// Duration keys and the factor to milliseconds. `null` means "unit unknown": a unit suffix in the
// value decides, and a bare number is taken as milliseconds (what most loggers write).
const DURATION_KEYS: readonly (readonly [string, number | null])[] = [
  ['duration_ms', 1], ['durationMs', 1], ['latency_ms', 1], ['latencyMs', 1], ['elapsed_ms', 1], ['response_time_ms', 1], ['took_ms', 1], ['time_ms', 1],
  ['duration_s', 1000], ['duration_seconds', 1000], ['request_time', 1000], ['upstream_response_time', 1000], ['http.server.duration', 1],
  ['duration_us', 0.001], ['duration_ns', 0.000001], ['duration', null], ['latency', null], ['elapsed', null], ['took', null], ['response_time', null],
]

const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
// One or more number+unit parts: "15ms", "1.5s", Go's "1m2.5s".
const DURATION_TEXT = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/
const DURATION_PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g
const PLAIN_NUMBER = /^-?\d+(?:\.\d+)?$/
const STATUS = /^[1-5]\d\d$/
const HEX32 = /^[0-9a-fA-F]{32}$/
const HEX16 = /^[0-9a-fA-F]{16}$/
// W3C trace context: version-traceid-parentid-flags.
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/i
// A `code` is an error code only when it looks like one, not a 2xx status or a country code.
const ERRORISH_CODE = /^(?:E[A-Z0-9_]{2,}|[A-Z][A-Z0-9]*_[A-Z0-9_]+|[a-z]+_[a-z_]+|[A-Z]+-?\d{3,}|[45]\d\d)$/

function first(fields: Fields, keys: readonly string[]): string | undefined {
  for (const k of keys) {
    const v = fields[k]
    if (v !== undefined && v !== '' && v !== '-') return v
  }
  return undefined
}

/** Milliseconds of a duration value; `factor` converts a bare number. */
export function parseDurationMs(value: string, factor: number | null): number | null {
  const v = value.trim()
  if (PLAIN_NUMBER.test(v)) {
    const ms = Number(v) * (factor ?? 1)
    return ms >= 0 ? round3(ms) : null
  }
  if (!DURATION_TEXT.test(v)) return null
  let ms = 0
  for (const m of v.matchAll(DURATION_PART)) ms += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0)
  return round3(ms)
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000

// Loops rather than first(): `status` is often a word ("ok") while `status_code` holds the number.
function httpStatus(fields: Fields): number | null {
  for (const k of STATUS_KEYS) {
    const v = fields[k]
    if (v === undefined || !STATUS.test(v)) continue
    return Number(v)
  }
  return null
}

function durationMs(fields: Fields): number | null {
  for (const [key, factor] of DURATION_KEYS) {
    const v = fields[key]
    if (v === undefined || v === '' || v === '-') continue
    const ms = parseDurationMs(v, factor)
    if (ms !== null) return ms
  }
  return null
}

function errorCode(fields: Fields, isErrorLevel: boolean): string | null {
  const named = first(fields, ERROR_CODE_KEYS)
  if (named !== undefined) return named
  const code = fields.code
  if (code === undefined || code === '') return null
  if (/^[123]\d\d$/.test(code)) return null
  return isErrorLevel || ERRORISH_CODE.test(code) ? code : null
}

function traceIds(fields: Fields): { trace_id: string | null; span_id: string | null } {
  const trace = first(fields, TRACE_KEYS)
  const span = first(fields, SPAN_KEYS)
  const parent = fields.traceparent === undefined ? null : TRACEPARENT.exec(fields.traceparent)
  return {
    trace_id: trace !== undefined && HEX32.test(trace) ? trace.toLowerCase() : (parent?.[1]?.toLowerCase() ?? null),
    span_id: span !== undefined && HEX16.test(span) ? span.toLowerCase() : (parent?.[2]?.toLowerCase() ?? null),
  }
}

/**
 * Extracts the common fields from `fields`. `isErrorLevel` (WARN or worse) lets a bare `code`
 * count as an error code even when its value does not look like one.
 */
export function extractFields(fields: Fields, isErrorLevel = false): ExtractedFields {
  return {
    http_status: httpStatus(fields),
    duration_ms: durationMs(fields),
    user_id: first(fields, USER_KEYS) ?? null,
    session_id: first(fields, SESSION_KEYS) ?? null,
    error_code: errorCode(fields, isErrorLevel),
    ...traceIds(fields),
  }
}
