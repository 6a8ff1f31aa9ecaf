// Kafka messages exactly as the gateway writes them: the generated client records turned into
// LogEvents by the gateway's own validation (so each gets a fresh UUIDv7 and the same defaults)
// and Avro-encoded by its codec (Confluent framing), keyed `tenant/service`.
import type { Message } from 'kafkajs'
import { validateLogInput } from '@sluice/core'
import type { LogEvent } from '@sluice/core'
import { AvroCodec, createRegistryClient, loadAvsc } from '@sluice/registry'
import type { InputRecord } from './records.js'

const DEFAULTS = { tenant: 'default', source: 'http' as const }

export class GatewayEncoder {
  readonly #codec: AvroCodec<LogEvent>

  private constructor(codec: AvroCodec<LogEvent>) {
    this.#codec = codec
  }

  /** Registers the log-event schema under `subject` (as the gateway does for its topic). */
  static async create(registryUrl: string, subject: string): Promise<GatewayEncoder> {
    return new GatewayEncoder(await AvroCodec.register<LogEvent>(createRegistryClient(registryUrl), subject, loadAvsc('log-event.avsc')))
  }

  message(input: InputRecord, index = 0): Message {
    const result = validateLogInput(input, index, DEFAULTS)
    if (!result.ok) throw new Error(`generated record is invalid: ${JSON.stringify(result.errors)}`)
    return { key: `${result.event.tenant}/${result.event.service}`, value: this.#codec.encode(result.event) }
  }
}

/** Key + value bytes, what Kafka stores of a record (before its own framing). */
export function messageBytes(m: Message): number {
  return (m.value instanceof Buffer ? m.value.length : 0) + (typeof m.key === 'string' ? Buffer.byteLength(m.key) : 0)
}
