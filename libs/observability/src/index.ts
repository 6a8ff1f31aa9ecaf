// @sluice/observability — logging, metrics, health endpoints and the HTTP app every service builds on.
export { createLogger } from './logger.js'
export type { Logger } from './logger.js'
export {
  Registry,
  createRegistry,
  counter,
  gauge,
  histogram,
  stageMetrics,
  addMetricsSource,
  metricsText,
  LATENCY_BUCKETS_SECONDS,
  BATCH_SIZE_BUCKETS,
} from './metrics.js'
export type { StageMetrics, Counter, Gauge, Histogram, MetricsSource } from './metrics.js'
export { API_VERSION, createHttpApp, registerOpsRoutes, registerErrorHandler, runHealthChecks, undocumentedRoutes, validationMessage, websocketErrorHandler, websocketOnly, RETRY_AFTER_SECONDS } from './http.js'
export type { HealthCheck, HealthReport, HttpAppOptions, ZodTypeProvider } from './http.js'
export { API_CSP, DOCS_CSP, htmlCsp } from './hardening.js'
