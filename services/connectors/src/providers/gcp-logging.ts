// Google Cloud Logging: one project's entries, read with entries.list through the official
// @google-cloud/logging v2 client (LoggingServiceV2Client) on google-gax's REST transport, mapped
// to Sluice records.
//
// Wire format (what the SDK sends and decodes; test/fakes/gcp-logging.ts answers the same):
//
//   POST {endpoint}/v2/entries:list?$alt=json%3Benum-encoding=int
//   authorization: Bearer <JWT signed by the service account's key — see below>
//   {"resourceNames":["projects/<id>"],
//    "filter":"timestamp >= \"<from RFC 3339>\" AND timestamp < \"<to>\" AND (<user filter>)",
//    "orderBy":"timestamp asc","pageSize":<1..1000>,"pageToken":"<opaque, from the previous page>"}
//
//   200 {"entries":[{"logName":"projects/<id>/logs/<url-encoded log id>","insertId":"…",
//        "timestamp":"2026-12-01T12:00:00.123456789Z","receiveTimestamp":"…","severity":500,
//        "resource":{"type":"k8s_container","labels":{…}},"labels":{…},
//        "textPayload":"…" | "jsonPayload":{…} | "protoPayload":{"@type":"…",…},
//        "httpRequest":{"requestMethod":"GET","requestUrl":"…","status":200,…},
//        "trace":"projects/<id>/traces/<32 hex>","spanId":"<16 hex>"}],
//       "nextPageToken":"…"}            (either key absent when empty; a page may be empty and still
//                                         carry a token when the search ran out of time)
//   4xx/5xx {"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"…",
//            "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED",…},
//                       {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}]}}
//           optionally with a Retry-After header.
//
// Authentication: with a service-account key, google-auth-library signs a self-signed JWT
// (header kid = private_key_id; claims iss = sub = client_email, scope = logging.read, 1 h) and
// sends it as the bearer token — there is no token exchange, and the key's token_uri is not read.
// The JWT is cached per client until 5 minutes before it expires.
import { AsyncLocalStorage } from 'node:async_hooks'
import { createPrivateKey } from 'node:crypto'
import { v2 } from '@google-cloud/logging'
import type { protos } from '@google-cloud/logging'
import { z } from 'zod'
import { ProviderError } from '../provider.js'
import type { FetchRequest, Page, Provider, ProviderClient, ProviderErrorKind, ProviderEvent, Skipped, SluiceRecord } from '../provider.js'

type LogEntry = protos.google.logging.v2.ILogEntry
type ListRequest = protos.google.logging.v2.IListLogEntriesRequest
type ListResponse = protos.google.logging.v2.IListLogEntriesResponse

/** entries.list refuses a larger pageSize. */
const MAX_PAGE_SIZE = 1000
/** The narrowest scope that reads entries (the JWT's `scope` claim). */
const READ_SCOPE = 'https://www.googleapis.com/auth/logging.read'
/** Cloud Logging refuses longer filters. */
const MAX_FILTER_CHARS = 20_000
/** validateLogInput takes at most this many attributes and 256-character keys. */
const MAX_ATTRIBUTES = 256
const MAX_KEY_CHARS = 256
const MAX_NAME_CHARS = 256
/** The window `test()` reads: enough to prove access, small enough to be cheap. */
const TEST_WINDOW_MS = 60_000

