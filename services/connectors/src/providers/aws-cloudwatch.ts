// AWS CloudWatch Logs: one log group's events, read with FilterLogEvents through the official
// @aws-sdk/client-cloudwatch-logs client, mapped to Sluice records.
//
// Wire format (AWS JSON 1.1; what the SDK sends and decodes, and test/fakes/aws-cloudwatch.ts
// answers the same):
//
//   POST {endpoint}/        default https://logs.<region>.amazonaws.com
//   Content-Type: application/x-amz-json-1.1
//   X-Amz-Target: Logs_20140328.FilterLogEvents
//   X-Amz-Date: 20261201T120000Z   X-Amz-Security-Token: <sessionToken, when set>
//   Authorization: AWS4-HMAC-SHA256 Credential=<accessKeyId>/<yyyymmdd>/<region>/logs/aws4_request,
//                  SignedHeaders=…;host;x-amz-date;x-amz-target;…, Signature=<hex>
//   {"logGroupName":"/aws/lambda/checkout","logStreamNamePrefix":"2026/","filterPattern":"ERROR",
//    "startTime":<ms, inclusive>,"endTime":<ms, INCLUSIVE>,"limit":<1..10000>,"nextToken":"<opaque>"}
//
//   200 {"events":[{"logStreamName":"…","timestamp":<ms>,"message":"…","ingestionTime":<ms>,
//        "eventId":"<56 digits>"}],"searchedLogStreams":[],"nextToken":"…"}
//       events sorted by timestamp, streams interleaved (the `interleaved` flag is ignored by AWS
//       since 2019 and not sent); a page may be empty and still carry a nextToken; no nextToken:
//       the window is exhausted. Tokens are tied to the request's parameters and expire after 24 h.
//   400 {"__type":"ThrottlingException","message":"Rate exceeded"}            — no Retry-After
//       {"__type":"ResourceNotFoundException","message":"The specified log group does not exist."}
//       {"__type":"InvalidParameterException","message":"…"}                 (bad filter pattern…)
//       {"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}
//       {"__type":"InvalidSignatureException" | "ExpiredTokenException" | "AccessDeniedException",…}
//   5xx {"__type":"ServiceUnavailableException",…} or a load balancer's non-JSON body
//
// One log group per connection: FilterLogEvents reads one group per call (logGroupIdentifiers is
// StartQuery's, Logs Insights, which has no pagination). Reading several groups would multiply
// calls against FilterLogEvents' small per-account quota, and reading them one after the other
// breaks the time order the poller's checkpoint relies on. Several groups: several connections.
//
// Mapping (README table): timestamp = event.timestamp (ms) as epoch ns; providerId = eventId;
// service = the `service` setting, else the log group's last path segment; message = the event's
// message without its trailing line breaks; attributes aws.log.group and aws.log.stream; resource
// cloud.provider=aws, cloud.region, aws.log.group.names. CloudWatch has no severity and no host:
//   - a message that is a JSON object gives its `level` (a name, or a pino number beside `msg`) as
//     the level; when it has a string `msg` or `message`, that becomes the message and its other
//     top-level fields become attributes (strings as they are, anything else as JSON); trace_id /
//     traceId / xray_trace_id ("1-<8 hex>-<24 hex>") and span_id / spanId become trace_id and
//     span_id when valid and non-zero hex (otherwise dropped);
//   - a Lambda runtime text line ("<ISO time>\t<request id>\tERROR\t…" from Node.js,
//     "[ERROR]\t<ISO time>\t<request id>\t…" from Python) gives its level, the message unchanged.
//
// Credentials: the static key given in the settings, never the SDK's default chain (which would
// read the machine's environment, ~/.aws files and instance metadata); every other setting the SDK
// would look up in AWS_* variables or ~/.aws/config is pinned here too (see connect()).
import { createHash } from 'node:crypto'
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs'
import type { FilteredLogEvent, FilterLogEventsCommandOutput } from '@aws-sdk/client-cloudwatch-logs'
import { parseLevel, severityFromPino } from '@sluice/core'
import type { Severity } from '@sluice/core'
import { z } from 'zod'
import { ProviderError } from '../provider.js'
import type { FetchRequest, Page, Provider, ProviderClient, ProviderErrorKind, ProviderEvent, Skipped, SluiceRecord } from '../provider.js'

