// The query benchmark's dataset: one day of logs of 40 services, generated inside ClickHouse by
// `INSERT INTO <db>.logs (…) SELECT … FROM numbers(offset, count)`, so no row passes through
// JavaScript (10 M rows built in JS would take minutes). Everything here is deterministic: row n
// draws its choices from cityHash64(n, salt), so the same row count and end time give the same
// rows, and the facts the queries rely on (which service, which rare term) are known up front.
//
// Shape of a row, as the enricher would have stored it:
//   service     Zipf-like over SERVICES (s = 1: the first ~23 %, the 40th ~0.6 %)
//   level       INFO 81.5 %, DEBUG 9 %, WARN 6 %, ERROR 3 %, TRACE 0.5 %, FATAL 0.01 %;
//               SeverityNumber as OpenTelemetry numbers it, IsError = level ≥ ERROR
//   message     a template of the service's format (text, logfmt or JSON) and the row's level,
//               parameters filled; Template is the text with `<*>`, PatternId a hash of it
//   time        row n at start + n·(24 h / rows) + jitter: ascending with n as logs arrive, so
//               each chunk's parts cover a slice of the day, as a day of real inserts would
//   rare term   RARE_TERM, in exactly RARE_ROWS rows spread evenly over the day
//   users       35 % of the rows (and every template naming one) carry one of 100 000 users,
//               its session (per user and 3-hour slot) and its city (`geo.city`, one of CITIES)
//   errors      every ERROR and FATAL row an ErrorCode out of ERROR_CODES
// Category is the product's closed list (CATEGORIES in @sluice/core): the compiler checks each.
import type { Category } from '@sluice/core'

/** Bump when the generated rows change: part of the cache key. */
export const GENERATOR_VERSION = 2
export const TENANT = 'default'
export const RARE_TERM = 'quarantine-zk7q'
export const RARE_ROWS = 20
export const ERROR_CODES = ['E_DB_CONN', 'E_TIMEOUT', 'E_CARD_DECLINED', 'E_AUTH_EXPIRED', 'E_UPSTREAM_5XX', 'E_RATE_LIMITED'] as const
/** The error code whose blast radius the benchmark asks for. */
export const BLAST_ERROR_CODE = ERROR_CODES[2]
export const CITIES = [
  'Paris', 'Berlin', 'Madrid', 'Rome', 'London', 'Amsterdam', 'Vienna', 'Prague', 'Warsaw', 'Lisbon', 'Dublin', 'Brussels', 'Zurich', 'Oslo',
  'Stockholm', 'Copenhagen', 'Helsinki', 'Athens', 'Budapest', 'Milan', 'Munich', 'Lyon', 'Barcelona', 'Hamburg', 'Krakow', 'Porto', 'Seville',
  'Naples', 'Turin', 'Marseille', 'Valencia', 'Frankfurt', 'Cologne', 'Rotterdam', 'Antwerp', 'Geneva', 'Gothenburg', 'Bergen', 'Tallinn', 'Riga',
] as const

type Format = 'text' | 'logfmt' | 'json'
const FORMATS: readonly Format[] = ['text', 'logfmt', 'json']
export const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const
type Level = (typeof LEVELS)[number]
const SEVERITY: Record<Level, number> = { TRACE: 1, DEBUG: 5, INFO: 9, WARN: 13, ERROR: 17, FATAL: 21 }
/** Per million rows. */
const LEVEL_PPM: Record<Level, number> = { TRACE: 5_000, DEBUG: 90_000, INFO: 814_900, WARN: 60_000, ERROR: 30_000, FATAL: 100 }

