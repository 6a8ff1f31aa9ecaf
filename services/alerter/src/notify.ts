// Alert notifications: each alert state change (firing, acknowledged, resolved) is POSTed to every
// configured channel, a generic JSON webhook or a Slack-compatible incoming webhook.
// - Channels are independent: one notify() delivers to all of them concurrently, so a slow or
//   failing receiver never delays a healthy one. The body encoder and the per-channel state are
//   chosen once at construction; the send path does not branch on the channel kind.
// - Each HTTP request takes a token from the channel's bucket (maxPerMinute per rateWindowMs,
//   retries included, since the receiver counts requests). An empty bucket delays the request and
//   never drops it; tokens are reserved at request time, so waiting deliveries keep their order.
// - Transient failures (network errors, timeouts, 408, 429, 5xx) are retried with doubling backoff
//   and jitter, or after Retry-After on 429/503, both capped at maxBackoffMs. Other answers are
//   final. The idempotency key `<id>:<version>` lets a receiver drop a duplicate when a timed-out
//   attempt did arrive; receivers order state changes of one alert by `version`.
// - close() ends retry and rate-limit waits at once; a request already in flight finishes (it is
//   bounded by timeoutMs) rather than leaving the receiver's state unknown.
// - Every attempt is logged, counted and kept in a bounded in-memory history for the API.
// Channel URLs are never logged: Slack webhook URLs are secrets.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Alert, AlertSeverity, AlertStatus } from '@sluice/core'
import { errorMessage, formatNs } from '@sluice/core'
import type { Logger, Registry } from '@sluice/observability'
import { LATENCY_BUCKETS_SECONDS, counter, histogram } from '@sluice/observability'

export const CHANNEL_KINDS = ['webhook', 'slack'] as const
export type ChannelKind = (typeof CHANNEL_KINDS)[number]

export interface ChannelConfig {
  name: string
  kind: ChannelKind
  url: string
  maxPerMinute: number
}

export interface NotifierOptions {
  channels: ChannelConfig[]
  /** Extra attempts after the first. */
  retries: number
  initialBackoffMs: number
  maxBackoffMs: number
  /** Per HTTP attempt, response body included. */
  timeoutMs: number
  /** Delivery attempts kept in memory (default 1000). */
  historySize?: number
  /** The rate-limit window that maxPerMinute applies to (default 60000; tests shorten it). */
  rateWindowMs?: number
  registry: Registry
  logger: Logger
}

export interface DeliveryAttempt {
  channel: string
  alert_id: string
  version: number
  /** The alert status that was being delivered. */
  status: string
  attempt: number
  ok: boolean
  http_status: number | null
  error: string | null
  duration_ms: number
  /** When the attempt started, ISO-8601. */
  at: string
}

export interface DeliveryResult {
  channel: string
  delivered: boolean
  attempts: number
}

const USER_AGENT = 'sluice-alerter'
/** Characters of a receiver's answer kept in an attempt's error. */
const BODY_SNIPPET_CHARS = 300
/** End-to-end delivery can outlast the 30 s of the latency buckets when retries back off. */
const DELIVERY_BUCKETS_SECONDS = [...LATENCY_BUCKETS_SECONDS, 60, 120, 300]

/** What one HTTP attempt came to; the retry decision reads `canRetry` and `retryAfterMs`. */
interface Outcome {
  ok: boolean
  httpStatus: number | null
  error: string | null
  canRetry: boolean
  retryAfterMs: number | undefined
}

interface Channel {
  name: string
  url: string
  encode: (alert: Alert) => unknown
  bucket: TokenBucket
}

export class Notifier {
  readonly #channels: Channel[]
  readonly #o: { retries: number; initialBackoffMs: number; maxBackoffMs: number; timeoutMs: number; historySize: number }
  readonly #log: Logger
  readonly #closed = new AbortController()
  // Oldest first; attempts() reads it backwards. Notifications are rare, so shift() is cheap enough.
  readonly #history: DeliveryAttempt[] = []
  readonly #metrics

