// ws-fanout configuration (env → frozen config).
import { z } from 'zod'
import { securityEnv } from '@sluice/auth'
import { bool, commonEnv, kafkaEnv, notificationsTopic, parseEnv, port, positiveInt, registryEnv } from '@sluice/config'
import type { Env } from '@sluice/config'

export const envSchema = z.object({
  ...commonEnv.shape,
  ...kafkaEnv.shape,
  ...registryEnv.shape,
  WS_PORT: port(8090),
  /** Each instance reads everything from the latest offsets in a group of its own. */
  WS_GROUP_PREFIX: z.string().default('sluice-ws-fanout'),
  WS_MAX_CLIENTS: positiveInt(5000),
  /** Messages queued per client before the oldest are dropped. */
  WS_CLIENT_QUEUE_MESSAGES: positiveInt(1000),
  /** A client whose queue stays full this long is disconnected. */
  WS_CLIENT_STUCK_MS: positiveInt(30_000),
  WS_HEARTBEAT_MS: positiveInt(30_000),
  /** A connection subscribed to nothing for this long is closed (4002): it only holds a slot. */
  WS_IDLE_TIMEOUT_MS: positiveInt(300_000),
  WS_STATS_INTERVAL_MS: positiveInt(1000),
  /** Require a token (query `token` or a first {"type":"auth"} message); its tenant bounds what is seen. */
  WS_AUTH: bool(false),
  /**
   * HMAC-SHA256 key of the stream tokens (≥ 16 characters, the same on every instance): signs what
   * POST /v1/tokens mints and checks what clients present. Required with WS_AUTH or SLUICE_AUTH.
   */
  WS_AUTH_SECRET: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(16).optional()),
  /** API keys on every door; here they also open the stream (and mint tokens), and a stream must authenticate. */
  SLUICE_AUTH: securityEnv.shape.SLUICE_AUTH,
}).refine((e) => !(e.WS_AUTH || e.SLUICE_AUTH) || e.WS_AUTH_SECRET, {
  message:
    'WS_AUTH=true and SLUICE_AUTH=true need WS_AUTH_SECRET (at least 16 characters, e.g. openssl rand -base64 32): it signs the stream tokens browsers use, and every ws-fanout instance must share it',
  path: ['WS_AUTH_SECRET'],
})

/** The longest a minted stream token lives, and the default. */
export const TOKEN_MAX_TTL_SECONDS = 3600

export function loadConfig(env?: Env) {
  const e = parseEnv(envSchema, env)
  return Object.freeze({
    host: e.HOST,
    port: e.WS_PORT,
    topicEnriched: e.TOPIC_LOGS_ENRICHED,
    topicAlerts: e.TOPIC_ALERTS,
    topicNotifications: notificationsTopic(e),
    groupPrefix: e.WS_GROUP_PREFIX,
    maxClients: e.WS_MAX_CLIENTS,
    queueMessages: e.WS_CLIENT_QUEUE_MESSAGES,
    stuckMs: e.WS_CLIENT_STUCK_MS,
    heartbeatMs: e.WS_HEARTBEAT_MS,
    idleTimeoutMs: e.WS_IDLE_TIMEOUT_MS,
    statsIntervalMs: e.WS_STATS_INTERVAL_MS,
    /** Set: every stream connection must authenticate (an API key, or a token signed with it). */
    authSecret: e.WS_AUTH || e.SLUICE_AUTH ? e.WS_AUTH_SECRET : undefined,
  })
}

export type Config = ReturnType<typeof loadConfig>