/** FilterLogEvents refuses a larger limit (and answers at most 1 MB whatever the limit). */
const MAX_PAGE_SIZE = 10_000
/** A backstop behind the framework's per-call signal, which normally ends a call first. */
const REQUEST_TIMEOUT_MS = 60_000
const CONNECTION_TIMEOUT_MS = 10_000
/** The window `test()` reads: enough to prove access, small enough to be cheap. */
const TEST_WINDOW_MS = 60_000
/** validateLogInput takes at most this many attributes and 256-character keys and names. */
const MAX_ATTRIBUTES = 256
const MAX_KEY_CHARS = 256
const MAX_NAME_CHARS = 256

// us-east-1, us-gov-west-1, cn-north-1, eu-isoe-west-1, ap-southeast-7…
const REGION = /^[a-z]{2,4}(?:-[a-z]+)+-\d{1,2}$/
// CloudWatch Logs' own constraints on the names.
const LOG_GROUP_NAME = /^[.\-_/#A-Za-z0-9]{1,512}$/
const LOG_STREAM_PREFIX = /^[^:*]{1,512}$/

export const awsCloudWatchSettingsSchema = z
  .object({
    /** The log group's region, e.g. us-east-1 (also the SigV4 signing region). */
    region: z.string().trim().regex(REGION, 'expected an AWS region such as us-east-1'),
    /** The one log group read, e.g. /aws/lambda/checkout. */
    logGroupName: z.string().trim().regex(LOG_GROUP_NAME, 'expected a log group name: 1-512 of A-Z a-z 0-9 . - _ / #'),
    /** Only streams whose name starts so (FilterLogEvents' logStreamNamePrefix). */
    logStreamNamePrefix: z.string().regex(LOG_STREAM_PREFIX, 'expected 1-512 characters, no ":" or "*"').optional(),
    /** A CloudWatch Logs filter pattern, e.g. ERROR or { $.level = "error" }; default: every event. */
    filterPattern: z.string().trim().min(1).max(1024).optional(),
    /** An IAM access key id (AKIA…, or ASIA… with a sessionToken). */
    accessKeyId: z.string().trim().regex(/^\w{16,128}$/, 'expected an AWS access key id (16-128 letters and digits)'),
    /** The access key's secret (secret). */
    secretAccessKey: z.string().trim().min(1).max(1024),
    /** For temporary credentials (secret). They expire: the connection then fails with kind "auth". */
    sessionToken: z.string().trim().min(1).max(8192).optional(),
    /** Every record's service; by default the log group's last path segment. */
    service: z.string().trim().min(1).max(MAX_NAME_CHARS).optional(),
    /** The API endpoint (scheme://host[:port]), for private endpoints and tests; default https://logs.<region>.amazonaws.com. */
    endpoint: z
      .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
      .refine((u) => {
        const url = new URL(u)
        return ['', '/'].includes(url.pathname) && url.search === '' && url.hash === '' && url.username === '' && url.password === ''
      }, 'expected scheme://host[:port] with no path')
      .optional(),
  })
  .strict()

export type AwsCloudWatchSettings = z.infer<typeof awsCloudWatchSettingsSchema>

export const awsCloudWatch: Provider<AwsCloudWatchSettings> = {
  kind: 'aws-cloudwatch',
  settingsSchema: awsCloudWatchSettingsSchema,
  secretFields: ['secretAccessKey', 'sessionToken'],
  // Temporary credentials: the token is issued with its access key and is worthless with another.
  secretTiedTo: { sessionToken: 'accessKeyId' },
  connect,
}

function connect(s: AwsCloudWatchSettings): ProviderClient {
  const client = new CloudWatchLogsClient({
    region: s.region,
    // A plain object: the SDK signs with it as is and never consults its default provider chain.
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, ...(s.sessionToken && { sessionToken: s.sessionToken }) },
    ...(s.endpoint && { endpoint: s.endpoint }),
    // Otherwise AWS_ENDPOINT_URL(_CLOUDWATCH_LOGS) or ~/.aws/config's endpoint_url would redirect
    // the calls, and the settings below would be read from AWS_* variables and ~/.aws/config.
    ignoreConfiguredEndpointUrls: true,
    useFipsEndpoint: false,
    useDualstackEndpoint: false,
    defaultsMode: 'standard',
    authSchemePreference: ['sigv4'],
    disableClockSkewCorrection: false,
    userAgentAppId: 'sluice-connectors',
    // The poller retries, with its backoff and the provider's hints.
    maxAttempts: 1,
    retryMode: 'standard',
    requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
  })
  const secrets = [s.secretAccessKey, s.sessionToken].filter((x): x is string => x !== undefined)
  const resource = { 'cloud.provider': 'aws', 'cloud.region': s.region, 'aws.log.group.names': s.logGroupName }
  const service = (s.service ?? serviceOf(s.logGroupName)).slice(0, MAX_NAME_CHARS)

  async function filter(req: FetchRequest): Promise<FilterLogEventsCommandOutput> {
    if (req.signal.aborted) throw aborted(req.signal)
    const command = new FilterLogEventsCommand({
      logGroupName: s.logGroupName,
      ...(s.logStreamNamePrefix !== undefined && { logStreamNamePrefix: s.logStreamNamePrefix }),
      ...(s.filterPattern !== undefined && { filterPattern: s.filterPattern }),
      // Event times are whole ms, and AWS's endTime is inclusive: [from, to) is [⌈from⌉, ⌈to⌉ − 1].
      startTime: Math.ceil(req.fromMs),
      endTime: Math.ceil(req.toMs) - 1,
      limit: Number.isFinite(req.limit) ? Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(req.limit))) : MAX_PAGE_SIZE,
      ...(req.pageToken && { nextToken: req.pageToken }),
    })
    try {
      return await client.send(command, { abortSignal: req.signal })
    } catch (err) {
      throw toProviderError(err, req.signal, secrets)
    }
  }

  return {
    async fetchPage(req: FetchRequest): Promise<Page> {
      // An empty window: AWS would refuse endTime < startTime.
      if (Math.ceil(req.toMs) - 1 < Math.ceil(req.fromMs)) {
        if (req.signal.aborted) throw aborted(req.signal)
        return { events: [] }
      }
      const out = await filter(req)
      const events: ProviderEvent[] = []
      const skipped: Skipped[] = []
      for (const e of out.events ?? []) {
        const t: unknown = e.timestamp
        const providerId = typeof e.eventId === 'string' ? e.eventId : undefined
        if (typeof t !== 'number' || !Number.isSafeInteger(t) || t <= 0) {
          skipped.push({ reason: 'bad_timestamp', providerId, detail: `timestamp ${JSON.stringify(t) ?? 'missing'} is not epoch milliseconds` })
          continue
        }
        // AWS already bounds the window; kept as the contract's guarantee.
        if (t < req.fromMs || t >= req.toMs) {
          skipped.push({ reason: 'outside_window', providerId, detail: `timestamp ${t} is outside the window [${req.fromMs}, ${req.toMs})` })
          continue
        }
        try {
          events.push(toEvent(e, t, s.logGroupName, service, resource))
        } catch (err) {
          // One odd event (a message that is not a string…) must not fail its page forever.
          skipped.push({ reason: 'unmappable', providerId, detail: err instanceof Error ? err.message : String(err) })
        }
      }
      // AWS sorts by time; a stable sort keeps its order within a millisecond.
      events.sort((a, b) => a.timeMs - b.timeMs)
      return { events, nextPageToken: out.nextToken || undefined, ...(skipped.length > 0 && { skipped }) }
    },
    async test(signal: AbortSignal): Promise<void> {
      // The very call the connection makes, so it proves logs:FilterLogEvents on the group, the
      // group's existence, the filter pattern's syntax and the stream prefix at once.
      const now = Date.now()
      await filter({ fromMs: now - TEST_WINDOW_MS, toMs: now, limit: 1, signal })
    },
    async close(): Promise<void> {
      client.destroy()
    },
  }
}

