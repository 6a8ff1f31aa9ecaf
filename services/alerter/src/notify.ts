// Alert notifications: each alert state change (firing, acknowledged, resolved) goes to every
// channel that routes it: a generic JSON webhook (or a templated one), Slack, Microsoft Teams or
// email. Channels come from the environment (read-only, every tenant) and from the channels API
// (one tenant each), and can be added, changed and removed while the alerter runs.
// - Routing: a channel takes the alerts of its tenant that pass its filter (severities, services,
//   rule ids and kinds, statuses), except in its quiet hours, when they are muted (not sent).
// - Grouping: with `group.wait_ms` > 0 the first alert of a group (same tenant and `group.by`
//   fields) waits that long for others, and they go out as one message; later alerts of the group
//   wait until `group.interval_ms` after the last message (Alertmanager's group_wait/interval).
// - Channels are independent: a slow or failing receiver never delays a healthy one. Each request
//   (retries included) takes a token from the channel's bucket (max_per_minute); an empty bucket
//   delays the request and never drops it, and waiting deliveries keep their order.
// - Transient failures (network errors, timeouts, HTTP 408/429/5xx, SMTP 4xx) are retried with
//   doubling backoff and jitter, or after Retry-After on 429/503, both capped at maxBackoffMs.
//   Other answers are final. The idempotency key (`<id>:<version>`, `group:<hash>` for a group;
//   the Message-ID of an email) lets a receiver drop a duplicate of an attempt that timed out.
// - close() ends retry, rate-limit and group waits at once; a request already in flight finishes
//   (it is bounded by timeoutMs) rather than leaving the receiver's state unknown.
// - Every attempt is logged, counted and kept in a bounded in-memory history for the API.
// Channel URLs, headers and passwords are never logged: they are secrets.
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Alert } from '@sluice/core'
import { SluiceError, errorMessage } from '@sluice/core'
import type { Logger, Registry } from '@sluice/observability'
import { LATENCY_BUCKETS_SECONDS, counter, histogram } from '@sluice/observability'
import { channelSchema, groupKey, inQuietHours, matchesFilter } from './channels.js'
import type { ChannelSpec } from './channels.js'
import { EmailSender, renderAlertEmail } from './email.js'
import { alertToJson, renderTemplate, slackBody, teamsBody, webhookBody } from './messages.js'

export { alertToJson } from './messages.js'
export type { AlertJson } from './messages.js'

/** A channel from the environment (ALERTER_WEBHOOK_URLS, ALERTER_SLACK_WEBHOOK_URLS). */
export interface ChannelConfig {
  name: string
  kind: 'webhook' | 'slack'
  url: string
  maxPerMinute: number
}

export interface NotifierOptions {
  /** The environment's channels: read-only, for every tenant. */
  channels: ChannelConfig[]
  /** Extra attempts after the first. */
  retries: number
  initialBackoffMs: number
  maxBackoffMs: number
  /** Per attempt (an HTTP request with its response body, an SMTP conversation). */
  timeoutMs: number
  /** Delivery attempts kept in memory (default 1000). */
  historySize?: number
  /** The rate-limit window that max_per_minute applies to (default 60000; tests shorten it). */
  rateWindowMs?: number
  /** max_per_minute of channels that set none (default 30). */
  defaultMaxPerMinute?: number
  /** The sender of email channels that set no `from`. */
  emailFrom?: string
  registry: Registry
  logger: Logger
}

export interface DeliveryAttempt {
  channel: string
  /** The channel's tenant; null for a channel from the environment. */
  tenant: string | null
  /** The alert's tenant: an environment channel carries every tenant's alerts. */
  alert_tenant: string
  alert_id: string
  version: number
  /** The alert status that was being delivered. */
  status: string
  attempt: number
  ok: boolean
  http_status: number | null
  smtp_code: number | null
  error: string | null
  duration_ms: number
  /** When the attempt started, ISO-8601. */
  at: string
}

