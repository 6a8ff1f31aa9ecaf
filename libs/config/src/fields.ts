// Reusable env fields and blocks. Units live in the names (…_MS, …_BYTES, …_DAYS).
import { z } from 'zod'

export const port = (def: number) => z.coerce.number().int().min(0).max(65535).default(def)
export const positiveInt = (def: number) => z.coerce.number().int().positive().default(def)
export const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
    .default(def ? 'true' : 'false')
    .transform((v) => ['true', '1', 'yes', 'on'].includes(v))
/** Comma-separated entries, trimmed, blanks dropped; unset: `def` (none by default). */
export const commaList = (def = '') =>
  z
    .string()
    .default(def)
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
/** A positive count, or `auto` (the default): decided from the cluster when it is needed. */
const replicaSetting = z
  .union([z.literal('auto'), z.coerce.number().int().positive()])
  .default('auto')
const list = (def: string) => commaList(def).refine((a) => a.length > 0, 'must list at least one entry')

export const commonEnv = z.object({
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().default('0.0.0.0'),
})

export const kafkaEnv = z.object({
  KAFKA_BROKERS: list('localhost:9092'),
  KAFKA_CLIENT_ID: z.string().default('sluice'),
  KAFKA_TOPIC_PARTITIONS: positiveInt(3),
  /** Copies of each topic Sluice creates; `auto`: 3 on a cluster of 3+ brokers, else one per broker. */
  KAFKA_REPLICATION_FACTOR: replicaSetting,
  /** min.insync.replicas of topics Sluice creates; `auto`: 2 where there are 3 copies, else the broker's default. */
  KAFKA_MIN_INSYNC_REPLICAS: replicaSetting,
  KAFKA_PRODUCE_TIMEOUT_MS: positiveInt(15_000),
  /**
   * How soon a consumer group notices a member that died without leaving (SIGKILL, a lost machine)
   * and hands its partitions on; heartbeats go every third of it. 6000 is the broker's minimum
   * (group.min.session.timeout.ms): with it, consumers resume within about 8 s of a crash.
   */
  KAFKA_SESSION_TIMEOUT_MS: positiveInt(6000),
  TOPIC_LOGS_RAW: z.string().default('logs.raw'),
  TOPIC_LOGS_DLQ: z.string().default('logs.dlq'),
  TOPIC_LOGS_ENRICHED: z.string().default('logs.enriched'),
  TOPIC_ALERTS: z.string().default('alerts'),
  /** Compacted topic of the in-app notification inbox (alerter writes, ws-fanout pushes); default "<TOPIC_ALERTS>.notifications". */
  TOPIC_NOTIFICATIONS: z.string().optional(),
  /** Audit rows of processes without ClickHouse, for the ClickHouse sink to store in the audit table. */
  TOPIC_AUDIT: z.string().default('sluice.audit'),
})

/** The inbox topic: TOPIC_NOTIFICATIONS, or "<TOPIC_ALERTS>.notifications". */
export const notificationsTopic = (e: { TOPIC_ALERTS: string; TOPIC_NOTIFICATIONS?: string | undefined }): string => e.TOPIC_NOTIFICATIONS ?? `${e.TOPIC_ALERTS}.notifications`

export const registryEnv = z.object({
  SCHEMA_REGISTRY_URL: z.url().default('http://localhost:8081/apis/ccompat/v7'),
})

export const clickhouseEnv = z.object({
  // Unset: embedded ClickHouse (chdb) in CLICKHOUSE_DATA_DIR. Set: a ClickHouse server over HTTP.
  CLICKHOUSE_URL: z.url().optional(),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CLICKHOUSE_DATABASE: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'expected a plain identifier').default('sluice'),
  CLICKHOUSE_DATA_DIR: z.string().default('.local/clickhouse'),
  // Embedded ClickHouse: the engine sessions a process's reads spread over, run at the same time;
  // its writes have one more of their own, so a slow query holds up neither them nor other reads.
  // Unset: @sluice/clickhouse's DEFAULT_READ_SESSIONS (3).
  CLICKHOUSE_READ_SESSIONS: z.coerce.number().int().min(1).max(64).optional(),
  // At most 65535, what the RetentionDays column (UInt16) holds. Events are accepted up to
  // 2096-01-01 (@sluice/core LATEST_EVENT_NS) so that a retention of 3650 days still ends inside
  // ClickHouse's DateTime (2106); with a longer one, the sink refuses rows that would not
  // (clickhouse-sink row-binary.ts latestEventNs).
  CLICKHOUSE_TTL_DAYS: z.coerce.number().int().min(1).max(65535).default(30),
  // A cluster of ClickHouse servers (a name in their remote_servers; needs CLICKHOUSE_URL): tables
  // are created ON CLUSTER as Replicated <t>_local plus Distributed <t> (libs/clickhouse/src/cluster.ts).
  CLICKHOUSE_CLUSTER: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'expected a plain identifier').optional(),
  // ClickHouse's HTTP interface for analysts, read-only, served by the process holding the embedded
  // engine (embedded mode only: a ClickHouse server has its own). 0 switches it off.
  CLICKHOUSE_HTTP_PORT: port(8123),
  CLICKHOUSE_HTTP_USER: z.string().min(1).default('default'),
  // Empty: no password, and only connections from the same host are accepted.
  CLICKHOUSE_HTTP_PASSWORD: z.string().default(''),
  // 0 = no limit (as ClickHouse's max_result_rows).
  CLICKHOUSE_HTTP_MAX_RESULT_ROWS: z.coerce.number().int().min(0).default(1_000_000),
  CLICKHOUSE_HTTP_TIMEOUT_MS: positiveInt(60_000),
  // Per query (max_memory_usage); 0 = the engine's default.
  CLICKHOUSE_HTTP_MAX_MEMORY_BYTES: z.coerce.number().int().min(0).default(2 * 1024 ** 3),
  CLICKHOUSE_HTTP_MAX_CONCURRENT_QUERIES: positiveInt(2),
  // When set, the interface's user reads only this tenant's rows.
  CLICKHOUSE_HTTP_TENANT: z.string().min(1).optional(),
  // Sluice's own processes elsewhere (CLICKHOUSE_URL=http://<this host>:8123) use the interface as
  // their ClickHouse with this user and password: write access, no limits. Empty: no such user.
  CLICKHOUSE_HTTP_SERVICE_USER: z.string().min(1).default('sluice'),
  CLICKHOUSE_HTTP_SERVICE_PASSWORD: z.string().default(''),
})
