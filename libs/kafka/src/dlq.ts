// Dead-letter queue. A record that cannot be decoded or processed is copied byte for byte to the
// DLQ topic, so it never blocks its partition and can be replayed once the cause is fixed.
// Wire format (value = the original bytes, key = the original key), headers:
//   sluice.dlq.reason            human-readable cause
//   sluice.dlq.code              closed error code (DECODE_FAILED, …)
//   sluice.dlq.stage             the consumer that gave up (clickhouse-sink, enricher, …)
//   sluice.dlq.source.topic / .partition / .offset / .timestamp
// plus the original record's headers.
import type { IHeaders, KafkaMessage, Message } from 'kafkajs'
import type { BatchingProducer } from './producer.js'

export interface DeadLetter {
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

export class DeadLetterQueue {
  readonly #producer: BatchingProducer
  readonly #topic: string
  readonly #stage: string

  constructor(producer: BatchingProducer, topic: string, stage: string) {
    this.#producer = producer
    this.#topic = topic
    this.#stage = stage
  }

  static toMessage(letter: DeadLetter, stage: string): Message {
    const headers: IHeaders = { ...letter.message.headers }
    headers[DLQ_HEADER.reason] = letter.reason.slice(0, 2000)
    headers[DLQ_HEADER.code] = letter.code
    headers[DLQ_HEADER.stage] = stage
    headers[DLQ_HEADER.topic] = letter.topic
    headers[DLQ_HEADER.partition] = String(letter.partition)
    headers[DLQ_HEADER.offset] = letter.message.offset
    headers[DLQ_HEADER.timestamp] = letter.message.timestamp
    return { key: letter.message.key, value: letter.message.value, headers }
  }

  /** Resolves when the DLQ records are acknowledged. */
  send(letters: readonly DeadLetter[]): Promise<void> {
    return this.#producer.send(
      this.#topic,
      letters.map((l) => DeadLetterQueue.toMessage(l, this.#stage)),
    )
  }
}
