// One connection's polling loop, the same for every provider. Each poll reads the window from
// the checkpoint's watermark minus the lookback (entries a provider makes visible late) up to now,
// page by page; entries already taken (their provider ids, kept for the lookback) are skipped,
// the rest become LogEvents with ids derived from (connection, provider id), are produced to
// logs.raw (acks=all), and only then does the checkpoint move: a crash between the two replays the
// page, and the stable ids let ClickHouse absorb the copy. Throttling waits for the provider's
// hint or a doubling backoff with jitter; bad credentials or a missing selection wait the longest
// backoff (the connection needs a change); a failing connection never touches the others.
// An entry that cannot be taken (a provider's mapping fails on it, a time that is not one, a record
// over the Kafka limit) is counted by reason, once, and left behind; the rest of its page goes on.
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { errorMessage, nowNs, validateLogInput } from '@sluice/core'
import type { LogEvent } from '@sluice/core'
import type { Connection } from './connections.js'
import { ProviderError } from './provider.js'
import type { ProviderClient, ProviderEvent, SkipReason, Skipped } from './provider.js'

export type ConnectionState = 'starting' | 'running' | 'throttled' | 'failing' | 'stopped'

export interface ConnectionStatus {
  state: ConnectionState
  /** The instance running the connection. */
  instance: string
  last_poll_at: string | null
  last_success_at: string | null
  next_poll_at: string | null
  /** Seconds from the newest entry taken to the last successful poll. */
  lag_seconds: number | null
  records_pulled: number
  polls: number
  last_error: { kind: string; code: string; message: string; at: string } | null
}

/** Kept per connection in the checkpoints topic, written after the records it covers were acknowledged. */
export interface Checkpoint {
  v: 1
  /** The newest entry time taken (epoch ms); null before the first. */
  watermark_ms: number | null
  /** Provider ids taken (or left out for good) at or after watermark − lookback, with their times: what a re-read skips. */
  seen: Array<[string, number]>
  status: ConnectionStatus
}

export interface PollerOptions {
  intervalMs: number
  lookbackMs: number
  pageSize: number
  callTimeoutMs: number
  maxBackoffMs: number
}

export interface PollerMetrics {
  records(n: number): void
  poll(result: 'ok' | 'error'): void
  error(code: string): void
  throttled(): void
  lag(seconds: number): void
  invalid(n: number, reason: SkipReason): void
}

/** Records produce() refused without sending them (each larger than a Kafka message may be), by LogEvent id. */
export interface Refused {
  id: string
  bytes: number
  limit: number
}

export interface PollerDeps {
  connection: Connection
  client: ProviderClient
  checkpoint: Checkpoint | undefined
  options: PollerOptions
  /** Bounds provider calls in flight over all connections of the instance. */
  limiter: Limiter
  /** Produces the records (acks=all); returns those it refused to send, if any (the rest were acknowledged). */
  produce(events: LogEvent[]): Promise<void | Refused[]>
  save(checkpoint: Checkpoint): Promise<void>
  metrics: PollerMetrics
  logger: Logger
  instance: string
  now?: () => number
}

const iso = (ms: number) => new Date(ms).toISOString()

/**
 * Pages one poll reads at most. A provider whose tokens never end (distinct each time) is cut off
 * here: the poll ends and the next one goes on from the checkpoint, or, if the pages held nothing
 * new, fails as PAGINATION_LOOP.
 */
export const MAX_PAGES_PER_POLL = 1000

/** How long a call may take to settle once its signal aborted before the poller stops waiting for it. */
const ABORT_GRACE_MS = 50

/**
 * Runs `call` with a signal that aborts after `timeoutMs` or when `parent` aborts; a call that
 * does not settle shortly after (it ignores its signal) is given up, so it never holds a limiter
 * slot past its timeout. An own controller and timer rather than
 * AbortSignal.any([parent, AbortSignal.timeout(ms)]): on Node 20 the timeout signal inside `any`
 * is only weakly held and a garbage collection can take it before it fires, leaving the call
 * without a timeout (nodejs/node#57736). The controller here is held by the timer's closure and
 * by this frame until the call settles.
 */
