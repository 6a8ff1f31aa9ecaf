// What the gateway's unit tests stand in for Kafka and the schema registry with (imported by
// tests only): an encoder writing JSON instead of Avro, so a test reads back what was produced.
import { SluiceError } from '@sluice/core'
import type { LogEvent } from '@sluice/core'
import type { Message, MessageProducer } from '@sluice/kafka'

/** JSON instead of Avro: the handler only needs bytes of the event back. */
export const jsonCodec = {
  encodeInto(e: LogEvent, target: Buffer, offset: number): number {
    const bytes = Buffer.from(JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))
    if (offset + bytes.length > target.length) return target.length - offset - bytes.length
    bytes.copy(target, offset)
    return offset + bytes.length
  },
}

/** A produced message's event, as jsonCodec wrote it. */
export const decoded = (m: Message) => JSON.parse(String(m.value)) as Record<string, unknown>

/** Records what would be produced; `fail` makes the next sends reject as Kafka being down. */
export function fakeProducer(): MessageProducer & { sent: Array<{ topic: string; messages: Message[] }>; fail: boolean } {
  const p = {
    sent: [] as Array<{ topic: string; messages: Message[] }>,
    fail: false,
    async send(topic: string, messages: Message[]) {
      if (p.fail) throw new SluiceError('KAFKA_UNAVAILABLE', 'Kafka did not acknowledge within 15000 ms', { canRetry: true })
      p.sent.push({ topic, messages })
    },
  }
  return p
}