// The enricher's baseline: the same consumer runner and producer the enricher uses, copying
// records from one topic to another untouched (no Avro decode, no enrichment, no encode). The
// enricher-to-pass-through ratio is then the cost of the enrichment itself.
// Env: KAFKA_BROKERS, PASSTHROUGH_FROM, PASSTHROUGH_TO, PASSTHROUGH_GROUP.
import { BatchingProducer, ConsumerRunner, DeadLetterQueue, createKafka } from '@sluice/kafka'
import type { Message, Stage } from '@sluice/kafka'
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
const stage: Stage<Buffer | null, Message> = {
  name: 'passthrough',
  // The enricher's defaults, so only the per-record work differs.
  flush: { maxRecords: 5000, intervalMs: 50, whenCaughtUp: true },
  transform: (batch) => ({ outputs: batch.records.map((m) => ({ key: m.key, value: m.value })) }),
  sink: (items) => producer.send(to, items),
}
const runner = new ConsumerRunner({
  kafka,
  name: 'passthrough',
  groupId: env('PASSTHROUGH_GROUP'),
  topics: [env('PASSTHROUGH_FROM')],
  stages: [{ stage }],
  dlq: new DeadLetterQueue(producer, `${to}.dlq`),
  logger,
  registry: createRegistry({ defaultMetrics: false }),
})
await runner.start()
process.stdout.write('sluice passthrough listening on -\n')
process.on('SIGTERM', () => {
  void runner
    .close()
    .then(() => producer.close())
    .finally(() => process.exit(0))
})
