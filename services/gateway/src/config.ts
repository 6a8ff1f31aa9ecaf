// Gateway configuration (env → frozen config).
import { z } from 'zod'
import { ConfigError, bool, commaList, commonEnv, kafkaEnv, parseEnv, port, positiveInt, registryEnv } from '@sluice/config'
import { TENANT_PATTERN } from '@sluice/core'
import type { Env } from '@sluice/config'
import { sourceProblem } from './syslog-sources.js'
import { tlsFilesProblem } from './tls.js'

/** Addresses and CIDR ranges, comma-separated, each checked (syslog-sources.ts). */
function sourceList() {
  return commaList().superRefine((entries, ctx) => {
    for (const e of entries) {
      const problem = sourceProblem(e)
      if (problem) ctx.addIssue({ code: 'custom', message: problem })
    }
  })
}

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
  /** OTLP/gRPC listener (LogsService/Export, the Collector's `otlp` exporter); 0 switches it off. */
  GATEWAY_OTLP_GRPC_PORT: port(4317),
  /** Syslog listeners (RFC 5424 and 3164); 0 switches one off. */
  SYSLOG_TCP_PORT: port(5514),
  SYSLOG_UDP_PORT: port(5514),
  /** The tenant every syslog record is stored under (syslog has no credentials to take one from); default GATEWAY_DEFAULT_TENANT. */
  SYSLOG_TENANT: z.string().regex(TENANT_PATTERN, 'expected 1-64 characters of A-Z a-z 0-9 _ . -').optional(),
  /** Addresses and CIDR ranges allowed to send syslog, comma-separated; empty: any. Set it with SLUICE_AUTH=true. */
  SYSLOG_ALLOWED_SOURCES: sourceList(),
  /** Fluentd forward protocol listener (TCP: Fluent Bit, Fluentd, Docker's fluentd log driver); 0 switches it off. */
  FORWARD_PORT: port(24224),
  /** A Unix socket the forward protocol is served on too (Docker's fluentd-address unix://…, Fluent Bit's Unix_Path); unset: none. */
  FORWARD_SOCKET_PATH: z.string().min(1).optional(),
  /** The tenant every forwarded record is stored under; default GATEWAY_DEFAULT_TENANT. */
  FORWARD_TENANT: z.string().regex(TENANT_PATTERN, 'expected 1-64 characters of A-Z a-z 0-9 _ . -').optional(),
  /** The forward protocol's shared key: set, a sender must pass the HELO/PING/PONG handshake with it (Fluentd's <security> shared_key). */
  FORWARD_SHARED_KEY: z.string().min(1).optional(),
  /** Addresses and CIDR ranges allowed to forward, comma-separated; empty: any. */
  FORWARD_ALLOWED_SOURCES: sourceList(),
  /** GELF listeners (Docker's gelf log driver, GELF appenders and handlers): UDP (chunked, compressed) and TCP (NUL-delimited); 0 switches one off. */
  GELF_UDP_PORT: port(12201),
  GELF_TCP_PORT: port(12201),
  /** The tenant every GELF record from UDP and TCP is stored under; default GATEWAY_DEFAULT_TENANT. */
  GELF_TENANT: z.string().regex(TENANT_PATTERN, 'expected 1-64 characters of A-Z a-z 0-9 _ . -').optional(),
  /** Addresses and CIDR ranges allowed to send GELF over UDP and TCP, comma-separated; empty: any. */
  GELF_ALLOWED_SOURCES: sourceList(),
  /** Beats protocol listener (Lumberjack v2: Filebeat's and every Beat's output.logstash, TCP); 0 switches it off. */
  BEATS_PORT: port(5044),
  /** The tenant every record from a Beat is stored under; default GATEWAY_DEFAULT_TENANT. */
  BEATS_TENANT: z.string().regex(TENANT_PATTERN, 'expected 1-64 characters of A-Z a-z 0-9 _ . -').optional(),
  /** Addresses and CIDR ranges allowed to send over the Beats protocol, comma-separated; empty: any. */
  BEATS_ALLOWED_SOURCES: sourceList(),
  /** How long a line Docker cut into parts (fluentd and journald drivers) waits for its last part before it is stored cut; 0: parts are records of their own. */
  FORWARD_PARTIAL_WAIT_MS: z.coerce.number().int().min(0).max(600_000).default(5000),
  /** The gateway's TLS certificate (PEM, the chain after it) and its private key (PEM), for the listeners switched to TLS below; re-read when they change. */
  GATEWAY_TLS_CERT_FILE: z.string().min(1).optional(),
  GATEWAY_TLS_KEY_FILE: z.string().min(1).optional(),
  /** CA certificates (PEM): set, a TLS sender must present a certificate they signed (mutual TLS). */
  GATEWAY_TLS_CLIENT_CA_FILE: z.string().min(1).optional(),
  /** TLS on a TCP listener's port (only TLS then): syslog (RFC 5425), GELF, forward (Fluentd's transport tls), Beats (Logstash's ssl_enabled), OTLP/gRPC. */
  SYSLOG_TCP_TLS: bool(false),
  GELF_TCP_TLS: bool(false),
  FORWARD_TLS: bool(false),
  BEATS_TLS: bool(false),
  GATEWAY_OTLP_GRPC_TLS: bool(false),
  /** HTTPS on GATEWAY_PORT (every HTTP protocol, /metrics and the health checks); API keys stay its door (no client certificates). */
  GATEWAY_HTTP_TLS: bool(false),
})

