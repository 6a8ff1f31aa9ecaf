// Optional alert explanations (off unless ALERTER_EXPLAIN_URL names a query API): when an alert
// fires, the alerter asks the query API's POST /v1/ai/search why, over the alert's window and
// service, and attaches the answer and its suggested fixes to the alert before notifying, so the
// firing notification, the stored alert and the live page carry them. The query API answers from
// the data (patterns, blast radius, samples), with its model when it has one, deterministically
// otherwise. Bounded: ALERTER_EXPLAIN_MAX_PER_HOUR per instance, ALERTER_EXPLAIN_TIMEOUT_MS per
// call (the firing notification waits at most that long); any failure notifies without one.
// With SLUICE_AUTH=true the query API wants a key: ALERTER_QUERY_API_KEY, sent as a Bearer token;
// the call names the alert's tenant (x-sluice-tenant), which the key must cover.
import type { Alert } from '@sluice/core'
import { errorMessage, formatNs } from '@sluice/core'
import type { Logger, Registry } from '@sluice/observability'
import { counter } from '@sluice/observability'

export interface Explanation {
  text: string
  runbook: string[]
}

export interface ExplainerOptions {
  /** The query API's base URL. */
  url: string
  timeoutMs: number
  maxPerHour: number
  /** Presented as `Authorization: Bearer` (ALERTER_QUERY_API_KEY); undefined: no credentials. */
  apiKey?: string | undefined
  registry: Registry
  logger: Logger
  now?: () => number
}

interface SearchAnswer {
  answer?: unknown
  rootCause?: unknown
  suggestedFixes?: unknown
  source?: unknown
}

const HOUR_MS = 3_600_000
const MIN_NS = 60_000_000_000n

export class AlertExplainer {
  readonly #o: ExplainerOptions
  readonly #calls: number[] = []
  readonly #metric

  constructor(opts: ExplainerOptions) {
    this.#o = opts
    this.#metric = counter(opts.registry, 'sluice_alerter_explanations_total', 'Alert explanations asked of the query API, by result (ok|budget|failed).', ['result'])
  }

  /** The explanation of a firing alert; null over budget or when the query API fails. Never throws. */
  async explain(alert: Alert): Promise<Explanation | null> {
    const now = (this.#o.now ?? Date.now)()
    while (this.#calls.length > 0 && this.#calls[0]! <= now - HOUR_MS) this.#calls.shift()
    if (this.#calls.length >= this.#o.maxPerHour) {
      this.#metric.inc({ result: 'budget' })
      return null
    }
    this.#calls.push(now)
    // The alert's window with a minute either side, so an instant rule (a FATAL record) has a range.
    const body = {
      question: `Why is the alert "${alert.rule_name}" firing for ${alert.service}?`,
      service: alert.service,
      from: formatNs(alert.window_start - MIN_NS),
      to: formatNs(alert.window_end + MIN_NS),
    }
    try {
      const res = await fetch(new URL('/v1/ai/search', this.#o.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sluice-tenant': alert.tenant, ...(this.#o.apiKey !== undefined && { authorization: `Bearer ${this.#o.apiKey}` }) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      })
      const answer = (await res.json()) as SearchAnswer
      if (!res.ok || typeof answer.answer !== 'string') throw new Error(`HTTP ${res.status}`)
      this.#metric.inc({ result: 'ok' })
      const cause = typeof answer.rootCause === 'string' ? ` Likely cause: ${answer.rootCause}` : ''
      const runbook = Array.isArray(answer.suggestedFixes) ? answer.suggestedFixes.filter((f): f is string => typeof f === 'string').slice(0, 5) : []
      return { text: `${answer.answer}${cause}`.slice(0, 4000), runbook }
    } catch (err) {
      this.#metric.inc({ result: 'failed' })
      this.#o.logger.warn({ alert_id: alert.id, error: errorMessage(err) }, 'alert explanation failed; notifying without one')
      return null
    }
  }
}
