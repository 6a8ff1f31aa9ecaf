// What every service's HTTP server shares:
//   GET /healthz       — liveness: the process answers.
//   GET /readyz        — readiness: every dependency check passes (503 with the failing ones otherwise).
//   GET /metrics       — the process registry (and its sources on other threads) in the Prometheus text format.
//   GET /openapi.json  — the OpenAPI 3.1 document of every route, made from the zod schemas that
//                        validate them (fastify-type-provider-zod); GET /docs — Swagger UI on it.
// Every answer carries security headers, and every server the timeouts and limits of
// hardening.ts (from the process's HttpSettings).
// A service registers its routes in a plugin (`app.register(async (api) => …)`): the OpenAPI
// collector sees the routes registered after it, and plugins load in order.
import type { ServerOptions as HttpsServerOptions } from 'node:https'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'
export type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { Logger } from 'pino'
import { DEFAULT_HTTP_SETTINGS, WWW_AUTHENTICATE, installGuard, openSecurity } from '@sluice/auth'
import type { Scope, Security } from '@sluice/auth'
import { isSluiceError } from '@sluice/core'
import type { ErrorCode, SluiceError } from '@sluice/core'
import type { Registry } from 'prom-client'
import { frameworkErrors, installEarlyRefusals, installHardening, serverOptions } from './hardening.js'
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

const OPS = { tags: ['operations'] }
/** Ops routes answer without credentials: probes and scrapers hold no keys. */
const PUBLIC = { public: true }

export function registerOpsRoutes(app: FastifyInstance, opts: { registry: Registry; checks: Record<string, HealthCheck> }): void {
  app.get('/healthz', { config: PUBLIC, schema: { ...OPS, summary: 'Liveness: the process answers' } }, async () => ({ status: 'ok' }))
  app.get('/readyz', { config: PUBLIC, schema: { ...OPS, summary: 'Readiness: every dependency answers (503 naming the failing ones otherwise)' } }, async (_req, reply) => {
    const report = await runHealthChecks(opts.checks)
    return reply.code(report.ok ? 200 : 503).send({ status: report.ok ? 'ready' : 'not ready', checks: report.checks })
  })
  app.get('/metrics', { config: PUBLIC, schema: { ...OPS, summary: 'Prometheus metrics of the process' } }, async (_req, reply) => {
    return reply.type(opts.registry.contentType).send(await metricsText(opts.registry))
  })
}

/**
 * The message of a request that failed its route's zod schema, naming what was wrong the way the
 * handlers' own checks do: `parameter limit: …`, `unknown parameter(s): colour`, `body field x: …`.
 */