/** Most popular first; the format decides which templates a service logs. */
export const SERVICES: ReadonlyArray<{ name: string; format: Format; namespace: string }> = (
  [
    ['api-gateway', 'json', 'edge'], ['checkout', 'json', 'shop'], ['auth-service', 'logfmt', 'identity'], ['orders', 'text', 'shop'],
    ['catalog', 'json', 'shop'], ['search', 'logfmt', 'shop'], ['cart', 'json', 'shop'], ['payments', 'text', 'payments'],
    ['inventory', 'logfmt', 'shop'], ['user-profile', 'json', 'identity'], ['notifications', 'text', 'messaging'], ['pricing', 'logfmt', 'shop'],
    ['recommendations', 'json', 'ml'], ['shipping', 'text', 'logistics'], ['billing', 'json', 'payments'], ['email-sender', 'logfmt', 'messaging'],
    ['fraud-detection', 'text', 'payments'], ['ledger', 'text', 'payments'], ['session-store', 'logfmt', 'identity'], ['media-upload', 'json', 'media'],
    ['analytics-ingest', 'json', 'data'], ['invoicing', 'text', 'payments'], ['sms-gateway', 'logfmt', 'messaging'], ['thumbnailer', 'logfmt', 'media'],
    ['geo-service', 'json', 'logistics'], ['feature-flags', 'logfmt', 'platform'], ['config-service', 'text', 'platform'], ['scheduler', 'text', 'platform'],
    ['webhook-dispatcher', 'json', 'messaging'], ['audit-log', 'json', 'security'], ['identity-sync', 'text', 'identity'], ['ldap-bridge', 'text', 'identity'],
    ['search-indexer', 'logfmt', 'data'], ['kafka-connect', 'text', 'data'], ['cache-warmer', 'logfmt', 'platform'], ['reporting', 'json', 'data'],
    ['exporter', 'logfmt', 'data'], ['backup-agent', 'text', 'platform'], ['cron-runner', 'logfmt', 'platform'], ['legacy-erp', 'text', 'erp'],
  ] as const
).map(([name, format, namespace]) => ({ name, format, namespace }))

/** A mid-popularity service (rank 12, ~2 % of the rows) for the service queries. */
export const QUERY_SERVICE = SERVICES[11]!.name
/** A JSON service logging `"status"`, `"path"` and `"duration"` (rank 10). */
export const JSON_SERVICE = SERVICES[9]!.name

// Placeholders: {int:a-b} {pick:a|b|c} {hex:k} {ip} {status} {dur} {ms} {method} {path} {route}
// {user} {session} {trace} {order} {svc} (another service) {rare}. Each becomes <*> in Template.
interface TemplateDef {
  format: Format
  level: Level
  text: string
  category: Category
  /** Relative weight within its (format, level) pool. */
  weight?: number
  /** Its durations are ≥ 1 s (a "slow request" line). */
  slow?: boolean
}

const t = (format: Format, level: Level, category: Category, text: string, opts: Pick<TemplateDef, 'weight' | 'slow'> = {}): TemplateDef => ({ format, level, text, category, ...opts })

