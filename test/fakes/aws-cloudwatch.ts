// A local server speaking the CloudWatch Logs API (AWS JSON 1.1) as @aws-sdk/client-cloudwatch-logs
// calls it, for tests that run the real SDK: `awsCloudWatch.connect(fake.settings())`. It owns one
// account in one region, with log groups and IAM access keys; it verifies each request's SigV4
// signature against the key's secret (as AWS does: the scope's region and service, the date, the
// session token), serves the events the test adds (any time, late ones included), records every
// request, and answers what the test scripts: throttling, any error status, empty pages, a stalled
// response. The server closes when the test finishes.
//
//   POST /   Content-Type: application/x-amz-json-1.1
//            X-Amz-Target: Logs_20140328.FilterLogEvents | Logs_20140328.DescribeLogGroups
//            Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/logs/aws4_request,
//                           SignedHeaders=<h1;h2;…>, Signature=<64 hex>
//   → 200 {"events":[{"logStreamName","timestamp","message","ingestionTime","eventId"}],
//          "searchedLogStreams":[],"nextToken":"…"}
//          {"logGroups":[{"logGroupName","creationTime","metricFilterCount","arn","storedBytes",
//          "logGroupClass","logGroupArn"}],"nextToken":"…"}
//   → 400 {"__type":"<Exception>","message":"…"}   (AWS answers client errors 400, whatever they are)
//   → 5xx {"__type":"ServiceUnavailableException",…}, or a load balancer's HTML for 502 and 504
//
// Throttling is AWS's: 400 ThrottlingException "Rate exceeded" and no Retry-After — unless the test
// asks for one (a proxy in front of AWS may send it). Next tokens are opaque cursors (time, arrival)
// tied to the request's parameters; a token of another query is "The specified nextToken is
// invalid." Filter patterns: the subset below (compileFilterPattern); anything else is refused as
// AWS refuses a bad pattern.
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { HeldResponses, listenLocal } from '../infra/local-server.js'
import type { AwsCloudWatchSettings } from '../../services/connectors/src/providers/aws-cloudwatch.js'

export const TARGET_PREFIX = 'Logs_20140328.'
export const FAKE_OPERATIONS = ['FilterLogEvents', 'DescribeLogGroups'] as const
export type FakeOperation = (typeof FAKE_OPERATIONS)[number]

/** An event as a test adds it; the fake fills what is left out. */
export interface FakeLogEvent {
  /** Event time, epoch ms. */
  timestamp: number
  message: string
  /** Default "app". */
  logStreamName?: string
  /** Default the fake's first group (created if missing). */
  logGroupName?: string
  /** Default: when added. */
  ingestionTime?: number
  /** Default: a unique 56-digit id, as AWS's. */
  eventId?: string
}

export interface FakeAwsKey {
  accessKeyId: string
  secretAccessKey: string
  /** Temporary credentials: the X-Amz-Security-Token the requests must carry. */
  sessionToken?: string
  /** Operations the key's IAM policy does not allow (AccessDeniedException). */
  denied?: FakeOperation[]
}

/** What a verified Authorization header said. */
export interface FakeAuth {
  accessKeyId: string
  /** yyyymmdd of the credential scope. */
  date: string
  region: string
  service: string
  signedHeaders: string[]
  sessionToken: boolean
}

export interface FakeCall {
  /** 1 for the first request this server received. */
  n: number
  method: string
  path: string
  /** X-Amz-Target without the Logs_20140328. prefix. */
  operation: string
  headers: IncomingHttpHeaders
  body: unknown
  /** The status answered (0 while stalled; 499 when the client gave up first). */
  status: number
  /** The error's __type, when one was answered. */
  errorType?: string
  /** Set when the signature verified. */
  auth?: FakeAuth
}

