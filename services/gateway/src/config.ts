// Gateway configuration (env → frozen config).
import { z } from 'zod'
import { commonEnv, kafkaEnv, parseEnv, port, positiveInt, registryEnv } from '@sluice/config'
import type { Env } from '@sluice/config'

export const envSchema = z.object({
  ...commonEnv.shape,
  ...kafkaEnv.shape,
  ...registryEnv.shape,
  GATEWAY_PORT: port(8080),
  GATEWAY_MAX_BODY_BYTES: positiveInt(16 * 1024 * 1024),
  GATEWAY_DEFAULT_TENANT: z.string().default('default'),
  /** Largest encoded record accepted; stays under the broker's message.max.bytes (1 MiB by default). */
  GATEWAY_MAX_RECORD_BYTES: positiveInt(1_000_000),
  GATEWAY_MAX_ERRORS_REPORTED: positiveInt(100),
  /** Bytes of records waiting for Kafka's acknowledgement at most; past it requests get 429 + Retry-After. */
  GATEWAY_MAX_IN_FLIGHT_BYTES: positiveInt(64 * 1024 * 1024),
  /** Syslog listeners (RFC 5424 and 3164); 0 switches one off. */
  SYSLOG_TCP_PORT: port(5514),
  SYSLOG_UDP_PORT: port(5514),
})

export function loadConfig(env?: Env) {
  const e = parseEnv(envSchema, env)
  return Object.freeze({
    host: e.HOST,
    port: e.GATEWAY_PORT,
    maxBodyBytes: e.GATEWAY_MAX_BODY_BYTES,
    defaultTenant: e.GATEWAY_DEFAULT_TENANT,
    maxRecordBytes: e.GATEWAY_MAX_RECORD_BYTES,
    maxErrorsReported: e.GATEWAY_MAX_ERRORS_REPORTED,
    maxInFlightBytes: e.GATEWAY_MAX_IN_FLIGHT_BYTES,
    syslogTcpPort: e.SYSLOG_TCP_PORT,
    syslogUdpPort: e.SYSLOG_UDP_PORT,
    topicRaw: e.TOPIC_LOGS_RAW,
  })
}

export type Config = ReturnType<typeof loadConfig>
