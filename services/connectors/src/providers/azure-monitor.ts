// Azure Monitor Logs (a Log Analytics workspace) as a connectors provider: the real
// @azure/monitor-query-logs LogsQueryClient, authenticated by an app registration's client secret
// (@azure/identity ClientSecretCredential), runs one KQL query per page. The query API has no page
// token, so paging is done in KQL, by keyset: rows are ordered by (time, row id) and each page
// starts strictly after the last row of the previous one. Unlike an offset (`row_number() > skip`),
// a keyset page does not shift when rows arrive late inside the window — a late row lands before
// or after the cursor and is never served twice nor pushes another one out of the page — and the
// service answers it with a top-N, where an offset numbers the whole window for every page.
//
// Only the settings reach the SDKs: the authority and the endpoint are always explicit, retries
// are the poller's (the SDKs' own are off, so a 429's Retry-After comes back to it), and the
// credential never falls back to environment variables or managed identity.
import { X509Certificate } from 'node:crypto'
import { rootCertificates } from 'node:tls'
import { ClientSecretCredential } from '@azure/identity'
import { LogsQueryClient, LogsQueryResultStatus } from '@azure/monitor-query-logs'
import type { LogsColumn, LogsQueryResult, LogsTable } from '@azure/monitor-query-logs'
import { z } from 'zod'
import { parseSeverity, parseTimestampNs } from '@sluice/core'
import { ProviderError } from '../provider.js'
import type { FetchRequest, Page, Provider, ProviderClient, ProviderEvent, Skipped, SluiceRecord } from '../provider.js'

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g

