// The enricher's baseline: the same consumer runner and producer the enricher uses, copying
// records from one topic to another untouched (no Avro decode, no enrichment, no encode). The
// enricher-to-pass-through ratio is then the cost of the enrichment itself.
// Env: KAFKA_BROKERS, PASSTHROUGH_FROM, PASSTHROUGH_TO, PASSTHROUGH_GROUP.
import { BatchConsumer, BatchingProducer, DeadLetterQueue, createKafka } from '@sluice/kafka'
import { createLogger, createRegistry } from '@sluice/observability'

const env = (name: string): string => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is required`)
  return v
}

const logger = createLogger({ level: 'warn' })
const kafka = createKafka({ brokers: env('KAFKA_BROKERS').split(','), clientId: 'bench-passthrough', logger })
const producer = new BatchingProducer(kafka)
await producer.connect()
const to = env('PASSTHROUGH_TO')
const consumer = new BatchConsumer<{ key: Buffer | null; value: Buffer | null }>({
  kafka,
  groupId: env('PASSTHROUGH_GROUP'),
  topics: [env('PASSTHROUGH_FROM')],
  stage: 'passthrough',
  decode: (m) => ({ key: m.key, value: m.value }),
  sink: (items) => producer.send(to, items),
  dlq: new DeadLetterQueue(producer, `${to}.dlq`, 'passthrough'),
  logger,
  registry: createRegistry({ defaultMetrics: false }),
  // The enricher's defaults, so only the per-record work differs.
  maxBatchRecords: 5000,
  flushIntervalMs: 50,
})
await consumer.start()
process.stdout.write('sluice passthrough listening on -\n')
process.on('SIGTERM', () => {
  void consumer
    .close()
    .then(() => producer.close())
    .finally(() => process.exit(0))
})