export interface FakeCloudWatchLogsOptions {
  /** Default us-east-1. */
  region?: string
  /** Default 123456789012. */
  accountId?: string
  /** Default ["/aws/lambda/checkout"]; the first is what settings() reads. */
  logGroups?: string[]
  /** Events per page at most, whatever limit asks (AWS stops at 1 MB too). Default 10000. */
  maxPageSize?: number
  /** The fake's clock runs this far ahead of the machine's (signature time checks, Date header). */
  clockOffsetMs?: number
}

export interface FakeCloudWatchLogs {
  /** For the `endpoint` setting. */
  endpoint: string
  region: string
  accountId: string
  /** The first log group. */
  logGroupName: string
  /** The key settings() carries. */
  key: FakeAwsKey
  /** Connection settings pointing here, reading the first log group with the default key. */
  settings(overrides?: Partial<AwsCloudWatchSettings>): AwsCloudWatchSettings
  /** Makes events visible, from now on (late data included). */
  add(...events: FakeLogEvent[]): void
  addLogGroup(name: string): void
  /** A new key of this account: long-term (AKIA…), or temporary (ASIA… with a session token). */
  addKey(opts?: { temporary?: boolean; denied?: FakeOperation[] }): FakeAwsKey
  /** The key's session has expired: ExpiredTokenException from now on. */
  expire(accessKeyId: string): void
  /** Every request, in arrival order. */
  calls: FakeCall[]
  /** Requests of the operation (default FilterLogEvents) answered 200. */
  served(operation?: FakeOperation): number
  /** The next `n` FilterLogEvents answer 400 ThrottlingException; with a Retry-After header only when retryAfterS is given. */
  throttleNext(n: number, retryAfterS?: number): void
  /** The next `n` FilterLogEvents answer `status` with AWS's error for it. */
  failNext(n: number, status: number): void
  /** The next `n` FilterLogEvents answer no events but a nextToken that resumes where they were (AWS does this). */
  emptyNext(n: number): void
  /** The next `n` FilterLogEvents get no answer until the client gives up or the fake closes. */
  stallNext(n: number): void
  close(): Promise<void>
}

type Scripted = { kind: 'throttle'; retryAfterS: number | undefined } | { kind: 'fail'; status: number } | { kind: 'empty' } | { kind: 'stall' }

interface Stored {
  group: string
  stream: string
  timestamp: number
  message: string
  ingestionTime: number
  eventId: string
  seq: number
}

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

const invalidParameter = (message: string) => new AwsError('InvalidParameterException', message)
const INVALID_TOKEN = 'The security token included in the request is invalid.'
const BAD_SIGNATURE = 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.'
/** AWS takes requests signed up to 5 minutes from its clock. */
const MAX_SKEW_MS = 5 * 60_000

