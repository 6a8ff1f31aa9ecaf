// Query API: read access to stored logs for people, dashboards and scripts.
//   /v1/logs, /v1/logs/export, /v1/stats          logs.ts
//   /v1/alerts, /v1/alerts/{id}                   alerts.ts
//   /v1/services, /v1/trends, /v1/patterns        analysts/overview.ts
//   PUT|DELETE /v1/services/{name}                analysts/registry.ts
//   /v1/sessions/{id}, /v1/blast-radius, /v1/fields   analysts/investigate.ts
//   /loki/api/v1/*, /ready                        loki/routes.ts (Grafana's Loki data source)
//   /v1/ai/search, /v1/ai/explain, /v1/ai/insights   ai/ (answers from the data; a model optional)
//   /v1/deletions, /v1/audit (admin scope)         deletions.ts, audit.ts
// Every statement runs under the guard rails (guard.ts); a refused one is a 400 naming the limit.
// Every route reads as one tenant, or every tenant, by one rule (tenancy.ts), under the tenant's
// query limits; with SLUICE_AUTH=true the tenant comes from the caller's API key.
import type { FastifyInstance } from 'fastify'
import compress from '@fastify/compress'
import websocket from '@fastify/websocket'
import { openSecurity } from '@sluice/auth'
import { SluiceError } from '@sluice/core'
import type { ClickHouseClient } from '@sluice/clickhouse'
import { LATENCY_BUCKETS_SECONDS, createHttpApp, histogram, websocketErrorHandler } from '@sluice/observability'
import type { BaseDeps, DepsFor, ServiceInstance } from '@sluice/service'
import { registerAlerts } from './alerts.js'
import { analystContext } from './analysts/context.js'
import { registerInvestigate } from './analysts/investigate.js'
import { registerOverview } from './analysts/overview.js'
import { registerRegistry } from './analysts/registry.js'
import type { Config } from './config.js'
import { guardedRunner, limitMessage } from './guard.js'
import { registerLogs } from './logs.js'
import { registerAdmin } from './deletions.js'
import { registerLoki } from './loki/routes.js'
import { registerExplain } from './ai/explain.js'
import { registerInsights } from './ai/insights.js'
import { createGroqModel } from './ai/llm.js'
import type { AiModel } from './ai/model.js'
import { registerSearch } from './ai/search.js'
import { QueryAccess } from './tenancy.js'

/** `security`: API keys, the tenant rule and the tenants' limits; without it, no keys and no limits. */
export interface QueryDeps extends Pick<BaseDeps, 'logger' | 'registry' | 'checks'>, Partial<Pick<BaseDeps, 'security'>> {
  /** Reads; `command` only writes service registrations (analysts/registry.ts). */
  clickhouse: Pick<ClickHouseClient, 'query' | 'command'>
  /** The AI endpoints' model; default Groq from the config (off without GROQ_API_KEY). */
  model?: AiModel
}

/** Tenant of AI requests that name none, as for the Loki API. */
const DEFAULT_TENANT = 'default'

const LOKI_SUMMARIES: Record<string, string> = {
  '/ready': 'Loki readiness',
  '/query_range': 'LogQL over a range: log lines (streams) or a metric (matrix)',
  '/query': 'LogQL at one instant: a metric (vector or scalar) or log lines',
  '/labels': 'Label names',
  '/label/:name/values': 'Values of one label',
  '/series': 'Streams matching selectors',
  '/index/stats': 'Streams, chunks, entries and bytes of a selector',
  '/index/volume': 'Volume by label (bytes)',
  '/index/volume_range': 'Volume by label over time',
  '/patterns': "Log patterns (Sluice's templates) with counts over time",
  '/detected_labels': 'Labels with their cardinality (Logs Drilldown)',
  '/detected_fields': 'Fields detected in log lines (Logs Drilldown)',
  '/detected_field/:name/values': 'Values of one detected field',
  '/tail': 'WebSocket: live lines of a selector',
  '/format_query': 'A LogQL query, formatted',
  '/status/buildinfo': 'The Loki API version answered',
  '/drilldown-limits': 'Limits and features for Logs Drilldown',
}