/** Every BEGIN/END CERTIFICATE block parses as an X.509 certificate (else TLS would fail every call). */
function validCertificates(pem: string): boolean {
  const blocks = pem.match(CERTIFICATE_BLOCK) ?? []
  if (blocks.length === 0 || blocks.length !== pem.split('-----BEGIN CERTIFICATE-----').length - 1) return false
  try {
    for (const b of blocks) new X509Certificate(b)
    return true
  } catch {
    return false
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const column = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'expected a column name (letters, digits and _)')
const httpsUrl = z.url({ protocol: /^https$/, error: 'expected an https:// URL (the Azure SDKs send tokens over TLS only)' })

export const azureMonitorSettings = z.strictObject({
  /** The Log Analytics workspace: its Workspace ID (a GUID, "Overview" in the portal). */
  workspaceId: z.string().trim().regex(GUID, 'expected the workspace ID (a GUID)'),
  /**
   * The KQL source: a table, or a tabular expression without a time filter, ordering or `take`
   * (e.g. `AppTraces | where AppRoleName != ""`); it must keep the time column.
   */
  query: z
    .string()
    .trim()
    .min(1)
    .max(10_000)
    .transform((q) => q.replace(/[\s;]+$/, ''))
    .default('AppTraces'),
  /** The Microsoft Entra tenant (directory) ID of the app registration, or its domain. */
  tenantId: z.string().trim().regex(/^[0-9A-Za-z.-]{1,256}$/, 'expected a tenant ID (a GUID) or domain'),
  /** The app registration's client (application) ID. */
  clientId: z.string().trim().min(1).max(256),
  /** A client secret of the app registration (its value, not its ID). */
  clientSecret: z.string().min(1).max(1024),
  /** The column naming the service; default AppRoleName, else the last segment of _ResourceId. */
  serviceColumn: column.optional(),
  /** The column holding the message; default the first of Message, SyslogMessage, RenderedDescription, ResultDescription, LogMessage. */
  messageColumn: column.optional(),
  /** The event-time column (datetime) windows and ordering use. */
  timeColumn: column.default('TimeGenerated'),
  /** Microsoft Entra authority host, for private endpoints and tests; default https://login.microsoftonline.com. */
  authorityHost: httpsUrl.optional(),
  /** The Log Analytics API base, for private endpoints and tests; default https://api.loganalytics.io/v1. */
  endpoint: httpsUrl.optional(),
  /** PEM CA certificate(s) trusted besides the public roots, for private endpoints and tests. */
  caCertificatePem: z
    .string()
    .includes('-----BEGIN CERTIFICATE-----', { message: 'expected PEM certificates' })
    .max(100_000)
    .refine(validCertificates, 'expected PEM certificates: a BEGIN/END CERTIFICATE block does not hold a certificate')
    .optional(),
})
export type AzureMonitorSettings = z.output<typeof azureMonitorSettings>

const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com'
const DEFAULT_ENDPOINT = 'https://api.loganalytics.io/v1'
/** Rows per query: far under the API's 500,000 rows / 64 MB per answer, whatever the rows' size. */
const MAX_PAGE_ROWS = 5000
/** For a time column other than TimeGenerated the API's timespan (always on TimeGenerated) is widened by this much. */
const TIMESPAN_SLACK_MS = 86_400_000

const ID = '__sluice_id'
const TIME = '__sluice_time'
const RESOURCE = '__sluice_resource'
const TIME_FORMAT = 'yyyy-MM-dd HH:mm:ss.fffffff'
const CURSOR_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{7}$/

interface Cursor {
  /** The last row's time as TIME_FORMAT writes it (exact, 100 ns). */
  t: string
  id: string
}

/** A KQL string literal. */
const kqlString = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`

/*
 * The query of one page, the settings' source followed by (one operator a line, so a `//` comment
 * ending the source cannot swallow them):
 *
 *   AppTraces | where AppRoleName != ""
 *   | where TimeGenerated >= datetime(2026-12-01T12:00:00.000Z) and TimeGenerated < datetime(2026-12-01T12:05:00.000Z)
 *   | extend __sluice_id = coalesce(tostring(column_ifexists('_ItemId', '')), hash_sha256(tostring(pack_all()))), __sluice_time = format_datetime(TimeGenerated, 'yyyy-MM-dd HH:mm:ss.fffffff'), __sluice_resource = tostring(column_ifexists('_ResourceId', ''))
 *   | where TimeGenerated > datetime(2026-12-01 12:01:07.1234567) or (TimeGenerated == datetime(2026-12-01 12:01:07.1234567) and strcmp(__sluice_id, '5f0c…') > 0)   ← pages after the first
 *   | order by TimeGenerated asc, __sluice_id asc
 *   | take 1001                                                                                     ← limit + 1: the extra row says a next page exists
 *
 * _ItemId and _ResourceId are hidden standard columns: absent from results unless named, and
 * absent from some sources altogether, hence column_ifexists. Without an _ItemId the row's id is
 * the SHA-256 of its values (pack_all), which is stable as long as the row is. The time goes out
 * again as a string because the SDK turns datetime cells into Dates (milliseconds) and Log
 * Analytics keeps 100 ns.
 *
 * Sent as POST {endpoint}/workspaces/{workspaceId}/query, Authorization: Bearer <token for
 * https://api.loganalytics.io/.default>, body {"query": "…", "timespan": "<ISO start>/<ISO end>"};
 * answered 200 {"tables": [{"name": "PrimaryResult", "columns": [{"name", "type"}], "rows": [[…]]}],
 * "error"?: {code, message, details} (a partial failure)}, or 4xx/5xx {"error": {"code", "message",
 * "innererror"?: {code, message, innererror?}}}.
 */
function buildQuery(s: AzureMonitorSettings, w: { fromMs: number; toMs: number; after?: Cursor | undefined; take: number }): string {
  const t = s.timeColumn
  const lines = [
    s.query,
    `| where ${t} >= datetime(${new Date(w.fromMs).toISOString()}) and ${t} < datetime(${new Date(w.toMs).toISOString()})`,
    `| extend ${ID} = coalesce(tostring(column_ifexists('_ItemId', '')), hash_sha256(tostring(pack_all()))), ${TIME} = format_datetime(${t}, '${TIME_FORMAT}'), ${RESOURCE} = tostring(column_ifexists('_ResourceId', ''))`,
  ]
  if (w.after) lines.push(`| where ${t} > datetime(${w.after.t}) or (${t} == datetime(${w.after.t}) and strcmp(${ID}, ${kqlString(w.after.id)}) > 0)`)
  lines.push(`| order by ${t} asc, ${ID} asc`, `| take ${w.take}`)
  return lines.join('\n')
}

const encodeCursor = (c: Cursor): string => Buffer.from(JSON.stringify(c)).toString('base64url')

function decodeCursor(token: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<Cursor>
    if (typeof c.t === 'string' && CURSOR_TIME.test(c.t) && typeof c.id === 'string' && c.id.length > 0 && c.id.length <= 1024) return { t: c.t, id: c.id }
  } catch {
    // reported below
  }
  throw new ProviderError('bad_request', 'InvalidPageToken', 'azure-monitor: the page token is not one this provider wrote')
}

