// Pre-fills a fresh raw topic with records exactly as the gateway writes them (Avro, Confluent
// framing, each with its own UUIDv7), for the sections that measure consumers alone.
import type { Message } from 'kafkajs'
import { GatewayEncoder } from './avro.js'
import { benchKafka, benchProducer, createTopic } from './kafka.js'
import type { BenchContext } from './section.js'

const PRODUCE_BATCH = 1000

export async function fillRawTopic(ctx: BenchContext, topic: string, records: number): Promise<void> {
  const kafka = benchKafka(ctx.infra)
  await createTopic(kafka, topic, ctx.config.partitions)
  ctx.log(`filling ${topic} with ${records.toLocaleString('en-US')} records`)
  const encoder = await GatewayEncoder.create(ctx.infra.registryUrl, `${topic}-value`)
  const inputs = ctx.bodies.flatMap((b) => b.inputs)
  const producer = benchProducer(kafka)
  await producer.connect()
  try {
    for (let sent = 0; sent < records; ) {
      const n = Math.min(PRODUCE_BATCH, records - sent)
      const messages: Message[] = []
      for (let i = 0; i < n; i++) messages.push(encoder.message(inputs[(sent + i) % inputs.length]!, i))
      await producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1 })
      sent += n
    }
  } finally {
    await producer.disconnect()
  }
}