// ---- mapping ----

/** The log group's last non-empty path segment: /aws/lambda/checkout → checkout. */
export function serviceOf(logGroupName: string): string {
  return logGroupName.split('/').filter(Boolean).at(-1) ?? logGroupName
}

const LAMBDA_NODE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\t(?:[\w-]{36}|undefined)\t(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\t/
const LAMBDA_PYTHON = /^\[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\t/
const TRACE_KEYS = ['trace_id', 'traceId', 'xray_trace_id'] as const
const SPAN_KEYS = ['span_id', 'spanId'] as const
const HEX32 = /^[0-9a-fA-F]{32}$/
const HEX16 = /^[0-9a-fA-F]{16}$/
const XRAY = /^1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})$/
const ZEROS = /^0+$/

function toEvent(e: FilteredLogEvent, timeMs: number, group: string, service: string, resource: Record<string, string>): ProviderEvent {
  const raw = (e.message ?? '').replace(/[\r\n]+$/, '')
  const stream = e.logStreamName ?? ''
  const attributes = new Attributes()
  attributes.put('aws.log.group', group)
  attributes.put('aws.log.stream', stream)

  const record: SluiceRecord = { timestamp: (BigInt(timeMs) * 1_000_000n).toString(), service, message: raw, resource: { ...resource } }
  const json = jsonObject(raw)
  if (json !== undefined) {
    const { level, msg, message } = json
    const pino = typeof level === 'number' && typeof msg === 'string'
    const severity = typeof level === 'string' || typeof level === 'number' ? (pino ? severityFromPino(level) : parseLevel(level)) : undefined
    if (severity) record.level = levelName(severity)
    const text = typeof message === 'string' ? message : typeof msg === 'string' ? msg : undefined
    const trace = TRACE_KEYS.map((k) => traceId(json[k])).find((t) => t !== undefined)
    const span = SPAN_KEYS.map((k) => spanId(json[k])).find((t) => t !== undefined)
    if (trace !== undefined) record.trace_id = trace
    if (span !== undefined) record.span_id = span
    if (text !== undefined) {
      record.message = text
      const used = new Set<string>([...TRACE_KEYS, ...SPAN_KEYS, typeof message === 'string' ? 'message' : 'msg'])
      if (severity) used.add('level')
      for (const [k, v] of Object.entries(json)) if (!used.has(k)) attributes.put(k, typeof v === 'string' ? v : JSON.stringify(v))
    }
  } else {
    const lambda = LAMBDA_NODE.exec(raw)?.[1] ?? LAMBDA_PYTHON.exec(raw)?.[1]
    const severity = lambda === undefined ? undefined : parseLevel(lambda)
    if (severity) record.level = levelName(severity)
  }
  record.attributes = attributes.toObject()
  return { providerId: e.eventId || fallbackId(e, timeMs), timeMs, record }
}