// ---------------------------------------------------------------------------------------------
// Rows → Sluice records

const MESSAGE_COLUMNS = ['Message', 'SyslogMessage', 'RenderedDescription', 'ResultDescription', 'LogMessage']
const LEVEL_COLUMNS = ['SeverityLevel', 'Level', 'SeverityText']
const HOST_COLUMNS = ['AppRoleInstance', 'Computer']
const TRACE_COLUMNS = ['OperationId', 'TraceId']
const SPAN_COLUMNS = ['ParentId', 'SpanId']
/** Columns describing where the entry comes from rather than the entry itself. */
const RESOURCE_COLUMNS: Record<string, string> = {
  Type: 'azure.table',
  _SubscriptionId: 'cloud.account.id',
  AppVersion: 'service.version',
  SDKVersion: 'telemetry.sdk.version',
}
/** Ours, the row id, and columns said elsewhere (TenantId is the workspace, _ResourceId the resource). */
const NOT_ATTRIBUTES = new Set([ID, TIME, RESOURCE, '_ItemId', '_ResourceId', 'TenantId'])
/** Application Insights' SeverityLevel: Verbose, Information, Warning, Error, Critical. */
const APP_INSIGHTS_LEVELS = ['debug', 'info', 'warn', 'error', 'fatal'] as const
const MAX_ATTRIBUTES = 256

type Cell = LogsTable['rows'][number][number] | null | undefined

function text(v: Cell): string | undefined {
  if (v === null || v === undefined) return undefined
  if (typeof v === 'string') return v === '' ? undefined : v
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString()
  if (typeof v === 'object') return JSON.stringify(v)
  return String(v)
}

function levelOf(columnName: string, v: Cell): string | undefined {
  if (columnName === 'SeverityLevel' && (typeof v === 'number' || (typeof v === 'string' && /^\s*\d\s*$/.test(v)))) {
    return APP_INSIGHTS_LEVELS[Number(v)]
  }
  return typeof v === 'string' ? parseSeverity(v)?.text.toLowerCase() : undefined
}

const hexId = (v: string | undefined, length: number): string | undefined =>
  v !== undefined && v.length === length && /^[0-9a-f]+$/i.test(v) && !/^0+$/.test(v) ? v.toLowerCase() : undefined

/** Which column plays which part, decided once per answer from its columns. */
interface Layout {
  index: Map<string, number>
  names: string[]
  message?: string | undefined
  level?: string | undefined
  host?: string | undefined
  trace?: string | undefined
  span?: string | undefined
}

function layoutOf(columns: LogsColumn[], s: AzureMonitorSettings): Layout {
  const names = columns.map((c) => c.name ?? '')
  const index = new Map(names.map((n, i) => [n, i]))
  const first = (candidates: string[]) => candidates.find((c) => index.has(c))
  return {
    index,
    names,
    message: first(s.messageColumn ? [s.messageColumn] : MESSAGE_COLUMNS),
    level: first(LEVEL_COLUMNS),
    host: first(HOST_COLUMNS),
    trace: first(TRACE_COLUMNS),
    span: first(SPAN_COLUMNS),
  }
}