  constructor(opts: NotifierOptions) {
    const rateWindowMs = opts.rateWindowMs ?? 60_000
    if (opts.retries < 0 || opts.initialBackoffMs < 0 || opts.maxBackoffMs < 0 || opts.timeoutMs <= 0 || rateWindowMs <= 0) {
      throw new RangeError('retries and backoffs must be ≥ 0, timeoutMs and rateWindowMs > 0')
    }
    const names = new Set<string>()
    this.#channels = opts.channels.map((c) => {
      if (names.has(c.name)) throw new RangeError(`duplicate notification channel name ${c.name}`)
      names.add(c.name)
      if (!(c.maxPerMinute > 0)) throw new RangeError(`channel ${c.name}: maxPerMinute must be > 0`)
      if (!isHttpUrl(c.url)) throw new RangeError(`channel ${c.name}: url is not an http(s) URL`)
      return { name: c.name, url: c.url, encode: ENCODERS[c.kind], bucket: new TokenBucket(c.maxPerMinute, rateWindowMs) }
    })
    this.#o = {
      retries: opts.retries,
      initialBackoffMs: opts.initialBackoffMs,
      maxBackoffMs: opts.maxBackoffMs,
      timeoutMs: opts.timeoutMs,
      historySize: opts.historySize ?? 1000,
    }
    this.#log = opts.logger.child({ component: 'notifier' })
    this.#metrics = {
      notifications: counter(opts.registry, 'sluice_alerter_notifications_total', 'Alert notifications per channel, by result (delivered|failed).', ['channel', 'result']),
      attempts: counter(opts.registry, 'sluice_alerter_notification_attempts_total', 'HTTP attempts to deliver alert notifications, by result (ok|error).', ['channel', 'result']),
      seconds: histogram(
        opts.registry,
        'sluice_alerter_notification_seconds',
        'Time from notify() to delivered or given up, retries and rate-limit waits included.',
        DELIVERY_BUCKETS_SECONDS,
        ['channel'],
      ),
    }
  }

  /** Delivers one alert state change to every channel, concurrently per channel; resolves when each channel delivered or gave up. Never rejects. */
  notify(alert: Alert): Promise<DeliveryResult[]> {
    return Promise.all(this.#channels.map((ch) => this.#deliver(ch, alert)))
  }

  /** Recent delivery attempts, newest first, optionally for one alert id. */
  attempts(alertId?: string): DeliveryAttempt[] {
    const out: DeliveryAttempt[] = []
    for (let i = this.#history.length - 1; i >= 0; i--) {
      const a = this.#history[i]!
      if (alertId === undefined || a.alert_id === alertId) out.push({ ...a })
    }
    return out
  }

  /** Stops waiting retries/rate-limit sleeps promptly (pending notify() calls resolve with delivered:false). */
  close(): void {
    this.#closed.abort()
  }

  async #deliver(ch: Channel, alert: Alert): Promise<DeliveryResult> {
    const startedAt = performance.now()
    let attempts = 0
    let delivered = false
    try {
      const body = JSON.stringify(ch.encode(alert))
      const key = `${alert.id}:${alert.version}`
      for (;;) {
        await this.#wait(ch.bucket.reserve())
        attempts++
        const at = new Date()
        const t0 = performance.now()
        const outcome = await this.#send(ch.url, body, key)
        const willRetry = outcome.canRetry && attempts <= this.#o.retries && !this.#closed.signal.aborted
        this.#record(ch, alert, attempts, outcome, at, performance.now() - t0, willRetry)
        if (outcome.ok) {
          delivered = true
          break
        }
        if (!willRetry) break
        await this.#wait(Math.min(this.#o.maxBackoffMs, outcome.retryAfterMs ?? this.#backoffMs(attempts)))
      }
    } catch (err) {
      // An aborted wait is close(); anything else is a bug here, not a receiver failure.
      if (!this.#closed.signal.aborted) this.#log.error({ err, channel: ch.name, alert_id: alert.id }, 'alert notification failed unexpectedly')
    }
    this.#metrics.notifications.inc({ channel: ch.name, result: delivered ? 'delivered' : 'failed' })
    this.#metrics.seconds.observe({ channel: ch.name }, (performance.now() - startedAt) / 1000)
    return { channel: ch.name, delivered, attempts }
  }

  /** Resolves after ms, or rejects at once when the notifier is closed. */
  async #wait(ms: number): Promise<void> {
    this.#closed.signal.throwIfAborted()
    if (ms > 0) await sleep(ms, undefined, { signal: this.#closed.signal })
  }

  /** Doubling from initialBackoffMs, capped, with equal jitter: half fixed, half random. */
  #backoffMs(attempt: number): number {
    const base = Math.min(this.#o.maxBackoffMs, this.#o.initialBackoffMs * 2 ** (attempt - 1))
    return base / 2 + (Math.random() * base) / 2
  }

  async #send(url: string, body: string, idempotencyKey: string): Promise<Outcome> {
    let res: Response
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey, 'user-agent': USER_AGENT },
        body,
        // A redirected POST may turn into a GET and lose the body: a moved URL is a config error.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      })
    } catch (err) {
      const error = err instanceof Error && err.name === 'TimeoutError' ? `timed out after ${this.#o.timeoutMs} ms` : networkError(err)
      return { ok: false, httpStatus: null, error, canRetry: true, retryAfterMs: undefined }
    }
    // Always read (a capped part of) the answer so the connection can be reused.
    const text = await readSnippet(res, BODY_SNIPPET_CHARS)
    const status = res.status
    if (status >= 200 && status < 300) return { ok: true, httpStatus: status, error: null, canRetry: false, retryAfterMs: undefined }
    return {
      ok: false,
      httpStatus: status,
      error: text === '' ? `HTTP ${status}` : `HTTP ${status}: ${text}`,
      canRetry: status === 408 || status === 429 || status >= 500,
      retryAfterMs: status === 429 || status === 503 ? parseRetryAfterMs(res.headers.get('retry-after')) : undefined,
    }
  }

  #record(ch: Channel, alert: Alert, attempt: number, o: Outcome, at: Date, durationMs: number, willRetry: boolean): void {
    const entry: DeliveryAttempt = {
      channel: ch.name,
      alert_id: alert.id,
      version: alert.version,
      status: alert.status,
      attempt,
      ok: o.ok,
      http_status: o.httpStatus,
      error: o.error,
      duration_ms: Math.round(durationMs),
      at: at.toISOString(),
    }
    this.#history.push(entry)
    while (this.#history.length > this.#o.historySize) this.#history.shift()
    this.#metrics.attempts.inc({ channel: ch.name, result: o.ok ? 'ok' : 'error' })
    const fields = { channel: ch.name, alert_id: alert.id, version: alert.version, attempt, http_status: o.httpStatus, duration_ms: entry.duration_ms }
    if (o.ok) this.#log.debug(fields, 'alert notification delivered')
    else this.#log.warn({ ...fields, error: o.error, will_retry: willRetry }, 'alert notification attempt failed')
  }
}