function levelName(s: Severity): string {
  return s.text.toLowerCase()
}

function jsonObject(message: string): Record<string, unknown> | undefined {
  if (!message.trimStart().startsWith('{')) return undefined
  try {
    const v: unknown = JSON.parse(message)
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** 32 hex digits, or an X-Ray id (1-<epoch hex>-<random>), whose digits are the W3C trace id. */
function traceId(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined
  const xray = XRAY.exec(v)
  const hex = xray ? `${xray[1]}${xray[2]}` : v
  return HEX32.test(hex) && !ZEROS.test(hex) ? hex.toLowerCase() : undefined
}

function spanId(v: unknown): string | undefined {
  return typeof v === 'string' && HEX16.test(v) && !ZEROS.test(v) ? v.toLowerCase() : undefined
}

/** AWS always sends eventId; should one lack it, an id from what identifies it, stable across re-reads. */
function fallbackId(e: FilteredLogEvent, timeMs: number): string {
  const h = createHash('sha256').update(JSON.stringify([e.logStreamName ?? '', timeMs, e.ingestionTime ?? 0, e.message ?? ''])).digest('hex')
  return `sha256:${h.slice(0, 32)}`
}

/** Attributes in priority order (first wins), within what validateLogInput takes (the rest is dropped). */
class Attributes {
  readonly #m = new Map<string, string>()
  put(key: string, value: string): void {
    if (key.length === 0 || key.length > MAX_KEY_CHARS || this.#m.has(key) || this.#m.size >= MAX_ATTRIBUTES) return
    this.#m.set(key, value)
  }
  toObject(): Record<string, string> {
    return Object.fromEntries(this.#m)
  }
}

// ---- errors ----

/** Error codes (`__type`) by what the poller should do; anything else goes by HTTP status. */
const KINDS: Readonly<Record<string, ProviderErrorKind>> = {
  ThrottlingException: 'throttled',
  Throttling: 'throttled',
  TooManyRequestsException: 'throttled',
  RequestLimitExceeded: 'throttled',
  LimitExceededException: 'throttled',
  UnrecognizedClientException: 'auth',
  InvalidSignatureException: 'auth',
  SignatureDoesNotMatch: 'auth',
  IncompleteSignature: 'auth',
  InvalidClientTokenId: 'auth',
  ExpiredTokenException: 'auth',
  ExpiredToken: 'auth',
  MissingAuthenticationTokenException: 'auth',
  AccessDeniedException: 'auth',
  AccessDenied: 'auth',
  NotAuthorized: 'auth',
  ResourceNotFoundException: 'bad_request',
  InvalidParameterException: 'bad_request',
  ValidationException: 'bad_request',
  InvalidOperationException: 'bad_request',
  SerializationException: 'bad_request',
  UnknownOperationException: 'bad_request',
  ServiceUnavailableException: 'unavailable',
  InternalServerException: 'unavailable',
  InternalFailure: 'unavailable',
  OperationAbortedException: 'unavailable',
}

/** What the SDK rejects with: a modelled or generic service exception, a deserialization error, a Node network error. */
interface SdkError {
  name?: string
  message?: string
  code?: string
  $fault?: 'client' | 'server'
  $metadata?: { httpStatusCode?: number; clockSkewCorrected?: boolean }
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> }
}

function toProviderError(err: unknown, signal: AbortSignal, secrets: readonly string[]): ProviderError {
  if (signal.aborted) return aborted(signal)
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as SdkError
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode
  const name = e.name && e.name !== 'Error' ? e.name : undefined
  // A response that was not AWS JSON (a proxy's or load balancer's page): the status tells.
  const deserialization = name === 'SyntaxError' || (e.message ?? '').includes('Deserialization error')
  const code = (!deserialization && name) || (status !== undefined ? `HTTP ${status}` : e.code || 'ERROR')
  const message = deserialization
    ? `CloudWatch Logs answered HTTP ${status ?? '?'} with a body that is not AWS JSON`
    : `CloudWatch Logs ${code}: ${redact(e.message ?? 'unknown error', secrets)}`
  if (name === 'TimeoutError') return new ProviderError('unavailable', 'TIMEOUT', 'CloudWatch Logs call timed out')
  let kind = (!deserialization && name !== undefined ? KINDS[name] : undefined) ?? kindOfStatus(status)
  // The SDK moved its clock to the server's (Signature expired / not yet current): the next call
  // is signed right, so this is not a credentials problem to wait the longest backoff for.
  if (kind === 'auth' && e.$metadata?.clockSkewCorrected === true) kind = 'unavailable'
  if (kind === 'throttled') return new ProviderError(kind, code, message, parseRetryAfter(e.$response?.headers?.['retry-after']))
  return new ProviderError(kind, code, message)
}

function kindOfStatus(status: number | undefined): ProviderErrorKind {
  if (status === 429) return 'throttled'
  if (status === 401 || status === 403) return 'auth'
  if (status !== undefined && status >= 400 && status < 500) return 'bad_request'
  // 5xx, or no answer at all (connection refused or reset, DNS).
  return 'unavailable'
}

function aborted(signal: AbortSignal): ProviderError {
  const reason: unknown = signal.reason
  const timeout = reason instanceof Error && reason.name === 'TimeoutError'
  return new ProviderError('unavailable', timeout ? 'TIMEOUT' : 'ABORTED', timeout ? 'CloudWatch Logs call timed out' : 'CloudWatch Logs call aborted')
}

/**
 * Retry-After (seconds or an HTTP date). CloudWatch Logs itself never sends one — the poller then
 * backs off on its own — but a proxy or private endpoint in front of it may.
 */
export function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}

/** No credential material in an error message, whatever a server or library put there. */
function redact(text: string, secrets: readonly string[]): string {
  let out = text
  // Real secrets are long; a one-letter test value must not shred the message.
  for (const s of secrets) if (s.length >= 8) out = out.split(s).join('[redacted]')
  return out.replace(/Signature=[0-9a-f]+/gi, 'Signature=[redacted]')
}
