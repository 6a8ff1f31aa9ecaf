// Enricher configuration (env → frozen config).
import { availableParallelism } from 'node:os'
import { z } from 'zod'
import { bool, commonEnv, readConfigFile, kafkaEnv, parseEnv, port, positiveInt, registryEnv } from '@sluice/config'
import type { Env } from '@sluice/config'
import { rulesFileSchema } from './classify.js'

export const envSchema = z.object({
  ...commonEnv.shape,
  ...kafkaEnv.shape,
  ...registryEnv.shape,
  ENRICHER_PORT: port(9101),
  ENRICHER_GROUP_ID: z.string().default('sluice-enricher'),
  ENRICHER_MAX_BATCH_RECORDS: positiveInt(5000),
  ENRICHER_FLUSH_INTERVAL_MS: positiveInt(50),
  /**
   * Worker threads that decode, enrich and encode beside the Kafka I/O; 0: on the event loop.
   * Default: one per core. The event loop mostly waits on Kafka (30–60 % of a core at full load), so
   * leaving it a core of its own left that much idle: on 2 cores, 2 threads drain 37–45 k records/s
   * where 1 drained 28–39 k, alternating runs of the enricher bench section.
   */
  ENRICHER_TRANSFORM_THREADS: z.coerce.number().int().min(0).max(64).default(() => availableParallelism()),
  /** Heap limit of each transform thread; one that outgrows it is ended and replaced. Unset: Node's default. */
  ENRICHER_TRANSFORM_THREAD_HEAP_MB: z.coerce.number().int().positive().optional(),
  /** JSON rules file ({"rules":[…]}); unset → the built-in rules. */
  ENRICHER_RULES_FILE: z.string().optional(),
  ENRICHER_MAX_MESSAGE_BYTES: positiveInt(32 * 1024),
  ENRICHER_REDACT: bool(true),
  ENRICHER_REDACT_IPS: bool(false),
  /** Template groups kept per transform thread (least recently used evicted beyond it). */
  ENRICHER_DRAIN_MAX_CLUSTERS: positiveInt(50_000),
  /** Distinct words at one place in otherwise equal messages that make it a parameter (≥ 2). */
  ENRICHER_TEMPLATE_MIN_DISTINCT: z.coerce.number().int().min(2).default(3),
  /** Compacted topic keeping the mined templates across restarts; default "<TOPIC_LOGS_ENRICHED>.templates". */
  TOPIC_ENRICHER_TEMPLATES: z.string().optional(),
  ENRICHER_TEMPLATES_CHECKPOINT_INTERVAL_MS: positiveInt(30_000),
  /** Set to enable LLM classification of templates the rules leave unknown. */
  GROQ_API_KEY: z.string().optional(),
  GROQ_BASE_URL: z.url().optional(),
  GROQ_MODEL: z.string().default('llama-3.1-8b-instant'),
  LLM_MAX_CALLS_PER_MINUTE: positiveInt(30),
  LLM_TIMEOUT_MS: positiveInt(5000),
  LLM_CACHE_SIZE: positiveInt(10_000),
})

/** The rules file's JSON, once it passed validation (every issue named, by path). */
function checkRules(text: string): unknown {
  const json = JSON.parse(text) as unknown
  const result = rulesFileSchema.safeParse(json)
  if (!result.success) throw new Error(`invalid rules: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  return json
}

export function loadConfig(env?: Env) {
  const e = parseEnv(envSchema, env)
  return Object.freeze({
    host: e.HOST,
    port: e.ENRICHER_PORT,
    groupId: e.ENRICHER_GROUP_ID,
    topicRaw: e.TOPIC_LOGS_RAW,
    topicEnriched: e.TOPIC_LOGS_ENRICHED,
    topicTemplates: e.TOPIC_ENRICHER_TEMPLATES ?? `${e.TOPIC_LOGS_ENRICHED}.templates`,
    templatesCheckpointIntervalMs: e.ENRICHER_TEMPLATES_CHECKPOINT_INTERVAL_MS,
    maxBatchRecords: e.ENRICHER_MAX_BATCH_RECORDS,
    flushIntervalMs: e.ENRICHER_FLUSH_INTERVAL_MS,
    transformThreads: e.ENRICHER_TRANSFORM_THREADS,
    transformThreadHeapMb: e.ENRICHER_TRANSFORM_THREAD_HEAP_MB,
    registryUrl: e.SCHEMA_REGISTRY_URL,
    // Checked here, with the rest of the configuration, not first on the transform threads.
    rules: e.ENRICHER_RULES_FILE ? readConfigFile('ENRICHER_RULES_FILE', e.ENRICHER_RULES_FILE, checkRules) : undefined,
    maxMessageBytes: e.ENRICHER_MAX_MESSAGE_BYTES,
    redact: e.ENRICHER_REDACT,
    redactIps: e.ENRICHER_REDACT_IPS,
    templates: { maxClusters: e.ENRICHER_DRAIN_MAX_CLUSTERS, minDistinctValues: e.ENRICHER_TEMPLATE_MIN_DISTINCT },
    llm: e.GROQ_API_KEY
      ? {
          apiKey: e.GROQ_API_KEY,
          baseUrl: e.GROQ_BASE_URL,
          model: e.GROQ_MODEL,
          maxCallsPerMinute: e.LLM_MAX_CALLS_PER_MINUTE,
          timeoutMs: e.LLM_TIMEOUT_MS,
          cacheSize: e.LLM_CACHE_SIZE,
        }
      : undefined,
  })
}

export type Config = ReturnType<typeof loadConfig>
