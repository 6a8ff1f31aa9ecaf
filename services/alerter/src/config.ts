// Alerter configuration (env → frozen config).
import { z } from 'zod'
import { commonEnv, kafkaEnv, parseEnv, readConfigFile, port, positiveInt, registryEnv } from '@sluice/config'
import type { Env } from '@sluice/config'
import { DEFAULT_RULES, parseRules } from './rules.js'

const urls = z
  .string()
  .default('')
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
  .pipe(z.array(z.url()))

export const envSchema = z.object({
  ...commonEnv.shape,
  ...kafkaEnv.shape,
  ...registryEnv.shape,
  /** Compacted changelog of the alerter's window and alert state; default "<TOPIC_ALERTS>.state". */
  TOPIC_ALERTER_STATE: z.string().optional(),
  ALERTER_PORT: port(9103),
  ALERTER_GROUP_ID: z.string().default('sluice-alerter'),
  /** JSON rules file ({"rules":[…]}); unset → the built-in rules. */
  ALERTER_RULES_FILE: z.string().optional(),
  /** How far behind the newest event time of a partition a record may arrive and still count. */
  ALERTER_ALLOWED_LATENESS_MS: positiveInt(30_000),
  ALERTER_CHECKPOINT_INTERVAL_MS: positiveInt(5000),
  /** How soon the group notices a dead instance and hands its partitions on (broker minimum 6000). */
  ALERTER_SESSION_TIMEOUT_MS: positiveInt(30_000),
  ALERTER_ABSENCE_CHECK_INTERVAL_MS: positiveInt(5000),
  /** Comma-separated generic webhook URLs (JSON body with an idempotency key). */
  ALERTER_WEBHOOK_URLS: urls,
  /** Comma-separated Slack-compatible incoming-webhook URLs. */
  ALERTER_SLACK_WEBHOOK_URLS: urls,
  ALERTER_NOTIFY_MAX_PER_MINUTE: positiveInt(30),
  ALERTER_NOTIFY_RETRIES: z.coerce.number().int().nonnegative().default(5),
  ALERTER_NOTIFY_BACKOFF_MS: positiveInt(500),
  ALERTER_NOTIFY_MAX_BACKOFF_MS: positiveInt(30_000),
  ALERTER_NOTIFY_TIMEOUT_MS: positiveInt(5000),
})

export function loadConfig(env?: Env) {
  const e = parseEnv(envSchema, env)
  return Object.freeze({
    host: e.HOST,
    port: e.ALERTER_PORT,
    groupId: e.ALERTER_GROUP_ID,
    topicEnriched: e.TOPIC_LOGS_ENRICHED,
    topicAlerts: e.TOPIC_ALERTS,
    topicState: e.TOPIC_ALERTER_STATE ?? `${e.TOPIC_ALERTS}.state`,
    rules: (e.ALERTER_RULES_FILE ? readConfigFile('ALERTER_RULES_FILE', e.ALERTER_RULES_FILE, parseRules) : DEFAULT_RULES).rules,
    allowedLatenessMs: e.ALERTER_ALLOWED_LATENESS_MS,
    checkpointIntervalMs: e.ALERTER_CHECKPOINT_INTERVAL_MS,
    sessionTimeoutMs: e.ALERTER_SESSION_TIMEOUT_MS,
    absenceCheckIntervalMs: e.ALERTER_ABSENCE_CHECK_INTERVAL_MS,
    notify: {
      webhookUrls: e.ALERTER_WEBHOOK_URLS,
      slackUrls: e.ALERTER_SLACK_WEBHOOK_URLS,
      maxPerMinute: e.ALERTER_NOTIFY_MAX_PER_MINUTE,
      retries: e.ALERTER_NOTIFY_RETRIES,
      initialBackoffMs: e.ALERTER_NOTIFY_BACKOFF_MS,
      maxBackoffMs: e.ALERTER_NOTIFY_MAX_BACKOFF_MS,
      timeoutMs: e.ALERTER_NOTIFY_TIMEOUT_MS,
    },
  })
}

export type Config = ReturnType<typeof loadConfig>
