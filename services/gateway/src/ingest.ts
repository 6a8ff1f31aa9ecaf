// The one way records enter Sluice, whatever protocol brought them: each record (an object in
// Sluice's JSON shape — protocols map theirs to it — or, where a protocol made the LogEvent itself
// within the validator's rules, Validated) is validated into a LogEvent, encoded as Avro
// (Confluent framing) and produced to logs.raw; the promise resolves only once Kafka acknowledged
// every accepted record (idempotent producer, acks=all). A bad record is reported by index and
// field, and the rest go through.
//
// Backpressure: the bytes waiting for Kafka are bounded (GATEWAY_MAX_IN_FLIGHT_BYTES). A request
// that would exceed the budget is refused as a whole with OVERLOADED (429 + Retry-After, or the
// protocol's equivalent) instead of queueing without bound; Kafka not acknowledging in time is
// KAFKA_UNAVAILABLE (503). Neither writes anything the client is told was refused.
//
// Tenancy: a record naming a tenant in its own `tenant` field that the request's key may not act
// as is refused in its place (field `tenant`, the tenant named; audited once per request), the rest
// go through. Per-tenant ingest limits (limits.ts) count the records about to be produced; a request
// over them is refused whole with RATE_LIMITED (429 + Retry-After), nothing written.
import { mayActAs } from '@sluice/auth'
import type { Access, TenantSettingsTable } from '@sluice/auth'
import { SluiceError, isCanonicalName, parseLevel, severityFromNumber, uuidv7, validateLogInput } from '@sluice/core'
import type { FieldError, FieldMapping, LogEvent, LogSource } from '@sluice/core'
import type { Message, MessageProducer } from '@sluice/kafka'
import { BATCH_SIZE_BUCKETS, LATENCY_BUCKETS_SECONDS, histogram, stageMetrics } from '@sluice/observability'
import type { Registry } from '@sluice/observability'
import type { Codec } from '@sluice/service'
import type { Config } from './config.js'
import { IngestLimits, hasIngestLimits } from './limits.js'
import type { TenantUsage } from './limits.js'

/** A record a protocol could not even read (bad JSON line, bad frame): its error is in `known`. */
export const SKIP: unique symbol = Symbol('skip')

/** What every record of one request shares, the defaults a protocol makes its LogEvents with. */
export type EventDefaults = Pick<IngestDefaults, 'tenant' | 'source' | 'observedNs'>

/**
 * A record a protocol made into its LogEvent itself, because it knew the record to be within
 * every rule of the validator (validateLogInput) and what the validator would make of it: taken
 * as it is, not validated again. Most OTLP records (otlp-map.ts) and Elasticsearch documents
 * (elastic-map.ts) are.
 */
export class Validated {
  readonly ok = true
  constructor(readonly event: LogEvent) {}
}

const INFO = severityFromNumber(9)

/**
 * The parts of a record a protocol's direct path read, each already within the validator's rules
 * (the protocol left anything else to it): what `directEvent` makes a LogEvent of.
 */
export interface DirectParts {
  /** Undefined: a new UUIDv7, as the validator mints one. */
  id?: string | undefined
  /** Epoch ns; undefined: when Sluice saw the request. */
  timestamp: bigint | undefined
  /** Trimmed; undefined: `unknown`. */
  service: string | undefined
  /** Trimmed; '' or undefined: none. */
  host: string | undefined
  /** A level parseLevel knows, as sent; undefined: INFO. */
  level: string | number | undefined
  message: string
  traceId?: string | undefined
  spanId?: string | undefined
  /** Strings, within the validator's map rules; the level as sent is added as log.level when it is no canonical name. */
  attributes: Record<string, string>
  resource: Record<string, string>
}