export async function startFakeCloudWatchLogs(opts: FakeCloudWatchLogsOptions = {}): Promise<FakeCloudWatchLogs> {
  const region = opts.region ?? 'us-east-1'
  const accountId = opts.accountId ?? '123456789012'
  const maxPageSize = opts.maxPageSize ?? 10_000
  const clockOffsetMs = opts.clockOffsetMs ?? 0
  const groups = new Map<string, number>()
  for (const g of opts.logGroups ?? ['/aws/lambda/checkout']) groups.set(g, Date.now())
  const firstGroup = [...groups.keys()][0] ?? '/aws/lambda/checkout'
  const keys = new Map<string, FakeAwsKey>()
  const expired = new Set<string>()
  const stored: Stored[] = []
  const calls: FakeCall[] = []
  const script: Scripted[] = []
  const stalled = new HeldResponses()
  let seq = 0

  const addKey = (o: { temporary?: boolean; denied?: FakeOperation[] } = {}): FakeAwsKey => {
    const key: FakeAwsKey = {
      accessKeyId: `${o.temporary ? 'ASIA' : 'AKIA'}${base32(randomBytes(10))}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      ...(o.temporary && { sessionToken: `IQoJb3JpZ2luX2Vj${randomBytes(96).toString('base64')}` }),
      ...(o.denied && { denied: [...o.denied] }),
    }
    keys.set(key.accessKeyId, key)
    return key
  }
  const key = addKey()

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      const target = String(req.headers['x-amz-target'] ?? '')
      const call: FakeCall = {
        n: calls.length + 1,
        method: req.method ?? '',
        path: req.url ?? '',
        operation: target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target,
        headers: req.headers,
        body: parseJson(raw.toString('utf8')),
        status: 0,
      }
      calls.push(call)
      const now = Date.now() + clockOffsetMs
      try {
        call.auth = authenticate(req, raw, keys, expired, region, now)
        if (req.method !== 'POST' || call.path !== '/' || !target.startsWith(TARGET_PREFIX) || !(FAKE_OPERATIONS as readonly string[]).includes(call.operation)) {
          throw new AwsError('UnknownOperationException', '')
        }
        if (!String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1')) throw new AwsError('SerializationException', 'Unexpected content type')
        const op = call.operation as FakeOperation
        const k = keys.get(call.auth.accessKeyId)
        if (k?.denied?.includes(op)) {
          const group = typeof (call.body as { logGroupName?: unknown })?.logGroupName === 'string' ? (call.body as { logGroupName: string }).logGroupName : '*'
          throw new AwsError(
            'AccessDeniedException',
            `User: arn:aws:iam::${accountId}:user/sluice-reader is not authorized to perform: logs:${op} on resource: arn:aws:logs:${region}:${accountId}:log-group:${group}:log-stream: because no identity-based policy allows the logs:${op} action`,
          )
        }
        let body: unknown
        if (op === 'FilterLogEvents') {
          const next = script.shift()
          if (next?.kind === 'stall') {
            stalled.hold(res, () => {
              if (call.status === 0) call.status = 499
            })
            return
          }
          if (next?.kind === 'throttle') throw new AwsError('ThrottlingException', 'Rate exceeded', 400, next.retryAfterS === undefined ? {} : { 'retry-after': String(next.retryAfterS) })
          if (next?.kind === 'fail') throw failure(next.status)
          body = filterLogEvents(call.body, next?.kind === 'empty')
        } else {
          body = describeLogGroups(call.body)
        }
        call.status = 200
        send(res, 200, body, now)
      } catch (err) {
        const e = err instanceof AwsError ? err : new AwsError('InternalFailure', String(err), 500)
        call.status = e.status
        call.errorType = e.type
        sendError(res, e, now)
      }
    })
  })

  // ---- FilterLogEvents ----

  function filterLogEvents(raw: unknown, empty: boolean) {
    const b = object(raw)
    const group = groupOf(b)
    const streamNames = b.logStreamNames
    const prefix = b.logStreamNamePrefix
    if (streamNames !== undefined && prefix !== undefined) throw invalidParameter('logStreamNamePrefix and logStreamNames are mutually exclusive parameters.')
    if (streamNames !== undefined && (!Array.isArray(streamNames) || streamNames.length < 1 || streamNames.length > 100)) throw invalidParameter('logStreamNames must hold 1 to 100 names.')
    if (prefix !== undefined && typeof prefix !== 'string') throw invalidParameter('logStreamNamePrefix must be a string.')
    const startTime = optionalInt(b.startTime, 'startTime', 0)
    const endTime = optionalInt(b.endTime, 'endTime', 0)
    if (startTime !== undefined && endTime !== undefined && endTime < startTime) throw invalidParameter('End time must be greater than or equal to start time.')
    const limit = optionalInt(b.limit, 'limit', 1, 10_000) ?? 10_000
    const pattern = b.filterPattern === undefined ? '' : String(b.filterPattern)
    const matches = compileFilterPattern(pattern)

    const query = digest([group, streamNames ?? null, prefix ?? null, startTime ?? null, endTime ?? null, pattern])
    const after = typeof b.nextToken === 'string' ? decodeToken(b.nextToken, query) : undefined
    if (b.nextToken !== undefined && after === undefined) throw invalidParameter('The specified nextToken is invalid.')
    const rest = stored
      .filter(
        (s) =>
          s.group === group &&
          (streamNames === undefined || (streamNames as unknown[]).includes(s.stream)) &&
          (prefix === undefined || s.stream.startsWith(prefix as string)) &&
          (startTime === undefined || s.timestamp >= startTime) &&
          (endTime === undefined || s.timestamp <= endTime) &&
          (after === undefined || cmp(s, after) > 0) &&
          matches(s.message),
      )
      .sort(cmp)
    if (empty) {
      // AWS searched a slice of the group and found nothing yet: same position, more to come.
      return { events: [], searchedLogStreams: [], nextToken: encodeToken(query, after ?? { timestamp: -1, seq: -1 }) }
    }
    const page = rest.slice(0, Math.min(limit, maxPageSize))
    const last = page.at(-1)
    return {
      events: page.map((s) => ({ logStreamName: s.stream, timestamp: s.timestamp, message: s.message, ingestionTime: s.ingestionTime, eventId: s.eventId })),
      searchedLogStreams: [],
      ...(last !== undefined && rest.length > page.length && { nextToken: encodeToken(query, last) }),
    }
  }

  function groupOf(b: Record<string, unknown>): string {
    const name = b.logGroupName
    const identifier = b.logGroupIdentifier
    if (name !== undefined && identifier !== undefined) throw invalidParameter('LogGroup name and LogGroup ARN are mutually exclusive parameters.')
    let group: unknown = name ?? identifier
    if (typeof group !== 'string' || group === '') throw invalidParameter('Should provide either a log group name or a log group ARN.')
    const arn = /^arn:aws[a-z-]*:logs:([^:]+):(\d{12}):log-group:([^:]+)$/.exec(group)
    if (arn) group = arn[1] === region && arn[2] === accountId ? arn[3] : undefined
    if (typeof group !== 'string' || !groups.has(group)) throw new AwsError('ResourceNotFoundException', 'The specified log group does not exist.')
    return group
  }

  // ---- DescribeLogGroups ----

  function describeLogGroups(raw: unknown) {
    const b = object(raw)
    const prefix = b.logGroupNamePrefix
    const pattern = b.logGroupNamePattern
    if (prefix !== undefined && pattern !== undefined) throw invalidParameter('LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.')
    const limit = optionalInt(b.limit, 'limit', 1, 50) ?? 50
    const query = digest(['describe', prefix ?? null, pattern ?? null])
    const after = typeof b.nextToken === 'string' ? decodeToken(b.nextToken, query) : undefined
    if (b.nextToken !== undefined && after === undefined) throw invalidParameter('The specified nextToken is invalid.')
    // ASCII order, as AWS lists them.
    const names = [...groups.keys()]
      .filter((g) => (typeof prefix !== 'string' || g.startsWith(prefix)) && (typeof pattern !== 'string' || g.includes(pattern)))
      .sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))
    const from = after === undefined ? 0 : after.seq + 1
    const page = names.slice(from, from + limit)
    return {
      logGroups: page.map((g) => ({
        logGroupName: g,
        creationTime: groups.get(g),
        metricFilterCount: 0,
        arn: `arn:aws:logs:${region}:${accountId}:log-group:${g}:*`,
        storedBytes: 0,
        logGroupClass: 'STANDARD',
        logGroupArn: `arn:aws:logs:${region}:${accountId}:log-group:${g}`,
      })),
      ...(from + page.length < names.length && { nextToken: encodeToken(query, { timestamp: 0, seq: from + page.length - 1 }) }),
    }
  }

  const { url: endpoint, close } = await listenLocal(server, { beforeClose: () => stalled.drop() })

  return {
    endpoint,
    region,
    accountId,
    logGroupName: firstGroup,
    key,
    settings: (overrides = {}) => ({
      region,
      logGroupName: firstGroup,
      accessKeyId: key.accessKeyId,
      secretAccessKey: key.secretAccessKey,
      endpoint,
      ...overrides,
    }),
    add(...events) {
      for (const e of events) {
        const group = e.logGroupName ?? firstGroup
        if (!groups.has(group)) groups.set(group, Date.now())
        seq++
        stored.push({
          group,
          stream: e.logStreamName ?? 'app',
          timestamp: e.timestamp,
          message: e.message,
          ingestionTime: e.ingestionTime ?? Math.max(e.timestamp, Date.now()),
          eventId: e.eventId ?? eventIdOf(group, seq),
          seq,
        })
      }
    },
    addLogGroup(name) {
      if (!groups.has(name)) groups.set(name, Date.now())
    },
    addKey,
    expire(accessKeyId) {
      expired.add(accessKeyId)
    },
    calls,
    served: (operation = 'FilterLogEvents') => calls.filter((c) => c.operation === operation && c.status === 200).length,
    throttleNext(n, retryAfterS) {
      for (let i = 0; i < n; i++) script.push({ kind: 'throttle', retryAfterS })
    },
    failNext(n, status) {
      for (let i = 0; i < n; i++) script.push({ kind: 'fail', status })
    },
    emptyNext(n) {
      for (let i = 0; i < n; i++) script.push({ kind: 'empty' })
    },
    stallNext(n) {
      for (let i = 0; i < n; i++) script.push({ kind: 'stall' })
    },
    close,
  }
}

// ---- responses ----

function send(res: ServerResponse, status: number, body: unknown, now: number, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res
    .writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': String(Buffer.byteLength(text)),
      'x-amzn-requestid': randomUUID(),
      // The SDK corrects its clock from this header.
      date: new Date(now).toUTCString(),
      ...headers,
    })
    .end(text)
}

function sendError(res: ServerResponse, e: AwsError, now: number): void {
  if (e.type === 'LoadBalancerPage') {
    res.writeHead(e.status, { 'content-type': 'text/html', date: new Date(now).toUTCString() }).end(`<html><body><h1>${e.status} ${e.message}</h1></body></html>`)
    return
  }
  send(res, e.status, { __type: e.type, ...(e.message !== '' && { message: e.message }) }, now, e.headers)
}

/** What AWS (or the load balancer in front of it) answers with that status. */
function failure(status: number): AwsError {
  if (status === 500 || status === 503) return new AwsError('ServiceUnavailableException', 'The service cannot complete the request.', status)
  if (status >= 500) return new AwsError('LoadBalancerPage', status === 502 ? 'Bad Gateway' : status === 504 ? 'Gateway Timeout' : 'Server Error', status)
  if (status === 403) return new AwsError('AccessDeniedException', 'User is not authorized to perform this action.', status)
  if (status === 404) return new AwsError('ResourceNotFoundException', 'The specified log group does not exist.', status)
  if (status === 429) return new AwsError('ThrottlingException', 'Rate exceeded', status)
  return new AwsError('InvalidParameterException', 'The request is invalid.', status)
}

// ---- SigV4 ----

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/

function authenticate(req: IncomingMessage, body: Buffer, keys: Map<string, FakeAwsKey>, expired: Set<string>, region: string, now: number): FakeAuth {
  const authorization = req.headers.authorization
  if (authorization === undefined) throw new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token')
  const m = AUTHORIZATION.exec(authorization)
  if (!m) throw new AwsError('IncompleteSignatureException', `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization=${authorization.split(' ')[0]}`)
  const [, accessKeyId = '', date = '', scopeRegion = '', service = '', signed = '', signature = ''] = m
  const key = keys.get(accessKeyId)
  const token = req.headers['x-amz-security-token']
  if (key === undefined || key.sessionToken !== (typeof token === 'string' ? token : undefined)) throw new AwsError('UnrecognizedClientException', INVALID_TOKEN)
  if (expired.has(accessKeyId)) throw new AwsError('ExpiredTokenException', 'The security token included in the request is expired')
  if (scopeRegion !== region) throw new AwsError('InvalidSignatureException', `Credential should be scoped to a valid region. `)
  if (service !== 'logs') throw new AwsError('InvalidSignatureException', `Credential should be scoped to correct service: 'logs'. `)
  const amzDate = String(req.headers['x-amz-date'] ?? '')
  const at = parseAmzDate(amzDate)
  if (at === undefined) throw new AwsError('IncompleteSignatureException', 'Authorization header requires existence of either a \'X-Amz-Date\' or a \'Date\' header.')
  if (!amzDate.startsWith(date)) throw new AwsError('InvalidSignatureException', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`)
  if (at < now - MAX_SKEW_MS) throw new AwsError('InvalidSignatureException', `Signature expired: ${amzDate} is now earlier than ${amzDateOf(now - MAX_SKEW_MS)} (${amzDateOf(now)} - 5 min.)`)
  if (at > now + MAX_SKEW_MS) throw new AwsError('InvalidSignatureException', `Signature not yet current: ${amzDate} is still later than ${amzDateOf(now + MAX_SKEW_MS)} (${amzDateOf(now)} + 5 min.)`)
  const signedHeaders = signed.split(';')
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) throw new AwsError('InvalidSignatureException', BAD_SIGNATURE)

  const [path = '/', query = ''] = (req.url ?? '/').split('?')
  const canonical = [
    req.method ?? '',
    path,
    canonicalQuery(query),
    signedHeaders.map((h) => `${h}:${headerValue(req.headers[h])}\n`).join(''),
    signed,
    sha256(body),
  ].join('\n')
  const scope = `${date}/${scopeRegion}/${service}/aws4_request`
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n')
  let k = hmac(`AWS4${key.secretAccessKey}`, date)
  for (const part of [scopeRegion, service, 'aws4_request']) k = hmac(k, part)
  const expected = hmac(k, toSign)
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) throw new AwsError('InvalidSignatureException', BAD_SIGNATURE)
  return { accessKeyId, date, region: scopeRegion, service, signedHeaders, sessionToken: key.sessionToken !== undefined }
}

