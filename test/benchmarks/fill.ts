// Pre-fills a fresh topic for the sections that measure consumers alone: logs.raw with records
// exactly as the gateway writes them (Avro, Confluent framing, each with its own UUIDv7), or
// logs.enriched with records as the enricher writes them (enriched.ts).
import type { Message } from 'kafkajs'
import { GatewayEncoder } from './avro.js'
import { EnrichedEncoder, EnrichedGenerator } from './enriched.js'
import { benchKafka, benchProducer, createTopic } from './kafka.js'
import type { BenchContext } from './section.js'

const PRODUCE_BATCH = 1000

/** Creates `topic` and produces `records` messages to it, `message(i)` being the i-th. */
async function fillTopic(ctx: BenchContext, topic: string, records: number, message: (i: number) => Message): Promise<void> {
  const kafka = benchKafka(ctx.infra)
  await createTopic(kafka, topic, ctx.config.partitions)
  ctx.log(`filling ${topic} with ${records.toLocaleString('en-US')} records`)
  const producer = benchProducer(kafka)
  await producer.connect()
  try {
    for (let sent = 0; sent < records; ) {
      const n = Math.min(PRODUCE_BATCH, records - sent)
      const messages: Message[] = []
      for (let i = 0; i < n; i++) messages.push(message(sent + i))
      await producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1 })
      sent += n
    }
  } finally {
    await producer.disconnect()
  }
}

export async function fillRawTopic(ctx: BenchContext, topic: string, records: number): Promise<void> {
  const encoder = await GatewayEncoder.create(ctx.infra.registryUrl, `${topic}-value`)
  const inputs = ctx.bodies.flatMap((b) => b.inputs)
  await fillTopic(ctx, topic, records, (i) => encoder.message(inputs[i % inputs.length]!, i % PRODUCE_BATCH))
}

export interface EnrichedFill {
  /** Event time of the last record; the first is `spanMs` earlier, the rest evenly between. */
  endMs: number
  spanMs: number
  seed?: number
}

/** logs.enriched with the alerter bench's mix (enriched.ts), event times rising over the span. */
export async function fillEnrichedTopic(ctx: BenchContext, topic: string, records: number, fill: EnrichedFill): Promise<void> {
  const encoder = await EnrichedEncoder.create(ctx.infra.registryUrl, `${topic}-value`)
  const gen = new EnrichedGenerator({ ...(fill.seed !== undefined && { seed: fill.seed }) })
  const startMs = fill.endMs - fill.spanMs
  await fillTopic(ctx, topic, records, (i) => encoder.message(gen.next(startMs + Math.round((i * fill.spanMs) / records))))
}
