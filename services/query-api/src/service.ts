// Query API: read access to stored logs for people, dashboards and scripts.
//   /v1/logs, /v1/logs/export, /v1/stats          logs.ts
//   /v1/alerts                                    alerts.ts
//   /v1/services, /v1/trends, /v1/patterns        analysts/overview.ts
//   /v1/sessions/{id}, /v1/blast-radius, /v1/fields   analysts/investigate.ts
//   /loki/api/v1/*, /ready                        loki/routes.ts (Grafana's Loki data source)
// Every statement runs under the guard rails (guard.ts); a refused one is a 400 naming the limit.
import type { FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { SluiceError } from '@sluice/core'
import type { ClickHouseClient } from '@sluice/clickhouse'
import { LATENCY_BUCKETS_SECONDS, createHttpApp, histogram } from '@sluice/observability'
import type { BaseDeps, DepsFor, ServiceInstance } from '@sluice/service'
import { registerAlerts } from './alerts.js'
import { analystContext } from './analysts/context.js'
import { registerInvestigate } from './analysts/investigate.js'
import { registerOverview } from './analysts/overview.js'
import type { Config } from './config.js'
import { guardedRunner, limitMessage } from './guard.js'
import { registerLogs } from './logs.js'
import { registerLoki } from './loki/routes.js'

export interface QueryDeps extends Pick<BaseDeps, 'logger' | 'registry' | 'checks'> {
  clickhouse: Pick<ClickHouseClient, 'query'>
}

export function buildApp(config: Config, deps: QueryDeps): FastifyInstance {
  const app = createHttpApp({ logger: deps.logger.child({ service: 'query-api' }), registry: deps.registry, checks: deps.checks })
  const querySeconds = histogram(deps.registry, 'sluice_query_seconds', 'Query API ClickHouse query duration.', LATENCY_BUCKETS_SECONDS, ['endpoint'])
  const run = guardedRunner(deps.clickhouse, config.guard, querySeconds)

  void app.register(websocket, { options: { maxPayload: 64 * 1024 } })
  registerLoki(app, config.loki, { clickhouse: deps.clickhouse, querySeconds })

  void app.register(async (v1) => {
    // A statement ClickHouse refused for a guard rail is the client's to narrow: 400 naming the
    // limit. Anything else goes on to the service-wide handler.
    v1.setErrorHandler((err) => {
      const limit = limitMessage(err, config.guard)
      throw limit ? new SluiceError('VALIDATION_FAILED', limit, { cause: err }) : err
    })
    registerLogs(v1, config.logs, run)
    registerAlerts(v1, config, run)
    const ctx = analystContext(config.analysts, run)
    registerOverview(v1, ctx)
    registerInvestigate(v1, ctx)
  })

  return app
}

export function createService(config: Config, deps: DepsFor<{ clickhouse: true }>): ServiceInstance {
  return { app: buildApp(config, { ...deps, clickhouse: deps.clickhouse.client }), listen: { host: config.host, port: config.port } }
}