export function validationMessage(err: unknown, query?: unknown): string | undefined {
  if (!hasZodFastifySchemaValidationErrors(err)) return undefined
  const first = err.validation[0]
  if (!first) return 'invalid request'
  const where = (err as { validationContext?: string }).validationContext ?? 'querystring'
  const path = first.instancePath.replace(/^\//, '').replace(/\//g, '.')
  if (first.keyword === 'unrecognized_keys') {
    const keys = (first.params as { keys?: string[] }).keys ?? []
    return where === 'querystring' ? `unknown parameter(s): ${keys.join(', ')}` : `unknown ${where} field(s): ${keys.join(', ')}`
  }
  // A parameter given twice (`limit=1&limit=2`) reaches its schema as a list: say so, rather than
  // what the list is not ("expected number, received NaN").
  const given = where === 'querystring' && typeof query === 'object' && query !== null && Object.hasOwn(query, path) ? (query as Record<string, unknown>)[path] : undefined
  if (Array.isArray(given) && first.keyword !== 'too_big' && first.keyword !== 'too_small') return `parameter ${path}: given ${given.length} times; give it once`
  const noun = { querystring: 'parameter', params: 'path parameter', body: 'body field', headers: 'header' }[where] ?? where
  // An issue about the whole object (a refinement) says what it is about itself.
  return path ? `${noun} ${path}: ${first.message}` : first.message
}

// HTTP status of every error code, in one place.
const STATUS: Partial<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  OVERLOADED: 429,
  RATE_LIMITED: 429,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  KAFKA_UNAVAILABLE: 503,
  KAFKA_PRODUCE_FAILED: 503,
  REGISTRY_UNAVAILABLE: 503,
  CLICKHOUSE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  // nginx's and Loki's: the client went away before the answer (nothing is sent; the access log shows it).
  CLIENT_CLOSED: 499,
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
    const invalid = validationMessage(err, req.query)
    if (invalid !== undefined) return reply.code(400).send({ error: 'VALIDATION_FAILED', message: invalid })
    if (isSluiceError(err)) {
      const status = STATUS[err.code] ?? 500
      if (status === 503 || status === 429) reply.header('retry-after', String(err.retryAfterSeconds ?? RETRY_AFTER_SECONDS))
      if (status === 401) reply.header('www-authenticate', [...WWW_AUTHENTICATE])
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
  /** The service, for the title of its OpenAPI document. */
  name: string
  /** What the service does, for its OpenAPI document. */
  description?: string
  logger: Logger
  registry: Registry
  checks: Record<string, HealthCheck>
  bodyLimit?: number
  /**
   * The door: API keys and the tenant rule (from the runtime), and the scope the app's routes need
   * unless a route says otherwise. Without it, requests act as no one (authentication off).
   */
  access?: { security: Security; scope: Scope }
  /** Serve HTTPS with these options (the certificate, its key); absent: plain HTTP. */
  https?: HttpsServerOptions
}

interface RouteSeen {
  method: string
  url: string
  hidden: boolean
  /** Registered once the OpenAPI collector was loaded, so in the document. */
  collected: boolean
}

/** Every route of an app built by createHttpApp, as registered. */
const ROUTES = new WeakMap<FastifyInstance, RouteSeen[]>()

/**
 * Routes of `app` missing from its OpenAPI document (`METHOD /path`): registered on the root
 * before the document's collector loaded. Empty when the document covers the app.
 */
export function undocumentedRoutes(app: FastifyInstance): string[] {
  return (ROUTES.get(app) ?? [])
    .filter((r) => !r.collected && !r.hidden && r.method !== 'HEAD' && r.method !== 'OPTIONS')
    .map((r) => `${r.method} ${r.url}`)
}

/**
 * The plain-HTTP answer of a WebSocket route (`{ wsHandler, …}` with this as its handler): 426.
 * Declared this way rather than with `websocket: true`, which @fastify/websocket hides from the
 * OpenAPI document.
 */
export async function websocketOnly(_req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  return reply.code(426).header('upgrade', 'websocket').send({ error: 'UPGRADE_REQUIRED', message: 'this route speaks WebSocket: connect with a WebSocket client' })
}

/**
 * @fastify/websocket's errorHandler for an established socket: what a client did (a frame over
 * maxPayload, invalid UTF-8, a connection reset — ws has already closed with the code that says so)
 * is logged at debug, not as an error with its stack, so a client cannot flood the log; anything
 * else (a handler that threw) stays an error. The socket is ended either way, as the default does.
 */
export function websocketErrorHandler(err: Error, socket: { terminate(): void }, req: Pick<FastifyRequest, 'log'>): void {
  const code = (err as { code?: unknown }).code
  const byClient = typeof code === 'string' && (code.startsWith('WS_ERR_') || code === 'ECONNRESET' || code === 'EPIPE')
  if (byClient) req.log.debug({ code, message: err.message }, 'WebSocket client error: connection closed')
  else req.log.error({ err }, 'WebSocket handler failed')
  socket.terminate()
}

/** fastify's body limit when a service sets none. */
const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024

/** Version of the HTTP APIs' documents (the /v1 of their paths). */
export const API_VERSION = '1.0.0'

/**
 * A service's fastify instance: its logger, no per-request log lines, zod schemas for validation
 * and serialisation, the OpenAPI document and Swagger UI, the shared error handler and ops routes.
 */
export function createHttpApp(opts: HttpAppOptions): FastifyInstance {
  const security = opts.access?.security ?? openSecurity(opts.logger, opts.name)
  const hardening = security.http ?? DEFAULT_HTTP_SETTINGS
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    ...serverOptions(hardening),
    frameworkErrors,
    ...(opts.bodyLimit !== undefined && { bodyLimit: opts.bodyLimit }),
    ...(opts.https !== undefined && { https: opts.https }),
  })
  const routes: RouteSeen[] = []
  let collecting = false
  ROUTES.set(app, routes)
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url, hidden: (r.schema as { hide?: boolean } | undefined)?.hide === true, collected: collecting })
  })
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  registerErrorHandler(app)
  // Before the guard, so its refusals carry the security headers too.
  installHardening(app, hardening)
  installEarlyRefusals(app, app.initialConfig.bodyLimit ?? DEFAULT_BODY_LIMIT_BYTES)
  installGuard(app, security, opts.access?.scope ?? 'admin')
  void app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: `Sluice ${opts.name}`, version: API_VERSION, ...(opts.description && { description: opts.description }) },
    },
    transform: jsonSchemaTransform,
  })
  // Plugins load in order: from here on, @fastify/swagger's own onRoute hook sees every route.
  void app.register(async () => {
    collecting = true
  })
  void app.register(swaggerUi, { routePrefix: '/docs' })
  // A start-up check: a route the document misses (registered on the root before the collector
  // loaded) fails the app's start, in the first test that builds it.
  app.addHook('onReady', async () => {
    const missing = undocumentedRoutes(app)
    if (missing.length > 0) throw new Error(`routes missing from the OpenAPI document (register them in a plugin): ${missing.join(', ')}`)
  })
  void app.register(async (ops) => {
    registerOpsRoutes(ops, { registry: opts.registry, checks: opts.checks })
    ops.get('/openapi.json', { config: PUBLIC, schema: { hide: true } }, async () => app.swagger())
  })
  return app
}
