// Enricher: logs.raw → logs.enriched. Source (batch consumer) → transform (decode, enrich, LLM for
// unknown templates, encode; on ENRICHER_TRANSFORM_THREADS worker threads, records routed by key)
// → sink (produce, acked). Input offsets are committed only after the enriched records are acknowledged;
// undecodable records go to the DLQ. More instances in the same consumer group share the
// partitions; pattern ids agree across them (hash of the template text).
import type { Logger } from 'pino'
import type { LogEvent } from '@sluice/core'
import { SluiceError } from '@sluice/core'
import { BatchConsumer, consumerWorker } from '@sluice/kafka'
import type { BatchingProducer, DeadLetterQueue, Decoded, Kafka, KafkaMessage } from '@sluice/kafka'
import type { AvroCodec } from '@sluice/registry'
import type { HealthCheck, Registry } from '@sluice/observability'
import { LATENCY_BUCKETS_SECONDS, histogram } from '@sluice/observability'
import type { Config } from './config.js'
import type { EnricherConfig } from './enrich.js'
import type { EnrichedLog } from './model.js'
import { TemplateCheckpoints } from './templates.js'
import { TransformThread } from './transform-thread.js'
import { createTransform } from './transform.js'
import { TransformPool } from './transform-pool.js'
import type { OutputRecord } from './transform-pool.js'

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

export function enricherConfigOf(config: Config): EnricherConfig {
  return {
    ...(config.rules !== undefined && { rules: config.rules }),
    drain: config.drain,
    normalize: { maxMessageBytes: config.maxMessageBytes },
    redact: config.redact ? { ipv4: config.redactIps, ipv6: config.redactIps } : { email: false, card: false, secret: false, ipv4: false, ipv6: false },
  }
}

/** The transforms as configured: worker threads, or one on this thread. */
async function startTransforms(config: Config, deps: EnricherDeps, log: Logger): Promise<TransformPool> {
  const enricher = enricherConfigOf(config)
  if (config.transformThreads === 0) return new TransformPool([createTransform({ enricher, llm: config.llm, rawCodec: deps.rawCodec, enrichedCodec: deps.enrichedCodec, registry: deps.registry })])
  const codec = (c: AvroCodec<unknown>) => ({ subject: c.subject, schema: c.schema })
  const init = { enricher, llm: config.llm, registryUrl: config.registryUrl, raw: codec(deps.rawCodec), enriched: codec(deps.enrichedCodec) }
  const started = await Promise.allSettled(Array.from({ length: config.transformThreads }, () => TransformThread.start(init, { logger: log, registry: deps.registry, maxHeapMb: config.transformThreadHeapMb })))
  const threads = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  const failed = started.find((s) => s.status === 'rejected')
  if (failed) {
    await Promise.all(threads.map((t) => t.close()))
    throw failed.reason
  }
  return new TransformPool(threads)
}

export function createService(config: Config, deps: EnricherDeps) {
  const log = deps.logger.child({ service: 'enricher' })
  const r = deps.registry
  const produceSeconds = histogram(r, 'sluice_enricher_stage_seconds', 'Per-record time in each enricher stage (sampled 1 in 64).', LATENCY_BUCKETS_SECONDS.map((b) => b / 100), ['stage'])
  let transforms: TransformPool | undefined

  const decodeBatch = async (messages: KafkaMessage[]): Promise<Decoded<OutputRecord>[]> => {
    if (!transforms) throw new SluiceError('SHUTTING_DOWN', 'the enricher transforms are not running', { canRetry: true })
    return transforms.run(messages)
  }

  const consumer = new BatchConsumer<OutputRecord>({
    kafka: deps.kafka,
    groupId: config.groupId,
    topics: [config.topicRaw],
    stage: 'enricher',
    decodeBatch,
    sink: async (items) => {
      const end = produceSeconds.startTimer({ stage: 'produce' })
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
  let checkpoints: TemplateCheckpoints | undefined
  let timer: NodeJS.Timeout | undefined
  const save = () => checkpoints?.save().catch((err: unknown) => log.warn({ err }, 'template checkpoint failed'))
  return {
    ...worker,
    /** Starts the transforms, restores the templates learnt before, then consumes; checkpoints them periodically. */
    async start(): Promise<string> {
      const pool = await startTransforms(config, deps, log)
      transforms = pool
      checkpoints = new TemplateCheckpoints({ kafka: deps.kafka, producer: deps.producer, topic: config.topicTemplates, groupId: config.groupId, transform: pool, logger: log })
      try {
        await checkpoints.start()
        timer = setInterval(() => void save(), config.templatesCheckpointIntervalMs)
        return await worker.start()
      } catch (err) {
        await this.close()
        throw err
      }
    },
    /** Drains the consumer, then writes a last template checkpoint. */
    async close(): Promise<void> {
      clearInterval(timer)
      await worker.close()
      await save()
      await checkpoints?.close()
      await transforms?.close()
      transforms = undefined
    },
  }
}
