// Process-level configuration shared by every target run in one process.
import { z } from 'zod'
import { clickhouseEnv, commonEnv, kafkaEnv, parseEnv, positiveInt, registryEnv } from '@sluice/config'
import type { Env } from '@sluice/config'
import { loadSecurityConfig, securityEnv } from '@sluice/auth'

export const envSchema = z.object({
  ...commonEnv.shape,
  ...kafkaEnv.shape,
  ...registryEnv.shape,
  ...clickhouseEnv.shape,
  ...securityEnv.shape,
  SLUICE_STARTUP_TIMEOUT_MS: positiveInt(120_000),
  SLUICE_SHUTDOWN_TIMEOUT_MS: positiveInt(30_000),
})

export function loadConfig(env?: Env) {
  const e = parseEnv(envSchema, env)
  return Object.freeze({
    logLevel: e.LOG_LEVEL,
    kafka: {
      brokers: e.KAFKA_BROKERS,
      clientId: e.KAFKA_CLIENT_ID,
      partitions: e.KAFKA_TOPIC_PARTITIONS,
      replicationFactor: e.KAFKA_REPLICATION_FACTOR,
      minInsyncReplicas: e.KAFKA_MIN_INSYNC_REPLICAS,
      topicRaw: e.TOPIC_LOGS_RAW,
      topicEnriched: e.TOPIC_LOGS_ENRICHED,
      topicAlerts: e.TOPIC_ALERTS,
      topicDlq: e.TOPIC_LOGS_DLQ,
      topicAudit: e.TOPIC_AUDIT,
      produceTimeoutMs: e.KAFKA_PRODUCE_TIMEOUT_MS,
      sessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
    },
    registryUrl: e.SCHEMA_REGISTRY_URL,
    clickhouse: {
      url: e.CLICKHOUSE_URL,
      username: e.CLICKHOUSE_USER,
      password: e.CLICKHOUSE_PASSWORD,
      database: e.CLICKHOUSE_DATABASE,
      dataDir: e.CLICKHOUSE_DATA_DIR,
      readSessions: e.CLICKHOUSE_READ_SESSIONS,
      ttlDays: e.CLICKHOUSE_TTL_DAYS,
      cluster: e.CLICKHOUSE_CLUSTER,
    },
    // ClickHouse's HTTP interface for analysts (embedded mode only; port 0 = off).
    clickhouseHttp: {
      host: e.HOST,
      port: e.CLICKHOUSE_HTTP_PORT,
      user: e.CLICKHOUSE_HTTP_USER,
      password: e.CLICKHOUSE_HTTP_PASSWORD,
      database: e.CLICKHOUSE_DATABASE,
      maxResultRows: e.CLICKHOUSE_HTTP_MAX_RESULT_ROWS,
      timeoutMs: e.CLICKHOUSE_HTTP_TIMEOUT_MS,
      maxMemoryBytes: e.CLICKHOUSE_HTTP_MAX_MEMORY_BYTES,
      maxConcurrentQueries: e.CLICKHOUSE_HTTP_MAX_CONCURRENT_QUERIES,
      tenant: e.CLICKHOUSE_HTTP_TENANT,
      serviceUser: e.CLICKHOUSE_HTTP_SERVICE_USER,
      servicePassword: e.CLICKHOUSE_HTTP_SERVICE_PASSWORD,
    },
    security: loadSecurityConfig(e),
    startupTimeoutMs: e.SLUICE_STARTUP_TIMEOUT_MS,
    shutdownTimeoutMs: e.SLUICE_SHUTDOWN_TIMEOUT_MS,
  })
}

export type RuntimeConfig = ReturnType<typeof loadConfig>