export const TEMPLATES: readonly TemplateDef[] = [
  t('text', 'TRACE', 'application', 'Entering {pick:OrderController|CartService|PriceCalculator}.{pick:handle|validate|apply}() with {int:1-12} args'),
  t('text', 'DEBUG', 'application', 'Cache lookup for key {pick:user|cart|price|session}:{int:1-99999} returned {pick:hit|miss}', { weight: 3 }),
  t('text', 'DEBUG', 'database', 'Acquired connection from pool {pick:primary|replica} in {ms}ms (active={int:1-50}, idle={int:0-20})', { weight: 2 }),
  t('text', 'DEBUG', 'network', 'Resolved {svc}.svc.cluster.local to {ip}'),
  t('text', 'INFO', 'auth', 'User {user} logged in from {ip}', { weight: 3 }),
  t('text', 'INFO', 'application', 'Processed batch {int:1-99999} with {int:1-5000} records in {ms} ms', { weight: 4 }),
  t('text', 'INFO', 'application', 'Scheduled job {pick:cleanup|reindex|rollup|export} completed in {ms} ms'),
  t('text', 'INFO', 'payment', 'Order {order} placed by {user}, total {int:5-2000}.{int:10-99} EUR', { weight: 2 }),
  t('text', 'INFO', 'application', 'Sent {pick:welcome|reset|receipt|digest} email to user {user}'),
  t('text', 'INFO', 'dependency', 'Health check passed for {svc}', { weight: 2 }),
  t('text', 'INFO', 'dependency', 'Consumer group {pick:orders|billing|audit} rebalanced, assigned {int:1-12} partitions'),
  t('text', 'WARN', 'database', 'Slow query on table {pick:orders|users|events|invoices} took {ms} ms', { weight: 2, slow: true }),
  t('text', 'WARN', 'dependency', 'Retrying request to {svc} (attempt {int:2-5} of 5)', { weight: 2 }),
  t('text', 'WARN', 'resource', 'Heap usage at {int:80-97}% of {pick:512|1024|2048} MB'),
  t('text', 'ERROR', 'database', 'Failed to connect to database {pick:orders-db|users-db|ledger-db} at {ip}:5432: connection refused', { weight: 2 }),
  t('text', 'ERROR', 'timeout', 'Request to {svc} timed out after {int:5-30}s', { weight: 2 }),
  t('text', 'ERROR', 'payment', 'Payment authorization failed for order {order}: card declined'),
  t('text', 'ERROR', 'application', 'Unhandled exception in {pick:worker|handler|listener}-{int:1-16}: java.lang.NullPointerException at com.acme.{pick:orders|cart|billing}.Service.process'),
  t('text', 'FATAL', 'resource', 'Out of memory: unable to allocate {int:64-512} MB, shutting down'),

  t('logfmt', 'TRACE', 'application', 'msg="span event" span={hex:16} event={pick:enqueue|dequeue|flush}'),
  t('logfmt', 'DEBUG', 'application', 'msg="cache refresh" keys={int:1-5000} took={dur}', { weight: 2 }),
  t('logfmt', 'DEBUG', 'network', 'msg="dns lookup" host={svc}.svc.cluster.local addr={ip}'),
  t('logfmt', 'INFO', 'application', 'method={method} path={path} status={status} duration={dur} bytes={int:120-90000} user={user}', { weight: 6 }),
  t('logfmt', 'INFO', 'application', 'msg="request completed" method={method} route={route} status={status} took={dur}', { weight: 4 }),
  t('logfmt', 'INFO', 'application', 'msg="job finished" job={pick:compaction|sync|rollup} items={int:1-100000} took={dur}'),
  t('logfmt', 'INFO', 'auth', 'msg="session created" user={user} session={session}', { weight: 2 }),
  t('logfmt', 'INFO', 'dependency', 'msg="message published" topic={pick:orders|events|audit} partition={int:0-11} offset={int:1-9999999}', { weight: 2 }),
  t('logfmt', 'INFO', 'application', 'msg="config reloaded" version={int:100-999} source={pick:consul|file|env}'),
  t('logfmt', 'WARN', 'security', 'msg="rate limit approaching" user={user} remaining={int:0-20}'),
  t('logfmt', 'WARN', 'dependency', 'msg="slow upstream" upstream={svc} took={dur}', { weight: 2, slow: true }),
  t('logfmt', 'ERROR', 'database', 'msg="query failed" db={pick:postgres|mysql} err="deadlock detected" table={pick:orders|stock|users}'),
  t('logfmt', 'ERROR', 'network', 'msg="upstream error" upstream={svc} status={status} err="{pick:EOF|connection reset by peer|i/o timeout}"', { weight: 2 }),
  t('logfmt', 'ERROR', 'auth', 'msg="token validation failed" user={user} reason={pick:expired|invalid_signature|revoked}'),
  t('logfmt', 'FATAL', 'resource', 'msg="cannot bind listener" addr=0.0.0.0:{int:8000-9000} err="address already in use"'),

  t('json', 'TRACE', 'database', '{"level":"trace","msg":"db statement","stmt_id":"{hex:8}","rows":{int:0-500}}'),
  t('json', 'DEBUG', 'application', '{"level":"debug","msg":"feature flag evaluated","flag":"{pick:new-checkout|dark-mode|fast-search}","value":{pick:true|false},"user":"{user}"}'),
  t('json', 'DEBUG', 'application', '{"level":"debug","msg":"cache miss","key":"{pick:product|price|stock}:{int:1-99999}"}'),
  t('json', 'INFO', 'application', '{"level":"info","msg":"request completed","method":"{method}","path":"{path}","status":{status},"duration":"{dur}","user":"{user}","trace_id":"{trace}"}', { weight: 8 }),
  t('json', 'INFO', 'application', '{"level":"info","msg":"request completed","method":"{method}","path":"{path}","status":{status},"duration":"{dur}"}', { weight: 4 }),
  t('json', 'INFO', 'payment', '{"level":"info","msg":"order created","order_id":"{order}","user":"{user}","items":{int:1-20},"amount":{int:5-900}.{int:10-99}}'),
  t('json', 'INFO', 'payment', '{"level":"info","msg":"payment captured","order_id":"{order}","provider":"{pick:stripe|adyen|paypal}","duration":"{dur}"}'),
  t('json', 'INFO', 'auth', '{"level":"info","msg":"user signed in","user":"{user}","ip":"{ip}","mfa":{pick:true|false}}'),
  t('json', 'INFO', 'application', '{"level":"info","msg":"stock reserved","sku":"SKU-{int:10000-99999}","qty":{int:1-10}}'),
  t('json', 'WARN', 'timeout', '{"level":"warn","msg":"slow request","method":"{method}","path":"{path}","status":{status},"duration":"{dur}"}', { weight: 3, slow: true }),
  t('json', 'WARN', 'dependency', '{"level":"warn","msg":"retrying","upstream":"{svc}","attempt":{int:2-5},"error":"{pick:timeout|503 Service Unavailable|connection reset}"}', { weight: 2 }),
  t('json', 'WARN', 'application', '{"level":"warn","msg":"deprecated api version","path":"{path}","client":"{pick:ios/5.2|android/4.9|web/2024.11}"}'),
  t('json', 'ERROR', 'application', '{"level":"error","msg":"request failed","method":"{method}","path":"{path}","status":{status},"duration":"{dur}","error":"{pick:upstream timeout|internal error|db unavailable}"}', { weight: 3 }),
  t('json', 'ERROR', 'payment', '{"level":"error","msg":"payment declined","order_id":"{order}","provider":"{pick:stripe|adyen|paypal}","code":"{pick:card_declined|insufficient_funds|expired_card}"}'),
  t('json', 'ERROR', 'database', '{"level":"error","msg":"database error","error":"pq: could not serialize access due to concurrent update","table":"{pick:orders|stock}"}'),
  t('json', 'ERROR', 'security', '{"level":"error","msg":"permission denied","user":"{user}","resource":"{path}"}'),
  t('json', 'FATAL', 'application', '{"level":"fatal","msg":"failed to load config","path":"/etc/{pick:app|svc}/config.yaml","error":"yaml: line {int:2-80}: mapping values are not allowed in this context"}'),
]
/** The rare rows' template: a plain-text WARN line whatever the service's format. */
const RARE_TEMPLATE = t('text', 'WARN', 'security', 'Upload {hex:12} moved to {rare} after signature check by {svc}')
const ALL_TEMPLATES = [...TEMPLATES, RARE_TEMPLATE]