// Project ids: 6–30 of [a-z0-9-], a letter first, no trailing hyphen; legacy ones carry a
// "domain:" prefix.
const PROJECT_ID = /^(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/

const credentialsSchema = z.object({
  type: z.literal('service_account', { error: 'only service-account keys are supported ("type": "service_account")' }).optional(),
  project_id: z.string().optional(),
  /** Sent as the JWT's kid: Google picks the public key by it. */
  private_key_id: z.string().optional(),
  private_key: z
    .string()
    .refine(isPrivateKey, 'not a PEM private key (the key file\'s "private_key")')
    // Service-account keys sign RS256 JWTs: an EC or Ed25519 key would fail every token request.
    .refine((pem) => !isPrivateKey(pem) || createPrivateKey(pem).asymmetricKeyType === 'rsa', 'expected an RSA private key (Google service-account keys are RSA, RS256)'),
  client_email: z.email(),
  client_id: z.string().optional(),
  auth_uri: z.string().optional(),
  /** Accepted as the key file has it; the SDK signs its own JWTs and never calls it. */
  token_uri: z.string().optional(),
  auth_provider_x509_cert_url: z.string().optional(),
  client_x509_cert_url: z.string().optional(),
  universe_domain: z.literal('googleapis.com', { error: 'only the googleapis.com universe is supported' }).optional(),
})

export const gcpLoggingSettingsSchema = z
  .object({
    /** The project whose entries are read (resourceNames ["projects/<projectId>"]). */
    projectId: z.string().regex(PROJECT_ID, 'expected a Google Cloud project id (6-30 of a-z 0-9 -, starting with a letter)'),
    /** A Cloud Logging query, ANDed with the time window, e.g. severity>=WARNING or resource.type="k8s_container". */
    filter: z.string().trim().min(1).max(MAX_FILTER_CHARS).refine(balanced, 'unbalanced parentheses or quotes').optional(),
    /** The service-account key file's JSON (secret). */
    credentials: credentialsSchema,
    /** Every record's service; by default from the resource labels or the log name. */
    service: z.string().trim().min(1).max(MAX_NAME_CHARS).optional(),
    /** The API endpoint (scheme://host[:port]), for private endpoints and tests; default https://logging.googleapis.com. */
    endpoint: z
      .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
      .refine((u) => ['', '/'].includes(new URL(u).pathname) && new URL(u).search === '', 'expected scheme://host[:port] with no path')
      .optional(),
  })
  .strict()

export type GcpLoggingSettings = z.infer<typeof gcpLoggingSettingsSchema>

export const gcpLogging: Provider<GcpLoggingSettings> = {
  kind: 'gcp-logging',
  settingsSchema: gcpLoggingSettingsSchema,
  secretFields: ['credentials'],
  connect,
}

// ---- the SDK, as far as it is used here (v2 is typed `any` by @google-cloud/logging) ----

interface CallOptions {
  autoPaginate: false
  /** null: no retries by gax (the poller retries, with backoff and the provider's hints). */
  retry: null
  signal: AbortSignal
}

interface LoggingClient {
  listLogEntries(request: ListRequest, options: CallOptions): Promise<[LogEntry[], ListRequest | null, ListResponse]>
  close(): Promise<void>
}

interface GaxiosResponseLike {
  headers: Headers
}

interface ClientOptions {
  projectId: string
  credentials: { client_email: string; private_key: string; private_key_id?: string | undefined }
  scopes: string[]
  universeDomain: string
  /** google-gax's REST transport (JSON over HTTP/1.1). */
  fallback: true
  apiEndpoint?: string
  port?: number
  protocol?: string
  clientOptions: { transporterOptions: { adapter: (options: unknown, next: (options: unknown) => Promise<GaxiosResponseLike>) => Promise<GaxiosResponseLike> } }
}

const LoggingServiceV2Client = v2.LoggingServiceV2Client as new (options: ClientOptions) => LoggingClient

/** The error gax rejects with (GoogleError), the fields read here. */
interface GaxError {
  code?: number | string
  message?: string
  httpStatusCode?: number
  reason?: string
  statusDetails?: unknown[]
}

// gax does not pass response headers on to its errors: each call runs in its own store, and the
// transport's adapter (which sees every response) notes a Retry-After there.
const retryAfterHeader = new AsyncLocalStorage<{ ms?: number }>()

async function noteRetryAfter(options: unknown, next: (options: unknown) => Promise<GaxiosResponseLike>): Promise<GaxiosResponseLike> {
  const res = await next(options)
  const store = retryAfterHeader.getStore()
  const ms = parseRetryAfter(res.headers.get('retry-after'))
  if (store !== undefined && ms !== undefined) store.ms = ms
  return res
}

function connect(s: GcpLoggingSettings): ProviderClient {
  const endpoint = s.endpoint === undefined ? undefined : new URL(s.endpoint)
  const client = new LoggingServiceV2Client({
    projectId: s.projectId,
    // Explicit credentials: google-auth-library never looks at GOOGLE_APPLICATION_CREDENTIALS,
    // gcloud's config or the metadata server.
    credentials: { client_email: s.credentials.client_email, private_key: s.credentials.private_key, private_key_id: s.credentials.private_key_id },
    scopes: [READ_SCOPE],
    // Pinned, so GOOGLE_CLOUD_UNIVERSE_DOMAIN in the environment changes nothing.
    universeDomain: 'googleapis.com',
    fallback: true,
    ...(endpoint && {
      apiEndpoint: endpoint.hostname,
      port: Number(endpoint.port) || (endpoint.protocol === 'http:' ? 80 : 443),
      protocol: endpoint.protocol.slice(0, -1),
    }),
    clientOptions: { transporterOptions: { adapter: noteRetryAfter } },
  })
  const resourceNames = [`projects/${s.projectId}`]

  async function list(req: FetchRequest): Promise<ListResponse> {
    if (req.signal.aborted) throw aborted(req.signal)
    const request: ListRequest = {
      resourceNames,
      filter: windowFilter(req.fromMs, req.toMs, s.filter),
      orderBy: 'timestamp asc',
      pageSize: Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(req.limit))),
      ...(req.pageToken && { pageToken: req.pageToken }),
    }
    const hint: { ms?: number } = {}
    try {
      const [, , response] = await retryAfterHeader.run(hint, () => client.listLogEntries(request, { autoPaginate: false, retry: null, signal: req.signal }))
      return response
    } catch (err) {
      throw toProviderError(err, req.signal, hint.ms)
    }
  }

  return {
    async fetchPage(req: FetchRequest): Promise<Page> {
      const response = await list(req)
      const events: ProviderEvent[] = []
      const skipped: Skipped[] = []
      for (const entry of response.entries ?? []) {
        let event: ProviderEvent
        try {
          event = toEvent(entry, s.service)
        } catch (err) {
          // One entry the mapping cannot take must not fail its page forever.
          skipped.push({ reason: 'unmappable', providerId: entry.insertId ?? undefined, detail: err instanceof Error ? err.message : String(err) })
          continue
        }
        // The filter already bounds the window; kept as the contract's guarantee.
        if (event.timeMs >= req.fromMs && event.timeMs < req.toMs) events.push(event)
        else skipped.push({ reason: entry.timestamp ? 'outside_window' : 'bad_timestamp', providerId: event.providerId, detail: `time ${event.timeMs} is outside the window [${req.fromMs}, ${req.toMs})` })
      }
      return { events, nextPageToken: response.nextPageToken || undefined, ...(skipped.length > 0 && { skipped }) }
    },
    async test(signal: AbortSignal): Promise<void> {
      const now = Date.now()
      await list({ fromMs: now - TEST_WINDOW_MS, toMs: now, limit: 1, signal })
    },
    close: () => client.close(),
  }
}