export function buildApp(config: Config, deps: QueryDeps): FastifyInstance {
  const logger = deps.logger.child({ service: 'query-api' })
  const security = deps.security ?? openSecurity(logger, 'query-api')
  const app = createHttpApp({
    name: 'query-api',
    description: 'Stored logs for people, dashboards and scripts: records, exports, analyst questions, alerts, and the Loki HTTP API (LogQL) for Grafana.',
    logger,
    registry: deps.registry,
    checks: deps.checks,
    access: { security, scope: 'query' },
  })
  // Request bodies here are small forms and JSON, read as sent: a compressed one is refused by
  // name rather than parsed as if it were plain.
  app.addHook('onRequest', async (req) => {
    const encoding = req.headers['content-encoding']?.trim().toLowerCase()
    if (encoding && encoding !== 'identity') throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `request Content-Encoding ${encoding} is not supported: send the body uncompressed`)
  })
  // Off by default, as ClickHouse's enable_http_compression: next to Grafana, compressing and
  // inflating a 100-line answer costs more (~1 ms in all) than sending it.
  // JSON, and the exports (NDJSON, CSV), streamed through the compressor.
  if (config.compressResponses) void app.register(compress, { encodings: ['gzip', 'deflate'], threshold: 1024, customTypes: /^(application\/(json|x-ndjson)|text\/)/ })
  const access = new QueryAccess({ registry: deps.registry, tenants: security.tenants })
  const querySeconds = histogram(deps.registry, 'sluice_query_seconds', 'Query API ClickHouse query duration.', LATENCY_BUCKETS_SECONDS, ['endpoint'])
  const run = guardedRunner(deps.clickhouse, config.guard, querySeconds)
  const model = deps.model ?? createGroqModel({ ...config.ai, registry: deps.registry, logger: deps.logger.child({ service: 'query-api', component: 'ai' }) })

  void app.register(async (loki) => {
    // The Loki HTTP API's parameters are Loki's (its documentation is the reference); the OpenAPI
    // document names each route and what it is for.
    loki.addHook('onRoute', (route) => {
      route.schema = { tags: ['loki'], summary: LOKI_SUMMARIES[route.url.replace('/loki/api/v1', '')] ?? 'Loki HTTP API', ...route.schema }
    })
    await loki.register(websocket, { options: { maxPayload: 64 * 1024 }, errorHandler: websocketErrorHandler })
    registerLoki(loki, config.loki, { clickhouse: deps.clickhouse, querySeconds, access })
  })

  void app.register(async (v1) => {
    // A statement ClickHouse refused for a guard rail is the client's to narrow: 400 naming the
    // limit. Anything else goes on to the service-wide handler.
    v1.setErrorHandler((err) => {
      const limit = limitMessage(err, config.guard)
      throw limit ? new SluiceError('VALIDATION_FAILED', limit, { cause: err }) : err
    })
    registerLogs(v1, config.logs, run, access)
    registerAlerts(v1, config, run, access)
    const ctx = analystContext(config.analysts, run, access)
    registerOverview(v1, ctx)
    registerInvestigate(v1, ctx)
    registerRegistry(v1, ctx, deps.clickhouse)
    // The AI endpoints read through the routes above (app.inject): same tenant rule, same guard rails.
    const ai = { app, model, registry: deps.registry, defaultTenant: DEFAULT_TENANT, access }
    registerSearch(v1, ai)
    registerExplain(v1, ai)
    registerInsights(v1, { ...ai, cacheTtlMs: config.ai.cacheTtlMs })
  })
  registerAdmin(app, { database: config.database, cluster: config.cluster, clickhouse: deps.clickhouse, logger: deps.logger, security: deps.security })

  return app
}

export function createService(config: Config, deps: DepsFor<{ clickhouse: true }>): ServiceInstance {
  return { app: buildApp(config, { ...deps, clickhouse: deps.clickhouse.client }), listen: { host: config.host, port: config.port } }
}
