// A local server speaking Google Cloud Logging's REST API as @google-cloud/logging's v2 client
// (google-gax REST transport) calls it, for tests that run the real SDK:
// `gcpLogging.connect(fake.settings())`. It owns one project and one service account whose key
// it generates at start; it checks the SDK's self-signed JWT against that key, serves the entries
// the test adds (any time, late ones included), records every request, and answers what the test
// scripts: throttling (429 with RetryInfo and/or Retry-After), any error status, or a stalled
// response. The server closes when the test finishes.
//
//   POST /v2/entries:list?$alt=json%3Benum-encoding=int      (enums as numbers when asked, as Google does)
//   {"resourceNames":["projects/<id>"],"filter":"…","orderBy":"timestamp asc","pageSize":n,"pageToken":"…"}
//   → 200 {"entries":[LogEntry…],"nextPageToken":"…"}  |  {"error":{"code","message","status","details"}}
//
// Filters: the subset the provider emits, no more — comparisons joined by AND, NOT, parentheses:
//   timestamp (= != < <= > >=, RFC 3339 value), severity (same, a LogSeverity name or number),
//   logName, insertId, textPayload, resource.type, resource.labels.<k>, labels.<k> (= != and the
//   substring ":"; values quoted or bare). Anything else (OR, other fields, bad syntax) is a 400
//   INVALID_ARGUMENT. Page tokens are cursors (time, arrival) tied to the request's filter and order.
//
// Authentication: the SDK signs its own JWT (RS256, kid = private_key_id, iss = sub =
// client_email, scope or aud) and never calls a token endpoint; settings() still points the key's
// token_uri here, so a token request would show in `calls` instead of reaching Google.
import { createHash, generateKeyPairSync, randomBytes, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import { HeldResponses, listenLocal } from '../infra/local-server.js'
import type { GcpLoggingSettings } from '../../services/connectors/src/providers/gcp-logging.js'

export const ENTRIES_LIST_PATH = '/v2/entries:list'

/** google.logging.type.LogSeverity: name → number. */
export const SEVERITIES = { DEFAULT: 0, DEBUG: 100, INFO: 200, NOTICE: 300, WARNING: 400, ERROR: 500, CRITICAL: 600, ALERT: 700, EMERGENCY: 800 } as const
export type Severity = keyof typeof SEVERITIES

/** A LogEntry in the REST API's JSON form (https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry). */
export interface FakeLogEntry {
  /** RFC 3339 with up to nine fraction digits. */
  timestamp: string
  /** Default: projects/<project>/logs/app. */
  logName?: string
  /** Default: { type: 'global', labels: { project_id } }. */
  resource?: { type: string; labels?: Record<string, string> }
  /** Default: the timestamp. */
  receiveTimestamp?: string
  severity?: Severity
  /** Default: a unique one. */
  insertId?: string
  labels?: Record<string, string>
  textPayload?: string
  jsonPayload?: Record<string, unknown>
  protoPayload?: { '@type': string; [field: string]: unknown }
  httpRequest?: { requestMethod?: string; requestUrl?: string; status?: number; userAgent?: string; remoteIp?: string; latency?: string; [field: string]: unknown }
  trace?: string
  spanId?: string
  traceSampled?: boolean
  operation?: { id?: string; producer?: string; first?: boolean; last?: boolean }
  sourceLocation?: { file?: string; line?: string; function?: string }
}

/** The claims of a JWT that verified against the service account's key. */
export interface FakePrincipal {
  email: string
  kid: string | undefined
  scope: string | undefined
  aud: string | undefined
  iat: number
  exp: number
}

export interface FakeCall {
  /** 1 for the first request this server received. */
  n: number
  method: string
  /** Without the query string. */
  path: string
  query: URLSearchParams
  headers: IncomingHttpHeaders
  body: unknown
  /** The status answered (0 while stalled; 499 when the client gave up first). */
  status: number
  /** Set when the bearer token was a valid JWT of the service account. */
  principal?: FakePrincipal
}

export type ThrottleHint = 'retry-info' | 'header' | 'both'

export interface FakeGcpLogging {
  /** The API endpoint, for the `endpoint` setting. */
  url: string
  projectId: string
  clientEmail: string
  /** Connection settings pointing here, with the service account's key. */
  settings(overrides?: Partial<GcpLoggingSettings>): GcpLoggingSettings
  /** Makes entries visible, from now on (late data included). */
  add(...entries: FakeLogEntry[]): void
  /** Every request, in arrival order (token requests and unknown paths included). */
  calls: FakeCall[]
  /** entries.list requests answered 200. */
  served(): number
  /** The next `n` entries.list requests answer 429 RESOURCE_EXHAUSTED, with the delay (if any) as RetryInfo and/or Retry-After. */
  throttleNext(n: number, retryAfterS?: number, hint?: ThrottleHint): void
  /** The next `n` entries.list requests answer `status` with Google's error body for it. */
  failNext(n: number, status: number): void
  /** The next `n` entries.list requests get no answer until the client gives up or the fake closes. */
  stallNext(n: number): void
  close(): Promise<void>
}

export interface FakeGcpLoggingOptions {
  /** Default "sluice-fake-project". */
  projectId?: string
  /** Entries per page at most, whatever pageSize asks (Cloud Logging may return fewer too). Default 1000. */
  maxPageSize?: number
}

type Scripted = { kind: 'throttle'; retryAfterS: number | undefined; hint: ThrottleHint } | { kind: 'fail'; status: number } | { kind: 'stall' }

interface Stored {
  entry: FakeLogEntry
  ns: bigint
  seq: number
}

const SCOPES = new Set([
  'https://www.googleapis.com/auth/logging.read',
  'https://www.googleapis.com/auth/logging.admin',
  'https://www.googleapis.com/auth/cloud-platform',
  'https://www.googleapis.com/auth/cloud-platform.read-only',
])
const AUDIENCE = 'https://logging.googleapis.com/'
const CLOCK_SKEW_S = 300

/* The canonical google.rpc.Status for an HTTP status, with Google's front-end wording. */
const CANONICAL: Record<number, [string, string]> = {
  400: ['INVALID_ARGUMENT', 'Request contains an invalid argument.'],
  401: ['UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.'],
  403: ['PERMISSION_DENIED', 'The caller does not have permission'],
  404: ['NOT_FOUND', 'Requested entity was not found.'],
  409: ['ABORTED', 'The operation was aborted.'],
  429: ['RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).'],
  500: ['INTERNAL', 'Internal error encountered.'],
  501: ['UNIMPLEMENTED', 'Operation is not implemented, or supported, or enabled.'],
  503: ['UNAVAILABLE', 'The service is currently unavailable.'],
  504: ['DEADLINE_EXCEEDED', 'The request deadline was exceeded. Please try again.'],
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message?: string,
    readonly details: unknown[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message ?? CANONICAL[status]?.[1] ?? 'Error')
  }
}

