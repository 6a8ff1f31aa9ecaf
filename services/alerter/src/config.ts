// Alerter configuration (env → frozen config).
import { z } from 'zod'
import { commaList, commonEnv, kafkaEnv, notificationsTopic, parseEnv, readConfigFile, port, positiveInt, registryEnv } from '@sluice/config'
import type { Env } from '@sluice/config'
import { DEFAULT_RULES, parseRules } from './rules.js'

const urls = commaList().pipe(z.array(z.url()))

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
  /** A record dated further ahead of the alerter's clock is counted at that clock (a client's wrong clock must not move the watermark). */
  ALERTER_MAX_FUTURE_MS: positiveInt(600_000),
  ALERTER_CHECKPOINT_INTERVAL_MS: positiveInt(5000),
  /** How soon the group notices a dead instance and hands its partitions on (broker minimum 6000); unset: KAFKA_SESSION_TIMEOUT_MS. */
  ALERTER_SESSION_TIMEOUT_MS: z.coerce.number().int().positive().optional(),
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
  /** Requests to acknowledge or resolve alerts owned by another instance; default "<TOPIC_ALERTS>.commands". */
  TOPIC_ALERTER_COMMANDS: z.string().optional(),
  /** How long an instance waits for the owner of an alert to answer a forwarded request. */
  ALERTER_COMMAND_TIMEOUT_MS: positiveInt(10_000),
  /** Compacted topic of the notification channels made through the API; default "<TOPIC_ALERTS>.channels". */
  TOPIC_NOTIFICATION_CHANNELS: z.string().optional(),
  /** Seals channel secrets at rest: 32 bytes as 64 hex digits or base64, the same on every instance. Unset: ALERTER_SECRETS_KEY_FILE. */
  ALERTER_SECRETS_KEY: z.string().optional(),
  /** Where the secrets key is kept when ALERTER_SECRETS_KEY is unset (made on first start, mode 0600). */
  ALERTER_SECRETS_KEY_FILE: z.string().default('.local/alerter/secrets.key'),
  /** Sender of email channels that set no `from`. */
  ALERTER_EMAIL_FROM: z.email().default('sluice-alerter@localhost'),
  /** Inbox items kept per tenant (the oldest are deleted beyond it). */
  ALERTER_INBOX_MAX_ITEMS: positiveInt(1000),
  /** A query API base URL: firing alerts get an explanation from its POST /v1/ai/search. Unset: off. */
  ALERTER_EXPLAIN_URL: z.url().optional(),
  ALERTER_EXPLAIN_TIMEOUT_MS: positiveInt(10_000),
  ALERTER_EXPLAIN_MAX_PER_HOUR: positiveInt(60),
  /**
   * The API key the explainer presents to the query API (Authorization: Bearer), needed when it runs
   * with SLUICE_AUTH=true: a key with the query scope for every tenant whose alerts it explains
   * (tenants ["*"], or the list of them; each call names the alert's tenant).
   */
  ALERTER_QUERY_API_KEY: z.string().min(1).optional(),
  /** The tenant of API requests that name none (x-sluice-tenant / X-Scope-OrgID header, or ?tenant=). */
  ALERTER_DEFAULT_TENANT: z.string().default('default'),
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
    maxFutureMs: e.ALERTER_MAX_FUTURE_MS,
    checkpointIntervalMs: e.ALERTER_CHECKPOINT_INTERVAL_MS,
    sessionTimeoutMs: e.ALERTER_SESSION_TIMEOUT_MS,
    absenceCheckIntervalMs: e.ALERTER_ABSENCE_CHECK_INTERVAL_MS,
    topicCommands: e.TOPIC_ALERTER_COMMANDS ?? `${e.TOPIC_ALERTS}.commands`,
    commandTimeoutMs: e.ALERTER_COMMAND_TIMEOUT_MS,
    topicChannels: e.TOPIC_NOTIFICATION_CHANNELS ?? `${e.TOPIC_ALERTS}.channels`,
    topicNotifications: notificationsTopic(e),
    secretsKey: e.ALERTER_SECRETS_KEY,
    secretsKeyFile: e.ALERTER_SECRETS_KEY_FILE,
    inboxMaxItems: e.ALERTER_INBOX_MAX_ITEMS,
    defaultTenant: e.ALERTER_DEFAULT_TENANT,
    explain:
      e.ALERTER_EXPLAIN_URL === undefined
        ? undefined
        : { url: e.ALERTER_EXPLAIN_URL, timeoutMs: e.ALERTER_EXPLAIN_TIMEOUT_MS, maxPerHour: e.ALERTER_EXPLAIN_MAX_PER_HOUR, apiKey: e.ALERTER_QUERY_API_KEY },
    notify: {
      webhookUrls: e.ALERTER_WEBHOOK_URLS,
      slackUrls: e.ALERTER_SLACK_WEBHOOK_URLS,
      maxPerMinute: e.ALERTER_NOTIFY_MAX_PER_MINUTE,
      retries: e.ALERTER_NOTIFY_RETRIES,
      initialBackoffMs: e.ALERTER_NOTIFY_BACKOFF_MS,
      maxBackoffMs: e.ALERTER_NOTIFY_MAX_BACKOFF_MS,
      timeoutMs: e.ALERTER_NOTIFY_TIMEOUT_MS,
      emailFrom: e.ALERTER_EMAIL_FROM,
    },
  })
}

export type Config = ReturnType<typeof loadConfig>