export interface DeliveryResult {
  channel: string
  delivered: boolean
  attempts: number
  /** Present (true) when the channel's quiet hours held the notification back. */
  muted?: true
}

/** What a channel test came to: one attempt, no retry, the receiver's answer. */
export interface TestResult {
  delivered: boolean
  http_status: number | null
  smtp_code: number | null
  error: string | null
  response: string | null
  duration_ms: number
}

/** A channel as the notifier holds it. */
export interface ChannelEntry {
  tenant: string | null
  source: 'env' | 'api'
  spec: ChannelSpec
}

const USER_AGENT = 'sluice-alerter'
/** Characters of a receiver's answer kept in an attempt's error. */
const BODY_SNIPPET_CHARS = 300
/** End-to-end delivery can outlast the 30 s of the latency buckets when retries back off. */
const DELIVERY_BUCKETS_SECONDS = [...LATENCY_BUCKETS_SECONDS, 60, 120, 300]

/** What one attempt came to; the retry decision reads `canRetry` and `retryAfterMs`. */
interface Outcome {
  ok: boolean
  httpStatus: number | null
  smtpCode: number | null
  error: string | null
  /** The start of the receiver's answer. */
  response: string | null
  canRetry: boolean
  retryAfterMs: number | undefined
}

/** Sends one message (for one alert or a group) through a channel. */
interface Transport {
  send(alerts: Alert[], idempotencyKey: string): Promise<Outcome>
  close(): void
}

interface Waiting {
  alert: Alert
  waiters: Array<(r: DeliveryResult) => void>
}

interface PendingGroup {
  alerts: Map<string, Waiting>
  timer: NodeJS.Timeout
}

interface Channel extends ChannelEntry {
  /** Label of metrics and attempts: the name, "<tenant>/<name>" for an API channel. */
  id: string
  transport: Transport
  bucket: TokenBucket
  pending: Map<string, PendingGroup>
  /** When each group's last message went out (Date.now()), for group.interval_ms. */
  lastSent: Map<string, number>
}

const channelKey = (tenant: string | null, name: string) => `${tenant ?? '*'}|${name}`

