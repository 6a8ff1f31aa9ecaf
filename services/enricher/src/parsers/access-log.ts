// Apache / nginx access-log lines: Common Log Format, Combined, and nginx's combined with timing
// appended (`$request_time` as a bare decimal, or `rt=` / `request_time=` pairs).
//
//   127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326
//   … 200 2326 "http://example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"      (combined)
//   … 200 612 "-" "curl/8.5.0" 0.012                                                    (nginx + $request_time)
//   … 200 612 "-" "curl/8.5.0" rt=0.012 uct="0.000" uht="0.011" urt="0.011"             (nginx timing pairs)
//
// A trailing integer is left alone: it may be Apache's %D (µs) or %T (s), and guessing wrong
// would be worse than no duration.

export interface AccessLogEntry {
  clientIp: string
  ident: string | null
  user: string | null
  time: string
  timestampNs: bigint | undefined
  method: string | null
  path: string | null
  protocol: string | null
  status: number
  bytes: number | null
  referer: string | null
  userAgent: string | null
  /** $request_time in seconds, when the line carries it. */
  requestTimeS: number | null
  durationMs: number | null
}

const QUOTED = '"((?:[^"\\\\]|\\\\.)*)"'
const LINE = new RegExp(`^(\\S+) (\\S+) (\\S+) \\[([^\\]]+)\\] ${QUOTED} (\\d{3}) (\\d+|-)(?: ${QUOTED} ${QUOTED})?(.*)$`)
const REQUEST = /^([A-Z][A-Z_-]*) (\S+)(?: (HTTP\/[\d.]+|h2c?|HTTP\/\d))?$/
const CLF_TIME = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))? ([+-])(\d{2})(\d{2})$/
const TIMING_PAIR = /(?:^|\s)(?:rt|request_time)="?(\d+(?:\.\d+)?)"?(?=\s|$)/
const QUOTED_G = new RegExp(QUOTED, 'g')
const NUMBER = /^\d+(?:\.\d+)?$/
const DECIMAL_TOKEN = /(?:^|\s)(\d+\.\d+)(?=\s|$)/
const MONTHS: Readonly<Record<string, number>> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 }

const dash = (s: string | undefined): string | null => (s === undefined || s === '-' || s === '' ? null : s)

/** Epoch ns of a CLF timestamp such as `10/Oct/2000:13:55:36 -0700`. */
export function parseClfTime(s: string): bigint | undefined {
  const m = CLF_TIME.exec(s)
  if (!m) return undefined
  const [, dd, mon, yyyy, hh, mi, ss, frac = '', sign, oh, om] = m
  const month = MONTHS[mon ?? '']
  if (month === undefined) return undefined
  const offsetMin = (Number(oh) * 60 + Number(om)) * (sign === '-' ? -1 : 1)
  const ms = Date.UTC(Number(yyyy), month, Number(dd), Number(hh), Number(mi), Number(ss)) - offsetMin * 60_000
  return BigInt(ms) * 1_000_000n + BigInt(frac.padEnd(9, '0'))
}

/** Longest trailer read for a request time: timings sit in the first few fields, and an unclosed quote in a long one made the scan quadratic. */
const MAX_TRAILER_CHARS = 1024

function requestTimeOf(trailer: string): number | null {
  if (trailer === '' || trailer.length > MAX_TRAILER_CHARS) return null
  // Quoted extras ($http_x_forwarded_for …) may hold anything: only quoted numbers survive.
  const bare = trailer.replace(QUOTED_G, (_q, inner: string) => (NUMBER.test(inner) ? inner : '-'))
  const m = TIMING_PAIR.exec(bare) ?? DECIMAL_TOKEN.exec(bare)
  return m?.[1] === undefined ? null : Number(m[1])
}

/** The fields of an access-log line, or undefined when `line` is not one. */
export function parseAccessLog(line: string): AccessLogEntry | undefined {
  const m = LINE.exec(line)
  if (!m) return undefined
  const [, clientIp = '', ident, user, time = '', request = '', status, bytes, referer, userAgent, trailer = ''] = m
  const req = REQUEST.exec(request)
  const requestTimeS = requestTimeOf(trailer.trim())
  return {
    clientIp,
    ident: dash(ident),
    user: dash(user),
    time,
    timestampNs: parseClfTime(time),
    method: req?.[1] ?? null,
    path: req?.[2] ?? null,
    protocol: req?.[3] ?? null,
    status: Number(status),
    bytes: bytes === '-' ? null : Number(bytes),
    referer: dash(referer),
    userAgent: dash(userAgent),
    requestTimeS,
    durationMs: requestTimeS === null ? null : Math.round(requestTimeS * 1e6) / 1e3,
  }
}

// Path segments that are identifiers rather than routes: numbers, UUIDs, long hex, and long
// tokens mixing letters and digits (slugs with ids, base64).
const ID_SEGMENT = /^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{8,}|(?=.*\d)[\w.~%+=-]{16,}|[^@/]+@[^@/]+)$/
const MAX_SEGMENTS = 12

/**
 * The route shape of a request, e.g. `GET /api/users/<*>/orders` — the template of an access
 * line. Drain is not used here: with two-token "METHOD path" messages its similarity test
 * would merge every route into `GET <*>`. The query string is dropped; deep paths are cut.
 */
export function routeTemplate(method: string | null, path: string | null): string {
  if (path === null) return `${method ?? '-'} -`
  const q = path.search(/[?#;]/)
  const segments = (q < 0 ? path : path.slice(0, q)).split('/')
  const shaped = segments.slice(0, MAX_SEGMENTS + 1).map((s) => (ID_SEGMENT.test(s) ? '<*>' : s))
  if (segments.length > MAX_SEGMENTS + 1) shaped.push('<*>')
  return `${method ?? '-'} ${shaped.join('/') || '/'}`
}