/** Channels from the config lists, named by kind and position: webhook-1, webhook-2, slack-1, … */
export function parseChannels(spec: { webhookUrls: string[]; slackUrls: string[]; maxPerMinute: number }): ChannelConfig[] {
  const list = (kind: ChannelKind, urls: string[]): ChannelConfig[] =>
    urls
      .map((u) => u.trim())
      .filter((u) => u !== '')
      .map((url, i) => ({ name: `${kind}-${i + 1}`, kind, url, maxPerMinute: spec.maxPerMinute }))
  return [...list('webhook', spec.webhookUrls), ...list('slack', spec.slackUrls)]
}

/**
 * Token bucket of `capacity` tokens refilled evenly over `windowMs`. reserve() takes a token now,
 * going into debt when empty, and returns how long the caller must wait for it, so concurrent
 * callers are spaced out in the order they asked.
 */
class TokenBucket {
  readonly #capacity: number
  readonly #perMs: number
  #tokens: number
  #updatedAt = performance.now()

  constructor(capacity: number, windowMs: number) {
    this.#capacity = capacity
    this.#perMs = capacity / windowMs
    this.#tokens = capacity
  }

  reserve(): number {
    const now = performance.now()
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#updatedAt) * this.#perMs) - 1
    this.#updatedAt = now
    return this.#tokens >= 0 ? 0 : -this.#tokens / this.#perMs
  }
}