const ROUTES = ['/api/v1/orders/:id', '/api/v1/orders', '/api/v1/cart/:id', '/api/v1/products/:id', '/api/v1/products', '/api/v1/users/:id', '/api/v1/search', '/api/v1/checkout', '/api/v1/payments/:id', '/api/v1/sessions', '/api/v1/inventory/:id', '/api/v1/prices/:id', '/healthz', '/metrics', '/api/v2/recommendations/:id', '/api/v1/shipments/:id']
const METHODS = ['GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'POST', 'POST', 'POST', 'POST', 'PUT', 'DELETE']
const OK_STATUSES = [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 201, 204, 304, 404, 400, 401]
const WARN_STATUSES = [200, 200, 429, 404, 408]
const ERROR_STATUSES = [500, 500, 500, 502, 503, 504]

const str = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
const arr = (items: readonly (string | number)[]) => `[${items.map((i) => (typeof i === 'number' ? String(i) : str(i))).join(', ')}]`
const hex16 = (x: string) => `leftPad(lower(hex(${x})), 16, '0')`
/** Per-placeholder randomness: salt ≥ 100 keeps it apart from the row-level draws below. */
const rnd = (salt: number) => `cityHash64(n, ${salt})`

/** Cumulative weights scaled to 0..1e6, for arrayFirstIndex(c -> c > u, cum) with u in [0, 1e6). */
function cumulative(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0)
  let acc = 0
  return weights.map((w, i) => (i === weights.length - 1 ? 1_000_000 : Math.round(((acc += w) / total) * 1_000_000)))
}

