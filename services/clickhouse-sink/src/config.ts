// ClickHouse sink configuration (env → frozen config).
import { z } from 'zod'
import { clickhouseEnv, commonEnv, kafkaEnv, parseEnv, port, positiveInt, registryEnv } from '@sluice/config'
import type { Env } from '@sluice/config'

export const envSchema = z.object({
  ...commonEnv.shape,
  ...kafkaEnv.shape,
  ...registryEnv.shape,
  ...clickhouseEnv.shape,
  SINK_PORT: port(9102),
  SINK_GROUP_ID: z.string().default('sluice-clickhouse-sink'),
  // ClickHouse wants large, infrequent inserts (10 000–100 000 rows, about one a second): the
  // interval bounds how often, this bounds the size under a backlog.
  SINK_MAX_BATCH_RECORDS: positiveInt(100_000),
  SINK_FLUSH_INTERVAL_MS: positiveInt(1000),
})

export function loadConfig(env?: Env) {
  const e = parseEnv(envSchema, env)
  return Object.freeze({
    host: e.HOST,
    port: e.SINK_PORT,
    groupId: e.SINK_GROUP_ID,
    topic: e.TOPIC_LOGS_ENRICHED,
    alertsTopic: e.TOPIC_ALERTS,
    // Its own group: the alerts consumer commits, rebalances and lags independently of the logs one.
    alertsGroupId: `${e.SINK_GROUP_ID}-alerts`,
    auditTopic: e.TOPIC_AUDIT,
    auditGroupId: `${e.SINK_GROUP_ID}-audit`,
    database: e.CLICKHOUSE_DATABASE,
    maxBatchRecords: e.SINK_MAX_BATCH_RECORDS,
    flushIntervalMs: e.SINK_FLUSH_INTERVAL_MS,
  })
}

export type Config = ReturnType<typeof loadConfig>