// Generic webhook body. Timestamps (epoch ns in the model) become RFC 3339 strings with
// nanoseconds; every other Alert field is passed as-is. Headers: content-type: application/json,
// idempotency-key: <id>:<version>, user-agent: sluice-alerter.
//   {
//     "idempotency_key": "0f3c…e1:3",
//     "alert": {
//       "id": "0f3c…e1", "tenant": "acme", "rule_id": "checkout-errors", "rule_name": "Checkout error rate",
//       "rule_kind": "error_rate", "service": "checkout", "pattern_id": null, "severity": "critical",
//       "status": "firing", "value": 0.12, "threshold": 0.05,
//       "window_start": "2026-11-23T12:00:00.000000000Z", "window_end": "2026-11-23T12:05:00.000000000Z",
//       "started_at": "2026-11-23T12:05:00.000000000Z", "updated_at": "2026-11-23T12:05:00.000000000Z",
//       "resolved_at": null, "acknowledged_by": null, "summary": "…", "sample_log_ids": ["…"], "version": 3
//     }
//   }
type TimestampField = 'window_start' | 'window_end' | 'started_at' | 'updated_at' | 'resolved_at'
export type AlertJson = Omit<Alert, TimestampField> & Record<Exclude<TimestampField, 'resolved_at'>, string> & { resolved_at: string | null }

/** An alert as JSON (webhook bodies, the alerter's HTTP API): nanosecond timestamps as RFC 3339 strings. */
export function alertToJson(alert: Alert): AlertJson {
  return {
    ...alert,
    window_start: formatNs(alert.window_start),
    window_end: formatNs(alert.window_end),
    started_at: formatNs(alert.started_at),
    updated_at: formatNs(alert.updated_at),
    resolved_at: alert.resolved_at === null ? null : formatNs(alert.resolved_at),
  }
}

function webhookBody(alert: Alert): { idempotency_key: string; alert: AlertJson } {
  return { idempotency_key: `${alert.id}:${alert.version}`, alert: alertToJson(alert) }
}

// Slack incoming-webhook body (Block Kit; also accepted by Slack-compatible receivers such as
// Mattermost). Slack answers 200 with the body `ok`. `text` is the notification fallback.
//   {
//     "text": "[FIRING] Checkout error rate: acme/checkout, value 0.12 (threshold 0.05)",
//     "blocks": [
//       { "type": "section", "text": { "type": "mrkdwn", "text": ":rotating_light: *[FIRING] Checkout error rate* (critical)" } },
//       { "type": "section", "fields": [
//           { "type": "mrkdwn", "text": "*Tenant / service*\nacme / checkout" },
//           { "type": "mrkdwn", "text": "*Value*\n0.12 (threshold 0.05)" },
//           { "type": "mrkdwn", "text": "*Rule*\nerror_rate `checkout-errors`" },
//           { "type": "mrkdwn", "text": "*Since*\n2026-11-23T12:05:00.000Z" } ] },
//       { "type": "section", "text": { "type": "mrkdwn", "text": "<summary>" } },
//       { "type": "context", "elements": [ { "type": "mrkdwn", "text": "alert `0f3c…e1` · version 3" } ] }
//     ]
//   }
const STATUS_EMOJI: Record<Exclude<AlertStatus, 'firing'>, string> = { acknowledged: ':eyes:', resolved: ':white_check_mark:' }
const SEVERITY_EMOJI: Record<AlertSeverity, string> = { critical: ':rotating_light:', warning: ':warning:', info: ':information_source:' }
/** Slack rejects section texts over 3000 characters. */
const SLACK_SECTION_CHARS = 2900

