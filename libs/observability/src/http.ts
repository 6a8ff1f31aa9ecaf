// Health and metrics routes shared by every service's HTTP server:
//   GET /healthz — liveness: the process answers.
//   GET /readyz  — readiness: every dependency check passes (503 with the failing ones otherwise).
//   GET /metrics — the process registry (and its sources on other threads) in the Prometheus text format.
import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyError, FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { isSluiceError } from '@sluice/core'
import type { ErrorCode, SluiceError } from '@sluice/core'
import type { Registry } from 'prom-client'
import { metricsText } from './metrics.js'

export type HealthCheck = () => Promise<void>

export interface HealthReport {
  ok: boolean
  checks: Record<string, 'ok' | string>
}

export async function runHealthChecks(checks: Record<string, HealthCheck>, timeoutMs = 2000): Promise<HealthReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs)
          }),
        ])
        return [name, 'ok'] as const
      } catch (err) {
        return [name, err instanceof Error ? err.message : String(err)] as const
      } finally {
        clearTimeout(timer)
      }
    }),
  )
  const checksOut = Object.fromEntries(entries)
  return { ok: entries.every(([, v]) => v === 'ok'), checks: checksOut }
}

export function registerOpsRoutes(app: FastifyInstance, opts: { registry: Registry; checks: Record<string, HealthCheck> }): void {
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    const report = await runHealthChecks(opts.checks)
    return reply.code(report.ok ? 200 : 503).send({ status: report.ok ? 'ready' : 'not ready', checks: report.checks })
  })
  app.get('/metrics', async (_req, reply) => {
    return reply.type(opts.registry.contentType).send(await metricsText(opts.registry))
  })
}

// HTTP status of every error code, in one place.
const STATUS: Partial<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  OVERLOADED: 429,
  KAFKA_UNAVAILABLE: 503,
  KAFKA_PRODUCE_FAILED: 503,
  REGISTRY_UNAVAILABLE: 503,
  CLICKHOUSE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
}

/** Retry-After for 503s and 429s, in seconds. */
export const RETRY_AFTER_SECONDS = 5

/**
 * One error handler for every service: SluiceErrors map through STATUS, fastify's own client
 * errors (bad JSON, body too large, unsupported media type) keep their 4xx status, anything else
 * is a 500 whose details stay in the log.
 */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | SluiceError, req, reply) => {
    if (isSluiceError(err)) {
      const status = STATUS[err.code] ?? 500
      if (status === 503 || status === 429) reply.header('retry-after', String(RETRY_AFTER_SECONDS))
      if (status >= 500) req.log.warn({ err }, 'request failed')
      return reply.code(status).send({ error: err.code, message: err.message })
    }
    const status = err.statusCode ?? 500
    if (status === 413) {
      return reply.code(413).send({ error: 'PAYLOAD_TOO_LARGE', message: `request body exceeds the limit of ${app.initialConfig.bodyLimit} bytes`, limitBytes: app.initialConfig.bodyLimit })
    }
    if (status >= 400 && status < 500) return reply.code(status).send({ error: err.code ?? 'BAD_REQUEST', message: err.message })
    req.log.error({ err }, 'unhandled error')
    return reply.code(500).send({ error: 'INTERNAL', message: 'internal error' })
  })
}

export interface HttpAppOptions {
  logger: Logger
  registry: Registry
  checks: Record<string, HealthCheck>
  bodyLimit?: number
}

/** A service's fastify instance: its logger, no per-request log lines, the shared error handler and ops routes. */
export function createHttpApp(opts: HttpAppOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    ...(opts.bodyLimit !== undefined && { bodyLimit: opts.bodyLimit }),
  })
  registerErrorHandler(app)
  registerOpsRoutes(app, { registry: opts.registry, checks: opts.checks })
  return app
}