function toEvent(row: Cell[], l: Layout, s: AzureMonitorSettings): ProviderEvent {
  const cell = (name: string | undefined): Cell => (name === undefined ? undefined : row[l.index.get(name) ?? -1])
  const id = text(cell(ID))
  const timeNs = parseTimestampNs(text(cell(TIME)) ?? '')
  if (id === undefined || timeNs === undefined) throw new ProviderError('unavailable', 'BadResponse', 'azure-monitor: a row came back without its id or time')
  const resourceId = text(cell(RESOURCE)) ?? text(cell('_ResourceId'))
  const used = new Set<string>([s.timeColumn])
  const take = (name: string | undefined): string | undefined => {
    const v = text(cell(name))
    if (v !== undefined && name !== undefined) used.add(name)
    return v
  }

  const serviceFrom = s.serviceColumn ?? 'AppRoleName'
  const service = (take(serviceFrom) ?? resourceId?.split('/').filter(Boolean).pop() ?? 'unknown').trim().slice(0, 256) || 'unknown'
  const record: SluiceRecord = { timestamp: timeNs.toString(), service, message: take(l.message) ?? '' }
  const level = l.level === undefined ? undefined : levelOf(l.level, cell(l.level))
  if (level !== undefined && l.level !== undefined) {
    record.level = level
    used.add(l.level)
  }
  const host = take(l.host)
  if (host !== undefined) record.host = host.slice(0, 256)
  const traceId = hexId(text(cell(l.trace)), 32)
  if (traceId !== undefined && l.trace !== undefined) {
    record.trace_id = traceId
    used.add(l.trace)
  }
  const spanId = hexId(text(cell(l.span)), 16)
  if (spanId !== undefined && l.span !== undefined) {
    record.span_id = spanId
    used.add(l.span)
  }

  const resource: Record<string, string> = { 'cloud.provider': 'azure', 'azure.workspace_id': s.workspaceId }
  if (resourceId !== undefined) resource['azure.resource_id'] = resourceId
  const attributes: Record<string, string> = {}
  let n = 0
  const put = (k: string, v: string) => {
    if (n < MAX_ATTRIBUTES && k.length <= 256) {
      attributes[k] = v
      n++
    }
  }
  l.names.forEach((name, i) => {
    if (used.has(name) || NOT_ATTRIBUTES.has(name)) return
    const v = row[i]
    const resourceKey = RESOURCE_COLUMNS[name]
    if (resourceKey !== undefined) {
      const t = text(v)
      if (t !== undefined) resource[resourceKey] = t
    } else if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
      // A property bag (Properties: Application Insights' custom dimensions): one attribute a key.
      for (const [k, inner] of Object.entries(v as Record<string, unknown>)) {
        const t = text(inner as Cell)
        if (t !== undefined) put(`${name}.${k}`, t)
      }
    } else {
      const t = text(v)
      if (t !== undefined) put(name, t)
    }
  })
  if (n > 0) record.attributes = attributes
  record.resource = resource
  return { providerId: id, timeMs: Number(timeNs / 1_000_000n), record }
}

// ---------------------------------------------------------------------------------------------
// Failures → ProviderError

interface HeadersLike {
  get(name: string): string | undefined
}
interface ErrorLike {
  name?: string
  message?: string
  code?: string
  statusCode?: number
  status?: number
  errorCode?: string
  errorMessage?: string
  cause?: unknown
  response?: { headers?: HeadersLike }
  details?: { error?: LogsErrorBody }
}
interface LogsErrorBody {
  code?: string
  message?: string
  innererror?: LogsErrorBody
  details?: Array<{ code?: string; message?: string; innererror?: LogsErrorBody }>
}

/** The innermost message of a Log Analytics error (where the KQL diagnostic is). */
function innermost(e: LogsErrorBody | undefined): string | undefined {
  let m = e?.message
  for (let x = e?.innererror; x !== undefined; x = x.innererror) m = x.message ?? m
  return m
}

/** Retry-After as seconds or an HTTP date, or the millisecond variants Azure services send. */
function retryAfterMs(headers: HeadersLike | undefined): number | undefined {
  if (!headers) return undefined
  for (const h of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const v = headers.get(h)
    if (v !== undefined && /^\s*\d+\s*$/.test(v)) return Number(v)
  }
  const v = headers.get('retry-after')
  if (v === undefined) return undefined
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(Number(v) * 1000)
  const at = Date.parse(v)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}

function kindOfStatus(status: number): ProviderError['kind'] {
  if (status === 429) return 'throttled'
  if (status === 401 || status === 403) return 'auth'
  if (status === 408 || status >= 500) return 'unavailable'
  return 'bad_request'
}

/** A token request's failure, from identity's error and MSAL's (its `cause`). */
function tokenError(err: ErrorLike): ProviderError {
  const cause = (err.cause ?? {}) as ErrorLike
  const message = cause.message ?? err.message ?? ''
  const aadsts = /AADSTS\d+/.exec(message)?.[0]
  const code = aadsts ?? cause.errorCode ?? err.name ?? 'AuthenticationError'
  const status = cause.status ?? err.statusCode
  const text = `azure-monitor: token request to the authority failed: ${message}`
  if (status !== undefined && status !== 401 && status !== 400 && status !== 403) return new ProviderError(kindOfStatus(status), code, text)
  // No answer from the authority (its discovery document or token endpoint unreachable).
  if (status === undefined && (/endpoints_resolution_error|network_error|ECONNREFUSED|ETIMEDOUT|ENOTFOUND|EAI_AGAIN/.test(message) || cause.errorCode === 'network_error')) {
    return new ProviderError('unavailable', code, text)
  }
  if (cause.errorCode === 'server_error' || cause.errorCode === 'temporarily_unavailable') return new ProviderError('unavailable', code, text)
  return new ProviderError('auth', code, text)
}