/** The LogEvent validateLogInput makes of a record with these parts: the protocols' direct paths' end. */
export function directEvent(p: DirectParts, d: EventDefaults): Validated {
  let severity = INFO
  if (p.level !== undefined) {
    severity = parseLevel(p.level) ?? INFO
    if (!isCanonicalName(p.level, severity.text)) p.attributes['log.level'] = String(p.level)
  }
  return new Validated({
    id: p.id ?? uuidv7(),
    tenant: d.tenant,
    timestamp: p.timestamp ?? d.observedNs,
    observed_timestamp: d.observedNs,
    service: p.service ?? 'unknown',
    host: p.host || null,
    severity_text: severity.text,
    severity_number: severity.number,
    message: p.message,
    trace_id: p.traceId === undefined ? null : p.traceId.toLowerCase(),
    span_id: p.spanId === undefined ? null : p.spanId.toLowerCase(),
    attributes: p.attributes,
    resource: p.resource,
    source: d.source,
  })
}

export interface IngestDefaults {
  /** Tenant of records that name none. */
  tenant: string
  source: LogSource
  /** When Sluice saw the request (one time per request: its records arrive together). */
  observedNs: bigint
  /** Which of the records' fields hold the message, time, level, service, host (fields.ts). */
  fields?: FieldMapping
  /**
   * Who sent the records (HTTP requests): a record's own `tenant` must be one this key may act as.
   * Undefined (syslog) or a null principal (authentication off): any.
   */
  access?: Pick<Access, 'principal' | 'keyId' | 'audit'>
}

export interface Ingested {
  accepted: number
  rejected: number
  /** Every record error, by index (at most GATEWAY_MAX_ERRORS_REPORTED are worth reporting). */
  errors: FieldError[]
  /** Of the rejected, those refused because their `tenant` field names a tenant the key may not act as. */
  forbidden: number
}

export interface Ingest {
  /**
   * Validates, encodes and produces `records`; resolves once Kafka acknowledged the accepted ones.
   * Throws SluiceError RATE_LIMITED (a tenant over its limit) or OVERLOADED (retry later, nothing
   * written), or KAFKA_UNAVAILABLE (retry; nothing of this request was acknowledged).
   */
  records(records: readonly unknown[], defaults: IngestDefaults, known?: readonly FieldError[]): Promise<Ingested>
}

export interface IngestDeps {
  producer: MessageProducer
  codec: Pick<Codec<LogEvent>, 'encodeInto'>
  registry: Registry
  /** Per-tenant ingest limits; undefined: none. */
  tenants?: TenantSettingsTable | undefined
  /** The limits' clock (tests hold it still). */
  clock?: (() => number) | undefined
  /** Where requests take their encode buffers from (tests watch it); default: one per ingest. */
  encodeBuffers?: EncodeBuffers
}

const NO_RECORDS: readonly unknown[] = []

/** First size of a request's encode buffer: a 1 000-record request of ~400-byte records fits twice. */
const ENCODE_BUFFER_BYTES = 1 << 20
/** Encode buffers kept for the next requests: enough for this many concurrent requests. */
const SPARE_ENCODE_BUFFERS = 16

/**
 * Encode buffers of requests whose records Kafka acknowledged, handed to the next requests. A new
 * 1 MiB buffer per request was a third of the gateway's new Buffer memory per record, and V8
 * collects the young generation whenever its new ArrayBuffers reach 32 MiB, however empty the
 * heap ("external memory pressure"): each collection costs time and moves whatever is still
 * waiting for Kafka one step nearer the old generation. Only buffers of acknowledged requests
 * (or of requests that sent nothing) come back: after a failure or a timeout kafkajs may still
 * be writing their bytes.
 */
export class EncodeBuffers {
  readonly #spare: Buffer[] = []
  constructor(readonly size = ENCODE_BUFFER_BYTES, readonly keep = SPARE_ENCODE_BUFFERS) {}

  take(): Buffer {
    return this.#spare.pop() ?? Buffer.allocUnsafe(this.size)
  }

