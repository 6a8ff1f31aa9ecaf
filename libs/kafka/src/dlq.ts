// Dead-letter queue. A record that cannot be decoded or processed is copied byte for byte to the
// DLQ topic, so it never blocks its partition and can be replayed once the cause is fixed.
// Wire format (value = the original bytes, key = the original key), headers:
//   sluice.dlq.reason            human-readable cause
//   sluice.dlq.code              closed error code (DECODE_FAILED, …)
//   sluice.dlq.stage             the stage that gave up (clickhouse-sink, enricher, …)
//   sluice.dlq.source.topic / .partition / .offset / .timestamp
// plus the original record's headers.
import type { IHeaders, KafkaMessage, Message } from 'kafkajs'
import type { MessageProducer } from './producer.js'

export interface DeadLetter {
  /** The stage (or the source, for records no stage could decode) that gave up. */
  stage: string
  topic: string
  partition: number
  message: KafkaMessage
  code: string
  reason: string
}

export const DLQ_HEADER = {
  reason: 'sluice.dlq.reason',
  code: 'sluice.dlq.code',
  stage: 'sluice.dlq.stage',
  topic: 'sluice.dlq.source.topic',
  partition: 'sluice.dlq.source.partition',
  offset: 'sluice.dlq.source.offset',
  timestamp: 'sluice.dlq.source.timestamp',
} as const

/** Where dead letters go; resolves once they are durable. */
export interface DeadLetterSink {
  send(letters: readonly DeadLetter[]): Promise<void>
}

export function deadLetterMessage(letter: DeadLetter): Message {
  const headers: IHeaders = { ...letter.message.headers }
  headers[DLQ_HEADER.reason] = letter.reason.slice(0, 2000)
  headers[DLQ_HEADER.code] = letter.code
  headers[DLQ_HEADER.stage] = letter.stage
  headers[DLQ_HEADER.topic] = letter.topic
  headers[DLQ_HEADER.partition] = String(letter.partition)
  headers[DLQ_HEADER.offset] = letter.message.offset
  headers[DLQ_HEADER.timestamp] = letter.message.timestamp
  return { key: letter.message.key, value: letter.message.value, headers }
}

/** The DLQ topic, written through a producer (acks=all): `send` resolves when the broker acknowledged. */
export class DeadLetterQueue implements DeadLetterSink {
  readonly #producer: MessageProducer
  readonly #topic: string

  constructor(producer: MessageProducer, topic: string) {
    this.#producer = producer
    this.#topic = topic
  }

  send(letters: readonly DeadLetter[]): Promise<void> {
    return this.#producer.send(this.#topic, letters.map(deadLetterMessage))
  }
}