function toProviderError(err: unknown, signal: AbortSignal): ProviderError {
  if (err instanceof ProviderError) return err
  if (signal.aborted) {
    const timeout = (signal.reason as { name?: string } | undefined)?.name === 'TimeoutError'
    return new ProviderError('unavailable', timeout ? 'TIMEOUT' : 'ABORTED', `azure-monitor: the query was ${timeout ? 'timed out' : 'aborted'}`)
  }
  const e = (err ?? {}) as ErrorLike
  if (e.name === 'AuthenticationRequiredError' || e.name === 'CredentialUnavailableError' || e.name === 'AuthenticationError') return tokenError(e)
  if (e.name === 'RestError') {
    if (e.statusCode === undefined) return new ProviderError('unavailable', e.code ?? 'NETWORK', `azure-monitor: Log Analytics unreachable: ${e.message ?? ''}`)
    const body = e.details?.error
    const detail = innermost(body)
    const message = `azure-monitor: Log Analytics answered ${e.statusCode} ${body?.code ?? e.code ?? ''}: ${e.message ?? ''}${detail && detail !== e.message ? ` (${detail})` : ''}`
    const kind = kindOfStatus(e.statusCode)
    return new ProviderError(kind, body?.code ?? e.code ?? String(e.statusCode), message, kind === 'throttled' ? retryAfterMs(e.response?.headers) : undefined)
  }
  return new ProviderError('unavailable', 'ERROR', `azure-monitor: ${e.message ?? String(err)}`)
}

/** Any error text with the secret blanked out, should a service ever echo it. */
function withoutSecret(e: ProviderError, secret: string): ProviderError {
  const scrub = (s: string) => (secret.length >= 4 ? s.split(secret).join('***') : s).slice(0, 2000)
  return new ProviderError(e.kind, scrub(e.code), scrub(e.message), e.retryAfterMs)
}

// ---------------------------------------------------------------------------------------------
// The client

/** Runs `call`, rejecting as soon as `signal` aborts (a token request cannot be cancelled otherwise). */
function untilAborted<T>(call: () => Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error)
    signal.addEventListener('abort', onAbort, { once: true })
    call().then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err instanceof Error ? err : new Error(String(err)))
      },
    )
  })
}

/** The token audience of a Log Analytics endpoint: its own for the sovereign clouds, else the public one. */
function scopeOf(endpoint: string): string {
  const host = new URL(endpoint).hostname
  return /^api\.loganalytics\.[a-z.]+$/.test(host) ? `https://${host}/.default` : 'https://api.loganalytics.io/.default'
}

class AzureMonitorClient implements ProviderClient {
  readonly #s: AzureMonitorSettings
  readonly #client: LogsQueryClient | undefined
  readonly #broken: ProviderError | undefined
  #closed = false

  constructor(s: AzureMonitorSettings) {
    this.#s = s
    try {
      const endpoint = s.endpoint ?? DEFAULT_ENDPOINT
      const tlsOptions = s.caCertificatePem ? { ca: [...rootCertificates, s.caCertificatePem] } : undefined
      const common = { retryOptions: { maxRetries: 0 }, userAgentOptions: { userAgentPrefix: 'sluice-connectors' }, ...(tlsOptions ? { tlsOptions } : {}) }
      const credential = new ClientSecretCredential(s.tenantId, s.clientId, s.clientSecret, {
        ...common,
        authorityHost: s.authorityHost ?? DEFAULT_AUTHORITY_HOST,
        // MSAL talks to the authority only: no instance discovery at login.microsoftonline.com.
        disableInstanceDiscovery: true,
      })
      this.#client = new LogsQueryClient(credential, { ...common, endpoint, credentials: { scopes: [scopeOf(endpoint)] } })
    } catch (err) {
      this.#broken = withoutSecret(new ProviderError('bad_request', 'InvalidSettings', `azure-monitor: ${(err as Error).message}`), s.clientSecret)
    }
  }