function headerValue(v: string | string[] | undefined): string {
  return (Array.isArray(v) ? v.join(',') : (v ?? '')).trim().replace(/\s+/g, ' ')
}

function canonicalQuery(query: string): string {
  if (query === '') return ''
  return query
    .split('&')
    .map((p) => p.split('=').map((x) => encodeURIComponent(decodeURIComponent(x)).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)))
    .sort(([a = '', b = ''], [c = '', d = '']) => (a === c ? (b < d ? -1 : 1) : a < c ? -1 : 1))
    .map(([a = '', b = '']) => `${a}=${b}`)
    .join('&')
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest()

function parseAmzDate(s: string): number | undefined {
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(s)
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) : undefined
}

function amzDateOf(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
}

// ---- filter patterns ----

/**
 * The subset of CloudWatch Logs filter patterns this fake evaluates (case-sensitive, as AWS):
 *   ""                          every event
 *   ERROR "two words" -DEBUG    terms: each must appear ("quoted" phrases too); -term must not
 *   ?ERROR ?WARN                any of the ?terms
 *   { $.level = "error" }       a JSON message's field (dotted path) =, != a quoted or bare value
 *                               (a trailing * matches a prefix); comparisons joined by && or ||
 * Anything else — unbalanced quotes or braces, mixing ?terms with others — is an invalid pattern.
 */
