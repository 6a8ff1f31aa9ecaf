// A local HTTPS server speaking Microsoft Entra ID's token endpoint and the Log Analytics query
// API, for tests that run the real @azure/identity ClientSecretCredential and the real
// @azure/monitor-query-logs LogsQueryClient against it (`fake.settings()` is a ready connection).
// It keeps one table of rows and evaluates the small KQL subset the azure-monitor provider emits
// (below); anything else is answered with Log Analytics' own syntax error. It records every call,
// throttles or fails the next calls when told, and closes — restoring the environment variables it
// cleared — when the test finishes.
//
// HTTPS because both SDKs refuse anything else (IdentityClient requires an https authority, the
// bearer-token policy an https endpoint); the certificate, for 127.0.0.1 and localhost, is signed
// by a test CA the settings carry as caCertificatePem. Valid 2026-12-01 to 2126-11-07.
import { createHash, randomUUID } from 'node:crypto'
import { createServer } from 'node:https'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { listenLocal } from '../infra/local-server.js'

export const FAKE_CA_PEM = `-----BEGIN CERTIFICATE-----
MIIByDCCAW2gAwIBAgIUOV2wnFMnGQL1ZxF5kW/jThFqRQMwCgYIKoZIzj0EAwIw
MDEuMCwGA1UEAwwlU2x1aWNlIHRlc3QgQ0EgKGZha2UgQXp1cmUgZW5kcG9pbnRz
KTAgFw0yNjEyMDEwOTA0NDBaGA8yMTI2MTEwNzA5MDQ0MFowMDEuMCwGA1UEAwwl
U2x1aWNlIHRlc3QgQ0EgKGZha2UgQXp1cmUgZW5kcG9pbnRzKTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABOUtDC/fmr/Yo2SUEyPhZutpm3yZT8NDOdLZpMLCuACM
jDZWO1+78hUpT/2Wn82SRE1O9yirD8NgIogT4aYQEyujYzBhMB0GA1UdDgQWBBTb
7V4hAX52H4hJZQinPI/DGcf1EjAfBgNVHSMEGDAWgBTb7V4hAX52H4hJZQinPI/D
Gcf1EjAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAKBggqhkjOPQQD
AgNJADBGAiEA0xvrnF4ALLm8XXiboI2bKmFhgs4yQu8PIuYqbSilUSICIQCnpu9k
pSPMdeK2Un0nyS2Zps6i7c4vZ5803oEyyk59ow==
-----END CERTIFICATE-----
`

const SERVER_CERT_PEM = `-----BEGIN CERTIFICATE-----
MIIB3DCCAYGgAwIBAgIUTot7xy9Wm2zzupbjfiUz3fhibDQwCgYIKoZIzj0EAwIw
MDEuMCwGA1UEAwwlU2x1aWNlIHRlc3QgQ0EgKGZha2UgQXp1cmUgZW5kcG9pbnRz
KTAgFw0yNjEyMDEwOTA0NDBaGA8yMTI2MTEwNzA5MDQ0MFowFDESMBAGA1UEAwwJ
bG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEldZ0oxClmQ+P6rVJ
OOSURKjM0O6DQmgFz4MQi8pPXWse7v4Mfcz6w877GsCsutHYtASSnfF4RL7ffipc
bAkl+aOBkjCBjzAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQEAwIHgDATBgNVHSUE
DDAKBggrBgEFBQcDATAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwHQYDVR0O
BBYEFHCK79ZRvA2h2obkc8g9ahTaO8VrMB8GA1UdIwQYMBaAFNvtXiEBfnYfiEll
CKc8j8MZx/USMAoGCCqGSM49BAMCA0kAMEYCIQCWDvkvc8OT+SawwUh5vD7cWJ4r
OxhvLVeBkwiv9Y6t0QIhAM8qOJWvTKZhqSS+vfJytOuK2rvOM2xP9Sns0lE+xdq2
-----END CERTIFICATE-----
`

