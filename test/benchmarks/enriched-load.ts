// Background load for the alerter's time to alert: the backlog's mix of EnrichedLogs
// (enriched.ts), event time = now, produced to logs.enriched at a fixed rate from a process of
// its own, so the bench process timing the alerts has an idle event loop. Open loop: each tick
// sends what the rate owes since the start, so a slow send is caught up, not lost.
// Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, LOAD_TOPIC, LOAD_RECORDS_PER_S, LOAD_SEED.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Message } from 'kafkajs'
import { EnrichedEncoder, EnrichedGenerator } from './enriched.js'
import { benchKafka, benchProducer } from './kafka.js'

const env = (name: string): string => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is required`)
  return v
}

// ~450 B per record: 2 000 records over 3 partitions stay far below the broker's 1 MiB per partition.
const MAX_BATCH = 2000
const TICK_MS = 10

const topic = env('LOAD_TOPIC')
const recordsPerS = Number(env('LOAD_RECORDS_PER_S'))
const registryUrl = env('SCHEMA_REGISTRY_URL')
const kafka = benchKafka({ provider: 'env', kafkaBrokers: env('KAFKA_BROKERS'), registryUrl })
const encoder = await EnrichedEncoder.create(registryUrl, `${topic}-value`)
const gen = new EnrichedGenerator({ seed: Number(process.env.LOAD_SEED ?? 11) })
const producer = benchProducer(kafka)
await producer.connect()

let stopping = false
process.on('SIGTERM', () => {
  stopping = true
})
process.stdout.write('sluice enriched-load listening on -\n')

const t0 = performance.now()
let sent = 0
while (!stopping) {
  const due = Math.floor(((performance.now() - t0) / 1000) * recordsPerS) - sent
  if (due <= 0) {
    await sleep(TICK_MS)
    continue
  }
  const n = Math.min(due, MAX_BATCH)
  const now = Date.now()
  const messages: Message[] = []
  for (let i = 0; i < n; i++) messages.push(encoder.message(gen.next(now)))
  await producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1 })
  sent += n
}
await producer.disconnect()
process.stdout.write(`enriched-load sent ${sent} records in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
process.exit(0)