/**
 * The window as a Cloud Logging filter. The user's filter goes last, parenthesised, so that its
 * own ORs stay inside it (Cloud Logging binds OR tighter than AND, but a filter may also carry
 * its own parentheses).
 */
export function windowFilter(fromMs: number, toMs: number, filter: string | undefined): string {
  const window = `timestamp >= "${new Date(fromMs).toISOString()}" AND timestamp < "${new Date(toMs).toISOString()}"`
  return filter === undefined ? window : `${window} AND (${filter})`
}

// ---- mapping ----

const LEVELS: Readonly<Record<string, string>> = {
  DEBUG: 'debug',
  INFO: 'info',
  NOTICE: 'info',
  WARNING: 'warn',
  ERROR: 'error',
  CRITICAL: 'fatal',
  ALERT: 'fatal',
  EMERGENCY: 'fatal',
}
/** Resource labels naming the workload (Cloud Run, App Engine, Cloud Functions, GKE, jobs), in order. */
const SERVICE_LABELS = ['service_name', 'module_id', 'function_name', 'container_name', 'job', 'job_name'] as const
/** Where a host name is, in order: the VM name agents add, then the pod, node or instance. */
const HOST_ENTRY_LABEL = 'compute.googleapis.com/resource_name'
const HOST_RESOURCE_LABELS = ['pod_name', 'node_name', 'instance_id'] as const
const TRACE = /^(?:projects\/[^/]+\/traces\/)?([0-9a-fA-F]{32})$/
const SPAN = /^[0-9a-fA-F]{16}$/
const ZEROS = /^0+$/