const PLACEHOLDER = /\{(\w+)(?::([^}]*))?\}/g

/** The template with `<*>` where the parameters go, as Template stores it. */
export const templateText = (text: string) => text.replace(PLACEHOLDER, '<*>')

function placeholderSql(kind: string, arg: string | undefined, salt: number): string {
  const h = rnd(salt)
  switch (kind) {
    case 'int': {
      const [lo, hi] = (arg ?? '').split('-').map(Number) as [number, number]
      return `toString(${lo} + ${h} % ${hi - lo + 1})`
    }
    case 'pick': {
      const options = (arg ?? '').split('|')
      return `${arr(options)}[1 + ${h} % ${options.length}]`
    }
    case 'hex':
      return `substring(${hex16(h)}, 1, ${Number(arg)})`
    case 'ip':
      return `IPv4NumToString(toUInt32(167772160 + ${h} % 16777216))`
    case 'order':
      return `concat('ord-', substring(${hex16(h)}, 1, 10))`
    case 'svc':
      return `${arr(SERVICES.map((s) => s.name))}[1 + ${h} % ${SERVICES.length}]`
    case 'ms':
      return 'toString(dur_ms)'
    case 'dur':
      return 'dur_text'
    case 'status':
      return 'toString(status)'
    case 'method':
      return 'method'
    case 'path':
      return 'path'
    case 'route':
      return 'route'
    case 'user':
      return 'user_id'
    case 'session':
      return 'session_id'
    case 'trace':
      return 'trace_id'
    case 'rare':
      return str(RARE_TERM)
    default:
      throw new Error(`unknown placeholder {${kind}}`)
  }
}

/** concat(…) building the message of one template. */
function bodySql(text: string): string {
  const parts: string[] = []
  let last = 0
  let salt = 100
  for (const m of text.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push(str(text.slice(last, m.index)))
    parts.push(placeholderSql(m[1]!, m[2], salt++))
    last = m.index + m[0].length
  }
  if (last < text.length) parts.push(str(text.slice(last)))
  return parts.length === 1 ? parts[0]! : `concat(${parts.join(', ')})`
}

const has = (kinds: readonly string[]) => ALL_TEMPLATES.map((d) => (kinds.some((k) => d.text.includes(`{${k}`)) ? 1 : 0))

/** Columns the generator fills; the rest take their defaults (TimestampTime, Redacted, …). */
export const INSERT_COLUMNS = [
  'id', 'tenant', 'Timestamp', 'ObservedTimestamp', 'ServiceName', 'HostName', 'SeverityText', 'SeverityNumber', 'Body', 'TraceId', 'SpanId',
  'LogAttributes', 'ResourceAttributes', 'Source', 'Category', 'IsError', 'PatternId', 'Template', 'Classifier', 'HttpStatus', 'DurationMs',
  'UserId', 'SessionId', 'ErrorCode', 'ParsedFormat',
] as const

/** ~200 pod names, more for the busier services. */
function hostsOf(rank: number, name: string): string[] {
  const pods = Math.max(2, Math.round(16 / Math.sqrt(rank + 1)))
  let seed = rank * 7919 + 17
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648).toString(36).padStart(6, '0').slice(-5)
  const replicaSet = `${next()}${next()}`.slice(0, 9)
  return Array.from({ length: pods }, () => `${name}-${replicaSet}-${next()}`)
}

export interface GenerateOptions {
  database: string
  /** Rows of the whole dataset: times and the rare rows are laid out over this many. */
  rows: number
  /** This statement's slice: rows [offset, offset + count). */
  offset: number
  count: number
  /** End of the day covered, epoch nanoseconds. */
  endNs: bigint
}