export class Notifier {
  readonly #channels = new Map<string, Channel>()
  readonly #o: { retries: number; initialBackoffMs: number; maxBackoffMs: number; timeoutMs: number; historySize: number; rateWindowMs: number; defaultMaxPerMinute: number; emailFrom: string }
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
    this.#o = {
      retries: opts.retries,
      initialBackoffMs: opts.initialBackoffMs,
      maxBackoffMs: opts.maxBackoffMs,
      timeoutMs: opts.timeoutMs,
      historySize: opts.historySize ?? 1000,
      rateWindowMs,
      defaultMaxPerMinute: opts.defaultMaxPerMinute ?? 30,
      emailFrom: opts.emailFrom ?? 'sluice-alerter@localhost',
    }
    this.#log = opts.logger.child({ component: 'notifier' })
    this.#metrics = {
      notifications: counter(opts.registry, 'sluice_alerter_notifications_total', 'Alert notifications per channel, by result (delivered|failed|muted).', ['channel', 'result']),
      attempts: counter(opts.registry, 'sluice_alerter_notification_attempts_total', 'Attempts to deliver alert notifications, by result (ok|error).', ['channel', 'result']),
      seconds: histogram(
        opts.registry,
        'sluice_alerter_notification_seconds',
        'Time from notify() to delivered or given up, retries, rate-limit and group waits included.',
        DELIVERY_BUCKETS_SECONDS,
        ['channel'],
      ),
    }
    for (const c of opts.channels) {
      if (this.#channels.has(channelKey(null, c.name))) throw new RangeError(`duplicate notification channel name ${c.name}`)
      if (!(c.maxPerMinute > 0)) throw new RangeError(`channel ${c.name}: maxPerMinute must be > 0`)
      if (!isHttpUrl(c.url)) throw new RangeError(`channel ${c.name}: url is not an http(s) URL`)
      this.set({ tenant: null, source: 'env', spec: channelSchema.parse({ name: c.name, kind: c.kind, url: c.url, max_per_minute: c.maxPerMinute }) })
    }
  }

  /** Adds or replaces a channel (group waits of the replaced one are sent with the new settings). */
  set(entry: ChannelEntry): void {
    const key = channelKey(entry.tenant, entry.spec.name)
    const previous = this.#channels.get(key)
    const ch: Channel = {
      ...entry,
      id: entry.tenant === null ? entry.spec.name : `${entry.tenant}/${entry.spec.name}`,
      transport: this.#transport(entry.spec),
      bucket: new TokenBucket(entry.spec.max_per_minute ?? this.#o.defaultMaxPerMinute, this.#o.rateWindowMs),
      pending: previous?.pending ?? new Map(),
      lastSent: previous?.lastSent ?? new Map(),
    }
    this.#channels.set(key, ch)
    previous?.transport.close()
  }

  /** Removes a channel; alerts waiting in its groups are sent first. */
  remove(tenant: string | null, name: string): void {
    const key = channelKey(tenant, name)
    const ch = this.#channels.get(key)
    if (ch === undefined) return
    this.#channels.delete(key)
    for (const [gk, g] of ch.pending) this.#flush(ch, gk, g)
    ch.transport.close()
  }

  get(tenant: string | null, name: string): ChannelEntry | undefined {
    return this.#channels.get(channelKey(tenant, name))
  }

  /** The channels a tenant's alerts can reach: the environment's and the tenant's own. */
  list(tenant?: string): ChannelEntry[] {
    return [...this.#channels.values()].filter((c) => tenant === undefined || c.tenant === null || c.tenant === tenant)
  }

  /** The channels an alert state change goes to now: name and whether quiet hours mute it there. */
  route(alert: Alert, at = new Date()): Array<{ channel: string; muted: boolean }> {
    return this.#routed(alert).map((c) => ({ channel: c.spec.name, muted: inQuietHours(c.spec.quiet_hours, c.spec.timezone, at) }))
  }

  /** Delivers one alert state change to every channel that routes it; resolves when each delivered, gave up or muted it. Never rejects. */
  notify(alert: Alert): Promise<DeliveryResult[]> {
    const at = new Date()
    return Promise.all(
      this.#routed(alert).map((ch): Promise<DeliveryResult> => {
        if (inQuietHours(ch.spec.quiet_hours, ch.spec.timezone, at)) {
          this.#metrics.notifications.inc({ channel: ch.id, result: 'muted' })
          this.#log.info({ channel: ch.id, alert_id: alert.id, version: alert.version }, 'alert notification muted by quiet hours')
          return Promise.resolve({ channel: ch.spec.name, delivered: false, attempts: 0, muted: true })
        }
        return ch.spec.group.wait_ms > 0 ? this.#enqueue(ch, alert) : this.#deliver(ch, [alert], `${alert.id}:${alert.version}`)
      }),
    )
  }

  /** Sends a test message through a channel: one attempt, no retry, the receiver's answer. */
  async test(tenant: string | null, name: string, alert: Alert): Promise<TestResult | undefined> {
    const ch = this.#channels.get(channelKey(tenant, name))
    if (ch === undefined) return undefined
    // A person waits for the answer: over the channel's rate it is a 429 now, not a wait of a minute.
    const waitMs = ch.bucket.take()
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000)
      throw new SluiceError('RATE_LIMITED', `channel ${name} is at its limit of ${ch.spec.max_per_minute ?? this.#o.defaultMaxPerMinute} messages a minute; test again in ${seconds} s`, { canRetry: true, retryAfterSeconds: seconds })
    }
    const t0 = performance.now()
    const o = await ch.transport.send([alert], `${alert.id}:${alert.version}`)
    this.#record(ch, [alert], 1, o, new Date(), performance.now() - t0, false)
    return { delivered: o.ok, http_status: o.httpStatus, smtp_code: o.smtpCode, error: o.error, response: o.response, duration_ms: Math.round(performance.now() - t0) }
  }

  /** Sends every waiting group now (a shutdown does this before its last checkpoint). */
  flushGroups(): void {
    for (const ch of this.#channels.values()) for (const [gk, g] of ch.pending) this.#flush(ch, gk, g)
  }

  /**
   * Recent delivery attempts, newest first, optionally for one alert id or one tenant's alerts (on
   * its channels and the environment's, which carry every tenant's alerts).
   */
  attempts(filter: { alertId?: string | undefined; tenant?: string | undefined } = {}): DeliveryAttempt[] {
    const out: DeliveryAttempt[] = []
    for (let i = this.#history.length - 1; i >= 0; i--) {
      const a = this.#history[i]!
      if (filter.alertId !== undefined && a.alert_id !== filter.alertId) continue
      if (filter.tenant !== undefined && a.alert_tenant !== filter.tenant) continue
      out.push({ ...a })
    }
    return out
  }

  /** Stops waiting retries, rate-limit sleeps and groups promptly (their notify() calls resolve with delivered:false). */
  close(): void {
    this.#closed.abort()
    for (const ch of this.#channels.values()) {
      for (const g of ch.pending.values()) {
        clearTimeout(g.timer)
        for (const w of g.alerts.values()) for (const resolve of w.waiters) resolve({ channel: ch.spec.name, delivered: false, attempts: 0 })
      }
      ch.pending.clear()
      ch.transport.close()
    }
  }

  #routed(alert: Alert): Channel[] {
    return [...this.#channels.values()].filter((c) => (c.tenant === null || c.tenant === alert.tenant) && c.spec.enabled && matchesFilter(c.spec.filter, alert))
  }

  /** Adds an alert to its group's waiting message; resolves when that message was delivered or given up. */
  #enqueue(ch: Channel, alert: Alert): Promise<DeliveryResult> {
    const gk = groupKey(ch.spec.group.by, alert)
    return new Promise((resolve) => {
      const group = ch.pending.get(gk)
      if (group !== undefined) {
        const w = group.alerts.get(alert.id)
        // One alert twice in a group (fired, then resolved): the message shows its latest state.
        if (w === undefined) group.alerts.set(alert.id, { alert, waiters: [resolve] })
        else {
          if (alert.version > w.alert.version) w.alert = alert
          w.waiters.push(resolve)
        }
        return
      }
      const now = Date.now()
      const last = ch.lastSent.get(gk)
      const due = Math.max(now + ch.spec.group.wait_ms, last === undefined ? 0 : last + ch.spec.group.interval_ms)
      const g: PendingGroup = { alerts: new Map([[alert.id, { alert, waiters: [resolve] }]]), timer: setTimeout(() => this.#flush(ch, gk, g), due - now) }
      ch.pending.set(gk, g)
    })
  }

  #flush(ch: Channel, gk: string, g: PendingGroup): void {
    clearTimeout(g.timer)
    if (ch.pending.get(gk) === g) ch.pending.delete(gk)
    const now = Date.now()
    ch.lastSent.set(gk, now)
    // Forget groups quiet for longer than their interval, so the map stays as small as the active groups.
    if (ch.lastSent.size > 1000) for (const [k, t] of ch.lastSent) if (now - t > ch.spec.group.interval_ms) ch.lastSent.delete(k)
    const waiting = [...g.alerts.values()]
    const alerts = waiting.map((w) => w.alert)
    const key = alerts.length === 1 ? `${alerts[0]!.id}:${alerts[0]!.version}` : groupIdempotencyKey(alerts)
    void this.#deliver(ch, alerts, key).then((r) => {
      for (const w of waiting) for (const resolve of w.waiters) resolve(r)
    })
  }

  async #deliver(ch: Channel, alerts: Alert[], key: string): Promise<DeliveryResult> {
    const startedAt = performance.now()
    let attempts = 0
    let delivered = false
    try {
      for (;;) {
        await this.#wait(ch.bucket.reserve())
        attempts++
        const at = new Date()
        const t0 = performance.now()
        const outcome = await ch.transport.send(alerts, key)
        const willRetry = outcome.canRetry && attempts <= this.#o.retries && !this.#closed.signal.aborted
        this.#record(ch, alerts, attempts, outcome, at, performance.now() - t0, willRetry)
        if (outcome.ok) {
          delivered = true
          break
        }
        if (!willRetry) break
        await this.#wait(Math.min(this.#o.maxBackoffMs, outcome.retryAfterMs ?? this.#backoffMs(attempts)))
      }
    } catch (err) {
      // An aborted wait is close(); anything else is a bug here, not a receiver failure.
      if (!this.#closed.signal.aborted) this.#log.error({ err, channel: ch.id, alert_ids: alerts.map((a) => a.id) }, 'alert notification failed unexpectedly')
    }
    this.#metrics.notifications.inc({ channel: ch.id, result: delivered ? 'delivered' : 'failed' })
    this.#metrics.seconds.observe({ channel: ch.id }, (performance.now() - startedAt) / 1000)
    return { channel: ch.spec.name, delivered, attempts }
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

  #transport(spec: ChannelSpec): Transport {
    switch (spec.kind) {
      case 'webhook': {
        const template = spec.template
        return this.#http(spec.url, spec.headers ?? {}, template === undefined ? webhookBody : (alerts, key) => renderTemplate(template, alerts, key))
      }
      case 'slack':
        return this.#http(spec.url, {}, slackBody)
      case 'teams':
        return this.#http(spec.url, {}, teamsBody)
      case 'email': {
        const smtp = spec.smtp
        const sender = new EmailSender(
          { smtp: { host: smtp.host, port: smtp.port, security: smtp.security, user: smtp.user, password: smtp.password, verifyCertificate: smtp.verify_certificate }, from: spec.from ?? this.#o.emailFrom, to: spec.to },
          { timeoutMs: this.#o.timeoutMs },
        )
        return {
          send: async (alerts, key) => {
            const o = await sender.send(renderAlertEmail(alerts.map(alertToJson)), key)
            return { ok: o.ok, httpStatus: null, smtpCode: o.code, error: o.error, response: o.response, canRetry: o.canRetry, retryAfterMs: undefined }
          },
          close: () => sender.close(),
        }
      }
    }
  }

  #http(url: string, headers: Record<string, string>, encode: (alerts: Alert[], key: string) => unknown): Transport {
    return { send: (alerts, key) => this.#post(url, headers, JSON.stringify(encode(alerts, key)), key), close: () => undefined }
  }

  async #post(url: string, extraHeaders: Record<string, string>, body: string, idempotencyKey: string): Promise<Outcome> {
    const target = new URL(url)
    // A channel's headers replace ours by name, whatever their case (a Content-Type of its own).
    const headers = new Headers({ 'content-type': 'application/json', 'idempotency-key': idempotencyKey, 'user-agent': USER_AGENT })
    for (const [k, v] of Object.entries(extraHeaders)) headers.set(k, v)
    // user:password@ in the URL is Basic authentication, as curl and Go's client send it (fetch refuses such a URL).
    if (target.username !== '' || target.password !== '') {
      if (!headers.has('authorization')) headers.set('authorization', `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`)
      target.username = ''
      target.password = ''
    }
    let res: Response
    try {
      res = await fetch(target, {
        method: 'POST',
        headers,
        body,
        // A redirected POST may turn into a GET and lose the body: a moved URL is a config error.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      })
    } catch (err) {
      const error = err instanceof Error && err.name === 'TimeoutError' ? `timed out after ${this.#o.timeoutMs} ms` : networkError(err)
      return { ok: false, httpStatus: null, smtpCode: null, error, response: null, canRetry: true, retryAfterMs: undefined }
    }
    // Always read (a capped part of) the answer so the connection can be reused.
    const text = await readSnippet(res, BODY_SNIPPET_CHARS)
    const status = res.status
    const response = text === '' ? null : text
    if (status >= 200 && status < 300) return { ok: true, httpStatus: status, smtpCode: null, error: null, response, canRetry: false, retryAfterMs: undefined }
    return {
      ok: false,
      httpStatus: status,
      smtpCode: null,
      error: text === '' ? `HTTP ${status}` : `HTTP ${status}: ${text}`,
      response,
      canRetry: status === 408 || status === 429 || status >= 500,
      retryAfterMs: status === 429 || status === 503 ? parseRetryAfterMs(res.headers.get('retry-after')) : undefined,
    }
  }

  #record(ch: Channel, alerts: Alert[], attempt: number, o: Outcome, at: Date, durationMs: number, willRetry: boolean): void {
    // A group's message is one attempt for each of its alerts, so every alert's history shows it.
    for (const alert of alerts) {
      this.#history.push({
        channel: ch.spec.name,
        tenant: ch.tenant,
        alert_tenant: alert.tenant,
        alert_id: alert.id,
        version: alert.version,
        status: alert.status,
        attempt,
        ok: o.ok,
        http_status: o.httpStatus,
        smtp_code: o.smtpCode,
        error: o.error,
        duration_ms: Math.round(durationMs),
        at: at.toISOString(),
      })
    }
    while (this.#history.length > this.#o.historySize) this.#history.shift()
    this.#metrics.attempts.inc({ channel: ch.id, result: o.ok ? 'ok' : 'error' })
    const which = alerts.length === 1 ? { alert_id: alerts[0]!.id, version: alerts[0]!.version } : { alert_ids: alerts.map((a) => a.id), versions: alerts.map((a) => a.version) }
    const fields = { channel: ch.id, ...which, attempt, http_status: o.httpStatus, smtp_code: o.smtpCode, duration_ms: Math.round(durationMs) }
    if (o.ok) this.#log.debug(fields, 'alert notification delivered')
    else this.#log.warn({ ...fields, error: o.error, will_retry: willRetry }, 'alert notification attempt failed')
  }
}