/** One entry as a ProviderEvent (see the README's mapping table). */
function toEvent(e: LogEntry, service: string | undefined): ProviderEvent {
  const ns = timestampNs(e.timestamp)
  const logName = e.logName ?? ''
  const resourceLabels = stringMap(e.resource?.labels)
  const labels = stringMap(e.labels)
  const { message, rest } = messageOf(e)

  const attributes = new Attributes()
  attributes.put('gcp.log_name', logName)
  attributes.put('gcp.insert_id', e.insertId ?? '')
  const http = e.httpRequest
  if (http) {
    if (http.status) attributes.put('http.status', String(http.status))
    attributes.put('http.method', http.requestMethod ?? '')
    attributes.put('http.url', http.requestUrl ?? '')
  }
  for (const [k, v] of Object.entries(labels)) attributes.put(k, v)
  for (const [k, v] of Object.entries(rest)) attributes.put(k, typeof v === 'string' ? v : JSON.stringify(v))

  const record: SluiceRecord = {
    timestamp: ns.toString(),
    service: (service ?? serviceOf(resourceLabels, logName)).slice(0, MAX_NAME_CHARS),
    message,
    resource: { 'cloud.provider': 'gcp', 'gcp.resource.type': e.resource?.type ?? '', ...resourceLabels },
  }
  const level = LEVELS[String(e.severity ?? '')]
  if (level !== undefined) record.level = level
  const host = labels[HOST_ENTRY_LABEL] || HOST_RESOURCE_LABELS.map((k) => resourceLabels[k]).find(Boolean)
  if (host) record.host = host.slice(0, MAX_NAME_CHARS)
  const trace = TRACE.exec(e.trace ?? '')?.[1]
  if (trace !== undefined && !ZEROS.test(trace)) record.trace_id = trace.toLowerCase()
  const span = e.spanId ?? ''
  if (SPAN.test(span) && !ZEROS.test(span)) record.span_id = span.toLowerCase()
  if (attributes.size > 0) record.attributes = attributes.toObject()

  return { providerId: providerId(logName, ns, e.insertId), timeMs: Number(ns / 1_000_000n), record }
}

/**
 * insertId is unique only together with the log and the timestamp (Cloud Logging treats entries
 * of the same log with equal insertId *and* timestamp as duplicates): all three, stable across
 * re-reads. logName holds no "|" (log ids are URL-encoded).
 */
function providerId(logName: string, ns: bigint, insertId: string | null | undefined): string {
  return `${logName}|${ns}|${insertId || 'none'}`
}

function timestampNs(t: LogEntry['timestamp']): bigint {
  if (!t) return 0n
  return BigInt(String(t.seconds ?? 0)) * 1_000_000_000n + BigInt(t.nanos ?? 0)
}

function serviceOf(resourceLabels: Record<string, string>, logName: string): string {
  for (const k of SERVICE_LABELS) if (resourceLabels[k]) return resourceLabels[k]
  const id = logName.slice(logName.lastIndexOf('/logs/') + '/logs/'.length)
  try {
    return decodeURIComponent(id) || 'unknown'
  } catch {
    return id || 'unknown'
  }
}

/** The message and, when it came out of a jsonPayload's message/msg, the payload's other fields. */
function messageOf(e: LogEntry): { message: string; rest: Record<string, unknown> } {
  if (typeof e.textPayload === 'string') return { message: e.textPayload, rest: {} }
  if (e.jsonPayload) {
    const payload = fromStruct(e.jsonPayload)
    for (const key of ['message', 'msg']) {
      const m = payload[key]
      if (typeof m === 'string') {
        const rest = { ...payload }
        delete rest[key]
        return { message: m, rest }
      }
    }
    return { message: JSON.stringify(payload), rest: {} }
  }
  // Only types the SDK's protos know decode over REST (see toProviderError): their type name.
  if (e.protoPayload) return { message: e.protoPayload.type_url ?? '', rest: {} }
  const http = e.httpRequest
  if (http) return { message: `${http.requestMethod ?? ''} ${http.requestUrl ?? ''} ${http.status ?? ''}`.trim(), rest: {} }
  return { message: '', rest: {} }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

/** google.protobuf.Struct (as gax decodes it: { fields: { k: { kind, <kind>: … } } }) → plain JSON. */
function fromStruct(s: protos.google.protobuf.IStruct): Record<string, Json> {
  const out: Record<string, Json> = {}
  for (const [k, v] of Object.entries(s.fields ?? {})) out[k] = fromValue(v)
  return out
}

function fromValue(v: protos.google.protobuf.IValue): Json {
  if (v.structValue) return fromStruct(v.structValue)
  if (v.listValue) return (v.listValue.values ?? []).map(fromValue)
  if (typeof v.stringValue === 'string') return v.stringValue
  if (typeof v.numberValue === 'number') return v.numberValue
  if (typeof v.boolValue === 'boolean') return v.boolValue
  return null
}

function stringMap(m: { [k: string]: string } | null | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(m ?? {})) out[k] = String(v)
  return out
}