/** The listeners' TLS switches, by env var. */
const TLS_SWITCHES = ['GATEWAY_HTTP_TLS', 'SYSLOG_TCP_TLS', 'GELF_TCP_TLS', 'FORWARD_TLS', 'BEATS_TLS', 'GATEWAY_OTLP_GRPC_TLS'] as const

/**
 * The TLS files, checked now (readable, a certificate and its key, CA certificates) so that a
 * wrong path or a key of another certificate stops the start, named; undefined when unset.
 */
function tlsFiles(e: z.infer<typeof envSchema>): { certFile: string; keyFile: string; clientCaFile: string | undefined } | undefined {
  const on = TLS_SWITCHES.filter((name) => e[name])
  const issues: string[] = []
  if ((e.GATEWAY_TLS_CERT_FILE === undefined) !== (e.GATEWAY_TLS_KEY_FILE === undefined)) issues.push('GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE: set both (a certificate and its private key) or neither')
  else if (e.GATEWAY_TLS_CERT_FILE === undefined) {
    for (const name of on) issues.push(`${name}=true needs GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE (the certificate and key it serves)`)
    if (e.GATEWAY_TLS_CLIENT_CA_FILE !== undefined) issues.push('GATEWAY_TLS_CLIENT_CA_FILE needs GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE: client certificates are asked for over TLS')
  }
  if (issues.length > 0) throw new ConfigError(issues)
  if (e.GATEWAY_TLS_CERT_FILE === undefined || e.GATEWAY_TLS_KEY_FILE === undefined) return undefined
  const files = { certFile: e.GATEWAY_TLS_CERT_FILE, keyFile: e.GATEWAY_TLS_KEY_FILE, clientCaFile: e.GATEWAY_TLS_CLIENT_CA_FILE }
  const problem = tlsFilesProblem(files)
  if (problem !== undefined) throw new ConfigError([problem])
  return files
}

export function loadConfig(env?: Env) {
  const e = parseEnv(envSchema, env)
  const tls = tlsFiles(e)
  return Object.freeze({
    host: e.HOST,
    port: e.GATEWAY_PORT,
    maxBodyBytes: e.GATEWAY_MAX_BODY_BYTES,
    defaultTenant: e.GATEWAY_DEFAULT_TENANT,
    maxRecordBytes: e.GATEWAY_MAX_RECORD_BYTES,
    maxErrorsReported: e.GATEWAY_MAX_ERRORS_REPORTED,
    maxInFlightBytes: e.GATEWAY_MAX_IN_FLIGHT_BYTES,
    otlpGrpcPort: e.GATEWAY_OTLP_GRPC_PORT,
    syslogTcpPort: e.SYSLOG_TCP_PORT,
    syslogUdpPort: e.SYSLOG_UDP_PORT,
    syslogTenant: e.SYSLOG_TENANT ?? e.GATEWAY_DEFAULT_TENANT,
    syslogAllowedSources: Object.freeze([...e.SYSLOG_ALLOWED_SOURCES]),
    forwardPort: e.FORWARD_PORT,
    forwardSocketPath: e.FORWARD_SOCKET_PATH,
    forwardTenant: e.FORWARD_TENANT ?? e.GATEWAY_DEFAULT_TENANT,
    forwardSharedKey: e.FORWARD_SHARED_KEY,
    forwardAllowedSources: Object.freeze([...e.FORWARD_ALLOWED_SOURCES]),
    forwardPartialWaitMs: e.FORWARD_PARTIAL_WAIT_MS,
    beatsPort: e.BEATS_PORT,
    beatsTenant: e.BEATS_TENANT ?? e.GATEWAY_DEFAULT_TENANT,
    beatsAllowedSources: Object.freeze([...e.BEATS_ALLOWED_SOURCES]),
    gelfUdpPort: e.GELF_UDP_PORT,
    gelfTcpPort: e.GELF_TCP_PORT,
    gelfTenant: e.GELF_TENANT ?? e.GATEWAY_DEFAULT_TENANT,
    gelfAllowedSources: Object.freeze([...e.GELF_ALLOWED_SOURCES]),
    tls,
    /** Which listeners speak TLS (with `tls`'s files). */
    tlsOn: Object.freeze({ http: e.GATEWAY_HTTP_TLS, syslog: e.SYSLOG_TCP_TLS, gelf: e.GELF_TCP_TLS, forward: e.FORWARD_TLS, beats: e.BEATS_TLS, grpc: e.GATEWAY_OTLP_GRPC_TLS }),
    topicRaw: e.TOPIC_LOGS_RAW,
  })
}

export type Config = ReturnType<typeof loadConfig>
