// One connection's polling loop, the same for every provider. Each poll reads the window from
// the checkpoint's watermark minus the lookback (entries a provider makes visible late) up to now,
// page by page; entries already taken (their provider ids, kept for the lookback) are skipped,
// the rest become LogEvents with ids derived from (connection, provider id), are produced to
// logs.raw (acks=all), and only then does the checkpoint move: a crash between the two replays the
// page, and the stable ids let ClickHouse absorb the copy. Throttling waits for the provider's
// hint or a doubling backoff with jitter; bad credentials or a missing selection wait the longest
// backoff (the connection needs a change); a failing connection never touches the others.
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { errorMessage, nowNs, validateLogInput } from '@sluice/core'
import type { LogEvent } from '@sluice/core'
import type { Connection } from './connections.js'
import { ProviderError } from './provider.js'
import type { ProviderClient, ProviderEvent } from './provider.js'

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
  /** Provider ids taken at or after watermark − lookback, with their times: what a re-read skips. */
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
  invalid(n: number): void
}

export interface PollerDeps {
  connection: Connection
  client: ProviderClient
  checkpoint: Checkpoint | undefined
  options: PollerOptions
  /** Bounds provider calls in flight over all connections of the instance. */
  limiter: Limiter
  produce(events: LogEvent[]): Promise<void>
  save(checkpoint: Checkpoint): Promise<void>
  metrics: PollerMetrics
  logger: Logger
  instance: string
  now?: () => number
}

const iso = (ms: number) => new Date(ms).toISOString()

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
    if (e.kind === 'throttled' && e.retryAfterMs !== undefined) return Math.min(max, e.retryAfterMs)
    const base = Math.min(max, this.#d.options.intervalMs * 2 ** (this.#failures - 1))
    return base / 2 + (Math.random() * base) / 2
  }

  async #poll(): Promise<void> {
    const c = this.#d.connection
    const startAt = Date.parse(c.start_at)
    const now = this.#now()
    const fromMs = Math.max(startAt, this.#watermark === null ? startAt : this.#watermark - this.#d.options.lookbackMs)
    this.#status.last_poll_at = iso(now)
    let pageToken: string | undefined
    do {
      const page = await this.#d.limiter.run(() =>
        this.#d.client.fetchPage({ fromMs, toMs: now, pageToken, limit: this.#d.options.pageSize, signal: AbortSignal.any([this.#stop.signal, AbortSignal.timeout(this.#d.options.callTimeoutMs)]) }),
      )
      const fresh = page.events.filter((e) => !this.#seen.has(e.providerId) && e.timeMs >= startAt && e.timeMs < now)
      const events = this.#events(fresh)
      if (events.length > 0) await this.#d.produce(events)
      for (const e of fresh) {
        this.#seen.set(e.providerId, e.timeMs)
        if (this.#watermark === null || e.timeMs > this.#watermark) this.#watermark = e.timeMs
      }
      this.#prune()
      this.#status.records_pulled += events.length
      this.#d.metrics.records(events.length)
      // Only now, with the page's records acknowledged, does the checkpoint cover them.
      if (fresh.length > 0) await this.#save()
      pageToken = page.nextPageToken
    } while (pageToken !== undefined && !this.#stop.signal.aborted)
    this.#status.polls++
    this.#status.last_success_at = iso(now)
    this.#status.lag_seconds = this.#watermark === null ? null : Math.max(0, (now - this.#watermark) / 1000)
    this.#d.metrics.poll('ok')
    if (this.#status.lag_seconds !== null) this.#d.metrics.lag(this.#status.lag_seconds)
  }

  /** Provider entries → LogEvents of the connection's tenant; an entry Sluice cannot take is counted and skipped. */
  #events(fresh: ProviderEvent[]): LogEvent[] {
    const c = this.#d.connection
    const observedNs = nowNs()
    const out: LogEvent[] = []
    let invalid = 0
    for (const [i, e] of fresh.entries()) {
      const input = { ...e.record, id: entryId(c.id, e.providerId), resource: { ...e.record.resource, 'sluice.connection': c.name } }
      const r = validateLogInput(input, i, { tenant: c.tenant, source: 'connector', observedNs })
      if (r.ok) out.push(r.event)
      else {
        invalid++
        this.#d.logger.warn({ provider_id: e.providerId, errors: r.errors }, 'provider entry not taken')
      }
    }
    if (invalid > 0) this.#d.metrics.invalid(invalid)
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