export async function withTimeout<T>(timeoutMs: number, parent: AbortSignal, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController()
  const onParent = () => ac.abort(parent.reason)
  let timer: NodeJS.Timeout | undefined
  let grace: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  const givenUp = new Promise<never>((_, reject) => {
    onAbort = () => {
      const timeout = ac.signal.reason instanceof Error && ac.signal.reason.name === 'TimeoutError'
      // The call's own rejection (shaped by its provider) wins when it comes in time.
      grace = setTimeout(() => reject(new ProviderError('unavailable', timeout ? 'TIMEOUT' : 'ABORTED', timeout ? `the provider call took longer than ${timeoutMs} ms` : 'the provider call was aborted')), ABORT_GRACE_MS)
    }
    ac.signal.addEventListener('abort', onAbort, { once: true })
  })
  givenUp.catch(() => undefined)
  try {
    if (parent.aborted) onParent()
    else parent.addEventListener('abort', onParent, { once: true })
    timer = setTimeout(() => ac.abort(new DOMException(`the call took longer than ${timeoutMs} ms`, 'TimeoutError')), timeoutMs)
    return await Promise.race([call(ac.signal), givenUp])
  } finally {
    clearTimeout(timer)
    clearTimeout(grace)
    parent.removeEventListener('abort', onParent)
    if (onAbort) ac.signal.removeEventListener('abort', onAbort)
  }
}

export class Poller {
  readonly #d: PollerDeps
  readonly #stop = new AbortController()
  readonly #seen = new Map<string, number>()
  readonly #now: () => number
  #watermark: number | null
  #status: ConnectionStatus
  #failures = 0
  #loop: Promise<void> | undefined