// A throwaway key for the fake's certificate only; it protects nothing.
const SERVER_KEY_PEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgnwPfGPI5mgLxkh0L
BIVrQNjaBbWSR9DsZnhhhJaaAYuhRANCAASV1nSjEKWZD4/qtUk45JREqMzQ7oNC
aAXPgxCLyk9dax7u/gx9zPrDzvsawKy60di0BJKd8XhEvt9+KlxsCSX5
-----END PRIVATE KEY-----
`

/** The token audience Log Analytics accepts. */
export const LOG_ANALYTICS_SCOPE = 'https://api.loganalytics.io/.default'

export type FakeColumnType = 'string' | 'datetime' | 'int' | 'long' | 'real' | 'bool' | 'dynamic' | 'guid'

export interface FakeColumn {
  name: string
  type: FakeColumnType
  /** Log Analytics' hidden standard columns (_ItemId, _ResourceId): only in results when named. */
  hidden?: boolean
}

/** The columns of the AppTraces table (Application Insights traces in a workspace), most of them. */
export const APP_TRACES_COLUMNS: readonly FakeColumn[] = [
  { name: 'TenantId', type: 'string' },
  { name: 'TimeGenerated', type: 'datetime' },
  { name: 'Message', type: 'string' },
  { name: 'SeverityLevel', type: 'int' },
  { name: 'Properties', type: 'dynamic' },
  { name: 'Measurements', type: 'dynamic' },
  { name: 'OperationName', type: 'string' },
  { name: 'OperationId', type: 'string' },
  { name: 'ParentId', type: 'string' },
  { name: 'SyntheticSource', type: 'string' },
  { name: 'SessionId', type: 'string' },
  { name: 'AppVersion', type: 'string' },
  { name: 'AppRoleName', type: 'string' },
  { name: 'AppRoleInstance', type: 'string' },
  { name: 'ClientType', type: 'string' },
  { name: 'ClientIP', type: 'string' },
  { name: 'SDKVersion', type: 'string' },
  { name: 'ItemCount', type: 'int' },
  { name: 'SourceSystem', type: 'string' },
  { name: 'Type', type: 'string' },
  { name: '_ResourceId', type: 'string', hidden: true },
  { name: '_ItemId', type: 'string', hidden: true },
]

/** A row: column → value; datetimes as RFC 3339 strings (up to 7 fraction digits), Dates or epoch-ns bigints. */
export type FakeRow = Record<string, unknown>

export interface FakeCall {
  kind: 'discovery' | 'token' | 'query'
  method: string
  path: string
  headers: IncomingHttpHeaders
  /** Token requests: the form, client_secret replaced by whether it matched. Queries: the JSON body. */
  body: unknown
  /** The status answered. */
  status: number
}

export interface FakeAzureMonitorOptions {
  workspaceId?: string
  tenantId?: string
  clientId?: string
  clientSecret?: string
  /** Default AppTraces. */
  table?: string
  /** Default APP_TRACES_COLUMNS. */
  columns?: readonly FakeColumn[]
  rows?: FakeRow[]
  /** expires_in of issued tokens; default 3599. */
  tokenExpiresInS?: number
}

/** The connection settings of the azure-monitor provider, pointing at this fake. */
export interface FakeAzureMonitorSettings {
  workspaceId: string
  query: string
  tenantId: string
  clientId: string
  clientSecret: string
  timeColumn?: string
  serviceColumn?: string
  messageColumn?: string
  authorityHost: string
  endpoint: string
  caCertificatePem: string
}

export interface FakeAzureMonitor {
  /** Microsoft Entra authority host (discovery and token endpoints under /{tenant}/). */
  authorityHost: string
  /** The Log Analytics API base (…/v1). */
  endpoint: string
  workspaceId: string
  tenantId: string
  clientId: string
  clientSecret: string
  settings(overrides?: Partial<FakeAzureMonitorSettings>): FakeAzureMonitorSettings
  /** Rows become visible to the next query (late data included). */
  add(...rows: FakeRow[]): void
  /** Every request, in arrival order. */
  calls: FakeCall[]
  /** Requests answered, of one kind or all. */
  served(kind?: FakeCall['kind']): number
  /** The access tokens issued, in order. */
  tokens: string[]
  /** Tokens issued so far stop being accepted (403 InvalidTokenError, as for a revoked app). */
  revokeTokens(): void
  /** The next `n` queries answer 429 (with Retry-After when given). */
  throttleNext(n: number, retryAfterS?: number): void
  /** The next `n` queries (or token requests) answer `status` with the service's error body. */
  failNext(n: number, status: number, target?: 'query' | 'token'): void
  /** The next `n` queries fail part-way: 200 with their first row and a PartialError. */
  partialNext(n: number): void
  /** The next `n` queries are answered after `ms` (to catch aborts and timeouts in flight). */
  delayNext(n: number, ms: number): void
  close(): Promise<void>
}

// ---------------------------------------------------------------------------------------------
// Error bodies, as the services write them

/* Microsoft Entra ID: 4xx {error, error_description, error_codes, timestamp, trace_id, correlation_id}. */
function aadError(error: string, code: number, description: string) {
  const now = new Date().toISOString().replace('T', ' ').slice(0, 19) + 'Z'
  const id = randomUUID()
  return {
    error,
    error_description: `AADSTS${code}: ${description} Trace ID: ${id} Correlation ID: ${id} Timestamp: ${now}`,
    error_codes: [code],
    timestamp: now,
    trace_id: id,
    correlation_id: id,
  }
}

/* Log Analytics: {error: {message, code, correlationId, innererror?: {code, message, innererror?}}}. */
function laError(code: string, message: string, innererror?: { code: string; message: string; innererror?: { code: string; message: string } }) {
  return { error: { message, code, correlationId: randomUUID(), ...(innererror ? { innererror } : {}) } }
}

function laErrorOf(status: number) {
  if (status === 400) return laError('BadArgumentError', 'The request had some invalid properties')
  if (status === 401) return laError('AuthorizationRequiredError', 'Valid authentication was not provided')
  if (status === 403) return laError('InsufficientAccessError', 'The provided credentials have insufficient access to perform the requested operation')
  if (status === 404) return laError('PathNotFoundError', 'The requested path does not exist')
  if (status === 429) return laError('ThrottledError', 'Too many requests: the query rate limit of this user was exceeded')
  if (status === 503) return laError('ServiceUnavailableError', 'The service is temporarily unavailable')
  if (status === 504) return laError('GatewayTimeout', 'The query did not complete in time')
  return laError('InternalServerError', 'An unexpected error occurred')
}

/* A query that failed part-way: 200, the rows so far, and `error` (the SDK's PartialFailure). */
const PARTIAL_ERROR = {
  code: 'PartialError',
  message: 'There were some errors when processing your query.',
  details: [
    {
      code: 'EngineError',
      message: 'Something went wrong processing your query on the server.',
      innererror: {
        code: '-2133196797',
        message: 'Query result set has exceeded the internal data size limit 67108864 (E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)',
        severity: 2,
        severityName: 'Error',
      },
    },
  ],
}

const syntaxError = (near: string) =>
  laError('BadArgumentError', 'The request had some invalid properties', {
    code: 'SyntaxError',
    message: 'A recognition error occurred in the query.',
    innererror: { code: 'SYN0002', message: `Query could not be parsed at '${near.slice(0, 80)}'` },
  })

const semanticError = (message: string) =>
  laError('BadArgumentError', 'The request had some invalid properties', { code: 'SemanticError', message: 'A semantic error occurred.', innererror: { code: 'SEM0100', message } })

class QueryError extends Error {
  constructor(readonly body: unknown) {
    super('query error')
  }
}

// ---------------------------------------------------------------------------------------------
// Datetimes: epoch nanoseconds (bigint), 100 ns resolution like Kusto's

const DATETIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z?$/

function parseDatetime(s: string): bigint | undefined {
  const m = DATETIME.exec(s.trim())
  if (!m) return undefined
  const [, y, mo, d, h, mi, sec, frac = ''] = m
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec))
  return BigInt(ms) * 1_000_000n + BigInt(frac.slice(0, 7).padEnd(9, '0'))
}

function toNs(v: unknown): bigint | null {
  if (v === undefined || v === null || v === '') return null
  if (typeof v === 'bigint') return (v / 100n) * 100n
  if (v instanceof Date) return BigInt(v.getTime()) * 1_000_000n
  const ns = typeof v === 'string' ? parseDatetime(v) : undefined
  if (ns === undefined) throw new Error(`fake azure-monitor: not a datetime: ${String(v)}`)
  return ns
}

function parts(ns: bigint): { date: string; fraction: string } {
  const ms = ns / 1_000_000n
  return { date: new Date(Number(ms)).toISOString().slice(0, 19), fraction: ((ns % 1_000_000_000n) / 100n).toString().padStart(7, '0') }
}

/** As Log Analytics writes datetime cells: 2026-12-01T12:00:00.1234567Z (no fraction when zero). */
function formatCell(ns: bigint): string {
  const { date, fraction } = parts(ns)
  return fraction === '0000000' ? `${date}Z` : `${date}.${fraction}Z`
}

// ---------------------------------------------------------------------------------------------
// The KQL subset: exactly what the azure-monitor provider emits, over one table.
//
//   <Table> [| where <Column> (==|!=) "<text>"]…
//   | where <T> >= datetime(<t0>) and <T> < datetime(<t1>)
//   | extend __sluice_id = coalesce(tostring(column_ifexists('_ItemId', '')), hash_sha256(tostring(pack_all()))), __sluice_time = format_datetime(<T>, 'yyyy-MM-dd HH:mm:ss.fffffff'), __sluice_resource = tostring(column_ifexists('_ResourceId', ''))
//   [| where <T> > datetime(<t>) or (<T> == datetime(<t>) and strcmp(__sluice_id, '<id>') > 0)]
//   | order by <T> asc, __sluice_id asc
//   | take <n>

type Cell = string | number | boolean | bigint | Record<string, unknown> | unknown[] | null

interface Frame {
  columns: FakeColumn[]
  rows: Array<Map<string, Cell>>
}

const IDENT = '([A-Za-z_][A-Za-z0-9_]*)'
const STRING_LITERAL = "'((?:[^'\\\\]|\\\\.)*)'"
const OPS = {
  filter: new RegExp(`^where ${IDENT} (==|!=) "([^"]*)"$`),
  window: new RegExp(`^where ${IDENT} >= datetime\\(([^)]+)\\) and ${IDENT} < datetime\\(([^)]+)\\)$`),
  extend: new RegExp(
    `^extend __sluice_id = coalesce\\(tostring\\(column_ifexists\\('_ItemId', ''\\)\\), hash_sha256\\(tostring\\(pack_all\\(\\)\\)\\)\\), __sluice_time = format_datetime\\(${IDENT}, 'yyyy-MM-dd HH:mm:ss\\.fffffff'\\), __sluice_resource = tostring\\(column_ifexists\\('_ResourceId', ''\\)\\)$`,
  ),
  after: new RegExp(`^where ${IDENT} > datetime\\(([^)]+)\\) or \\(${IDENT} == datetime\\(([^)]+)\\) and strcmp\\(__sluice_id, ${STRING_LITERAL}\\) > 0\\)$`),
  order: new RegExp(`^order by ${IDENT} asc, __sluice_id asc$`),
  take: /^take (\d+)$/,
}

