// Delivery for the gateway's listeners that read a stream rather than answer requests (syslog,
// the Fluentd forward protocol): a batch is handed to the accept path until Kafka took it or
// retrying cannot help. Kafka refusing for now (OVERLOADED, KAFKA_UNAVAILABLE) and the tenant's
// ingest limit (RATE_LIMITED) are retried, the sender held meanwhile (its socket stays paused);
// a sender that cannot be held (UDP) has what is over the limit dropped instead.
import { SluiceError, errorMessage } from '@sluice/core'
import type { EventDefaults, Ingest } from './ingest.js'

/** Kafka refusing for now: a batch is retried after 100 ms, doubling up to this. */
const MAX_RETRY_DELAY_MS = 2_000

export type DeliveryDrop = 'invalid' | 'kafka_failed' | 'shutdown' | 'rate_limited'

export interface DeliveryReport {
  accepted(n: number): void
  dropped(reason: DeliveryDrop, n: number, detail: string): void
  /** Kafka refused a batch for now; it is being retried. */
  retrying(n: number, detail: string): void
}

export interface Delivery {
  ingest: Ingest
  report: DeliveryReport
  /** Whether the listener is shutting down: a retryable failure is then a 'shutdown' drop. */
  closing(): boolean
  defaults(): EventDefaults
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Hands the `count` records `build` makes to the accept path until Kafka took them or retrying
 * cannot help; true when Kafka took them (records refused as invalid are reported, and count as
 * taken: sending them again would not help). `build` is called for each attempt, `first` on the
 * first: a retry makes the same records again (same ids and observed time), so what a timed-out
 * attempt did write is absorbed as a duplicate (README "Data guarantees").
 */
export async function deliverRetrying(d: Delivery, count: number, build: (first: boolean, defaults: EventDefaults) => readonly unknown[], from: string, opts: { holdOnLimit: boolean }): Promise<boolean> {
  const defaults = d.defaults()
  for (let delayMs = 100, firstTry = true; ; delayMs = Math.min(delayMs * 2, MAX_RETRY_DELAY_MS), firstTry = false) {
    try {
      const r = await d.ingest.records(build(firstTry, defaults), defaults)
      d.report.accepted(r.accepted)
      const first = r.errors[0]
      if (r.rejected > 0) d.report.dropped('invalid', r.rejected, `from ${from}: ${first ? `${first.field || 'record'}: ${first.message}` : 'rejected'}`)
      return true
    } catch (err) {
      const retry = err instanceof SluiceError && err.canRetry
      const limited = err instanceof SluiceError && err.code === 'RATE_LIMITED'
      if (limited && !opts.holdOnLimit) {
        d.report.dropped('rate_limited', count, `from ${from}: ${errorMessage(err)}`)
        return false
      }
      if (!retry) {
        d.report.dropped('kafka_failed', count, `from ${from}: ${errorMessage(err)}`)
        return false
      }
      if (d.closing()) {
        d.report.dropped('shutdown', count, `from ${from}: ${errorMessage(err)}`)
        return false
      }
      d.report.retrying(count, `from ${from}: ${errorMessage(err)}`)
      await sleep(limited ? Math.min((err.retryAfterSeconds ?? 1) * 1000, MAX_RETRY_DELAY_MS) : delayMs)
    }
  }
}