/** A group message's key: the same alerts at the same versions give the same key. */
function groupIdempotencyKey(alerts: Alert[]): string {
  const ids = alerts.map((a) => `${a.id}:${a.version}`).sort()
  return `group:${createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 32)}`
}

/** Channels from the config lists, named by kind and position: webhook-1, webhook-2, slack-1, … */
export function parseChannels(spec: { webhookUrls: string[]; slackUrls: string[]; maxPerMinute: number }): ChannelConfig[] {
  const list = (kind: ChannelConfig['kind'], urls: string[]): ChannelConfig[] =>
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
    this.#refill()
    this.#tokens -= 1
    return this.#tokens >= 0 ? 0 : -this.#tokens / this.#perMs
  }

  /** Takes a token if one is there (0); otherwise takes none and returns how long until one is. */
  take(): number {
    this.#refill()
    if (this.#tokens >= 1) {
      this.#tokens -= 1
      return 0
    }
    return (1 - this.#tokens) / this.#perMs
  }

  #refill(): void {
    const now = performance.now()
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#updatedAt) * this.#perMs)
    this.#updatedAt = now
  }
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

/**
 * undici reports every network failure as "fetch failed"; the cause says which. A URL in the text
 * is cut to its origin: a channel's URL is a secret (a token in its path, a password).
 */
function networkError(err: unknown): string {
  const cause = err instanceof Error ? err.cause : undefined
  const text = cause === undefined ? errorMessage(err) : `${errorMessage(err)}: ${errorMessage(cause)}`
  return text.replace(/https?:\/\/\S+/g, (u) => (URL.canParse(u) ? `${new URL(u).origin}/…` : '<url>'))
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
