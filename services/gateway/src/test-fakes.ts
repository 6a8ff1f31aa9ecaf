// What the gateway's unit tests stand in for Kafka and the schema registry with (imported by
// tests only): an encoder writing JSON instead of Avro, so a test reads back what was produced.
import protobuf from 'protobufjs'
import { createProcessSecurity, hashKey, loadSecurityConfig } from '@sluice/auth'
import { SluiceError } from '@sluice/core'
import type { LogEvent } from '@sluice/core'
import type { Message, MessageProducer } from '@sluice/kafka'
import { createLogger, createRegistry } from '@sluice/observability'
import { loadConfig } from './config.js'
import { Validated } from './ingest.js'
import type { Ingest } from './ingest.js'
import { buildApp } from './service.js'

/** JSON instead of Avro: the handler only needs bytes of the event back. */
export const jsonCodec = {
  encodeInto(e: LogEvent, target: Buffer, offset: number): number {
    const bytes = Buffer.from(JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))
    if (offset + bytes.length > target.length) return target.length - offset - bytes.length
    bytes.copy(target, offset)
    return offset + bytes.length
  },
}

/**
 * The messages as Kafka keeps them: their bytes as they were when acknowledged. The gateway reuses
 * a request's encode buffer once Kafka acknowledged it, so a fake that kept the messages
 * themselves would see later requests' bytes in them.
 */
export const kept = (messages: readonly Message[]): Message[] =>
  messages.map((m) => ({ ...m, value: Buffer.isBuffer(m.value) ? Buffer.from(m.value) : m.value }))

/** A produced message's event, as jsonCodec wrote it. */
export const decoded = (m: Message) => JSON.parse(String(m.value)) as Record<string, unknown>

/** Records what would be produced; `fail` makes the next sends reject as Kafka being down. */
export function fakeProducer(): MessageProducer & { sent: Array<{ topic: string; messages: Message[] }>; fail: boolean } {
  const p = {
    sent: [] as Array<{ topic: string; messages: Message[] }>,
    fail: false,
    async send(topic: string, messages: Message[]) {
      if (p.fail) throw new SluiceError('KAFKA_UNAVAILABLE', 'Kafka did not acknowledge within 15000 ms', { canRetry: true })
      p.sent.push({ topic, messages: kept(messages) })
    },
  }
  return p
}

/** Loki's pkg/push/push.proto, as loki-protobuf.ts reads it: what a Loki client encodes. */
export const LokiPushRequest = protobuf
  .parse(
    `syntax = "proto3";
    package logproto;
    message PushRequest { repeated StreamAdapter streams = 1; }
    message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
    message EntryAdapter { Timestamp timestamp = 1; string line = 2; repeated LabelPairAdapter structuredMetadata = 3; }
    message LabelPairAdapter { string name = 1; string value = 2; }
    message Timestamp { int64 seconds = 1; int32 nanos = 2; }`,
    { keepCase: true },
  )
  .root.lookupType('logproto.PushRequest')

/** A gateway on a fakeProducer and jsonCodec with a body limit of `maxBodyBytes`; `messages()`: what it produced. */
export function fakeGateway(maxBodyBytes: number) {
  const producer = fakeProducer()
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', GATEWAY_MAX_BODY_BYTES: String(maxBodyBytes) })
  const app = buildApp(config, { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {}, producer, codec: jsonCodec })
  const messages = () => producer.sent.flatMap((sent) => sent.messages.map((m) => decoded(m).message))
  return { app, messages }
}

/**
 * A gateway on a fakeProducer and jsonCodec for a protocol's route tests: with `key`, SLUICE_AUTH
 * on and that one ingest key of `tenant`; `checks` its readiness checks. `events()`: what it
 * produced, each with its message key.
 */
export function routeGateway(opts: { key?: { secret: string; tenant: string }; checks?: Record<string, () => Promise<void>>; maxBodyBytes?: number } = {}) {
  const producer = fakeProducer()
  const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', GATEWAY_DEFAULT_TENANT: 'default', GATEWAY_MAX_BODY_BYTES: String(opts.maxBodyBytes ?? 100_000) })
  const security = opts.key
    ? createProcessSecurity(
        loadSecurityConfig({ SLUICE_AUTH: true, SLUICE_API_KEYS: JSON.stringify({ keys: [{ id: 'k', sha256: hashKey(opts.key.secret), tenants: [opts.key.tenant], scopes: ['ingest'] }] }), SLUICE_API_KEYS_RELOAD_MS: 5000 }),
        { log: createLogger({ level: 'silent' }), retentionDays: 30 },
      ).forService('gateway')
    : undefined
  const app = buildApp(config, { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: opts.checks ?? {}, producer, codec: jsonCodec, ...(security && { security }) })
  const events = (): Array<Record<string, unknown>> => producer.sent.flatMap((sent) => sent.messages.map((m) => ({ key: String(m.key), ...decoded(m) })))
  return { app, producer, events }
}

/** An accept path that keeps what it is given (LogEvents made by the protocol, other records as they are), can fail the next attempts, or hold them. */
export function fakeIngest() {
  const batches: Array<{ events: LogEvent[]; records: Array<Record<string, unknown>> }> = []
  const failNext: Error[] = []
  let gate: Promise<void> | undefined
  let open = () => {}
  const ingest: Ingest = {
    async records(records) {
      await gate
      const err = failNext.shift()
      if (err) throw err
      batches.push({ events: records.filter((r) => r instanceof Validated).map((r) => r.event), records: records.filter((r) => !(r instanceof Validated)) as Array<Record<string, unknown>> })
      return { accepted: records.length, rejected: 0, errors: [], forbidden: 0 }
    },
  }
  return {
    ingest,
    batches,
    failNext,
    hold: () => void (gate = new Promise((resolve) => (open = resolve))),
    release: () => {
      gate = undefined
      open()
    },
  }
}
