// What the forward listener tells the operator: its counts (also what the tests read, totals since
// start), its metrics, and the drops in the gateway's log through a LogWindow (log-window.ts). A
// sender hears of its messages only by the acknowledgements it asked for, so every drop is logged
// with its reason.
import type { Logger } from 'pino'
import { counter } from '@sluice/observability'
import type { Counter, Registry } from '@sluice/observability'
import { LogWindow } from './log-window.js'

export const FORWARD_DROP_REASONS = [
  /** A message over GATEWAY_MAX_BODY_BYTES (its bytes are skipped, the connection reads on). */
  'too_large',
  /** Bytes that are no MessagePack: the connection is closed, nothing after them can be read. */
  'malformed',
  /** A message that is none of the protocol's four modes (one message). */
  'invalid_message',
  /** An event that is no [time, record], or a record the accept path refused (one event each). */
  'invalid',
  'kafka_failed',
  'shutdown',
  'rate_limited',
  /** A connection over the listener's limit, closed unread. */
  'too_many_connections',
  /** A connection from an address not in FORWARD_ALLOWED_SOURCES, closed unread. */
  'source_not_allowed',
  /** A sender that failed the shared-key handshake (FORWARD_SHARED_KEY): closed. */
  'unauthenticated',
] as const
export type ForwardDropReason = (typeof FORWARD_DROP_REASONS)[number]

export interface ForwardCounts {
  /** Messages read. */
  messages: number
  /** Events read from them. */
  events: number
  /** Records Kafka acknowledged. */
  accepted: number
  /** Lines Docker cut into parts (forward-partials.ts), delivered joined: whole, or cut (their last part did not come). */
  partialLines: { whole: number; cut: number }
  dropped: Record<ForwardDropReason, number>
}

type Topic = ForwardDropReason | 'retrying'

export class ForwardReport {
  readonly #log: Logger
  readonly #counts: ForwardCounts = { messages: 0, events: 0, accepted: 0, partialLines: { whole: 0, cut: 0 }, dropped: Object.fromEntries(FORWARD_DROP_REASONS.map((r) => [r, 0])) as Record<ForwardDropReason, number> }
  readonly #window: LogWindow<Topic>
  readonly #metrics: { messages: Counter<never>; events: Counter<never>; dropped: Counter<'reason'>; partialLines: Counter<'outcome'> }

  constructor(log: Logger, intervalMs: number, registry: Registry) {
    this.#log = log
    this.#window = new LogWindow(intervalMs, (topic, count, detail, summary) => {
      const what = topic === 'retrying' ? 'events waiting for Kafka, retrying' : `dropped (${topic})`
      const msg = summary ? `forward: ${count} more ${what} since the first was logged; latest: ${detail}` : `forward: ${count} ${what}: ${detail}`
      this.#log.warn({ reason: topic, count, detail }, msg)
    })
    this.#metrics = {
      messages: counter(registry, 'sluice_gateway_forward_messages_received_total', 'Fluentd forward protocol messages read.'),
      events: counter(registry, 'sluice_gateway_forward_events_received_total', 'Events read from forward protocol messages.'),
      partialLines: counter(registry, 'sluice_gateway_forward_partial_lines_total', 'Lines Docker sent in parts (its fluentd and journald drivers\' marks), delivered joined: outcome whole, or cut (the last part did not come within FORWARD_PARTIAL_WAIT_MS, or the line outgrew its bound).', ['outcome']),
      dropped: counter(registry, 'sluice_gateway_forward_dropped_total', 'Forward protocol messages (too_large, malformed, invalid_message) and events (invalid, kafka_failed, …) dropped, by reason (the gateway log says why).', ['reason']),
    }
  }

  received(events: number): void {
    this.#counts.messages++
    this.#counts.events += events
    this.#metrics.messages.inc()
    if (events > 0) this.#metrics.events.inc(events)
  }

  accepted(n: number): void {
    this.#counts.accepted += n
  }

  partialLine(whole: boolean): void {
    const outcome = whole ? 'whole' : 'cut'
    this.#counts.partialLines[outcome]++
    this.#metrics.partialLines.inc({ outcome })
  }

  dropped(reason: ForwardDropReason, n: number, detail: string): void {
    this.#counts.dropped[reason] += n
    this.#metrics.dropped.inc({ reason }, n)
    this.#window.note(reason, n, detail)
  }

  retrying(n: number, detail: string): void {
    this.#window.note('retrying', n, detail)
  }

  counts(): ForwardCounts {
    return structuredClone(this.#counts)
  }

  close(): void {
    this.#window.close()
  }
}
