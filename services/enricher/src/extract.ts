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

type Field = 'status' | 'duration' | 'user' | 'session' | 'errorCode' | 'trace' | 'span'

/** Each known key → the fields it may fill, with its rank among that field's names (0 = preferred). */
const KEY_INDEX = new Map<string, { field: Field; rank: number; factor: number | null }[]>()
const index = (field: Field, keys: readonly string[], factors: readonly (number | null)[] = []) =>
  keys.forEach((key, rank) => {
    const list = KEY_INDEX.get(key) ?? []
    list.push({ field, rank, factor: factors[rank] ?? null })
    KEY_INDEX.set(key, list)
  })
index('status', STATUS_KEYS)
index('duration', DURATION_KEYS.map(([k]) => k), DURATION_KEYS.map(([, f]) => f))
index('user', USER_KEYS)
index('session', SESSION_KEYS)
index('errorCode', ERROR_CODE_KEYS)
index('trace', TRACE_KEYS)
index('span', SPAN_KEYS)

const present = (v: string) => v !== '' && v !== '-'

function errorCode(named: string | undefined, code: string | undefined, isErrorLevel: boolean): string | null {
  if (named !== undefined) return named
  if (code === undefined || code === '') return null
  if (/^[123]\d\d$/.test(code)) return null
  return isErrorLevel || ERRORISH_CODE.test(code) ? code : null
}

/**
 * Extracts the common fields from `fields`. `isErrorLevel` (WARN or worse) lets a bare `code`
 * count as an error code even when its value does not look like one.
 *
 * One pass over the record's keys (a handful) rather than a lookup per known name (sixty): each
 * field keeps the usable value under its most preferred name. Usable: a 1xx–5xx number for the
 * status (`status` is often a word while `status_code` holds the number), a parseable duration,
 * anything present (not empty, not "-") for the rest.
 */
export function extractFields(fields: Fields, isErrorLevel = false): ExtractedFields {
  let status: number | null = null
  let duration: number | null = null
  let user: string | undefined
  let session: string | undefined
  let named: string | undefined
  let trace: string | undefined
  let span: string | undefined
  const rank = { status: 99, duration: 99, user: 99, session: 99, errorCode: 99, trace: 99, span: 99 }
  for (const key in fields) {
    const uses = KEY_INDEX.get(key)
    if (uses === undefined) continue
    const v = fields[key]!
    for (const u of uses) {
      if (u.rank >= rank[u.field]) continue
      switch (u.field) {
        case 'status':
          if (!STATUS.test(v)) continue
          status = Number(v)
          break
        case 'duration': {
          const ms = present(v) ? parseDurationMs(v, u.factor) : null
          if (ms === null) continue
          duration = ms
          break
        }
        default:
          if (!present(v)) continue
          if (u.field === 'user') user = v
          else if (u.field === 'session') session = v
          else if (u.field === 'errorCode') named = v
          else if (u.field === 'trace') trace = v
          else span = v
      }
      rank[u.field] = u.rank
    }
  }
  const parent = fields.traceparent === undefined ? null : TRACEPARENT.exec(fields.traceparent)
  return {
    http_status: status,
    duration_ms: duration,
    user_id: user ?? null,
    session_id: session ?? null,
    error_code: errorCode(named, fields.code, isErrorLevel),
    trace_id: trace !== undefined && HEX32.test(trace) ? trace.toLowerCase() : (parent?.[1]?.toLowerCase() ?? null),
    span_id: span !== undefined && HEX16.test(span) ? span.toLowerCase() : (parent?.[2]?.toLowerCase() ?? null),
  }
}