/** Nanoseconds since the epoch of an RFC 3339 time (nine fraction digits kept). */
export function rfc3339ToNs(text: string): bigint {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text)
  const seconds = m ? Date.parse(`${m[1]}${m[3]}`) : NaN
  if (!m || Number.isNaN(seconds)) throw new Error(`not an RFC 3339 time: ${JSON.stringify(text)}`)
  return BigInt(seconds) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'))
}

export async function startFakeGcpLogging(opts: FakeGcpLoggingOptions = {}): Promise<FakeGcpLogging> {
  const projectId = opts.projectId ?? 'sluice-fake-project'
  const maxPageSize = opts.maxPageSize ?? 1000
  const clientEmail = `sluice-reader@${projectId}.iam.gserviceaccount.com`
  const keyId = randomBytes(20).toString('hex')
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()

  const stored: Stored[] = []
  const calls: FakeCall[] = []
  const script: Scripted[] = []
  const stalled = new HeldResponses()
  let seq = 0

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake')
      const text = Buffer.concat(chunks).toString('utf8')
      const call: FakeCall = { n: calls.length + 1, method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body: parseBody(text), status: 0 }
      calls.push(call)
      if (call.method !== 'POST' || call.path !== ENTRIES_LIST_PATH) {
        // Google's front end answers unknown URLs with an HTML page.
        call.status = 404
        res.writeHead(404, { 'content-type': 'text/html; charset=UTF-8' }).end(`<!DOCTYPE html><title>Error 404 (Not Found)</title><p>The requested URL <code>${call.path}</code> was not found on this server.`)
        return
      }
      try {
        call.principal = authenticate(req.headers.authorization, publicKey, clientEmail, keyId)
        const next = script.shift()
        if (next?.kind === 'stall') {
          stalled.hold(res, () => {
            if (call.status === 0) call.status = 499
          })
          return
        }
        if (next?.kind === 'throttle') throw throttled(projectId, next.retryAfterS, next.hint)
        if (next?.kind === 'fail') throw new HttpError(next.status)
        const body = list(call.body, projectId, stored, maxPageSize, call.query.get('$alt')?.includes('enum-encoding=int') ?? false)
        call.status = 200
        res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(body))
      } catch (err) {
        const e = err instanceof HttpError ? err : new HttpError(500, String(err))
        call.status = e.status
        sendError(res, e)
      }
    })
  })
  const { url, close } = await listenLocal(server, { beforeClose: () => stalled.drop() })

  return {
    url,
    projectId,
    clientEmail,
    settings: (overrides = {}) => ({
      projectId,
      endpoint: url,
      credentials: {
        type: 'service_account',
        project_id: projectId,
        private_key_id: keyId,
        private_key: privateKeyPem,
        client_email: clientEmail,
        client_id: '100000000000000000001',
        token_uri: `${url}/token`,
      },
      ...overrides,
    }),
    add(...entries) {
      for (const e of entries) {
        const entry: FakeLogEntry = {
          logName: `projects/${projectId}/logs/app`,
          resource: { type: 'global', labels: { project_id: projectId } },
          insertId: `fake-${(seq + 1).toString(36).padStart(8, '0')}`,
          receiveTimestamp: e.timestamp,
          ...e,
        }
        stored.push({ entry, ns: rfc3339ToNs(e.timestamp), seq: ++seq })
      }
    },
    calls,
    served: () => calls.filter((c) => c.path === ENTRIES_LIST_PATH && c.status === 200).length,
    throttleNext(n, retryAfterS, hint = 'both') {
      for (let i = 0; i < n; i++) script.push({ kind: 'throttle', retryAfterS, hint })
    },
    failNext(n, status) {
      for (let i = 0; i < n; i++) script.push({ kind: 'fail', status })
    },
    stallNext(n) {
      for (let i = 0; i < n; i++) script.push({ kind: 'stall' })
    },
    close,
  }
}