  /** Buffers nothing reads any more; only those of the standard size are kept. */
  give(buffers: readonly Buffer[]): void {
    for (const b of buffers) if (b.length === this.size && this.#spare.length < this.keep) this.#spare.push(b)
  }

  get spare(): number {
    return this.#spare.length
  }
}

export function createIngest(config: Config, deps: IngestDeps): Ingest {
  const stage = stageMetrics(deps.registry, 'gateway')
  const produceSeconds = histogram(deps.registry, 'sluice_gateway_produce_seconds', 'Time from a request’s records handed to the producer until Kafka acknowledged them.', LATENCY_BUCKETS_SECONDS)
  const recordsPerRequest = histogram(deps.registry, 'sluice_gateway_request_records', 'Records per request, any protocol.', BATCH_SIZE_BUCKETS)
  // Without a tenant limited, the hot path does not count usage at all.
  const limits = deps.tenants && hasIngestLimits(deps.tenants) ? new IngestLimits(deps.tenants, deps.registry, deps.clock) : undefined
  let inFlightBytes = 0
  // The most one request's records may encode to: the whole in-flight budget, and never less than
  // a few bodies' worth (a body of records repeating a resource encodes to more than itself).
  const maxRequestBytes = Math.max(config.maxInFlightBytes, 4 * config.maxBodyBytes)
  const buffers = deps.encodeBuffers ?? new EncodeBuffers()

  return {
    // No default for `known`: a function with one keeps its arguments apart from its parameters,
    // and `records` could no longer be let go by reassigning it (below).
    async records(records, defaults, known) {
      const errors: FieldError[] = known === undefined ? [] : known.slice()
      const messages: Message[] = []
      // The request's records are encoded back to back into one buffer, each message's value a
      // view of it (no buffer per record); a full buffer is replaced by a larger one, and the
      // views already taken keep the old one alive until Kafka acknowledged them.
      let out = buffers.take()
      const used = [out]
      let pos = 0
      let bytes = 0
      const principal = defaults.access?.principal ?? null
      let forbidden: Set<string> | undefined
      let forbiddenRecords = 0
      // Usually one tenant a request: its usage is kept without a map until a second appears.
      const first: TenantUsage & { tenant: string | undefined } = { tenant: undefined, records: 0, bytes: 0 }
      let usage: Map<string, TenantUsage> | undefined
      const encode = (e: LogEvent): Buffer => {
        let end = deps.codec.encodeInto(e, out, pos)
        if (end < 0) {
          out = Buffer.allocUnsafe(Math.max(out.length * 2, buffers.size - end))
          used.push(out)
          pos = 0
          end = deps.codec.encodeInto(e, out, 0)
        }
        const value = out.subarray(pos, end)
        pos = end
        return value
      }
      for (let i = 0; i < records.length; i++) {
        const record = records[i]
        if (record === SKIP) continue
        const result = record instanceof Validated ? record : validateLogInput(record, i, defaults)
        if (!result.ok) {
          for (const e of result.errors) errors.push(e)
          continue
        }
        const e = result.event
        if (principal !== null && e.tenant !== defaults.tenant && !mayActAs(principal, e.tenant)) {
          ;(forbidden ??= new Set()).add(e.tenant)
          forbiddenRecords++
          errors.push({ index: i, field: 'tenant', message: `API key ${principal.keyId} may not act as tenant ${e.tenant}` })
          continue
        }
        const message = { key: `${e.tenant}/${e.service}`, value: encode(e) }
        // Kafka refuses a record batch over the broker's message.max.bytes; one such record would
        // fail its whole produce request, so it is turned away here with the rest going through
        // (its bytes given back to the buffer).
        const size = message.value.length + message.key.length
        if (size > config.maxRecordBytes) {
          pos -= message.value.length
          errors.push({ index: i, field: '', message: `record is ${size} bytes encoded; the limit is ${config.maxRecordBytes}` })
          continue
        }
        // What a request's records hold can be far more than its body: an OTLP resource or a Loki
        // label set is repeated in every record under it (a 1 MB body of 300 records under a
        // 1 MB resource encodes to 300 MB).
        if (bytes + size > maxRequestBytes) {
          buffers.give(used)
          stage.received.inc(records.length)
          stage.dropped.inc({ reason: 'too_large' }, records.length)
          throw new SluiceError('PAYLOAD_TOO_LARGE', `the records of this request encode to more than ${maxRequestBytes} bytes (the larger of GATEWAY_MAX_IN_FLIGHT_BYTES and 4 × GATEWAY_MAX_BODY_BYTES), each repeating what it shares with the others (a resource, labels); nothing was stored: send smaller batches`)
        }
        bytes += size
        messages.push(message)
        if (limits === undefined) continue
        if (first.tenant === undefined || first.tenant === e.tenant) {
          first.tenant = e.tenant
          first.records++
          first.bytes += size
          continue
        }
        usage ??= new Map()
        const u = usage.get(e.tenant) ?? { records: 0, bytes: 0 }
        u.records++
        u.bytes += size
        usage.set(e.tenant, u)
      }
      const received = records.length
      // Every record is encoded: the records must not live on through the wait for Kafka in this
      // call's suspended frame (objects kept alive that long are promoted by the garbage
      // collector, which costs more than making them did; see releaseBody in protocol.ts).
      records = NO_RECORDS
      const rejected = received - messages.length
      stage.received.inc(received)
      recordsPerRequest.observe(received)
      if (rejected > forbiddenRecords) stage.dropped.inc({ reason: 'invalid' }, rejected - forbiddenRecords)
      if (forbidden !== undefined) {
        stage.dropped.inc({ reason: 'forbidden' }, forbiddenRecords)
        const tenants = [...forbidden]
        defaults.access?.audit({ action: 'ingest.refused', outcome: 'refused', tenant: tenants.join(','), target: defaults.source, reason: `records naming tenant(s) ${tenants.join(', ')} that API key ${defaults.access.keyId} may not act as`, details: { tenants } })
      }

      // The encode buffers go to the next requests, unless kafkajs may still be writing them.
      let sendFailed = false
      try {
        if (messages.length > 0) {
          let taken: Map<string, TenantUsage> | undefined
          if (limits !== undefined && first.tenant !== undefined) {
            taken = usage ?? new Map()
            taken.set(first.tenant, { records: first.records, bytes: first.bytes })
            try {
              limits.take(taken)
            } catch (err) {
              stage.dropped.inc({ reason: 'rate_limited' }, messages.length)
              throw err
            }
          }
          // One request alone may take the whole budget (a large body on an idle gateway): it goes.
          if (inFlightBytes > 0 && inFlightBytes + bytes > config.maxInFlightBytes) {
            if (taken !== undefined) limits?.refund(taken)
            stage.dropped.inc({ reason: 'overloaded' }, messages.length)
            throw new SluiceError('OVERLOADED', `the gateway is waiting on Kafka for ${inFlightBytes} bytes already (limit ${config.maxInFlightBytes}); retry later`, { canRetry: true })
          }
          inFlightBytes += bytes
          const end = produceSeconds.startTimer()
          try {
            await deps.producer.send(config.topicRaw, messages)
          } catch (err) {
            sendFailed = true
            // The client is told to retry: its retry must not find the tokens gone.
            if (taken !== undefined) limits?.refund(taken)
            stage.errors.inc({ code: err instanceof SluiceError ? err.code : 'KAFKA_PRODUCE_FAILED' })
            throw err
          } finally {
            inFlightBytes -= bytes
            end()
          }
          stage.sent.inc(messages.length)
        }
      } finally {
        if (!sendFailed) buffers.give(used)
      }
      errors.sort((a, b) => a.index - b.index)
      return { accepted: messages.length, rejected, errors, forbidden: forbiddenRecords }
    },
  }
}