/** Splits a query on the pipes outside string literals. */
function operators(query: string): string[] {
  const out: string[] = []
  let current = ''
  let quote: string | undefined
  for (let i = 0; i < query.length; i++) {
    const c = query[i]!
    if (quote !== undefined) {
      current += c
      if (c === '\\') current += query[++i] ?? ''
      else if (c === quote) quote = undefined
    } else if (c === "'" || c === '"') {
      quote = c
      current += c
    } else if (c === '|') {
      out.push(current.trim())
      current = ''
    } else current += c
  }
  out.push(current.trim())
  return out.map((o) => o.replace(/\s+/g, ' '))
}

const unescape = (s: string) => s.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c))

function evaluate(query: string, timespan: string | undefined, table: { name: string; columns: readonly FakeColumn[]; rows: Array<Map<string, Cell>> }): Frame {
  const [source = '', ...ops] = operators(query)
  if (source !== table.name) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(source)) throw new QueryError(syntaxError(source))
    throw new QueryError(semanticError(`'${ops[0]?.split(' ')[0] ?? 'table'}' operator: Failed to resolve table or column expression named '${source}'`))
  }
  let frame: Frame = { columns: [...table.columns], rows: table.rows }
  const col = (name: string, op: string, type?: FakeColumnType): FakeColumn => {
    const c = frame.columns.find((x) => x.name === name)
    if (c === undefined) throw new QueryError(semanticError(`'${op}' operator: Failed to resolve scalar expression named '${name}'`))
    if (type !== undefined && c.type !== type) throw new QueryError(semanticError(`'${op}' operator: Cannot compare values of types ${c.type} and ${type}. Try adding explicit casts`))
    return c
  }
  const datetime = (s: string) => {
    const ns = parseDatetime(s)
    if (ns === undefined) throw new QueryError(syntaxError(`datetime(${s})`))
    return ns
  }
  const nsOf = (row: Map<string, Cell>, name: string) => row.get(name) as bigint | null

  // The request's timespan always applies to TimeGenerated (when the table has it), inclusively.
  if (timespan !== undefined && frame.columns.some((c) => c.name === 'TimeGenerated')) {
    const [start, end] = timespan.split('/').map((x) => parseDatetime(x))
    if (start === undefined || end === undefined) throw new QueryError(laError('BadArgumentError', `Invalid timespan '${timespan}'`))
    frame = { ...frame, rows: frame.rows.filter((r) => {
      const t = nsOf(r, 'TimeGenerated')
      return t !== null && t >= start && t <= end
    }) }
  }

  for (const op of ops) {
    let m: RegExpExecArray | null
    if ((m = OPS.filter.exec(op))) {
      const [, name = '', cmp, value] = m
      col(name, 'where')
      frame = { ...frame, rows: frame.rows.filter((r) => (String(r.get(name) ?? '') === value) === (cmp === '==')) }
    } else if ((m = OPS.window.exec(op))) {
      const [, t = '', from = '', t2 = '', to = ''] = m
      if (t2 !== t) throw new QueryError(syntaxError(op))
      col(t, 'where', 'datetime')
      const [lo, hi] = [datetime(from), datetime(to)]
      frame = { ...frame, rows: frame.rows.filter((r) => {
        const v = nsOf(r, t)
        return v !== null && v >= lo && v < hi
      }) }
    } else if ((m = OPS.extend.exec(op))) {
      const t = m[1] ?? ''
      col(t, 'extend', 'datetime')
      const has = (name: string) => frame.columns.some((c) => c.name === name)
      const visible = frame.columns.filter((c) => !c.hidden)
      frame = {
        columns: [...frame.columns, { name: '__sluice_id', type: 'string' }, { name: '__sluice_time', type: 'string' }, { name: '__sluice_resource', type: 'string' }],
        rows: frame.rows.map((r) => {
          const item = has('_ItemId') ? String(r.get('_ItemId') ?? '') : ''
          const packed = JSON.stringify(Object.fromEntries(visible.map((c) => [c.name, output(c, r.get(c.name) ?? null)])))
          const time = nsOf(r, t)
          const { date, fraction } = time === null ? { date: '', fraction: '' } : parts(time)
          const out = new Map(r)
          out.set('__sluice_id', item !== '' ? item : createHash('sha256').update(packed).digest('hex'))
          out.set('__sluice_time', time === null ? '' : `${date.replace('T', ' ')}.${fraction}`)
          out.set('__sluice_resource', has('_ResourceId') ? String(r.get('_ResourceId') ?? '') : '')
          return out
        }),
      }
    } else if ((m = OPS.after.exec(op))) {
      const [, t = '', at = '', t2 = '', at2 = '', id = ''] = m
      if (t2 !== t || at2 !== at) throw new QueryError(syntaxError(op))
      col(t, 'where', 'datetime')
      col('__sluice_id', 'where')
      const [c, after] = [datetime(at), unescape(id)]
      frame = { ...frame, rows: frame.rows.filter((r) => {
        const v = nsOf(r, t)
        return v !== null && (v > c || (v === c && String(r.get('__sluice_id')) > after))
      }) }
    } else if ((m = OPS.order.exec(op))) {
      const t = m[1] ?? ''
      col(t, 'order')
      col('__sluice_id', 'order')
      // Kusto puts nulls first in ascending order.
      const key = (r: Map<string, Cell>) => nsOf(r, t) ?? -1n
      frame = { ...frame, rows: [...frame.rows].sort((a, b) => {
        const d = key(a) - key(b)
        if (d !== 0n) return d < 0n ? -1 : 1
        const [x, y] = [String(a.get('__sluice_id')), String(b.get('__sluice_id'))]
        return x < y ? -1 : x > y ? 1 : 0
      }) }
    } else if ((m = OPS.take.exec(op))) {
      frame = { ...frame, rows: frame.rows.slice(0, Number(m[1])) }
    } else throw new QueryError(syntaxError(op))
  }
  return frame
}

