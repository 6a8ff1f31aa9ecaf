// Enricher: logs.raw → logs.enriched. Source (batch consumer) → transform (decode, enrich, LLM for
// unknown templates, encode) → sink (produce, acked). Input offsets are committed only after the
// enriched records are acknowledged; undecodable records go to the DLQ. More instances in the same
// consumer group share the partitions; pattern ids agree across them (hash of the template text).
import type { Logger } from 'pino'
import type { LogEvent } from '@sluice/core'
import { BatchConsumer, consumerWorker } from '@sluice/kafka'
import type { BatchingProducer, DeadLetterQueue, Kafka } from '@sluice/kafka'
import type { AvroCodec } from '@sluice/registry'
import type { HealthCheck, Registry } from '@sluice/observability'
import { LATENCY_BUCKETS_SECONDS, counter, gauge, histogram } from '@sluice/observability'
import type { Config } from './config.js'
import { createEnricher } from './enrich.js'
import { LlmClassifier } from './llm.js'
import { TemplateCheckpoints } from './templates.js'
import type { EnrichedLog } from './model.js'

export interface EnricherDeps {
  logger: Logger
  registry: Registry
  kafka: Kafka
  producer: BatchingProducer
  rawCodec: AvroCodec<LogEvent>
  enrichedCodec: AvroCodec<EnrichedLog>
  dlq: DeadLetterQueue
  checks: Record<string, HealthCheck>
}

interface Out {
  key: string
  value: Buffer
}

// Stage timings are sampled: timing every record would cost more than some of the stages.
const SAMPLE_EVERY = 64

export function createService(config: Config, deps: EnricherDeps) {
  const log = deps.logger.child({ service: 'enricher' })
  const enricher = createEnricher({
    ...(config.rules !== undefined && { rules: config.rules }),
    drain: config.drain,
    normalize: { maxMessageBytes: config.maxMessageBytes },
    redact: config.redact ? { ipv4: config.redactIps, ipv6: config.redactIps } : { email: false, card: false, secret: false, ipv4: false, ipv6: false },
  })
  const llm = config.llm && new LlmClassifier({ ...config.llm, registry: deps.registry })
  const r = deps.registry
  const stageSeconds = histogram(r, 'sluice_enricher_stage_seconds', 'Per-record time in each enricher stage (sampled 1 in 64).', LATENCY_BUCKETS_SECONDS.map((b) => b / 100), ['stage'])
  const templates = gauge(r, 'sluice_enricher_templates', 'Log templates currently known to this instance.')
  const categories = counter(r, 'sluice_enricher_records_total', 'Enriched records, by category and classifier.', ['category', 'classifier'])
  let n = 0

  const transform = async (bytes: Buffer | null): Promise<Out> => {
    const timed = n++ % SAMPLE_EVERY === 0
    const t0 = timed ? performance.now() : 0
    const event = await deps.rawCodec.decode(bytes)
    const t1 = timed ? performance.now() : 0
    let enriched = enricher.enrich(event)
    const t2 = timed ? performance.now() : 0
    if (llm && enriched.category === 'unknown') {
      const verdict = await llm.classify(enriched.pattern_id, enriched.template, enriched.message)
      if (verdict) enriched = { ...enriched, category: verdict.category, classifier: verdict.classifier }
    }
    const value = deps.enrichedCodec.encode(enriched)
    if (timed) {
      const t3 = performance.now()
      stageSeconds.observe({ stage: 'decode' }, (t1 - t0) / 1000)
      stageSeconds.observe({ stage: 'enrich' }, (t2 - t1) / 1000)
      stageSeconds.observe({ stage: 'encode' }, (t3 - t2) / 1000)
      templates.set(enricher.drain.clusterCount)
    }
    categories.inc({ category: enriched.category, classifier: enriched.classifier })
    return { key: `${enriched.tenant}/${enriched.service}`, value }
  }

  const consumer = new BatchConsumer<Out>({
    kafka: deps.kafka,
    groupId: config.groupId,
    topics: [config.topicRaw],
    stage: 'enricher',
    decode: (message) => transform(message.value),
    sink: async (items) => {
      const end = stageSeconds.startTimer({ stage: 'produce' })
      await deps.producer.send(config.topicEnriched, items)
      end()
    },
    dlq: deps.dlq,
    logger: log,
    registry: r,
    maxBatchRecords: config.maxBatchRecords,
    flushIntervalMs: config.flushIntervalMs,
    // Live dashboards and alerts wait on this stage: a caught-up partition is flushed at once.
    flushWhenCaughtUp: true,
  })

  const worker = consumerWorker({ name: 'enricher' as const, consumer, logger: log, registry: r, checks: deps.checks, host: config.host, port: config.port })
  const checkpoints = new TemplateCheckpoints({ kafka: deps.kafka, producer: deps.producer, topic: config.topicTemplates, groupId: config.groupId, drain: enricher.drain, logger: log })
  let timer: NodeJS.Timeout | undefined
  const save = () => checkpoints.save().catch((err: unknown) => log.warn({ err }, 'template checkpoint failed'))
  return {
    ...worker,
    enricher,
    /** Restores the templates learnt before, then consumes; checkpoints them periodically. */
    async start(): Promise<string> {
      templates.set(await checkpoints.start())
      timer = setInterval(() => void save(), config.templatesCheckpointIntervalMs)
      return worker.start()
    },
    /** Drains the consumer, then writes a last template checkpoint. */
    async close(): Promise<void> {
      clearInterval(timer)
      await worker.close()
      await save()
      await checkpoints.close()
    },
  }
}