function slackBody(alert: Alert): { text: string; blocks: unknown[] } {
  const label = `[${alert.status.toUpperCase()}]`
  const emoji = alert.status === 'firing' ? SEVERITY_EMOJI[alert.severity] : STATUS_EMOJI[alert.status]
  const rule = mrkdwn(alert.rule_name)
  const where = `${mrkdwn(alert.tenant)} / ${mrkdwn(alert.service)}`
  const value = `${formatNumber(alert.value)} (threshold ${formatNumber(alert.threshold)})`
  const when = alert.resolved_at === null ? { title: 'Since', ns: alert.started_at } : { title: 'Resolved', ns: alert.resolved_at }
  const context = [`alert \`${mrkdwn(alert.id)}\``, `version ${alert.version}`]
  if (alert.acknowledged_by !== null) context.push(`acknowledged by ${mrkdwn(alert.acknowledged_by)}`)
  const summary = mrkdwn(alert.summary).slice(0, SLACK_SECTION_CHARS)
  return {
    text: `${label} ${rule}: ${mrkdwn(alert.tenant)}/${mrkdwn(alert.service)}, value ${value}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `${emoji} *${label} ${rule}* (${alert.severity})` } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Tenant / service*\n${where}` },
          { type: 'mrkdwn', text: `*Value*\n${value}` },
          { type: 'mrkdwn', text: `*Rule*\n${alert.rule_kind} \`${mrkdwn(alert.rule_id)}\`` },
          { type: 'mrkdwn', text: `*${when.title}*\n${new Date(Number(when.ns / 1_000_000n)).toISOString()}` },
        ],
      },
      // Slack rejects an empty section text.
      ...(summary === '' ? [] : [{ type: 'section', text: { type: 'mrkdwn', text: summary } }]),
      { type: 'context', elements: [{ type: 'mrkdwn', text: context.join(' · ') }] },
    ],
  }
}

const ENCODERS: Record<ChannelKind, (alert: Alert) => unknown> = { webhook: webhookBody, slack: slackBody }

/** Slack's mrkdwn control characters; templates such as `took <*> ms` would otherwise read as links. */
function mrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(4)))
}

function isHttpUrl(s: string): boolean {
  return URL.canParse(s) && /^https?:$/.test(new URL(s).protocol)
}

/** Retry-After in delta-seconds or as an HTTP date; undefined when absent or unreadable. */
function parseRetryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined
  const s = header.trim()
  if (/^\d+$/.test(s)) return Number(s) * 1000
  const at = Date.parse(s)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}

/** undici reports every network failure as "fetch failed"; the cause says which. */
function networkError(err: unknown): string {
  const cause = err instanceof Error ? err.cause : undefined
  return cause === undefined ? errorMessage(err) : `${errorMessage(err)}: ${errorMessage(cause)}`
}

/** The start of a response body, whitespace collapsed; the rest is discarded unread. */
async function readSnippet(res: Response, maxChars: number): Promise<string> {
  if (res.body === null) return ''
  const reader = res.body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  try {
    while (text.length < maxChars) {
      const { done, value } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
    }
  } catch {
    // A body cut off by the timeout or the peer: keep what arrived.
  } finally {
    reader.cancel().catch(() => undefined)
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, maxChars)
}