function parseBody(text: string): unknown {
  if (text === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

/* {"error":{"code":<http>,"message":"…","status":"<RPC code>","details":[…]}} */
function sendError(res: ServerResponse, e: HttpError): void {
  const status = CANONICAL[e.status]?.[0] ?? 'UNKNOWN'
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=UTF-8', ...e.headers }
  if (e.status === 401) headers['www-authenticate'] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
  const error = { code: e.status, message: e.message, status, ...(e.details.length > 0 && { details: e.details }) }
  res.writeHead(e.status, headers).end(JSON.stringify({ error }))
}

function errorInfo(reason: string, domain: string, metadata: Record<string, string>) {
  return { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain, metadata }
}

function throttled(projectId: string, retryAfterS: number | undefined, hint: ThrottleHint): HttpError {
  const details: unknown[] = [
    errorInfo('RATE_LIMIT_EXCEEDED', 'googleapis.com', {
      quota_metric: 'logging.googleapis.com/read_requests',
      quota_limit: 'ReadRequestsPerMinutePerProject',
      quota_limit_value: '60',
      quota_location: 'global',
      consumer: `projects/${projectId}`,
      service: 'logging.googleapis.com',
    }),
    { '@type': 'type.googleapis.com/google.rpc.Help', links: [{ description: 'Request a higher quota limit.', url: 'https://cloud.google.com/docs/quotas/help/request_increase' }] },
  ]
  const headers: Record<string, string> = {}
  if (retryAfterS !== undefined && hint !== 'header') details.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryAfterS}s` })
  if (retryAfterS !== undefined && hint !== 'retry-info') headers['retry-after'] = String(retryAfterS)
  const message = `Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of service 'logging.googleapis.com' for consumer 'projects/${projectId}'.`
  return new HttpError(429, message, details, headers)
}

// ---- authentication: a self-signed JWT of the service account ----

function authenticate(authorization: string | undefined, publicKey: KeyObject, email: string, keyId: string): FakePrincipal {
  const unauthenticated = (reason: string, message?: string) =>
    new HttpError(401, message, [errorInfo(reason, 'googleapis.com', { service: 'logging.googleapis.com', method: 'google.logging.v2.LoggingServiceV2.ListLogEntries' })])
  const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1]
  if (token === undefined) {
    throw unauthenticated('CREDENTIALS_MISSING', 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.')
  }
  const [h, p, sig] = token.split('.')
  let header: { alg?: string; kid?: string }
  let claims: { iss?: string; sub?: string; scope?: string; aud?: string; iat?: number; exp?: number }
  try {
    header = JSON.parse(Buffer.from(h ?? '', 'base64url').toString('utf8')) as typeof header
    claims = JSON.parse(Buffer.from(p ?? '', 'base64url').toString('utf8')) as typeof claims
  } catch {
    throw unauthenticated('ACCESS_TOKEN_TYPE_UNSUPPORTED')
  }
  const signed = sig !== undefined && header.alg === 'RS256' && verify('RSA-SHA256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(sig, 'base64url'))
  const now = Date.now() / 1000
  const { iat = NaN, exp = NaN } = claims
  const fresh = iat - CLOCK_SKEW_S <= now && now <= exp + CLOCK_SKEW_S && exp - iat <= 3600
  const scoped = (claims.scope ?? '').split(' ').some((s) => SCOPES.has(s)) || claims.aud === AUDIENCE
  const ok = signed && claims.iss === email && claims.sub === email && (header.kid === undefined || header.kid === keyId) && fresh && scoped
  if (!ok) throw unauthenticated('ACCESS_TOKEN_TYPE_UNSUPPORTED')
  return { email, kid: header.kid, scope: claims.scope, aud: claims.aud, iat, exp }
}

// ---- entries.list ----

interface ListBody {
  resourceNames?: string[]
  projectIds?: string[]
  filter?: string
  orderBy?: string
  pageSize?: number
  pageToken?: string
}

function list(raw: unknown, projectId: string, stored: Stored[], maxPageSize: number, numericEnums: boolean) {
  if (typeof raw !== 'object' || raw === null) throw new HttpError(400, 'Invalid JSON payload received.')
  const body = raw as ListBody
  const resources = [...(body.resourceNames ?? []), ...(body.projectIds ?? []).map((p) => `projects/${p}`)]
  if (resources.length === 0) throw new HttpError(400, 'resource_names: at least one resource name is required')
  for (const r of resources) {
    if (r !== `projects/${projectId}`) {
      // IAM does not say whether the resource exists.
      throw new HttpError(403, "Permission 'logging.logEntries.list' denied on resource (or it may not exist).", [
        errorInfo('IAM_PERMISSION_DENIED', 'iam.googleapis.com', { permission: 'logging.logEntries.list' }),
      ])
    }
  }
  const orderBy = (body.orderBy ?? '').trim().toLowerCase().replace(/\s+/g, ' ')
  if (!['', 'timestamp asc', 'timestamp desc'].includes(orderBy)) throw new HttpError(400, `Invalid order_by: "${body.orderBy}". Only "timestamp asc" and "timestamp desc" are supported.`)
  const desc = orderBy === 'timestamp desc'
  const pageSize = body.pageSize ?? 0
  if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > 1000) throw new HttpError(400, `page_size must be between 0 and 1000: ${pageSize}`)
  const matches = compileFilter(body.filter ?? '')

  const query = createHash('sha256').update(JSON.stringify([resources, body.filter ?? '', orderBy])).digest('hex').slice(0, 16)
  const after = body.pageToken ? decodeToken(body.pageToken, query) : undefined
  const cmp = (a: Stored, b: Stored) => (a.ns === b.ns ? a.seq - b.seq : a.ns < b.ns ? -1 : 1) * (desc ? -1 : 1)
  const rest = stored.filter((s) => matches(s) && (after === undefined || cmp(s, after) > 0)).sort(cmp)
  const page = rest.slice(0, Math.min(pageSize || 50, maxPageSize))
  const last = page.at(-1)
  const out: { entries?: unknown[]; nextPageToken?: string } = {}
  if (page.length > 0) out.entries = page.map((s) => toJson(s.entry, numericEnums))
  if (last !== undefined && rest.length > page.length) out.nextPageToken = Buffer.from(JSON.stringify({ q: query, ns: String(last.ns), seq: last.seq })).toString('base64url')
  return out
}

function decodeToken(token: string, query: string): Stored {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { q?: string; ns?: string; seq?: number }
    if (t.q === query && typeof t.ns === 'string' && typeof t.seq === 'number') return { entry: { timestamp: '' }, ns: BigInt(t.ns), seq: t.seq }
  } catch {
    // Falls through to the same answer as a token of another query.
  }
  throw new HttpError(400, "page_token doesn't match arguments from the request")
}

/* Proto3 JSON: default values are left out; enums as numbers when the client asked so. */
function toJson(e: FakeLogEntry, numericEnums: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { ...e }
  if (e.severity === undefined || e.severity === 'DEFAULT') delete out.severity
  else if (numericEnums) out.severity = SEVERITIES[e.severity]
  return out
}

// ---- the filter subset ----

type Token = { t: 'word' | 'string' | 'op' | '(' | ')'; v: string }
type Predicate = (s: Stored) => boolean

function tokenize(filter: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < filter.length) {
    const c = filter[i] ?? ''
    if (/\s/.test(c)) i++
    else if (c === '(' || c === ')') {
      tokens.push({ t: c, v: c })
      i++
    } else if (c === '"') {
      let v = ''
      for (i++; i < filter.length && filter[i] !== '"'; i++) v += filter[i] === '\\' ? (filter[++i] ?? '') : filter[i]
      if (i >= filter.length) throw badFilter('unterminated string')
      tokens.push({ t: 'string', v })
      i++
    } else {
      const op = /^(>=|<=|!=|=|>|<|:)/.exec(filter.slice(i))?.[0]
      if (op !== undefined) {
        tokens.push({ t: 'op', v: op })
        i += op.length
      } else {
        const word = /^[A-Za-z0-9_.@/*-]+/.exec(filter.slice(i))?.[0]
        if (word === undefined) throw badFilter(`unexpected character '${c}'`)
        tokens.push({ t: 'word', v: word })
        i += word.length
      }
    }
  }
  return tokens
}

function badFilter(why: string): HttpError {
  return new HttpError(400, `Unparseable filter: ${why}`)
}

export function compileFilter(filter: string): Predicate {
  const tokens = tokenize(filter)
  let i = 0
  const peek = () => tokens[i]
  const expr = (): Predicate => {
    const terms = [term()]
    while (peek()?.t === 'word' && peek()?.v === 'AND') {
      i++
      terms.push(term())
    }
    return (s) => terms.every((p) => p(s))
  }
  const term = (): Predicate => {
    const tok = tokens[i++]
    if (tok === undefined) throw badFilter('unexpected end of filter')
    if (tok.t === 'word' && tok.v === 'NOT') {
      const p = term()
      return (s) => !p(s)
    }
    if (tok.t === '(') {
      const p = expr()
      if (tokens[i++]?.t !== ')') throw badFilter("expected ')'")
      return p
    }
    const op = tokens[i++]
    const value = tokens[i++]
    if (tok.t !== 'word' || op?.t !== 'op' || (value?.t !== 'word' && value?.t !== 'string')) throw badFilter(`expected a comparison near '${tok.v}'`)
    return comparison(tok.v, op.v, value.v)
  }
  if (tokens.length === 0) return () => true
  const p = expr()
  const left = peek()
  if (left !== undefined) throw badFilter(left.v === 'OR' ? 'OR is not supported by this fake' : `unexpected '${left.v}'`)
  return p
}

function order(op: string, d: number): boolean {
  return op === '=' ? d === 0 : op === '!=' ? d !== 0 : op === '<' ? d < 0 : op === '<=' ? d <= 0 : op === '>' ? d > 0 : op === '>=' ? d >= 0 : false
}

function comparison(field: string, op: string, value: string): Predicate {
  if (field === 'timestamp') {
    if (op === ':') throw badFilter('":" does not apply to timestamp')
    let at: bigint
    try {
      at = rfc3339ToNs(value)
    } catch {
      throw badFilter(`invalid timestamp ${JSON.stringify(value)}`)
    }
    return (s) => order(op, s.ns === at ? 0 : s.ns < at ? -1 : 1)
  }
  if (field === 'severity') {
    const rank = /^\d+$/.test(value) ? Number(value) : (SEVERITIES as Record<string, number | undefined>)[value.toUpperCase()]
    if (rank === undefined || op === ':') throw badFilter(`invalid severity comparison ${op} ${value}`)
    return (s) => order(op, SEVERITIES[s.entry.severity ?? 'DEFAULT'] - rank)
  }
  const get = fieldGetter(field)
  if (!['=', '!=', ':'].includes(op)) throw badFilter(`${op} does not apply to ${field} in this fake`)
  return (s) => {
    const v = get(s.entry)
    if (op === ':') return v !== undefined && v.toLowerCase().includes(value.toLowerCase())
    return (v === value) === (op === '=')
  }
}

function fieldGetter(field: string): (e: FakeLogEntry) => string | undefined {
  if (field === 'logName') return (e) => e.logName
  if (field === 'insertId') return (e) => e.insertId
  if (field === 'textPayload') return (e) => e.textPayload
  if (field === 'resource.type') return (e) => e.resource?.type
  if (field.startsWith('resource.labels.')) return (e) => e.resource?.labels?.[field.slice('resource.labels.'.length)]
  if (field.startsWith('labels.')) return (e) => e.labels?.[field.slice('labels.'.length)]
  throw badFilter(`field ${field} is not supported by this fake`)
}
