// One runtime runs any set of targets in one process (Loki's -target model): shared clients are
// created once, only for the targets that need them, and closed in reverse order on shutdown.
//   all             gateway + enricher + alerter + clickhouse-sink + query-api + ws-fanout, embedded ClickHouse
//   gateway,...     any subset, e.g. one role per process in production
import path from 'node:path'
import type { Logger } from 'pino'
import type { Alert, EnrichedLog, LogEvent } from '@sluice/core'
import { errorMessage, isSluiceError } from '@sluice/core'
import type { Env } from '@sluice/config'
import { BatchingProducer, DeadLetterQueue, createKafka, ensureTopics, pingKafka } from '@sluice/kafka'
import type { Kafka } from '@sluice/kafka'
import { AvroCodec, createRegistryClient, loadAvsc, pingRegistry, schemasDir } from '@sluice/registry'
import { createClickHouse, migrate, pingClickHouse } from '@sluice/clickhouse'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { createLogger, createRegistry } from '@sluice/observability'
import type { HealthCheck, HealthReport, Registry } from '@sluice/observability'
import * as gateway from '@sluice/gateway'
import * as enricher from '@sluice/enricher'
import * as alerter from '@sluice/alerter'
import * as wsFanout from '@sluice/ws-fanout'
import * as sink from '@sluice/clickhouse-sink'
import * as queryApi from '@sluice/query-api'
import { loadConfig } from './config.js'
import type { RuntimeConfig } from './config.js'

export { loadConfig } from './config.js'
export type { RuntimeConfig } from './config.js'

export const TARGETS = ['gateway', 'enricher', 'alerter', 'clickhouse-sink', 'query-api', 'ws-fanout'] as const
export type Target = (typeof TARGETS)[number]

export function parseTargets(spec: string): Target[] {
  const parts = spec.split(',').map((s) => s.trim()).filter(Boolean)
  if (parts.includes('all')) return [...TARGETS]
  const unknown = parts.filter((p) => !(TARGETS as readonly string[]).includes(p))
  if (unknown.length > 0 || parts.length === 0) {
    throw new Error(`unknown target(s) ${unknown.join(', ') || '(none)'}: choose from all, ${TARGETS.join(', ')}`)
  }
  return [...new Set(parts)] as Target[]
}

interface RunningService {
  name: Target
  start(): Promise<string>
  close(): Promise<void>
  health(): Promise<HealthReport>
}

export interface Runtime {
  logger: Logger
  registry: Registry
  services: RunningService[]
  /** Addresses the services listen on, by target. */
  addresses: Partial<Record<Target, string>>
  clickhouse?: ClickHouseHandle
  close(): Promise<void>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Retries `fn` until it succeeds or the deadline passes; start-up waits for dependencies. */
async function untilReady<T>(what: string, deadline: number, log: Logger, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn()
    } catch (err) {
      if (isSluiceError(err) && !err.canRetry) throw err
      if (Date.now() > deadline) throw new Error(`${what} not reachable: ${errorMessage(err)}`, { cause: err })
      if (attempt % 5 === 0) log.warn({ err: errorMessage(err) }, `waiting for ${what}`)
      await sleep(Math.min(2000, 200 * 2 ** attempt))
    }
  }
}

export interface StartOptions {
  targets: Target[]
  env?: Env
  logger?: Logger
  registry?: Registry
}