export function compileFilterPattern(pattern: string): (message: string) => boolean {
  const p = pattern.trim()
  if (p === '') return () => true
  if (p.startsWith('{')) return compileJsonPattern(p)
  const terms: Array<{ text: string; mode: 'all' | 'none' | 'any' }> = []
  const re = /\s*([?-]?)(?:"((?:[^"\\]|\\.)*)"|([^\s"{}]+))/y
  let i = 0
  while (i < p.length) {
    re.lastIndex = i
    const m = re.exec(p)
    if (!m) throw invalidPattern()
    const text = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '')
    terms.push({ text, mode: m[1] === '?' ? 'any' : m[1] === '-' ? 'none' : 'all' })
    i = re.lastIndex
    while (i < p.length && /\s/.test(p[i] ?? '')) i++
  }
  const any = terms.filter((t) => t.mode === 'any')
  if (any.length > 0 && any.length !== terms.length) throw invalidPattern()
  if (any.length > 0) return (message) => any.some((t) => message.includes(t.text))
  return (message) => terms.every((t) => message.includes(t.text) === (t.mode === 'all'))
}

function compileJsonPattern(p: string): (message: string) => boolean {
  const m = /^\{\s*(.*?)\s*\}$/s.exec(p)
  if (!m) throw invalidPattern()
  const body = m[1] ?? ''
  const or = body.includes('||')
  if (or && body.includes('&&')) throw invalidPattern()
  const parts = body.split(or ? '||' : '&&').map((c) => {
    const cm = /^\s*\$((?:\.[A-Za-z0-9_@-]+)+)\s*(=|!=)\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))\s*$/.exec(c)
    if (!cm) throw invalidPattern()
    const path = (cm[1] ?? '').slice(1).split('.')
    const op = cm[2]
    const value = cm[3] !== undefined ? cm[3].replace(/\\(.)/g, '$1') : (cm[4] ?? '')
    const prefix = value.endsWith('*')
    return (o: unknown): boolean => {
      let v: unknown = o
      for (const k of path) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined
      if (v === undefined || (typeof v === 'object' && v !== null)) return false
      const s = String(v)
      const eq = prefix ? s.startsWith(value.slice(0, -1)) : s === value
      return op === '=' ? eq : !eq
    }
  })
  return (message) => {
    const o = parseJson(message)
    if (typeof o !== 'object' || o === null) return false
    return or ? parts.some((f) => f(o)) : parts.every((f) => f(o))
  }
}