  constructor(deps: PollerDeps) {
    this.#d = deps
    this.#now = deps.now ?? Date.now
    this.#watermark = deps.checkpoint?.watermark_ms ?? null
    for (const [id, t] of deps.checkpoint?.seen ?? []) this.#seen.set(id, t)
    this.#status = {
      state: 'starting',
      instance: deps.instance,
      last_poll_at: deps.checkpoint?.status.last_poll_at ?? null,
      last_success_at: deps.checkpoint?.status.last_success_at ?? null,
      next_poll_at: null,
      lag_seconds: deps.checkpoint?.status.lag_seconds ?? null,
      records_pulled: deps.checkpoint?.status.records_pulled ?? 0,
      polls: deps.checkpoint?.status.polls ?? 0,
      last_error: deps.checkpoint?.status.last_error ?? null,
    }
  }

  get status(): ConnectionStatus {
    return { ...this.#status }
  }

  start(): void {
    this.#loop ??= this.#run()
  }

  /** Ends the loop (a poll in flight is abandoned: its page was not checkpointed, so it is read again). */
  async stop(): Promise<void> {
    this.#stop.abort()
    await this.#loop
    await this.#d.client.close().catch(() => undefined)
  }

  async #run(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      let delay = this.#d.options.intervalMs
      try {
        await this.#poll()
        this.#failures = 0
        this.#status.state = 'running'
        this.#status.last_error = null
      } catch (err) {
        if (this.#stop.signal.aborted) break
        delay = this.#failed(err)
      }
      this.#status.next_poll_at = iso(this.#now() + delay)
      await this.#save().catch((err: unknown) => this.#d.logger.warn({ err: errorMessage(err) }, 'connection status not saved'))
      try {
        await sleep(delay, undefined, { signal: this.#stop.signal })
      } catch {
        break
      }
    }
    this.#status.state = 'stopped'
    this.#status.next_poll_at = null
  }

  /** Records a failed poll; returns how long to wait before the next. */
  #failed(err: unknown): number {
    const e = err instanceof ProviderError ? err : new ProviderError('unavailable', 'ERROR', errorMessage(err))
    this.#failures++
    this.#status.state = e.kind === 'throttled' ? 'throttled' : 'failing'
    this.#status.last_error = { kind: e.kind, code: e.code, message: e.message, at: iso(this.#now()) }
    this.#d.metrics.poll('error')
    this.#d.metrics.error(e.code)
    if (e.kind === 'throttled') this.#d.metrics.throttled()
    this.#d.logger.warn({ kind: e.kind, code: e.code, error: e.message, failures: this.#failures }, 'connection poll failed')
    const max = this.#d.options.maxBackoffMs
    // A connection that needs a change (credentials, selection) is tried again rarely.
    if (e.kind === 'auth' || e.kind === 'bad_request') return max
    const base = Math.min(max, this.#d.options.intervalMs * 2 ** (this.#failures - 1))
    const backoff = base / 2 + (Math.random() * base) / 2
    // A hint is a floor, not a licence: Retry-After: 0 (or a date gone by) must not become a
    // tight loop, so the wait is the longer of the hint and the backoff.
    if (e.kind === 'throttled' && e.retryAfterMs !== undefined && Number.isFinite(e.retryAfterMs)) return Math.min(max, Math.max(e.retryAfterMs, backoff))
    return backoff
  }

  async #poll(): Promise<void> {
    const c = this.#d.connection
    const startAt = Date.parse(c.start_at)
    const now = this.#now()
    const fromMs = Math.max(startAt, this.#watermark === null ? startAt : this.#watermark - this.#d.options.lookbackMs)
    this.#status.last_poll_at = iso(now)
    const skips = new SkipLog(this.#d.metrics, this.#d.logger)
    // Tokens this poll was given: one coming back means the provider leads us in a circle.
    const tokens = new Set<string>()
    let pages = 0
    let taken = 0
    let pageToken: string | undefined
    do {
      const req = { fromMs, toMs: now, pageToken, limit: this.#d.options.pageSize }
      const page = await this.#d.limiter.run(() => withTimeout(this.#d.options.callTimeoutMs, this.#stop.signal, (signal) => this.#d.client.fetchPage({ ...req, signal })))
      pages++
      const leftOut = this.#leftOut(page.skipped ?? [], now, skips)
      const fresh: ProviderEvent[] = []
      const inPage = new Set<string>()
      for (const e of page.events) {
        if (this.#seen.has(e.providerId)) continue
        if (inPage.has(e.providerId)) skips.add([{ reason: 'duplicate_id', providerId: e.providerId, detail: 'another entry of the page has this id' }])
        else if (!(e.timeMs >= startAt && e.timeMs < now)) skips.add([{ reason: 'outside_window', providerId: e.providerId, detail: `time ${e.timeMs} is outside [${startAt}, ${now})` }])
        else {
          inPage.add(e.providerId)
          fresh.push(e)
        }
      }
      const events = this.#events(fresh, skips)
      const refused = events.length > 0 ? ((await this.#d.produce(events)) ?? []) : []
      for (const r of refused) skips.add([{ reason: 'too_large', providerId: undefined, detail: `record ${r.id} is ${r.bytes} bytes encoded; the limit is ${r.limit}` }])
      for (const e of fresh) {
        this.#seen.set(e.providerId, e.timeMs)
        if (this.#watermark === null || e.timeMs > this.#watermark) this.#watermark = e.timeMs
      }
      this.#prune()
      const produced = events.length - refused.length
      taken += fresh.length
      this.#status.records_pulled += produced
      this.#d.metrics.records(produced)
      skips.flush()
      // Only now, with the page's records acknowledged, does the checkpoint cover them.
      if (fresh.length > 0 || leftOut > 0) await this.#save()
      pageToken = page.nextPageToken
      if (pageToken !== undefined) {
        // As botocore's paginator does ("The same next token was received twice").
        if (tokens.has(pageToken)) throw new ProviderError('unavailable', 'PAGINATION_LOOP', `the provider returned a page token it had already given in this poll (after ${pages} pages): its pagination loops`)
        tokens.add(pageToken)
        if (pages >= MAX_PAGES_PER_POLL) {
          if (taken === 0) throw new ProviderError('unavailable', 'PAGINATION_LOOP', `${pages} pages in one poll without a new entry: the provider's pagination does not end`)
          // A long backlog: the next poll goes on from the checkpoint.
          this.#d.logger.info({ pages, taken }, 'page limit of a poll reached; the next poll goes on from the checkpoint')
          break
        }
      }
    } while (pageToken !== undefined && !this.#stop.signal.aborted)
    this.#status.polls++
    this.#status.last_success_at = iso(now)
    this.#status.lag_seconds = this.#watermark === null ? null : Math.max(0, (now - this.#watermark) / 1000)
    this.#d.metrics.poll('ok')
    if (this.#status.lag_seconds !== null) this.#d.metrics.lag(this.#status.lag_seconds)
  }

  /**
   * Counts the entries a provider left out, each once: one it could not date or map is the same
   * entry when the lookback reads it again, so its id is kept with those taken, dated `now` (the
   * window's end, its time is earlier) and pruned with them. One outside the window is counted
   * each time it comes: a later window may take it. Returns how many ids it kept.
   */
  #leftOut(skipped: readonly Skipped[], now: number, skips: SkipLog): number {
    let kept = 0
    for (const s of skipped) {
      if (s.providerId === undefined) skips.add([s])
      else if (!this.#seen.has(s.providerId)) {
        skips.add([s])
        if (s.reason !== 'outside_window') {
          this.#seen.set(s.providerId, now)
          kept++
        }
      }
    }
    return kept
  }

  /** Provider entries → LogEvents of the connection's tenant; an entry Sluice cannot take is counted and skipped. */
  #events(fresh: ProviderEvent[], skips: SkipLog): LogEvent[] {
    const c = this.#d.connection
    const observedNs = nowNs()
    const out: LogEvent[] = []
    for (const [i, e] of fresh.entries()) {
      const input = { ...e.record, id: entryId(c.id, e.providerId), resource: { ...e.record.resource, 'sluice.connection': c.name } }
      const r = validateLogInput(input, i, { tenant: c.tenant, source: 'connector', observedNs })
      if (r.ok) out.push(r.event)
      else skips.add([{ reason: 'invalid_record', providerId: e.providerId, detail: r.errors.map((x) => `${x.field}: ${x.message}`).join('; ') }])
    }
    return out
  }

  #prune(): void {
    if (this.#watermark === null) return
    const keepFrom = this.#watermark - this.#d.options.lookbackMs
    for (const [id, t] of this.#seen) if (t < keepFrom) this.#seen.delete(id)
  }

  #save(): Promise<void> {
    return this.#d.save({ v: 1, watermark_ms: this.#watermark, seen: [...this.#seen], status: { ...this.#status } })
  }
}

/** Entries left out in one poll: counted by reason as they come, one example per reason logged per poll. */
class SkipLog {
  readonly #metrics: PollerMetrics
  readonly #logger: Logger
  readonly #pending = new Map<SkipReason, number>()
  readonly #logged = new Set<SkipReason>()

  constructor(metrics: PollerMetrics, logger: Logger) {
    this.#metrics = metrics
    this.#logger = logger
  }

  add(skipped: readonly Skipped[]): void {
    for (const s of skipped) {
      this.#pending.set(s.reason, (this.#pending.get(s.reason) ?? 0) + 1)
      if (this.#logged.has(s.reason)) continue
      this.#logged.add(s.reason)
      this.#logger.warn({ reason: s.reason, provider_id: s.providerId, error: s.detail }, 'provider entry not taken (one example per reason and poll; sluice_connector_invalid_entries_total counts them all)')
    }
  }

  /** Counts what was added since the last flush. */
  flush(): void {
    for (const [reason, n] of this.#pending) this.#metrics.invalid(n, reason)
    this.#pending.clear()
  }
}

/** A stable record id for a provider entry of a connection: a UUID (version 8) from SHA-256. */
export function entryId(connectionId: string, providerId: string): string {
  const h = createHash('sha256').update(`${connectionId}\u0000${providerId}`).digest('hex')
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** At most `n` calls at once; the rest wait in order. */
export class Limiter {
  #free: number
  readonly #waiting: Array<() => void> = []

  constructor(n: number) {
    this.#free = n
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--
    else await new Promise<void>((resolve) => this.#waiting.push(resolve))
    try {
      return await fn()
    } finally {
      const next = this.#waiting.shift()
      if (next) next()
      else this.#free++
    }
  }
}
