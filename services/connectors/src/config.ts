// Connectors configuration (env → frozen config).
import { z } from 'zod'
import { commaList, commonEnv, kafkaEnv, parseEnv, port, positiveInt, registryEnv } from '@sluice/config'
import type { Env } from '@sluice/config'

export const envSchema = z.object({
  ...commonEnv.shape,
  ...kafkaEnv.shape,
  ...registryEnv.shape,
  CONNECTORS_PORT: port(9104),
  /** Instances share the connections through this group: each runs those of its partitions. */
  CONNECTORS_GROUP_ID: z.string().default('sluice-connectors'),
  /** How soon the group notices a dead instance and hands its connections on (broker minimum 6000); unset: KAFKA_SESSION_TIMEOUT_MS. */
  CONNECTORS_SESSION_TIMEOUT_MS: z.coerce.number().int().positive().optional(),
  /** Compacted topic of the connections (credentials sealed); default "connectors.connections". */
  TOPIC_CONNECTIONS: z.string().default('connectors.connections'),
  /** Compacted topic of each connection's checkpoint and status; default "connectors.checkpoints". */
  TOPIC_CONNECTOR_CHECKPOINTS: z.string().default('connectors.checkpoints'),
  /** Empty topic whose partitions the group divides: a connection runs where its partition is assigned. */
  TOPIC_CONNECTOR_LEASES: z.string().default('connectors.leases'),
  /** Seals credentials at rest: 32 bytes as 64 hex digits or base64, the same on every instance. Unset: CONNECTORS_ENCRYPTION_KEY_FILE. */
  CONNECTORS_ENCRYPTION_KEY: z.string().optional(),
  /** Keys being rotated out (comma-separated): still open credentials; re-sealed with the current key at start. */
  CONNECTORS_ENCRYPTION_KEYS_PREVIOUS: commaList(),
  CONNECTORS_ENCRYPTION_KEY_FILE: z.string().default('.local/connectors/encryption.key'),
  /** Default poll interval of a connection. */
  CONNECTORS_POLL_INTERVAL_MS: positiveInt(15_000),
  /** How far behind the newest entry a poll looks again, for entries the provider makes visible late. */
  CONNECTORS_LOOKBACK_MS: positiveInt(300_000),
  /** Where a new connection starts: this far before its creation. */
  CONNECTORS_START_LOOKBACK_MS: positiveInt(3_600_000),
  /** Entries asked per provider page. */
  CONNECTORS_PAGE_SIZE: positiveInt(1000),
  /** Provider calls in flight at once, over all connections of an instance. */
  CONNECTORS_MAX_CONCURRENT_CALLS: positiveInt(4),
  /** Per provider call. */
  CONNECTORS_CALL_TIMEOUT_MS: positiveInt(30_000),
  /** Longest wait between attempts when a provider throttles or fails. */
  CONNECTORS_MAX_BACKOFF_MS: positiveInt(300_000),
  /** The tenant of API requests that name none. */
  CONNECTORS_DEFAULT_TENANT: z.string().default('default'),
})

export function loadConfig(env?: Env) {
  const e = parseEnv(envSchema, env)
  return Object.freeze({
    host: e.HOST,
    port: e.CONNECTORS_PORT,
    groupId: e.CONNECTORS_GROUP_ID,
    sessionTimeoutMs: e.CONNECTORS_SESSION_TIMEOUT_MS,
    topicRaw: e.TOPIC_LOGS_RAW,
    topicConnections: e.TOPIC_CONNECTIONS,
    topicCheckpoints: e.TOPIC_CONNECTOR_CHECKPOINTS,
    topicLeases: e.TOPIC_CONNECTOR_LEASES,
    leasePartitions: e.KAFKA_TOPIC_PARTITIONS,
    encryptionKey: e.CONNECTORS_ENCRYPTION_KEY || undefined,
    previousKeys: e.CONNECTORS_ENCRYPTION_KEYS_PREVIOUS,
    encryptionKeyFile: e.CONNECTORS_ENCRYPTION_KEY_FILE,
    defaultTenant: e.CONNECTORS_DEFAULT_TENANT,
    poll: Object.freeze({
      intervalMs: e.CONNECTORS_POLL_INTERVAL_MS,
      lookbackMs: e.CONNECTORS_LOOKBACK_MS,
      startLookbackMs: e.CONNECTORS_START_LOOKBACK_MS,
      pageSize: e.CONNECTORS_PAGE_SIZE,
      maxConcurrentCalls: e.CONNECTORS_MAX_CONCURRENT_CALLS,
      callTimeoutMs: e.CONNECTORS_CALL_TIMEOUT_MS,
      maxBackoffMs: e.CONNECTORS_MAX_BACKOFF_MS,
    }),
  })
}

export type Config = ReturnType<typeof loadConfig>
