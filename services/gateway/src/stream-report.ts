// What the gateway's stream listeners (syslog, GELF: stream-listeners.ts) tell the operator. They
// have no reply channel, so a refused frame or record is only known from the gateway's log,
// written through a LogWindow (log-window.ts): the first drop of each reason at once, later ones
// summed up per interval. The counts (also what the tests read) are totals since start.
import type { Logger } from 'pino'
import { counter } from '@sluice/observability'
import type { Counter, Registry } from '@sluice/observability'
import { FRAME_REFUSALS } from './syslog-framing.js'
import { LogWindow } from './log-window.js'

export const STREAM_DROP_REASONS = [
  ...FRAME_REFUSALS,
  /** The accept path refused the record (validation, size), or (GELF) it is no GELF message: the first error is the detail. */
  'invalid',
  /** UDP: more datagrams waiting for Kafka than GATEWAY_MAX_BODY_BYTES. */
  'queue_full',
  /** GELF over UDP: a chunked message whose chunks did not all come in time, or that could not be put together. */
  'incomplete',
  /** Kafka failed in a way retrying does not help. */
  'kafka_failed',
  /** Kafka was still not taking records when the gateway shut down. */
  'shutdown',
  /** A TCP connection over the listener's limit, closed unread. */
  'too_many_connections',
  /** A TCP connection (closed unread) or UDP datagram from an address not in the allowed sources. */
  'source_not_allowed',
  /** UDP: the tenant over its ingest limit (TCP waits instead, the sender held by flow control). */
  'rate_limited',
] as const
export type StreamDropReason = (typeof STREAM_DROP_REASONS)[number]

export type StreamTransport = 'tcp' | 'udp'

export interface StreamCounts {
  /** Frames (TCP) and messages (UDP: datagrams, or a GELF message's chunks together) read. */
  received: Record<StreamTransport, number>
  /** Records Kafka acknowledged. */
  accepted: number
  /** Syslog: stored whole because they were neither RFC 5424 nor RFC 3164. */
  unparsed: number
  dropped: Record<StreamDropReason, number>
}

/** A protocol's names in metrics and log lines. */
export interface StreamNames {
  /** `syslog`, `gelf`: the metrics' infix and the log lines' prefix. */
  protocol: string
  /** How it is named in metric help texts ("Syslog", "GELF"). */
  title: string
  /** What an unparsed message is, in the log ("stored unparsed (…)"), for a protocol that stores such messages. */
  unparsed?: string
}

type Topic = StreamDropReason | 'unparsed' | 'retrying'

export class StreamReport {
  readonly #log: Logger
  readonly #names: StreamNames
  readonly #counts: StreamCounts = {
    received: { tcp: 0, udp: 0 },
    accepted: 0,
    unparsed: 0,
    dropped: Object.fromEntries(STREAM_DROP_REASONS.map((r) => [r, 0])) as Record<StreamDropReason, number>,
  }
  readonly #window: LogWindow<Topic>
  readonly #metrics: { received: Counter<'transport'>; unparsed: Counter<never> | undefined; dropped: Counter<'reason'> }

  constructor(log: Logger, intervalMs: number, registry: Registry, names: StreamNames) {
    this.#log = log
    this.#names = names
    this.#window = new LogWindow(intervalMs, (topic, count, detail, summary) => this.#line(topic, count, detail, summary))
    const { protocol: p, title } = names
    this.#metrics = {
      received: counter(registry, `sluice_gateway_${p}_messages_received_total`, `${title} messages read: TCP frames and UDP datagrams.`, ['transport']),
      unparsed: names.unparsed === undefined ? undefined : counter(registry, `sluice_gateway_${p}_messages_unparsed_total`, `${title} messages ${names.unparsed}.`),
      dropped: counter(registry, `sluice_gateway_${p}_messages_dropped_total`, `${title} frames, datagrams and records dropped, by reason (the gateway log says why).`, ['reason']),
    }
  }

  received(transport: StreamTransport, n = 1): void {
    this.#counts.received[transport] += n
    this.#metrics.received.inc({ transport }, n)
  }

  accepted(n: number): void {
    this.#counts.accepted += n
  }

  unparsed(detail: string): void {
    this.#counts.unparsed++
    this.#metrics.unparsed?.inc()
    this.#note('unparsed', 1, detail)
  }

  dropped(reason: StreamDropReason, n: number, detail: string): void {
    this.#counts.dropped[reason] += n
    this.#metrics.dropped.inc({ reason }, n)
    this.#note(reason, n, detail)
  }

  /** Kafka refused a batch for now (OVERLOADED, KAFKA_UNAVAILABLE); it is being retried. */
  retrying(n: number, detail: string): void {
    this.#note('retrying', n, detail)
  }

  counts(): StreamCounts {
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
    const what = topic === 'unparsed' ? (this.#names.unparsed ?? 'stored unparsed') : topic === 'retrying' ? 'records waiting for Kafka, retrying' : `dropped (${topic})`
    const fields = { reason: topic, count, detail }
    const p = this.#names.protocol
    const msg = summary ? `${p}: ${count} more ${what} since the first was logged; latest: ${detail}` : `${p}: ${count} ${what}: ${detail}`
    if (topic === 'unparsed') this.#log.info(fields, msg)
    else this.#log.warn(fields, msg)
  }
}