const invalidPattern = () => invalidParameter('Invalid filter pattern')

// ---- helpers ----

function parseJson(text: string): unknown {
  if (text === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

function object(raw: unknown): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new AwsError('SerializationException', 'Start of structure or map found where not expected.')
  return raw as Record<string, unknown>
}

function optionalInt(v: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new AwsError('SerializationException', `NUMBER_VALUE can not be converted to an Integer or Long for '${field}'`)
  if (v < min) throw invalidParameter(`1 validation error detected: Value '${v}' at '${field}' failed to satisfy constraint: Member must have value greater than or equal to ${min}`)
  if (v > max) throw invalidParameter(`1 validation error detected: Value '${v}' at '${field}' failed to satisfy constraint: Member must have value less than or equal to ${max}`)
  return v
}

function cmp(a: { timestamp: number; seq: number }, b: { timestamp: number; seq: number }): number {
  return a.timestamp === b.timestamp ? a.seq - b.seq : a.timestamp - b.timestamp
}

const digest = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 16)

function encodeToken(query: string, at: { timestamp: number; seq: number }): string {
  return Buffer.from(JSON.stringify({ q: query, t: at.timestamp, s: at.seq })).toString('base64url')
}

function decodeToken(token: string, query: string): { timestamp: number; seq: number } | undefined {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { q?: unknown; t?: unknown; s?: unknown }
    if (t.q === query && typeof t.t === 'number' && typeof t.s === 'number') return { timestamp: t.t, seq: t.s }
  } catch {
    // Not one of ours: the same answer as a token of another query.
  }
  return undefined
}

/** 56 decimal digits, unique per event, as AWS's eventIds look. */
function eventIdOf(group: string, seq: number): string {
  return BigInt(`0x${createHash('sha256').update(`${group}\u0000${seq}`).digest('hex')}`).toString().padStart(56, '0').slice(0, 56)
}

function base32(bytes: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = 0
  let value = 0
  let out = ''
  for (const b of bytes) {
    value = (value << 8) | b
    bits += 8
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  return out
}
