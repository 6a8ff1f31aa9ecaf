// What the syslog listeners tell the operator. Syslog has no reply channel, so a refused frame or
// record is only known from the gateway's log, written through a LogWindow (log-window.ts): the
// first drop of each reason at once, later ones summed up per interval. The counts (also what the
// tests read) are totals since start.
import type { Logger } from 'pino'
import { counter } from '@sluice/observability'
import type { Counter, Registry } from '@sluice/observability'
import { FRAME_REFUSALS } from './syslog-framing.js'
import { LogWindow } from './log-window.js'

export const SYSLOG_DROP_REASONS = [
  ...FRAME_REFUSALS,
  /** The accept path refused the record (validation, size): its first error is the detail. */
  'invalid',
  /** UDP: more datagrams waiting for Kafka than GATEWAY_MAX_BODY_BYTES. */
  'queue_full',
  /** Kafka failed in a way retrying does not help. */
  'kafka_failed',
  /** Kafka was still not taking records when the gateway shut down. */
  'shutdown',
  /** A TCP connection over the listener's limit, closed unread. */
  'too_many_connections',
  /** A TCP connection (closed unread) or UDP datagram from an address not in SYSLOG_ALLOWED_SOURCES. */
  'source_not_allowed',
  /** UDP: the syslog tenant over its ingest limit (TCP waits instead, the sender held by flow control). */
  'rate_limited',
] as const
export type SyslogDropReason = (typeof SYSLOG_DROP_REASONS)[number]

export type SyslogTransport = 'tcp' | 'udp'

export interface SyslogCounts {
  /** Frames (TCP) and datagrams (UDP) read. */
  received: Record<SyslogTransport, number>
  /** Records Kafka acknowledged. */
  accepted: number
  /** Stored whole because they were neither RFC 5424 nor RFC 3164. */
  unparsed: number
  dropped: Record<SyslogDropReason, number>
}

type Topic = SyslogDropReason | 'unparsed' | 'retrying'

export class SyslogReport {
  readonly #log: Logger
  readonly #counts: SyslogCounts = {
    received: { tcp: 0, udp: 0 },
    accepted: 0,
    unparsed: 0,
    dropped: Object.fromEntries(SYSLOG_DROP_REASONS.map((r) => [r, 0])) as Record<SyslogDropReason, number>,
  }
  readonly #window: LogWindow<Topic>
  readonly #metrics: { received: Counter<'transport'>; unparsed: Counter<never>; dropped: Counter<'reason'> }

  constructor(log: Logger, intervalMs: number, registry: Registry) {
    this.#log = log
    this.#window = new LogWindow(intervalMs, (topic, count, detail, summary) => this.#line(topic, count, detail, summary))
    this.#metrics = {
      received: counter(registry, 'sluice_gateway_syslog_messages_received_total', 'Syslog messages read: TCP frames and UDP datagrams.', ['transport']),
      unparsed: counter(registry, 'sluice_gateway_syslog_messages_unparsed_total', 'Syslog messages stored whole, being neither RFC 5424 nor RFC 3164.'),
      dropped: counter(registry, 'sluice_gateway_syslog_messages_dropped_total', 'Syslog frames, datagrams and records dropped, by reason (the gateway log says why).', ['reason']),
    }
  }

  received(transport: SyslogTransport, n = 1): void {
    this.#counts.received[transport] += n
    this.#metrics.received.inc({ transport }, n)
  }

  accepted(n: number): void {
    this.#counts.accepted += n
  }

  unparsed(detail: string): void {
    this.#counts.unparsed++
    this.#metrics.unparsed.inc()
    this.#note('unparsed', 1, detail)
  }

  dropped(reason: SyslogDropReason, n: number, detail: string): void {
    this.#counts.dropped[reason] += n
    this.#metrics.dropped.inc({ reason }, n)
    this.#note(reason, n, detail)
  }

  /** Kafka refused a batch for now (OVERLOADED, KAFKA_UNAVAILABLE); it is being retried. */
  retrying(n: number, detail: string): void {
    this.#note('retrying', n, detail)
  }

  counts(): SyslogCounts {
    return structuredClone(this.#counts)
  }

  /** Logs one line per topic seen again since it was first logged; the next occurrence logs at once. */
  flush(): void {
    this.#window.flush()
  }

  close(): void {
    this.#window.close()
  }

  #note(topic: Topic, n: number, detail: string): void {
    this.#window.note(topic, n, detail)
  }

  #line(topic: Topic, count: number, detail: string, summary: boolean): void {
    const what = topic === 'unparsed' ? 'stored unparsed (neither RFC 5424 nor RFC 3164)' : topic === 'retrying' ? 'records waiting for Kafka, retrying' : `dropped (${topic})`
    const fields = { reason: topic, count, detail }
    const msg = summary ? `syslog: ${count} more ${what} since the first was logged; latest: ${detail}` : `syslog: ${count} ${what}: ${detail}`
    if (topic === 'unparsed') this.#log.info(fields, msg)
    else this.#log.warn(fields, msg)
  }
}
