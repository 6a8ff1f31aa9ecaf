// What every section that starts Sluice children shares: an isolated environment per section
// (fresh topics, consumer groups, database, data directory, OS-chosen ports, so nothing collides
// with a running stack or an earlier run) and the query API's stored count.
import type { BenchContext } from './section.js'

/** Environment of the children of one section; its topics are registered for deletion. */
export function isolatedEnv(ctx: BenchContext, section: string, dataDir: string) {
  const prefix = `bench-${ctx.config.runId}.${section}`
  const env = {
    KAFKA_BROKERS: ctx.infra.kafkaBrokers,
    SCHEMA_REGISTRY_URL: ctx.infra.registryUrl,
    // An inherited CLICKHOUSE_URL would silently switch the run to a server.
    CLICKHOUSE_URL: ctx.infra.clickhouseUrl,
    CLICKHOUSE_DATA_DIR: dataDir,
    CLICKHOUSE_DATABASE: `bench_${ctx.config.runId}_${section}`,
    SINK_GROUP_ID: `${prefix}.sink`,
    ENRICHER_GROUP_ID: `${prefix}.enricher`,
    ALERTER_GROUP_ID: `${prefix}.alerter`,
    HOST: '127.0.0.1',
    GATEWAY_PORT: '0',
    // Off (0): sections that run several gateways would share 5514 (and 24224, 12201, 5044).
    SYSLOG_TCP_PORT: '0',
    SYSLOG_UDP_PORT: '0',
    GATEWAY_OTLP_GRPC_PORT: '0',
    FORWARD_PORT: '0',
    GELF_UDP_PORT: '0',
    GELF_TCP_PORT: '0',
    BEATS_PORT: '0',
    QUERY_API_PORT: '0',
    SINK_PORT: '0',
    ENRICHER_PORT: '0',
    ALERTER_PORT: '0',
    WS_PORT: '0',
    TOPIC_LOGS_RAW: `${prefix}.logs.raw`,
    TOPIC_LOGS_ENRICHED: `${prefix}.logs.enriched`,
    TOPIC_LOGS_DLQ: `${prefix}.logs.dlq`,
    TOPIC_ENRICHER_TEMPLATES: `${prefix}.logs.enriched.templates`,
    // Every runtime with Kafka creates the alerts topic, whichever its targets.
    TOPIC_ALERTS: `${prefix}.alerts`,
    TOPIC_ALERTER_STATE: `${prefix}.alerts.state`,
    KAFKA_TOPIC_PARTITIONS: String(ctx.config.partitions),
    LOG_LEVEL: 'warn',
  }
  for (const topic of [env.TOPIC_LOGS_RAW, env.TOPIC_LOGS_ENRICHED, env.TOPIC_LOGS_DLQ, env.TOPIC_ENRICHER_TEMPLATES, env.TOPIC_ALERTS, env.TOPIC_ALERTER_STATE]) ctx.topics.add(topic)
  return env
}

/** Records stored, as the query API counts them (FINAL: duplicates collapsed). */
export async function storedTotal(queryUrl: string, tenant?: string): Promise<number> {
  const res = await fetch(new URL('/v1/stats', queryUrl), { signal: AbortSignal.timeout(30_000), ...(tenant !== undefined && { headers: { 'x-scope-orgid': tenant } }) })
  if (!res.ok) throw new Error(`GET /v1/stats answered ${res.status}: ${(await res.text()).slice(0, 200)}`)
  const body = (await res.json()) as { total?: unknown }
  if (typeof body.total !== 'number') throw new Error('GET /v1/stats: no numeric total')
  return body.total
}