export async function startRuntime(opts: StartOptions): Promise<Runtime> {
  const env = opts.env ?? process.env
  const config: RuntimeConfig = loadConfig(env)
  const logger = opts.logger ?? createLogger({ level: config.logLevel })
  const registry = opts.registry ?? createRegistry()
  const targets = new Set(opts.targets)
  const deadline = Date.now() + config.startupTimeoutMs
  const closers: Array<() => Promise<void>> = []
  const services: RunningService[] = []
  const addresses: Partial<Record<Target, string>> = {}
  const checks: Record<string, HealthCheck> = {}

  const close = async () => {
    for (const c of closers.reverse()) {
      try {
        await c()
      } catch (err) {
        logger.warn({ err }, 'error during shutdown')
      }
    }
    closers.length = 0
  }

  try {
    const needsKafka = targets.has('gateway') || targets.has('enricher') || targets.has('alerter') || targets.has('clickhouse-sink') || targets.has('ws-fanout')
    const alerterConfig = targets.has('alerter') ? alerter.loadConfig(env) : undefined
    const enricherConfig = targets.has('enricher') ? enricher.loadConfig(env) : undefined
    const needsClickHouse = targets.has('clickhouse-sink') || targets.has('query-api')
    let kafka: Kafka | undefined
    let producer: BatchingProducer | undefined
    let codec: AvroCodec<LogEvent> | undefined
    let enrichedCodec: AvroCodec<EnrichedLog> | undefined
    let alertCodec: AvroCodec<Alert> | undefined
    let clickhouse: ClickHouseHandle | undefined

    if (needsKafka) {
      const k = createKafka({ brokers: config.kafka.brokers, clientId: config.kafka.clientId, logger })
      kafka = k
      checks.kafka = () => pingKafka(k)
      const topic = (name: string, configs?: Record<string, string>) => ({
        topic: name,
        numPartitions: config.kafka.partitions,
        replicationFactor: config.kafka.replicationFactor,
        ...(configs && { configs }),
      })
      await untilReady('Kafka', deadline, logger, () =>
        ensureTopics(k, [
          topic(config.kafka.topicRaw),
          topic(config.kafka.topicEnriched),
          topic(config.kafka.topicDlq),
          // Keyed by alert id: compaction keeps each alert's latest state.
          topic(config.kafka.topicAlerts, { 'cleanup.policy': 'compact' }),
          // One record per input partition: the latest checkpoint of its alert state.
          ...(alerterConfig ? [{ ...topic(alerterConfig.topicState, { 'cleanup.policy': 'compact' }), numPartitions: 1 }] : []),
          // One record per enricher group: its latest template checkpoint.
          ...(enricherConfig ? [{ ...topic(enricherConfig.topicTemplates, { 'cleanup.policy': 'compact' }), numPartitions: 1 }] : []),
        ]),
      )
      const p = new BatchingProducer(k, { produceTimeoutMs: config.kafka.produceTimeoutMs })
      producer = p
      await untilReady('Kafka producer', deadline, logger, () => p.connect())
      closers.push(() => p.close())

      const schemaRegistry = createRegistryClient(config.registryUrl)
      checks.registry = () => pingRegistry(config.registryUrl)
      codec = await untilReady('schema registry', deadline, logger, () =>
        AvroCodec.register<LogEvent>(schemaRegistry, `${config.kafka.topicRaw}-value`, loadAvsc('log-event.avsc')),
      )
      enrichedCodec = await untilReady('schema registry', deadline, logger, () =>
        AvroCodec.register<EnrichedLog>(schemaRegistry, `${config.kafka.topicEnriched}-value`, loadAvsc('enriched-log.avsc')),
      )
      alertCodec = await untilReady('schema registry', deadline, logger, () =>
        AvroCodec.register<Alert>(schemaRegistry, `${config.kafka.topicAlerts}-value`, loadAvsc('alert.avsc')),
      )
    }

    if (needsClickHouse) {
      const ch = await createClickHouse({ ...config.clickhouse })
      clickhouse = ch
      closers.push(() => ch.client.close())
      checks.clickhouse = () => pingClickHouse(ch.client)
      const applied = await untilReady('ClickHouse', deadline, logger, () =>
        migrate(ch.client, { database: config.clickhouse.database, ttlDays: config.clickhouse.ttlDays, dir: path.join(schemasDir(), 'clickhouse') }),
      )
      logger.info({ clickhouse: ch.mode, location: ch.location, applied }, 'ClickHouse ready')
    }

    const add = async (svc: RunningService) => {
      addresses[svc.name] = await svc.start()
      closers.push(() => svc.close())
      services.push(svc)
      logger.info({ target: svc.name, address: addresses[svc.name] }, 'started')
    }

    // Consumers first, the gateway last: by the time it accepts records, everything else runs.
    if (targets.has('query-api') && clickhouse) {
      await add(queryApi.createService(queryApi.loadConfig(env), { logger, registry, clickhouse: clickhouse.client, checks: { clickhouse: checks.clickhouse! } }))
    }
    if (targets.has('clickhouse-sink') && kafka && producer && enrichedCodec && alertCodec && clickhouse) {
      const sinkConfig = sink.loadConfig(env)
      await add(
        sink.createService(sinkConfig, {
          logger,
          registry,
          kafka,
          codec: enrichedCodec,
          alertCodec,
          clickhouse: clickhouse.client,
          dlq: new DeadLetterQueue(producer, config.kafka.topicDlq, 'clickhouse-sink'),
          checks: { kafka: checks.kafka!, registry: checks.registry!, clickhouse: checks.clickhouse! },
        }),
      )
    }
    if (enricherConfig && kafka && producer && codec && enrichedCodec) {
      await add(
        enricher.createService(enricherConfig, {
          logger,
          registry,
          kafka,
          producer,
          rawCodec: codec,
          enrichedCodec,
          dlq: new DeadLetterQueue(producer, config.kafka.topicDlq, 'enricher'),
          checks: { kafka: checks.kafka!, registry: checks.registry! },
        }),
      )
    }
    if (alerterConfig && kafka && producer && enrichedCodec && alertCodec) {
      await add(
        alerter.createService(alerterConfig, {
          logger,
          registry,
          kafka,
          producer,
          enrichedCodec,
          alertCodec,
          dlq: new DeadLetterQueue(producer, config.kafka.topicDlq, 'alerter'),
          checks: { kafka: checks.kafka!, registry: checks.registry! },
        }),
      )
    }
    if (targets.has('ws-fanout') && kafka && enrichedCodec && alertCodec) {
      await add(wsFanout.createService(wsFanout.loadConfig(env), { logger, registry, kafka, enrichedCodec, alertCodec, checks: { kafka: checks.kafka!, registry: checks.registry! } }))
    }
    if (targets.has('gateway') && producer && codec) {
      await add(gateway.createService(gateway.loadConfig(env), { logger, registry, producer, codec, checks: { kafka: checks.kafka!, registry: checks.registry! } }))
    }
    return { logger, registry, services, addresses, ...(clickhouse && { clickhouse }), close }
  } catch (err) {
    await close()
    throw err
  }
}