/** A cell as the API writes it: datetimes as strings, dynamic values as JSON text, empty strings for missing text. */
function output(c: FakeColumn, v: Cell): unknown {
  if (v === null) return c.type === 'string' || c.type === 'guid' ? '' : null
  if (c.type === 'datetime') return formatCell(v as bigint)
  if (c.type === 'dynamic') return typeof v === 'string' ? v : JSON.stringify(v)
  return v
}

// ---------------------------------------------------------------------------------------------
// The server

/** @azure/identity reads these at call time; the fake clears them for the test (and restores them). */
const ISOLATED_ENV = ['AZURE_AUTHORITY_HOST', 'AZURE_REGIONAL_AUTHORITY_NAME', 'AZURE_IDENTITY_DISABLE_MULTITENANTAUTH', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy']

let isolated: { fakes: number; saved: Map<string, string | undefined> } | undefined

/** Clears ISOLATED_ENV while any fake runs; the last one to close puts the values back. */
function isolateEnv(): () => void {
  if (isolated === undefined) {
    isolated = { fakes: 0, saved: new Map(ISOLATED_ENV.map((k) => [k, process.env[k]])) }
    for (const k of ISOLATED_ENV) delete process.env[k]
  }
  isolated.fakes++
  return () => {
    if (isolated === undefined || --isolated.fakes > 0) return
    for (const [k, v] of isolated.saved) if (v !== undefined) process.env[k] = v
    isolated = undefined
  }
}

export async function startFakeAzureMonitor(opts: FakeAzureMonitorOptions = {}): Promise<FakeAzureMonitor> {
  const workspaceId = opts.workspaceId ?? '5e2f7a10-3c4b-4d8e-9f01-a2b3c4d5e6f7'
  const tenantId = opts.tenantId ?? '8d3f1c2b-6a5e-4f70-9b1d-2c3e4f5a6b7c'
  const clientId = opts.clientId ?? '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0'
  const clientSecret = opts.clientSecret ?? 'fake~client.secret-0123456789abcdef'
  const tableName = opts.table ?? 'AppTraces'
  const columns = opts.columns ?? APP_TRACES_COLUMNS
  const rows: Array<Map<string, Cell>> = []
  const calls: FakeCall[] = []
  const tokens: string[] = []
  const revoked = new Set<string>()
  const script: { query: Array<{ status: number; retryAfterS?: number | undefined; partial?: boolean }>; token: number[]; delays: number[] } = { query: [], token: [], delays: [] }
  const timers = new Set<NodeJS.Timeout>()

  const add = (...more: FakeRow[]) => {
    for (const input of more) {
      for (const k of Object.keys(input)) if (!columns.some((c) => c.name === k)) throw new Error(`fake azure-monitor: ${tableName} has no column ${k}`)
      const row = new Map<string, Cell>()
      for (const c of columns) {
        let v = input[c.name]
        if (v === undefined) {
          if (c.name === 'TenantId') v = workspaceId
          else if (c.name === 'Type') v = tableName
          else if (c.name === '_ItemId') v = randomUUID()
          else if (c.name === 'ItemCount') v = 1
          else if (c.name === 'SourceSystem') v = 'Azure'
        }
        row.set(c.name, c.type === 'datetime' ? toNs(v) : ((v ?? null) as Cell))
      }
      rows.push(row)
    }
  }
  add(...(opts.rows ?? []))

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body))

  function discovery(base: string, tenant: string) {
    // GET /{tenant}/v2.0/.well-known/openid-configuration (MSAL reads it for an authority it does not know).
    const t = `${base}/${tenant}`
    return {
      token_endpoint: `${t}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${t}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/${tenantId}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${base}/oidc/userinfo`,
      authorization_endpoint: `${t}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${t}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${t}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'tid'],
      kerberos_endpoint: `${t}/kerberos`,
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    }
  }

  /* POST /{tenant}/oauth2/v2.0/token, application/x-www-form-urlencoded: grant_type=client_credentials,
   * client_id, client_secret, scope=<resource>/.default → 200 {token_type: 'Bearer', expires_in,
   * ext_expires_in, access_token}, or 400/401 with Entra's error body. */
  function token(tenant: string, form: URLSearchParams): { status: number; body: unknown } {
    const failure = script.token.shift()
    if (failure !== undefined) return { status: failure, body: failure >= 500 ? aadError('temporarily_unavailable', 50196, 'The server is temporarily unavailable.') : aadError('invalid_request', 90002, 'Bad request.') }
    if (tenant !== tenantId) return { status: 400, body: aadError('invalid_request', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`) }
    if (form.get('grant_type') !== 'client_credentials') return { status: 400, body: aadError('unsupported_grant_type', 70003, 'The app requested an unsupported grant type.') }
    if (form.get('client_id') !== clientId) return { status: 400, body: aadError('unauthorized_client', 700016, `Application with identifier '${form.get('client_id')}' was not found in the directory '${tenant}'.`) }
    if (form.get('client_secret') !== clientSecret) {
      return { status: 401, body: aadError('invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`) }
    }
    const scope = form.get('scope') ?? ''
    if (!scope.endsWith('/.default')) return { status: 400, body: aadError('invalid_scope', 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.`) }
    const accessToken = `fake-at.${Buffer.from(JSON.stringify({ aud: scope.slice(0, -'/.default'.length), tid: tenant, appid: clientId, n: tokens.length + 1 })).toString('base64url')}.${randomUUID()}`
    tokens.push(accessToken)
    const expiresIn = opts.tokenExpiresInS ?? 3599
    return { status: 200, body: { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: accessToken } }
  }

  /* POST /v1/workspaces/{workspaceId}/query {query, timespan?} → 200 {tables: [{name: 'PrimaryResult',
   * columns: [{name, type}], rows: [[…]]}]}, or 4xx/5xx with Log Analytics' error body. */
  function query(workspace: string, auth: string | undefined, body: { query?: unknown; timespan?: unknown }): { status: number; body: unknown; headers?: Record<string, string> } {
    const bearer = /^Bearer (.+)$/.exec(auth ?? '')?.[1]
    if (bearer === undefined) return { status: 401, body: laErrorOf(401) }
    if (!tokens.includes(bearer) || revoked.has(bearer)) return { status: 403, body: laError('InvalidTokenError', 'The provided authentication is not valid for this resource') }
    const claims = JSON.parse(Buffer.from(bearer.split('.')[1] ?? '', 'base64url').toString('utf8')) as { aud?: string }
    if (`${claims.aud}/.default` !== LOG_ANALYTICS_SCOPE) return { status: 403, body: laError('InvalidTokenError', 'The provided authentication is not valid for this resource') }
    const failure = script.query.shift()
    if (failure !== undefined && !failure.partial) {
      const headers = failure.retryAfterS === undefined ? undefined : { 'retry-after': String(failure.retryAfterS) }
      return { status: failure.status, body: laErrorOf(failure.status), ...(headers ? { headers } : {}) }
    }
    if (workspace !== workspaceId) return { status: 404, body: laErrorOf(404) }
    if (typeof body.query !== 'string' || body.query.trim() === '') return { status: 400, body: laError('BadArgumentError', "The request had some invalid properties: 'query' is required") }
    try {
      const frame = evaluate(body.query, typeof body.timespan === 'string' ? body.timespan : undefined, { name: tableName, columns, rows })
      const visible = frame.columns.filter((c) => !c.hidden)
      const table = { name: 'PrimaryResult', columns: visible.map((c) => ({ name: c.name, type: c.type })), rows: frame.rows.map((r) => visible.map((c) => output(c, r.get(c.name) ?? null))) }
      if (failure?.partial) return { status: 200, body: { tables: [{ ...table, rows: table.rows.slice(0, 1) }], error: PARTIAL_ERROR } }
      return { status: 200, body: { tables: [table] } }
    } catch (err) {
      if (err instanceof QueryError) return { status: 400, body: err.body }
      throw err
    }
  }

  const server = createServer({ key: SERVER_KEY_PEM, cert: SERVER_CERT_PEM }, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', base)
      const raw = Buffer.concat(chunks).toString('utf8')
      const record = (kind: FakeCall['kind'], body: unknown, status: number) => calls.push({ kind, method: req.method ?? '', path: url.pathname, headers: req.headers, body, status })
      let m: RegExpExecArray | null
      if (req.method === 'GET' && (m = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname))) {
        record('discovery', undefined, 200)
        json(res, 200, discovery(base, m[1] ?? ''))
      } else if (req.method === 'POST' && (m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname))) {
        const form = new URLSearchParams(raw)
        const answer = token(m[1] ?? '', form)
        const shown = Object.fromEntries(form)
        if ('client_secret' in shown) shown.client_secret = form.get('client_secret') === clientSecret ? '<matched>' : '<wrong>'
        record('token', shown, answer.status)
        json(res, answer.status, answer.body)
      } else if (req.method === 'POST' && (m = /^\/v1\/workspaces\/([^/]+)\/query$/.exec(url.pathname))) {
        let body: { query?: unknown; timespan?: unknown } = {}
        try {
          body = JSON.parse(raw) as typeof body
        } catch {
          // answered as a missing query
        }
        const answer = query(decodeURIComponent(m[1] ?? ''), req.headers.authorization, body)
        record('query', body, answer.status)
        const delayMs = script.delays.shift()
        if (delayMs === undefined) json(res, answer.status, answer.body, answer.headers)
        else {
          const timer = setTimeout(() => {
            timers.delete(timer)
            if (!res.destroyed) json(res, answer.status, answer.body, answer.headers)
          }, delayMs)
          timers.add(timer)
        }
      } else json(res, 404, laErrorOf(404))
    })
  })
  const restoreEnv = isolateEnv()
  const { url: base, close } = await listenLocal(server, { tls: true, beforeClose: () => timers.forEach((t) => clearTimeout(t)), afterClose: restoreEnv })

  return {
    authorityHost: base,
    endpoint: `${base}/v1`,
    workspaceId,
    tenantId,
    clientId,
    clientSecret,
    settings: (overrides = {}) => ({
      workspaceId,
      query: tableName,
      tenantId,
      clientId,
      clientSecret,
      authorityHost: base,
      endpoint: `${base}/v1`,
      caCertificatePem: FAKE_CA_PEM,
      ...overrides,
    }),
    add,
    calls,
    served: (kind) => calls.filter((c) => kind === undefined || c.kind === kind).length,
    tokens,
    revokeTokens: () => {
      for (const t of tokens) revoked.add(t)
    },
    throttleNext: (n, retryAfterS) => {
      for (let i = 0; i < n; i++) script.query.push({ status: 429, retryAfterS })
    },
    failNext: (n, status, target = 'query') => {
      for (let i = 0; i < n; i++) {
        if (target === 'token') script.token.push(status)
        else script.query.push({ status })
      }
    },
    partialNext: (n) => {
      for (let i = 0; i < n; i++) script.query.push({ status: 200, partial: true })
    },
    delayNext: (n, ms) => {
      for (let i = 0; i < n; i++) script.delays.push(ms)
    },
    close,
  }
}