/** Attributes in priority order, within what validateLogInput takes (the rest is dropped). */
class Attributes {
  readonly #m = new Map<string, string>()
  get size(): number {
    return this.#m.size
  }
  put(key: string, value: string): void {
    if (value === '' || key.length === 0 || key.length > MAX_KEY_CHARS || this.#m.has(key) || this.#m.size >= MAX_ATTRIBUTES) return
    this.#m.set(key, value)
  }
  toObject(): Record<string, string> {
    return Object.fromEntries(this.#m)
  }
}

// ---- errors ----

/** google.rpc.Code by number (gax's GoogleError.code). */
const RPC_CODES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
] as const

const KINDS: Readonly<Partial<Record<(typeof RPC_CODES)[number], ProviderErrorKind>>> = {
  RESOURCE_EXHAUSTED: 'throttled',
  UNAUTHENTICATED: 'auth',
  // A project that does not exist answers PERMISSION_DENIED too ("… (or it may not exist)").
  PERMISSION_DENIED: 'auth',
  INVALID_ARGUMENT: 'bad_request',
  NOT_FOUND: 'bad_request',
  FAILED_PRECONDITION: 'bad_request',
  OUT_OF_RANGE: 'bad_request',
}

// The REST transport decodes protoPayload with the protos bundled in the SDK; an entry of any other
// type (Cloud Audit Logs' google.cloud.audit.AuditLog, App Engine's RequestLog) fails the whole
// page, and gax reports it as UNAVAILABLE with no HTTP status. Only the message says so.
const UNDECODABLE = /googleProtobufAnyFromProto3JSON: cannot find type (\S+?):/

function toProviderError(err: unknown, signal: AbortSignal, retryAfterHeaderMs?: number): ProviderError {
  if (signal.aborted) return aborted(signal)
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as GaxError
  const message = redact(e.message ?? 'unknown error')
  const undecodable = e.httpStatusCode === undefined ? UNDECODABLE.exec(message) : null
  if (undecodable) {
    return new ProviderError(
      'bad_request',
      'UNDECODABLE_ENTRY',
      `Cloud Logging returned an entry whose protoPayload type (${undecodable[1]}) the REST client cannot decode; exclude such entries with the connection's filter, e.g. NOT logName:"cloudaudit.googleapis.com" for audit logs`,
    )
  }
  const code = typeof e.code === 'number' ? (RPC_CODES[e.code] ?? String(e.code)) : typeof e.code === 'string' ? e.code : 'UNKNOWN'
  const kind = KINDS[code as (typeof RPC_CODES)[number]] ?? 'unavailable'
  const reason = e.reason ? ` (${e.reason})` : ''
  const text = `Cloud Logging ${code}${reason}: ${message}`
  if (kind === 'throttled') return new ProviderError(kind, code, text, retryInfoMs(e.statusDetails) ?? retryAfterHeaderMs)
  return new ProviderError(kind, code, text)
}

function aborted(signal: AbortSignal): ProviderError {
  const reason: unknown = signal.reason
  const timeout = reason instanceof Error && reason.name === 'TimeoutError'
  return new ProviderError('unavailable', timeout ? 'TIMEOUT' : 'ABORTED', timeout ? 'Cloud Logging call timed out' : 'Cloud Logging call aborted')
}

/** google.rpc.RetryInfo's retryDelay, as gax decodes it into statusDetails. */
function retryInfoMs(details: unknown[] | undefined): number | undefined {
  for (const d of details ?? []) {
    const delay = (d as { retryDelay?: { seconds?: unknown; nanos?: unknown } } | null)?.retryDelay
    if (delay) return Math.max(0, Math.ceil(Number(delay.seconds ?? 0) * 1000 + Number(delay.nanos ?? 0) / 1e6))
  }
  return undefined
}

/** Retry-After: delay-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}

/** No credential material in an error message, whatever a server or library put there. */
function redact(text: string): string {
  return text
    .replace(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g, '[redacted key]')
    .replace(/\bBearer\s+[\w.~+/=-]+/gi, 'Bearer [redacted]')
    .replace(/\beyJ[\w-]*\.[\w-]+\.[\w-]+/g, '[redacted token]')
}

// ---- settings checks ----

function isPrivateKey(pem: string): boolean {
  try {
    createPrivateKey(pem)
    return true
  } catch {
    return false
  }
}

/** Parentheses balance outside double-quoted strings, and every string is closed. */
function balanced(filter: string): boolean {
  let depth = 0
  let quoted = false
  for (let i = 0; i < filter.length; i++) {
    const c = filter[i]
    if (quoted) {
      if (c === '\\') i++
      else if (c === '"') quoted = false
    } else if (c === '"') quoted = true
    else if (c === '(') depth++
    else if (c === ')' && --depth < 0) return false
  }
  return depth === 0 && !quoted
}