  async fetchPage(req: FetchRequest): Promise<Page> {
    if (req.toMs <= req.fromMs) return { events: [] }
    const after = req.pageToken === undefined ? undefined : decodeCursor(req.pageToken)
    const limit = Math.max(1, Math.min(MAX_PAGE_ROWS, Math.floor(req.limit)))
    const table = await this.#query(buildQuery(this.#s, { fromMs: req.fromMs, toMs: req.toMs, after, take: limit + 1 }), req.fromMs, req.toMs, req.signal)
    if (table === undefined) return { events: [] }
    const layout = layoutOf(table.columnDescriptors, this.#s)
    const rows = table.rows.slice(0, limit)
    const events: ProviderEvent[] = []
    const skipped: Skipped[] = []
    for (const row of rows) {
      let e: ProviderEvent
      try {
        e = toEvent(row, layout, this.#s)
      } catch (err) {
        // One row the mapping cannot take (no id or time, an odd cell) must not fail its page forever.
        skipped.push({ reason: 'unmappable', providerId: text(row[layout.index.get(ID) ?? -1]), detail: err instanceof Error ? err.message : String(err) })
        continue
      }
      // The query already bounds the window; kept as the contract's guarantee.
      if (e.timeMs >= req.fromMs && e.timeMs < req.toMs) events.push(e)
      else skipped.push({ reason: 'outside_window', providerId: e.providerId, detail: `time ${e.timeMs} is outside the window [${req.fromMs}, ${req.toMs})` })
    }
    const more = skipped.length > 0 ? { skipped } : {}
    const last = rows.at(-1)
    if (table.rows.length <= limit || last === undefined) return { events, ...more }
    const cell = (name: string) => text(last[layout.index.get(name) ?? -1])
    return { events, nextPageToken: encodeCursor({ t: cell(TIME) ?? '', id: cell(ID) ?? '' }), ...more }
  }

  /** The page query over the last minute with `take 0`: token, workspace, source and columns, no rows. */
  async test(signal: AbortSignal): Promise<void> {
    const toMs = Date.now()
    const table = await this.#query(buildQuery(this.#s, { fromMs: toMs - 60_000, toMs, take: 0 }), toMs - 60_000, toMs, signal)
    const names = new Set(table?.columnDescriptors.map((c) => c.name) ?? [])
    for (const [setting, name] of [
      ['serviceColumn', this.#s.serviceColumn],
      ['messageColumn', this.#s.messageColumn],
    ] as const) {
      if (name !== undefined && !names.has(name)) throw new ProviderError('bad_request', 'ColumnNotFound', `azure-monitor: ${setting} "${name}" is not a column of the query's results`)
    }
  }

  async close(): Promise<void> {
    this.#closed = true
  }

  async #query(query: string, fromMs: number, toMs: number, signal: AbortSignal): Promise<LogsTable | undefined> {
    if (this.#broken) throw this.#broken
    const client = this.#client
    if (this.#closed || client === undefined) throw new ProviderError('unavailable', 'CLOSED', 'azure-monitor: the client is closed')
    // The API's timespan always filters TimeGenerated: exact for it, widened for another time column.
    const slack = this.#s.timeColumn === 'TimeGenerated' ? 0 : TIMESPAN_SLACK_MS
    const timespan = { startTime: new Date(fromMs - slack), endTime: new Date(toMs + slack) }
    let result: LogsQueryResult
    try {
      result = await untilAborted(() => client.queryWorkspace(this.#s.workspaceId, query, timespan, { abortSignal: signal }), signal)
    } catch (err) {
      throw withoutSecret(toProviderError(err, signal), this.#s.clientSecret)
    }
    if (result.status === LogsQueryResultStatus.PartialFailure) {
      // Part of the answer is missing (limits, a failing shard): taking the rest could skip rows.
      const e = result.partialError as LogsErrorBody
      const detail = e.details?.map((d) => innermost(d.innererror) ?? d.message).find(Boolean)
      throw withoutSecret(new ProviderError('unavailable', e.code ?? 'PartialError', `azure-monitor: partial result: ${e.message ?? ''}${detail ? ` (${detail})` : ''}`), this.#s.clientSecret)
    }
    return result.tables[0]
  }
}

export const azureMonitor: Provider<AzureMonitorSettings> = {
  kind: 'azure-monitor',
  settingsSchema: azureMonitorSettings,
  secretFields: ['clientSecret'],
  connect: (settings) => new AzureMonitorClient(settings),
}
