// ClickHouse sink: logs.enriched → <db>.logs and alerts → <db>.alerts, two pipelines of source
// (batch consumer, each in its own group) → transform (toRow, toAlertRow) → sink (one INSERT per
// flush). Offsets are committed only after ClickHouse acknowledged the insert; while ClickHouse
// fails the runner retries with backoff and commits nothing.
import type { Logger } from 'pino'
import { SluiceError } from '@sluice/core'
import type { Alert, EnrichedLog } from '@sluice/core'
import { BatchConsumer, allConsumers, consumerWorker } from '@sluice/kafka'
import type { DeadLetterQueue, Kafka } from '@sluice/kafka'
import type { AvroCodec } from '@sluice/registry'
import type { ClickHouseClient } from '@sluice/clickhouse'
import type { HealthCheck, Registry } from '@sluice/observability'
import { LATENCY_BUCKETS_SECONDS, counter, histogram } from '@sluice/observability'
import type { Config } from './config.js'
import { toRow } from './row.js'
import type { LogRow } from './row.js'
import { toAlertRow } from './alert-row.js'
import type { AlertRow } from './alert-row.js'

export { loadConfig, envSchema } from './config.js'
export type { Config } from './config.js'
export { toRow } from './row.js'
export { toAlertRow } from './alert-row.js'

export interface SinkDeps {
  logger: Logger
  registry: Registry
  kafka: Kafka
  codec: AvroCodec<EnrichedLog>
  alertCodec: AvroCodec<Alert>
  clickhouse: ClickHouseClient
  dlq: DeadLetterQueue
  checks: Record<string, HealthCheck>
}

export function createService(config: Config, deps: SinkDeps) {
  const log = deps.logger.child({ service: 'clickhouse-sink' })
  const insertSeconds = histogram(deps.registry, 'sluice_clickhouse_insert_seconds', 'Duration of one INSERT into ClickHouse.', LATENCY_BUCKETS_SECONDS, ['table'])
  const insertedRows = counter(deps.registry, 'sluice_clickhouse_inserted_rows_total', 'Rows inserted into ClickHouse.', ['table'])

  /** One INSERT of `rows` into <db>.<name>; resolves once ClickHouse acknowledged it. */
  const inserter =
    <R>(name: 'logs' | 'alerts') =>
    async (rows: R[]): Promise<void> => {
      const table = `${config.database}.${name}`
      const end = insertSeconds.startTimer({ table: name })
      try {
        await deps.clickhouse.insert({ table, values: rows, format: 'JSONEachRow' })
      } catch (err) {
        throw new SluiceError('CLICKHOUSE_INSERT_FAILED', `insert into ${table} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err, canRetry: true })
      } finally {
        end()
      }
      insertedRows.inc({ table: name }, rows.length)
    }

  const common = {
    kafka: deps.kafka,
    dlq: deps.dlq,
    logger: log,
    registry: deps.registry,
    maxBatchRecords: config.maxBatchRecords,
    flushIntervalMs: config.flushIntervalMs,
  }
  const consumer = new BatchConsumer<LogRow>({
    ...common,
    groupId: config.groupId,
    topics: [config.topic],
    stage: 'clickhouse-sink',
    decode: async (message) => toRow(await deps.codec.decode(message.value)),
    sink: inserter<LogRow>('logs'),
  })
  const alertsConsumer = new BatchConsumer<AlertRow>({
    ...common,
    groupId: config.alertsGroupId,
    topics: [config.alertsTopic],
    stage: 'clickhouse-sink-alerts',
    decode: async (message) => toAlertRow(await deps.alertCodec.decode(message.value)),
    sink: inserter<AlertRow>('alerts'),
  })

  // Ready only while both consumers run; close drains both.
  const worker = consumerWorker({
    name: 'clickhouse-sink' as const,
    consumer: allConsumers([consumer, alertsConsumer]),
    logger: log,
    registry: deps.registry,
    checks: deps.checks,
    host: config.host,
    port: config.port,
  })
  return { ...worker, consumer, alertsConsumer }
}