/** One INSERT … SELECT filling rows [offset, offset + count) of the dataset. */
export function generateSql(o: GenerateOptions): string {
  const dayNs = 86_400_000_000_000n
  const startNs = o.endNs - dayNs
  const stepNs = dayNs / BigInt(o.rows)
  const rareStep = Math.floor(o.rows / RARE_ROWS)
  const svcCum = cumulative(SERVICES.map((_, i) => 1 / (i + 1)))
  const levelCum = cumulative(LEVELS.map((l) => LEVEL_PPM[l]))
  // Templates by (format, level): pool p = format·6 + level, 1-based in SQL.
  const pools = FORMATS.flatMap((f) => LEVELS.map((l) => TEMPLATES.flatMap((d, i) => (d.format === f && d.level === l ? [i + 1] : []))))
  const empty = pools.findIndex((p) => p.length === 0)
  if (empty >= 0) throw new Error(`no template for ${FORMATS[Math.floor(empty / 6)]} ${LEVELS[empty % 6]}`)
  const poolCum = pools.map((p) => cumulative(p.map((i) => TEMPLATES[i - 1]!.weight ?? 1)))
  const rareT = ALL_TEMPLATES.length
  const hosts = SERVICES.map((s, i) => hostsOf(i, s.name))
  const branches = ALL_TEMPLATES.flatMap((d, i) => [`tpl = ${i + 1}`, bodySql(d.text)])
  // Row-level draws use salts 1..20; placeholders use 100 and up.
  // optimize_on_insert = 0: the rows hold no duplicates to collapse, and ReplacingMergeTree's
  // merge pass over each inserted block would double the generation time.
  return `INSERT INTO ${o.database}.logs (${INSERT_COLUMNS.join(', ')}) SETTINGS optimize_on_insert = 0
SELECT ${INSERT_COLUMNS.map((c) => `c_${c}`).join(', ')}
FROM (
  SELECT
    number AS n,
    ${startNs} + n * ${stepNs} + cityHash64(n, 1) % ${stepNs} AS ts_ns,
    fromUnixTimestamp64Nano(toInt64(ts_ns)) AS c_Timestamp,
    fromUnixTimestamp64Nano(toInt64(ts_ns + 5000000 + cityHash64(n, 2) % 500000000)) AS c_ObservedTimestamp,
    arrayFirstIndex(c -> c > cityHash64(n, 3) % 1000000, ${arr(svcCum)}) AS svc,
    n % ${rareStep} = ${Math.floor(rareStep / 2)} AS rare,
    if(rare, 4, arrayFirstIndex(c -> c > cityHash64(n, 4) % 1000000, ${arr(levelCum)})) AS lvl,
    ${arr(SERVICES.map((s) => FORMATS.indexOf(s.format)))}[svc] AS fmt,
    fmt * 6 + lvl AS pool,
    if(rare, ${rareT}, ${JSON.stringify(pools)}[pool][arrayFirstIndex(c -> c > cityHash64(n, 5) % 1000000, ${JSON.stringify(poolCum)}[pool])]) AS tpl,
    ${arr(METHODS)}[1 + cityHash64(n, 6) % ${METHODS.length}] AS method,
    ${arr(ROUTES)}[1 + toUInt32(floor(pow((cityHash64(n, 7) % 1000000) / 1e6, 2) * ${ROUTES.length}))] AS route,
    replaceOne(route, ':id', toString(cityHash64(n, 8) % 100000)) AS path,
    multiIf(lvl >= 5, ${arr(ERROR_STATUSES)}[1 + cityHash64(n, 9) % ${ERROR_STATUSES.length}],
            lvl = 4, ${arr(WARN_STATUSES)}[1 + cityHash64(n, 9) % ${WARN_STATUSES.length}],
            ${arr(OK_STATUSES)}[1 + cityHash64(n, 9) % ${OK_STATUSES.length}]) AS status,
    (cityHash64(n, 10) % 1000000) / 1e6 AS u_dur,
    toUInt32(if(${arr(ALL_TEMPLATES.map((d) => (d.slow ? 1 : 0)))}[tpl] = 1 OR cityHash64(n, 11) % 100 < 8,
                1000 + floor(pow(u_dur, 2) * 9000), 1 + floor(pow(u_dur, 3) * 998))) AS dur_ms,
    if(dur_ms >= 1000, concat(toString(dur_ms / 1000), 's'), concat(toString(dur_ms), 'ms')) AS dur_text,
    ${arr(has(['user', 'session']))}[tpl] = 1 OR cityHash64(n, 12) % 100 < 35 AS has_user,
    cityHash64(n, 13) % 100000 AS user_n,
    if(has_user, concat('u-', toString(100000 + user_n)), '') AS user_id,
    if(has_user, concat('s-', substring(${hex16(`cityHash64(user_n, intDiv(ts_ns, 10800000000000))`)}, 1, 12)), '') AS session_id,
    ${arr(has(['trace']))}[tpl] = 1 OR (fmt > 0 AND cityHash64(n, 14) % 100 < 60) AS has_trace,
    if(has_trace, concat(${hex16('cityHash64(intDiv(n, 5), 15)')}, ${hex16('cityHash64(intDiv(n, 5), 16)')}), '') AS trace_id,
    ${arr(ALL_TEMPLATES.map((d) => templateText(d.text)))}[tpl] AS template,
    ${arr(SERVICES.map((s) => s.name))}[svc] AS c_ServiceName,
    leftPad(lower(hex(toUInt64(intDiv(ts_ns, 1000000)))), 12, '0') AS ms_hex,
    ${hex16('cityHash64(n, 18)')} AS r1,
    ${hex16('cityHash64(n, 19)')} AS r2,
    concat(substring(ms_hex, 1, 8), '-', substring(ms_hex, 9, 4), '-7', substring(r1, 1, 3), '-', ['8', '9', 'a', 'b'][1 + cityHash64(n, 20) % 4],
           substring(r1, 4, 3), '-', substring(r2, 1, 12)) AS c_id,
    ${str(TENANT)} AS c_tenant,
    ${JSON.stringify(hosts).replace(/"/g, "'")}[svc][1 + cityHash64(n, 21) % ${JSON.stringify(hosts.map((h) => h.length))}[svc]] AS c_HostName,
    ${arr(LEVELS)}[lvl] AS c_SeverityText,
    toUInt8(${arr(LEVELS.map((l) => SEVERITY[l]))}[lvl]) AS c_SeverityNumber,
    multiIf(${branches.join(',\n      ')},\n      '') AS c_Body,
    trace_id AS c_TraceId,
    if(has_trace, ${hex16('cityHash64(n, 22)')}, '') AS c_SpanId,
    mapFilter((k, v) -> v != '', map('http.method', if(${arr(has(['method']))}[tpl] = 1, method, ''),
                                    'http.route', if(${arr(has(['path', 'route']))}[tpl] = 1, route, ''),
                                    'user.id', user_id,
                                    'geo.city', if(has_user, ${arr(CITIES)}[1 + user_n % ${CITIES.length}], ''))) AS c_LogAttributes,
    map('service.name', c_ServiceName, 'deployment.environment', 'production',
        'k8s.namespace.name', ${arr(SERVICES.map((s) => s.namespace))}[svc]) AS c_ResourceAttributes,
    ['syslog', 'otlp', 'http'][fmt + 1] AS c_Source,
    ${arr(ALL_TEMPLATES.map((d) => d.category))}[tpl] AS c_Category,
    lvl >= 5 AS c_IsError,
    ${hex16('sipHash64(template)')} AS c_PatternId,
    template AS c_Template,
    'rules' AS c_Classifier,
    if(${arr(has(['status']))}[tpl] = 1, toNullable(toUInt16(status)), NULL) AS c_HttpStatus,
    if(${arr(has(['dur', 'ms']))}[tpl] = 1, toNullable(toFloat64(dur_ms)), NULL) AS c_DurationMs,
    user_id AS c_UserId,
    session_id AS c_SessionId,
    if(lvl >= 5, ${arr(ERROR_CODES)}[1 + cityHash64(n, 23) % ${ERROR_CODES.length}], '') AS c_ErrorCode,
    ['', 'logfmt', 'json'][fmt + 1] AS c_ParsedFormat
  FROM numbers(${o.offset}, ${o.count})
)`
}
