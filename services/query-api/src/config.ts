// Query API configuration (env → frozen config).
import { z } from 'zod'
import { bool, clickhouseEnv, commonEnv, parseEnv, port, positiveInt } from '@sluice/config'
import type { Env } from '@sluice/config'

export const envSchema = z.object({
  ...commonEnv.shape,
  ...clickhouseEnv.shape,
  QUERY_API_PORT: port(8070),
  QUERY_MAX_LIMIT: positiveInt(1000),
  QUERY_TIMEOUT_MS: positiveInt(30_000),
  QUERY_MAX_RANGE_HOURS: positiveInt(721),
  QUERY_MAX_SERIES: positiveInt(500),
  QUERY_MAX_LINES: positiveInt(5000),
  QUERY_MAX_ROWS_READ: z.coerce.number().int().min(0).default(0),
  QUERY_MAX_BYTES_READ: z.coerce.number().int().min(0).default(0),
  /** Rows a LogQL line filter or a /v1/logs `q` search reads without the text index's dictionary scan (0: always with it). */
  QUERY_TEXT_SCAN_MIN_ROWS: z.coerce.number().int().min(0).default(1_000_000),
  QUERY_TAIL_MAX_CONNECTIONS: positiveInt(10),
  QUERY_TAIL_POLL_MS: positiveInt(1000),
  QUERY_EXPORT_MAX_ROWS: positiveInt(1_000_000),
  QUERY_EXPORT_CHUNK_ROWS: positiveInt(10_000),
  /** gzip (or deflate) answers of 1 KiB and more for clients that accept them, as Loki's compress_responses. */
  QUERY_COMPRESS_RESPONSES: bool(false),
  QUERY_SERVICE_DOWN_AFTER_MS: positiveInt(600_000),
  QUERY_SERVICE_DEGRADED_ERROR_RATE: z.coerce.number().min(0).max(1).default(0.05),
  QUERY_SERVICE_LOOKBACK_HOURS: positiveInt(168),
  /** The AI endpoints' model (Groq); unset, they answer with their deterministic fallback. */
  GROQ_API_KEY: z.string().min(1).optional(),
  GROQ_BASE_URL: z.url().optional(),
  QUERY_AI_MODEL: z.string().default('llama-3.3-70b-versatile'),
  QUERY_AI_TIMEOUT_MS: positiveInt(20_000),
  /** Completion tokens per model call. */
  QUERY_AI_MAX_TOKENS: positiveInt(1024),
  /** Model calls per tenant (cached answers are free). */
  QUERY_AI_MAX_REQUESTS_PER_MINUTE: positiveInt(20),
  QUERY_AI_MAX_REQUESTS_PER_DAY: positiveInt(1000),
  /** Prompt and completion tokens per tenant per UTC day. */
  QUERY_AI_MAX_TOKENS_PER_DAY: positiveInt(500_000),
  QUERY_AI_CACHE_TTL_MS: positiveInt(300_000),
  QUERY_AI_CACHE_SIZE: positiveInt(500),
})

export function loadConfig(env?: Env) {
  const e = parseEnv(envSchema, env)
  return Object.freeze({
    host: e.HOST,
    port: e.QUERY_API_PORT,
    database: e.CLICKHOUSE_DATABASE,
    cluster: e.CLICKHOUSE_CLUSTER,
    maxLimit: e.QUERY_MAX_LIMIT,
    compressResponses: e.QUERY_COMPRESS_RESPONSES,
    guard: Object.freeze({ timeoutMs: e.QUERY_TIMEOUT_MS, maxRowsRead: e.QUERY_MAX_ROWS_READ, maxBytesRead: e.QUERY_MAX_BYTES_READ }),
    logs: Object.freeze({
      database: e.CLICKHOUSE_DATABASE,
      maxLimit: e.QUERY_MAX_LIMIT,
      exportMaxRows: e.QUERY_EXPORT_MAX_ROWS,
      exportChunkRows: e.QUERY_EXPORT_CHUNK_ROWS,
      textScanMinRows: e.QUERY_TEXT_SCAN_MIN_ROWS,
      maxRangeHours: e.QUERY_MAX_RANGE_HOURS,
    }),
    analysts: Object.freeze({
      database: e.CLICKHOUSE_DATABASE,
      maxLimit: e.QUERY_MAX_LIMIT,
      maxRangeHours: e.QUERY_MAX_RANGE_HOURS,
      serviceDownAfterMs: e.QUERY_SERVICE_DOWN_AFTER_MS,
      serviceDegradedErrorRate: e.QUERY_SERVICE_DEGRADED_ERROR_RATE,
      serviceLookbackHours: e.QUERY_SERVICE_LOOKBACK_HOURS,
    }),
    ai: Object.freeze({
      apiKey: e.GROQ_API_KEY,
      baseUrl: e.GROQ_BASE_URL,
      model: e.QUERY_AI_MODEL,
      timeoutMs: e.QUERY_AI_TIMEOUT_MS,
      maxTokens: e.QUERY_AI_MAX_TOKENS,
      requestsPerMinute: e.QUERY_AI_MAX_REQUESTS_PER_MINUTE,
      requestsPerDay: e.QUERY_AI_MAX_REQUESTS_PER_DAY,
      tokensPerDay: e.QUERY_AI_MAX_TOKENS_PER_DAY,
      cacheTtlMs: e.QUERY_AI_CACHE_TTL_MS,
      cacheSize: e.QUERY_AI_CACHE_SIZE,
    }),
    loki: Object.freeze({
      database: e.CLICKHOUSE_DATABASE,
      timeoutMs: e.QUERY_TIMEOUT_MS,
      maxRangeHours: e.QUERY_MAX_RANGE_HOURS,
      maxSeries: e.QUERY_MAX_SERIES,
      maxLines: e.QUERY_MAX_LINES,
      maxRowsRead: e.QUERY_MAX_ROWS_READ,
      maxBytesRead: e.QUERY_MAX_BYTES_READ,
      textScanMinRows: e.QUERY_TEXT_SCAN_MIN_ROWS,
      tailMaxConnections: e.QUERY_TAIL_MAX_CONNECTIONS,
      tailPollMs: e.QUERY_TAIL_POLL_MS,
    }),
  })
}

export type Config = ReturnType<typeof loadConfig>
